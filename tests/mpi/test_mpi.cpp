// Data-parallel training on real MPI ranks (issue 17, docs/distributed.md): ctest runs this
// program under `mpirun -np 2` and `-np 3`. Every rank runs every test case; a case must make the
// same collective calls on every rank, so the checks are CHECKs (a failed REQUIRE on one rank
// would leave the others waiting). The program fails on every rank if it failed on any.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <ad/nn/data.hpp>
#include <ad/nn/distributed.hpp>
#include <ad/nn/lbfgs.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/mpi.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/random.hpp>
#include <ad/nn/train.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

using namespace ad::nn;

namespace {

Communicator* g_world = nullptr;
Communicator& world() { return *g_world; }

struct Data {
  xt::xarray<double> x, y;
};

/// n rows of 5 features, 3 classes (a noisy linear rule), the same on every rank.
Data make_data(std::size_t n, std::uint64_t seed = 11) {
  Rng rng(seed);
  Data d;
  d.x = xt::xarray<double>::from_shape({n, std::size_t(5)});
  d.y = xt::xarray<double>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::size_t j = 0; j < 5; ++j) {
      d.x(i, j) = rng.uniform(-1, 1);
      s += (j % 2 ? 1.0 : -0.5) * d.x(i, j);
    }
    s += 0.3 * rng.uniform(-1, 1);
    d.y(i) = s < -0.3 ? 0 : s < 0.3 ? 1 : 2;
  }
  return d;
}

/// Rows [lo, hi) of a.
xt::xarray<double> rows_of(const xt::xarray<double>& a, std::size_t lo, std::size_t hi) {
  std::vector<std::size_t> idx(a.shape()[0]);
  std::iota(idx.begin(), idx.end(), std::size_t(0));
  xt::xarray<double> out;
  gather_rows(a, idx, lo, hi, out);
  return out;
}

double max_abs_diff(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
  return m;
}

/// One data-parallel step on this rank's share of a batch of `rows` rows against one process's
/// loss_and_grad on the whole batch: the same loss and every parameter's same gradient to 1e-12.
void check_one_step(std::size_t rows, double l2, double l1) {
  Communicator& c = world();
  const Data d = make_data(rows);
  auto ref = mlp<double>({5, 6, 3}, "tanh", "softmax", 3);
  SGD<double> ref_opt(ref.parameters(), {.lr = 0});
  Trainer<double> ref_t(ref, ref_opt, Loss::cross_entropy, l2, l1);
  const double ref_loss = ref_t.loss_and_grad(d.x, d.y);

  auto net = mlp<double>({5, 6, 3}, "tanh", "softmax", 3);
  SGD<double> opt(net.parameters(), {.lr = 0});  // lr 0: the step leaves the weights, grads stay
  Trainer<double> t(net, opt, Loss::cross_entropy, l2, l1);
  t.set_communicator(&c);
  const auto [lo, hi] = share_of(rows, c.rank(), c.size());
  const double loss = t.step(rows_of(d.x, lo, hi), rows_of(d.y, lo, hi));
  CAPTURE(rows);
  CAPTURE(c.rank());
  CHECK(std::abs(loss - ref_loss) <= 1e-12 * std::abs(ref_loss));
  const auto p = net.parameters(), q = ref.parameters();
  for (std::size_t k = 0; k < p.size(); ++k) {
    CAPTURE(p[k]->name);
    double scale = 0;
    for (double g : q[k]->grad) scale = std::max(scale, std::abs(g));
    CHECK(scale > 0);
    CHECK(max_abs_diff(p[k]->grad, q[k]->grad) <= 1e-12 * scale);
  }
}

/// Every rank's state hash, for "bitwise the same on every rank".
template <class T>
bool same_everywhere(Module<T>& m) {
  const auto all = world().allgather(std::to_string(state_hash(m)));
  return std::all_of(all.begin(), all.end(), [&](const std::string& s) { return s == all[0]; });
}

}  // namespace

