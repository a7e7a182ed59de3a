// Newton's method with the exact Hessian (nn/include/ad/nn/newton.hpp): quadratic convergence on
// logistic regression (and not on gradient descent: the check tells the two apart), the exact
// one-step solution of a quadratic, Levenberg damping on non-convex and singular problems, the
// line search, float, the state across steps, and the errors.
#include <ad/nn/data.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/newton.hpp>
#include <ad/nn/random.hpp>
#include <ad/ops.hpp>

#include "support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace ad;
using namespace ad::nn;
using support::has;
using support::message_of;
using support::rel_err;

namespace {

/// Logistic regression on the standardized breast-cancer training rows (a stratified 80/20 split,
/// seed 0): mean BCE of the logits + (lambda / 2) |w|^2, the model Linear(30, 1).
template <class T>
struct Logistic {
  static constexpr double lambda = 0.01;
  xt::xarray<T> x, y;
  Linear<T> model{30, 1, /*seed=*/0};
  Logistic() {
    Dataset d = load_breast_cancer();
    Split s = train_test_split(d, 0.2, 0, true);
    StandardScaler scaler;
    const xt::xarray<double> xs = scaler.fit_transform(s.train.x);
    x = xt::cast<T>(xs);
    const std::size_t n = xs.shape()[0];
    y = xt::cast<T>(xt::xarray<double>(xt::reshape_view(s.train.y, {n, std::size_t(1)})));
  }
  Var<T> operator()(Tape<T>& tape) {
    return bce_with_logits(model(tape.constant(x)), tape.constant(y)) +
           l2_penalty(tape, model.parameters(), lambda);
  }
  std::vector<double> flat() const {
    std::vector<double> v(model.weight.value.begin(), model.weight.value.end());
    v.push_back(static_cast<double>(model.bias.value(0)));
    return v;
  }
  /// The gradient by the textbook formula X^T (p - y) / n + lambda w (and mean(p - y) for b),
  /// in double: independent of the tape.
  std::vector<double> textbook_gradient() const {
    const std::size_t n = x.shape()[0], m = x.shape()[1];
    std::vector<double> g(m + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double z = static_cast<double>(model.bias.value(0));
      for (std::size_t j = 0; j < m; ++j) z += double(x(i, j)) * double(model.weight.value(j, 0));
      const double r = 1 / (1 + std::exp(-z)) - double(y(i, 0));
      for (std::size_t j = 0; j < m; ++j) g[j] += r * double(x(i, j)) / double(n);
      g[m] += r / double(n);
    }
    for (std::size_t j = 0; j < m; ++j) g[j] += lambda * double(model.weight.value(j, 0));
    return g;
  }
};

double distance(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s);
}

double norm(const std::vector<double>& a) { return distance(a, std::vector<double>(a.size(), 0.0)); }

/// The pairs (e_k, e_k+1) of a sequence of errors where e_k+1 is still above the rounding level
/// `floor`: the part of the sequence a rate can be read from.
std::vector<std::pair<double, double>> rate_pairs(const std::vector<double>& e, double floor) {
  std::vector<std::pair<double, double>> out;
  for (std::size_t k = 0; k + 1 < e.size(); ++k)
    if (e[k + 1] > floor) out.push_back({e[k], e[k + 1]});
  return out;
}

}  // namespace

