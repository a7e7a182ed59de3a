// ADOL-C anchor for W1b (bench/README.md): gradient of the extended Rosenbrock function,
// n = 10,000, 200 repetitions at x = (-1.2, 1, -1.2, 1, ...) + 1e-4 r.
//
// ADOL-C's usual way: record the tape once (at r = 0, not timed) and call gradient() at each
// new x (a zero-order forward sweep re-evaluates the tape there, then a first-order reverse
// sweep). Timed per repetition: gradient(). The plain double f is timed the same way in the
// same process. Tape size from tapestats: 1 byte per operation code + 4 per location + 8 per
// stored value. Build and run with bench/anchors/adolc.sh.
//
// Last line: key=value figures (ms per gradient, ratio to plain f, tape bytes, max error).
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

using bench::rosenbrock;
using bench::rosenbrock_grad;
}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = 10000;
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const short tag = 2;
  std::vector<double> x(n), g(n), g_ref(n);
  auto fill = [&](int r) {
    for (std::size_t i = 0; i < n; ++i) x[i] = (i % 2 == 0 ? -1.2 : 1.0) + 1e-4 * r;
  };

  // Record once (not timed), written the natural way.
  fill(0);
  {
    std::vector<adouble> xa(n);
    double y = 0;
    trace_on(tag);
    for (std::size_t i = 0; i < n; ++i) xa[i] <<= x[i];
    adouble f = 0.0;
    for (std::size_t i = 0; i + 1 < n; ++i)
      f += 100 * pow(xa[i + 1] - xa[i] * xa[i], 2) + pow(1 - xa[i], 2);
    f >>= y;
    trace_off();
  }
  size_t stats[STAT_SIZE];
  tapestats(tag, stats);
  const std::size_t tape_bytes =
      stats[NUM_OPERATIONS] * 1 + stats[NUM_LOCATIONS] * sizeof(locint) + stats[NUM_VALUES] * 8;

  std::vector<double> t_plain, t_ad;
  double max_err = 0;
  for (int r = 0; r < reps; ++r) {
    fill(r);
    auto t0 = Clock::now();
    sink = rosenbrock(x);
    t_plain.push_back(seconds_since(t0));
    t0 = Clock::now();
    gradient(tag, static_cast<int>(n), x.data(), g.data());
    t_ad.push_back(seconds_since(t0));
    rosenbrock_grad(x, g_ref);
    for (std::size_t i = 0; i < n; ++i) max_err = std::max(max_err, std::fabs(g[i] - g_ref[i]));
  }
  const double p = median(t_plain), a = median(t_ad);
  std::printf("W1b ADOL-C (trace once, gradient() per repetition), n = %zu, %d gradients (median)\n",
              n, reps);
  std::printf("  plain f   %10.1f us\n  ADOL-C    %10.1f us\n", p * 1e6, a * 1e6);
  std::printf("  tape: %zu operations, %zu locations, %zu values, %zu bytes\n",
              stats[NUM_OPERATIONS], stats[NUM_LOCATIONS], stats[NUM_VALUES], tape_bytes);
  std::printf("tool=adolc workload=W1b n=%zu reps=%d ms_per_grad=%.4f ms_plain=%.4f "
              "ratio_to_plain=%.1f tape_bytes=%zu tape_ops=%zu tape_bytes_per_op=%.2f max_err=%.3g\n",
              n, reps, a * 1e3, p * 1e3, a / p, tape_bytes, stats[NUM_OPERATIONS],
              static_cast<double>(tape_bytes) / static_cast<double>(stats[NUM_OPERATIONS]),
              max_err);
  return 0;
}
