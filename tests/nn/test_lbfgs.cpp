// L-BFGS (nn/include/ad/nn/lbfgs.hpp): convergence on the extended Rosenbrock function and on
// quadratics, the strong Wolfe conditions checked on the line search's own answer, PyTorch's
// semantics (the first step, the fixed-step mode, the state kept between steps, the stopping
// tests), float, the errors, and training a network with it through Trainer and fit.
#include <ad/nn/data.hpp>
#include <ad/nn/lbfgs.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/random.hpp>
#include <ad/nn/train.hpp>
#include <ad/ops.hpp>

#include "support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xbuilder.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace ad;
using namespace ad::nn;

namespace {

/// The extended Rosenbrock function of n variables (n even) with its gradient from the tape:
/// sum over pairs of 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2.
template <class T>
struct Rosenbrock {
  std::size_t n;
  Tape<T> tape;
  /// f at p.value, p.grad <- its gradient (zeroed first, as a closure does).
  double operator()(Parameter<T>& p) {
    tape.clear();
    p.zero_grad();
    const Var<T> x = p.on(tape);
    const auto pairs = reshape(x, {static_cast<std::ptrdiff_t>(n / 2), 2});
    const auto a = slice(pairs, 1, 0, 1), b = slice(pairs, 1, 1, 2);
    const auto t = b - a * a, u = T(1) - a;
    const auto f = sum(T(100) * (t * t) + u * u);
    tape.backward(f);
    return static_cast<double>(f.item());
  }
};

/// The same, by hand (the reference of the tests, in double).
double rosenbrock_hand(const std::vector<double>& x, std::vector<double>& g) {
  double f = 0;
  g.assign(x.size(), 0.0);
  for (std::size_t i = 0; i + 1 < x.size(); i += 2) {
    const double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    f += 100 * t * t + u * u;
    g[i] = -400 * x[i] * t - 2 * u;
    g[i + 1] = 200 * t;
  }
  return f;
}

template <class T>
Parameter<T> rosenbrock_start(std::size_t n) {
  Parameter<T> p("x", {n}, false);
  for (std::size_t i = 0; i < n; ++i) p.value(i) = i % 2 == 0 ? T(-1.2) : T(1);
  return p;
}

double norm2(const std::vector<double>& v) {
  double s = 0;
  for (double a : v) s += a * a;
  return std::sqrt(s);
}

/// An SPD matrix of size n with eigenvalues spread over [1, cond] (Q diag Q^T, Q from the QR of
/// a fixed pseudo-random matrix) and a right-hand side.
struct Quadratic {
  xt::xarray<double> a, b;
  Quadratic(std::size_t n, double cond) {
    Rng rng(3);
    xt::xarray<double> m = xt::xarray<double>::from_shape({n, n});
    for (auto& v : m) v = rng.uniform(-1, 1);
    auto qr = xt::linalg::qr(m);
    xt::xarray<double> q = std::get<0>(qr);
    xt::xarray<double> lam = xt::xarray<double>::from_shape({n});
    for (std::size_t i = 0; i < n; ++i) lam(i) = std::pow(cond, static_cast<double>(i) / static_cast<double>(n - 1));
    a = xt::linalg::dot(q, xt::linalg::dot(xt::diag(lam), xt::transpose(q)));
    a = 0.5 * (a + xt::transpose(a));
    b = xt::xarray<double>::from_shape({n});
    for (auto& v : b) v = rng.uniform(-1, 1);
  }
  /// 0.5 x^T A x - b^T x and its gradient, from the tape.
  double operator()(Tape<double>& tape, Parameter<double>& p) const {
    tape.clear();
    p.zero_grad();
    const Var<double> x = p.on(tape);
    const Var<double> ax = matmul(tape.constant(a), x);
    const Var<double> f = 0.5 * sum(x * ax) - sum(tape.constant(b) * x);
    tape.backward(f);
    return f.item();
  }
};

}  // namespace