TEST_CASE("Newton on logistic regression converges quadratically: e_k+1 / e_k^2 stays bounded") {
  Logistic<double> lr;
  auto params = lr.model.parameters();
  Newton<double> opt(params, {.tolerance_grad = 1e-13});
  std::vector<std::vector<double>> xs{lr.flat()};
  std::vector<double> losses;
  opt.on_iteration = [&](const NewtonState& s) {
    xs.push_back(lr.flat());
    losses.push_back(s.loss);
    CHECK(s.stop == NewtonStop::none);
    return true;
  };
  const double start = opt.step([&](Tape<double>& t) { return lr(t); });
  const NewtonState& s = opt.state();
  CHECK(start == s.start_loss);
  REQUIRE(s.stop == NewtonStop::gradient);
  CHECK(s.grad_norm <= 1e-13);
  CHECK(s.iterations < 15);
  CHECK(s.iterations == xs.size() - 1);
  CHECK(s.hessians == s.iterations);          // one Hessian per iteration
  CHECK(s.damped_iterations == 0);            // convex: H positive definite all the way
  CHECK(s.step_size == 1);                    // the full step near the end
  CHECK(s.loss == losses.back());
  // The minimizer is one: the gradient by the textbook formula vanishes there, and the
  // Parameters' grad is the tape's gradient at it.
  const auto g = lr.textbook_gradient();
  CHECK(norm(g) < 1e-13);
  for (std::size_t j = 0; j < 30; ++j) CHECK(std::fabs(lr.model.weight.grad(j, 0) - g[j]) < 1e-14);
  CHECK(std::fabs(lr.model.bias.grad(0) - g[30]) < 1e-14);

  // e_k = |x_k - x_*| with x_* the last iterate (gradient 1e-13: x_* is exact to ~1e-13).
  const auto xstar = xs.back();
  std::vector<double> e;
  for (const auto& x : xs) e.push_back(distance(x, xstar));
  const auto pairs = rate_pairs(e, 1e-10);
  std::string trace;
  for (const auto& [a, b] : pairs)
    trace += fmt::format("  e {:.3e} -> {:.3e}: /e {:.3e}, /e^2 {:.3g}\n", a, b, b / a, b / (a * a));
  INFO("Newton on logistic regression:\n" << trace);
  // The last three rate pairs (the quadratic phase): the ratio to e_k^2 stays bounded while the
  // ratio to e_k itself falls towards 0, by at least 100x over those iterations.
  REQUIRE(pairs.size() >= 3);
  const auto tail = std::vector<std::pair<double, double>>(pairs.end() - 3, pairs.end());
  for (const auto& [a, b] : tail) CHECK(b / (a * a) < 5);
  CHECK(tail[2].second / tail[2].first < 1e-3);
  CHECK(tail[2].second / tail[2].first < 1e-2 * (tail[0].second / tail[0].first));
  MESSAGE("Newton, logistic regression: " << s.iterations << " iterations; last rate pairs\n" << trace);

  // The losses fall monotonically, and so do the errors e_k.
  for (std::size_t k = 1; k < losses.size(); ++k) CHECK(losses[k] <= losses[k - 1] * (1 + 1e-15));
  for (std::size_t k = 1; k < e.size(); ++k) CHECK(e[k] < e[k - 1]);
}

TEST_CASE("The quadratic-rate check tells Newton from gradient descent (it can fail)") {
  // Gradient descent on the same problem converges linearly: e_k+1 / e_k tends to a constant
  // near 1 - 1/condition, so e_k+1 / e_k^2 grows without bound as e_k shrinks.
  Logistic<double> lr;
  auto params = lr.model.parameters();
  Newton<double> newton(params, {.tolerance_grad = 1e-13});
  Logistic<double> gd_problem;
  newton.step([&](Tape<double>& t) { return lr(t); });
  const auto xstar = lr.flat();
  std::vector<double> e;
  Tape<double> tape;
  auto gd_params = gd_problem.model.parameters();
  for (int k = 0; k < 20000; ++k) {
    e.push_back(distance(gd_problem.flat(), xstar));
    if (e.back() < 1e-4) break;
    tape.clear();
    for (auto* p : gd_params) p->zero_grad();
    tape.backward(gd_problem(tape));
    for (auto* p : gd_params) p->value -= 0.3 * p->grad;
  }
  const auto pairs = rate_pairs(e, 1e-10);
  REQUIRE(pairs.size() >= 3);
  const auto [a, b] = pairs.back();
  MESSAGE("gradient descent: " << e.size() << " iterations to e = " << e.back() << "; last e_k+1 / e_k = " << b / a
                                 << ", e_k+1 / e_k^2 = " << b / (a * a));
  CHECK(b / a > 0.5);        // linear: no faster than halving
  CHECK(b / (a * a) > 1e3);  // the bound Newton meets (5) fails by far
}

