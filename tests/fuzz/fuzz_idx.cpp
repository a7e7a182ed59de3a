// Fuzzes the IDX readers. The first byte picks the mode: even = one file through
// load_idx_array; odd = an images/labels pair through load_idx, the rest split at the position
// given by the second byte (scaled to the input's length). Files may be plain or gzipped.
#include "fuzz_common.hpp"

#include <ad/nn/data.hpp>

#include <cmath>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const ad::fuzz::Scratch a("idx_a"), b("idx_b");
  try {
    if (data[0] % 2 == 0) {
      ad::fuzz::write_file(a, data + 1, size - 1);
      const auto x = ad::nn::load_idx_array(a);
      for (double v : x)
        if (!std::isfinite(v)) std::abort();
    } else {
      const std::size_t rest = size - 2, cut = rest * data[1] / 255;
      ad::fuzz::write_file(a, data + 2, cut);
      ad::fuzz::write_file(b, data + 2 + cut, rest - cut);
      const ad::nn::Dataset d = ad::nn::load_idx(a, b);
      if (d.x.dimension() != 2 || d.y.size() != d.size()) std::abort();
      (void)d.labels();
    }
  } catch (const ad::Error&) {
  }
  return 0;
}
