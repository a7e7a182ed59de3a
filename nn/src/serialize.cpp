// The model file (docs/model-format.md): header, architecture lines, tensors as hex floats,
// an FNV-1a checksum of everything above it, "end".
#include <ad/error.hpp>
#include <ad/nn/serialize.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <type_traits>

namespace ad::nn {

std::uint64_t model_checksum(std::string_view body) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64-bit: offset basis, then xor and multiply
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {

constexpr const char* kMagic = "ad-nn-model";

template <class T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

/// The architecture lines of a model: one spec per layer.
template <class T>
std::vector<std::string> layer_specs(Module<T>& model) {
  std::vector<std::string> out;
  if (auto* seq = dynamic_cast<Sequential<T>*>(&model)) {
    for (std::size_t i = 0; i < seq->size(); ++i) {
      if (dynamic_cast<Sequential<T>*>(&(*seq)[i]))
        throw ValueError("save: nested Sequential models are not supported; flatten the layers into one");
      out.push_back((*seq)[i].spec());
    }
  } else {
    out.push_back(model.spec());
  }
  return out;
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> t;
  std::istringstream in(line);
  for (std::string w; in >> w;) t.push_back(w);
  return t;
}

/// Reads a model file: lines with numbers, checksum verified up front.
struct Reader {
  std::string path;
  std::string text;
  std::size_t pos = 0, line_no = 0;
  std::size_t body_end = 0;  // where the checksum line starts

  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(fmt::format("load_model: {} line {}: {}", path, line_no, what));
  }
  [[noreturn]] void fail_file(const std::string& what) const {
    throw IoError(fmt::format("load_model: {}: {}", path, what));
  }

  explicit Reader(const std::string& p) : path(p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) fail_file(fmt::format("cannot open the file ({})", std::strerror(errno)));
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    if (text.empty()) fail_file("the file is empty");
    if (text.rfind(kMagic, 0) != 0)
      fail_file(fmt::format("not a model file: it does not start with '{}'", kMagic));
    // trailer: "checksum <hex>\nend\n"
    const std::size_t c = text.rfind("\nchecksum ");
    const std::size_t e = text.rfind("\nend");
    if (c == std::string::npos || e == std::string::npos || e < c)
      fail_file("the file is truncated: the closing 'checksum' and 'end' lines are missing");
    body_end = c + 1;
    const std::string stored = text.substr(c + 10, text.find('\n', c + 1) - (c + 10));
    const std::string actual = fmt::format("{:016x}", model_checksum(std::string_view(text).substr(0, body_end)));
    if (stored != actual)
      fail_file(fmt::format("the file is corrupt: checksum {} does not match the contents ({})", stored, actual));
  }

  bool next_line(std::string& out) {
    if (pos >= body_end) return false;
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos || nl > body_end) nl = body_end;
    out = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    return true;
  }
  std::vector<std::string> tokens(const char* expect) {
    std::string l;
    if (!next_line(l)) fail(fmt::format("the file ends where '{}' was expected", expect));
    auto t = split(l);
    if (t.empty() || t[0] != expect) fail(fmt::format("expected a '{}' line, found '{}'", expect, l));
    return t;
  }
  std::size_t count(const std::string& s, const char* what) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || s[0] == '-') fail(fmt::format("{} '{}' is not a count", what, s));
    return static_cast<std::size_t>(v);
  }
  double number(const std::string& s, const char* what) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') fail(fmt::format("{} '{}' is not a number", what, s));
    return v;
  }
};

struct StoredTensor {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<double> values;
};

struct Stored {
  std::string dtype;
  std::vector<std::string> specs;
  std::vector<StoredTensor> tensors;
};

