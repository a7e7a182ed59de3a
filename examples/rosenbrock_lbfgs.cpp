// The extended Rosenbrock function minimized by L-BFGS, its gradient from the tape.
//
//   f(x) = sum_{i=0}^{n/2-1} 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2,   n = 100,
//
// from x0 = (-1.2, 1, -1.2, 1, ...); the minimum is f = 0 at x = (1, ..., 1). The function is
// written once, as tensor ops on the pairs (x_{2i}, x_{2i+1}) (x reshaped to (n/2, 2), its two
// columns sliced out); the tape records it at every evaluation and one reverse sweep gives the
// gradient. ad::nn::minimize_lbfgs does the rest: L-BFGS with a strong-Wolfe line search, the
// algorithm and options of PyTorch's torch.optim.LBFGS(line_search_fn="strong_wolfe").
//
// Run: build/bin/rosenbrock_lbfgs [n] [tolerance_grad]     (defaults 100 and 1e-10)
// Last line: iterations=... evaluations=... f=... grad_norm=... max_error=... stop=... seconds=...
// (max_error = max |x_i - 1| at the end).
#include <ad/nn/lbfgs.hpp>
#include <ad/ops.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? static_cast<std::size_t>(std::atol(argv[1])) : 100;
  const double tolerance_grad = argc > 2 ? std::atof(argv[2]) : 1e-10;
  if (n < 2 || n % 2 != 0) {
    fmt::print(stderr, "rosenbrock_lbfgs: n must be even and at least 2, got {}\n", n);
    return 2;
  }
  const auto t0 = std::chrono::steady_clock::now();

  // f(x, grad): records f on a tape that reads x in place, sweeps, and adds df/dx into grad.
  ad::Tape<double> tape;
  const auto rosenbrock = [&](const xt::xarray<double>& x, xt::xarray<double>& grad) {
    tape.clear();
    const auto xv = tape.parameter(x, &grad);
    const auto pairs = ad::reshape(xv, {static_cast<std::ptrdiff_t>(n / 2), 2});
    const auto a = ad::slice(pairs, 1, 0, 1), b = ad::slice(pairs, 1, 1, 2);  // x_{2i}, x_{2i+1}
    const auto t = b - a * a, u = 1.0 - a;
    const auto f = ad::sum(100.0 * (t * t) + u * u);
    tape.backward(f);
    return f.item();
  };

  xt::xarray<double> x0 = xt::xarray<double>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) x0(i) = i % 2 == 0 ? -1.2 : 1.0;

  fmt::print("extended Rosenbrock, n = {}, from (-1.2, 1, -1.2, 1, ...); L-BFGS, strong-Wolfe line search, "
             "history 100\n",
             n);
  fmt::print("{:>9} {:>11} {:>24} {:>11} {:>9}\n", "iteration", "evaluations", "f", "|grad|", "step");
  const auto progress = [](const ad::nn::LBFGSState& s) {
    if (s.iterations <= 5 || s.iterations % 5 == 0 || s.stop != ad::nn::LBFGSStop::none)
      fmt::print("{:>9} {:>11} {:>24.17g} {:>11.3e} {:>9.3g}\n", s.iterations, s.evaluations, s.loss, s.grad_norm,
                 s.step_size);
    return true;
  };
  // tolerance_change 0: stop on the gradient alone (PyTorch's default 1e-9 would stop on a loss
  // change below 1e-9 long before the gradient is small, because f itself is tiny by then).
  const auto r = ad::nn::minimize_lbfgs(rosenbrock, x0,
                                        {.max_iter = 1000, .tolerance_grad = tolerance_grad,
                                         .tolerance_change = 0, .history_size = 100, .on_iteration = progress});

  double max_error = 0;
  for (double v : r.x) max_error = std::max(max_error, std::fabs(v - 1));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("stopped: {}\n", r.message);
  fmt::print("x = (1, ..., 1) to {:.1e}; {} iterations, {} evaluations of f and its gradient\n", max_error, r.iterations,
             r.evaluations);
  fmt::print("iterations={} evaluations={} f={:.3e} grad_norm={:.3e} max_error={:.3e} stop={} seconds={:.4f}\n",
             r.iterations, r.evaluations, r.f, r.grad_norm, max_error, ad::nn::stop_name(r.stop), secs);
  return r.converged() ? 0 : 1;
}
