// Concurrency (issue 8): separate tapes on separate threads work at the same time. Two models
// trained by nn::fit on two threads at once end with exactly the weights (bit for bit) of the
// same two trainings run one after the other. Nothing in autodiff or nn is shared between
// tapes: the no-grad and anomaly scopes are per thread, each model owns its Rng and each fit
// its tapes. OpenBLAS gemm is deterministic for a given problem whatever its own threading
// (it splits the output, not the summation), so no OPENBLAS_NUM_THREADS setting is needed.
#include "common.hpp"

#include <ad/nn/data.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>

#include <cstring>
#include <thread>

using namespace robust;

namespace {

template <class T>
std::vector<xt::xarray<T>> train(const ad::nn::Dataset& d, std::uint64_t seed) {
  auto net = ad::nn::mlp<T>({64, 32, 10}, "tanh", "softmax", seed);
  ad::nn::Adam<T> opt(net.parameters(), {.lr = 0.01});
  ad::nn::fit(net, opt, d.x, d.y, {.epochs = 3, .batch_size = 50, .seed = seed, .verbose = 0});
  std::vector<xt::xarray<T>> out;
  for (auto* p : net.parameters()) out.push_back(p->value);
  return out;
}

template <class T>
bool same_bits(const std::vector<xt::xarray<T>>& a, const std::vector<xt::xarray<T>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (a[k].shape() != b[k].shape() || std::memcmp(a[k].data(), b[k].data(), a[k].size() * sizeof(T)) != 0)
      return false;
  return true;
}

}  // namespace

TEST_CASE("concurrency: two models trained on two threads at once give the single-threaded weights bit for bit") {
  ad::nn::Dataset d = ad::nn::load_digits();
  d.x /= 16.0;
  // One after the other.
  const auto single_d = train<double>(d, 7);
  const auto single_f = train<float>(d, 8);
  // At the same time, twice (a float and a double model, then two double models).
  std::vector<xt::xarray<double>> threaded_d, threaded_d2;
  std::vector<xt::xarray<float>> threaded_f;
  {
    std::thread a([&] { threaded_d = train<double>(d, 7); });
    std::thread b([&] { threaded_f = train<float>(d, 8); });
    a.join();
    b.join();
  }
  CHECK(same_bits(single_d, threaded_d));
  CHECK(same_bits(single_f, threaded_f));
  {
    std::thread a([&] { threaded_d = train<double>(d, 7); });
    std::thread b([&] { threaded_d2 = train<double>(d, 7); });
    a.join();
    b.join();
  }
  CHECK(same_bits(single_d, threaded_d));
  CHECK(same_bits(single_d, threaded_d2));
  CHECK(!same_bits(single_d, train<double>(d, 9)));  // the comparison can tell runs apart
}
