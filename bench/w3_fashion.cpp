// W3 (bench/README.md, ../shared/bench-workloads.md): Fashion-MNIST, 784-256-128-10, ReLU,
// softmax + cross-entropy, Adam (lr 1e-3, PyTorch's update), batch 128, float32, 10 epochs.
//
// Two programs doing the same math, epoch by epoch alternating in one run:
//   floor  hand-written backprop over raw buffers and BLAS sgemm (no engine)
//   engine ad::nn: mlp + cross_entropy + Adam, gradients from the tape's reverse sweep
// Seconds per epoch: the median over epochs 2..10; test accuracy after the last epoch (evaluated
// outside the timing). Peak RSS of the process is printed too; run with --only engine (or floor)
// to measure one program's memory alone. Check (when both programs run, outside the timing):
// w3_max_err, the largest |engine - floor| over the gradient of the first batch from the initial
// weights, relative to the largest |floor| entry. (Trained weights are no check here: Adam turns
// float32 rounding in near-zero gradients into full-size steps, so they differ by ~0.1 after one
// epoch even though both programs are right.)
//
// Usage: w3_fashion [--epochs N] [--only engine|floor]
#include <ad/nn/data.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/random.hpp>

#include "common.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

using bench::Clock;
constexpr std::size_t kBatch = 128;
const std::vector<std::size_t> kSizes = {784, 256, 128, 10};

struct Workload {
  xt::xarray<double> xtrain, xtest;
  std::vector<std::size_t> ytrain, ytest;
  std::vector<std::vector<std::size_t>> orders;
  std::vector<std::vector<float>> init;  // W then b per layer, from splitmix64(1)
};

Workload make_workload(std::size_t epochs) {
  Workload w;
  auto train = ad::nn::load_fashion_mnist(true), test = ad::nn::load_fashion_mnist(false);
  train.x /= 255.0;  // in place: a scaled copy would double the 376 MB training set at the peak
  test.x /= 255.0;
  w.xtrain = std::move(train.x);
  w.xtest = std::move(test.x);
  w.ytrain = train.labels();
  w.ytest = test.labels();
  w.orders = bench::epoch_orders(w.ytrain.size(), epochs);
  w.init = bench::initial_weights<float>(kSizes);
  return w;
}

double accuracy_of(const Workload& w, const std::vector<std::vector<float>>& P) {
  // forward in float over the test set, batch by batch
  std::size_t correct = 0;
  const std::size_t n = w.ytest.size(), bs = 1000;
  std::vector<float> a, z;
  for (std::size_t s = 0; s < n; s += bs) {
    const std::size_t m = std::min(bs, n - s);
    a.assign(w.xtest.data() + s * 784, w.xtest.data() + (s + m) * 784);
    for (std::size_t l = 0; l + 1 < kSizes.size(); ++l) {
      const std::size_t in = kSizes[l], out = kSizes[l + 1];
      z.resize(m * out);
      for (std::size_t i = 0; i < m; ++i) std::memcpy(&z[i * out], P[2 * l + 1].data(), out * sizeof(float));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(out), int(in), 1.f, a.data(), int(in),
                  P[2 * l].data(), int(out), 1.f, z.data(), int(out));
      if (l + 2 < kSizes.size())
        for (auto& v : z) v = std::max(v, 0.f);
      std::swap(a, z);
    }
    for (std::size_t i = 0; i < m; ++i)
      correct += std::size_t(std::max_element(&a[i * 10], &a[i * 10] + 10) - &a[i * 10]) == w.ytest[s + i];
  }
  return double(correct) / double(n);
}

