// The Hessian of the W1 function per point as a multiple of its gradient per point
// (bench/README.md, "Hessian of the W1 function"; the issue "Second derivatives").
//
// f(x) = sqrt(x*x + exp(x*x)) at W1's points x_i = -1 + 2(i + 0.5)/1e6, i = 0 .. 999,999. Per
// point, in this process (median [min, max] over repeats of the whole loop, / 1e6):
//
//   gradient        W1 itself: a fresh recording on the scalar tape, the reverse sweep, read
//                   df/dx, clear (what w1_scalar times)
//   ad::hessian     ad::hessian(f, span{x_i}, span{out_i}) with f a generic lambda: the API of
//                   docs/second-derivatives.md for loops over many points, nested Duals
//                   (Dual<1, Dual<1>>), writing into caller storage (no allocation)
//   for_each_hessian_entry  ad::hessian's loop on a span of x_i, f'' taken from the callback
//   nested Dual     the same numbers without the API: f on one ad::HessianNumber seeded in both
//                   directions, f'' read from the result (what ad::hessian costs without its
//                   allocations)
//   plain f         doubles, best of 3 passes per repeat
//
// and, on the tensor tape, for comparison (a sample of 20,000 points for the per-point one):
//   tensor Hessian  per point: record f on a Tape<double> of one value, Tape::hessian (one hvp)
//   tensor batched  all 1e6 points as one tensor: sum(f(x)) recorded once, one Tape::hvp with
//                   v = ones (f acts entry by entry, so H is diagonal and H 1 is every f''), per
//                   point; next to one backward of the same recording (the batched gradient)
//
// Check: max |f'' - hand-derived f''| over all points for every method (relative to max(1, |f''|)),
// f'' = u'' / (2 sqrt u) - u'^2 / (4 u^1.5), u = x^2 + e^{x^2}, u' = 2x (1 + e^{x^2}),
// u'' = 2 (1 + e^{x^2}) + 4 x^2 e^{x^2}.
//
// Usage: hessian_w1 [repeats]   (default 11)
// Last line: ns_hessian=... ns_grad=... ratio=... ns_dual2=... ratio_dual2=... ns_plain=...
// ns_tensor_hessian=... ns_tensor_hvp_batched=... ns_tensor_grad_batched=... max_err=...
#include <ad/ops.hpp>
#include <ad/scalar.hpp>

#include "common.hpp"

#include <fmt/format.h>
#include <xtensor/xadapt.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <span>
#include <vector>

namespace {

using bench::Clock;
using bench::seconds_since;

volatile double sink;

/// The hand-derived second derivative of W1's f.
double w1_d2f(double x) {
  const double e = std::exp(x * x), u = x * x + e, du = 2 * x * (1 + e), d2u = 2 * (1 + e) + 4 * x * x * e;
  return d2u / (2 * std::sqrt(u)) - du * du / (4 * u * std::sqrt(u));
}

double rel_diff(double got, double want) { return std::fabs(got - want) / std::max(1.0, std::fabs(want)); }

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = 1'000'000, sample = 20'000;
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 11;
  const std::vector<double> xs = bench::w1_points(n);
  std::vector<double> out(n), d2(n);
  std::vector<double> want(n);
  for (std::size_t i = 0; i < n; ++i) want[i] = w1_d2f(xs[i]);

  // f written once, for any number type (doubles, ad::Real, ad::HessianNumber)
  const auto f = [](auto x) { return sqrt(x[0] * x[0] + exp(x[0] * x[0])); };

