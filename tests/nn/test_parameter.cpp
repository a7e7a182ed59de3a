// Parameters as one leaf per recording whose adjoint backward() adds into Parameter::grad
// (PyTorch's rule: every use contributes, and gradients accumulate over backward calls until
// zero_grad). Every gradient here is checked against central finite differences of the loss
// computed with plain values, independent of the tape.
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/parameter.hpp>
#include <ad/nn/train.hpp>
#include <ad/ops.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

using namespace ad;
using namespace ad::nn;
using support::Rel;
using support::rel_err;

namespace {

xt::xarray<double> inputs() {
  xt::xarray<double> x = xt::xarray<double>::from_shape({3, 4});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = std::sin(0.7 * double(i) + 0.3);
  return x;
}

// Central differences of loss() with respect to every entry of p.value.
xt::xarray<double> finite_differences(Parameter<double>& p, const std::function<double()>& loss) {
  xt::xarray<double> g = xt::zeros_like(p.value);
  const double h = 1e-6;
  for (std::size_t i = 0; i < p.value.size(); ++i) {
    const double keep = p.value.data()[i];
    p.value.data()[i] = keep + h;
    const double up = loss();
    p.value.data()[i] = keep - h;
    const double down = loss();
    p.value.data()[i] = keep;
    g.data()[i] = (up - down) / (2 * h);
  }
  return g;
}

}  // namespace

TEST_CASE("parameter: a Linear layer applied twice gets both contributions") {
  Linear<double> lin(4, 4, /*seed=*/3);
  const xt::xarray<double> x = inputs();
  auto loss_of = [&](Tape<double>& t) { return sum(tanh(lin(tanh(lin(t.constant(x)))))); };
  auto value = [&] {
    Tape<double> t;
    return loss_of(t).item();
  };
  Tape<double> t;
  lin.zero_grad();
  auto l = loss_of(t);
  // One leaf per parameter however often the layer runs: weight, bias, nothing else.
  std::size_t leaves = 0;
  for (std::uint32_t i = 0; i < t.size(); ++i) leaves += std::string(t.node(i).op) == "parameter";
  CHECK(leaves == 2);
  t.backward(l);
  auto params = lin.parameters();
  for (auto* p : params) {
    CAPTURE(p->name);
    CHECK(rel_err(p->grad, finite_differences(*p, value), Rel::floor_one) < 1e-7);
  }
  // The first use alone would miss part of it: the gradient of one application differs.
  Tape<double> once;
  lin.zero_grad();
  once.backward(sum(tanh(lin(once.constant(x)))));
  CHECK(rel_err(params[0]->grad, finite_differences(*params[0], value), Rel::floor_one) > 1e-3);
}

TEST_CASE("parameter: one weight tied between two layers of a computation") {
  // Two layers that share their weight W (4, 4) and bias b: h = tanh(x W + b), then
  // sigmoid(h W + b). Each parameter enters twice.
  Parameter<double> w("w", {4, 4}, true), b("b", {4}, false);
  for (std::size_t i = 0; i < w.value.size(); ++i) w.value.data()[i] = 0.3 * std::cos(1.3 * double(i));
  for (std::size_t i = 0; i < b.value.size(); ++i) b.value.data()[i] = 0.1 * double(i) - 0.2;
  const xt::xarray<double> x = inputs();
  auto loss_of = [&](Tape<double>& t) {
    auto h = tanh(add(matmul(t.constant(x), w.on(t)), b.on(t)));
    return sum(mul(sigmoid(add(matmul(h, w.on(t)), b.on(t))), t.constant(x)));
  };
  auto value = [&] {
    Tape<double> t;
    return loss_of(t).item();
  };
  Tape<double> t;
  auto l = loss_of(t);
  CHECK(w.var.id() == w.on(t).id());  // the same leaf for every use
  t.backward(l);
  CHECK(rel_err(w.grad, finite_differences(w, value), Rel::floor_one) < 1e-7);
  CHECK(rel_err(b.grad, finite_differences(b, value), Rel::floor_one) < 1e-7);
}

TEST_CASE("parameter: used in the forward pass and in the L2 penalty (Trainer)") {
  Sequential<double> net = mlp<double>({4, 5, 3}, "tanh", "softmax", /*seed=*/2);
  SGD<double> opt(net.parameters(), {.lr = 0});  // lr 0: step() leaves the weights alone
  const double l2 = 0.3;
  Trainer<double> trainer(net, opt, Loss::cross_entropy, l2);
  const xt::xarray<double> x = inputs();
  const xt::xarray<double> y = {0, 2, 1};
  trainer.step(x, y);
  auto value = [&] {
    Tape<double> t;
    return trainer.loss_on(t, x, y).item();
  };
  for (auto* p : net.parameters()) {
    CAPTURE(p->name);
    CHECK(rel_err(p->grad, finite_differences(*p, value), Rel::floor_one) < 1e-7);
  }
  // A second step starts from zero: the same gradient, not twice it.
  const xt::xarray<double> first = net.parameters()[0]->grad;
  trainer.step(x, y);
  CHECK(rel_err(net.parameters()[0]->grad, first, Rel::floor_one) < 1e-15);
}

