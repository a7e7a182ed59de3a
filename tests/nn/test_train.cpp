// Training and files: XOR to 4/4, the digits network of the notes, early stopping with restored
// weights, reproducible runs, the parts of fit one by one (EpochLoop, ProgressPrinter,
// EarlyStopping, DivergenceCheck, LrSchedule in fit) and put together, and save/load (bit-exact
// round trip, every bad-file case).
#include <ad/nn/data.hpp>
#include <ad/nn/serialize.hpp>
#include <ad/nn/train.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <unistd.h>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>

using namespace ad;
using namespace ad::nn;
namespace fs = std::filesystem;

namespace {
std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
void write_all(const std::string& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}
std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("ad_nn_test_" + std::to_string(::getpid()) + "_" + name)).string();
}
template <class T>
bool same_bits(Module<T>& a, Module<T>& b) {
  auto sa = a.state(), sb = b.state();
  if (sa.size() != sb.size()) return false;
  for (std::size_t k = 0; k < sa.size(); ++k)
    if (sa[k].second->size() != sb[k].second->size() ||
        std::memcmp(sa[k].second->data(), sb[k].second->data(), sa[k].second->size() * sizeof(T)) != 0)
      return false;
  return true;
}
}  // namespace

TEST_CASE("XOR: a 2-4-1 network gets all four rows right") {
  Dataset d = load_gates("xor");
  auto net = mlp<double>({2, 4, 1}, "tanh", "sigmoid", 1);
  Adam<double> opt(net.parameters(), {.lr = 0.05});
  History h = fit(net, opt, d.x, d.y, {.epochs = 500, .batch_size = 4, .loss = Loss::bce, .verbose = 0});
  Evaluation e = evaluate(net, d.x, d.y, Loss::bce);
  CHECK(e.metric == 1.0);
  CHECK(h.last().loss < 0.05);
  auto p = classes_from_scores(predict(net, d.x));
  CHECK(p == std::vector<std::size_t>{0, 1, 1, 0});
}

TEST_CASE("digits, the notes' configuration (64-50-10 sigmoid/softmax, SGD 0.1, batch 100): >= 0.90") {
  Dataset digits = load_digits();
  for (auto& v : digits.x) v /= 16.0;
  Split s = train_test_split(digits, 0.2, 1);
  auto net = mlp<double>({64, 50, 10}, "sigmoid", "softmax", 1);
  SGD<double> opt(net.parameters(), {.lr = 0.1});
  History h = fit(net, opt, s.train.x, s.train.y, {.epochs = 100, .batch_size = 100, .seed = 1, .verbose = 0});
  Evaluation e = evaluate(net, s.test.x, s.test.y, Loss::cross_entropy);
  MESSAGE("digits test accuracy " << e.metric << ", " << h.seconds << " s");
  CHECK(e.metric >= 0.90);
  CHECK(h.epochs.size() == 100);
  CHECK(h.epochs.front().loss > h.last().loss);
  // predict gives softmax probabilities (the fused loss only concerns training)
  auto probs = predict(net, s.test.x);
  double row = 0;
  for (std::size_t j = 0; j < 10; ++j) row += probs(0, j);
  CHECK(row == doctest::Approx(1));
}

namespace {
// A 2-8-8-1 network with a dropout layer after each hidden layer, trained on XOR (shuffled
// minibatches of 3 of the 4 rows); `init`, `shuffle` and `drop` seed the weights, the batch
// order and the dropout masks. Returns the trained model and the loss of every epoch.
template <class T>
std::pair<Sequential<T>, std::vector<double>> train_with_dropout(std::uint64_t init, std::uint64_t shuffle,
                                                                 std::uint64_t drop) {
  Dataset d = load_gates("xor");
  Rng rng(init);
  Sequential<T> net;
  net.template emplace<Linear<T>>(2, 8, rng);
  net.template emplace<Activation<T>>("relu");
  net.template emplace<Dropout<T>>(0.25, drop);
  net.template emplace<Linear<T>>(8, 8, rng);
  net.template emplace<Activation<T>>("tanh");
  net.template emplace<Dropout<T>>(0.25, drop + 1);
  net.template emplace<Linear<T>>(8, 1, rng);
  net.template emplace<Activation<T>>("sigmoid");
  SGD<T> opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  History h = fit(net, opt, d.x, d.y, {.epochs = 20, .batch_size = 3, .seed = shuffle, .loss = Loss::bce, .verbose = 0});
  std::vector<double> losses;
  for (const auto& e : h.epochs) losses.push_back(e.loss);
  return {std::move(net), losses};
}
}  // namespace

