// Data loading (CSV, IDX, built-in sets), splitting, one-hot encoding, scaling, batch gathering.
#include <ad/nn/data.hpp>
#include <ad/nn/random.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <string_view>
#include <system_error>
#include <type_traits>

#ifndef AD_DATA_DIR
#define AD_DATA_DIR "data"
#endif
#ifndef AD_INSTALLED_DATA_DIR
#define AD_INSTALLED_DATA_DIR AD_DATA_DIR
#endif

namespace ad::nn {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Files: one reader for plain and gzipped files (zlib reads plain files transparently).

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

/// Size of an existing regular file; IoError if missing, not a file, or empty.
std::uintmax_t checked_file_size(const std::string& who, const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw IoError(fmt::format("{}: {}: no such file", who, path));
  if (fs::is_directory(st))
    throw IoError(fmt::format("{}: {}: is a directory, not a file", who, path));
  const auto size = fs::file_size(path, ec);
  if (ec) throw IoError(fmt::format("{}: {}: cannot read the file size: {}", who, path, ec.message()));
  if (size == 0) throw IoError(fmt::format("{}: {}: file is empty", who, path));
  return size;
}

/// True if the file starts with the gzip magic bytes 1f 8b.
bool is_gzip_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char m[2] = {0, 0};
  const std::size_t got = std::fread(m, 1, 2, f);
  std::fclose(f);
  return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

GzFile open_gz(const std::string& who, const std::string& path) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) throw IoError(fmt::format("{}: {}: cannot open: {}", who, path, std::strerror(errno)));
  gzbuffer(f.get(), 1 << 17);
  return f;
}

/// Reads up to n bytes; returns the count. IoError on a corrupt or truncated gzip stream.
std::size_t gz_read(const std::string& who, const std::string& path, gzFile_s* f, void* dst,
                    std::size_t n) {
  std::size_t done = 0;
  auto* out = static_cast<unsigned char*>(dst);
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
    const int got = gzread(f, out + done, chunk);
    int err = Z_OK;
    const char* msg = gzerror(f, &err);
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
      // zlib starts its message with the path, which ours already names.
      std::string why = msg && *msg ? msg : "read error";
      if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
      throw IoError(fmt::format("{}: {}: truncated or corrupt gzip data ({})", who, path, why));
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

/// The whole (decompressed) content of a file.
std::string read_all(const std::string& who, const std::string& path) {
  checked_file_size(who, path);
  GzFile f = open_gz(who, path);
  std::string s;
  std::size_t used = 0;
  s.resize(1 << 16);
  for (;;) {
    if (used == s.size()) s.resize(s.size() * 2);
    const std::size_t got = gz_read(who, path, f.get(), s.data() + used, s.size() - used);
    if (got == 0) break;
    used += got;
  }
  s.resize(used);
  if (s.empty()) throw IoError(fmt::format("{}: {}: file is empty (after decompression)", who, path));
  return s;
}

// ---------------------------------------------------------------------------------------------
// CSV

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view unquote(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\'')))
    s = trim(s.substr(1, s.size() - 2));
  return s;
}

void split_cells(std::string_view line, char delim, std::vector<std::string_view>& cells) {
  cells.clear();
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') quoted = !quoted;
    else if (c == delim && !quoted) {
      cells.push_back(unquote(line.substr(start, i - start)));
      start = i + 1;
    }
  }
  cells.push_back(unquote(line.substr(start)));
}

enum class NumParse { ok, not_a_number, out_of_range };

NumParse parse_number(std::string_view s, double& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return NumParse::not_a_number;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return NumParse::out_of_range;
  if (ec != std::errc() || p != s.data() + s.size()) return NumParse::not_a_number;
  return NumParse::ok;
}

bool is_number(std::string_view s) {
  double v;
  return parse_number(s, v) != NumParse::not_a_number;
}

bool is_count(std::string_view s, std::size_t& n) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc() && p == s.data() + s.size();
}

struct Line {
  std::string_view text;
  std::size_t number;  // 1-based line in the file
};

std::vector<Line> split_lines(std::string_view s) {
  std::vector<Line> lines;
  std::size_t start = 0, number = 1;
  while (start <= s.size()) {
    std::size_t end = s.find('\n', start);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view text = s.substr(start, end - start);
    if (!trim(text).empty()) lines.push_back({text, number});
    ++number;
    start = end + 1;
  }
  return lines;
}

/// A cell as it may be quoted in a message.
std::string show_cell(std::string_view c) {
  if (c.size() > 40) return fmt::format("'{}...'", c.substr(0, 40));
  return fmt::format("'{}'", c);
}

/// The number in a data cell, or the error naming file, line and column.
double parse_cell(const std::string& path, std::string_view cell, std::size_t line,
                  std::size_t col) {
  double v = 0;
  switch (parse_number(cell, v)) {
    case NumParse::not_a_number:
      if (cell.empty())
        throw ParseError(fmt::format("load_csv: {}:{}:{}: empty cell where a number is expected",
                                     path, line, col));
      throw ParseError(fmt::format("load_csv: {}:{}:{}: cannot parse {} as a number", path, line,
                                   col, show_cell(cell)));
    case NumParse::out_of_range:
      throw ValueError(fmt::format("load_csv: {}:{}:{}: {} is out of the range of a double", path,
                                   line, col, show_cell(cell)));
    case NumParse::ok:
      break;
  }
  if (std::isnan(v))
    throw ValueError(fmt::format("load_csv: {}:{}:{}: NaN in data ({})", path, line, col, show_cell(cell)));
  if (std::isinf(v))
    throw ValueError(fmt::format("load_csv: {}:{}:{}: Inf in data ({})", path, line, col, show_cell(cell)));
  return v;
}

// ---------------------------------------------------------------------------------------------
// IDX