Stored read_file(const std::string& path) {
  Reader r(path);
  Stored s;
  auto head = r.tokens(kMagic);
  if (head.size() != 2) r.fail("the header must be 'ad-nn-model <version>'");
  const std::size_t version = r.count(head[1], "version");
  if (version != static_cast<std::size_t>(kModelFormatVersion))
    r.fail(fmt::format("format version {} is not supported (this library reads version {})", version,
                       kModelFormatVersion));
  auto dt = r.tokens("dtype");
  if (dt.size() != 2 || (dt[1] != "float32" && dt[1] != "float64")) r.fail("dtype must be float32 or float64");
  s.dtype = dt[1];
  auto ml = r.tokens("layers");
  if (ml.size() != 2) r.fail("expected 'layers <count>'");
  const std::size_t layers = r.count(ml[1], "layer count");
  for (std::size_t i = 0; i < layers; ++i) {
    std::string l;
    if (!r.next_line(l)) r.fail(fmt::format("the file ends after {} of {} layers", i, layers));
    auto t = split(l);
    if (t.size() < 2 || t[0] != "layer") r.fail(fmt::format("expected 'layer <spec>', found '{}'", l));
    s.specs.push_back(l.substr(l.find("layer") + 6));
  }
  auto tl = r.tokens("tensors");
  if (tl.size() != 2) r.fail("expected 'tensors <count>'");
  const std::size_t tensors = r.count(tl[1], "tensor count");
  for (std::size_t k = 0; k < tensors; ++k) {
    auto t = r.tokens("tensor");
    if (t.size() < 3) r.fail("expected 'tensor <name> <rank> <dims...>'");
    StoredTensor st;
    st.name = t[1];
    const std::size_t rank = r.count(t[2], "rank");
    if (t.size() != 3 + rank) r.fail(fmt::format("tensor {}: rank {} but {} dimensions", st.name, rank, t.size() - 3));
    std::size_t size = 1;
    bool too_big = false;
    for (std::size_t d = 0; d < rank; ++d) {
      st.shape.push_back(r.count(t[3 + d], "dimension"));
      too_big = too_big || __builtin_mul_overflow(size, st.shape.back(), &size);
    }
    // Each value takes at least two bytes (a digit and a separator): a header announcing more
    // than the rest of the file can hold is refused before anything is allocated.
    if (too_big || size > (r.body_end - std::min(r.pos, r.body_end)) / 2 + 1)
      r.fail(fmt::format("tensor {} {}: announces more values than the file holds", st.name,
                         shape_str(st.shape)));
    st.values.reserve(size);
    while (st.values.size() < size) {
      std::string l;
      if (!r.next_line(l))
        r.fail(fmt::format("tensor {} {}: the file ends after {} of {} values", st.name, shape_str(st.shape),
                           st.values.size(), size));
      auto vals = split(l);
      if (vals.empty() || st.values.size() + vals.size() > size)
        r.fail(fmt::format("tensor {} {}: expected {} values, this line does not fit ('{}')", st.name,
                           shape_str(st.shape), size, l.substr(0, 40)));
      for (const auto& v : vals) st.values.push_back(r.number(v, "value"));
    }
    s.tensors.push_back(std::move(st));
  }
  std::string l;
  if (r.next_line(l)) r.fail(fmt::format("unexpected content before the checksum: '{}'", l.substr(0, 40)));
  return s;
}

/// Builds the layer of a spec line. Sizes are whole numbers, and a layer's parameters may not
/// need more values than the file holds (`max_values`), so a corrupt line cannot ask for
/// absurd memory.
template <class T>
std::unique_ptr<Module<T>> build_layer(const std::string& spec, const std::string& path,
                                       std::size_t max_values) {
  const auto t = split(spec);
  auto bad = [&](const std::string& why) {
    return IoError(fmt::format("load_model: {}: layer '{}': {}", path, spec, why));
  };
  auto size = [&](const std::string& s) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || s[0] == '-' || s[0] == '+' || s[0] == ' ')
      throw bad(fmt::format("size '{}' is not a whole number", s));
    if (v > max_values)
      throw bad(fmt::format("size {} is larger than the {} values the file holds", v, max_values));
    return static_cast<std::size_t>(v);
  };
  auto num = [&](const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (*end != '\0') throw bad("a parameter is not a number");
    return v;
  };
  try {
    if (t.empty()) throw bad("empty");
    if (t[0] == "linear" && t.size() == 4) {
      const std::size_t in = size(t[1]), out = size(t[2]);
      if (in != 0 && out > max_values / in)
        throw bad(fmt::format("{} x {} weights are more than the {} values the file holds", in, out,
                              max_values));
      return std::make_unique<Linear<T>>(in, out, std::uint64_t{0}, Init::zeros, t[3] == "bias");
    }
    if (t[0] == "activation" && (t.size() == 2 || t.size() == 3))
      return std::make_unique<Activation<T>>(t[1], t.size() == 3 ? num(t[2]) : -1.0);
    if (t[0] == "dropout" && t.size() == 3)
      return std::make_unique<Dropout<T>>(num(t[1]), static_cast<std::uint64_t>(std::strtoull(t[2].c_str(), nullptr, 10)));
    if (t[0] == "batchnorm1d" && t.size() == 4)
      return std::make_unique<BatchNorm1d<T>>(size(t[1]), num(t[2]), num(t[3]));
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {
    throw bad(e.what());
  }
  throw bad("unknown layer kind or wrong number of fields");
}

