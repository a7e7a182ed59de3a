// Shape mismatches at every public entry point, each with its exact ad::ShapeError message:
// tensor ops (broadcasting, matmul, reshape, axes, pick, backward seeds), Linear and BatchNorm1d
// forward, the losses, fit / evaluate / predict with x and y that do not pair up, the metrics,
// and gradcheck. After each error the tape stays usable.
#include "common.hpp"

#include <ad/gradcheck.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/train.hpp>
#include <ad/ops.hpp>
#include <ad/tape.hpp>

#include <fmt/format.h>
#include <xtensor/xbuilder.hpp>

#include <limits>

using namespace robust;
using Arr = xt::xarray<double>;

namespace {
Arr zeros(std::vector<std::size_t> shape) { return xt::zeros<double>(shape); }
}  // namespace

TEST_CASE("shape mismatches: tensor ops name the op and both shapes") {
  ad::Tape<double> t;
  auto a = t.variable(zeros({2, 3}));
  auto b = t.variable(zeros({4}));
  auto m = t.variable(zeros({2, 5}));
  auto s = [&](auto f) { return message_of<ad::ShapeError>(f); };
  CHECK(s([&] { a + b; }) == "add: shapes (2, 3) and (4,) do not broadcast (axis 1: 3 vs 4)");
  CHECK(s([&] { a - b; }) == "sub: shapes (2, 3) and (4,) do not broadcast (axis 1: 3 vs 4)");
  CHECK(s([&] { a * m; }) == "mul: shapes (2, 3) and (2, 5) do not broadcast (axis 1: 3 vs 5)");
  CHECK(s([&] { m / a; }) == "div: shapes (2, 5) and (2, 3) do not broadcast (axis 1: 5 vs 3)");
  CHECK(s([&] { ad::maximum(a, b); }) == "max: shapes (2, 3) and (4,) do not broadcast (axis 1: 3 vs 4)");
  CHECK(s([&] { ad::matmul(a, m); }) == "matmul: inner dimensions differ: (2, 3) @ (2, 5)");
  CHECK(s([&] { ad::matmul(a, t.variable(zeros({3, 2, 1}))); }) ==
        "matmul: operands must be 1-d or 2-d, got (2, 3) @ (3, 2, 1)");
  CHECK(s([&] { ad::reshape(a, {4, 2}); }) == "reshape: cannot view (2, 3) (6 entries) as (4, 2)");
  CHECK(s([&] { ad::reshape(a, {-1, -1}); }) == "reshape: invalid target shape (-1, -1) for (2, 3): only one entry may be -1");
  CHECK(s([&] { ad::sum(a, 2); }) == "sum: axis 2 is out of range for shape (2, 3)");
  CHECK(s([&] { ad::softmax(a, -3); }) == "softmax: axis -3 is out of range for shape (2, 3)");
  CHECK(s([&] { ad::pick(a, {0, 1, 2}); }) == "pick: needs a (n, k) matrix and n labels, got shape (2, 3) and 3 labels");
  CHECK(s([&] { t.backward(ad::sum(a * a), Arr{1.0, 2.0}); }) ==
        "backward: seed of shape (2,) does not match output of shape ()");
  // The tape is still usable after every refusal.
  auto y = ad::sum(a * a + 1.0);
  t.backward(y);
  CHECK(y.item() == 6.0);
}