TEST_CASE("LBFGS: the extended Rosenbrock function, n = 100, to a gradient norm below 1e-8") {
  Rosenbrock<double> f{100, {}};
  Parameter<double> p = rosenbrock_start<double>(100);
  LBFGS<double> opt({&p}, {.max_iter = 1000, .tolerance_grad = 1e-10, .tolerance_change = 0});
  const double start = opt.step([&] { return f(p); });
  const LBFGSState& s = opt.state();
  CHECK(start == doctest::Approx(50 * 24.2));  // f(-1.2, 1) = 4.84 + 19.36 per pair
  CHECK(s.stop == LBFGSStop::gradient);
  CHECK(s.grad_norm < 1e-8);
  CHECK(s.grad_max <= 1e-10);
  // The reported figures are those of the final x, by an independent computation.
  std::vector<double> x(p.value.begin(), p.value.end()), g;
  const double fx = rosenbrock_hand(x, g);
  CHECK(norm2(g) < 1e-8);
  CHECK(s.loss == doctest::Approx(fx).epsilon(1e-6).scale(1e-20));
  CHECK(std::fabs(norm2(g) - s.grad_norm) < 1e-12);
  for (double v : x) REQUIRE(std::fabs(v - 1) < 1e-6);
  // Each Parameter::grad is the gradient at the final x, whatever point the line search tried last.
  for (std::size_t i = 0; i < 100; ++i) CHECK(std::fabs(p.grad(i) - g[i]) < 1e-12);
  // Quasi-Newton speed: tens of iterations, a few more evaluations (gradient descent needs thousands).
  CHECK(s.iterations >= 20);
  CHECK(s.iterations <= 60);
  CHECK(s.evaluations >= s.iterations);
  CHECK(s.evaluations <= 2 * s.iterations);
  // a pair joins the history after every iteration but the first unless y . s <= 1e-10 (near
  // the end, where the steps are tiny)
  CHECK(s.history <= s.iterations - 1);
  CHECK(s.history + 5 >= s.iterations - 1);
  CHECK(opt.stop_message().rfind("max |gradient| ", 0) == 0);
  CHECK(opt.steps() == 1);
}