// ---- the floor ---------------------------------------------------------------------------------
struct Floor {
  std::vector<std::vector<float>> P, G, M, V;  // params, grads, Adam moments
  std::vector<std::vector<float>> A, D;         // activations per layer (A[0] = input), deltas
  std::vector<std::size_t> Y;
  std::size_t t = 0;
  explicit Floor(const Workload& w) : P(w.init) {
    for (auto& p : P) {
      G.emplace_back(p.size());
      M.emplace_back(p.size(), 0.f);
      V.emplace_back(p.size(), 0.f);
    }
    for (auto s : kSizes) {
      A.emplace_back(kBatch * s);
      D.emplace_back(kBatch * s);
    }
    Y.resize(kBatch);
  }
  double epoch(const Workload& w, const std::vector<std::size_t>& order) {
    double loss = 0;
    for (std::size_t start = 0; start < w.ytrain.size(); start += kBatch) {
      loss = batch_grad(w, order, start);
      adam_step();
    }
    return loss;
  }
  // G <- the gradient of the mean loss of the batch order[start, start + 128); returns the loss.
  double batch_grad(const Workload& w, const std::vector<std::size_t>& order, std::size_t start) {
    const std::size_t n = w.ytrain.size(), L = kSizes.size() - 1;
    const std::size_t m = std::min(kBatch, n - start);
    const int mi = int(m);
    for (std::size_t i = 0; i < m; ++i) {
      const double* src = w.xtrain.data() + order[start + i] * 784;
      for (std::size_t j = 0; j < 784; ++j) A[0][i * 784 + j] = static_cast<float>(src[j]);
      Y[i] = w.ytrain[order[start + i]];
    }
    for (std::size_t l = 0; l < L; ++l) {
      const std::size_t in = kSizes[l], out = kSizes[l + 1];
      float* z = A[l + 1].data();
      for (std::size_t i = 0; i < m; ++i) std::memcpy(z + i * out, P[2 * l + 1].data(), out * sizeof(float));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, int(out), int(in), 1.f, A[l].data(), int(in),
                  P[2 * l].data(), int(out), 1.f, z, int(out));
      if (l + 1 < L)
        for (std::size_t i = 0; i < m * out; ++i) z[i] = std::max(z[i], 0.f);
    }
    double loss = 0;
    float* o = A[L].data();
    float* d = D[L].data();
    for (std::size_t i = 0; i < m; ++i) {
      float* p = o + i * 10;
      const float mx = *std::max_element(p, p + 10);
      float s = 0;
      for (int k = 0; k < 10; ++k) s += std::exp(p[k] - mx);
      const float ls = std::log(s);
      loss -= double(p[Y[i]] - mx - ls);
      for (std::size_t k = 0; k < 10; ++k) d[i * 10 + k] = (std::exp(p[k] - mx - ls) - float(k == Y[i])) / float(m);
    }
    loss /= double(m);
    for (std::size_t l = L; l-- > 0;) {
      const std::size_t in = kSizes[l], out = kSizes[l + 1];
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(in), int(out), mi, 1.f, A[l].data(), int(in),
                  D[l + 1].data(), int(out), 0.f, G[2 * l].data(), int(out));
      std::fill(G[2 * l + 1].begin(), G[2 * l + 1].end(), 0.f);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t k = 0; k < out; ++k) G[2 * l + 1][k] += D[l + 1][i * out + k];
      if (l > 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, int(in), int(out), 1.f, D[l + 1].data(), int(out),
                    P[2 * l].data(), int(out), 0.f, D[l].data(), int(in));
        for (std::size_t i = 0; i < m * in; ++i) D[l][i] = A[l][i] > 0 ? D[l][i] : 0.f;
      }
    }
    return loss;
  }
  void adam_step() {
    ++t;
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float bc1 = 1 - std::pow(b1, float(t)), bc2 = std::sqrt(1 - std::pow(b2, float(t)));
    for (std::size_t k = 0; k < P.size(); ++k)
      for (std::size_t i = 0; i < P[k].size(); ++i) {
        const float g = G[k][i];
        M[k][i] = b1 * M[k][i] + (1 - b1) * g;
        V[k][i] = b2 * V[k][i] + (1 - b2) * g * g;
        P[k][i] -= (lr / bc1) * M[k][i] / (std::sqrt(V[k][i]) / bc2 + eps);
      }
  }
};