TEST_CASE("communicator: sums, maximum, broadcast, allgather of strings of different lengths") {
  Communicator& c = world();
  const int r = c.rank(), p = c.size();
  CHECK(p >= 2);
  std::vector<double> d = {double(r), 1.0, 0.5 + r};
  c.allreduce_sum(d);
  CHECK(d[0] == p * (p - 1) / 2.0);
  CHECK(d[1] == p);
  CHECK(d[2] == 0.5 * p + p * (p - 1) / 2.0);
  std::vector<float> f = {float(r + 1), -1.f};
  c.allreduce_sum(f);
  CHECK(f[0] == float(p * (p + 1) / 2));
  CHECK(f[1] == float(-p));
  std::vector<double> m = {double(r), -double(r)};
  c.allreduce_max(m);
  CHECK(m[0] == p - 1);
  CHECK(m[1] == 0);
  std::vector<double> b = {double(r), 7.0 * r};
  c.broadcast(b, p - 1);
  CHECK(b[0] == p - 1);
  CHECK(b[1] == 7.0 * (p - 1));
  const auto all = c.allgather(std::string(static_cast<std::size_t>(r), 'x') + std::to_string(r));
  CHECK(all.size() == static_cast<std::size_t>(p));
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == std::string(i, 'x') + std::to_string(i));
  c.barrier();
}

TEST_CASE("a data-parallel step gives one process's loss and gradient (uneven and empty shares)") {
  // 7 rows: 3 + 4 on 2 ranks, 2 + 2 + 3 on 3; 2 rows on 3 ranks: rank 0 has none; with the
  // penalties, which every rank adds and the weights (rows / batch) count once.
  for (std::size_t rows : {7, 2, 1, 100}) {
    check_one_step(rows, 0, 0);
    check_one_step(rows, 1e-2, 1e-3);
  }
}

TEST_CASE("fit on every rank: one process's history, rank 0's start, bitwise the same weights") {
  Communicator& c = world();
  struct Case {
    std::size_t n, batch;
    std::string optimizer;
    double clip_norm;
  };
  for (const Case& k : {Case{203, 20, "sgd", 0}, Case{203, 32, "adam", 0.05}, Case{25, 1, "sgd", 0}}) {
    CAPTURE(k.n);
    CAPTURE(k.batch);
    CAPTURE(k.optimizer);
    const Data d = make_data(k.n);
    auto make_opt = [&](Module<double>& m) -> std::unique_ptr<Optimizer<double>> {
      if (k.optimizer == "adam") return std::make_unique<Adam<double>>(m.parameters(), AdamOptions{.lr = 0.01});
      return std::make_unique<SGD<double>>(m.parameters(), SGDOptions{.lr = 0.5, .momentum = 0.9});
    };
    FitOptions o{.epochs = 5, .batch_size = k.batch, .seed = 4, .l2 = 1e-3, .clip_norm = k.clip_norm, .verbose = 0};
    auto ref = mlp<double>({5, 8, 3}, "sigmoid", "softmax", 3);
    auto ref_opt = make_opt(ref);
    const History hr = fit(ref, *ref_opt, d.x, d.y, o);
    // Each rank starts from other weights (seed 3 + rank): fit must start all from rank 0's.
    auto net = mlp<double>({5, 8, 3}, "sigmoid", "softmax", 3 + static_cast<std::uint64_t>(c.rank()));
    auto opt = make_opt(net);
    o.comm = &c;
    const History h = fit(net, *opt, d.x, d.y, o);
    CHECK(h.epochs.size() == hr.epochs.size());
    for (std::size_t e = 0; e < std::min(h.epochs.size(), hr.epochs.size()); ++e) {
      CAPTURE(e);
      CHECK(std::abs(h.epochs[e].loss - hr.epochs[e].loss) <= 1e-10 * hr.epochs[e].loss);
      CHECK(std::abs(h.epochs[e].metric - hr.epochs[e].metric) <= 1.0 / double(k.n) + 1e-12);
    }
    const auto p = net.parameters(), q = ref.parameters();
    for (std::size_t i = 0; i < p.size(); ++i) CHECK(max_abs_diff(p[i]->value, q[i]->value) <= 1e-9);
    CHECK(same_everywhere(net));
  }
}

TEST_CASE("LBFGS (full batch) on every rank: its closure's loss and gradient are the whole set's") {
  Communicator& c = world();
  const Data d = make_data(150);
  FitOptions o{.epochs = 4, .verbose = 0};
  auto ref = mlp<double>({5, 6, 3}, "tanh", "softmax", 5);
  LBFGS<double> ref_opt(ref.parameters(), {.max_iter = 10});
  const History hr = fit(ref, ref_opt, d.x, d.y, o);
  auto net = mlp<double>({5, 6, 3}, "tanh", "softmax", 5);
  LBFGS<double> opt(net.parameters(), {.max_iter = 10});
  o.comm = &c;
  const History h = fit(net, opt, d.x, d.y, o);
  CHECK(h.epochs.size() == hr.epochs.size());
  for (std::size_t e = 0; e < std::min(h.epochs.size(), hr.epochs.size()); ++e)
    CHECK(std::abs(h.epochs[e].loss - hr.epochs[e].loss) <= 1e-8 * hr.epochs[e].loss);
  CHECK(opt.state().iterations == ref_opt.state().iterations);
  CHECK(same_everywhere(net));
}

