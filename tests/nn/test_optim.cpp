// Optimizer steps against PyTorch's formulas worked by hand, schedules, clipping, and every loss
// and penalty with its gradient against hand-computed values.
#include <ad/nn/losses.hpp>
#include <ad/nn/optim.hpp>

#include <doctest/doctest.h>

#include <cmath>

using namespace ad;
using namespace ad::nn;

namespace {
// One parameter p = [1, -2]; the first step sees grad [0.5, -1], the second [0.1, 0.2].
struct Fixture {
  Parameter<double> p{"w", {2}, true};
  Fixture() {
    p.value(0) = 1;
    p.value(1) = -2;
  }
  template <class Opt>
  void two_steps(Opt& opt, double* after1, double* after2) {
    p.grad(0) = 0.5;
    p.grad(1) = -1;
    opt.step();
    after1[0] = p.value(0), after1[1] = p.value(1);
    p.grad(0) = 0.1;
    p.grad(1) = 0.2;
    opt.step();
    after2[0] = p.value(0), after2[1] = p.value(1);
  }
};
}  // namespace

TEST_CASE("SGD: plain, weight decay, momentum, Nesterov (two steps by hand)") {
  double a[2], b[2];
  SUBCASE("plain") {
    Fixture f;
    SGD<double> opt({&f.p}, {.lr = 0.1});
    f.two_steps(opt, a, b);
    CHECK(a[0] == doctest::Approx(0.95));
    CHECK(a[1] == doctest::Approx(-1.9));
    CHECK(b[0] == doctest::Approx(0.94));
  }
  SUBCASE("weight decay: g + wd p") {
    Fixture f;
    SGD<double> opt({&f.p}, {.lr = 0.1, .weight_decay = 0.1});
    f.two_steps(opt, a, b);
    CHECK(a[0] == doctest::Approx(1 - 0.1 * (0.5 + 0.1)));  // 0.94
  }
  SUBCASE("momentum 0.9: b1 = g1, b2 = 0.9 b1 + g2") {
    Fixture f;
    SGD<double> opt({&f.p}, {.lr = 0.1, .momentum = 0.9});
    f.two_steps(opt, a, b);
    CHECK(a[0] == doctest::Approx(0.95));
    CHECK(b[0] == doctest::Approx(0.95 - 0.1 * 0.55));  // 0.895
    CHECK(b[1] == doctest::Approx(-1.9 - 0.1 * (0.9 * -1 + 0.2)));
  }
  SUBCASE("Nesterov: step with g + mu b") {
    Fixture f;
    SGD<double> opt({&f.p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    f.two_steps(opt, a, b);
    CHECK(a[0] == doctest::Approx(0.905));   // 1 - 0.1 (0.5 + 0.45)
    CHECK(b[0] == doctest::Approx(0.8455));  // 0.905 - 0.1 (0.1 + 0.9 * 0.55)
  }
  CHECK_THROWS_AS(SGD<double>({}, {.lr = 0.1, .nesterov = true}), ValueError);
}

TEST_CASE("Adagrad: s += g^2, p -= lr g / (sqrt(s) + eps)") {
  Fixture f;
  double a[2], b[2];
  Adagrad<double> opt({&f.p}, {.lr = 0.1});
  f.two_steps(opt, a, b);
  CHECK(a[0] == doctest::Approx(0.9));
  CHECK(a[1] == doctest::Approx(-1.9));
  CHECK(b[0] == doctest::Approx(0.9 - 0.1 * 0.1 / std::sqrt(0.26)));  // 0.8803884
  CHECK(b[1] == doctest::Approx(-1.9 - 0.1 * 0.2 / std::sqrt(1.04)));
}

TEST_CASE("RMSprop: v = alpha v + (1 - alpha) g^2, p -= lr g / (sqrt(v) + eps)") {
  Fixture f;
  double a[2], b[2];
  RMSprop<double> opt({&f.p}, {.lr = 0.01, .alpha = 0.99});
  f.two_steps(opt, a, b);
  CHECK(a[0] == doctest::Approx(1 - 0.01 * 0.5 / std::sqrt(0.0025)));  // 0.9
  const double v2 = 0.99 * 0.0025 + 0.01 * 0.01;
  CHECK(b[0] == doctest::Approx(a[0] - 0.01 * 0.1 / std::sqrt(v2)));  // 0.880294
  SUBCASE("centered with momentum") {
    Fixture g;
    RMSprop<double> o2({&g.p}, {.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true});
    g.two_steps(o2, a, b);
    // step 1: v = 0.1*0.25, a = 0.1*0.5, d = sqrt(0.025 - 0.0025), buf = 0.5 / d
    const double d1 = std::sqrt(0.025 - 0.0025), buf1 = 0.5 / d1;
    CHECK(a[0] == doctest::Approx(1 - 0.01 * buf1));
    const double v = 0.9 * 0.025 + 0.1 * 0.01, ga = 0.9 * 0.05 + 0.1 * 0.1;
    const double buf2 = 0.5 * buf1 + 0.1 / std::sqrt(v - ga * ga);
    CHECK(b[0] == doctest::Approx(a[0] - 0.01 * buf2));
  }
}

TEST_CASE("Adam: the first step moves each weight by lr against the gradient's sign") {
  Fixture f;
  double a[2], b[2];
  Adam<double> opt({&f.p}, {.lr = 0.1});
  f.two_steps(opt, a, b);
  CHECK(a[0] == doctest::Approx(0.9));
  CHECK(a[1] == doctest::Approx(-1.9));
  // step 2: m = 0.055, v = 0.00025975, bias corrections 0.19 and 0.001999
  const double m = 0.9 * 0.05 + 0.1 * 0.1, v = 0.999 * 0.00025 + 0.001 * 0.01;
  const double expected = 0.9 - (0.1 / 0.19) * m / (std::sqrt(v) / std::sqrt(1 - 0.999 * 0.999) + 1e-8);
  CHECK(b[0] == doctest::Approx(expected));
  CHECK(b[0] == doctest::Approx(0.819696).epsilon(1e-5));
}

TEST_CASE("Adam with L2 weight decay vs AdamW's decoupled decay") {
  double a[2], b[2];
  Fixture f;
  AdamW<double> w({&f.p}, {.lr = 0.1, .weight_decay = 0.01});
  f.two_steps(w, a, b);
  CHECK(a[0] == doctest::Approx(1 * (1 - 0.001) - 0.1));  // 0.899
  CHECK(w.name() == "adamw");
  Fixture g;
  Adam<double> l2({&g.p}, {.lr = 0.1, .weight_decay = 0.5});
  g.two_steps(l2, a, b);
  CHECK(a[0] == doctest::Approx(0.9));  // the first step is sign-like whatever the gradient
  // step 2 gradient 0.1 + 0.5 * 0.9 = 0.55
  const double g1 = 0.5 + 0.5, g2 = 0.1 + 0.5 * 0.9;
  const double m = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
  CHECK(b[0] == doctest::Approx(0.9 - (0.1 / 0.19) * m / (std::sqrt(v) / std::sqrt(1 - 0.998001) + 1e-8)));
}

TEST_CASE("float optimizers follow the same formulas") {
  Parameter<float> p("w", {1}, true);
  p.value(0) = 1;
  p.grad(0) = 0.5f;
  Adam<float> opt({&p}, {.lr = 0.1});
  opt.step();
  CHECK(p.value(0) == doctest::Approx(0.9f));
}

TEST_CASE("learning-rate schedules") {
  CHECK(LrSchedule::step(10, 0.5).at(0.1, 9) == doctest::Approx(0.1));
  CHECK(LrSchedule::step(10, 0.5).at(0.1, 25) == doctest::Approx(0.025));
  CHECK(LrSchedule::exponential(0.9).at(1, 2) == doctest::Approx(0.81));
  CHECK(LrSchedule::cosine(10, 0.0).at(1, 5) == doctest::Approx(0.5));
  CHECK(LrSchedule::cosine(10, 0.1).at(1, 10) == doctest::Approx(0.1));
  CHECK(LrSchedule::constant().at(0.3, 100) == 0.3);
}

TEST_CASE("gradient clipping by norm and by value") {
  Parameter<double> a("a", {2}, true), b("b", {1}, false);
  a.grad(0) = 3;
  a.grad(1) = 0;
  b.grad(0) = 4;
  CHECK(clip_grad_norm<double>({&a, &b}, 1.0) == doctest::Approx(5));
  CHECK(a.grad(0) == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(b.grad(0) == doctest::Approx(0.8).epsilon(1e-5));
  CHECK(clip_grad_norm<double>({&a, &b}, 10.0) == doctest::Approx(1).epsilon(1e-5));
  CHECK(b.grad(0) == doctest::Approx(0.8).epsilon(1e-5));  // under the limit: unchanged
  clip_grad_value<double>({&a, &b}, 0.5);
  CHECK(a.grad(0) == 0.5);
  CHECK(b.grad(0) == 0.5);
}

// ---- losses --------------------------------------------------------------------------------
namespace {
xt::xarray<double> arr(std::vector<std::size_t> shape, std::initializer_list<double> v) {
  xt::xarray<double> a = xt::xarray<double>::from_shape(shape);
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}
}  // namespace

TEST_CASE("mse_loss and its gradient 2 (p - t) / n") {
  Tape<double> t;
  auto p = t.variable(arr({3}, {1, 2, 3}));
  auto l = mse_loss(p, t.constant(arr({3}, {1, 1, 1})));
  CHECK(l.item() == doctest::Approx(5.0 / 3));
  t.backward(l);
  CHECK(p.grad()(1) == doctest::Approx(2.0 / 3));
  CHECK(p.grad()(2) == doctest::Approx(4.0 / 3));
  CHECK_THROWS_AS(mse_loss(p, t.constant(arr({3, 1}, {1, 1, 1}))), ShapeError);
}

TEST_CASE("bce_loss from probabilities (clamped) and bce_with_logits") {
  Tape<double> t;
  auto p = t.variable(arr({2}, {0.8, 0.3}));
  auto y = t.constant(arr({2}, {1, 0}));
  auto l = bce_loss(p, y);
  CHECK(l.item() == doctest::Approx(-(std::log(0.8) + std::log(0.7)) / 2));  // 0.2899092
  t.backward(l);
  CHECK(p.grad()(0) == doctest::Approx(-1 / 0.8 / 2));
  CHECK(p.grad()(1) == doctest::Approx(1 / 0.7 / 2));
  auto extreme = bce_loss(t.constant(arr({2}, {0.0, 1.0})), y);  // clamped: finite
  CHECK(std::isfinite(extreme.item()));
  CHECK(extreme.item() == doctest::Approx(-std::log(1e-7)).epsilon(1e-6));

  auto z = t.variable(arr({2}, {0, 2}));
  auto lz = bce_with_logits(z, y);
  CHECK(lz.item() == doctest::Approx((std::log(2.0) + std::log1p(std::exp(2.0))) / 2));  // 1.410038
  t.backward(lz);
  CHECK(z.grad()(0) == doctest::Approx(-0.25));                              // (s(0) - 1) / 2
  CHECK(z.grad()(1) == doctest::Approx(1 / (1 + std::exp(-2.0)) / 2));      // s(2) / 2
  auto big = bce_with_logits(t.constant(arr({1}, {1000})), t.constant(arr({1}, {0})));
  CHECK(big.item() == doctest::Approx(1000));  // stable for huge logits
}

TEST_CASE("cross_entropy from logits with integer labels and with one-hot targets") {
  Tape<double> t;
  auto z = t.variable(arr({2, 3}, {0, 0, 0, 1, 2, 3}));
  auto l = cross_entropy(z, std::vector<std::size_t>{0, 2});
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  CHECK(l.item() == doctest::Approx((std::log(3.0) + lse - 3) / 2));  // 0.7531091
  t.backward(l);
  CHECK(z.grad()(0, 0) == doctest::Approx((1.0 / 3 - 1) / 2));          // (softmax - onehot) / n
  CHECK(z.grad()(1, 2) == doctest::Approx((std::exp(3 - lse) - 1) / 2));
  CHECK(z.grad()(1, 0) == doctest::Approx(std::exp(1 - lse) / 2));
  auto l1 = cross_entropy(z, t.constant(arr({2, 3}, {1, 0, 0, 0, 0, 1})));
  CHECK(l1.item() == doctest::Approx(l.item()));
  CHECK_THROWS_AS(cross_entropy(z, std::vector<std::size_t>{0}), ShapeError);
}

TEST_CASE("L2 (lambda/2 sum w^2, biases excluded) and L1 penalties") {
  Parameter<double> w("w", {2, 2}, true), b("b", {1}, false);
  w.value = arr({2, 2}, {1, 2, 3, -4});
  b.value(0) = 5;
  Tape<double> t;
  auto l2 = l2_penalty<double>(t, {&w, &b}, 0.1);
  CHECK(l2.item() == doctest::Approx(0.05 * 30));
  t.backward(l2);
  CHECK(w.grad(1, 1) == doctest::Approx(-0.4));  // lambda w
  CHECK(b.grad(0) == 0);
  t.clear();
  CHECK(l2_penalty<double>(t, {&w, &b}, 0.1, true).item() == doctest::Approx(0.05 * 55));
  t.clear();
  auto l1 = l1_penalty<double>(t, {&w, &b}, 0.1);
  CHECK(l1.item() == doctest::Approx(1.0));
  w.zero_grad();
  t.backward(l1);
  CHECK(w.grad(1, 1) == doctest::Approx(-0.1));
}