// ---- the engine --------------------------------------------------------------------------------
struct Engine {
  ad::nn::Sequential<float> net = ad::nn::mlp<float>(kSizes, "relu", "softmax", 1);
  std::vector<ad::nn::Parameter<float>*> params = net.parameters();
  std::unique_ptr<ad::nn::Adam<float>> opt;
  ad::Tape<float> tape;
  xt::xarray<float> xb;
  std::vector<std::size_t> yb;
  explicit Engine(const Workload& w) {
    for (std::size_t k = 0; k < params.size(); ++k)
      std::copy(w.init[k].begin(), w.init[k].end(), params[k]->value.begin());
    opt = std::make_unique<ad::nn::Adam<float>>(params, ad::nn::AdamOptions{.lr = 1e-3});
  }
  double epoch(const Workload& w, const std::vector<std::size_t>& order) {
    double loss = 0;
    for (std::size_t start = 0; start < w.ytrain.size(); start += kBatch) {
      loss = batch_grad(w, order, start);
      opt->step();
    }
    return loss;
  }
  // Each parameter's grad <- the gradient of the batch order[start, start + 128); returns the loss.
  double batch_grad(const Workload& w, const std::vector<std::size_t>& order, std::size_t start) {
    const std::size_t end = std::min(w.ytrain.size(), start + kBatch);
    ad::nn::gather_rows(w.xtrain, order, start, end, xb);
    yb.resize(end - start);
    for (std::size_t i = start; i < end; ++i) yb[i - start] = w.ytrain[order[i]];
    tape.clear();
    auto l = ad::nn::cross_entropy(net.forward_first(tape.constant(xb), 5), yb);
    for (auto* p : params) p->zero_grad();
    tape.backward(l);  // into every parameter's grad
    return l.item();
  }
  std::vector<std::vector<float>> weights() const {
    std::vector<std::vector<float>> P;
    for (auto* p : params) P.emplace_back(p->value.begin(), p->value.end());
    return P;
  }
};

double median_from_second(std::vector<double> v) {
  if (v.size() > 1) v.erase(v.begin());
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t epochs = 10;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--epochs") epochs = std::stoul(argv[i + 1]);
    else if (a == "--only") only = argv[i + 1];
    else {
      fmt::print(stderr, "w3_fashion: unknown option {} (valid: --epochs N, --only engine|floor)\n", a);
      return 2;
    }
  }
  if (!only.empty() && only != "engine" && only != "floor") {
    fmt::print(stderr, "w3_fashion: --only takes engine or floor, not {}\n", only);
    return 2;
  }
  const Workload w = make_workload(epochs);
  std::string err;  // the gradient check, when both programs run (fresh copies, before the timing)
  if (only.empty()) {
    auto f = std::make_unique<Floor>(w);
    auto g = std::make_unique<Engine>(w);
    f->batch_grad(w, w.orders[0], 0);
    g->batch_grad(w, w.orders[0], 0);
    double diff = g->params.size() == f->G.size() ? 0 : HUGE_VAL, scale = 0;
    for (std::size_t k = 0; k < g->params.size() && k < f->G.size(); ++k) {
      const auto& ge = g->params[k]->grad;
      if (ge.size() != f->G[k].size()) diff = HUGE_VAL;
      for (std::size_t i = 0; i < ge.size() && i < f->G[k].size(); ++i) {
        diff = std::max(diff, double(std::fabs(ge.data()[i] - f->G[k][i])));
        scale = std::max(scale, double(std::fabs(f->G[k][i])));
      }
    }
    err = fmt::format(" w3_max_err={:.3g}", scale > 0 ? diff / scale : HUGE_VAL);
  }
  std::unique_ptr<Floor> floor;
  std::unique_ptr<Engine> engine;
  if (only != "engine") floor = std::make_unique<Floor>(w);
  if (only != "floor") engine = std::make_unique<Engine>(w);
  std::vector<double> tf, te;
  double lf = 0, le = 0;
  for (std::size_t e = 0; e < epochs; ++e) {
    if (floor) {
      auto t0 = Clock::now();
      lf = floor->epoch(w, w.orders[e]);
      tf.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    if (engine) {
      auto t0 = Clock::now();
      le = engine->epoch(w, w.orders[e]);
      te.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    fmt::print("epoch {:>2}: floor {:.3f} s (loss {:.4f})  engine {:.3f} s (loss {:.4f})\n", e + 1,
               tf.empty() ? 0.0 : tf.back(), lf, te.empty() ? 0.0 : te.back(), le);
  }
  const double af = floor ? accuracy_of(w, floor->P) : 0, ae = engine ? accuracy_of(w, engine->weights()) : 0;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double mf = tf.empty() ? 0 : median_from_second(tf), me = te.empty() ? 0 : median_from_second(te);
  fmt::print("w3_floor_s_per_epoch={:.3f} w3_engine_s_per_epoch={:.3f} w3_ratio={:.3f} w3_floor_test_accuracy={:.4f} "
             "w3_test_accuracy={:.4f} w3_epochs={} w3_peak_rss_mb={:.0f}{}\n",
             mf, me, (mf > 0 && me > 0) ? me / mf : 0.0, af, ae, epochs, double(ru.ru_maxrss) / 1024.0, err);
}