TEST_CASE("Newton solves a quadratic in one step, exactly") {
  // f(x) = 1/2 x^T A x - b^T x, A symmetric positive definite: H = A everywhere, so the first
  // Newton step lands on A^-1 b (up to the rounding of the solve).
  const std::size_t n = 8;
  Rng rng(5);
  xt::xarray<double> m = xt::xarray<double>::from_shape({n, n}), b = xt::xarray<double>::from_shape({n, 1});
  for (auto& v : m) v = rng.uniform(-1, 1);
  for (auto& v : b) v = rng.uniform(-1, 1);
  const xt::xarray<double> a = xt::linalg::dot(m, xt::transpose(m)) + 0.5 * xt::eye<double>(n);
  const xt::xarray<double> want = xt::linalg::solve(a, b);
  std::size_t calls = 0;
  const auto f = [&](const Var<double>& x) {
    ++calls;
    auto& tape = x.tape();
    return 0.5 * sum(x * matmul(tape.constant(a), x)) - sum(tape.constant(b) * x);
  };
  std::vector<double> step_sizes;
  const auto r = minimize_newton<double>(f, xt::zeros<double>({n, std::size_t(1)}), {.tolerance_grad = 1e-12},
                                         [&](const NewtonState& s) {
                                           step_sizes.push_back(s.step_size);
                                           return true;
                                         });
  CHECK(r.converged());
  CHECK(r.iterations == 1);
  CHECK(r.hessians == 1);
  CHECK(r.evaluations == 2);  // the start and the one trial, accepted at t = 1
  CHECK(step_sizes == std::vector<double>{1.0});
  CHECK(calls == 2);
  CHECK(r.damped_iterations == 0);
  CHECK(r.x.shape() == want.shape());
  CHECK(rel_err(r.x, want, support::Rel::normwise) < 1e-12);
  CHECK(r.grad_norm <= 1e-12);
  CHECK(has(r.message, "gradient norm"));
  // the minimum value is -1/2 b^T A^-1 b
  CHECK(r.f == doctest::Approx(-0.5 * xt::sum(b * want)()).epsilon(1e-13));
}

TEST_CASE("Damping: a Hessian that is not positive definite gets lambda I, and the minimum is still found") {
  SUBCASE("f = x^2 + (y^2 - 1)^2 from (0.5, 0.1), where d2f/dy2 = 12 y^2 - 4 < 0") {
    // The pure Newton step would head for the saddle at y = 0 (it solves grad = 0, and the
    // saddle is the nearest root); the damped step is a descent direction, towards y = +1.
    std::vector<double> dampings;
    const auto r = minimize_newton<double>(
        [](const Var<double>& v) {
          const auto x = slice(v, 0, 0, 1), y = slice(v, 0, 1, 2);
          const auto u = y * y - 1.0;
          return sum(x * x + u * u);
        },
        xt::xarray<double>{0.5, 0.1}, {.tolerance_grad = 1e-12},
        [&](const NewtonState& s) {
          dampings.push_back(s.damping);
          return true;
        });
    REQUIRE(r.converged());
    CHECK(r.damped_iterations >= 1);
    REQUIRE(!dampings.empty());
    // first Hessian diag(2, 12 * 0.01 - 4 = -3.88): lambda must exceed 3.88
    CHECK(dampings.front() > 3.88);
    CHECK(dampings.back() == 0);  // positive definite near y = 1: the pure Newton step again
    CHECK(std::fabs(r.x(0)) < 1e-12);
    CHECK(std::fabs(r.x(1) - 1) < 1e-12);
    CHECK(r.f < 1e-20);
  }
  SUBCASE("Rosenbrock from (-1.2, 1) and from (-1.2, 2), where H is indefinite") {
    for (double y0 : {1.0, 2.0}) {
      CAPTURE(y0);
      std::vector<double> dampings;
      Parameter<double> p("x", {2}, false);
      p.value = xt::xarray<double>{-1.2, y0};
      Newton<double> opt({&p}, {.max_iter = 100, .tolerance_grad = 1e-10});
      opt.on_iteration = [&](const NewtonState& s) {
        dampings.push_back(s.damping);
        return true;
      };
      opt.step([&](Tape<double>& tape) {
        const auto v = p.on(tape);
        const auto x = slice(v, 0, 0, 1), y = slice(v, 0, 1, 2);
        const auto t = y - x * x, u = 1.0 - x;
        return sum(100.0 * (t * t) + u * u);
      });
      const auto& s = opt.state();
      MESSAGE("Rosenbrock from (-1.2, " << y0 << "): " << s.iterations << " iterations, " << s.damped_iterations
                                        << " damped, largest lambda " << s.max_damping << ", " << s.evaluations
                                        << " evaluations");
      REQUIRE(s.stop == NewtonStop::gradient);
      CHECK(std::fabs(p.value(0) - 1) < 1e-10);
      CHECK(std::fabs(p.value(1) - 1) < 1e-10);
      CHECK(s.iterations < 40);
      const auto damped = std::count_if(dampings.begin(), dampings.end(), [](double l) { return l > 0; });
      CHECK(s.damped_iterations == static_cast<std::size_t>(damped));
      if (y0 == 2.0) {
        // H(-1.2, 2) = [[930, 480], [480, 200]] has determinant 80000 (x^2 - y) + 400 < 0: the
        // first iteration is damped
        CHECK(dampings.front() > 0);
        CHECK(s.damped_iterations >= 1);
      }
    }
  }
  SUBCASE("a singular Hessian: f = (x + y - 1)^2 has a line of minima") {
    const auto r = minimize_newton<double>(
        [](const Var<double>& v) {
          const auto s = sum(v) - 1.0;
          return sum(s * s);
        },
        xt::xarray<double>{3.0, -1.0}, {.tolerance_grad = 1e-10});
    REQUIRE(r.converged());
    CHECK(r.damped_iterations >= 1);  // [[2, 2], [2, 2]] does not factor: lambda I is added
    CHECK(std::fabs(r.x(0) + r.x(1) - 1) < 1e-10);
    // (H + lambda I) d = -g moves along g, (1, 1): the difference x - y is kept
    CHECK(std::fabs((r.x(0) - r.x(1)) - 4.0) < 1e-6);
  }
}

