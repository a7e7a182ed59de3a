// What nn-train and nn-predict share: the command line (CLI11, with the tools' own messages and
// --help layout), usage errors, loading data by name or file, input scaling, and the ".meta" file
// written next to a saved model.
//
// The model file (ad::nn::save, docs/model-format.md) holds the network. What a prediction needs
// besides the network -- how the inputs were scaled, the class names, the loss and the split --
// lives in "<model>.meta", a short text file (format in docs/model-format.md, section "The
// .meta file of nn-train"), so the model format stays the library's own.
#pragma once

#include <ad/error.hpp>
#include <ad/nn/data.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

// OpenBLAS's thread count, if OpenBLAS is the BLAS linked in (weak: other BLAS builds still link).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_procs(void) __attribute__((weak));

namespace cli {

/// BLAS threads: n > 0 that many, 0 = all cores. With n < 0 (not given on the command line) the
/// tools use 1 thread unless OPENBLAS_NUM_THREADS is set: the networks they train are small, and
/// threads that wait for each other on a busy machine make a run many times slower.
inline void set_blas_threads(int n) {
  if (!openblas_set_num_threads) return;
  if (n < 0) {
    if (std::getenv("OPENBLAS_NUM_THREADS")) return;
    n = 1;
  }
  if (n == 0) n = openblas_get_num_procs ? openblas_get_num_procs() : 1;
  openblas_set_num_threads(n);
}

/// Bad command line: printed as "<tool>: <message>" with exit code 2.
struct UsageError {
  std::string message;
};

/// A tool's main body with its error handling: a UsageError prints "<tool>: <message>" and a
/// pointer to --help and exits 2; any other exception prints "<tool>: <what>" and exits 1.
template <class Body>
int guarded_main(const char* tool, Body&& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    fmt::print(stderr, "{}: {}\n({} --help lists every option)\n", tool, e.message, tool);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", tool, e.what());
    return 1;
  }
}

inline std::vector<std::string> split(const std::string& s, char sep);

/// --help as the tools lay it out: `head`; then every option of the app in the order it was
/// added, as "  --name VALUE" (the value's name is CLI11's type name; mark(option) appended)
/// padded to `column`, or alone on its line when longer, followed by its description wrapped at
/// `width` columns (0: no wrapping; a "\n" in a description always starts a new line), under a
/// heading "\n<group>:" whenever the group changes (with `headings`); then `tail`.
class HelpFormatter : public CLI::FormatterBase {
 public:
  std::string head, tail;
  std::size_t column = 28, width = 100;
  bool headings = true;
  std::function<std::string(const CLI::Option&)> mark;

  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    std::string s = head, group;
    for (const CLI::Option* o : app->get_options()) {
      if (headings && o->get_group() != group) {
        group = o->get_group();
        s += "\n" + group + ":\n";
      }
      std::string first = "  " + o->get_name();
      if (!o->get_type_name().empty()) first += " " + o->get_type_name();
      if (mark) first += mark(*o);
      if (first.size() < column) first += std::string(column - first.size(), ' ');
      else first += "\n" + std::string(column, ' ');
      std::string line = first;
      for (const auto& part : split(o->get_description(), '\n')) {
        if (line.empty()) line = std::string(column, ' ');
        for (const auto& word : split(part, ' ')) {
          if (width > 0 && line.size() + word.size() + 1 > width && line.size() > column) {
            s += line + "\n";
            line = std::string(column, ' ');
          }
          line += (line.back() == ' ' ? "" : " ") + word;
        }
        s += line + "\n";
        line.clear();
      }
    }
    return s + tail;
  }
};

/// Adds --help (and -h) as the last option, in `group`: read in command-line order like every
/// option, so what follows it is not looked at, and an error before it (a bad value, an unknown
/// argument) is reported instead.
inline void add_help(CLI::App& app, const std::string& group = "Options") {
  app.set_help_flag();
  const auto help = [&app](std::int64_t) {
    if (app.remaining().empty()) throw CLI::CallForHelp();
  };
  app.add_flag_function("--help,-h", help, "this text")->trigger_on_parse()->group(group);
}

/// What a tool says when CLI11 finds no value after an option at the end of the command line
/// (`token` is the option as written).
using NeedsValue = std::function<std::string(const CLI::Option& option, const std::string& token)>;

