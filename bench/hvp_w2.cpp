// The cost of one Hessian-vector product of W2's loss as a multiple of one gradient
// (bench/README.md, "HVP of the W2 loss"; the issue "Second derivatives" aims at <= 4x).
//
// W2's network and data (../shared/bench-workloads.md): 64-50-10, sigmoid hidden, softmax +
// cross-entropy (fused: log_softmax of the logits), float64, the initial weights of splitmix64(1),
// the first batch of 100 rows of epoch 0's order (splitmix64(7)) of the 1437 training rows.
//
//   gradient  tape.clear(), record the loss, zero the grads, tape.backward(loss)
//   hvp       nn::hvp(params, loss, v, tape): tape.clear(), record the loss, Tape::hvp (a tangent
//             sweep forward, then the reverse sweep carrying every adjoint and its tangent), which
//             also returns the gradient; v a fixed random direction, one block per parameter
//   hvp_tape  the same without nn::hvp's checks and copies: record, then Tape::hvp directly
//
// Each timed once per repetition, the three interleaved, median [min, max] over the repetitions;
// ratio = median hvp / median gradient. Check, once: H v against central differences of the
// gradient, (g(x + h v) - g(x - h v)) / 2h with h = 1e-5, max |difference| relative to max |H v|.
//
// Usage: hvp_w2 [repetitions]   (default 3000)
// Last line: hvp_us=... grad_us=... ratio=... hvp_tape_us=... ratio_tape=... max_err=...
#include <ad/nn/data.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/random.hpp>
#include <ad/nn/second_order.hpp>

#include "common.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace {

using bench::Clock;
using bench::seconds_since;