TEST_CASE_TEMPLATE("same seed, same training run bit for bit (float and dropout included)", T, float, double) {
  auto [a, la] = train_with_dropout<T>(3, 3, 3);
  auto [b, lb] = train_with_dropout<T>(3, 3, 3);
  CHECK(same_bits(a, b));
  CHECK(std::memcmp(la.data(), lb.data(), la.size() * sizeof(double)) == 0);  // every epoch's loss, bit for bit
  // each seed matters on its own: the weights, the batch order, the dropout masks
  auto [c, lc] = train_with_dropout<T>(4, 4, 4);
  CHECK_FALSE(same_bits(a, c));
  auto [i, li] = train_with_dropout<T>(4, 3, 3);
  CHECK_FALSE(same_bits(a, i));
  auto [o, lo] = train_with_dropout<T>(3, 4, 3);
  CHECK_FALSE(same_bits(a, o));
  auto [m, lm] = train_with_dropout<T>(3, 3, 4);
  CHECK_FALSE(same_bits(a, m));
  CHECK(la != lm);  // the masks change the training itself, not only the weights at the end
  // and dropout was live during training: in eval mode the same model is deterministic and
  // differs from a training-mode forward pass
  Dataset d = load_gates("xor");
  a.eval();
  const auto p1 = predict(a, d.x), p2 = predict(a, d.x);
  CHECK(p1 == p2);
  a.train();
  Tape<T> t;
  xt::xarray<T> x = xt::cast<T>(d.x);
  const xt::xarray<double> p3 = xt::cast<double>(a(t.constant(x)).value());
  CHECK(p3 != p1);
}

TEST_CASE("fit stops early on a rising validation loss and restores the best weights") {
  // The validation targets contradict the training targets, so validation loss rises as soon
  // as training makes progress.
  Rng rng(1);
  const std::size_t n = 64;
  xt::xarray<double> x = xt::xarray<double>::from_shape({n, std::size_t(1)}), y = xt::xarray<double>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) {
    x(i, 0) = rng.uniform(-1, 1);
    y(i) = 3 * x(i, 0);
  }
  xt::xarray<double> yv = y;
  for (auto& v : yv) v = -v;
  auto net = mlp<double>({1, 8, 1}, "tanh", "identity", 2);
  Adam<double> opt(net.parameters(), {.lr = 0.01});
  History h = fit(net, opt, x, y,
                  {.epochs = 200, .batch_size = 16, .loss = Loss::mse, .x_val = &x, .y_val = &yv, .patience = 5,
                   .verbose = 0});
  CHECK(h.stopped_early);
  CHECK(h.epochs.size() < 200);
  CHECK(h.epochs.size() == h.best_epoch + 5);
  CHECK(h.metric == "r2");
  const double restored = evaluate(net, x, yv, Loss::mse).loss;
  CHECK(restored == doctest::Approx(h.epochs[h.best_epoch - 1].val_loss));
  CHECK(h.to_csv().rfind("epoch,loss,r2,val_loss,val_r2,lr,seconds\n", 0) == 0);

  // the callback can stop training too
  auto net2 = mlp<double>({1, 4, 1}, "tanh", "identity", 2);
  SGD<double> sgd(net2.parameters(), {.lr = 0.01});
  History h2 = fit(net2, sgd, x, y,
                   {.epochs = 50, .loss = Loss::mse, .verbose = 0,
                    .on_epoch = [](const EpochStats& s) { return s.epoch < 3; }});
  CHECK(h2.epochs.size() == 3);
}

