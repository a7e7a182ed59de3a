// nn model tests: Linear against X W + b by hand, initializer statistics and draw order, seeds,
// Dropout and BatchNorm1d modes, and the gradients of an MLP loss against finite differences.
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>

#include <doctest/doctest.h>

#include "support.hpp"

#include <cmath>
#include <cstring>

using namespace ad;
using namespace ad::nn;

namespace {
xt::xarray<double> matrix(std::size_t r, std::size_t c, std::initializer_list<double> v) {
  xt::xarray<double> a = xt::xarray<double>::from_shape({r, c});
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}
double mean_of(const xt::xarray<double>& a) {
  double s = 0;
  for (double v : a) s += v;
  return s / static_cast<double>(a.size());
}
double var_of(const xt::xarray<double>& a) {
  const double m = mean_of(a);
  double s = 0;
  for (double v : a) s += (v - m) * (v - m);
  return s / static_cast<double>(a.size());
}
}  // namespace

TEST_CASE("Linear computes Z = X W + b (batch-major, W is (in, out))") {
  Linear<double> lin(3, 2, std::uint64_t{0});
  lin.weight.value = matrix(3, 2, {1, 2, 3, 4, 5, 6});
  lin.bias.value = xt::xarray<double>::from_shape({2});
  lin.bias.value(0) = 0.5;
  lin.bias.value(1) = -1;
  Tape<double> t;
  auto z = lin(t.constant(matrix(2, 3, {1, 0, -1, 2, 1, 0.5})));
  REQUIRE(z.shape()[0] == 2);
  REQUIRE(z.shape()[1] == 2);
  // row 0: [1*1 + 0*3 - 1*5, 1*2 + 0*4 - 1*6] + b = [-4 + 0.5, -4 - 1]
  CHECK(z.value()(0, 0) == doctest::Approx(-3.5));
  CHECK(z.value()(0, 1) == doctest::Approx(-5));
  // row 1: [2 + 3 + 2.5, 4 + 4 + 3] + b = [7.5 + 0.5, 11 - 1]
  CHECK(z.value()(1, 0) == doctest::Approx(8));
  CHECK(z.value()(1, 1) == doctest::Approx(10));
  CHECK_THROWS_AS(lin(t.constant(matrix(2, 2, {1, 2, 3, 4}))), ShapeError);
}

TEST_CASE("pytorch_default draws W row-major then b from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), layer by layer") {
  Rng rng(9), ref(9);
  Linear<double> a(4, 3, rng), b(3, 2, rng);
  const double ba = 0.5, bb = 1 / std::sqrt(3.0);
  for (double v : a.weight.value) CHECK(v == ref.uniform(-ba, ba));
  for (double v : a.bias.value) CHECK(v == ref.uniform(-ba, ba));
  for (double v : b.weight.value) CHECK(v == ref.uniform(-bb, bb));
  for (double v : b.bias.value) CHECK(v == ref.uniform(-bb, bb));
  // the mlp builder does the same, and float models start from the same numbers rounded
  auto net = mlp<double>({4, 3, 2}, "relu", "identity", 9);
  auto netf = mlp<float>({4, 3, 2}, "relu", "identity", 9);
  auto p = net.parameters();
  auto pf = netf.parameters();
  REQUIRE(p.size() == 4);
  CHECK(p[0]->value == a.weight.value);
  CHECK(p[3]->value == b.bias.value);
  CHECK(pf[0]->value(1, 2) == static_cast<float>(a.weight.value(1, 2)));
  CHECK(p[0]->name == "0.weight");
  CHECK(p[3]->name == "2.bias");
  CHECK_FALSE(p[1]->decay);
}

