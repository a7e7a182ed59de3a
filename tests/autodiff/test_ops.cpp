// Every tensor op against its analytic derivative (1e-10 relative), central finite differences
// (through the public gradcheck) and float32 against float64 (1e-4 relative). The analytic
// references are computed here independently, with xtensor and xtensor-blas.
#include <ad/gradcheck.hpp>
#include <ad/ops.hpp>

#include "op_checks.hpp"

#include <doctest/doctest.h>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xrandom.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xview.hpp>

#include <cmath>
#include <functional>
#include <string>

using ad::Tape;
using ad::Var;
using Arr = xt::xarray<double>;
using op_checks::check_fd_and_float;
using op_checks::OpD;
using op_checks::OpF;
using op_checks::random_array;
using op_checks::rel_err;

namespace {

// Entry-wise relative error, with exact zeros required to be exact.
double entry_rel_err(const Arr& a, const Arr& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a.data()[i] - b.data()[i]);
    worst = std::max(worst, b.data()[i] == 0 ? d : d / std::abs(b.data()[i]));
  }
  return worst;
}

// Sums a full-shape array back to `shape` by NumPy broadcasting rules (the reference sum_to).
Arr sum_to_ref(const Arr& full, const std::vector<std::size_t>& shape) {
  Arr r = full;
  while (r.dimension() > shape.size()) r = xt::sum(r, {0});
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (shape[d] == 1 && r.shape()[d] != 1) r = xt::sum(r, {d}, xt::keep_dims);
  return r;
}

template <class Op>
std::vector<Arr> engine_grads(const Op& op, const std::vector<Arr>& inputs, const Arr& w) {
  Tape<double> t;
  std::vector<Var<double>> x;
  for (const auto& a : inputs) x.push_back(t.variable(a));
  t.backward(ad::sum(op(x) * t.constant(w)));
  std::vector<Arr> g;
  for (auto& v : x) g.push_back(v.grad());
  return g;
}

template <class Op>
Arr engine_value(const Op& op, const std::vector<Arr>& inputs) {
  Tape<double> t;
  std::vector<Var<double>> x;
  for (const auto& a : inputs) x.push_back(t.variable(a));
  return op(x).value();
}

struct UnaryCase {
  std::string name;
  std::function<Var<double>(const Var<double>&)> fd;
  std::function<Var<float>(const Var<float>&)> ff;
  std::function<double(double)> value, derivative;
  std::vector<double> points;
};

#define UNARY(NAME, EXPR, VALUE, DERIV, POINTS)                                                    \
  UnaryCase {                                                                                    \
    NAME, [](const Var<double>& x) { return EXPR; }, [](const Var<float>& x) { return EXPR; },   \
        [](double x) { (void)x; return VALUE; }, [](double x) { (void)x; return DERIV; }, POINTS                   \
  }

const std::vector<double> kAll = {-2.1, -0.7, -0.1, 0.3, 1.1, 2.5};
const std::vector<double> kPos = {0.2, 0.7, 1.3, 2.9};