std::size_t idx_type_size(unsigned code) {
  switch (code) {
    case 0x08: return 1;  // unsigned byte
    case 0x09: return 1;  // signed byte
    case 0x0B: return 2;  // short
    case 0x0C: return 4;  // int
    case 0x0D: return 4;  // float
    case 0x0E: return 8;  // double
    default: return 0;
  }
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

double idx_value(unsigned code, const unsigned char* p) {
  switch (code) {
    case 0x08: return p[0];
    case 0x09: return static_cast<std::int8_t>(p[0]);
    case 0x0B: return static_cast<std::int16_t>(std::uint16_t((p[0] << 8) | p[1]));
    case 0x0C: return static_cast<std::int32_t>(be32(p));
    case 0x0D: {
      const std::uint32_t u = be32(p);
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    default: {  // 0x0E
      const std::uint64_t u = (std::uint64_t(be32(p)) << 32) | be32(p + 4);
      double d;
      std::memcpy(&d, &u, 8);
      return d;
    }
  }
}

// A gzip stream expands at most ~1032-fold (deflate's limit); no IDX data set we read needs more
// than this many elements (2^31 doubles = 16 GiB).
constexpr std::uint64_t kMaxDeflateRatio = 1032;
// Above this many bytes of decoded doubles per byte of gzip file, the stream is first read
// through (without storing it) to check that it really holds the data the header announces,
// before anything that size is allocated. Real IDX files stay far below (Fashion-MNIST's
// training images: 376 MB of doubles from a 26 MB file, 14x); a corrupt or crafted header
// could otherwise ask for up to 8 x 1032 times the file's size.
constexpr std::uint64_t kVerifyGzipAbove = 64;
constexpr std::uint64_t kMaxIdxElements = std::uint64_t(1) << 31;

// ---------------------------------------------------------------------------------------------
// Helpers for arrays whose axis 0 is the row.

template <class V>
std::size_t row_count(const xt::xarray<V>& a) { return a.dimension() == 0 ? 0 : a.shape()[0]; }

template <class V>
std::size_t row_width(const xt::xarray<V>& a) {
  std::size_t w = 1;
  for (std::size_t i = 1; i < a.dimension(); ++i) w *= a.shape()[i];
  return w;
}

template <class V>
std::vector<std::size_t> tail_shape(const xt::xarray<V>& a) {
  std::vector<std::size_t> s;
  for (std::size_t i = 1; i < a.dimension(); ++i) s.push_back(a.shape()[i]);
  return s;
}

/// Shape of per-column statistics: x.shape[1:], or (1,) for (n,) data (a 0-d array would look
/// like an unfitted scaler).
template <class V>
std::vector<std::size_t> stat_shape(const xt::xarray<V>& x) {
  std::vector<std::size_t> s = tail_shape(x);
  if (s.empty()) s.push_back(1);
  return s;
}

template <class V>
std::string shape_text(const xt::xarray<V>& a) {
  std::string s = "(";
  for (std::size_t i = 0; i < a.dimension(); ++i) s += fmt::format("{}{}", i ? ", " : "", a.shape()[i]);
  if (a.dimension() == 1) s += ",";
  return s + ")";
}

template <class V>
xt::xarray<V> gather(const xt::xarray<V>& a, const std::vector<std::size_t>& rows) {
  std::vector<std::size_t> shape = tail_shape(a);
  shape.insert(shape.begin(), rows.size());
  xt::xarray<V> out = xt::xarray<V>::from_shape(shape);
  const std::size_t w = row_width(a);
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy_n(a.data() + rows[i] * w, w, out.data() + i * w);
  return out;
}

template <class V>
void check_fitted(const char* who, const xt::xarray<double>& stat, const xt::xarray<V>& x) {
  if (x.dimension() == 0)
    throw ShapeError(fmt::format("{}: expected (n, features) data, got a 0-d array", who));
  const std::vector<std::size_t> want(stat.shape().begin(), stat.shape().end());
  if (stat_shape(x) != want)
    throw ShapeError(fmt::format("{}: data of shape {} does not match the fitted statistics of "
                                 "shape {}; transform data with the columns the scaler was fit on",
                                 who, shape_text(x), shape_text(stat)));
}

/// out[i, j] = f(x[i, j], a[j], b[j]); out has x's shape and may be x itself (in place).
// Computed in double, rounded once to V.
template <class V, class F>
void apply_columns_into(const xt::xarray<V>& x, const xt::xarray<double>& a, const xt::xarray<double>& b,
                        F f, xt::xarray<V>& out) {
  const std::size_t w = a.size(), n = row_count(x);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < w; ++j)
      out.data()[i * w + j] =
          static_cast<V>(f(static_cast<double>(x.data()[i * w + j]), a.data()[j], b.data()[j]));
}

template <class V, class F>
xt::xarray<V> apply_columns(const xt::xarray<V>& x, const xt::xarray<double>& a,
                            const xt::xarray<double>& b, F f) {
  xt::xarray<V> out = xt::xarray<V>::from_shape(x.shape());
  apply_columns_into(x, a, b, f, out);
  return out;
}

template <class V>
void check_fit_input(const char* who, const xt::xarray<V>& x) {
  if (x.dimension() == 0 || x.shape()[0] == 0)
    throw ValueError(fmt::format("{}: cannot fit on no rows (shape {})", who, shape_text(x)));
  for (std::size_t k = 0; k < x.size(); ++k)
    if (!std::isfinite(x.data()[k]))
      throw ValueError(fmt::format("{}: NaN or Inf at row {} of the data to fit", who,
                                   k / std::max<std::size_t>(row_width(x), 1)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Dataset

template <class T>
std::size_t BasicDataset<T>::size() const { return row_count(x); }

template <class T>
std::size_t BasicDataset<T>::features() const {
  if (x.dimension() == 0) return 0;
  return row_width(x);
}

template <class T>
std::size_t BasicDataset<T>::classes() const {
  if (!class_names.empty()) return class_names.size();
  const auto l = labels();
  return l.empty() ? 0 : *std::max_element(l.begin(), l.end()) + 1;
}

template <class T>
std::vector<std::size_t> BasicDataset<T>::labels() const {
  if (!(y.dimension() == 1 || (y.dimension() == 2 && y.shape()[1] == 1)))
    throw ValueError(fmt::format("Dataset::labels: y of shape {} is not a vector of class labels; "
                                 "expected (n,) or (n, 1)", shape_text(y)));
  const std::size_t n = y.shape()[0];
  std::vector<std::size_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(y.data()[i]);
    if (!(v >= 0) || v != std::floor(v) || v > 1e15)
      throw ValueError(fmt::format("Dataset::labels: y[{}] = {} is not a class label (a "
                                   "non-negative integer); is this regression data?", i, v));
    out[i] = static_cast<std::size_t>(v);
  }
  return out;
}

template <class T>
BasicDataset<T> BasicDataset<T>::subset(const std::vector<std::size_t>& rows) const {
  const std::size_t n = size();
  for (std::size_t r : rows)
    if (r >= n)
      throw ShapeError(fmt::format("Dataset::subset: row {} out of range for {} rows", r, n));
  const bool has_y = y.size() > 0 && y.dimension() > 0;
  if (has_y && row_count(y) != n)
    throw ShapeError(fmt::format("Dataset::subset: x has {} rows but y has shape {}", n, shape_text(y)));
  BasicDataset d;
  d.x = gather(x, rows);
  d.y = has_y ? gather(y, rows) : xt::xarray<T>::from_shape({0});
  d.class_names = class_names;
  d.feature_names = feature_names;
  return d;
}

namespace {
// v as U. To float, a finite value beyond float's range is a ValueError, not an infinity; where()
// names the place and is called only then (loading formats nothing per cell).
template <class U, class Where>
U narrow_value(double v, Where&& where) {
  if constexpr (std::is_same_v<U, float>) {
    if (std::isfinite(v) && std::abs(v) > static_cast<double>(std::numeric_limits<float>::max()))
      throw ValueError(fmt::format("{}: {} does not fit in float32 (largest {:g}); load the data as double", where(),
                                   v, static_cast<double>(std::numeric_limits<float>::max())));
  }
  return static_cast<U>(v);
}

template <class U, class V>
xt::xarray<U> convert_array(const xt::xarray<V>& a, const char* what) {
  xt::xarray<U> out = xt::xarray<U>::from_shape(a.shape());
  const std::size_t w = std::max<std::size_t>(row_width(a), 1);
  for (std::size_t k = 0; k < a.size(); ++k)
    out.data()[k] = narrow_value<U>(static_cast<double>(a.data()[k]), [&] {
      return fmt::format("Dataset::as<float>: {}[{}, {}]", what, k / w, k % w);
    });
  return out;
}
}  // namespace

template <class T>
template <class U>
BasicDataset<U> BasicDataset<T>::as() const {
  BasicDataset<U> d;
  d.x = convert_array<U>(x, "x");
  d.y = convert_array<U>(y, "y");
  d.class_names = class_names;
  d.feature_names = feature_names;
  return d;
}

template struct BasicDataset<float>;
template struct BasicDataset<double>;
template BasicDataset<float> BasicDataset<float>::as<float>() const;
template BasicDataset<double> BasicDataset<float>::as<double>() const;
template BasicDataset<float> BasicDataset<double>::as<float>() const;
template BasicDataset<double> BasicDataset<double>::as<double>() const;

// ---------------------------------------------------------------------------------------------
// CSV

template <class T>
BasicDataset<T> load_csv(const std::string& path, const CsvOptions& options) {
  if (options.header < -1 || options.header > 1)
    throw ValueError(fmt::format("load_csv: header = {} must be -1 (detect), 0 (none) or 1 (yes)",
                                 options.header));
  if (options.label_column < -2)
    throw ValueError(fmt::format("load_csv: label_column = {} must be -1 (last), -2 (none) or a "
                                 "0-based column index", options.label_column));
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    throw ValueError("load_csv: the delimiter cannot be a quote or a line end");

  const std::string content = read_all("load_csv", path);
  const std::vector<Line> lines = split_lines(content);
  if (lines.empty()) throw IoError(fmt::format("load_csv: {}: file has no rows (only blank lines)", path));

  const bool want_label = options.label_column != -2;
  std::vector<std::string_view> first, cells;
  split_cells(lines[0].text, options.delimiter, first);

  // The scikit-learn layout: "n,features,class names...".
  std::size_t sk_n = 0, sk_m = 0;
  bool sklearn = first.size() >= 2 && is_count(first[0], sk_n) && is_count(first[1], sk_m) &&
                 std::none_of(first.begin() + 2, first.end(), [](auto c) { return is_number(c); });
  if (sklearn) {
    if (lines.size() > 1) {
      split_cells(lines[1].text, options.delimiter, cells);
      sklearn = cells.size() == sk_m + (want_label ? 1 : 0) &&
                (first.size() > 2 || cells.size() != first.size());
    } else {
      sklearn = sk_n == 0;
    }
  }
  const bool all_numeric = std::all_of(first.begin(), first.end(), [](auto c) { return is_number(c); });
  const bool header = options.header == 1 || (options.header == -1 && (sklearn || !all_numeric));

  BasicDataset<T> d;
  std::vector<std::string> header_names;
  if (header) {
    if (sklearn) {
      for (std::size_t i = 2; i < first.size(); ++i) d.class_names.emplace_back(first[i]);
    } else {
      for (auto c : first) header_names.emplace_back(c);
    }
  }
  const std::size_t first_data = header ? 1 : 0;
  const std::size_t n = lines.size() - first_data;
  if (n == 0) throw IoError(fmt::format("load_csv: {}: no data rows after the header", path));

  split_cells(lines[first_data].text, options.delimiter, cells);
  const std::size_t cols = cells.size();
  if (header && !sklearn && header_names.size() != cols)
    throw ShapeError(fmt::format("load_csv: {}:{}: the header has {} columns but line {} has {}",
                                 path, lines[0].number, header_names.size(),
                                 lines[first_data].number, cols));
  std::size_t label = cols;  // cols = none
  if (want_label) {
    label = options.label_column == -1 ? cols - 1 : static_cast<std::size_t>(options.label_column);
    if (label >= cols)
      throw ShapeError(fmt::format("load_csv: {}: label_column {} is out of range for {} columns",
                                   path, options.label_column, cols));
    if (cols < 2)
      throw ShapeError(fmt::format("load_csv: {}: only one column, the label; no features left",
                                   path));
  }
  const std::size_t m = want_label ? cols - 1 : cols;
  if (header && sklearn) {
    if (sk_n != n)
      throw ShapeError(fmt::format("load_csv: {}: the header says {} rows but the file has {}",
                                   path, sk_n, n));
    if (sk_m != m)
      throw ShapeError(fmt::format("load_csv: {}: the header says {} features but the rows have {}",
                                   path, sk_m, m));
  }
  if (!header_names.empty())
    for (std::size_t j = 0; j < cols; ++j)
      if (j != label) d.feature_names.push_back(header_names[j]);

  d.x = xt::xarray<T>::from_shape({n, m});
  d.y = xt::xarray<T>::from_shape({want_label ? n : 0});
  const std::size_t k = d.class_names.size();
  for (std::size_t i = 0; i < n; ++i) {
    const Line& line = lines[first_data + i];
    split_cells(line.text, options.delimiter, cells);
    if (cells.size() != cols)
      throw ShapeError(fmt::format("load_csv: {}:{}: expected {} columns (as in line {}), found {}",
                                   path, line.number, cols, lines[first_data].number, cells.size()));
    T* row = d.x.data() + i * m;
    for (std::size_t j = 0, f = 0; j < cols; ++j) {
      const double v = parse_cell(path, cells[j], line.number, j + 1);
      const T t = narrow_value<T>(v, [&] { return fmt::format("load_csv: {}:{}:{}", path, line.number, j + 1); });
      if (j == label) {
        if (k > 0 && (v < 0 || v != std::floor(v) || v >= static_cast<double>(k)))
          throw ValueError(fmt::format("load_csv: {}:{}:{}: label {} is not a class index in "
                                       "[0, {}) of the header's class names",
                                       path, line.number, j + 1, show_cell(cells[j]), k));
        d.y.data()[i] = t;
      } else {
        row[f++] = t;
      }
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// IDX

namespace {
template <class V>
xt::xarray<V> load_idx_array_as(const std::string& path) {
  const char* who = "load_idx";
  const std::uint64_t file_size = checked_file_size(who, path);
  const bool gz = is_gzip_file(path);
  GzFile f = open_gz(who, path);

  unsigned char magic[4];
  const std::size_t got = gz_read(who, path, f.get(), magic, 4);
  if (got == 0) throw IoError(fmt::format("{}: {}: file is empty", who, path));
  if (got < 4) throw IoError(fmt::format("{}: {}: truncated: {} bytes, shorter than the 4-byte IDX magic", who, path, got));
  const unsigned code = magic[2], ndims = magic[3];
  const std::size_t tsize = idx_type_size(code);
  if (magic[0] != 0 || magic[1] != 0 || tsize == 0 || ndims == 0)
    throw IoError(fmt::format("{}: {}: not an IDX file: magic {:02x} {:02x} {:02x} {:02x}, expected "
                              "00 00 <type 08/09/0b/0c/0d/0e> <dimensions >= 1>",
                              who, path, magic[0], magic[1], magic[2], magic[3]));

  std::vector<unsigned char> dims_raw(4 * ndims);
  if (gz_read(who, path, f.get(), dims_raw.data(), dims_raw.size()) < dims_raw.size())
    throw IoError(fmt::format("{}: {}: truncated in the header ({} dimensions announced)", who,
                              path, ndims));
  std::vector<std::size_t> shape(ndims);
  // The product of the non-zero dimensions is bounded too: (0, 2^32-1, 2^32-1) holds no data but
  // its row width (features()) would overflow and ask for absurd memory later.
  std::uint64_t elements = 1;
  bool too_big = false, empty = false;
  for (std::size_t i = 0; i < ndims; ++i) {
    shape[i] = be32(&dims_raw[4 * i]);
    if (shape[i] == 0) empty = true;
    else if (elements > kMaxIdxElements / shape[i]) too_big = true;
    else elements *= shape[i];
  }
  auto shape_s = [&] {
    std::string s;
    for (std::size_t i = 0; i < ndims; ++i) s += fmt::format("{}{}", i ? " x " : "", shape[i]);
    return s;
  };
  if (too_big || elements > kMaxIdxElements)
    throw IoError(fmt::format("{}: {}: header dimensions {} are absurd (more than 2^31 elements); "
                              "the file is corrupt", who, path, shape_s()));
  if (empty) elements = 0;
  const std::uint64_t header_bytes = 4 + 4 * std::uint64_t(ndims);
  const std::uint64_t data_bytes = elements * tsize;
  if (!gz && data_bytes + header_bytes > file_size)
    throw IoError(fmt::format("{}: {}: truncated: the header ({}) needs {} bytes of data but the "
                              "file has {}", who, path, shape_s(), data_bytes,
                              file_size - std::min(file_size, header_bytes)));
  if (gz && data_bytes > file_size * kMaxDeflateRatio + 4096)
    throw IoError(fmt::format("{}: {}: the header ({}) needs {} bytes of data, more than a "
                              "{}-byte gzip file can hold; the file is corrupt or truncated",
                              who, path, shape_s(), data_bytes, file_size));

  if (gz && elements * sizeof(V) > file_size * kVerifyGzipAbove) {
    std::vector<unsigned char> sink(std::size_t(1) << 16);
    std::uint64_t have = 0;
    for (std::size_t r = 1; have < data_bytes && r > 0; have += r)
      r = gz_read(who, path, f.get(), sink.data(), sink.size());
    if (have < data_bytes)
      throw IoError(fmt::format("{}: {}: truncated: the header ({}) needs {} bytes of data, the "
                                "gzip stream holds {}", who, path, shape_s(), data_bytes, have));
    if (gzrewind(f.get()) != 0 || gz_read(who, path, f.get(), magic, 4) != 4 ||
        gz_read(who, path, f.get(), dims_raw.data(), dims_raw.size()) != dims_raw.size())
      throw IoError(fmt::format("{}: {}: cannot read the gzip stream a second time", who, path));
  }

  xt::xarray<V> out = xt::xarray<V>::from_shape(shape);
  // Decode in chunks so the raw bytes never need a second full-size buffer.
  std::vector<unsigned char> buf(std::min<std::uint64_t>(data_bytes, std::uint64_t(1) << 20));
  std::uint64_t done = 0;
  V* dst = out.data();
  while (done < data_bytes) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), data_bytes - done));
    const std::size_t r = gz_read(who, path, f.get(), buf.data(), want);
    if (r < want || r % tsize != 0)
      throw IoError(fmt::format("{}: {}: truncated: the header ({}) needs {} bytes of data, the "
                                "file ends after {}", who, path, shape_s(), data_bytes, done + r));
    for (std::size_t p = 0; p < r; p += tsize) *dst++ = static_cast<V>(idx_value(code, buf.data() + p));
    done += r;
  }
  unsigned char extra;
  if (gz_read(who, path, f.get(), &extra, 1) != 0)
    throw IoError(fmt::format("{}: {}: more data than the header ({}) describes; the file is "
                              "corrupt or not IDX", who, path, shape_s()));
  if (code == 0x0D || code == 0x0E)
    for (std::size_t i = 0; i < out.size(); ++i)
      if (!std::isfinite(out.data()[i]))
        throw ValueError(fmt::format("{}: {}: NaN or Inf at element {}", who, path, i));
  return out;
}
}  // namespace

xt::xarray<double> load_idx_array(const std::string& path) { return load_idx_array_as<double>(path); }
xt::xarray<float> load_idx_array_float(const std::string& path) { return load_idx_array_as<float>(path); }

template <class T>
BasicDataset<T> load_idx(const std::string& images_path, const std::string& labels_path) {
  xt::xarray<T> images = load_idx_array_as<T>(images_path);
  // Labels are read as double, where every IDX integer is exact, and checked before narrowing.
  xt::xarray<double> labels = load_idx_array(labels_path);
  if (labels.dimension() != 1)
    throw ShapeError(fmt::format("load_idx: {}: labels must be one-dimensional, got shape {}",
                                 labels_path, shape_text(labels)));
  if (images.shape()[0] != labels.shape()[0])
    throw ValueError(fmt::format("load_idx: {} has {} images but {} has {} labels", images_path,
                                 images.shape()[0], labels_path, labels.shape()[0]));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels(i) < 0 || labels(i) != std::floor(labels(i)))
      throw ValueError(fmt::format("load_idx: {}: label {} at index {} is not a class index",
                                   labels_path, labels(i), i));
  const std::size_t n = images.shape()[0], w = row_width(images);
  images.reshape({n, w});
  BasicDataset<T> d;
  d.x = std::move(images);
  if constexpr (std::is_same_v<T, double>) {
    d.y = std::move(labels);
  } else {
    d.y = convert_array<T>(labels, "labels");
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Built-in data sets

std::string data_dir() {
  if (const char* e = std::getenv("AD_DATA_DIR"); e && *e) return e;
  // The source tree's data/ while it exists (builds, tests), else the installed copy.
  std::error_code ec;
  if (!fs::is_directory(AD_DATA_DIR, ec) && fs::is_directory(AD_INSTALLED_DATA_DIR, ec))
    return AD_INSTALLED_DATA_DIR;
  return AD_DATA_DIR;
}

namespace {

std::string shipped_file(const char* who, const char* name) {
  const std::string path = (fs::path(data_dir()) / name).string();
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw IoError(fmt::format("{}: {}: no such file; the data sets ship in the repository's data/ "
                              "folder (installed to " AD_INSTALLED_DATA_DIR "): set the environment variable "
                              "AD_DATA_DIR to the folder that has them", who, path));
  return path;
}

}  // namespace

template <class T>
BasicDataset<T> load_digits() {
  BasicDataset<T> d = load_csv<T>(shipped_file("load_digits", "digits.csv.gz"), {-1, ',', 0});
  if (d.size() != 1797 || d.features() != 64)
    throw IoError(fmt::format("load_digits: expected 1797 x 64, the file gives {} x {}", d.size(),
                              d.features()));
  for (int c = 0; c < 10; ++c) d.class_names.push_back(std::to_string(c));
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) d.feature_names.push_back(fmt::format("pixel_{}_{}", r, c));
  return d;
}

template <class T>
BasicDataset<T> load_breast_cancer() {
  BasicDataset<T> d = load_csv<T>(shipped_file("load_breast_cancer", "breast_cancer.csv"));
  d.feature_names = {"mean radius", "mean texture", "mean perimeter", "mean area",
                     "mean smoothness", "mean compactness", "mean concavity",
                     "mean concave points", "mean symmetry", "mean fractal dimension",
                     "radius error", "texture error", "perimeter error", "area error",
                     "smoothness error", "compactness error", "concavity error",
                     "concave points error", "symmetry error", "fractal dimension error",
                     "worst radius", "worst texture", "worst perimeter", "worst area",
                     "worst smoothness", "worst compactness", "worst concavity",
                     "worst concave points", "worst symmetry", "worst fractal dimension"};
  if (d.features() != d.feature_names.size())
    throw IoError(fmt::format("load_breast_cancer: expected 30 features, the file gives {}", d.features()));
  return d;
}

template <class T>
BasicDataset<T> load_iris() {
  BasicDataset<T> d = load_csv<T>(shipped_file("load_iris", "iris.csv"));
  d.feature_names = {"sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                     "petal width (cm)"};
  if (d.features() != 4)
    throw IoError(fmt::format("load_iris: expected 4 features, the file gives {}", d.features()));
  return d;
}

template <class T>
BasicDataset<T> load_fashion_mnist(bool train) {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  if (const char* e = std::getenv("AD_FASHION_MNIST_DIR"); e && *e) dir = e;
  const std::string part = train ? "train" : "t10k";
  const std::string images = (fs::path(dir) / (part + "-images-idx3-ubyte.gz")).string();
  const std::string labels = (fs::path(dir) / (part + "-labels-idx1-ubyte.gz")).string();
  for (const auto& p : {images, labels}) {
    std::error_code ec;
    if (!fs::exists(p, ec))
      throw IoError(fmt::format("load_fashion_mnist: {}: no such file; install Debian's package "
                                "dataset-fashion-mnist (sudo apt-get install dataset-fashion-mnist, "
                                "as .ci/install-deps does) or set AD_FASHION_MNIST_DIR to a folder "
                                "with the four Fashion-MNIST .gz files", p));
  }
  BasicDataset<T> d = load_idx<T>(images, labels);
  d.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return d;
}

template <class T>
BasicDataset<T> load_gates(const std::string& gate) {
  static const std::vector<std::pair<std::string, std::array<int, 4>>> gates = {
      {"xor", {0, 1, 1, 0}}, {"and", {0, 0, 0, 1}},  {"or", {0, 1, 1, 1}},
      {"nand", {1, 1, 1, 0}}, {"nor", {1, 0, 0, 0}}, {"xnor", {1, 0, 0, 1}}};
  for (const auto& [name, out] : gates) {
    if (name != gate) continue;
    BasicDataset<T> d;
    d.x = xt::xarray<T>{{0, 0}, {0, 1}, {1, 0}, {1, 1}};
    d.y = xt::xarray<T>::from_shape({4});
    for (std::size_t i = 0; i < 4; ++i) d.y(i) = static_cast<T>(out[i]);
    d.class_names = {"0", "1"};
    d.feature_names = {"a", "b"};
    return d;
  }
  std::string valid;
  for (const auto& g : gates) valid += (valid.empty() ? "" : ", ") + g.first;
  throw ValueError(fmt::format("load_gates: unknown gate '{}'; valid gates: {}", gate, valid));
}

std::vector<std::string> builtin_names() {
  return {"digits", "breast-cancer", "iris", "fashion-mnist", "fashion-mnist-test",
          "xor",    "and",           "or",   "nand",          "nor",
          "xnor"};
}

template <class T>
BasicDataset<T> load_builtin(const std::string& name) {
  if (name == "digits") return load_digits<T>();
  if (name == "breast-cancer") return load_breast_cancer<T>();
  if (name == "iris") return load_iris<T>();
  if (name == "fashion-mnist") return load_fashion_mnist<T>(true);
  if (name == "fashion-mnist-test") return load_fashion_mnist<T>(false);
  for (const char* g : {"xor", "and", "or", "nand", "nor", "xnor"})
    if (name == g) return load_gates<T>(name);
  throw ValueError(fmt::format("load_builtin: unknown data set '{}'; valid names: {}", name,
                               fmt::join(builtin_names(), ", ")));
}

// ---------------------------------------------------------------------------------------------
// Splitting and encoding

template <class T>
BasicSplit<T> train_test_split(const BasicDataset<T>& d, double test_fraction, std::uint64_t seed,
                               bool stratify) {
  if (!(test_fraction > 0 && test_fraction < 1))
    throw ValueError(fmt::format("train_test_split: test_fraction = {} must be in (0, 1)", test_fraction));
  const std::size_t n = d.size();
  // ceil as scikit-learn, forgiving the rounding error of n * f (0.7 * 10 = 7.000000000000001).
  const auto n_test = static_cast<std::size_t>(std::ceil(static_cast<double>(n) * test_fraction - 1e-9));
  if (n_test == 0 || n_test >= n)
    throw ValueError(fmt::format("train_test_split: {} rows with test_fraction {} leave {} test "
                                 "and {} train rows; both parts need at least one",
                                 n, test_fraction, n_test, n - std::min(n, n_test)));
  const std::vector<std::size_t> perm = Rng(seed).permutation(n);
  std::vector<std::size_t> train, test;
  train.reserve(n - n_test);
  test.reserve(n_test);
  if (!stratify) {
    train.assign(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(n - n_test));
    test.assign(perm.begin() + static_cast<std::ptrdiff_t>(n - n_test), perm.end());
  } else {
    const std::vector<std::size_t> labels = d.labels();
    const std::size_t k = *std::max_element(labels.begin(), labels.end()) + 1;
    std::vector<std::size_t> count(k, 0);
    for (std::size_t l : labels) ++count[l];
    // Largest remainders: each class gets floor or ceil of its proportional share of n_test.
    std::vector<std::size_t> quota(k);
    std::vector<std::pair<std::size_t, std::size_t>> rem;  // (remainder numerator, class)
    std::size_t given = 0;
    for (std::size_t c = 0; c < k; ++c) {
      quota[c] = count[c] * n_test / n;
      given += quota[c];
      rem.emplace_back(count[c] * n_test % n, c);
    }
    std::stable_sort(rem.begin(), rem.end(), [](auto a, auto b) { return a.first > b.first; });
    for (std::size_t i = 0; given < n_test; ++i, ++given) ++quota[rem[i].second];
    // Walk the permutation: a class's first quota rows go to test, the rest to train.
    std::vector<std::size_t> taken(k, 0);
    for (std::size_t r : perm) {
      const std::size_t c = labels[r];
      if (taken[c] < quota[c]) {
        ++taken[c];
        test.push_back(r);
      } else {
        train.push_back(r);
      }
    }
  }
  return {d.subset(train), d.subset(test)};
}

#define AD_NN_DATA(T)                                                                               \
  template BasicDataset<T> load_csv<T>(const std::string&, const CsvOptions&);                      \
  template BasicDataset<T> load_idx<T>(const std::string&, const std::string&);                     \
  template BasicDataset<T> load_digits<T>();                                                        \
  template BasicDataset<T> load_breast_cancer<T>();                                                 \
  template BasicDataset<T> load_iris<T>();                                                          \
  template BasicDataset<T> load_fashion_mnist<T>(bool);                                             \
  template BasicDataset<T> load_gates<T>(const std::string&);                                       \
  template BasicDataset<T> load_builtin<T>(const std::string&);                                     \
  template BasicSplit<T> train_test_split<T>(const BasicDataset<T>&, double, std::uint64_t, bool);
AD_NN_DATA(float)
AD_NN_DATA(double)
#undef AD_NN_DATA

xt::xarray<double> one_hot(const std::vector<std::size_t>& labels, std::size_t classes) {
  xt::xarray<double> out = xt::zeros<double>({labels.size(), classes});
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= classes)
      throw ValueError(fmt::format("one_hot: label {} at row {} is not below classes = {}",
                                   labels[i], i, classes));
    out(i, labels[i]) = 1.0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scalers
//
// Each method is one template over the data's element type V (double or float); statistics are
// always double. The double methods and the float member templates (FloatArray X, which is
// exactly xt::xarray<float>) both call it.

namespace {
using FloatX = xt::xarray<float>;

template <class V>
void standard_fit(StandardScaler& sc, const xt::xarray<V>& x) {
  check_fit_input("StandardScaler::fit", x);
  const std::size_t n = row_count(x), w = row_width(x);
  const std::vector<std::size_t> shape = stat_shape(x);
  sc.mean = xt::zeros<double>(shape);
  sc.scale = xt::zeros<double>(shape);
  double* mean = sc.mean.data();
  double* scale = sc.scale.data();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < w; ++j) mean[j] += static_cast<double>(x.data()[i * w + j]);
  for (std::size_t j = 0; j < w; ++j) mean[j] /= static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < w; ++j) {
      const double c = static_cast<double>(x.data()[i * w + j]) - mean[j];
      scale[j] += c * c;
    }
  for (std::size_t j = 0; j < w; ++j) {
    const double sd = std::sqrt(scale[j] / static_cast<double>(n));
    // Zero variance, or only rounding noise around a constant (as scikit-learn decides it).
    const double noise = 10 * std::numeric_limits<double>::epsilon() * std::abs(mean[j]);
    scale[j] = (sd == 0 || sd < noise) ? 1.0 : sd;
  }
}

void standard_check(const char* who, const StandardScaler& sc) {
  if (sc.mean.size() == 0 || sc.mean.dimension() == 0)
    throw ValueError(fmt::format("{}: call fit (on the training data) first", who));
}

double standardize(double v, double m, double sd) { return (v - m) / sd; }
double unstandardize(double v, double m, double sd) { return v * sd + m; }

template <class V>
xt::xarray<V> standard_transform(const StandardScaler& sc, const xt::xarray<V>& x, bool inverse) {
  const char* who = inverse ? "StandardScaler::inverse_transform" : "StandardScaler::transform";
  standard_check(who, sc);
  check_fitted(who, sc.mean, x);
  return inverse ? apply_columns(x, sc.mean, sc.scale, unstandardize) : apply_columns(x, sc.mean, sc.scale, standardize);
}

template <class V>
void standard_in_place(const StandardScaler& sc, xt::xarray<V>& x) {
  standard_check("StandardScaler::transform_in_place", sc);
  check_fitted("StandardScaler::transform_in_place", sc.mean, x);
  apply_columns_into(x, sc.mean, sc.scale, standardize, x);
}

template <class V>
void minmax_fit(MinMaxScaler& sc, const xt::xarray<V>& x) {
  check_fit_input("MinMaxScaler::fit", x);
  const std::size_t n = row_count(x), w = row_width(x);
  const std::vector<std::size_t> shape = stat_shape(x);
  sc.min = xt::xarray<double>::from_shape(shape);
  sc.range = xt::xarray<double>::from_shape(shape);
  for (std::size_t j = 0; j < w; ++j) {
    double lo = static_cast<double>(x.data()[j]), hi = lo;
    for (std::size_t i = 1; i < n; ++i) {
      lo = std::min(lo, static_cast<double>(x.data()[i * w + j]));
      hi = std::max(hi, static_cast<double>(x.data()[i * w + j]));
    }
    sc.min.data()[j] = lo;
    sc.range.data()[j] = hi > lo ? hi - lo : 1.0;
  }
}

void minmax_check(const char* who, const MinMaxScaler& sc) {
  if (sc.min.size() == 0 || sc.min.dimension() == 0)
    throw ValueError(fmt::format("{}: call fit (on the training data) first", who));
}

double to_unit(double v, double lo, double r) { return (v - lo) / r; }
double from_unit(double v, double lo, double r) { return v * r + lo; }

template <class V>
xt::xarray<V> minmax_transform(const MinMaxScaler& sc, const xt::xarray<V>& x, bool inverse) {
  const char* who = inverse ? "MinMaxScaler::inverse_transform" : "MinMaxScaler::transform";
  minmax_check(who, sc);
  check_fitted(who, sc.min, x);
  return inverse ? apply_columns(x, sc.min, sc.range, from_unit) : apply_columns(x, sc.min, sc.range, to_unit);
}

template <class V>
void minmax_in_place(const MinMaxScaler& sc, xt::xarray<V>& x) {
  minmax_check("MinMaxScaler::transform_in_place", sc);
  check_fitted("MinMaxScaler::transform_in_place", sc.min, x);
  apply_columns_into(x, sc.min, sc.range, to_unit, x);
}

template <class V>
void max_fit(MaxScaler& sc, const xt::xarray<V>& x) {
  check_fit_input("MaxScaler::fit", x);
  double m = 0;
  for (V v : x) m = std::max(m, std::abs(static_cast<double>(v)));
  sc.divisor = m > 0 ? m : 1.0;
}

template <class V>
void check_max_fitted(const char* who, double divisor, const xt::xarray<V>& x) {
  if (!(divisor > 0)) throw ValueError(fmt::format("{}: call fit (on the training data) first", who));
  if (x.dimension() == 0)
    throw ShapeError(fmt::format("{}: expected (n, features) data, got a 0-d array", who));
}

template <class V>
xt::xarray<V> max_transform(const MaxScaler& sc, const xt::xarray<V>& x, bool inverse) {
  check_max_fitted(inverse ? "MaxScaler::inverse_transform" : "MaxScaler::transform", sc.divisor, x);
  xt::xarray<V> out = xt::xarray<V>::from_shape(x.shape());
  const double d = sc.divisor;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double v = static_cast<double>(x.data()[k]);
    out.data()[k] = static_cast<V>(inverse ? v * d : v / d);
  }
  return out;
}

template <class V>
void max_in_place(const MaxScaler& sc, xt::xarray<V>& x) {
  check_max_fitted("MaxScaler::transform_in_place", sc.divisor, x);
  const double d = sc.divisor;
  for (V& v : x) v = static_cast<V>(static_cast<double>(v) / d);
}
}  // namespace