TEST_CASE("fit rejects bad input with messages naming the problem") {
  auto net = mlp<double>({2, 3}, "relu", "identity", 0);
  SGD<double> opt(net.parameters(), {.lr = 0.1});
  xt::xarray<double> x = xt::xarray<double>::from_shape({4, std::size_t(2)});
  std::fill(x.begin(), x.end(), 0.0);
  xt::xarray<double> y = xt::xarray<double>::from_shape({3});
  CHECK_THROWS_AS(fit(net, opt, x, y, {.verbose = 0}), ShapeError);
  xt::xarray<double> bad = xt::xarray<double>::from_shape({4});
  std::fill(bad.begin(), bad.end(), 7.0);  // class 7 of a 3-output model
  CHECK_THROWS_WITH_AS(fit(net, opt, x, bad, {.verbose = 0}), doctest::Contains("not a class index"), ValueError);
}

TEST_CASE("a float model trains from float data exactly as from double data, in its own precision") {
  // Digits / 16 are exact in float, so gathering float rows (memcpy) and converting double rows
  // give the same minibatches: the whole run must agree bit for bit, validation included.
  Dataset d = load_digits();
  for (auto& v : d.x) v /= 16.0;
  const Split s = train_test_split(d, 0.2, 1);
  const FloatDataset train = s.train.as<float>(), test = s.test.as<float>();
  auto run = [&](auto xtr, auto ytr, auto xte, auto yte) {
    auto net = mlp<float>({64, 20, 10}, "tanh", "softmax", 2);
    Adam<float> opt(net.parameters(), {.lr = 0.01});
    History h = fit(net, opt, *xtr, *ytr,
                    {.epochs = 3, .batch_size = 64, .seed = 3, .x_val = xte, .y_val = yte, .verbose = 0});
    Evaluation ev = evaluate(net, *xte, *yte, Loss::cross_entropy);
    xt::xarray<double> pred = predict(net, *xte);
    return std::make_tuple(std::move(net), h, ev, pred);
  };
  auto [nd, hd, ed, pd] = run(&s.train.x, &s.train.y, &s.test.x, &s.test.y);
  auto [nf, hf, ef, pf] = run(&train.x, &train.y, &test.x, &test.y);
  auto [nm, hm, em, pm] = run(&train.x, &s.train.y, &test.x, &s.test.y);  // float x, double labels
  CHECK(same_bits(nd, nf));
  CHECK(same_bits(nd, nm));
  REQUIRE(hd.epochs.size() == 3);
  for (std::size_t e = 0; e < 3; ++e) {
    CHECK(hf.epochs[e].loss == hd.epochs[e].loss);
    CHECK(hf.epochs[e].val_loss == hd.epochs[e].val_loss);
    CHECK(hm.epochs[e].val_metric == hd.epochs[e].val_metric);
  }
  CHECK(ef.loss == ed.loss);
  CHECK(ef.predicted == ed.predicted);
  CHECK(pf == pd);
  CHECK(em.metric == ed.metric);
  CHECK(ed.metric > 0.8);  // and it learned something
  // mse with (n,) float targets is reshaped to a column like double targets
  auto reg = mlp<float>({64, 8, 1}, "relu", "identity", 1);
  SGD<float> opt(reg.parameters(), {.lr = 0.01});
  const xt::xarray<float> target = xt::cast<float>(s.train.y) / 9.0f;
  History hr = fit(reg, opt, train.x, target, {.epochs = 2, .batch_size = 100, .loss = Loss::mse, .verbose = 0});
  CHECK(hr.metric == "r2");
  CHECK(std::isfinite(hr.last().loss));
  // bad float input gets the same messages as double input
  const xt::xarray<float> short_y = xt::zeros<float>({3});
  CHECK_THROWS_WITH_AS(fit(nf, *std::make_unique<SGD<float>>(nf.parameters(), SGDOptions{.lr = 0.1}), train.x, short_y,
                           {.verbose = 0}),
                       doctest::Contains("y must be (n,) or (n, k)"), ShapeError);
  CHECK_THROWS_AS(predict(nf, xt::xarray<float>(xt::zeros<float>({4}))), ShapeError);
}