double sig(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

TEST_CASE("ops: every unary op against its analytic derivative, finite differences and float32") {
  const std::vector<UnaryCase> cases = {
      UNARY("neg", -x, -x, -1.0, kAll),
      UNARY("exp", ad::exp(x), std::exp(x), std::exp(x), kAll),
      UNARY("log", ad::log(x), std::log(x), 1 / x, kPos),
      UNARY("sqrt", ad::sqrt(x), std::sqrt(x), 0.5 / std::sqrt(x), kPos),
      UNARY("pow 2", ad::pow(x, 2), x * x, 2 * x, kAll),
      UNARY("pow 3.5", ad::pow(x, 3.5), std::pow(x, 3.5), 3.5 * std::pow(x, 2.5), kPos),
      UNARY("pow -1.5", ad::pow(x, -1.5), std::pow(x, -1.5), -1.5 * std::pow(x, -2.5), kPos),
      UNARY("abs", ad::abs(x), std::abs(x), x > 0 ? 1.0 : -1.0, kAll),
      UNARY("tanh", ad::tanh(x), std::tanh(x), 1 / (std::cosh(x) * std::cosh(x)), kAll),
      UNARY("sigmoid", ad::sigmoid(x), sig(x), std::exp(-x) / ((1 + std::exp(-x)) * (1 + std::exp(-x))), kAll),
      UNARY("relu", ad::relu(x), x > 0 ? x : 0.0, x > 0 ? 1.0 : 0.0, kAll),
      UNARY("leaky_relu", ad::leaky_relu(x, 0.1), x > 0 ? x : 0.1 * x, x > 0 ? 1.0 : 0.1, kAll),
      UNARY("elu", ad::elu(x, 0.7), x > 0 ? x : 0.7 * (std::exp(x) - 1), x > 0 ? 1.0 : 0.7 * std::exp(x), kAll),
      UNARY("softplus", ad::softplus(x), std::log(1 + std::exp(x)), 1 / (1 + std::exp(-x)), kAll),
      UNARY("swish", ad::swish(x), x * sig(x), sig(x) + x * sig(x) * (1 - sig(x)), kAll),
      UNARY("silu", ad::silu(x), x * sig(x), sig(x) + x * sig(x) * (1 - sig(x)), kAll),
      UNARY("clamp", ad::clamp(x, -1, 1.5), std::min(std::max(x, -1.0), 1.5), (x >= -1 && x <= 1.5) ? 1.0 : 0.0, kAll),
      UNARY("x*x (used twice)", x * x, x * x, 2 * x, kAll),
      UNARY("x/(1+x) (scalars on both sides)", x / (1 + x), x / (1 + x), 1 / ((1 + x) * (1 + x)), kPos),
      UNARY("2-x*3", 2 - x * 3, 2 - 3 * x, -3.0, kAll),
  };
  for (const auto& c : cases) {
    SUBCASE(c.name.c_str()) {
      Arr x = xt::zeros<double>({c.points.size()});
      std::copy(c.points.begin(), c.points.end(), x.begin());
      Arr expected_value = x, expected_grad = x;
      for (std::size_t i = 0; i < x.size(); ++i) {
        expected_value(i) = c.value(x(i));
        expected_grad(i) = c.derivative(x(i));
      }
      Tape<double> t;
      auto xv = t.variable(x);
      auto y = c.fd(xv);
      CHECK(entry_rel_err(y.value(), expected_value) < 1e-14);
      t.backward(ad::sum(y));
      CHECK(entry_rel_err(xv.grad(), expected_grad) < 1e-10);
      // the same op on a (2, 3) matrix, against finite differences and in float32
      if (c.points.size() == 6) {
        Arr m = xt::reshape_view(x, {2, 3});  // only 6 points fill (2, 3) (ASan: heap overflow)
        auto opd = [&](const auto& v) { if constexpr (std::is_same_v<std::decay_t<decltype(v[0])>, Var<double>>) return c.fd(v[0]); else return c.ff(v[0]); };
        check_fd_and_float(opd, {m}, random_array({2, 3}, -1, 1, 3));
        Tape<float> tf;
        auto xf = tf.variable(xt::xarray<float>(xt::cast<float>(m)));
        tf.backward(ad::sum(c.ff(xf)));
        CHECK(rel_err(xt::cast<double>(xf.grad()), xt::reshape_view(expected_grad, {2, 3})) < 1e-4);
      } else {
        auto opd = [&](const auto& v) { if constexpr (std::is_same_v<std::decay_t<decltype(v[0])>, Var<double>>) return c.fd(v[0]); else return c.ff(v[0]); };
        check_fd_and_float(opd, {x}, random_array({x.size()}, -1, 1, 3));
      }
    }
  }
}

TEST_CASE("ops: binary ops with broadcasting against analytic derivatives") {
  struct BinaryCase {
    std::string name;
    std::function<Var<double>(const Var<double>&, const Var<double>&)> op;
    std::function<Var<float>(const Var<float>&, const Var<float>&)> opf;
    std::function<Arr(const Arr&, const Arr&)> value, da, db;
  };
  const std::vector<BinaryCase> ops = {
      {"add", [](auto& a, auto& b) { return a + b; }, [](auto& a, auto& b) { return a + b; },
       [](const Arr& a, const Arr& b) -> Arr { return a + b; },
       [](const Arr& a, const Arr&) -> Arr { return xt::ones_like(a); },
       [](const Arr&, const Arr& b) -> Arr { return xt::ones_like(b); }},
      {"sub", [](auto& a, auto& b) { return a - b; }, [](auto& a, auto& b) { return a - b; },
       [](const Arr& a, const Arr& b) -> Arr { return a - b; },
       [](const Arr& a, const Arr&) -> Arr { return xt::ones_like(a); },
       [](const Arr&, const Arr& b) -> Arr { return -xt::ones_like(b); }},
      {"mul", [](auto& a, auto& b) { return a * b; }, [](auto& a, auto& b) { return a * b; },
       [](const Arr& a, const Arr& b) -> Arr { return a * b; }, [](const Arr&, const Arr& b) -> Arr { return b; },
       [](const Arr& a, const Arr&) -> Arr { return a; }},
      {"div", [](auto& a, auto& b) { return a / b; }, [](auto& a, auto& b) { return a / b; },
       [](const Arr& a, const Arr& b) -> Arr { return a / b; },
       [](const Arr&, const Arr& b) -> Arr { return 1.0 / b; },
       [](const Arr& a, const Arr& b) -> Arr { return -a / (b * b); }},
      {"maximum", [](auto& a, auto& b) { return ad::maximum(a, b); }, [](auto& a, auto& b) { return ad::maximum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::maximum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a >= b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a < b); }},
      {"minimum", [](auto& a, auto& b) { return ad::minimum(a, b); }, [](auto& a, auto& b) { return ad::minimum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::minimum(a, b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a <= b); },
       [](const Arr& a, const Arr& b) -> Arr { return xt::cast<double>(a > b); }},
  };
  using S = std::vector<std::size_t>;
  const std::vector<std::pair<S, S>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 4}, {1, 4}}, {{4}, {3, 4}}, {{3, 1}, {1, 4}},
      {{}, {3, 4}},     {{3, 4}, {}},  {{2, 3, 4}, {3, 1}}, {{}, {}}};
  unsigned seed = 10;
  for (const auto& c : ops) {
    for (const auto& [sa, sb] : shapes) {
      const std::string label = c.name + " " + ad::shape_str(sa) + " with " + ad::shape_str(sb);
      SUBCASE(label.c_str()) {
        Arr a = random_array(sa, -2, 2, ++seed);
        Arr b = random_array(sb, 0.5, 2, ++seed);  // away from 0 for div
        Arr sum_ab = a + b;
        Arr A = xt::broadcast(a, sum_ab.shape()), B = xt::broadcast(b, sum_ab.shape());
        Arr w = random_array(S(A.shape().begin(), A.shape().end()), -1, 1, ++seed);
        auto op = [&](const auto& x) { if constexpr (std::is_same_v<std::decay_t<decltype(x[0])>, Var<double>>) return c.op(x[0], x[1]); else return c.opf(x[0], x[1]); };
        CHECK(entry_rel_err(engine_value(op, {a, b}), c.value(A, B)) < 1e-15);
        auto g = engine_grads(op, {a, b}, w);
        CHECK(entry_rel_err(g[0], sum_to_ref(w * c.da(A, B), sa)) < 1e-10);
        CHECK(entry_rel_err(g[1], sum_to_ref(w * c.db(A, B), sb)) < 1e-10);
        check_fd_and_float(op, {a, b}, w);
      }
    }
  }
}

