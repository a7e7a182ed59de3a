// Fuzzes ad::nn::load_csv. The first byte picks the options (header mode, label column,
// delimiter); the rest is the file, plain or gzipped (the loader detects gzip by content).
// A successful load must give finite numbers in consistent shapes.
#include "fuzz_common.hpp"

#include <ad/nn/data.hpp>

#include <cmath>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const ad::fuzz::Scratch path("csv");
  ad::nn::CsvOptions o;
  const unsigned b = data[0];
  o.header = static_cast<int>(b % 3) - 1;                           // -1, 0, 1
  static const int labels[] = {-1, -2, 0, 1};
  o.label_column = labels[(b / 3) % 4];
  static const char delims[] = {',', ';', '\t', ' '};
  o.delimiter = delims[(b / 12) % 4];
  ad::fuzz::write_file(path, data + 1, size - 1);
  try {
    const ad::nn::Dataset d = ad::nn::load_csv(path, o);
    if (d.x.dimension() != 2) std::abort();
    if (o.label_column != -2 && d.y.size() != d.size()) std::abort();
    for (double v : d.x)
      if (!std::isfinite(v)) std::abort();
    for (double v : d.y)
      if (!std::isfinite(v)) std::abort();
    if (!d.feature_names.empty() && d.feature_names.size() != d.features()) std::abort();
  } catch (const ad::Error&) {
  }
  return 0;
}