// ---- the parts of fit -----------------------------------------------------------------------
namespace {
// y = w x + b with w = b = 0.
Linear<double> zero_line() {
  Linear<double> lin(1, 1, std::uint64_t(0));
  lin.weight.value.fill(0);
  lin.bias.value.fill(0);
  return lin;
}
// Everything a FILE* received, as text.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += static_cast<char>(c);
  return s;
}
}  // namespace

TEST_CASE("EpochLoop: one epoch of minibatch steps in the given order, worked by hand") {
  // x = 1, 2, 3 with y = 2x; mse, SGD lr 0.1, batches of 2 in the order 2, 0, 1.
  auto lin = zero_line();
  SGD<double> opt(lin.parameters(), {.lr = 0.1});
  Trainer<double> trainer(lin, opt, Loss::mse);
  xt::xarray<double> x = xt::xarray<double>::from_shape({3, 1}), y = xt::xarray<double>::from_shape({3});
  for (std::size_t i = 0; i < 3; ++i) x(i, 0) = double(i + 1), y(i) = 2.0 * double(i + 1);
  EpochLoop<double> loop(trainer, x, y, 2);
  CHECK(loop.batch_size() == 2);
  CHECK(loop.rows() == 3);
  lin.eval();
  std::vector<BatchInfo<double>> seen;
  std::vector<double> outputs;
  const EpochStats st = loop.run({2, 0, 1}, [&](const BatchInfo<double>& b) {
    seen.push_back(b);
    outputs.insert(outputs.end(), b.output->begin(), b.output->end());
  });
  CHECK(lin.training());  // the loop trains in training mode
  // Batch 1, rows 2 and 0: x = (3, 1), t = (6, 2), predictions 0: loss (36 + 4) / 2 = 20;
  // dw = (2 (0 - 6) 3 + 2 (0 - 2) 1) / 2 = -20, db = (2 (-6) + 2 (-2)) / 2 = -8: w = 2, b = 0.8.
  // Batch 2, row 1: x = 2, t = 4, prediction 4.8: loss 0.64; dw = 2 (0.8) 2 = 3.2, db = 1.6:
  // w = 2 - 0.32 = 1.68, b = 0.8 - 0.16 = 0.64.
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].batch == 1);
  CHECK(seen[0].batches == 2);
  CHECK(seen[0].rows == 2);
  CHECK(seen[0].loss == doctest::Approx(20));
  CHECK(seen[0].mean_loss == doctest::Approx(20));
  CHECK(seen[1].batch == 2);
  CHECK(seen[1].rows == 3);
  CHECK(seen[1].loss == doctest::Approx(0.64));
  CHECK(seen[1].mean_loss == doctest::Approx((2 * 20 + 0.64) / 3));
  REQUIRE(outputs.size() == 3);
  CHECK(outputs[0] == 0);
  CHECK(outputs[1] == 0);
  CHECK(outputs[2] == doctest::Approx(4.8));
  CHECK(lin.weight.value(0, 0) == doctest::Approx(1.68));
  CHECK(lin.bias.value(0) == doctest::Approx(0.64));
  // The epoch: the loss per row, and R^2 of the minibatch predictions: sse = 36 + 4 + 0.64,
  // sst = 56 - 12^2 / 3 = 8.
  CHECK(st.loss == doctest::Approx(40.64 / 3));
  CHECK(st.metric == doctest::Approx(1 - 40.64 / 8));

  // An exception from the callback ends the epoch after that step.
  auto lin2 = zero_line();
  SGD<double> opt2(lin2.parameters(), {.lr = 0.1});
  Trainer<double> trainer2(lin2, opt2, Loss::mse);
  EpochLoop<double> loop2(trainer2, x, y, 2);
  CHECK_THROWS_AS(loop2.run({2, 0, 1}, [](const BatchInfo<double>&) { throw std::runtime_error("stop"); }),
                  std::runtime_error);
  CHECK(lin2.weight.value(0, 0) == doctest::Approx(2));
  CHECK_THROWS_AS(EpochLoop<double>(trainer2, x, y, 0), ValueError);
  CHECK_THROWS_AS(EpochLoop<double>(trainer2, x, xt::xarray<double>{1.0, 2.0}, 2), ShapeError);
}

