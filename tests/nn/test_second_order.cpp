// Hessian-vector products of MLP losses (nn::hvp, nn::hessian): every hidden activation, with
// cross-entropy, MSE and BCE with logits, with and without an L2 penalty, against central
// differences of the gradient; the explicit Hessian of a tiny network against the products.
#include <ad/nn.hpp>

#include "support.hpp"

#include <doctest/doctest.h>
#include <xtensor/xrandom.hpp>

using namespace ad;
using Arr = xt::xarray<double>;
using support::Rel;
using support::rel_err;

namespace {

Arr uniform(const std::vector<std::size_t>& shape, unsigned seed) {
  xt::random::seed(seed);
  return xt::random::rand<double>(shape, -1, 1);
}

enum class LossKind { cross_entropy, mse, bce_with_logits };

struct Problem {
  nn::Sequential<double> model;
  std::vector<nn::Parameter<double>*> params;
  Arr X, target;
  std::vector<std::size_t> labels;
  LossKind kind;
  double l2;

  Problem(const std::string& act, LossKind k, double lambda)
      : model(nn::mlp<double>({3, 4, k == LossKind::bce_with_logits ? 1u : 2u}, act, "identity", 7)),
        kind(k), l2(lambda) {
    params = model.parameters();
    X = uniform({5, 3}, 1) * 2.0;
    labels = {0, 1, 1, 0, 1};
    if (k == LossKind::bce_with_logits) {
      target = xt::zeros<double>({5, 1});
      for (std::size_t i : {0, 2, 3}) target(i, 0) = 1;
    } else {
      target = uniform({5, 2}, 2);
    }
  }

  Var<double> loss(Tape<double>& t) {
    Var<double> out = model(t.constant(X));
    Var<double> l = kind == LossKind::cross_entropy ? nn::cross_entropy(out, labels)
                    : kind == LossKind::mse         ? nn::mse_loss(out, t.constant(target))
                                                    : nn::bce_with_logits(out, t.constant(target));
    if (l2 > 0) l = l + nn::l2_penalty(t, params, l2);
    return l;
  }

  // The gradient at the given parameter values (at the current ones if none are given).
  std::vector<Arr> gradient_at(const std::vector<Arr>& values) {
    std::vector<Arr> saved;
    for (std::size_t i = 0; i < values.size(); ++i) {
      saved.push_back(params[i]->value);
      params[i]->value = values[i];
    }
    Tape<double> t;
    Var<double> y = loss(t);
    std::vector<Var<double>> xs;
    for (auto* p : params) xs.push_back(p->on(t));
    auto g = t.grad(y, xs);
    for (std::size_t i = 0; i < values.size(); ++i) params[i]->value = saved[i];
    return g;
  }
};

}  // namespace

// The activations defined on all of R (the others, log, sqrt, asin, ... and tan with its poles,
// are not hidden-layer activations; their second derivatives are checked on their own domains
// with every tensor op in tests/autodiff/ops).
bool defined_everywhere(const std::string& act) {
  for (const char* partial : {"log", "log2", "log1p", "sqrt", "asin", "acos", "acosh", "atanh", "tan"})
    if (act == partial) return false;
  return true;
}

TEST_CASE("nn::hvp: MLP losses, every activation, against differences of the gradient") {
  int tried = 0;
  for (const std::string& act : nn::activation_names())
    if (defined_everywhere(act))
    for (LossKind kind : {LossKind::cross_entropy, LossKind::mse, LossKind::bce_with_logits})
      for (double l2 : {0.0, 0.05}) {
        INFO("activation " << act << ", loss " << static_cast<int>(kind) << ", l2 " << l2);
        Problem pr(act, kind, l2);
        std::vector<Arr> v, plus, minus;
        const double h = 1e-5;
        for (std::size_t i = 0; i < pr.params.size(); ++i) {
          v.push_back(uniform({pr.params[i]->value.shape().begin(), pr.params[i]->value.shape().end()}, 10 + i));
          plus.push_back(pr.params[i]->value + h * v.back());
          minus.push_back(pr.params[i]->value - h * v.back());
        }
        for (auto* p : pr.params) p->grad = xt::zeros<double>(p->value.shape());
        nn::LossFn<double> f = [&](Tape<double>& t) { return pr.loss(t); };
        const auto r = nn::hvp(pr.params, f, v);
        const auto gp = pr.gradient_at(plus), gm = pr.gradient_at(minus);
        REQUIRE(r.hvp.size() == pr.params.size());
        std::vector<Arr> fd;
        for (std::size_t i = 0; i < pr.params.size(); ++i) fd.push_back((gp[i] - gm[i]) / (2 * h));
        // as one vector: the blocks differ in scale (a bias block of an MSE loss can be tiny)
        CHECK(rel_err(nn::flatten_blocks(r.hvp), nn::flatten_blocks(fd), Rel::normwise) < 1e-6);
        // the gradient that comes along is the gradient; the parameters' grad buffers are untouched
        CHECK(rel_err(nn::flatten_blocks(r.gradient), nn::flatten_blocks(pr.gradient_at({})), Rel::normwise) < 1e-15);
        for (auto* p : pr.params) CHECK(xt::all(xt::equal(p->grad, 0.0)));
        // the loss at the point
        Tape<double> t;
        CHECK(r.loss == pr.loss(t).item());
        ++tried;
      }
  CHECK(tried == 6 * static_cast<int>(nn::activation_names().size() - 9));
}