TEST_CASE("ops: a value used twice in one binary op gets both contributions") {
  Tape<double> t;
  auto x = t.variable(Arr{1.5, -2.0});
  t.backward(ad::sum(x * x + x / x));  // d/dx (x^2 + 1) = 2x
  CHECK(entry_rel_err(x.grad(), Arr{3.0, -4.0}) < 1e-15);
}

TEST_CASE("ops: reductions along axes against analytic derivatives") {
  Arr x3 = random_array({2, 3, 4}, -2, 2, 101);
  for (int axis : {0, 1, 2, -1}) {
    for (bool keep : {false, true}) {
      const std::string label = "axis " + std::to_string(axis) + (keep ? " keepdims" : "");
      SUBCASE(label.c_str()) {
        const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + 3 : axis);
        const double n = static_cast<double>(x3.shape()[ax]);
        Arr ref_sum = xt::sum(x3, {ax}, keep ? xt::keep_dims : xt::keep_dims);
        Arr ref_max = xt::amax(x3, {ax}, xt::keep_dims);
        auto red_shape = ref_sum.shape();
        std::vector<std::size_t> out_shape(red_shape.begin(), red_shape.end());
        if (!keep) out_shape.erase(out_shape.begin() + static_cast<std::ptrdiff_t>(ax));
        Arr w = random_array(out_shape, -1, 1, 7);
        Arr wk = w;  // w with the reduced axis kept, to broadcast back
        wk.reshape(red_shape);
        Arr wfull = xt::broadcast(wk, x3.shape());

        auto sum_op = [&](const auto& v) { return ad::sum(v[0], axis, keep); };
        auto mean_op = [&](const auto& v) { return ad::mean(v[0], axis, keep); };
        auto max_op = [&](const auto& v) { return ad::max(v[0], axis, keep); };
        Arr sv = engine_value(sum_op, {x3});
        CHECK(std::vector<std::size_t>(sv.shape().begin(), sv.shape().end()) == out_shape);
        CHECK(rel_err(xt::flatten(sv), xt::flatten(ref_sum)) < 1e-15);
        CHECK(rel_err(xt::flatten(engine_value(mean_op, {x3})), xt::flatten(ref_sum) / n) < 1e-15);
        CHECK(rel_err(xt::flatten(engine_value(max_op, {x3})), xt::flatten(ref_max)) == 0);

        CHECK(entry_rel_err(engine_grads(sum_op, {x3}, w)[0], wfull) < 1e-15);
        CHECK(entry_rel_err(engine_grads(mean_op, {x3}, w)[0], wfull / n) < 1e-15);
        Arr ind = xt::cast<double>(xt::equal(x3, xt::broadcast(ref_max, x3.shape())));
        CHECK(entry_rel_err(engine_grads(max_op, {x3}, w)[0], wfull * ind) < 1e-15);
        check_fd_and_float(sum_op, {x3}, w);
        check_fd_and_float(mean_op, {x3}, w);
        check_fd_and_float(max_op, {x3}, w);
      }
    }
  }
  SUBCASE("sum and mean of everything") {
    Tape<double> t;
    auto x = t.variable(x3);
    auto y = ad::sum(x) * 2.0 + ad::mean(x) * 3.0;
    CHECK(y.item() == doctest::Approx(2 * xt::sum(x3)() + 3 * xt::mean(x3)()).epsilon(1e-14));
    t.backward(y);
    CHECK(entry_rel_err(x.grad(), xt::ones_like(x3) * (2 + 3 / 24.0)) < 1e-15);
  }
  SUBCASE("sum of everything at lengths around its 16 lanes is exact on integers") {
    // sum() adds in 16 interleaved partial sums; every length from 0 to 40 and a long odd one
    // exercises the full blocks, the tail and the pairwise combination.
    for (std::size_t n : {0, 1, 15, 16, 17, 31, 32, 33, 40, 100'003}) {
      Tape<double> t;
      Arr v = xt::arange<double>(static_cast<double>(n)) * 3.0 - 7.0;  // -7, -4, -1, ...
      const double n_ = static_cast<double>(n);
      const double expected = 3.0 * n_ * (n_ - 1) / 2 - 7.0 * n_;
      CHECK(ad::sum(t.variable(v)).item() == expected);
      Tape<float> tf;
      if (n <= 40) CHECK(ad::sum(tf.variable(xt::xarray<float>(v))).item() == static_cast<float>(expected));
    }
  }
  SUBCASE("max sends the adjoint to the first of tied maxima") {
    Tape<double> t;
    auto x = t.variable(Arr{{1.0, 3.0, 3.0}, {2.0, 2.0, 0.0}});
    t.backward(ad::sum(ad::max(x, 1)));
    CHECK(x.grad() == Arr{{0.0, 1.0, 0.0}, {1.0, 0.0, 0.0}});
  }
}