TEST_CASE("ProgressPrinter: a line every print_every epochs off a terminal, a bar on one") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    ProgressPrinter p(100, 25, f, /*live=*/0);
    CHECK_FALSE(p.live());
    for (std::size_t e = 1; e <= 100; ++e) {
      p.begin_epoch();
      p.batch(e, 1, 1, 9.0);  // no bar off a terminal
      EpochStats st;
      st.epoch = e, st.loss = 0.5, st.metric = 0.25, st.lr = 0.1, st.seconds = 1.5;
      p.end_epoch(st, "accuracy", false);
    }
    p.interrupt();  // nothing to end
  }
  CHECK(contents(f) ==
        "epoch  25/100 loss 0.5000 accuracy 0.2500 lr 0.1 1.50s\n"
        "epoch  50/100 loss 0.5000 accuracy 0.2500 lr 0.1 1.50s\n"
        "epoch  75/100 loss 0.5000 accuracy 0.2500 lr 0.1 1.50s\n"
        "epoch 100/100 loss 0.5000 accuracy 0.2500 lr 0.1 1.50s\n");
  std::fclose(f);

  // Validation figures, an early stop (printed whenever it happens), a regression metric.
  f = std::tmpfile();
  {
    ProgressPrinter p(20, 10, f, 0);
    EpochStats st;
    st.epoch = 7, st.loss = 1.23456, st.metric = -0.5, st.val_loss = 2, st.val_metric = 0.125, st.lr = 0.00123456;
    st.seconds = 0.004;
    p.end_epoch(st, "r2", true, /*early_stop_best=*/4);
  }
  CHECK(contents(f) == "epoch  7/20 loss 1.2346 r2 -0.5000 val_loss 2.0000 val_r2 0.1250 lr 0.00123 0.00s "
                       "(early stop: best epoch 4)\n");
  std::fclose(f);

  // Live: the bar (24 wide) at the last batch, and after 0.1 s; the line replaces it.
  f = std::tmpfile();
  {
    ProgressPrinter p(3, 1, f, 1);
    CHECK(p.live());
    p.begin_epoch();
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    p.batch(2, 1, 3, 0.25);  // 1/3 of 24 = 8
    p.batch(2, 3, 3, 0.125);
    EpochStats st;
    st.epoch = 2, st.loss = 0.125, st.metric = 1, st.lr = 1, st.seconds = 2;
    p.end_epoch(st, "accuracy", false);
    p.begin_epoch();
    p.batch(3, 3, 3, 0.5);
    p.interrupt();  // ends the bar's line before an error message
    p.interrupt();  // once
  }
  CHECK(contents(f) == "\repoch 2/3 [========>               ] 1/3 loss 0.2500"
                       "\repoch 2/3 [========================] 3/3 loss 0.1250"
                       "\r\033[Kepoch 2/3 loss 0.1250 accuracy 1.0000 lr 1 2.00s\n"
                       "\repoch 3/3 [========================] 3/3 loss 0.5000\n");
  std::fclose(f);
}