/// Parses the command line with `app`, whose option callbacks (run as each option is read, in
/// command-line order: see add_help) set the values and throw UsageError for bad ones. CLI11's
/// own errors become UsageErrors in the tools' words: a value missing at the end (needs_value),
/// a flag given a value ("--quiet is a flag and takes no value"; CLI11 would take --quiet=true).
/// Returns false when --help was asked for (the help is then printed), else true with the
/// arguments no option took in `rest`, in order (the app allows extras: what they mean is the
/// tool's decision).
inline bool parse(CLI::App& app, int argc, char** argv, const NeedsValue& needs_value,
                  std::vector<std::string>& rest) {
  app.allow_extras();
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto eq = a.find('=');
      if (a.rfind("--", 0) != 0 || eq == std::string::npos) continue;
      const CLI::Option* o = app.get_option_no_throw(a.substr(0, eq));
      if (o && o->get_items_expected_max() == 0)
        throw UsageError{fmt::format("{} is a flag and takes no value", a.substr(0, eq))};
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return false;
  } catch (const CLI::ArgumentMismatch& e) {
    // For an option whose value is missing, which can only be the last argument (CLI11 takes the
    // next argument as the value, whatever it looks like).
    const std::string last = argc > 1 ? argv[argc - 1] : "";
    const CLI::Option* o = app.get_option_no_throw(last.substr(0, last.find('=')));
    if (o) throw UsageError{needs_value(*o, last.substr(0, last.find('=')))};
    throw UsageError{e.what()};
  } catch (const CLI::ParseError& e) {
    throw UsageError{e.what()};
  }
  rest = app.remaining();
  return true;
}

inline std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

/// Levenshtein distance, for "did you mean" hints.
inline std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

inline std::string choice(const std::string& option, const std::string& value,
                          const std::vector<std::string>& valid) {
  if (std::find(valid.begin(), valid.end(), value) != valid.end()) return value;
  throw UsageError{fmt::format("{}: '{}' is not one of: {}", option, value, join(valid))};
}

inline double to_double(const std::string& option, const std::string& v) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(d))
    throw UsageError{fmt::format("{}: '{}' is not a number", option, v)};
  return d;
}

inline std::size_t to_count(const std::string& option, const std::string& v, std::size_t min = 0) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || v[0] == '-' || n < min)
    throw UsageError{fmt::format("{}: '{}' is not a whole number >= {}", option, v, min)};
  return static_cast<std::size_t>(n);
}

