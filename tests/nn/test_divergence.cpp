// Divergence in fit (issue 13): a NaN loss, a finite blow-up far above the start, and a loss
// stalled at or above chance all throw DivergenceError naming the epoch, the loss and the fix;
// slow but real learning is not stopped; detect_divergence = false trains on. Also: a bad label
// is reported with its row in the data set, not in the shuffled minibatch.
#include <ad/nn/data.hpp>
#include <ad/nn/train.hpp>

#include <doctest/doctest.h>
#include <xtensor/xview.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "support.hpp"

using namespace ad::nn;

namespace {

struct Digits {
  xt::xarray<double> x, y;
};

// The digits, scaled to 0..1 (every row: enough data for 15 minibatches of 100 per epoch).
const Digits& digits() {
  static const Digits d = [] {
    Dataset ds = load_digits();
    ds.x /= 16.0;
    return Digits{ds.x, ds.y};
  }();
  return d;
}

// The digits network of the notes with the given hidden activation, SGD at `lr`.
History train_digits(double lr, const char* hidden, FitOptions o) {
  auto net = mlp<double>({64, 50, 10}, hidden, "softmax", /*seed=*/1);
  SGD<double> opt(net.parameters(), {.lr = lr});
  o.batch_size = 100;
  o.seed = 1;
  o.verbose = 0;
  return fit(net, opt, digits().x, digits().y, o);
}

template <class F>
DivergenceError divergence_of(F&& f) {
  try {
    f();
  } catch (const DivergenceError& e) {
    return e;
  }
  FAIL("no DivergenceError thrown");
  return DivergenceError("", "", 0, 0, false);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("divergence: lr 100 on the digits blows the cross-entropy up to ~40 and stops at epoch 1") {
  const DivergenceError e = divergence_of([] { train_digits(100, "sigmoid", {.epochs = 20}); });
  CAPTURE(e.what());
  CHECK(e.epoch == 1);
  CHECK(e.finite_rule);
  CHECK(std::isfinite(e.loss));
  CHECK(e.loss > 10 * std::log(10.0));  // the rule: more than 10 times max(start, chance)
  const std::string m = e.what();
  CHECK(m.rfind("fit: training diverged at epoch 1: the loss ", 0) == 0);
  CHECK(contains(m, "is more than 10 times its start"));
  CHECK(contains(m, "(chance: 2.303, log 10 for 10 classes)"));
  CHECK(contains(m, "; lower the learning rate, scale the inputs or clip gradients"));
  CHECK(contains(m, "FitOptions::detect_divergence = false"));
  CHECK(e.reason == m.substr(5, e.reason.size()));
  // Code that caught the NaN error as a ValueError still catches it.
  CHECK_THROWS_AS(train_digits(100, "sigmoid", {.epochs = 2}), ad::ValueError);
}

TEST_CASE("divergence: detect_divergence = false trains on, as before (loss far above chance)") {
  History h;
  CHECK_NOTHROW(h = train_digits(100, "sigmoid", {.epochs = 3, .detect_divergence = false}));
  REQUIRE(h.epochs.size() == 3);
  CHECK(h.last().loss > 10 * std::log(10.0));
  CHECK(h.last().metric < 0.2);  // no better than chance: why it is called divergence
}

TEST_CASE("divergence: a larger blow-up factor lets the same run go on to the stall rule") {
  // lr 30: the loss hovers around 5 (2x chance): not a 10x blow-up, but never below chance and
  // no new lowest loss for 10 epochs, so the stall rule names it.
  const DivergenceError e = divergence_of([] { train_digits(30, "sigmoid", {.epochs = 60}); });
  CAPTURE(e.what());
  CHECK(e.finite_rule);
  CHECK(e.epoch >= 11);
  CHECK(e.epoch < 60);
  CHECK(e.loss >= std::log(10.0));
  CHECK(contains(e.what(), "for 10 epochs and is no better than chance, 2.303 (log 10 for 10 classes)"));
  CHECK(contains(e.what(), "has not gone below"));
  // divergence_patience moves it.
  const DivergenceError later =
      divergence_of([] { train_digits(30, "sigmoid", {.epochs = 80, .divergence_patience = 20}); });
  CHECK(later.epoch >= 21);
  CHECK(contains(later.what(), "for 20 epochs"));
}

TEST_CASE("divergence: dead relus after lr 10 stall just above chance and are named") {
  const DivergenceError e = divergence_of([] { train_digits(10, "relu", {.epochs = 100}); });
  CAPTURE(e.what());
  CHECK(e.epoch >= 11);
  CHECK(e.epoch < 100);
  CHECK(e.loss >= std::log(10.0));
  CHECK(e.loss < 2.5);  // finite and close to chance: only the stall rule can see it
}

TEST_CASE("divergence: slow and good learning is not stopped") {
  // lr 0.001: 30 epochs with the loss above chance (2.33 -> 2.30) and accuracy near 0.1, but
  // lower every epoch: a learning rate too small, not a divergence.
  History slow;
  CHECK_NOTHROW(slow = train_digits(0.001, "sigmoid", {.epochs = 30}));
  REQUIRE(slow.epochs.size() == 30);
  CHECK(slow.last().loss > std::log(10.0) - 0.05);
  // lr 10 with sigmoid: five epochs at chance level, then it learns (0.99 on the training rows).
  History fast;
  CHECK_NOTHROW(fast = train_digits(10, "sigmoid", {.epochs = 30}));
  CHECK(fast.last().metric > 0.9);
  // The notes' configuration.
  History notes;
  CHECK_NOTHROW(notes = train_digits(0.1, "sigmoid", {.epochs = 100}));
  CHECK(notes.last().metric > 0.9);
}

TEST_CASE("divergence: a NaN loss stops at once, also with detect_divergence = false") {
  xt::xarray<double> x = digits().x, y = digits().y;
  x(5, 3) = std::numeric_limits<double>::quiet_NaN();
  for (bool detect : {true, false}) {
    CAPTURE(detect);
    auto net = mlp<double>({64, 50, 10}, "sigmoid", "softmax", 1);
    SGD<double> opt(net.parameters(), {.lr = 0.1});
    const DivergenceError e = divergence_of(
        [&] { fit(net, opt, x, y, {.epochs = 3, .batch_size = 2000, .verbose = 0, .detect_divergence = detect}); });
    CHECK(std::string(e.what()) ==
          "fit: the loss became nan at epoch 1, batch 1: training diverged; lower the learning rate, scale the "
          "inputs or clip gradients");
    CHECK(e.epoch == 1);
    CHECK(std::isnan(e.loss));
    CHECK_FALSE(e.finite_rule);
  }
}

TEST_CASE("divergence: mse names the variance of the targets as chance") {
  // y = 3x on 200 points, plain SGD with a step far beyond stability: the loss grows
  // geometrically, finite at first, and is caught either as a blow-up or as inf/NaN.
  xt::xarray<double> x = xt::linspace<double>(-1, 1, 200);
  x.reshape({200, 1});
  xt::xarray<double> y = 3.0 * x;
  y.reshape({200});
  auto net = mlp<double>({1, 16, 1}, "tanh", "identity", 1);
  SGD<double> opt(net.parameters(), {.lr = 5});
  const DivergenceError e = divergence_of(
      [&] { fit(net, opt, x, y, {.epochs = 50, .batch_size = 20, .loss = Loss::mse, .verbose = 0}); });
  CAPTURE(e.what());
  CHECK(e.epoch <= 50);
  if (e.finite_rule) CHECK(contains(e.what(), "the variance of the targets"));
}

TEST_CASE("a bad label inside fit names its row of y, not its row in the shuffled minibatch") {
  xt::xarray<double> x = digits().x, y = digits().y;
  y(1234) = 10;  // 10 outputs: classes 0..9
  auto net = mlp<double>({64, 50, 10}, "sigmoid", "softmax", 1);
  SGD<double> opt(net.parameters(), {.lr = 0.1});
  CHECK(support::message_of<ad::ValueError>([&] {
          fit(net, opt, x, y, {.epochs = 1, .batch_size = 100, .seed = 3, .verbose = 0});
        }) == "cross_entropy: label 10 (row 1234 of y) is not a class index in 0..9; the model has 10 outputs");
  // evaluate reads in batches of 1024 rows: the row is still the data set's.
  CHECK(support::message_of<ad::ValueError>([&] { evaluate(net, x, y, Loss::cross_entropy, 1000); }) ==
        "cross_entropy: label 10 (row 1234 of y) is not a class index in 0..9; the model has 10 outputs");
  // Trainer::step on a minibatch of its own, without row ids, says so.
  Trainer<double> t(net, opt, Loss::cross_entropy);
  xt::xarray<double> xb = xt::view(x, xt::range(1230, 1240)), yb = xt::view(y, xt::range(1230, 1240));
  CHECK(support::message_of<ad::ValueError>([&] { t.step(xb, yb); }) ==
        "cross_entropy: label 10 (row 4 of the minibatch) is not a class index in 0..9; the model has 10 outputs");
}