TEST_CASE("minimize_lbfgs: a plain function of an xarray or a std::vector") {
  MinimizeOptions o{.tolerance_grad = 1e-10, .tolerance_change = 0};
  SUBCASE("xarray, gradient from the tape") {
    Tape<double> tape;
    const auto f = [&](const xt::xarray<double>& x, xt::xarray<double>& grad) {
      tape.clear();
      const auto xv = tape.parameter(x, &grad);
      const auto pairs = reshape(xv, {50, 2});
      const auto a = slice(pairs, 1, 0, 1), b = slice(pairs, 1, 1, 2);
      const auto t = b - a * a, u = 1.0 - a;
      const auto v = sum(100.0 * (t * t) + u * u);
      tape.backward(v);
      return v.item();
    };
    xt::xarray<double> x0 = xt::xarray<double>::from_shape({100});
    for (std::size_t i = 0; i < 100; ++i) x0(i) = i % 2 == 0 ? -1.2 : 1.0;
    std::size_t calls = 0;
    o.on_iteration = [&](const LBFGSState& s) {
      ++calls;
      CHECK(s.iterations == calls);
      return true;
    };
    const auto r = minimize_lbfgs(f, x0, o);
    CHECK(r.converged());
    CHECK(r.grad_norm < 1e-8);
    CHECK(calls == r.iterations);
    for (double v : r.x) REQUIRE(std::fabs(v - 1) < 1e-6);
    CHECK(x0(0) == -1.2);  // the start is the caller's, untouched
  }
  SUBCASE("std::vector, gradient by hand") {
    const auto f = [](const std::vector<double>& x, std::vector<double>& g) { return rosenbrock_hand(x, g); };
    std::vector<double> x0(10);
    for (std::size_t i = 0; i < 10; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
    const auto r = minimize_lbfgs(f, x0, o);
    CHECK(r.converged());
    CHECK(r.f < 1e-20);
    for (double v : r.x) CHECK(std::fabs(v - 1) < 1e-6);
  }
  SUBCASE("the callback stops it") {
    const auto f = [](const std::vector<double>& x, std::vector<double>& g) { return rosenbrock_hand(x, g); };
    o.on_iteration = [](const LBFGSState& s) { return s.iterations < 3; };
    const auto r = minimize_lbfgs(f, std::vector<double>{-1.2, 1}, o);
    CHECK(r.stop == LBFGSStop::callback);
    CHECK(r.iterations == 3);
    CHECK(r.message == "on_iteration returned false");
  }
}

TEST_CASE("strong_wolfe_search: the accepted step satisfies the strong Wolfe conditions") {
  // phi(t) = f(x + t d) for the 2-variable Rosenbrock function at x = (-1.2, 1), d = -grad:
  // phi'(0) = -|g|^2 = -(215.6^2 + 88^2), and t = 1 overshoots enormously (zoom needed).
  const std::vector<double> x{-1.2, 1};
  std::vector<double> g0;
  const double f0 = rosenbrock_hand(x, g0);
  const std::vector<double> d{-g0[0], -g0[1]};
  const double slope0 = -(g0[0] * g0[0] + g0[1] * g0[1]);
  CHECK(g0[0] == doctest::Approx(-215.6));
  CHECK(g0[1] == doctest::Approx(-88));
  const auto at = [&](double t, double& slope) {
    std::vector<double> g;
    const double f = rosenbrock_hand({x[0] + t * d[0], x[1] + t * d[1]}, g);
    slope = g[0] * d[0] + g[1] * d[1];
    return f;
  };
  double slot_t[3] = {-1, -1, -1};  // which step each buffer holds
  const auto phi = [&](double t, int slot) {
    REQUIRE(slot >= 0);
    REQUIRE(slot < 3);
    slot_t[slot] = t;
    LineSearchValue v;
    v.f = at(t, v.slope);
    return v;
  };
  const WolfeOptions o;  // c1 = 1e-4, c2 = 0.9
  const auto check_wolfe = [&](const WolfeResult& r) {
    REQUIRE(r.satisfied);
    REQUIRE(r.t > 0);
    double slope;
    const double f = at(r.t, slope);  // recomputed, not taken from the search
    CHECK(r.f == f);
    CHECK(r.slope == slope);
    CHECK(f <= f0 + o.c1 * r.t * slope0);                 // sufficient decrease
    CHECK(std::fabs(slope) <= o.c2 * std::fabs(slope0));  // curvature (strong)
    CHECK(slot_t[r.slot] == r.t);                         // its buffer was not reused since
  };
  SUBCASE("a trial far too long: zoom") {
    const WolfeResult r = strong_wolfe_search(phi, f0, slope0, 1.0, std::max(std::fabs(d[0]), std::fabs(d[1])));
    check_wolfe(r);
    CHECK(r.t < 0.01);
    CHECK(r.evaluations > 2);
  }
  SUBCASE("a trial far too short: extrapolation, then zoom if needed") {
    const WolfeResult r = strong_wolfe_search(phi, f0, slope0, 1e-6, 215.6);
    check_wolfe(r);
    CHECK(r.t > 1e-5);  // more than 10 times the trial: at least two extrapolations
    CHECK(r.evaluations >= 3);
  }
  SUBCASE("a one-dimensional function: phi(t) = (t - 5)^2, from t = 1, 0.1 and 30") {
    const auto q = [](double t, int) { return LineSearchValue{(t - 5) * (t - 5), 2 * (t - 5)}; };
    for (double t0 : {1.0, 0.1, 30.0}) {
      const WolfeResult r = strong_wolfe_search(q, 25, -10, t0);
      REQUIRE(r.satisfied);
      CHECK(r.f <= 25 + 1e-4 * r.t * -10);
      CHECK(std::fabs(r.slope) <= 0.9 * 10);
      CHECK(std::fabs(r.t - 5) < 4.5);  // |2 (t - 5)| <= 9
    }
    // t = 5 itself is flat: accepted at once, one evaluation.
    const WolfeResult r = strong_wolfe_search(q, 25, -10, 5);
    CHECK(r.t == 5);
    CHECK(r.evaluations == 1);
    CHECK(r.slot == 0);
  }
  SUBCASE("not a descent direction, a bad trial step or bad constants: errors naming LBFGS") {
    CHECK(support::message_of<ValueError>([&] { strong_wolfe_search(phi, f0, 1.0, 1.0); }) ==
          "LBFGS line search: the slope at t = 0 must be negative (a descent direction), got 1");
    CHECK(support::message_of<ValueError>([&] { strong_wolfe_search(phi, f0, slope0, 0.0); }) ==
          "LBFGS line search: the first trial step must be positive and finite, got 0");
    CHECK(support::message_of<ValueError>([&] { strong_wolfe_search(phi, f0, slope0, 1.0, 1, {.c1 = 0.9, .c2 = 0.1}); }) ==
          "LBFGS line search: need 0 < c1 < c2 < 1, got c1 = 0.9, c2 = 0.1");
  }
}

TEST_CASE("cubic_interpolate: the minimizer of the cubic through two points with slopes") {
  // p(t) = t^3 - 3 t: minimum at t = 1; from (0, 0, -3) and (2, 2, 9), in either order.
  CHECK(cubic_interpolate(0, 0, -3, 2, 2, 9) == doctest::Approx(1).epsilon(1e-14));
  CHECK(cubic_interpolate(2, 2, 9, 0, 0, -3) == doctest::Approx(1).epsilon(1e-14));
  // a quadratic (t - 0.3)^2 is its own cubic: exact
  CHECK(cubic_interpolate(0, 0.09, -0.6, 1, 0.49, 1.4) == doctest::Approx(0.3).epsilon(1e-14));
  // clamped into the bounds given
  CHECK(cubic_interpolate(0, 0, -3, 2, 2, 9, 1.5, 4.0) == 1.5);
  // p(t) = -t^3 + 3 t: its minimizer -1 lies left of [-0.5, 0.5], so the left end
  CHECK(cubic_interpolate(-0.5, -1.375, 2.25, 0.5, 1.375, 2.25) == -0.5);
  // p(t) = t^3 + t rises everywhere (p' = 3 t^2 + 1): no minimizer, the middle of the bounds
  CHECK(cubic_interpolate(-1, -2, 4, 1, 2, 4) == 0);
  CHECK(cubic_interpolate(-1, -2, 4, 1, 2, 4, 0.25, 0.75) == 0.5);
}

TEST_CASE("LBFGS on a quadratic 0.5 x^T A x - b^T x: about n iterations to A^-1 b") {
  // With exact line searches L-BFGS (history >= n) ends in n iterations on a quadratic, as
  // conjugate gradients. The strong-Wolfe search accepts the unit step whenever it satisfies
  // the conditions (nearly always here), so that is only approximately so: measured for n = 30,
  // max |g| <= 1e-7 after 28 iterations (eigenvalues 1 .. 10) and 91 (1 .. 100), against 42 and
  // 147 with a history of 2.
  const std::size_t n = 30;
  Tape<double> tape;
  const auto run = [&](const Quadratic& q, int history, std::size_t* iterations) {
    const xt::xarray<double> solution = xt::linalg::solve(q.a, q.b);
    Parameter<double> p("x", {n}, false);
    LBFGS<double> opt({&p}, {.max_iter = 2000, .max_eval = 100000, .tolerance_grad = 1e-7, .tolerance_change = 0,
                             .history_size = history});
    opt.step([&] { return q(tape, p); });
    *iterations = opt.state().iterations;
    CHECK(opt.state().stop == LBFGSStop::gradient);
    double err = 0;
    for (std::size_t i = 0; i < n; ++i) err = std::max(err, std::fabs(p.value(i) - solution(i)));
    return err;  // the eigenvalues are >= 1, so |x - x*| <= |g| <= sqrt(n) 1e-7
  };
  std::size_t full = 0, short_memory = 0;
  const Quadratic mild(n, 10), harder(n, 100);
  CHECK(run(mild, static_cast<int>(n), &full) < 1e-6);
  MESSAGE("eigenvalues 1 .. 10, history n: " << full << " iterations");
  CHECK(full >= n / 2);
  CHECK(full <= n + n / 2);
  CHECK(run(mild, 2, &short_memory) < 1e-6);
  CHECK(short_memory > full);
  CHECK(run(harder, static_cast<int>(n), &full) < 1e-6);
  CHECK(run(harder, 2, &short_memory) < 1e-6);
  MESSAGE("eigenvalues 1 .. 100: " << full << " iterations with history n, " << short_memory << " with history 2");
  CHECK(full <= 4 * n);
  CHECK(short_memory * 3 > full * 4);  // a short memory is a worse model of A^-1: a third more iterations
}

TEST_CASE("LBFGS: each direction is -H g, H the L-BFGS matrix of the last pairs (the dense formula)") {
  // Fixed steps of lr = 1 on a quadratic: after the first iteration every move x_{k+1} - x_k is
  // the direction d_k itself. H is built independently of the two-loop recursion: from
  // H = gamma I, gamma = s.y / y.y of the newest pair, each kept pair (s, y), oldest first,
  // updates H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T, rho = 1 / y.s.
  const std::size_t n = 5;
  const int history = 3;
  const Quadratic q(n, 10);
  Tape<double> tape;
  Parameter<double> p("x", {n}, false);
  std::vector<xt::xarray<double>> xs{p.value};
  LBFGS<double> opt({&p}, {.lr = 1, .max_iter = 8, .tolerance_grad = 0, .tolerance_change = 0,
                           .history_size = history, .line_search = LineSearch::none});
  opt.on_iteration = [&](const LBFGSState&) {
    xs.push_back(p.value);
    return true;
  };
  opt.step([&] { return q(tape, p); });
  REQUIRE(xs.size() == 9);
  const auto grad = [&](const xt::xarray<double>& x) { return xt::xarray<double>(xt::linalg::dot(q.a, x) - q.b); };
  const xt::xarray<double> eye = xt::eye<double>(n);
  for (std::size_t k = 1; k + 1 < xs.size(); ++k) {
    const std::size_t first = k > static_cast<std::size_t>(history) ? k - history : 0;
    xt::xarray<double> h;
    for (std::size_t j = first; j < k; ++j) {
      const xt::xarray<double> sj = xs[j + 1] - xs[j], yj = grad(xs[j + 1]) - grad(xs[j]);
      const double rho = 1 / xt::linalg::vdot(yj, sj);
      if (j == first) {
        const xt::xarray<double> sn = xs[k] - xs[k - 1], yn = grad(xs[k]) - grad(xs[k - 1]);
        h = xt::linalg::vdot(sn, yn) / xt::linalg::vdot(yn, yn) * eye;
      }
      const xt::xarray<double> v = eye - rho * xt::linalg::outer(yj, sj);
      h = xt::linalg::dot(xt::transpose(v), xt::linalg::dot(h, v)) + rho * xt::linalg::outer(sj, sj);
    }
    const xt::xarray<double> want = -xt::linalg::dot(h, grad(xs[k]));
    const xt::xarray<double> got = xs[k + 1] - xs[k];
    INFO("iteration " << k + 1);
    CHECK(xt::amax(xt::abs(got - want))() <= 1e-9 * xt::amax(xt::abs(want))());
  }
}

TEST_CASE("LBFGS: PyTorch's first step, fixed-step mode, state kept between steps") {
  // f(x) = 0.5 |x|^2 from (3, 4): g = x, sum |g| = 7, so the first step is t = min(1, 1/7) lr.
  Parameter<double> p("x", {2}, false);
  const auto half_sq = [&] {
    p.grad(0) = p.value(0), p.grad(1) = p.value(1);
    return 0.5 * (p.value(0) * p.value(0) + p.value(1) * p.value(1));
  };
  SUBCASE("fixed step, one iteration: x - g / 7, no evaluation after the move") {
    p.value(0) = 3, p.value(1) = 4;
    LBFGS<double> opt({&p}, {.lr = 1, .max_iter = 1, .line_search = LineSearch::none});
    CHECK(opt.step(half_sq) == 12.5);
    CHECK(p.value(0) == doctest::Approx(3 - 3.0 / 7).epsilon(1e-15));
    CHECK(p.value(1) == doctest::Approx(4 - 4.0 / 7).epsilon(1e-15));
    CHECK(opt.state().evaluations == 1);
    CHECK(opt.state().stop == LBFGSStop::max_iter);
    CHECK_FALSE(opt.state().loss_current);
    CHECK(opt.state().loss == 12.5);  // that of the start: the last move was not evaluated
    CHECK(opt.state().step_size == doctest::Approx(1.0 / 7));
    // The next step's first iteration uses the curvature pair: on this f, H = I exactly, so the
    // quasi-Newton step lands on 0 at once.
    opt.options.max_iter = 2;
    opt.step(half_sq);
    CHECK(std::fabs(p.value(0)) < 1e-14);
    CHECK(std::fabs(p.value(1)) < 1e-14);
    CHECK(opt.state().iterations == 2);
    CHECK(opt.state().grad_max < 1e-14);
    // max_eval defaults to max_iter * 5 / 4 = 2, reached by the start and the one evaluation
    // after the move, and PyTorch tests it before the gradient
    CHECK(opt.state().stop == LBFGSStop::max_eval);
    CHECK(opt.state().loss_current);
    CHECK(opt.state().history == 1);
  }
  SUBCASE("a small lr scales the first step; later ones take lr itself") {
    p.value(0) = 3, p.value(1) = 4;
    LBFGS<double> opt({&p}, {.lr = 0.5, .max_iter = 1, .line_search = LineSearch::none});
    opt.step(half_sq);
    CHECK(p.value(0) == doctest::Approx(3 - 0.5 * 3.0 / 7).epsilon(1e-15));
  }
  SUBCASE("a gradient already below tolerance_grad: no iteration") {
    p.value(0) = 1e-9, p.value(1) = 0;
    LBFGS<double> opt({&p});
    opt.step(half_sq);
    CHECK(opt.state().iterations == 0);
    CHECK(opt.state().evaluations == 1);
    CHECK(opt.state().stop == LBFGSStop::gradient);
    CHECK(p.value(0) == 1e-9);
  }
}

TEST_CASE("LBFGS: two steps of 10 iterations are one step of 20 (the state carries over)") {
  Rosenbrock<double> f{4, {}};
  Parameter<double> a = rosenbrock_start<double>(4), b = rosenbrock_start<double>(4);
  LBFGS<double> one({&a}, {.max_iter = 20, .max_eval = 1000, .tolerance_change = 0});
  LBFGS<double> two({&b}, {.max_iter = 10, .max_eval = 1000, .tolerance_change = 0});
  one.step([&] { return f(a); });
  two.step([&] { return f(b); });
  two.step([&] { return f(b); });
  REQUIRE(one.state().stop == LBFGSStop::max_iter);
  CHECK(two.state().iterations == 20);
  CHECK(two.state().evaluations == one.state().evaluations + 1);  // the second step's start
  for (std::size_t i = 0; i < 4; ++i) CHECK(a.value(i) == b.value(i));  // bitwise
  CHECK(a.value(0) != -1.2);
  // reset(): the history is gone, the next step starts with a steepest-descent step again
  two.reset();
  CHECK(two.state().iterations == 0);
  CHECK(two.state().stop == LBFGSStop::none);
  two.options.max_iter = 1;
  two.options.line_search = LineSearch::none;
  std::vector<double> x(b.value.begin(), b.value.end()), g;
  rosenbrock_hand(x, g);
  double l1 = 0;
  for (double v : g) l1 += std::fabs(v);
  two.step([&] { return f(b); });
  CHECK(b.value(0) == doctest::Approx(x[0] - std::min(1.0, 1 / l1) * g[0]).epsilon(1e-12));
}

TEST_CASE("LBFGS: the stopping tests and max_eval") {
  Rosenbrock<double> f{2, {}};
  SUBCASE("default tolerances (1e-9 on changes) stop it long before the gradient reaches 1e-7") {
    Parameter<double> p = rosenbrock_start<double>(2);
    LBFGS<double> opt({&p}, {.max_iter = 1000});
    opt.step([&] { return f(p); });
    const LBFGSStop s = opt.state().stop;
    INFO(opt.stop_message());
    CHECK((s == LBFGSStop::loss_change || s == LBFGSStop::directional_derivative || s == LBFGSStop::step_change));
    CHECK(opt.state().grad_max > 1e-7);
    CHECK(opt.state().loss < 1e-8);
  }
  SUBCASE("max_eval defaults to max_iter * 5 / 4 and counts the start") {
    Parameter<double> p = rosenbrock_start<double>(2);
    LBFGS<double> opt({&p}, {.max_iter = 4});
    opt.step([&] { return f(p); });
    // The first iteration's line search takes two evaluations from this start, so 4 iterations
    // need more than 5: max_eval = 5 ends the step after the iteration whose evaluations reach it
    CHECK(opt.state().stop == LBFGSStop::max_eval);
    CHECK(opt.state().step_evaluations >= 5);
    CHECK(opt.state().step_evaluations < 5 + 25);
    CHECK(opt.state().step_iterations < 4);
    LBFGS<double> few({&p}, {.max_iter = 100, .max_eval = 3});
    few.step([&] { return f(p); });
    CHECK(few.state().stop == LBFGSStop::max_eval);
    CHECK(few.stop_message() == fmt::format("max_eval: {} evaluations in this step", few.state().step_evaluations));
  }
  SUBCASE("fixed steps of lr along the quasi-Newton direction also converge on a mild problem") {
    Tape<double> tape;
    const Quadratic q(6, 4);
    Parameter<double> p("x", {6}, false);
    LBFGS<double> opt({&p}, {.lr = 1, .max_iter = 200, .tolerance_grad = 1e-9, .tolerance_change = 0,
                             .line_search = LineSearch::none});
    opt.step([&] { return q(tape, p); });
    CHECK(opt.state().stop == LBFGSStop::gradient);
    CHECK(opt.state().evaluations == opt.state().iterations + 1);  // one per iteration, no search
  }
}

TEST_CASE("LBFGS<float>: Rosenbrock n = 4 to float precision") {
  Rosenbrock<float> f{4, {}};
  Parameter<float> p = rosenbrock_start<float>(4);
  LBFGS<float> opt({&p}, {.max_iter = 200, .tolerance_grad = 1e-4, .tolerance_change = 0});
  opt.step([&] { return f(p); });
  INFO(opt.stop_message());
  CHECK(opt.state().iterations < 100);
  CHECK(opt.state().loss < 1e-6);
  for (std::size_t i = 0; i < 4; ++i) CHECK(std::fabs(p.value(i) - 1.0f) < 1e-3f);
  CHECK(std::isfinite(opt.state().grad_norm));
}

TEST_CASE("LBFGS: errors name LBFGS; a non-finite loss leaves the last finite point") {
  Parameter<double> p("x", {2}, false);
  CHECK(support::message_of<ValueError>([] { LBFGS<double>({}); }) ==
        "LBFGS: the parameter list is empty; give it the parameters to optimize");
  Parameter<double> none("empty", {0}, false);
  CHECK(support::message_of<ValueError>([&] { LBFGS<double>({&none}); }) ==
        "LBFGS: the parameters have no entries; give it the parameters to optimize");
  CHECK(support::message_of<ValueError>([&] { LBFGS<double>({&p}, {.history_size = 0}); }) ==
        "LBFGS: history_size must be >= 1 (the number of curvature pairs kept), got 0");
  CHECK(support::message_of<ValueError>([&] { LBFGS<double>({&p}, {.history_size = -3}); }) ==
        "LBFGS: history_size must be >= 1 (the number of curvature pairs kept), got -3");
  CHECK(support::message_of<ValueError>([&] { LBFGS<double>({&p}, {.max_iter = 0}); }) ==
        "LBFGS: max_iter must be >= 1, got 0");
  CHECK(support::message_of<ValueError>([&] { LBFGS<double>({&p}, {.max_eval = 0}); }) ==
        "LBFGS: max_eval must be >= 1, got 0");
  CHECK(support::message_of<ValueError>([&] { LBFGS<double>({&p}, {.lr = -1}); }) ==
        "LBFGS: the learning rate (the first trial step) must be positive and finite, got -1");
  CHECK(support::message_of<ValueError>([&] { LBFGS<double>({&p}, {.tolerance_grad = -1}); }) ==
        "LBFGS: tolerance_grad must be >= 0, got -1");

  LBFGS<double> opt({&p});
  CHECK(support::message_of<ValueError>([&] { opt.step(); }) ==
        "LBFGS: step() needs a closure that recomputes the loss and the gradients: call step(closure) (Trainer::step "
        "and fit do it for you)");
  // Through the base class too: an Optimizer that is an LBFGS.
  Optimizer<double>& base = opt;
  CHECK_THROWS_AS(base.step(), ValueError);
  CHECK(base.name() == "lbfgs");
  opt.options.history_size = 0;  // checked again when a step starts
  CHECK(support::message_of<ValueError>([&] { opt.step([] { return 0.0; }); }).rfind("LBFGS: history_size", 0) == 0);

  SUBCASE("NaN at the start: nothing moves") {
    p.value(0) = 1, p.value(1) = 2;
    LBFGS<double> o({&p});
    const std::string m = support::message_of<LBFGSNonFiniteError>(
        [&] { o.step([] { return std::numeric_limits<double>::quiet_NaN(); }); });
    CHECK(m == "LBFGS: the closure returned the loss nan at evaluation 1 (at the start of step 1); the parameters "
               "are back at the last point with a finite loss; a smaller lr, scaled inputs or a bounded loss may help");
    CHECK(p.value(0) == 1);
    CHECK(p.value(1) == 2);
  }
  SUBCASE("infinite in the line search: back to the last accepted point") {
    // f = 0.5 |x|^2 inside the disc |x| < 2, +inf outside; from (1, 1) the first full step
    // with lr = 10 lands outside.
    p.value(0) = 1, p.value(1) = 1;
    LBFGS<double> o({&p}, {.lr = 10});
    const auto f = [&] {
      p.grad(0) = p.value(0), p.grad(1) = p.value(1);
      const double r2 = p.value(0) * p.value(0) + p.value(1) * p.value(1);
      return r2 < 4 ? 0.5 * r2 : std::numeric_limits<double>::infinity();
    };
    try {
      o.step(f);
      FAIL("no exception");
    } catch (const LBFGSNonFiniteError& e) {
      CHECK(std::isinf(e.loss));
      CHECK(std::string(e.what()).find("(in the line search of iteration 1)") != std::string::npos);
      CHECK(e.evaluation == 2);
    }
    CHECK(p.value(0) == 1);  // the start, the last point with a finite loss
    CHECK(p.value(1) == 1);
    CHECK(p.grad(0) == 1);  // and its gradient
  }
  SUBCASE("a NaN gradient entry is named") {
    Parameter<double> w("layer.weight", {3}, true);
    LBFGS<double> o({&p, &w});
    const std::string m = support::message_of<LBFGSNonFiniteError>([&] {
      o.step([&] {
        p.grad(0) = p.grad(1) = 1;
        w.grad(0) = 1, w.grad(1) = std::numeric_limits<double>::quiet_NaN(), w.grad(2) = 1;
        return 1.0;
      });
    });
    CHECK(m.rfind("LBFGS: the gradient has the entry nan (parameter 'layer.weight' entry 1) at evaluation 1", 0) == 0);
  }
  SUBCASE("minimize_lbfgs: an empty start, a gradient resized") {
    const auto f = [](const std::vector<double>&, std::vector<double>& g) {
      g.push_back(0);
      return 0.0;
    };
    CHECK(support::message_of<ValueError>([&] { minimize_lbfgs(f, std::vector<double>{}); }) ==
          "LBFGS: the parameters have no entries; give it the parameters to optimize");
    CHECK(support::message_of<ShapeError>([&] { minimize_lbfgs(f, std::vector<double>{1.0}); }) ==
          "minimize_lbfgs: f resized the gradient to 2 entries; it must keep 1");
  }
}

TEST_CASE("LBFGS trains a network: Trainer::step, fit (an epoch is one step), make_optimizer") {
  Dataset d = load_builtin("iris");
  StandardScaler scaler;
  d.x = scaler.fit_transform(d.x);
  SUBCASE("fit: the loss falls from chance to a good fit in a few epochs, full batch") {
    Sequential<double> net = mlp<double>({4, 8, 3}, "tanh", "softmax", 1);
    const double before = evaluate(net, d.x, d.y, Loss::cross_entropy).loss;
    LBFGS<double> opt(net.parameters(), {.max_iter = 20});
    const History h = fit(net, opt, d.x, d.y, {.epochs = 5, .batch_size = 7, .verbose = 0});
    REQUIRE(h.epochs.size() == 5);
    CHECK(before > 0.9);  // about log 3
    CHECK(h.epochs[0].loss < before);
    CHECK(h.last().loss < 0.1);
    CHECK(h.last().metric > 0.95);
    // The epoch's loss is the loss at the weights it ends with (not the start of the step).
    const double after = evaluate(net, d.x, d.y, Loss::cross_entropy).loss;
    CHECK(after == doctest::Approx(h.last().loss).epsilon(1e-12));
    CHECK(opt.state().iterations > 20);  // more than one epoch's worth: batch_size was ignored
    CHECK(opt.steps() == 5);
  }
  SUBCASE("Trainer::step: one L-BFGS step; start_loss is the loss before it") {
    Sequential<float> net = mlp<float>({4, 8, 3}, "tanh", "softmax", 1);
    LBFGS<float> opt(net.parameters(), {.max_iter = 5});
    Trainer<float> t(net, opt, Loss::cross_entropy);
    CHECK(t.full_batch());
    const xt::xarray<float> x = xt::cast<float>(d.x), y = xt::cast<float>(d.y);
    const double after = t.step(x, y);
    CHECK(after < t.start_loss());
    CHECK(t.start_loss() == doctest::Approx(opt.state().start_loss));
    CHECK(opt.state().step_iterations == 5);
    t.clip_norm = 1;
    CHECK(support::message_of<ValueError>([&] { t.step(x, y); }) ==
          "Trainer: gradient clipping does not go with LBFGS: it would change the gradient that the line search and "
          "the curvature pairs rely on");
  }
  SUBCASE("fit refuses clipping with LBFGS; make_optimizer knows lbfgs") {
    Sequential<double> net = mlp<double>({4, 8, 3}, "tanh", "softmax", 1);
    auto opt = make_optimizer<double>("lbfgs", net.parameters(), 1.0);
    CHECK(opt->name() == "lbfgs");
    CHECK(support::message_of<ValueError>([&] {
            fit(net, *opt, d.x, d.y, {.epochs = 1, .clip_norm = 1, .verbose = 0});
          }).rfind("fit: clip_norm and clip_value do not go with LBFGS", 0) == 0);
  }
}