TEST_CASE("initializer statistics") {
  Rng rng(3);
  const std::size_t fi = 200, fo = 300;
  xt::xarray<double> w = xt::xarray<double>::from_shape({fi, fo});
  SUBCASE("xavier_uniform") {
    xavier_uniform_(w, rng);
    const double a = std::sqrt(6.0 / (fi + fo));
    for (double v : w) REQUIRE(std::abs(v) <= a);
    CHECK(var_of(w) == doctest::Approx(a * a / 3).epsilon(0.03));
    CHECK(std::abs(mean_of(w)) < 0.01 * a);
  }
  SUBCASE("xavier_normal") {
    xavier_normal_(w, rng);
    CHECK(var_of(w) == doctest::Approx(2.0 / (fi + fo)).epsilon(0.03));
  }
  SUBCASE("he_uniform") {
    he_uniform_(w, rng);
    CHECK(var_of(w) == doctest::Approx(2.0 / fi).epsilon(0.03));
  }
  SUBCASE("he_normal") {
    he_normal_(w, rng);
    CHECK(var_of(w) == doctest::Approx(2.0 / fi).epsilon(0.03));
    CHECK(std::abs(mean_of(w)) < 0.01);
  }
  SUBCASE("small_normal and zero bias") {
    xt::xarray<double> b = xt::xarray<double>::from_shape({fo});
    init_linear(w, &b, Init::small_normal, rng);
    CHECK(std::sqrt(var_of(w)) == doctest::Approx(0.01).epsilon(0.03));
    for (double v : b) CHECK(v == 0);
  }
  SUBCASE("pytorch_default") {
    init_linear(w, static_cast<xt::xarray<double>*>(nullptr), Init::pytorch_default, rng);
    const double a = 1 / std::sqrt(double(fi));
    for (double v : w) REQUIRE(std::abs(v) <= a);
    CHECK(var_of(w) == doctest::Approx(a * a / 3).epsilon(0.03));
  }
  CHECK(init_from_name("glorot_uniform") == Init::xavier_uniform);
  CHECK_THROWS_AS(init_from_name("nope"), ValueError);
}

TEST_CASE("same seed, same weights bit for bit; another seed, other weights") {
  auto a = mlp<double>({5, 7, 3}, "tanh", "softmax", 42);
  auto b = mlp<double>({5, 7, 3}, "tanh", "softmax", 42);
  auto c = mlp<double>({5, 7, 3}, "tanh", "softmax", 43);
  auto pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
  for (std::size_t k = 0; k < pa.size(); ++k) {
    CHECK(std::memcmp(pa[k]->value.data(), pb[k]->value.data(), pa[k]->size() * sizeof(double)) == 0);
    CHECK(pa[k]->value != pc[k]->value);
  }
}

TEST_CASE("activations by name") {
  Tape<double> t;
  auto x = t.constant(matrix(1, 3, {-1, 0, 2}));
  CHECK(activate(x, "relu").value()(0, 0) == 0);
  CHECK(activate(x, "leaky_relu", 0.1).value()(0, 0) == doctest::Approx(-0.1));
  CHECK(activate(x, "sigmoid").value()(0, 1) == doctest::Approx(0.5));
  CHECK(activate(x, "identity").value()(0, 2) == 2);
  CHECK(activate(x, "softplus").value()(0, 1) == doctest::Approx(std::log(2.0)));
  auto sm = activate(x, "softmax").value();
  CHECK(sm(0, 0) + sm(0, 1) + sm(0, 2) == doctest::Approx(1));
  CHECK(Activation<double>("elu").forward(x).value()(0, 0) == doctest::Approx(std::exp(-1.0) - 1));
  CHECK_THROWS_AS(Activation<double>("gelu?"), ValueError);
}