TEST_CASE("A parameter the loss does not use: zero rows of H, damped, left where it is") {
  Parameter<double> a("a", {3}, false), unused("b", {2}, false);
  a.value = xt::xarray<double>{0.0, 5.0, -2.0};
  unused.value = xt::xarray<double>{7.0, 8.0};
  Newton<double> opt({&a, &unused}, {.tolerance_grad = 1e-12});
  opt.step([&](Tape<double>& t) {
    const auto d = a.on(t) - 1.0;
    return sum(d * d * d * d + d * d);
  });
  CHECK(opt.state().stop == NewtonStop::gradient);
  CHECK(opt.state().damped_iterations == opt.state().iterations);  // H is singular every time
  for (std::size_t i = 0; i < 3; ++i) CHECK(std::fabs(a.value(i) - 1) < 1e-9);
  CHECK(unused.value(0) == 7.0);
  CHECK(unused.value(1) == 8.0);
  CHECK(unused.grad(0) == 0.0);
}

TEST_CASE("The line search shortens steps that overshoot; without it Newton diverges") {
  // f(x) = sqrt(1 + x^2): convex, but from |x| > 1 the full Newton step x - f'/f'' = -x^3
  // overshoots further out every time.
  const auto f = [](const Var<double>& x) { return sum(sqrt(1.0 + x * x)); };
  std::vector<double> steps;
  const auto r = minimize_newton<double>(f, xt::xarray<double>{2.0}, {.tolerance_grad = 1e-12},
                                         [&](const NewtonState& s) {
                                           steps.push_back(s.step_size);
                                           return true;
                                         });
  REQUIRE(r.converged());
  CHECK(std::fabs(r.x(0)) < 1e-12);
  REQUIRE(!steps.empty());
  CHECK(steps.front() < 1);  // the first full step (to -8) was refused
  CHECK(steps.back() == 1);  // near 0 the full step is taken
  const auto wild = minimize_newton<double>(f, xt::xarray<double>{2.0}, {.max_iter = 3, .line_search = false},
                                            [&](const NewtonState&) { return true; });
  CHECK(wild.stop == NewtonStop::max_iter);
  CHECK(wild.x(0) == doctest::Approx(-134217728.0).epsilon(1e-9));  // 2 -> -8 -> 512 -> -512^3
}

