// W1b — one scalar function, many variables (definition: bench/README.md).
//
// Extended Rosenbrock f(x) = sum_{i=0}^{n-2} 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, n = 10,000.
// Repetition r = 0 .. 199 uses x = (-1.2, 1, -1.2, 1, ...) + 1e-4 r. One recording per gradient.
// Timed: recording + sweep + reading the gradient (filling x is not); the plain double f and the
// hand-derived gradient (the floor) are timed the same way, in this process.
//
// The scalar tape is timed written two ways: the plain loop `f += term` (one statement per
// term, chained), and with an ad::Sum (the terms' pairs collected and recorded as a few
// statements of 255 pairs). For comparison with PyTorch's vectorized anchor, the tensor tape
// is also timed on the vectorized form, a = x[:-1], b = x[1:], f = sum(100 (b - a^2)^2 +
// (1 - a)^2): a dozen tensor nodes of 10,000 entries.
//
// Last line: key=value figures (ms per gradient, ratios, tape bytes per op, max error).
#include <ad/elementwise.hpp>
#include <ad/ops.hpp>
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
using bench::rosenbrock;
using bench::rosenbrock_grad;

volatile double sink;

// The gradient as a user would write it: a function that records f at x on the tape, sweeps and
// reads the gradient into g; returns f. Out of line, so that each variant is compiled on its own
// (as in a user's program) rather than as part of one large main.
[[gnu::noinline]] double gradient_chain(ad::ScalarTape& tape, const std::vector<double>& x,
                                        std::vector<ad::Real>& xv, std::vector<double>& g) {
  const std::size_t n = x.size();
  tape.clear();
  tape.variables(x, xv);  // the 10,000 variables at once
  ad::Real f = 0.0;
  for (std::size_t i = 0; i + 1 < n; ++i)
    f += 100 * pow(xv[i + 1] - xv[i] * xv[i], 2) + pow(1 - xv[i], 2);
  tape.backward(f);
  tape.variable_adjoints(g);
  return f.value();
}

[[gnu::noinline]] double gradient_tensor(ad::Tape<double>& tape, const xt::xarray<double>& x,
                                         std::vector<double>& g) {
  tape.clear();
  const auto xv = tape.parameter(x);  // read in place, as PyTorch's leaf tensor
  const auto a = ad::slice(xv, 0, 0, -1), b = ad::slice(xv, 0, 1, static_cast<std::ptrdiff_t>(x.size()));
  const auto t = b - a * a, u = 1.0 - a;
  const auto f = ad::sum(100.0 * (t * t) + u * u);
  tape.backward(f);
  const auto& gx = xv.grad();
  std::copy(gx.begin(), gx.end(), g.begin());
  return f.value()();
}

[[gnu::noinline]] double gradient_fused(ad::Tape<double>& tape, const xt::xarray<double>& x,
                                        std::vector<double>& g) {
  tape.clear();
  const auto xv = tape.parameter(x);  // read in place, as PyTorch's leaf tensor
  const auto a = ad::slice(xv, 0, 0, -1), b = ad::slice(xv, 0, 1, static_cast<std::ptrdiff_t>(x.size()));
  const auto f = ad::sum(ad::elementwise(
      [](auto a, auto b) { return 100 * pow(b - a * a, 2) + pow(1 - a, 2); }, a, b));
  tape.backward(f);
  const auto& gx = xv.grad();
  std::copy(gx.begin(), gx.end(), g.begin());
  return f.value()();
}

[[gnu::noinline]] double gradient_sum(ad::ScalarTape& tape, const std::vector<double>& x,
                                      std::vector<ad::Real>& xv, std::vector<double>& g) {
  const std::size_t n = x.size();
  tape.clear();
  tape.variables(x, xv);  // the 10,000 variables at once
  ad::Sum s(tape);
  for (std::size_t i = 0; i + 1 < n; ++i)
    s += 100 * pow(xv[i + 1] - xv[i] * xv[i], 2) + pow(1 - xv[i], 2);
  ad::Real f = s;
  tape.backward(f);
  tape.variable_adjoints(g);
  return f.value();
}