void StandardScaler::fit(const xt::xarray<double>& x) { standard_fit(*this, x); }
xt::xarray<double> StandardScaler::transform(const xt::xarray<double>& x) const {
  return standard_transform(*this, x, false);
}
xt::xarray<double> StandardScaler::fit_transform(const xt::xarray<double>& x) {
  fit(x);
  return transform(x);
}
void StandardScaler::transform_in_place(xt::xarray<double>& x) const { standard_in_place(*this, x); }
xt::xarray<double> StandardScaler::inverse_transform(const xt::xarray<double>& x) const {
  return standard_transform(*this, x, true);
}
template <FloatArray X>
void StandardScaler::fit(const X& x) { standard_fit(*this, x); }
template <FloatArray X>
xt::xarray<float> StandardScaler::transform(const X& x) const { return standard_transform(*this, x, false); }
template <FloatArray X>
xt::xarray<float> StandardScaler::fit_transform(const X& x) {
  fit(x);
  return transform(x);
}
template <FloatArray X>
void StandardScaler::transform_in_place(X& x) const { standard_in_place(*this, x); }
template <FloatArray X>
xt::xarray<float> StandardScaler::inverse_transform(const X& x) const { return standard_transform(*this, x, true); }

void MinMaxScaler::fit(const xt::xarray<double>& x) { minmax_fit(*this, x); }
xt::xarray<double> MinMaxScaler::transform(const xt::xarray<double>& x) const {
  return minmax_transform(*this, x, false);
}
xt::xarray<double> MinMaxScaler::fit_transform(const xt::xarray<double>& x) {
  fit(x);
  return transform(x);
}
void MinMaxScaler::transform_in_place(xt::xarray<double>& x) const { minmax_in_place(*this, x); }
xt::xarray<double> MinMaxScaler::inverse_transform(const xt::xarray<double>& x) const {
  return minmax_transform(*this, x, true);
}
template <FloatArray X>
void MinMaxScaler::fit(const X& x) { minmax_fit(*this, x); }
template <FloatArray X>
xt::xarray<float> MinMaxScaler::transform(const X& x) const { return minmax_transform(*this, x, false); }
template <FloatArray X>
xt::xarray<float> MinMaxScaler::fit_transform(const X& x) {
  fit(x);
  return transform(x);
}
template <FloatArray X>
void MinMaxScaler::transform_in_place(X& x) const { minmax_in_place(*this, x); }
template <FloatArray X>
xt::xarray<float> MinMaxScaler::inverse_transform(const X& x) const { return minmax_transform(*this, x, true); }

