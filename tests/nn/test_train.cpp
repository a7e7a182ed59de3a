// Training and files: XOR to 4/4, the digits network of the notes, early stopping with restored
// weights, reproducible runs, and save/load (bit-exact round trip, every bad-file case).
#include <ad/nn/data.hpp>
#include <ad/nn/serialize.hpp>
#include <ad/nn/train.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <unistd.h>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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
