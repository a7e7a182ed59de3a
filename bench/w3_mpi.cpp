// W3 data-parallel (issue 17, docs/distributed.md): Fashion-MNIST, 784-256-128-10, ReLU, softmax +
// cross-entropy, Adam (lr 1e-3), global batch 128, float32, as w3_fashion's engine, but through
// ad::nn's Trainer with a communicator: every global batch of the epoch order is split across
// the ranks, each rank records its share, and one allreduce per step sums the gradients.
//
//   OPENBLAS_NUM_THREADS=1 build/bin/w3_mpi                       # 1 rank, 1 BLAS thread
//   OPENBLAS_NUM_THREADS=2 build/bin/w3_mpi                       # 1 rank, 2 BLAS threads
//   mpirun -np 2 -x OPENBLAS_NUM_THREADS=1 build/bin/w3_mpi       # 2 ranks, 1 BLAS thread each
//
// Timed: each epoch's training loop on every rank (rank 0's clock, after a barrier at the start
// of the epoch); seconds per epoch = median over epochs 2..N (epoch 1 alone when N = 1). The
// allreduce's time is measured around every call the Trainer makes (a communicator that times the
// real one) and reported per step and as a share of the step. Test accuracy after the last
// epoch, outside the timing, on rank 0.
//
// Usage: w3_mpi [--epochs N] (default 3)
#include <ad/nn/data.hpp>
#include <ad/nn/distributed.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/mpi.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>

#include "common.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <vector>

extern "C" int openblas_get_num_threads(void) __attribute__((weak));

namespace {

using bench::Clock;
constexpr std::size_t kBatch = 128;
const std::vector<std::size_t> kSizes = {784, 256, 128, 10};

/// The real communicator, with the seconds spent in allreduce_sum added up.
class Timed final : public ad::nn::Communicator {
 public:
  explicit Timed(ad::nn::Communicator& c) : c_(c) {}
  int rank() const override { return c_.rank(); }
  int size() const override { return c_.size(); }
  void allreduce_sum(std::span<double> d) override { timed([&] { c_.allreduce_sum(d); }, d.size() * 8); }
  void allreduce_sum(std::span<float> d) override { timed([&] { c_.allreduce_sum(d); }, d.size() * 4); }
  void allreduce_max(std::span<double> d) override { c_.allreduce_max(d); }
  void broadcast(std::span<double> d, int root) override { c_.broadcast(d, root); }
  void broadcast(std::span<float> d, int root) override { c_.broadcast(d, root); }
  std::vector<std::string> allgather(const std::string& s) override { return c_.allgather(s); }
  void barrier() override { c_.barrier(); }
  [[noreturn]] void abort(const std::string& m, int code) override {
    c_.abort(m, code);
    std::_Exit(code);  // not reached
  }
  double seconds = 0;
  std::size_t calls = 0, bytes = 0;

 private:
  template <class F>
  void timed(F&& f, std::size_t b) {
    const auto t0 = Clock::now();
    f();
    seconds += bench::seconds_since(t0);
    ++calls;
    bytes = b;
  }
  ad::nn::Communicator& c_;
};

void load_part(const std::string& part, xt::xarray<float>& x, xt::xarray<float>& y) {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  if (const char* e = std::getenv("AD_FASHION_MNIST_DIR"); e && *e) dir = e;
  x = ad::nn::load_idx_array_float(dir + "/" + part + "-images-idx3-ubyte.gz");
  x.reshape({x.shape()[0], std::size_t(784)});
  for (float& v : x) v = static_cast<float>(v / 255.0);
  const xt::xarray<double> labels = ad::nn::load_idx_array(dir + "/" + part + "-labels-idx1-ubyte.gz");
  y = xt::xarray<float>::from_shape({labels.size()});
  std::copy(labels.begin(), labels.end(), y.begin());
}

}  // namespace