void MaxScaler::fit(const xt::xarray<double>& x) { max_fit(*this, x); }
xt::xarray<double> MaxScaler::transform(const xt::xarray<double>& x) const { return max_transform(*this, x, false); }
xt::xarray<double> MaxScaler::fit_transform(const xt::xarray<double>& x) {
  fit(x);
  return transform(x);
}
xt::xarray<double> MaxScaler::inverse_transform(const xt::xarray<double>& x) const {
  return max_transform(*this, x, true);
}
void MaxScaler::transform_in_place(xt::xarray<double>& x) const { max_in_place(*this, x); }
template <FloatArray X>
void MaxScaler::fit(const X& x) { max_fit(*this, x); }
template <FloatArray X>
xt::xarray<float> MaxScaler::transform(const X& x) const { return max_transform(*this, x, false); }
template <FloatArray X>
xt::xarray<float> MaxScaler::fit_transform(const X& x) {
  fit(x);
  return transform(x);
}
template <FloatArray X>
void MaxScaler::transform_in_place(X& x) const { max_in_place(*this, x); }
template <FloatArray X>
xt::xarray<float> MaxScaler::inverse_transform(const X& x) const { return max_transform(*this, x, true); }

#define AD_NN_SCALER(S)                                                   \
  template void S::fit<FloatX>(const FloatX&);                            \
  template xt::xarray<float> S::transform<FloatX>(const FloatX&) const;   \
  template xt::xarray<float> S::fit_transform<FloatX>(const FloatX&);     \
  template void S::transform_in_place<FloatX>(FloatX&) const;             \
  template xt::xarray<float> S::inverse_transform<FloatX>(const FloatX&) const;