TEST_CASE("EarlyStopping: the best epoch, its weights, and patience") {
  auto lin = zero_line();
  EarlyStopping<double> stop(lin, /*patience=*/2, /*min_delta=*/0.01);
  CHECK(stop.best_epoch() == 0);
  // The weight is 10 * epoch at each epoch's end, so the restored value names the epoch.
  const double losses[] = {5, 4, 4.5, 3.995};
  bool stopped = false;
  for (std::size_t e = 1; e <= 4 && !stopped; ++e) {
    lin.weight.value(0, 0) = 10.0 * static_cast<double>(e);
    stopped = stop.update(e, losses[e - 1]);
    CHECK(stopped == (e == 4));  // 3.995 is not below 4 - 0.01: the second epoch without
  }
  CHECK(stop.stopped());
  CHECK(stop.best_epoch() == 2);
  CHECK(stop.best_loss() == 4);
  CHECK(stop.restore());
  CHECK(lin.weight.value(0, 0) == 20);

  // patience 0 never stops; the last epoch being the best leaves nothing to restore
  EarlyStopping<double> watch(lin, 0);
  for (std::size_t e = 1; e <= 50; ++e) CHECK_FALSE(watch.update(e, 1.0));
  CHECK(watch.best_epoch() == 1);
  EarlyStopping<double> last(lin, 3);
  last.update(1, 2.0);
  last.update(2, 1.0);
  lin.weight.value(0, 0) = 7;
  CHECK_FALSE(last.restore());
  CHECK(lin.weight.value(0, 0) == 7);
  // without keep_best, no copy and nothing restored
  EarlyStopping<double> no_copy(lin, 1, 0, /*keep_best=*/false);
  no_copy.update(1, 1.0);
  CHECK(no_copy.update(2, 2.0));
  CHECK_FALSE(no_copy.restore());
  CHECK(lin.weight.value(0, 0) == 7);
}

TEST_CASE("DivergenceCheck: NaN, blow-up and stall, with the epoch and the fix named") {
  const double chance = std::log(10.0);
  DivergenceCheck d;
  d.start(2.0, chance, "log 10 for 10 classes");
  CHECK_NOTHROW(d.batch(1, 1, 1e300));
  try {
    d.batch(3, 2, std::nan(""));
    FAIL("no DivergenceError");
  } catch (const DivergenceError& e) {
    CHECK(std::string(e.what()) == "fit: the loss became nan at epoch 3, batch 2: training diverged; lower the "
                                   "learning rate, scale the inputs or clip gradients");
    CHECK(e.epoch == 3);
    CHECK_FALSE(e.finite_rule);
  }
  CHECK_NOTHROW(d.epoch(1, 23.0));  // not above 10 max(2, 2.3026) = 23.026
  try {
    d.epoch(2, 23.1);
    FAIL("no DivergenceError");
  } catch (const DivergenceError& e) {
    CHECK(e.reason == "training diverged at epoch 2: the loss 23.1 is more than 10 times its start 2 (chance: "
                      "2.303, log 10 for 10 classes)");
    CHECK(e.finite_rule);
    CHECK(e.loss == 23.1);
  }
  // Stalled at or above chance for `patience` epochs without a new lowest loss.
  DivergenceCheck s(true, 10, 3);
  s.start(2.4, chance, "log 10 for 10 classes");
  s.epoch(1, 2.5);  // the lowest so far
  s.epoch(2, 2.6);  // 1
  s.epoch(3, 2.5);  // 2: not below the lowest
  try {
    s.epoch(4, 2.7);  // 3
    FAIL("no DivergenceError");
  } catch (const DivergenceError& e) {
    CHECK(e.reason == "training diverged at epoch 4: the loss 2.7 has not gone below 2.5 (epoch 1) for 3 epochs "
                      "and is no better than chance, 2.303 (log 10 for 10 classes)");
  }
  // A slow learner above chance lowers its loss every epoch and goes on.
  DivergenceCheck slow(true, 10, 2);
  slow.start(3, chance, "log 10 for 10 classes");
  for (std::size_t e = 1; e <= 100; ++e) CHECK_NOTHROW(slow.epoch(e, 3.0 - 0.001 * static_cast<double>(e)));
  // Without the finite rules only NaN and inf stop training.
  DivergenceCheck off(false);
  off.start(2, chance, "");
  CHECK_NOTHROW(off.epoch(1, 1e6));
  CHECK_THROWS_AS(off.batch(1, 1, INFINITY), DivergenceError);
}

