// Helpers shared by the test programs: scratch folders and files, exact exception messages,
// small array builders, and the suite's one measure of numerical agreement (rel_err).
#pragma once

#include <doctest/doctest.h>
#include <xtensor/xarray.hpp>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <sstream>
#include <type_traits>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace support {

namespace fs = std::filesystem;

/// A fresh folder for the files of one test, removed at the end.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) {
    path = fs::temp_directory_path() / ("ad_test_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    const std::string p = file(name);
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
};

inline std::string read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The message of the exception E thrown by f. No exception, or one of another type, fails the
/// test and returns "<no exception>" / "<wrong type: ...>", so a CHECK on the message shows what
/// happened.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("wrong exception type: " << e.what());
    return std::string("<wrong type: ") + e.what() + ">";
  }
  FAIL_CHECK("no exception thrown");
  return "<no exception>";
}

/// (n, 1) column from values (brace lists of one-element rows are ambiguous for xarray).
inline xt::xarray<double> column(const std::vector<double>& v) {
  xt::xarray<double> a = xt::xarray<double>::from_shape({v.size(), std::size_t(1)});
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}

inline bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// What rel_err divides each entry's difference by.
enum class Rel {
  entrywise,  ///< |want_i|: every entry to the same relative precision (a 0 must be met exactly)
  normwise,   ///< max_j |want_j|: the result as a whole, for entries computed with cancellation
  floor_one,  ///< max(1, |want_i|): relative, but absolute below 1 (finite differences, whose
              ///< error is absolute near zero)
};

/// The suite's one measure of numerical agreement: the largest, over entries, of
/// |got_i - want_i| / scale_i, with the scale that `how` names. A NaN agrees only with a NaN and
/// an infinity only with itself (otherwise the error is infinite), as does anything with a zero
/// scale. `got` and `want` are numbers or arrays (xtensor expressions, float or double) of one
/// shape; shapes that differ fail the check and give an infinite error.
///   CHECK(support::rel_err(x.grad(), expected) <= 1e-15);
template <class A, class B>
double rel_err(const A& got, const B& want, Rel how = Rel::entrywise) {
  const auto as_array = [](const auto& v) {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(v)>>)
      return xt::xarray<double>(static_cast<double>(v));
    else
      return xt::xarray<double>(xt::cast<double>(v));
  };
  const xt::xarray<double> g = as_array(got), w = as_array(want);
  const double inf = std::numeric_limits<double>::infinity();
  if (g.dimension() != w.dimension() || !std::equal(g.shape().begin(), g.shape().end(), w.shape().begin())) {
    const auto str = [](const auto& shape) {
      std::ostringstream o;
      o << '(';
      for (std::size_t d = 0; d < shape.size(); ++d) o << (d ? ", " : "") << shape[d];
      return o.str() + ')';
    };
    FAIL_CHECK("rel_err: got shape " << str(g.shape()) << ", want shape " << str(w.shape()));
    return inf;
  }
  double largest = 0;
  for (double v : w) largest = std::max(largest, std::isfinite(v) ? std::fabs(v) : 0.0);
  double worst = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double a = g.data()[i], b = w.data()[i];
    if (std::isnan(a) || std::isnan(b) || std::isinf(a) || std::isinf(b)) {
      if (!(std::isnan(a) && std::isnan(b)) && a != b) return inf;
      continue;
    }
    const double d = std::fabs(a - b);
    if (d == 0) continue;
    const double scale = how == Rel::entrywise ? std::fabs(b) : how == Rel::normwise ? largest
                                                                                     : std::max(1.0, std::fabs(b));
    worst = std::max(worst, scale == 0 ? inf : d / scale);
  }
  return worst;
}

}  // namespace support
