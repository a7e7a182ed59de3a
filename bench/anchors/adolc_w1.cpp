// ADOL-C anchor for W1 (bench/README.md): d/dx sqrt(x^2 + exp(x^2)) at 1e6 points.
//
// ADOL-C records a tape once and re-evaluates it at new points, but W1 asks for a fresh
// recording per point, as a program whose control flow may depend on x must do: per point
// trace_on, record f with adoubles, trace_off, then gradient() (a zero-order forward and a
// first-order reverse sweep over the tape). Timed against a plain double loop of f (best of 3
// passes) in the same process. Build and run with bench/anchors/adolc.sh.
//
// Last line: key=value figures (ns per gradient, ratio to plain f, max error).
#include <adolc/adolc.h>

#include "../common.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
using bench::Clock;
using bench::seconds_since;
double median(const std::vector<double>& v) { return bench::stats(v).median; }
volatile double sink;
}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  const std::size_t n = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) : 1000000;
  const std::vector<double> xs = bench::w1_points(n);
  std::vector<double> out(n);

  auto plain_pass = [&] { return bench::w1_plain_pass(xs, out); };
  const short tag = 1;
  auto adolc_pass = [&] {
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      double x0 = xs[i], y = 0, g = 0;
      trace_on(tag);
      adouble x;
      x <<= x0;
      adouble f = sqrt(x * x + exp(x * x));
      f >>= y;
      trace_off();
      gradient(tag, 1, &x0, &g);
      out[i] = g;
    }
    return seconds_since(t0);
  };

  std::vector<double> t_plain, t_ad;
  for (int r = 0; r < repeats; ++r) {
    t_plain.push_back(std::min({plain_pass(), plain_pass(), plain_pass()}));
    sink = out[n / 3];
    t_ad.push_back(adolc_pass());
  }
  double max_err = 0;
  for (std::size_t i = 0; i < n; ++i) max_err = std::max(max_err, std::fabs(out[i] - bench::w1_df(xs[i])));
  const double ns = 1e9 / static_cast<double>(n);
  const double p = median(t_plain), a = median(t_ad);
  std::printf("W1 ADOL-C (re-record + gradient per point), %zu points, %d repeats (median ns/point)\n",
              n, repeats);
  std::printf("  plain f (best of 3)  %10.2f\n  ADOL-C               %10.2f\n", p * ns, a * ns);
  std::printf("tool=adolc workload=W1 points=%zu ns_per_grad=%.2f ns_plain=%.2f ratio_to_plain=%.1f "
              "max_err=%.3g\n",
              n, a * ns, p * ns, a / p, max_err);
  return 0;
}