int main(int argc, char** argv) {
  ad::nn::MpiSession mpi(&argc, &argv);
  ad::nn::Communicator& world = mpi.world();
  std::size_t epochs = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--epochs" && i + 1 < argc) epochs = std::max(1, std::atoi(argv[++i]));
    else world.abort(fmt::format("w3_mpi: unknown option {} (valid: --epochs N)", a), 2);
  }
  const bool root = world.root();
  xt::xarray<float> xtrain, ytrain, xtest, ytest;
  load_part("train", xtrain, ytrain);
  load_part("t10k", xtest, ytest);
  const std::size_t n = ytrain.size();
  const auto orders = bench::epoch_orders(n, epochs);
  const auto init = bench::initial_weights<float>(kSizes);

  auto net = ad::nn::mlp<float>(kSizes, "relu", "softmax", 1);
  auto params = net.parameters();
  for (std::size_t k = 0; k < params.size(); ++k) std::copy(init[k].begin(), init[k].end(), params[k]->value.begin());
  ad::nn::Adam<float> opt(params, ad::nn::AdamOptions{.lr = 1e-3});
  ad::nn::Trainer<float> trainer(net, opt, ad::nn::Loss::cross_entropy);
  Timed comm(world);
  trainer.set_communicator(&comm);
  ad::nn::broadcast_state(world, net);

  xt::xarray<float> xb[2], yb[2];
  std::vector<double> secs;
  double allreduce_s = 0, loss = 0;
  std::size_t steps = 0;
  for (std::size_t e = 0; e < epochs; ++e) {
    world.barrier();
    const double ar0 = comm.seconds;
    const auto t0 = Clock::now();
    loss = 0;
    for (std::size_t start = 0; start < n; start += kBatch) {
      const std::size_t end = std::min(n, start + kBatch), slot = end - start == kBatch ? 0 : 1;
      const auto [lo, hi] = ad::nn::share_of(end - start, world.rank(), world.size());
      ad::nn::gather_rows(xtrain, orders[e], start + lo, start + hi, xb[slot]);
      ad::nn::gather_rows(ytrain, orders[e], start + lo, start + hi, yb[slot]);
      loss += trainer.step(xb[slot], yb[slot]) * double(end - start);
      if (e > 0 || epochs == 1) ++steps;
    }
    const double s = bench::seconds_since(t0);
    if (e > 0 || epochs == 1) secs.push_back(s), allreduce_s += comm.seconds - ar0;
    if (root) fmt::print("epoch {:>2}: {:.3f} s, loss {:.4f}, allreduce {:.3f} s\n", e + 1, s, loss / double(n), comm.seconds - ar0);
  }
  ad::nn::check_replicas(world, net, "w3_mpi");  // every rank holds the same weights
  const auto st = bench::stats(secs);
  double timed_s = 0;
  for (double s : secs) timed_s += s;
  const double step_s = timed_s / double(steps), ar_step = comm.size() > 1 ? allreduce_s / double(steps) : 0;
  if (root) {
    ad::Tape<float> tape;
    ad::NoGradGuard no_grad;
    const auto& out = net.forward(tape.constant(xtest)).value();
    std::size_t correct = 0;
    for (std::size_t i = 0; i < ytest.size(); ++i)
      correct += std::size_t(std::max_element(&out(i, 0), &out(i, 0) + 10) - &out(i, 0)) == std::size_t(ytest(i));
    const int threads = openblas_get_num_threads ? openblas_get_num_threads() : 1;
    fmt::print("w3mpi_ranks={} w3mpi_blas_threads={} w3mpi_s_per_epoch={:.3f} w3mpi_s_min={:.3f} w3mpi_s_max={:.3f} "
               "w3mpi_epochs_per_s={:.3f} w3mpi_step_ms={:.3f} w3mpi_allreduce_ms={:.3f} w3mpi_allreduce_share={:.3f} "
               "w3mpi_allreduce_bytes={} w3mpi_train_loss={:.4f} w3mpi_test_accuracy={:.4f} w3mpi_epochs={}\n",
               world.size(), threads, st.median, st.min, st.max, 1 / st.median, step_s * 1e3, ar_step * 1e3,
               ar_step / step_s, comm.bytes, loss / double(n), double(correct) / double(ytest.size()), epochs);
  }
  return 0;
}