TEST_CASE("shape mismatches: layers, losses and the training entry points") {
  ad::Tape<double> t;
  ad::nn::Linear<double> lin(4, 3, std::uint64_t{1});
  ad::nn::BatchNorm1d<double> bn(3);
  auto s = [&](auto f) { return message_of<ad::ShapeError>(f); };
  CHECK(s([&] { lin(t.constant(zeros({5, 3}))); }) ==
        "Linear: expected input of shape (n, 4), got (5, 3); the layer was built for 4 input features");
  CHECK(s([&] { lin(t.constant(zeros({4}))); }) ==
        "Linear: expected input of shape (n, 4), got (4,); the layer was built for 4 input features");
  CHECK(s([&] { bn(t.constant(zeros({5, 4}))); }) == "BatchNorm1d: expected input of shape (n, 3), got (5, 4)");

  auto pred = t.variable(zeros({5, 3}));
  CHECK(s([&] { ad::nn::mse_loss(pred, t.constant(zeros({5}))); }) ==
        "mse_loss: prediction (5, 3) and target (5,) must have the same shape; reshape the target (e.g. "
        "labels (n,) to (n, 1))");
  CHECK(s([&] { ad::nn::bce_loss(pred, t.constant(zeros({3, 5}))); }) ==
        "bce_loss: prediction (5, 3) and target (3, 5) must have the same shape; reshape the target (e.g. "
        "labels (n,) to (n, 1))");
  CHECK(s([&] { ad::nn::bce_with_logits(pred, t.constant(zeros({5, 1}))); }) ==
        "bce_with_logits: prediction (5, 3) and target (5, 1) must have the same shape; reshape the target "
        "(e.g. labels (n,) to (n, 1))");
  CHECK(s([&] { ad::nn::cross_entropy(pred, std::vector<std::size_t>{0, 1}); }) ==
        "cross_entropy: logits (5, 3) need to be (n, classes) with n = 2 labels");
  CHECK(s([&] { ad::nn::cross_entropy(pred, t.constant(zeros({5, 2}))); }) ==
        "cross_entropy: prediction (5, 3) and target (5, 2) must have the same shape; reshape the target "
        "(e.g. labels (n,) to (n, 1))");

  auto net = ad::nn::mlp<double>({2, 3}, "relu", "identity", 0);
  ad::nn::SGD<double> opt(net.parameters(), {.lr = 0.1});
  const Arr x = zeros({4, 2});
  CHECK(s([&] { ad::nn::fit(net, opt, x, zeros({3}), {.verbose = 0}); }) ==
        "fit: y must be (n,) or (n, k) with n = 4 rows of x, got (3,)");
  CHECK(s([&] { ad::nn::fit(net, opt, zeros({4}), zeros({4}), {.verbose = 0}); }) ==
        "fit: x must be (n, features), got (4,)");
  CHECK(s([&] { ad::nn::fit(net, opt, zeros({4, 5}), zeros({4}), {.verbose = 0}); }) ==
        "Linear: expected input of shape (n, 2), got (4, 5); the layer was built for 2 input features");
  CHECK(s([&] { ad::nn::fit(net, opt, x, zeros({4, 2}), {.loss = ad::nn::Loss::mse, .verbose = 0}); }) ==
        "mse: targets (4, 2) do not fit the model output (4, 3)");
  const Arr xv = zeros({3, 2}), yv = zeros({2});
  CHECK(s([&] { ad::nn::fit(net, opt, x, zeros({4}), {.x_val = &xv, .y_val = &yv, .verbose = 0}); }) ==
        "fit (validation): y must be (n,) or (n, k) with n = 3 rows of x, got (2,)");
  // Labels that are no class index: compared before any cast to size_t (1e30 and inf used to be
  // cast first, which is undefined behaviour).
  for (double label : {1e30, std::numeric_limits<double>::infinity(), 2.5, -1.0}) {
    CAPTURE(label);
    Arr y = zeros({4});
    y(3) = label;
    CHECK(message_of<ad::ValueError>([&] { ad::nn::fit(net, opt, x, y, {.verbose = 0}); }) ==
          fmt::format("cross_entropy: label {} (row 3 of y) is not a class index in 0..2; the model has 3 outputs", label));
  }
  CHECK(s([&] { ad::nn::evaluate(net, x, zeros({5}), ad::nn::Loss::cross_entropy); }) ==
        "evaluate: y must be (n,) or (n, k) with n = 4 rows of x, got (5,)");
  CHECK(s([&] { ad::nn::predict(net, zeros({4, 2, 1})); }) == "predict: x must be (n, features), got (4, 2, 1)");
  CHECK(s([&] { ad::nn::predict(net, zeros({4, 7})); }) ==
        "Linear: expected input of shape (n, 2), got (4, 7); the layer was built for 2 input features");
}

TEST_CASE("shape mismatches: metrics and gradcheck") {
  using V = std::vector<std::size_t>;
  auto s = [&](auto f) { return message_of<ad::ShapeError>(f); };
  CHECK(s([&] { ad::nn::accuracy(V{0, 1, 1}, V{0, 1}); }) == "accuracy: 3 predictions but 2 true labels");
  CHECK(s([&] { ad::nn::confusion_matrix(V{0, 1}, V{0}, 2); }) == "confusion_matrix: 2 predictions but 1 true labels");
  CHECK(s([&] { ad::nn::classification_report(V{0}, V{0, 1}, 2); }) ==
        "classification_report: 1 predictions but 2 true labels");
  CHECK(s([&] { ad::nn::mse(zeros({3, 2}), zeros({3})); }) == "mse: predicted shape (3, 2) differs from true shape (3,)");
  CHECK(s([&] { ad::nn::r2_score(zeros({4}), zeros({3})); }) == "r2_score: predicted shape (4,) differs from true shape (3,)");
  CHECK(s([&] { ad::nn::argmax_rows(zeros({4})); }) ==
        "argmax_rows: expected (n, classes) scores with classes >= 1, got shape (4,); for one binary "
        "output use threshold_labels");
  CHECK(s([&] { ad::nn::threshold_labels(zeros({4, 2})); }) ==
        "threshold_labels: expected (n,) or (n, 1) outputs, got shape (4, 2); for several classes use "
        "argmax_rows");
  CHECK(ad::nn::mse(zeros({3, 1}), zeros({3})) == 0.0);  // (n, 1) against (n,) is accepted

  const ad::TensorFunction not_scalar = [](ad::Tape<double>&, const std::vector<ad::Var<double>>& x) {
    return ad::tanh(x[0]);
  };
  CHECK(s([&] { ad::gradcheck(not_scalar, {zeros({2, 2})}); }) ==
        "gradcheck: the function must return a single value, got shape (2, 2)");
  const ad::TensorFunction bad_product = [](ad::Tape<double>&, const std::vector<ad::Var<double>>& x) {
    return ad::sum(ad::matmul(x[0], x[1]));
  };
  CHECK(s([&] { ad::gradcheck(bad_product, {zeros({2, 3}), zeros({2, 3})}); }) ==
        "matmul: inner dimensions differ: (2, 3) @ (2, 3)");
  CHECK(s([&] { ad::compare_gradients("w", zeros({2, 3}), zeros({3, 2})); }) ==
        "gradcheck: gradient of w has shape (2, 3), expected (3, 2)");
}
