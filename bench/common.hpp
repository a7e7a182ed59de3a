// What every benchmark program (and the ADOL-C anchors) shares: the clock, median/min/max of
// repeated timings, W1's points and plain pass, the W1b function with its hand-written gradient, and the W2/W3 workload pieces of ../shared/bench-workloads.md (epoch orders from splitmix64(7), initial
// weights from splitmix64(1) in PyTorch's default ranges).
#pragma once

#include <ad/nn/random.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Stats {
  double median, min, max;
};

/// Median (upper middle for an even count), min and max of timings.
inline Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

/// W1: f(x) = sqrt(x^2 + exp(x^2)) at x_i = -1 + 2 (i + 0.5) / n (n = 1e6 in the workload).
inline double w1_f(double x) { return std::sqrt(x * x + std::exp(x * x)); }
/// Its derivative, x (1 + e^{x^2}) / sqrt(x^2 + e^{x^2}): the reference for max_err.
inline double w1_df(double x) {
  return x * (1.0 + std::exp(x * x)) / std::sqrt(x * x + std::exp(x * x));
}
inline std::vector<double> w1_points(std::size_t n) {
  std::vector<double> xs(n);
  for (std::size_t i = 0; i < n; ++i)
    xs[i] = -1.0 + 2.0 * (static_cast<double>(i) + 0.5) / static_cast<double>(n);
  return xs;
}
/// One timed pass of plain f over xs into out; seconds.
inline double w1_plain_pass(const std::vector<double>& xs, std::vector<double>& out) {
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < xs.size(); ++i) out[i] = w1_f(xs[i]);
  return seconds_since(t0);
}

/// W1b: the extended Rosenbrock function sum_i 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2.
inline double rosenbrock(const std::vector<double>& x) {
  double f = 0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double t = x[i + 1] - x[i] * x[i], u = 1.0 - x[i];
    f += 100.0 * (t * t) + u * u;
  }
  return f;
}

/// W1b's hand-written floor: f and its gradient g (resized by the caller to x's size).
inline double rosenbrock_grad(const std::vector<double>& x, std::vector<double>& g) {
  double f = 0;
  std::fill(g.begin(), g.end(), 0.0);
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double t = x[i + 1] - x[i] * x[i], u = 1.0 - x[i];
    f += 100.0 * (t * t) + u * u;
    g[i] += -400.0 * x[i] * t - 2.0 * u;
    g[i + 1] += 200.0 * t;
  }
  return f;
}

/// One order of 0..n-1 per epoch: each a Fisher-Yates shuffle of the identity, drawn in turn
/// from one splitmix64(7) stream.
inline std::vector<std::vector<std::size_t>> epoch_orders(std::size_t n, std::size_t epochs) {
  ad::nn::Rng rng(7);
  std::vector<std::vector<std::size_t>> orders;
  for (std::size_t e = 0; e < epochs; ++e) {
    std::vector<std::size_t> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = i;
    rng.shuffle(p);
    orders.push_back(std::move(p));
  }
  return orders;
}

/// Initial weights of an MLP with these layer sizes: layer by layer W (fan_in x fan_out,
/// row-major) then b, every entry U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from splitmix64(1).
/// Returns W0, b0, W1, b1, ...
template <class T>
std::vector<std::vector<T>> initial_weights(const std::vector<std::size_t>& sizes) {
  ad::nn::Rng rng(1);
  std::vector<std::vector<T>> out;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double a = 1 / std::sqrt(double(sizes[l]));
    std::vector<T> w(sizes[l] * sizes[l + 1]), b(sizes[l + 1]);
    for (auto& v : w) v = static_cast<T>(rng.uniform(-a, a));
    for (auto& v : b) v = static_cast<T>(rng.uniform(-a, a));
    out.push_back(std::move(w));
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace bench