inline bool is_builtin(const std::string& name) {
  const auto names = ad::nn::builtin_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// A data set given on the command line: a built-in name, a CSV file, or (with labels_idx) an
/// IDX images file plus its labels file. label_column: as CsvOptions (-1 last, -2 none).
/// D: the element type the data is held in (float for a float32 model).
template <class D = double>
ad::nn::BasicDataset<D> load_data(const std::string& spec, const std::string& labels_idx, int label_column) {
  if (!labels_idx.empty()) return ad::nn::load_idx<D>(spec, labels_idx);
  if (is_builtin(spec)) return ad::nn::load_builtin<D>(spec);
  std::ifstream probe(spec);
  if (!probe && spec.find('/') == std::string::npos && spec.find('.') == std::string::npos)
    throw UsageError{fmt::format("--data: '{}' is neither a built-in data set ({}) nor an existing file", spec,
                                 join(ad::nn::builtin_names()))};
  ad::nn::CsvOptions o;
  o.label_column = label_column;
  return ad::nn::load_csv<D>(spec, o);
}

/// Input scaling fitted on the training part, by the library's scalers (ad/nn/data.hpp): none,
/// standard (StandardScaler, z-scores), minmax (MinMaxScaler, to [0, 1]) or max (MaxScaler:
/// divide by the largest absolute training value, 16 for digits, 255 for Fashion-MNIST).
struct Scaling {
  std::string kind = "none";
  ad::nn::StandardScaler standard;
  ad::nn::MinMaxScaler minmax;
  ad::nn::MaxScaler max;

  static std::vector<std::string> kinds() { return {"auto", "none", "standard", "minmax", "max"}; }

  template <class V>
  void fit(const xt::xarray<V>& x) {
    if (kind == "standard") standard.fit(x);
    else if (kind == "minmax") minmax.fit(x);
    else if (kind == "max") max.fit(x);
  }
  /// In place: the training set of Fashion-MNIST is 376 MB of doubles (188 MB of floats).
  template <class V>
  void apply(xt::xarray<V>& x) const {
    if (kind == "none" || x.size() == 0) return;
    if (kind == "standard") standard.transform_in_place(x);
    else if (kind == "minmax") minmax.transform_in_place(x);
    else max.transform_in_place(x);
  }

  // The statistics as the .meta file stores them: "scaling KIND N a_1..a_N b_1..b_N", where a
  // and b are standard: means and scales; minmax: minimums and ranges; max: {divisor} and no b;
  // none: nothing.
  std::vector<double> a() const {
    if (kind == "standard") return {standard.mean.begin(), standard.mean.end()};
    if (kind == "minmax") return {minmax.min.begin(), minmax.min.end()};
    if (kind == "max") return {max.divisor};
    return {};
  }
  std::vector<double> b() const {
    if (kind == "standard") return {standard.scale.begin(), standard.scale.end()};
    if (kind == "minmax") return {minmax.range.begin(), minmax.range.end()};
    return {};
  }
  /// The scaler of kind k with the statistics read from a .meta file; false if they do not fit
  /// the kind (an unknown kind, no statistics, a divisor <= 0).
  bool set(const std::string& k, const std::vector<double>& av, const std::vector<double>& bv) {
    kind = k;
    auto column = [](const std::vector<double>& v) {
      xt::xarray<double> c = xt::xarray<double>::from_shape({v.size()});
      std::copy(v.begin(), v.end(), c.begin());
      return c;
    };
    if (k == "none") return true;
    if (k == "max") {  // (numbers after the divisor, which no writer puts there, are ignored)
      if (av.size() != 1 || !(av[0] > 0)) return false;
      max.divisor = av[0];
      return true;
    }
    if ((k != "standard" && k != "minmax") || av.empty() || bv.size() != av.size()) return false;
    if (k == "standard") standard.mean = column(av), standard.scale = column(bv);
    else minmax.min = column(av), minmax.range = column(bv);
    return true;
  }
};

inline std::string hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

/// The "<model>.meta" file: everything besides the weights that a prediction needs.
struct Meta {
  std::string task = "classification";  // or "regression"
  std::string loss = "cross_entropy";
  std::string dtype = "float64";
  std::size_t features = 0, outputs = 0;
  Scaling scaling;
  std::vector<std::string> class_names;
  // How the data was split, so that nn-predict --split test sees the same test rows.
  std::string data;
  int label_column = -1;
  double test_fraction = 0;
  std::uint64_t seed = 0;
  bool stratify = false;

  static std::string path_for(const std::string& model) { return model + ".meta"; }

  void save(const std::string& path) const {
    std::string s = "ad-nn-meta 1\n";
    s += fmt::format("task {}\nloss {}\ndtype {}\nfeatures {}\noutputs {}\n", task, loss, dtype, features, outputs);
    const std::vector<double> a = scaling.a(), b = scaling.b();
    s += fmt::format("scaling {} {}", scaling.kind, a.size());
    // fmt rather than `" " + hex(v)`: g++ 12 draws a false -Wrestrict from that operator+.
    for (double v : a) s += fmt::format(" {}", hex(v));
    for (double v : b) s += fmt::format(" {}", hex(v));
    s += fmt::format("\nclasses {}\n", class_names.size());
    for (const auto& c : class_names) s += fmt::format("class {}\n", c);
    s += fmt::format("data {}\nlabel_column {}\ntest_fraction {}\nseed {}\nstratify {}\nend\n", data,
                     label_column, hex(test_fraction), seed, stratify ? 1 : 0);
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      out << s;
      if (!out.flush()) throw ad::IoError(fmt::format("cannot write {}", tmp));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      std::remove(tmp.c_str());
      throw ad::IoError(fmt::format("cannot replace {}", path));
    }
  }

  static Meta load(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ad::IoError(fmt::format("{}: cannot open the file", path));
    Meta m;
    std::string line;
    std::size_t no = 0;
    auto fail = [&](const std::string& why) {
      return ad::IoError(fmt::format("{} line {}: {}", path, no, why));
    };
    if (!std::getline(in, line) || line != "ad-nn-meta 1")
      throw ad::IoError(fmt::format("{}: not a model .meta file (first line must be 'ad-nn-meta 1')", path));
    ++no;
    bool ended = false;
    auto number = [&](const std::string& s) {
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0') throw fail(fmt::format("'{}' is not a number", s));
      return v;
    };
    while (std::getline(in, line)) {
      ++no;
      const auto sp = line.find(' ');
      const std::string key = line.substr(0, sp), rest = sp == std::string::npos ? "" : line.substr(sp + 1);
      std::istringstream ls(rest);
      if (key == "end") {
        ended = true;
        break;
      } else if (key == "task") {
        m.task = rest;
      } else if (key == "loss") {
        m.loss = rest;
      } else if (key == "dtype") {
        m.dtype = rest;
      } else if (key == "features") {
        m.features = static_cast<std::size_t>(number(rest));
      } else if (key == "outputs") {
        m.outputs = static_cast<std::size_t>(number(rest));
      } else if (key == "scaling") {
        std::string kind, count, v;
        ls >> kind >> count;
        const std::size_t n = static_cast<std::size_t>(number(count));
        std::vector<double> a, b;
        for (std::size_t i = 0; i < n && ls >> v; ++i) a.push_back(number(v));
        while (ls >> v) b.push_back(number(v));
        if (a.size() != n || (kind != "max" && kind != "none" && b.size() != n))
          throw fail("the scaling statistics are incomplete");
        if (!m.scaling.set(kind, a, b))
          throw fail(fmt::format("scaling '{}' with {} statistics: expected none 0, max 1 (a positive divisor), "
                                 "or standard / minmax with N means / minimums then N scales / ranges",
                                 kind, n));
      } else if (key == "classes") {
      } else if (key == "class") {
        m.class_names.push_back(rest);
      } else if (key == "data") {
        m.data = rest;
      } else if (key == "label_column") {
        m.label_column = static_cast<int>(number(rest));
      } else if (key == "test_fraction") {
        m.test_fraction = number(rest);
      } else if (key == "seed") {
        m.seed = std::strtoull(rest.c_str(), nullptr, 10);
      } else if (key == "stratify") {
        m.stratify = rest == "1";
      } else {
        throw fail(fmt::format("unknown entry '{}'", key));
      }
    }
    if (!ended) throw ad::IoError(fmt::format("{}: the file is truncated (no 'end' line)", path));
    return m;
  }
};

}  // namespace cli