volatile double sink;

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(10, std::atoi(argv[1])) : 3000;

  // W2's data, split, first batch and initial weights
  auto d = ad::nn::load_digits();
  d.x /= 16.0;
  const auto perm = ad::nn::Rng(42).permutation(d.size());
  const std::vector<std::size_t> train_rows(perm.begin(), perm.begin() + 1437);
  const auto train = d.subset(train_rows);
  const auto order = bench::epoch_orders(train.size(), 1)[0];
  xt::xarray<double> xb;
  ad::nn::gather_rows(train.x, order, 0, 100, xb);
  const auto all_labels = train.labels();
  std::vector<std::size_t> yb(100);
  for (std::size_t i = 0; i < 100; ++i) yb[i] = all_labels[order[i]];

  auto net = ad::nn::mlp<double>({64, 50, 10}, "sigmoid", "softmax", 1);
  auto params = net.parameters();
  const auto init = bench::initial_weights<double>({64, 50, 10});
  for (std::size_t i = 0; i < params.size(); ++i) std::copy(init[i].begin(), init[i].end(), params[i]->value.begin());
  const ad::nn::LossFn<double> loss = [&](ad::Tape<double>& tape) {
    return ad::nn::cross_entropy(net.forward_first(tape.constant(xb), 3), yb);  // softmax fused into the loss
  };

  // a fixed direction: U(-1, 1) entries from splitmix64(3), one block per parameter
  ad::nn::Rng rng(3);
  std::vector<xt::xarray<double>> v;
  for (auto* p : params) {
    xt::xarray<double> b = xt::zeros<double>(p->value.shape());
    for (auto& e : b) e = rng.uniform(-1, 1);
    v.push_back(std::move(b));
  }
  std::size_t n = 0;
  for (auto* p : params) n += p->size();

  ad::Tape<double> tape;
  const auto gradient = [&] {
    tape.clear();
    const auto l = loss(tape);
    for (auto* p : params) p->zero_grad();
    tape.backward(l);
    return l.item();
  };
  std::vector<ad::Var<double>> xs;
  const auto hvp_tape = [&] {
    tape.clear();
    const auto l = loss(tape);
    xs.clear();
    for (auto* p : params) xs.push_back(p->on(tape));
    const auto hv = tape.hvp(l, xs, v);
    return hv[0].data()[0];
  };

  // ---- the check, once: H v against central differences of the tape's gradient ----
  const auto r = ad::nn::hvp(params, loss, v, tape);
  const double h = 1e-5;
  const auto flat_grad_at = [&](double t) {
    std::vector<xt::xarray<double>> saved;
    for (std::size_t i = 0; i < params.size(); ++i) {
      saved.push_back(params[i]->value);
      params[i]->value += t * v[i];
    }
    gradient();
    std::vector<xt::xarray<double>> g;
    for (std::size_t i = 0; i < params.size(); ++i) {
      g.push_back(params[i]->grad);
      params[i]->value = saved[i];
    }
    return ad::nn::flatten_blocks(g);
  };
  const xt::xarray<double> fd = (flat_grad_at(h) - flat_grad_at(-h)) / (2 * h);
  const xt::xarray<double> hv = ad::nn::flatten_blocks(r.hvp);
  double max_diff = 0, max_hv = 0;
  for (std::size_t i = 0; i < n; ++i) {
    max_diff = std::max(max_diff, std::fabs(hv(i) - fd(i)));
    max_hv = std::max(max_hv, std::fabs(hv(i)));
  }
  const double max_err = max_diff / max_hv;
  // and the gradient hvp returns is backward()'s
  gradient();
  double grad_diff = 0;
  for (std::size_t i = 0; i < params.size(); ++i)
    grad_diff = std::max(grad_diff, double(xt::amax(xt::abs(r.gradient[i] - params[i]->grad))()));

  // ---- timing ----
  for (int w = 0; w < 50; ++w) sink = gradient() + ad::nn::hvp(params, loss, v, tape).loss + hvp_tape();  // warm-up
  std::vector<double> tg, th, tt;
  for (int k = 0; k < reps; ++k) {
    auto t0 = Clock::now();
    sink = gradient();
    tg.push_back(seconds_since(t0));
    t0 = Clock::now();
    sink = ad::nn::hvp(params, loss, v, tape).loss;
    th.push_back(seconds_since(t0));
    t0 = Clock::now();
    sink = hvp_tape();
    tt.push_back(seconds_since(t0));
  }
  const auto g = bench::stats(tg), hs = bench::stats(th), ts = bench::stats(tt);
  const double us = 1e6;
  fmt::print("HVP of W2's loss (64-50-10 sigmoid, cross-entropy, batch 100, float64; {} parameters), {} "
             "repetitions, median [min, max] us\n",
             n, reps);
  fmt::print("  gradient (record + backward)   {:8.1f} [{:.1f}, {:.1f}]\n", g.median * us, g.min * us, g.max * us);
  fmt::print("  nn::hvp (record + Tape::hvp)   {:8.1f} [{:.1f}, {:.1f}]   {:.2f}x the gradient\n", hs.median * us,
             hs.min * us, hs.max * us, hs.median / g.median);
  fmt::print("  record + Tape::hvp directly    {:8.1f} [{:.1f}, {:.1f}]   {:.2f}x the gradient\n", ts.median * us,
             ts.min * us, ts.max * us, ts.median / g.median);
  fmt::print("  check: |H v - central difference of gradients (h = {})| / max |H v| = {:.2e} (max |H v| = {:.3g}); "
             "hvp's gradient vs backward's: {:.1e}\n",
             h, max_err, max_hv, grad_diff);
  fmt::print("hvp_us={:.2f} grad_us={:.2f} ratio={:.2f} hvp_us_min={:.2f} grad_us_min={:.2f} hvp_tape_us={:.2f} "
             "ratio_tape={:.2f} params={} max_err={:.3g} grad_err={:.3g}\n",
             hs.median * us, g.median * us, hs.median / g.median, hs.min * us, g.min * us, ts.median * us,
             ts.median / g.median, n, max_err, grad_diff);
  return 0;
}
