// W1 — one scalar function, many points (definition: bench/README.md).
//
// f(x) = sqrt(x*x + exp(x*x)) at x_i = -1 + 2(i + 0.5)/1e6, i = 0 .. 999,999. Per point: a fresh
// recording on the scalar tape, the reverse sweep, read df/dx, clear. Timed against a plain
// double loop of f over the same points (best of 3 passes) and against the hand-written
// analytic derivative (the floor), all in this process.
//
// Last line: key=value figures (ns per gradient, ratios, max error).
#include <ad/scalar.hpp>

#include "common.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace {

using bench::Clock;
using bench::seconds_since;
using bench::Stats;
using bench::stats;

volatile double sink;  // keeps results alive

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = 1'000'000;
  // 21 repeats (about 1 s): on a shared 2-core machine single passes vary by up to 2x, and the
  // median of 21 moves much less than the median of 7.
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
  const std::vector<double> xs = bench::w1_points(n);
  std::vector<double> out(n);

  // Plain double f: best of 3 passes, per repeat.
  auto plain_pass = [&] { return bench::w1_plain_pass(xs, out); };
  // Hand-written analytic derivative (the floor): a = x^2, b = exp(a), d = sqrt(a + b),
  // df/dx = x (1 + b) / d.
  auto analytic_pass = [&] {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const double x = xs[i];
      const double a = x * x, b = std::exp(a), d = std::sqrt(a + b);
      out[i] = x * (1.0 + b) / d;
    }
    return seconds_since(t0);
  };
  // The scalar tape: a fresh recording per point.
  ad::ScalarTape tape;
  auto ad_pass = [&] {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      tape.clear();
      ad::Real x = tape.variable(xs[i]);
      ad::Real f = sqrt(x * x + exp(x * x));
      tape.backward(f);
      out[i] = x.adjoint();
    }
    return seconds_since(t0);
  };

  std::vector<double> t_plain, t_analytic, t_ad;
  for (int r = 0; r < repeats; ++r) {
    t_plain.push_back(std::min({plain_pass(), plain_pass(), plain_pass()}));
    sink = out[n / 3];
    t_analytic.push_back(analytic_pass());
    sink = out[n / 3];
    t_ad.push_back(ad_pass());
    sink = out[n / 3];
  }

  // Check the last AD pass against the analytic derivative.
  double max_err = 0;
  for (std::size_t i = 0; i < n; ++i) max_err = std::max(max_err, std::fabs(out[i] - bench::w1_df(xs[i])));

  const Stats p = stats(t_plain), a = stats(t_analytic), g = stats(t_ad);
  const double ns = 1e9 / static_cast<double>(n);
  fmt::print("W1: d/dx sqrt(x^2+exp(x^2)) at {} points, {} repeats (median [min, max] ns/point)\n",
             n, repeats);
  fmt::print("  plain f (best of 3)  {:8.2f} [{:.2f}, {:.2f}]\n", p.median * ns, p.min * ns,
             p.max * ns);
  fmt::print("  analytic gradient    {:8.2f} [{:.2f}, {:.2f}]\n", a.median * ns, a.min * ns,
             a.max * ns);
  fmt::print("  scalar tape          {:8.2f} [{:.2f}, {:.2f}]\n", g.median * ns, g.min * ns,
             g.max * ns);
  fmt::print("  tape per point: {} nodes, {} bytes recorded\n", tape.size(),
             tape.recorded_bytes());
  fmt::print(
      "workload=W1 points={} ns_per_grad={:.2f} ns_per_grad_min={:.2f} ns_per_grad_max={:.2f} "
      "ns_plain={:.2f} ratio_to_plain={:.2f} ns_analytic={:.2f} analytic_ratio={:.2f} "
      "max_err={:.3g}\n",
      n, g.median * ns, g.min * ns, g.max * ns, p.median * ns, g.median / p.median,
      a.median * ns, a.median / p.median, max_err);
  return 0;
}