TEST_CASE("ops: softmax and log_softmax along each axis, and stable at +-1000") {
  Arr x = random_array({3, 4}, -3, 3, 55);
  for (int axis : {0, 1, -1}) {
    const std::string label = "axis " + std::to_string(axis);
    SUBCASE(label.c_str()) {
      const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + 2 : axis);
      Arr e = xt::exp(x);
      Arr se = xt::sum(e, {ax}, xt::keep_dims);  // (xtensor 0.24 mis-broadcasts a lazy reducer)
      Arr s = e / se;
      Arr w = random_array({3, 4}, -1, 1, 8);
      auto sm = [&](const auto& v) { return ad::softmax(v[0], axis); };
      auto lsm = [&](const auto& v) { return ad::log_softmax(v[0], axis); };
      CHECK(rel_err(engine_value(sm, {x}), s) < 1e-14);
      CHECK(rel_err(engine_value(lsm, {x}), xt::log(s)) < 1e-14);
      // d softmax: s (w - sum(w s));  d log_softmax: w - s sum(w)
      Arr ws = xt::sum(w * s, {ax}, xt::keep_dims);
      Arr wsum = xt::sum(w, {ax}, xt::keep_dims);
      CHECK(entry_rel_err(engine_grads(sm, {x}, w)[0], s * (w - ws)) < 1e-10);
      CHECK(entry_rel_err(engine_grads(lsm, {x}, w)[0], w - s * wsum) < 1e-10);
      check_fd_and_float(sm, {x}, w);
      check_fd_and_float(lsm, {x}, w);
    }
  }
  SUBCASE("logits of +-1000") {
    Tape<double> t;
    auto z = t.variable(Arr{{1000.0, -1000.0, 999.0}, {-1000.0, -1000.0, -1001.0}});
    auto p = ad::softmax(z, 1);
    auto lp = ad::log_softmax(z, 1);
    const double l = std::log1p(std::exp(-1.0));  // log(1 + e^-1)
    CHECK(p.value()(0, 0) == doctest::Approx(1 / (1 + std::exp(-1.0))).epsilon(1e-15));
    CHECK(p.value()(0, 1) == 0.0);
    CHECK(lp.value()(0, 0) == doctest::Approx(-l).epsilon(1e-14));
    CHECK(lp.value()(0, 1) == doctest::Approx(-2000 - l).epsilon(1e-14));
    CHECK(lp.value()(1, 0) == doctest::Approx(-std::log(2 + std::exp(-1.0))).epsilon(1e-14));
    t.backward(-ad::sum(ad::pick(lp, {0, 2})));
    for (double g : z.grad()) CHECK(std::isfinite(g));
    CHECK(z.grad()(0, 0) == doctest::Approx(1 / (1 + std::exp(-1.0)) - 1).epsilon(1e-14));
    Tape<float> tf;
    auto zf = tf.variable(xt::xarray<float>{{1000.f, -1000.f}, {-1000.f, 1000.f}});
    auto lf = ad::log_softmax(zf, 1);
    CHECK(lf.value()(0, 0) == 0.0f);
    CHECK(lf.value()(0, 1) == -2000.0f);
  }
}