TEST_CASE("nn::hessian: a tiny network's Hessian, column by column, is symmetric and gives hvp") {
  for (const std::string& act : {std::string("tanh"), std::string("sigmoid"), std::string("relu")}) {
    INFO("activation " << act);
    Problem pr(act, LossKind::cross_entropy, 0.05);
    nn::LossFn<double> f = [&](Tape<double>& t) { return pr.loss(t); };
    const Arr H = nn::hessian(pr.params, f);
    const std::size_t n = nn::count_parameters(pr.params);
    REQUIRE(H.shape()[0] == n);
    REQUIRE(H.shape()[1] == n);
    // Every column against central differences of the gradient along that unit direction
    const double h = 1e-5;
    Arr fd = xt::zeros<double>({n, n});
    const Arr x0 = nn::flatten_values(pr.params);
    for (std::size_t c = 0; c < n; ++c) {
      auto at = [&](double s) {
        Arr x = x0;
        x(c) += s;
        nn::unflatten_into(x, pr.params);
        return nn::flatten_blocks(pr.gradient_at({}));
      };
      const Arr col = (at(h) - at(-h)) / (2 * h);
      for (std::size_t r = 0; r < n; ++r) fd(r, c) = col(r);
    }
    nn::unflatten_into(x0, pr.params);
    CHECK(rel_err(H, fd, Rel::normwise) < 1e-6);
    CHECK(rel_err(H, Arr(xt::transpose(H)), Rel::entrywise) == 0);
    // H v against hvp
    std::vector<Arr> v;
    for (std::size_t i = 0; i < pr.params.size(); ++i)
      v.push_back(uniform({pr.params[i]->value.shape().begin(), pr.params[i]->value.shape().end()}, 30 + i));
    const Arr flat_v = nn::flatten_blocks(v);
    Arr Hv = xt::zeros<double>({n});
    for (std::size_t r = 0; r < n; ++r)
      for (std::size_t c = 0; c < n; ++c) Hv(r) += H(r, c) * flat_v(c);
    CHECK(rel_err(Hv, nn::flatten_blocks(nn::hvp(pr.params, f, v).hvp), Rel::normwise) < 1e-12);
  }
}

TEST_CASE("nn::hvp: float, errors that name the call") {
  auto model = nn::mlp<float>({2, 3, 1}, "tanh", "identity", 3);
  auto params = model.parameters();
  xt::xarray<float> X = {{0.5f, -1.0f}, {1.5f, 0.25f}};
  nn::LossFn<float> f = [&](Tape<float>& t) { return ad::sum(model(t.constant(X))); };
  std::vector<xt::xarray<float>> v;
  for (auto* p : params) v.push_back(xt::ones<float>(p->value.shape()));
  // float against double on the same weights
  auto md = nn::mlp<double>({2, 3, 1}, "tanh", "identity", 3);
  auto pd = md.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) pd[i]->value = xt::cast<double>(params[i]->value);
  nn::LossFn<double> fd = [&](Tape<double>& t) { return ad::sum(md(t.constant(Arr(xt::cast<double>(X))))); };
  std::vector<Arr> vd;
  for (auto* p : pd) vd.push_back(xt::ones<double>(p->value.shape()));
  CHECK(rel_err(nn::flatten_blocks(nn::hvp(params, f, v).hvp), nn::flatten_blocks(nn::hvp(pd, fd, vd).hvp), Rel::normwise) < 1e-5);

  CHECK(support::message_of<ShapeError>([&] { nn::hvp(params, f, std::vector<xt::xarray<float>>{v[0]}); }) ==
        "hvp: 4 parameters but 1 direction blocks");
  auto bad = v;
  bad[0] = xt::ones<float>({3});
  CHECK(support::message_of<ShapeError>([&] { nn::hvp(params, f, bad); }) ==
        "hvp: direction block 0 has shape (3,), parameter 0.weight has shape (2, 3)");
  nn::LossFn<float> not_scalar = [&](Tape<float>& t) { return model(t.constant(X)); };
  CHECK(support::message_of<ShapeError>([&] { nn::hvp(params, not_scalar, v); }) ==
        "hvp: the loss has shape (2, 1); it must be a single value");
  Tape<float> other;
  nn::LossFn<float> elsewhere = [&](Tape<float>&) { return ad::sum(model(other.constant(X))); };
  CHECK(support::message_of<TapeError>([&] { nn::hvp(params, elsewhere, v); }) ==
        "hvp: the loss function must record the loss on the tape it is given");
  CHECK(support::message_of<ValueError>([&] { nn::hessian<float>({}, f); }) ==
        "hessian: the parameter list is empty");
}