TEST_CASE("fit follows LrSchedule epoch by epoch and leaves a schedule's last rate") {
  Dataset d = load_gates("xor");
  auto net = mlp<double>({2, 4, 1}, "tanh", "sigmoid", 1);
  SGD<double> opt(net.parameters(), {.lr = 0.4});
  History h = fit(net, opt, d.x, d.y,
                  {.epochs = 5, .batch_size = 4, .loss = Loss::bce, .schedule = LrSchedule::step(2, 0.5), .verbose = 0});
  std::vector<double> lrs;
  for (const auto& e : h.epochs) lrs.push_back(e.lr);
  CHECK(lrs == std::vector<double>{0.4, 0.4, 0.2, 0.2, 0.1});
  CHECK(opt.lr == 0.1);
  History c = fit(net, opt, d.x, d.y, {.epochs = 2, .batch_size = 4, .loss = Loss::bce, .verbose = 0});
  CHECK(c.epochs[1].lr == 0.1);
  CHECK(opt.lr == 0.1);  // a constant schedule gives back the rate it started from
}

TEST_CASE("the parts of fit, put together by hand, give fit's training bit for bit") {
  // Digits with validation, early stopping and a cosine schedule: fit, and the loop of train.hpp's
  // comment (with the validation loss that fit adds).
  Dataset digits = load_digits();
  for (auto& v : digits.x) v /= 16.0;
  Split s = train_test_split(digits, 0.3, 1);
  const std::size_t epochs = 40;
  const auto schedule = LrSchedule::cosine(epochs, 0.01);

  auto a = mlp<double>({64, 20, 10}, "tanh", "softmax", 3);
  SGD<double> opt_a(a.parameters(), {.lr = 0.5, .momentum = 0.5});
  History h = fit(a, opt_a, s.train.x, s.train.y,
                  {.epochs = epochs, .batch_size = 64, .seed = 5, .x_val = &s.test.x, .y_val = &s.test.y,
                   .patience = 2, .schedule = schedule, .verbose = 0});

  auto b = mlp<double>({64, 20, 10}, "tanh", "softmax", 3);
  SGD<double> opt_b(b.parameters(), {.lr = 0.5, .momentum = 0.5});
  Trainer<double> trainer(b, opt_b, Loss::cross_entropy);
  EpochLoop<double> loop(trainer, s.train.x, s.train.y, 64);
  EarlyStopping<double> stopper(b, 2);
  std::vector<std::size_t> order(s.train.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  Rng rng(5);
  std::vector<double> losses, val_losses;
  std::size_t stopped_at = 0;
  for (std::size_t epoch = 1; epoch <= epochs; ++epoch) {
    opt_b.lr = schedule.at(0.5, epoch - 1);
    rng.shuffle(order);
    const EpochStats st = loop.run(order);
    losses.push_back(st.loss);
    val_losses.push_back(evaluate(b, s.test.x, s.test.y, Loss::cross_entropy, 256).loss);
    if (stopper.update(epoch, val_losses.back())) {
      stopped_at = epoch;
      break;
    }
  }
  stopper.restore();

  REQUIRE(h.epochs.size() == losses.size());
  for (std::size_t e = 0; e < losses.size(); ++e) {
    CHECK(h.epochs[e].loss == losses[e]);
    CHECK(h.epochs[e].val_loss == val_losses[e]);
  }
  CHECK(stopped_at != 0);  // the run stops early (epoch 21 of 40 here), so restoring is compared too
  CHECK(h.stopped_early == (stopped_at != 0));
  CHECK(h.best_epoch == stopper.best_epoch());
  CHECK(same_bits(a, b));
}

TEST_CASE("save/load round-trips architecture and weights bit for bit") {
  Rng rng(8);
  Sequential<double> net;
  net.emplace<Linear<double>>(3, 5, rng);
  net.emplace<BatchNorm1d<double>>(5);
  net.emplace<Activation<double>>("leaky_relu", 0.2);
  net.emplace<Dropout<double>>(0.25, 3);
  net.emplace<Linear<double>>(5, 2, rng, Init::xavier_normal);
  net.emplace<Activation<double>>("softmax");
  // touch the running statistics so they are not at their initial values
  Tape<double> t;
  xt::xarray<double> x = xt::xarray<double>::from_shape({4, std::size_t(3)});
  for (auto& v : x) v = rng.normal();
  net(t.constant(x));
  const std::string path = temp_path("roundtrip.model");
  save(net, path);
  auto back = load_model<double>(path);
  CHECK(same_bits(net, back));
  CHECK(back.describe() == net.describe());
  net.eval();
  CHECK(predict(back, x) == predict(net, x));
  // load_weights into a fresh model of the same architecture
  Sequential<double> fresh;
  fresh.emplace<Linear<double>>(3, 5, std::uint64_t{99});
  fresh.emplace<BatchNorm1d<double>>(5);
  fresh.emplace<Activation<double>>("leaky_relu", 0.2);
  fresh.emplace<Dropout<double>>(0.25, 3);
  fresh.emplace<Linear<double>>(5, 2, std::uint64_t{98});
  fresh.emplace<Activation<double>>("softmax");
  load_weights(fresh, path);
  CHECK(same_bits(fresh, net));
  // float models round-trip too
  auto f = mlp<float>({4, 3, 2}, "tanh", "identity", 5);
  save(f, path);
  auto fb = load_model<float>(path);
  auto pf = f.parameters(), pb = fb.parameters();
  for (std::size_t k = 0; k < pf.size(); ++k) CHECK(pf[k]->value == pb[k]->value);
  fs::remove(path);
}

TEST_CASE("bad model files: missing, truncated, corrupt, foreign, mismatched") {
  auto net = mlp<double>({4, 6, 3}, "relu", "softmax", 1);
  const std::string path = temp_path("bad.model"), other = temp_path("other.model");
  save(net, path);
  const std::string good = read_all(path);

  CHECK_THROWS_WITH_AS(load_model<double>(temp_path("missing.model")), doctest::Contains("cannot open"), IoError);
  write_all(other, good.substr(0, good.size() / 2));
  CHECK_THROWS_WITH_AS(load_model<double>(other), doctest::Contains("truncated"), IoError);
  CHECK_THROWS_WITH_AS(load_model<double>(other), doctest::Contains(other.c_str()), IoError);
  std::string corrupt = good;
  const std::size_t at = corrupt.find("0x1.", corrupt.find("tensor 0.weight")) + 4;
  corrupt[at] = corrupt[at] == '0' ? '1' : '0';
  write_all(other, corrupt);
  CHECK_THROWS_WITH_AS(load_model<double>(other), doctest::Contains("corrupt"), IoError);
  write_all(other, "hello\n");
  CHECK_THROWS_WITH_AS(load_model<double>(other), doctest::Contains("not a model file"), IoError);
  write_all(other, "");
  CHECK_THROWS_WITH_AS(load_model<double>(other), doctest::Contains("empty"), IoError);

  auto wrong = mlp<double>({4, 7, 3}, "relu", "softmax", 1);
  CHECK_THROWS_WITH_AS(load_weights(wrong, path), doctest::Contains("layer 0"), IoError);
  auto shorter = mlp<double>({4, 3}, "relu", "softmax", 1);
  CHECK_THROWS_WITH_AS(load_weights(shorter, path), doctest::Contains("layers"), IoError);

  // A failed save leaves the previous file intact (here the temp file cannot be created).
  fs::create_directory(path + ".tmp");
  CHECK_THROWS_AS(save(wrong, path), IoError);
  CHECK(read_all(path) == good);
  fs::remove(path + ".tmp");
  fs::remove(path);
  fs::remove(other);
}