TEST_CASE("Newton in float: logistic regression to the float rounding level") {
  Logistic<float> lf;
  Logistic<double> ld;
  auto pf = lf.model.parameters();
  auto pd = ld.model.parameters();
  Newton<float> of(pf, {.tolerance_grad = 1e-5});
  Newton<double> od(pd, {.tolerance_grad = 1e-12});
  of.step([&](Tape<float>& t) { return lf(t); });
  od.step([&](Tape<double>& t) { return ld(t); });
  CHECK(of.state().stop == NewtonStop::gradient);
  CHECK(of.state().iterations < 15);
  CHECK(of.state().grad_norm <= 1e-5);
  CHECK(of.state().loss == doctest::Approx(od.state().loss).epsilon(1e-6));
  // the float minimizer agrees with the double one to the float problem's conditioning
  CHECK(distance(lf.flat(), ld.flat()) < 1e-3 * norm(ld.flat()));
  CHECK(std::is_same_v<decltype(lf.model.weight.grad)::value_type, float>);
  // and the float gradient at it, recomputed in double, is small as well
  CHECK(norm(lf.textbook_gradient()) < 1e-5);
}

TEST_CASE("Newton's state across steps, the stops, the callback") {
  Logistic<double> lr;
  auto params = lr.model.parameters();
  Newton<double> opt(params, {.max_iter = 2});
  const auto loss = [&](Tape<double>& t) { return lr(t); };
  CHECK(opt.state().stop == NewtonStop::none);
  CHECK(opt.stop_message() == "no step() yet");
  const double l0 = opt.step(loss);
  CHECK(opt.state().stop == NewtonStop::max_iter);
  CHECK(opt.state().step_iterations == 2);
  CHECK(opt.state().loss < l0);
  CHECK(has(opt.stop_message(), "max_iter: 2 iterations"));
  // the next step() continues from where the first stopped, counts add up
  const double l1 = opt.step(loss);
  CHECK(l1 == opt.state().start_loss);
  CHECK(opt.state().iterations == 4);
  opt.options.max_iter = 50;
  opt.step(loss);
  CHECK(opt.state().stop == NewtonStop::gradient);
  CHECK(opt.state().iterations < 15);
  // at the minimum: no iteration at all
  const std::size_t before = opt.state().iterations, hessians = opt.state().hessians;
  opt.step(loss);
  CHECK(opt.state().stop == NewtonStop::gradient);
  CHECK(opt.state().step_iterations == 0);
  CHECK(opt.state().iterations == before);
  CHECK(opt.state().hessians == hessians);  // converged before any Hessian is needed

  Logistic<double> lr2;
  auto params2 = lr2.model.parameters();
  Newton<double> once(params2);
  once.on_iteration = [](const NewtonState&) { return false; };
  once.step([&](Tape<double>& t) { return lr2(t); });
  CHECK(once.state().stop == NewtonStop::callback);
  CHECK(once.state().iterations == 1);
  CHECK(has(once.stop_message(), "on_iteration"));

  Logistic<double> lr3;
  auto params3 = lr3.model.parameters();
  Newton<double> coarse(params3, {.tolerance_grad = 0, .tolerance_change = 1e-6});
  coarse.step([&](Tape<double>& t) { return lr3(t); });
  CHECK(coarse.state().stop == NewtonStop::step_change);
  CHECK(has(coarse.stop_message(), "tolerance_change"));
  CHECK(std::string(stop_name(NewtonStop::line_search)) == "line_search");
}