TEST_CASE("dropout and batch normalization: every rank ends with the same model") {
  Communicator& c = world();
  const Data d = make_data(120);
  Rng rng(2);
  Sequential<float> net;
  net.emplace<Linear<float>>(5, 16, rng);
  net.emplace<BatchNorm1d<float>>(16);
  net.emplace<Activation<float>>("relu");
  net.emplace<Dropout<float>>(0.3, 9);
  net.emplace<Linear<float>>(16, 3, rng);
  net.emplace<Activation<float>>("softmax");
  Adam<float> opt(net.parameters(), {.lr = 0.01});
  const History h = fit(net, opt, d.x, d.y, {.epochs = 3, .batch_size = 16, .verbose = 0, .comm = &c});
  CHECK(h.epochs.size() == 3);
  CHECK(std::isfinite(h.last().loss));
  CHECK(same_everywhere(net));
  CHECK_NOTHROW(check_replicas(c, net));
}

TEST_CASE("mismatches between ranks are found together and named") {
  Communicator& c = world();
  const bool one = c.rank() == 1;
  // check_same: the first setting that differs, with both values
  std::string msg;
  try {
    check_same(c, "test", {{"--layers", "64,50,10"}, {"--seed", one ? "2" : "1"}, {"--lr", one ? "9" : "1"}});
  } catch (const CollectiveError& e) {
    msg = e.what();
  }
  CHECK(msg == "test: the ranks disagree: rank 1 has --seed 2, rank 0 has 1; every rank must train the same model "
               "on the same data");
  // agree: one rank failed, every rank learns which and why
  msg.clear();
  int code = 0;
  try {
    agree(c, one ? "data.csv: cannot open the file" : "", one ? 2 : 1);
  } catch (const CollectiveError& e) {
    msg = e.what(), code = e.exit_code;
  }
  CHECK(msg == "rank 1: data.csv: cannot open the file");
  CHECK(code == 2);
  CHECK_NOTHROW(agree(c, ""));
  // fit: rank 1's data differs in one label
  Data d = make_data(40);
  if (one) d.y(7) = d.y(7) == 0 ? 1 : 0;
  auto net = mlp<double>({5, 4, 3}, "tanh", "softmax", 1);
  SGD<double> opt(net.parameters(), {.lr = 0.1});
  msg.clear();
  try {
    fit(net, opt, d.x, d.y, {.epochs = 1, .batch_size = 8, .verbose = 0, .comm = &c});
  } catch (const CollectiveError& e) {
    msg = e.what();
  }
  CHECK(msg.find("fit: the ranks disagree: rank 1 has y with hash") == 0);
  // ... and a different batch size
  const Data same = make_data(40);
  msg.clear();
  try {
    fit(net, opt, same.x, same.y, {.epochs = 1, .batch_size = one ? 10u : 8u, .verbose = 0, .comm = &c});
  } catch (const CollectiveError& e) {
    msg = e.what();
  }
  CHECK(msg == "fit: the ranks disagree: rank 1 has batch_size 10, rank 0 has 8; every rank must train the same "
               "model on the same data");
  // weights that drifted apart are caught by check_replicas
  auto m = mlp<double>({5, 4, 3}, "tanh", "softmax", 1);
  if (one) m.parameters()[0]->value(0, 0) += 1e-12;
  msg.clear();
  try {
    check_replicas(c, m, "test");
  } catch (const CollectiveError& e) {
    msg = e.what();
  }
  CHECK(msg.find("test: the weights of rank(s) 1 differ from rank 0's") == 0);
}

int main(int argc, char** argv) {
  MpiSession mpi(&argc, &argv, true);
  g_world = &mpi.world();
  doctest::Context context(argc, argv);
  double failed = context.run() != 0 ? 1 : 0;
  g_world->allreduce_max(std::span<double>(&failed, 1));  // fail on every rank if any failed
  return failed > 0 ? 1 : 0;
}
