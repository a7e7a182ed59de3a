// The one random generator of the library: splitmix64, seeded, so the same seed gives the same
// run bit for bit on every machine (the generator and the derived uniform, normal and shuffle are
// spelled out here rather than taken from <random>, whose distributions differ between
// standard libraries). It is also the generator of the benchmark definitions.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace ad::nn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : state_(seed) {}

  /// The next 64 random bits (splitmix64).
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal (Box-Muller, both values of a pair used).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform(), u2 = uniform();
    while (u1 <= 0) u1 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  /// Fisher-Yates: for i from n-1 down to 1, j = next() % (i + 1), swap.
  template <class V>
  void shuffle(V& v) {
    for (std::size_t i = v.size(); i-- > 1;) {
      const std::size_t j = static_cast<std::size_t>(next() % (i + 1));
      std::swap(v[i], v[j]);
    }
  }
  /// A random permutation of 0 .. n-1.
  std::vector<std::size_t> permutation(std::size_t n) {
    std::vector<std::size_t> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = i;
    shuffle(p);
    return p;
  }

 private:
  std::uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace ad::nn