  ad::ScalarTape stape;
  const auto grad_pass = [&] {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      stape.clear();
      ad::Real x = stape.variable(xs[i]);
      ad::Real y = sqrt(x * x + exp(x * x));
      stape.backward(y);
      out[i] = x.adjoint();
    }
    return seconds_since(t0);
  };
  const auto hessian_pass = [&] {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i)  // the overload for loops: into caller storage, no allocation
      ad::hessian(f, std::span<const double>(&xs[i], 1), std::span<double>(&d2[i], 1));
    return seconds_since(t0);
  };
  const auto entry_pass = [&] {  // ad::hessian's loop without the input and result vectors
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const double xi = xs[i];
      ad::for_each_hessian_entry(f, std::span<const double>(&xi, 1),
                                 [&](std::size_t, std::size_t, const ad::HessianNumber& y) {
                                   d2[i] = y.partial(0).partial(0);
                                 });
    }
    return seconds_since(t0);
  };
  const auto dual2_pass = [&] {
    using Inner = ad::Dual<1>;
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      ad::HessianNumber x(Inner(xs[i], std::size_t(0)));  // the inner direction seeded
      x.set_partial(0, Inner(1.0));                       // the outer one
      const ad::HessianNumber y = sqrt(x * x + exp(x * x));
      d2[i] = y.partial(0).partial(0);
    }
    return seconds_since(t0);
  };

  std::vector<double> t_plain, t_grad, t_hess, t_entry, t_dual2;
  double err_hessian = 0, err_entry = 0, err_dual2 = 0;
  for (int r = 0; r < repeats; ++r) {
    t_plain.push_back(std::min({bench::w1_plain_pass(xs, out), bench::w1_plain_pass(xs, out),
                                bench::w1_plain_pass(xs, out)}));
    sink = out[n / 3];
    t_grad.push_back(grad_pass());
    sink = out[n / 3];
    t_hess.push_back(hessian_pass());
    if (r == 0)
      for (std::size_t i = 0; i < n; ++i) err_hessian = std::max(err_hessian, rel_diff(d2[i], want[i]));
    t_entry.push_back(entry_pass());
    if (r == 0)
      for (std::size_t i = 0; i < n; ++i) err_entry = std::max(err_entry, rel_diff(d2[i], want[i]));
    t_dual2.push_back(dual2_pass());
    if (r == 0)
      for (std::size_t i = 0; i < n; ++i) err_dual2 = std::max(err_dual2, rel_diff(d2[i], want[i]));
  }
  double err_grad = 0;
  grad_pass();
  for (std::size_t i = 0; i < n; ++i) err_grad = std::max(err_grad, std::fabs(out[i] - bench::w1_df(xs[i])));

  // ---- tensor tape: per point (a sample), and batched ----
  ad::Tape<double> tape;
  const std::size_t stride = n / sample;
  double err_tensor = 0;
  std::vector<double> t_tensor;
  for (int r = 0; r < std::min(repeats, 5); ++r) {
    const auto t0 = Clock::now();
    for (std::size_t k = 0; k < sample; ++k) {
      tape.clear();
      const auto x = tape.variable(xt::xarray<double>({xs[k * stride]}));
      const auto y = sum(sqrt(x * x + exp(x * x)));
      const double h = tape.hessian(y, {x})(0, 0);
      if (r == 0) err_tensor = std::max(err_tensor, rel_diff(h, want[k * stride]));
      sink = h;
    }
    t_tensor.push_back(seconds_since(t0) / double(sample) * double(n));
  }
  xt::xarray<double> xa = xt::adapt(xs, {n});
  const std::vector<xt::xarray<double>> ones{xt::ones<double>({n})};
  std::vector<double> t_hvp_batched, t_grad_batched;
  double err_batched = 0;
  for (int r = 0; r < std::min(repeats, 5); ++r) {
    auto t0 = Clock::now();
    tape.clear();
    auto x = tape.variable(xa);
    auto y = sum(sqrt(x * x + exp(x * x)));
    tape.backward(y);
    sink = x.grad()(n / 3);
    t_grad_batched.push_back(seconds_since(t0));
    t0 = Clock::now();
    tape.clear();
    x = tape.variable(xa);
    y = sum(sqrt(x * x + exp(x * x)));
    const auto hv = tape.hvp(y, {x}, ones);
    t_hvp_batched.push_back(seconds_since(t0));
    if (r == 0)
      for (std::size_t i = 0; i < n; ++i) err_batched = std::max(err_batched, rel_diff(hv[0](i), want[i]));
  }

  const auto p = bench::stats(t_plain), g = bench::stats(t_grad), h = bench::stats(t_hess),
             e = bench::stats(t_entry), d = bench::stats(t_dual2), te = bench::stats(t_tensor), hb = bench::stats(t_hvp_batched),
             gb = bench::stats(t_grad_batched);
  const double ns = 1e9 / double(n);
  const double max_err = std::max({err_hessian, err_entry, err_dual2, err_tensor, err_batched});
  fmt::print("Hessian of W1's f(x) = sqrt(x^2 + exp(x^2)) at {} points, {} repeats (median [min, max] ns/point)\n", n,
             repeats);
  fmt::print("  plain f (best of 3)          {:9.2f} [{:.2f}, {:.2f}]\n", p.median * ns, p.min * ns, p.max * ns);
  fmt::print("  gradient, scalar tape (W1)   {:9.2f} [{:.2f}, {:.2f}]\n", g.median * ns, g.min * ns, g.max * ns);
  fmt::print("  ad::hessian                  {:9.2f} [{:.2f}, {:.2f}]   {:.2f}x the gradient   max err {:.1e}\n",
             h.median * ns, h.min * ns, h.max * ns, h.median / g.median, err_hessian);
  fmt::print("  for_each_hessian_entry       {:9.2f} [{:.2f}, {:.2f}]   {:.2f}x the gradient   max err {:.1e}\n",
             e.median * ns, e.min * ns, e.max * ns, e.median / g.median, err_entry);
  fmt::print("  nested Dual, no API          {:9.2f} [{:.2f}, {:.2f}]   {:.2f}x the gradient   max err {:.1e}\n",
             d.median * ns, d.min * ns, d.max * ns, d.median / g.median, err_dual2);
  fmt::print("  tensor tape: Tape::hessian per point ({} points)  {:9.1f} ns   {:.0f}x the gradient   max err {:.1e}\n",
             sample, te.median * ns, te.median / g.median, err_tensor);
  fmt::print("  tensor tape, all points as one tensor: hvp(v = 1) {:.2f} ns/point, its gradient {:.2f} ns/point "
             "({:.2f}x)   max err {:.1e}\n",
             hb.median * ns, gb.median * ns, hb.median / gb.median, err_batched);
  fmt::print("  gradient check: max |df/dx - hand-derived| = {:.1e}\n", err_grad);
  fmt::print("ns_hessian={:.2f} ns_grad={:.2f} ratio={:.2f} ns_entry={:.2f} ns_dual2={:.2f} ratio_dual2={:.2f} ns_plain={:.2f} "
             "ns_tensor_hessian={:.1f} ns_tensor_hvp_batched={:.2f} ns_tensor_grad_batched={:.2f} "
             "ratio_batched={:.2f} max_err={:.3g} grad_err={:.3g}\n",
             h.median * ns, g.median * ns, h.median / g.median, e.median * ns, d.median * ns, d.median / g.median, p.median * ns,
             te.median * ns, hb.median * ns, gb.median * ns, hb.median / gb.median, max_err, err_grad);
  return 0;
}