AD_NN_SCALER(StandardScaler)
AD_NN_SCALER(MinMaxScaler)
AD_NN_SCALER(MaxScaler)
#undef AD_NN_SCALER

// ---------------------------------------------------------------------------------------------
// Minibatches

namespace {
// Rows idx[begin, end) of x into out, converted to T; a row is one memcpy when S is T.
template <class S, class T>
void gather_rows_from(const xt::xarray<S>& x, const std::vector<std::size_t>& idx, std::size_t begin,
                      std::size_t end, xt::xarray<T>& out) {
  if (x.dimension() == 0)
    throw ShapeError("gather_rows: x is 0-d; expected (n, features)");
  if (begin > end || end > idx.size())
    throw ShapeError(fmt::format("gather_rows: range [{}, {}) is not within the {} indices", begin,
                                 end, idx.size()));
  std::size_t w = 1;
  for (std::size_t i = 1; i < x.dimension(); ++i) w *= x.shape()[i];
  const std::size_t n = x.shape()[0], rows = end - begin;
  bool same = out.dimension() == x.dimension() && out.shape()[0] == rows;
  for (std::size_t i = 1; same && i < x.dimension(); ++i) same = out.shape()[i] == x.shape()[i];
  if (!same) {
    std::vector<std::size_t> shape(x.shape().begin(), x.shape().end());
    shape[0] = rows;
    out.resize(shape);
  }
  T* dst = out.data();
  for (std::size_t i = begin; i < end; ++i, dst += w) {
    const std::size_t r = idx[i];
    if (r >= n)
      throw ShapeError(fmt::format("gather_rows: index {} (at position {}) out of range for {} rows",
                                   r, i, n));
    const S* src = x.data() + r * w;
    if constexpr (std::is_same_v<S, T>)
      std::memcpy(dst, src, w * sizeof(T));
    else
      for (std::size_t j = 0; j < w; ++j) dst[j] = static_cast<T>(src[j]);
  }
}
}  // namespace

template <class T>
void gather_rows(const xt::xarray<double>& x, const std::vector<std::size_t>& idx,
                 std::size_t begin, std::size_t end, xt::xarray<T>& out) {
  gather_rows_from(x, idx, begin, end, out);
}

namespace detail {
template <class T>
void gather_rows_float(const xt::xarray<float>& x, const std::vector<std::size_t>& idx, std::size_t begin,
                       std::size_t end, xt::xarray<T>& out) {
  gather_rows_from(x, idx, begin, end, out);
}
template void gather_rows_float<float>(const xt::xarray<float>&, const std::vector<std::size_t>&, std::size_t,
                                       std::size_t, xt::xarray<float>&);
template void gather_rows_float<double>(const xt::xarray<float>&, const std::vector<std::size_t>&, std::size_t,
                                        std::size_t, xt::xarray<double>&);
}  // namespace detail

template void gather_rows<float>(const xt::xarray<double>&, const std::vector<std::size_t>&,
                                 std::size_t, std::size_t, xt::xarray<float>&);
template void gather_rows<double>(const xt::xarray<double>&, const std::vector<std::size_t>&,
                                  std::size_t, std::size_t, xt::xarray<double>&);

}  // namespace ad::nn