TEST_CASE("activations by name: every function of one argument of the op rules") {
  Tape<double> t;
  auto x = t.constant(matrix(1, 3, {-0.5, 0.25, 0.75}));
#define EACH_RULE(Rule, fn)                                                         \
  {                                                                                \
    CAPTURE(#fn);                                                                  \
    const auto got = activate(x, #fn).value(), want = ad::fn(x).value();           \
    for (std::size_t j = 0; j < 3; ++j)                                            \
      CHECK((got(0, j) == want(0, j) || (std::isnan(got(0, j)) && std::isnan(want(0, j))))); \
    CHECK(Activation<double>(#fn).spec() == std::string("activation ") + #fn);     \
  }
  AD_UNARY_RULES(EACH_RULE)
#undef EACH_RULE
  CHECK(activate(x, "erf").value()(0, 2) == doctest::Approx(std::erf(0.75)));
  CHECK(activate(x, "silu").value()(0, 2) == activate(x, "swish").value()(0, 2));
  CHECK(activate(x, "linear").value()(0, 0) == -0.5);
  const std::string m = support::message_of<ValueError>([] { Activation<double>("gelu?"); });
  CHECK(m.rfind("activation: unknown name 'gelu?'; use one of identity, linear, leaky_relu, elu, softmax, silu, exp, ", 0) == 0);
  CHECK(m.find(", relu") != std::string::npos);
}

TEST_CASE("Dropout: identity in eval mode, inverted dropout in training") {
  Dropout<double> d(0.5, 7);
  Tape<double> t;
  xt::xarray<double> x = xt::xarray<double>::from_shape({100, 50});
  std::fill(x.begin(), x.end(), 1.0);
  auto xv = t.constant(x);
  d.eval();
  auto y = d(xv);
  CHECK(y.id() == xv.id());  // nothing recorded
  d.train();
  auto z = d(xv).value();
  std::size_t zeros = 0;
  for (double v : z) {
    CHECK((v == 0 || v == 2));
    zeros += v == 0;
  }
  CHECK(std::abs(double(zeros) / z.size() - 0.5) < 0.03);
}

TEST_CASE("BatchNorm1d: batch statistics in training, running statistics in eval") {
  BatchNorm1d<double> bn(2, 0.1, 1e-5);
  Tape<double> t;
  auto x = matrix(4, 2, {1, 10, 2, 20, 3, 30, 4, 40});
  auto y = bn(t.constant(x)).value();
  // column 0: mean 2.5, biased var 1.25
  CHECK(y(0, 0) == doctest::Approx((1 - 2.5) / std::sqrt(1.25 + 1e-5)));
  CHECK(y(3, 1) == doctest::Approx((40 - 25) / std::sqrt(125 + 1e-5)));
  // running = 0.9 * initial + 0.1 * batch (unbiased variance 1.25 * 4/3)
  CHECK(bn.running_mean(0) == doctest::Approx(0.25));
  CHECK(bn.running_var(0) == doctest::Approx(0.9 + 0.1 * 1.25 * 4 / 3));
  bn.eval();
  bn.running_mean(0) = 1;
  bn.running_var(0) = 4;
  bn.gamma.value(0) = 2;
  bn.beta.value(0) = 0.5;
  t.clear();
  auto e = bn(t.constant(x)).value();
  CHECK(e(2, 0) == doctest::Approx(2 * (3 - 1) / std::sqrt(4 + 1e-5) + 0.5));
  CHECK(bn.running_mean(0) == 1);  // eval leaves the statistics alone
}

TEST_CASE("MLP loss gradients agree with central finite differences") {
  auto net = mlp<double>({3, 5, 4, 3}, "tanh", "identity", 11);
  net.add(std::make_unique<Dropout<double>>(0.0));  // a no-op layer must not disturb anything
  auto params = net.parameters();
  Rng rng(5);
  xt::xarray<double> x = xt::xarray<double>::from_shape({6, 3});
  for (auto& v : x) v = rng.normal();
  const std::vector<std::size_t> labels = {0, 2, 1, 1, 0, 2};
  Tape<double> t;
  auto loss_value = [&]() {
    t.clear();
    auto out = net(t.constant(x));
    return add(cross_entropy(out, labels), l2_penalty(t, params, 0.1));
  };
  auto loss = loss_value();
  for (auto* p : params) p->zero_grad();
  t.backward(loss);
  std::vector<xt::xarray<double>> analytic;
  for (auto* p : params) analytic.push_back(p->grad);
  const double h = 1e-6;
  for (std::size_t k = 0; k < params.size(); ++k) {
    for (std::size_t i = 0; i < params[k]->size(); ++i) {
      double& w = params[k]->value.data()[i];
      const double w0 = w;
      NoGradGuard ng;
      w = w0 + h;
      const double up = loss_value().item();
      w = w0 - h;
      const double down = loss_value().item();
      w = w0;
      const double fd = (up - down) / (2 * h);
      INFO(params[k]->name << "[" << i << "]");
      CHECK(analytic[k].data()[i] == doctest::Approx(fd).epsilon(1e-6).scale(1));
    }
  }
}