/// The model's state with Sequential-style names ("0.weight" for a lone layer too).
template <class T>
std::vector<std::pair<std::string, xt::xarray<T>*>> named_state(Module<T>& model) {
  auto state = model.state();
  if (!dynamic_cast<Sequential<T>*>(&model))
    for (auto& e : state) e.first = "0." + e.first;
  return state;
}

template <class T>
void assign(Module<T>& model, const Stored& s, const std::string& path) {
  auto state = named_state(model);
  if (state.size() != s.tensors.size())
    throw IoError(fmt::format("load_weights: {}: the file holds {} tensors, the model has {}", path,
                              s.tensors.size(), state.size()));
  for (std::size_t k = 0; k < state.size(); ++k) {
    const auto& st = s.tensors[k];
    auto& [name, a] = state[k];
    const bool same_shape = a->dimension() == st.shape.size() &&
                            std::equal(st.shape.begin(), st.shape.end(), a->shape().begin());
    if (st.name != name || !same_shape)
      throw IoError(fmt::format("load_weights: {}: tensor {} is {} {} in the file but {} {} in the model", path, k,
                                st.name, shape_str(st.shape), name, shape_str(a->shape())));
  }
  for (std::size_t k = 0; k < state.size(); ++k) {
    T* d = state[k].second->data();
    const auto& v = s.tensors[k].values;
    for (std::size_t i = 0; i < v.size(); ++i) d[i] = static_cast<T>(v[i]);
  }
}

}  // namespace

template <class T>
void save(Module<T>& model, const std::string& path) {
  const auto specs = layer_specs(model);
  const auto state = named_state(model);
  std::string out;
  out += fmt::format("{} {}\n", kMagic, kModelFormatVersion);
  out += fmt::format("dtype {}\n", dtype_name<T>());
  out += fmt::format("layers {}\n", specs.size());
  for (const auto& s : specs) out += "layer " + s + "\n";
  out += fmt::format("tensors {}\n", state.size());
  char buf[64];
  for (const auto& [name, a] : state) {
    out += fmt::format("tensor {} {}", name, a->dimension());
    for (auto d : a->shape()) out += fmt::format(" {}", d);
    out += '\n';
    for (std::size_t i = 0; i < a->size(); ++i) {
      std::snprintf(buf, sizeof buf, "%a", static_cast<double>(a->data()[i]));
      out += buf;
      out += (i + 1) % 8 == 0 || i + 1 == a->size() ? '\n' : ' ';
    }
  }
  out += fmt::format("checksum {:016x}\nend\n", model_checksum(out));

  const std::string tmp = path + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError(fmt::format("save: {}: cannot create the file ({})", tmp, std::strerror(errno)));
    const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size() && std::fflush(f) == 0;
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) {
      std::remove(tmp.c_str());
      throw IoError(fmt::format("save: {}: writing failed ({}); the previous file is untouched", tmp,
                                std::strerror(errno)));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw IoError(fmt::format("save: {}: cannot replace the file ({})", path, why));
  }
}

template <class T>
Sequential<T> load_model(const std::string& path) {
  const Stored s = read_file(path);
  std::size_t values = 0;
  for (const auto& t : s.tensors) values += t.values.size();
  Sequential<T> net;
  for (const auto& spec : s.specs) net.add(build_layer<T>(spec, path, values));
  assign(net, s, path);
  return net;
}

template <class T>
void load_weights(Module<T>& model, const std::string& path) {
  const Stored s = read_file(path);
  const auto specs = layer_specs(model);
  if (specs.size() != s.specs.size())
    throw IoError(fmt::format("load_weights: {}: the file holds {} layers, the model has {}", path, s.specs.size(),
                              specs.size()));
  for (std::size_t i = 0; i < specs.size(); ++i)
    if (specs[i] != s.specs[i])
      throw IoError(fmt::format("load_weights: {}: layer {} is '{}' in the file but '{}' in the model", path, i,
                                s.specs[i], specs[i]));
  assign(model, s, path);
}

#define AD_NN_SERIALIZE(T)                                          \
  template void save<T>(Module<T>&, const std::string&);            \
  template Sequential<T> load_model<T>(const std::string&);         \
  template void load_weights<T>(Module<T>&, const std::string&);
AD_NN_SERIALIZE(float)
AD_NN_SERIALIZE(double)
#undef AD_NN_SERIALIZE

}  // namespace ad::nn
