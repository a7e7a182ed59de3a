// L-BFGS on the extended Rosenbrock function, n = 100 (definition: bench/README.md, "L-BFGS").
//
//   f(x) = sum_{i=0}^{n/2-1} 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2,  x0 = (-1.2, 1, -1.2, 1, ...)
//
// ad::nn::minimize_lbfgs with PyTorch's options: lr 1, history 100, the strong-Wolfe line search,
// one step of at most max_iter = 1000 iterations (max_eval 1250). Two stopping settings:
//   converge   tolerance_grad 1e-10, tolerance_change 0: run until max |g| <= 1e-10;
//   defaults   tolerance_grad 1e-7, tolerance_change 1e-9 (PyTorch's defaults).
// Timed: the whole minimization from x0, repeated (median, min, max), with the gradient from the
// tensor tape (the project) and from the hand-derived formula (the floor: the same L-BFGS, so
// the difference is the cost of the tape). bench/anchors/pytorch_lbfgs.py runs torch.optim.LBFGS
// the same way.
//
// Run: build/bin/lbfgs_rosenbrock [repeats]     (default 200)
// Last line: key=value figures (iterations, evaluations, f, gradient norm, ms, max error).
#include <ad/nn/lbfgs.hpp>
#include <ad/ops.hpp>

#include "common.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace {

using bench::Clock;
using bench::seconds_since;

constexpr std::size_t kN = 100;

/// f and its gradient from the tensor tape: x reshaped to (n/2, 2), its columns sliced out.
struct TapeRosenbrock {
  ad::Tape<double> tape;
  double operator()(const xt::xarray<double>& x, xt::xarray<double>& grad) {
    tape.clear();
    const auto xv = tape.parameter(x, &grad);
    const auto pairs = ad::reshape(xv, {static_cast<std::ptrdiff_t>(x.size() / 2), 2});
    const auto a = ad::slice(pairs, 1, 0, 1), b = ad::slice(pairs, 1, 1, 2);
    const auto t = b - a * a, u = 1.0 - a;
    const auto f = ad::sum(100.0 * (t * t) + u * u);
    tape.backward(f);
    return f.item();
  }
};

/// The floor: the same f with its gradient derived by hand.
double hand_rosenbrock(const xt::xarray<double>& x, xt::xarray<double>& g) {
  double f = 0;
  for (std::size_t i = 0; i + 1 < x.size(); i += 2) {
    const double t = x(i + 1) - x(i) * x(i), u = 1 - x(i);
    f += 100 * t * t + u * u;
    g(i) = -400 * x(i) * t - 2 * u;
    g(i + 1) = 200 * t;
  }
  return f;
}

struct Run {
  ad::nn::MinimizeResult<xt::xarray<double>> result;
  std::vector<double> seconds;
};

template <class F>
Run run(F&& f, const ad::nn::MinimizeOptions& o, int repeats) {
  xt::xarray<double> x0 = xt::xarray<double>::from_shape({kN});
  for (std::size_t i = 0; i < kN; ++i) x0(i) = i % 2 == 0 ? -1.2 : 1.0;
  Run r;
  for (int k = 0; k < repeats; ++k) {
    const auto t0 = Clock::now();
    r.result = ad::nn::minimize_lbfgs(f, x0, o);
    r.seconds.push_back(seconds_since(t0));
  }
  return r;
}

double max_error(const xt::xarray<double>& x) {
  double e = 0;
  for (double v : x) e = std::max(e, std::fabs(v - 1));
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const ad::nn::MinimizeOptions converge{.lr = 1, .max_iter = 1000, .tolerance_grad = 1e-10, .tolerance_change = 0,
                                         .history_size = 100};
  const ad::nn::MinimizeOptions defaults{.lr = 1, .max_iter = 1000, .tolerance_grad = 1e-7, .tolerance_change = 1e-9,
                                         .history_size = 100};
  TapeRosenbrock tape_f;
  const auto project = [&](const xt::xarray<double>& x, xt::xarray<double>& g) { return tape_f(x, g); };

  // Alternate the two gradients, so both see the same machine.
  std::vector<double> t_project, t_floor;
  Run p, h;
  for (int k = 0; k < repeats; k += 10) {
    const int m = std::min(10, repeats - k);
    Run a = run(project, converge, m), b = run(hand_rosenbrock, converge, m);
    t_project.insert(t_project.end(), a.seconds.begin(), a.seconds.end());
    t_floor.insert(t_floor.end(), b.seconds.begin(), b.seconds.end());
    p.result = a.result, h.result = b.result;
  }
  const Run d = run(project, defaults, repeats);

  const bench::Stats sp = bench::stats(t_project), sf = bench::stats(t_floor), sd = bench::stats(d.seconds);
  const auto& r = p.result;
  fmt::print("L-BFGS, extended Rosenbrock n = {}, from (-1.2, 1, ...); history 100, strong Wolfe; {} runs\n", kN,
             repeats);
  fmt::print("  {:<38} {:>5} {:>5} {:>11} {:>10} {:>24}\n", "", "iter", "eval", "f", "|grad|",
             "ms median [min, max]");
  const auto row = [](const char* name, const ad::nn::MinimizeResult<xt::xarray<double>>& res, const bench::Stats& s) {
    fmt::print("  {:<38} {:>5} {:>5} {:>11.3e} {:>10.3e} {:>8.3f} [{:.3f}, {:.3f}]\n", name, res.iterations,
               res.evaluations, res.f, res.grad_norm, s.median * 1e3, s.min * 1e3, s.max * 1e3);
  };
  row("tape gradient, tolerance_grad 1e-10", r, sp);
  row("hand gradient (floor), same options", h.result, sf);
  row("tape gradient, PyTorch's tolerances", d.result, sd);
  fmt::print("  stopped: {} / {}\n", r.message, d.result.message);
  fmt::print(
      "lbfgs_n={} lbfgs_iterations={} lbfgs_evaluations={} lbfgs_f={:.3e} lbfgs_grad_norm={:.3e} lbfgs_ms={:.4f} "
      "lbfgs_ms_min={:.4f} lbfgs_ms_max={:.4f} lbfgs_us_per_eval={:.2f} lbfgs_ms_floor={:.4f} lbfgs_floor_iterations={} "
      "lbfgs_max_err={:.3g} lbfgs_default_iterations={} lbfgs_default_evaluations={} lbfgs_default_f={:.3e} "
      "lbfgs_default_grad_norm={:.3e} lbfgs_default_ms={:.4f}\n",
      kN, r.iterations, r.evaluations, r.f, r.grad_norm, sp.median * 1e3, sp.min * 1e3, sp.max * 1e3,
      sp.median * 1e6 / static_cast<double>(r.evaluations), sf.median * 1e3, h.result.iterations, max_error(r.x),
      d.result.iterations, d.result.evaluations, d.result.f, d.result.grad_norm, sd.median * 1e3);
  return r.converged() ? 0 : 1;
}