[[gnu::noinline]] double gradient_sum_fn(ad::ScalarTape& tape, const std::vector<double>& x,
                                         std::vector<ad::Real>& xv, std::vector<double>& g) {
  const std::size_t n = x.size();
  tape.clear();
  tape.variables(x, xv);
  ad::Real f = ad::sum_terms(tape, n - 1, [&](std::size_t i) {
    return 100 * pow(xv[i + 1] - xv[i] * xv[i], 2) + pow(1 - xv[i], 2);
  });
  tape.backward(f);
  tape.variable_adjoints(g);
  return f.value();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = 10'000;
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  std::vector<double> x(n), g(n), g_ref(n);
  std::vector<ad::Real> xv(n);
  ad::ScalarTape tape, sum_tape;

  std::vector<double> t_plain, t_floor, t_ad, t_sum, t_sum_fn, t_tensor, t_fused;
  double max_err = 0, max_err_sum = 0, max_err_sum_fn = 0, max_err_tensor = 0, max_err_fused = 0;
  ad::Tape<double> tensor_tape, fused_tape;  // one per computation, so node buffers are reused
  xt::xarray<double> xa = xt::zeros<double>({n});
  std::size_t sum_bytes = 0, sum_nodes = 0;
  std::size_t nodes = 0, inputs = 0, ops = 0, recorded_bytes = 0, capacity_bytes = 0;
  for (int r = 0; r < reps; ++r) {
    for (std::size_t i = 0; i < n; ++i) x[i] = (i % 2 == 0 ? -1.2 : 1.0) + 1e-4 * r;

    auto t0 = Clock::now();
    sink = rosenbrock(x);
    t_plain.push_back(seconds_since(t0));

    t0 = Clock::now();
    sink = rosenbrock_grad(x, g_ref);
    t_floor.push_back(seconds_since(t0));

    t0 = Clock::now();
    sink = gradient_chain(tape, x, xv, g);
    t_ad.push_back(seconds_since(t0));

    for (std::size_t i = 0; i < n; ++i) max_err = std::max(max_err, std::fabs(g[i] - g_ref[i]));

    t0 = Clock::now();
    sink = gradient_sum(sum_tape, x, xv, g);
    t_sum.push_back(seconds_since(t0));
    for (std::size_t i = 0; i < n; ++i)
      max_err_sum = std::max(max_err_sum, std::fabs(g[i] - g_ref[i]));
    sum_bytes = sum_tape.recorded_bytes();

    t0 = Clock::now();
    sink = gradient_sum_fn(sum_tape, x, xv, g);
    t_sum_fn.push_back(seconds_since(t0));
    for (std::size_t i = 0; i < n; ++i)
      max_err_sum_fn = std::max(max_err_sum_fn, std::fabs(g[i] - g_ref[i]));

    std::copy(x.begin(), x.end(), xa.begin());
    t0 = Clock::now();
    sink = gradient_tensor(tensor_tape, xa, g);
    t_tensor.push_back(seconds_since(t0));
    for (std::size_t i = 0; i < n; ++i)
      max_err_tensor = std::max(max_err_tensor, std::fabs(g[i] - g_ref[i]));

    t0 = Clock::now();
    sink = gradient_fused(fused_tape, xa, g);
    t_fused.push_back(seconds_since(t0));
    for (std::size_t i = 0; i < n; ++i)
      max_err_fused = std::max(max_err_fused, std::fabs(g[i] - g_ref[i]));
    sum_nodes = sum_tape.size();
    nodes = tape.size();
    inputs = tape.input_count();
    ops = tape.elementary_ops();
    recorded_bytes = tape.recorded_bytes();
    capacity_bytes = tape.capacity_bytes();
  }

  const Stats p = stats(t_plain), h = stats(t_floor), a = stats(t_ad), su = stats(t_sum), sf = stats(t_sum_fn),
              te = stats(t_tensor), fu = stats(t_fused);
  // Per elementary scalar op (a variable counts as one op, as the op-by-op tape did: 89,992 ops)
  // and per record (a variable or a statement such as f += 100 (..)^2 + (..)^2).
  const double bytes_per_op = static_cast<double>(recorded_bytes) / static_cast<double>(ops);
  const double bytes_per_node = static_cast<double>(recorded_bytes) / static_cast<double>(nodes);
  const double with_adjoint =
      static_cast<double>(recorded_bytes + nodes * sizeof(double)) / static_cast<double>(ops);
  fmt::print("W1b: extended Rosenbrock n = {}, {} gradients (median [min, max] microseconds)\n", n,
             reps);
  auto row = [](const char* name, const Stats& st) {
    fmt::print("  {:<25}{:7.1f} [{:.1f}, {:.1f}]\n", name, st.median * 1e6, st.min * 1e6, st.max * 1e6);
  };
  row("plain f", p);
  row("hand-written grad", h);
  row("scalar tape, f +=", a);
  row("scalar tape, Sum", su);
  row("scalar tape, ad::sum_terms", sf);
  row("tensor tape, vectorized", te);
  row("tensor tape, elementwise", fu);
  fmt::print("  tape: {} records ({} variables + {} statements) for {} elementary ops, {} (id, "
             "partial) pairs, {} bytes recorded ({:.2f} per op, {:.2f} per record), {} bytes "
             "reserved incl. adjoints\n",
             nodes, n, nodes - n, ops, inputs, recorded_bytes, bytes_per_op, bytes_per_node,
             capacity_bytes);
  fmt::print("  with ad::Sum: {} records, {} bytes recorded ({:.2f} per op)\n", sum_nodes, sum_bytes,
             static_cast<double>(sum_bytes) / static_cast<double>(ops));
  const std::size_t fused_bytes = fused_tape.memory_bytes();
  fmt::print("  fused tensor tape: {} nodes, {} bytes of values, partials and adjoints ({:.2f} per op)\n",
             fused_tape.size(), fused_bytes, static_cast<double>(fused_bytes) / static_cast<double>(ops));
  fmt::print(
      "workload=W1b n={} reps={} ms_per_grad={:.4f} ms_per_grad_min={:.4f} "
      "ms_per_grad_max={:.4f} ms_plain={:.4f} ratio_to_plain={:.2f} ms_analytic={:.4f} "
      "analytic_ratio={:.2f} tape_bytes_per_op={:.2f} tape_bytes_per_op_with_adjoint={:.2f} "
      "tape_bytes_per_record={:.2f} tape_bytes={} ops={} nodes={} max_err={:.3g} "
      "ms_per_grad_sum={:.4f} ms_per_grad_sum_min={:.4f} ratio_sum_to_plain={:.2f} "
      "tape_bytes_per_op_sum={:.2f} max_err_sum={:.3g} ms_per_grad_tensor={:.4f} "
      "ratio_tensor_to_plain={:.2f} max_err_tensor={:.3g} ms_per_grad_fused={:.4f} "
      "ms_per_grad_fused_min={:.4f} ratio_fused_to_plain={:.2f} max_err_fused={:.3g} "
      "tape_bytes_per_op_fused={:.2f} ms_per_grad_sum_fn={:.4f} ratio_sum_fn_to_plain={:.2f} "
      "max_err_sum_fn={:.3g}\n",
      n, reps, a.median * 1e3, a.min * 1e3, a.max * 1e3, p.median * 1e3, a.median / p.median,
      h.median * 1e3, h.median / p.median, bytes_per_op, with_adjoint, bytes_per_node,
      recorded_bytes, ops, nodes, max_err, su.median * 1e3, su.min * 1e3, su.median / p.median,
      static_cast<double>(sum_bytes) / static_cast<double>(ops), max_err_sum, te.median * 1e3,
      te.median / p.median, max_err_tensor, fu.median * 1e3, fu.min * 1e3, fu.median / p.median,
      max_err_fused, static_cast<double>(fused_bytes) / static_cast<double>(ops), sf.median * 1e3,
      sf.median / p.median, max_err_sum_fn);
  return 0;
}
