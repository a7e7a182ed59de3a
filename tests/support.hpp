// Helpers shared by the test programs: scratch folders and files, exact exception messages,
// small array builders.
#pragma once

#include <doctest/doctest.h>
#include <xtensor/xarray.hpp>

#include <exception>
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

}  // namespace support