TEST_CASE("parameter: backward twice without zero_grad gives the sum, with zero_grad one") {
  Linear<double> lin(4, 2, /*seed=*/5);
  const xt::xarray<double> x = inputs();
  auto run = [&](double scale) {
    Tape<double> t;
    t.backward(mul(sum(sigmoid(lin(t.constant(x)))), t.constant(scale)));
  };
  auto params = lin.parameters();
  lin.zero_grad();
  run(1.0);
  const xt::xarray<double> g1 = params[0]->grad;
  lin.zero_grad();
  run(3.0);
  const xt::xarray<double> g3 = params[0]->grad;
  CHECK(rel_err(g3, 3.0 * g1, Rel::floor_one) < 1e-14);  // zero_grad, then one backward: that gradient alone
  run(1.0);                                    // no zero_grad: added to what was there
  CHECK(rel_err(params[0]->grad, 4.0 * g1, Rel::floor_one) < 1e-14);
  lin.zero_grad();
  for (double v : params[0]->grad) CHECK(v == 0);
  // Tape::grad (as torch.autograd.grad) returns gradients and leaves the parameters' alone.
  Tape<double> t;
  auto w = params[0]->on(t);
  auto g = t.grad(sum(sigmoid(lin(t.constant(x)))), {w});
  CHECK(rel_err(g[0], g1, Rel::floor_one) < 1e-14);
  for (double v : params[0]->grad) CHECK(v == 0);
}

TEST_CASE("parameter: a new recording gets a new leaf; a destroyed tape's handle is never reused") {
  Parameter<double> p("p", {2}, true);
  Tape<double> t;
  auto a = p.on(t);
  CHECK(p.on(t).id() == a.id());
  t.clear();
  CHECK_FALSE(a.belongs_to(t));
  auto b = p.on(t);
  CHECK(b.belongs_to(t));
  {
    Tape<double> other;
    p.on(other);
  }
  Tape<double> fresh;  // may sit where `other` was: the old handle must not pass for its own
  CHECK_FALSE(p.var.belongs_to(fresh));
  CHECK(p.on(fresh).belongs_to(fresh));
}

TEST_CASE("parameter: names are full paths in nested Sequentials, the same on every call") {
  // outer = [Sequential[Linear], Linear, Sequential[Linear, Sequential[Linear]]]
  Sequential<double> outer;
  auto first = std::make_unique<Sequential<double>>();
  first->add(std::make_unique<Linear<double>>(2, 3, 1));
  outer.add(std::move(first));
  outer.add(std::make_unique<Linear<double>>(3, 3, 2));
  auto third = std::make_unique<Sequential<double>>();
  third->add(std::make_unique<Linear<double>>(3, 2, 3, Init::pytorch_default, /*bias=*/false));
  auto deepest = std::make_unique<Sequential<double>>();
  deepest->add(std::make_unique<Linear<double>>(2, 1, 4));
  third->add(std::move(deepest));
  outer.add(std::move(third));
  const std::vector<std::string> want = {"0.0.weight", "0.0.bias", "1.weight",    "1.bias",
                                         "2.0.weight", "2.1.0.weight", "2.1.0.bias"};
  for (int call = 0; call < 3; ++call) {
    CAPTURE(call);
    std::vector<std::string> names, state_names;
    for (auto* p : outer.parameters()) names.push_back(p->name);
    CHECK(names == want);
    for (auto& [name, array] : outer.state()) state_names.push_back(name);
    CHECK(state_names == want);
  }
}

TEST_CASE("parameter: Trainer::step gives every model parameter this step's gradient only") {
  // The optimizer updates the last layer alone; the first layer's gradient must still be this
  // step's (not a running sum), because clipping measures the norm over the whole model.
  Sequential<double> net = mlp<double>({4, 5, 3}, "tanh", "softmax", /*seed=*/4);
  auto params = net.parameters();
  SGD<double> opt({params[2], params[3]}, {.lr = 0});
  Trainer<double> trainer(net, opt, Loss::cross_entropy);
  const xt::xarray<double> x = inputs();
  const xt::xarray<double> y = {1, 0, 2};
  trainer.step(x, y);
  const xt::xarray<double> first = params[0]->grad;
  trainer.step(x, y);
  CHECK(rel_err(params[0]->grad, first, Rel::floor_one) < 1e-15);  // not 2x: zeroed before each backward
  auto value = [&] {
    Tape<double> t;
    return trainer.loss_on(t, x, y).item();
  };
  CHECK(rel_err(params[0]->grad, finite_differences(*params[0], value), Rel::floor_one) < 1e-7);
}