TEST_CASE("ops: matmul, transpose, reshape and pick against analytic derivatives") {
  using S = std::vector<std::size_t>;
  const std::vector<std::pair<S, S>> cases = {{{3, 4}, {4, 5}}, {{4}, {4, 5}}, {{3, 4}, {4}}, {{4}, {4}}, {{1, 1}, {1, 7}}};
  unsigned seed = 200;
  for (const auto& [sa, sb] : cases) {
    const std::string label = "matmul " + ad::shape_str(sa) + " @ " + ad::shape_str(sb);
    SUBCASE(label.c_str()) {
      Arr a = random_array(sa, -1, 1, ++seed), b = random_array(sb, -1, 1, ++seed);
      Arr ref = xt::linalg::dot(a, b);
      if (sa.size() == 1 && sb.size() == 1) ref.reshape(S{});  // a dot product is 0-d, as in NumPy
      Arr w = random_array(S(ref.shape().begin(), ref.shape().end()), -1, 1, ++seed);
      auto op = [](const auto& v) { return ad::matmul(v[0], v[1]); };
      CHECK(rel_err(engine_value(op, {a, b}), ref) < 1e-14);
      auto g = engine_grads(op, {a, b}, w);
      // dA = W B^T, dB = A^T W (as outer products when an operand is a vector)
      Arr a2 = a, b2 = b, w2 = w;
      a2.reshape({sa.size() == 2 ? sa[0] : 1, sa.back()});
      b2.reshape({sb[0], sb.size() == 2 ? sb[1] : 1});
      w2.reshape({a2.shape()[0], b2.shape()[1]});
      Arr ga = xt::linalg::dot(w2, xt::transpose(b2)), gb = xt::linalg::dot(xt::transpose(a2), w2);
      ga.reshape(a.shape());
      gb.reshape(b.shape());
      CHECK(rel_err(g[0], ga) < 1e-14);
      CHECK(rel_err(g[1], gb) < 1e-14);
      check_fd_and_float(op, {a, b}, w);
    }
  }
  SUBCASE("linear: X W + b fused") {
    Arr x = random_array({4, 3}, -1, 1, 11), wt = random_array({3, 5}, -1, 1, 12), b = random_array({5}, -1, 1, 13);
    Arr w = random_array({4, 5}, -1, 1, 14);
    auto op = [](const auto& v) { return ad::linear(v[0], v[1], v[2]); };
    CHECK(rel_err(engine_value(op, {x, wt, b}), Arr(xt::linalg::dot(x, wt) + b)) < 1e-14);
    auto g = engine_grads(op, {x, wt, b}, w);
    // dX = G W^T, dW = X^T G, db = column sums of G
    CHECK(rel_err(g[0], xt::linalg::dot(w, xt::transpose(wt))) < 1e-14);
    CHECK(rel_err(g[1], xt::linalg::dot(xt::transpose(x), w)) < 1e-14);
    CHECK(rel_err(g[2], Arr(xt::sum(w, {0}))) < 1e-14);
    check_fd_and_float(op, {x, wt, b}, w);
    // grad() reaches b alone through the fused node
    Tape<double> t;
    auto xv = t.constant(x), wv = t.constant(wt), bv = t.variable(b);
    auto gb = t.grad(ad::sum(ad::linear(xv, wv, bv) * t.constant(w)), {bv});
    CHECK(rel_err(gb[0], Arr(xt::sum(w, {0}))) < 1e-14);
    CHECK_THROWS_WITH_AS(ad::linear(xv, wv, t.constant(Arr{1.0, 2.0})),
                         "linear: expects X (n, in) @ W (in, out) + b (out,), got (4, 3) @ (3, 5) + (2,)", ad::ShapeError);
  }
  SUBCASE("transpose") {
    Arr a = random_array({3, 5}, -1, 1, 1), w = random_array({5, 3}, -1, 1, 2);
    auto op = [](const auto& v) { return ad::transpose(v[0]); };
    CHECK(engine_value(op, {a}) == Arr(xt::transpose(a)));
    CHECK(engine_grads(op, {a}, w)[0] == Arr(xt::transpose(w)));
    check_fd_and_float(op, {a}, w);
  }
  SUBCASE("reshape, with an inferred dimension") {
    Arr a = random_array({3, 4}, -1, 1, 3), w = random_array({2, 6}, -1, 1, 4);
    auto op = [](const auto& v) { return ad::reshape(v[0], {2, -1}); };
    Arr y = engine_value(op, {a});
    CHECK(y.shape() == S{2, 6});
    CHECK(xt::flatten(y) == xt::flatten(a));
    Arr g = engine_grads(op, {a}, w)[0];
    CHECK(g.shape() == S{3, 4});
    CHECK(xt::flatten(g) == xt::flatten(w));
    check_fd_and_float(op, {a}, w);
  }
  SUBCASE("slice along each axis, negative indices, and its errors") {
    Arr a = random_array({3, 5}, -1, 1, 21);
    {  // rows 1..2
      Arr w = random_array({2, 5}, -1, 1, 22);
      auto op = [](const auto& v) { return ad::slice(v[0], 0, 1, 3); };
      CHECK(engine_value(op, {a}) == Arr(xt::view(a, xt::range(1, 3), xt::all())));
      Arr expected = xt::zeros<double>({3, 5});
      xt::view(expected, xt::range(1, 3), xt::all()) = w;
      CHECK(engine_grads(op, {a}, w)[0] == expected);
      check_fd_and_float(op, {a}, w);
    }
    {  // columns 1..3 as [1:-1] along axis -1
      Arr w = random_array({3, 3}, -1, 1, 23);
      auto op = [](const auto& v) { return ad::slice(v[0], -1, 1, -1); };
      CHECK(engine_value(op, {a}) == Arr(xt::view(a, xt::all(), xt::range(1, 4))));
      Arr expected = xt::zeros<double>({3, 5});
      xt::view(expected, xt::all(), xt::range(1, 4)) = w;
      CHECK(engine_grads(op, {a}, w)[0] == expected);
      check_fd_and_float(op, {a}, w);
    }
    {  // two overlapping slices of one value: both contributions arrive
      Tape<double> t;
      auto x = t.variable(Arr{1.0, 2.0, 3.0, 4.0});
      auto y = ad::sum(ad::slice(x, 0, 0, 3) * ad::slice(x, 0, 1, 4));  // x0 x1 + x1 x2 + x2 x3
      t.backward(y);
      CHECK(x.grad() == Arr{2.0, 1.0 + 3.0, 2.0 + 4.0, 3.0});
      CHECK(ad::slice(x, 0, 2, 2).shape() == std::vector<std::size_t>{0});  // empty is fine
      CHECK_THROWS_WITH_AS(ad::slice(x, 0, 1, 5),
                           "slice: [1:5] is out of range for axis 0 of shape (4,) (length 4)", ad::ShapeError);
      CHECK_THROWS_WITH_AS(ad::slice(x, 0, 3, 1),
                           "slice: [3:1] is out of range for axis 0 of shape (4,) (length 4)", ad::ShapeError);
      CHECK_THROWS_WITH_AS(ad::slice(x, 1, 0, 1), "slice: axis 1 is out of range for shape (4,)",
                           ad::ShapeError);
    }
  }
  SUBCASE("pick") {
    Arr a = random_array({3, 4}, -1, 1, 5), w = Arr{0.5, -2.0, 3.0};
    auto op = [](const auto& v) { return ad::pick(v[0], {3, 0, 3}); };
    CHECK(engine_value(op, {a}) == Arr{a(0, 3), a(1, 0), a(2, 3)});
    Arr expected = xt::zeros<double>({3, 4});
    expected(0, 3) = 0.5;
    expected(1, 0) = -2.0;
    expected(2, 3) = 3.0;
    CHECK(engine_grads(op, {a}, w)[0] == expected);
    check_fd_and_float(op, {a}, w);
  }
}

TEST_CASE("ops: sqrt(x^2 + exp(x^2)) and its derivative to 1e-12") {
  for (double x0 : {0.5, 1.0, 1.5, -2.0}) {
    for (bool scalar : {true, false}) {
      Tape<double> t;
      auto x = scalar ? t.variable(x0) : t.variable(Arr{x0});
      auto f = ad::sqrt(x * x + ad::exp(x * x));
      const double e = std::exp(x0 * x0), value = std::sqrt(x0 * x0 + e);
      const double dfdx = x0 * (1 + e) / value;
      CHECK(std::abs(f.item() - value) <= 1e-12 * std::abs(value));
      t.backward(ad::sum(f));
      CHECK(std::abs(x.grad().data()[0] - dfdx) <= 1e-12 * std::abs(dfdx));
    }
  }
}