TEST_CASE("Newton's errors name Newton and say what to do") {
  SUBCASE("bad construction") {
    CHECK(has(message_of<ValueError>([] { Newton<double>({}, {}); }), "Newton: the parameter list is empty"));
    CHECK(has(message_of<ValueError>([] { Newton<double>({nullptr}, {}); }), "Newton: a parameter pointer is null"));
    Parameter<double> big("w", {50, 50}, true);
    const auto m = message_of<ValueError>([&] { Newton<double>({&big}, {}); });
    CHECK(has(m, "Newton: 2500 parameter values, more than max_parameters = 2000"));
    CHECK(has(m, "2500 x 2500"));
    CHECK(has(m, "LBFGS"));
    Newton<double> ok({&big}, {.max_parameters = 3000});  // raising the limit is allowed
    CHECK(ok.name() == "newton");
    CHECK(has(message_of<ValueError>([&] { ok.step(); }), "step() needs the loss function"));
    CHECK(has(message_of<ValueError>([&] { ok.step(LossFn<double>{}); }), "empty loss function"));
  }
  Parameter<double> p("x", {2}, false);
  p.value = xt::xarray<double>{0.0, 1.0};
  SUBCASE("bad options, checked at step()") {
    Newton<double> opt({&p});
    const auto loss = [&](Tape<double>& t) { return sum(p.on(t) * p.on(t)); };
    opt.options.max_iter = 0;
    CHECK(has(message_of<ValueError>([&] { opt.step(loss); }), "Newton: max_iter must be >= 1, got 0"));
    opt.options = {.c1 = 1.0};
    CHECK(has(message_of<ValueError>([&] { opt.step(loss); }), "Newton: c1 must be in (0, 1), got 1"));
    opt.options = {.damping_factor = 1};
    CHECK(has(message_of<ValueError>([&] { opt.step(loss); }), "Newton: damping_factor must be > 1"));
    opt.options = {.tolerance_grad = -1};
    CHECK(has(message_of<ValueError>([&] { opt.step(loss); }), "Newton: tolerance_grad must be >= 0"));
    opt.options = {.max_parameters = 1};
    CHECK(has(message_of<ValueError>([&] { opt.step(loss); }), "more than max_parameters = 1"));
  }
  SUBCASE("a loss that is not a single value, or not on the tape given") {
    Newton<double> opt({&p});
    CHECK(has(message_of<ShapeError>([&] { opt.step([&](Tape<double>& t) { return p.on(t) * 2.0; }); }),
              "Newton: the loss has shape (2,); it must be a single value"));
    Tape<double> other;
    CHECK(has(message_of<TapeError>([&] {
                opt.step([&](Tape<double>&) { return sum(other.variable(xt::xarray<double>{1.0})); });
              }),
              "Newton: the loss function must record the loss on the tape it is given"));
  }
  SUBCASE("non-finite values: the parameters stay at the last finite point") {
    Newton<double> opt({&p});
    // log(x0 - 1) at x0 = 0: NaN at the start
    const auto m = message_of<ValueError>(
        [&] { opt.step([&](Tape<double>& t) { return sum(log(slice(p.on(t), 0, 0, 1) - 1.0)); }); });
    CHECK(has(m, "Newton: the loss at the starting point is nan"));
    // x0^1.5 + x1^2 at (0, 1): finite loss and gradient (0, 2), but d2/dx0^2 = 0.75 / sqrt(x0) = inf
    const auto h = message_of<ValueError>([&] {
      opt.step([&](Tape<double>& t) {
        const auto v = p.on(t);
        return sum(pow(slice(v, 0, 0, 1), 1.5) + slice(v, 0, 1, 2) * slice(v, 0, 1, 2));
      });
    });
    CHECK(has(h, "Newton: the Hessian at iteration 1 has a non-finite entry inf (row 0, column 0)"));
    CHECK(p.value(0) == 0.0);
    CHECK(p.value(1) == 1.0);
    // cbrt(x0) at 0: an infinite gradient at the start
    CHECK(has(message_of<ValueError>([&] { opt.step([&](Tape<double>& t) { return sum(cbrt(p.on(t))); }); }),
              "Newton: the gradient at the starting point has a non-finite entry"));
  }
  SUBCASE("minimize_newton") {
    CHECK(has(message_of<ValueError>([] {
                minimize_newton<double>([](const Var<double>& x) { return sum(x); },
                                        xt::xarray<double>::from_shape({0}));
              }),
              "minimize_newton: x0 is empty"));
    CHECK(has(message_of<ValueError>([] {
                minimize_newton<double>({}, xt::xarray<double>{1.0});
              }),
              "minimize_newton: f is empty"));
  }
}
