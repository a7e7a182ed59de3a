// W3 (bench/README.md, ../shared/bench-workloads.md): Fashion-MNIST, 784-256-128-10, ReLU,
// softmax + cross-entropy, Adam (lr 1e-3, PyTorch's update), batch 128, float32, 10 epochs.
//
// Two programs doing the same math, epoch by epoch alternating in one run:
//   floor  the fastest straightforward hand-written float32 code (no engine): the training set
//          converted to float32 once before the timing, rows memcpy'd per batch, cblas_sgemm with
//          transpose flags, bias + ReLU fused, softmax + cross-entropy + its gradient in one pass,
//          Adam as one vectorized pass over all parameters held in one buffer
//   engine ad::nn: mlp + cross_entropy + Adam, gradients from the tape's reverse sweep
// and, as a third timing per epoch, the floor's 8 sgemm calls per batch alone (w3_gemm_s_per_epoch).
// Seconds per epoch: the median over epochs 2..10; test accuracy after the last epoch (evaluated
// outside the timing). Each epoch's line shows both programs' mean training loss over the epoch
// (they follow the same trajectory to about two digits; see the note on Adam below). Peak RSS of the process is printed too; run with --only engine (or floor)
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
#include "mlp_floor.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using bench::Clock;
constexpr std::size_t kBatch = 128;
const std::vector<std::size_t> kSizes = {784, 256, 128, 10};

struct Workload {
  // Pixels / 255 as float32, loaded as float (never held as double): the floor's and the engine's
  // training set, one copy, converted once before any timing.
  xt::xarray<float> xtrain32, xtest32;
  std::vector<std::size_t> ytrain, ytest;
  std::vector<std::vector<std::size_t>> orders;
  std::vector<std::vector<float>> init;  // W then b per layer, from splitmix64(1)
};

// One Fashion-MNIST part as load_fashion_mnist finds it, the images as float (/ 255, in place).
void load_part(const std::string& part, xt::xarray<float>& x, std::vector<std::size_t>& y) {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  if (const char* e = std::getenv("AD_FASHION_MNIST_DIR"); e && *e) dir = e;
  x = ad::nn::load_idx_array_float(dir + "/" + part + "-images-idx3-ubyte.gz");
  x.reshape({x.shape()[0], std::size_t(784)});
  for (float& v : x) v = static_cast<float>(v / 255.0);  // as the double data / 255 rounded to float
  const xt::xarray<double> labels = ad::nn::load_idx_array(dir + "/" + part + "-labels-idx1-ubyte.gz");
  y.assign(labels.begin(), labels.end());
}

Workload make_workload(std::size_t epochs) {
  Workload w;
  load_part("train", w.xtrain32, w.ytrain);
  load_part("t10k", w.xtest32, w.ytest);
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
    a.assign(w.xtest32.data() + s * 784, w.xtest32.data() + (s + m) * 784);
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
// The fastest straightforward hand-written float32 code for this network (bench/mlp_floor.hpp):
// the training set as float32 once (Workload::xtrain32, converted before any timing), each
// batch's rows copied out with memcpy, then the shared floor step (sgemm with transpose flags,
// bias fused with the ReLU, softmax + cross-entropy in one pass per row, one vectorized Adam pass
// over all parameters held in one buffer).
struct Floor : bench::MlpFloor {
  explicit Floor(const Workload& w) : MlpFloor(kSizes, w.init, kBatch) {}
  /// Tensor k's gradient (W0, b0, W1, ...), for the check against the engine.
  std::vector<float> tensor_grad(std::size_t k) const { return {G.begin() + off[k], G.begin() + off[k + 1]}; }
  double epoch(const Workload& w, const std::vector<std::size_t>& order) {
    double loss = 0;  // the mean training loss over the epoch's rows (before each update)
    for (std::size_t start = 0; start < w.ytrain.size(); start += kBatch) {
      loss += batch_grad(w, order, start) * double(std::min(kBatch, w.ytrain.size() - start));
      adam();
    }
    return loss / double(w.ytrain.size());
  }
  // G <- the gradient of the mean loss of the batch order[start, start + 128); returns the loss.
  double batch_grad(const Workload& w, const std::vector<std::size_t>& order, std::size_t start) {
    const std::size_t m = std::min(kBatch, w.ytrain.size() - start);
    for (std::size_t i = 0; i < m; ++i) {
      std::memcpy(input() + i * 784, w.xtrain32.data() + order[start + i] * 784, 784 * sizeof(float));
      Y[i] = w.ytrain[order[start + i]];
    }
    return grad(m);
  }
};

// The floor's sgemm calls per batch alone, on the floor's buffers (what no implementation can go
// below with this BLAS): w3_gemm_s_per_epoch.
void gemm_only_epoch(Floor& f, std::size_t rows) {
  for (std::size_t start = 0; start < rows; start += kBatch) f.gemm_only(std::min(kBatch, rows - start));
}

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
    double loss = 0;  // the mean training loss over the epoch's rows (before each update)
    for (std::size_t start = 0; start < w.ytrain.size(); start += kBatch) {
      loss += batch_grad(w, order, start) * double(std::min(kBatch, w.ytrain.size() - start));
      opt->step();
    }
    return loss / double(w.ytrain.size());
  }
  // Each parameter's grad <- the gradient of the batch order[start, start + 128); returns the loss.
  double batch_grad(const Workload& w, const std::vector<std::size_t>& order, std::size_t start) {
    const std::size_t end = std::min(w.ytrain.size(), start + kBatch);
    ad::nn::gather_rows(w.xtrain32, order, start, end, xb);
    yb.resize(end - start);
    for (std::size_t i = start; i < end; ++i) yb[i - start] = w.ytrain[order[i]];
    tape.clear();
    auto l = ad::nn::cross_entropy(net.forward_first(tape.constant_ref(xb), 5), yb);
    tape.backward(l, ad::SinkMode::assign);  // overwrites every parameter's grad (as zero_grad + backward)
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
    const std::size_t tensors = f->off.size() - 1;
    double diff = g->params.size() == tensors ? 0 : HUGE_VAL, scale = 0;
    for (std::size_t k = 0; k < g->params.size() && k < tensors; ++k) {
      const auto& ge = g->params[k]->grad;
      const std::vector<float> gf = f->tensor_grad(k);
      if (ge.size() != gf.size()) diff = HUGE_VAL;
      for (std::size_t i = 0; i < ge.size() && i < gf.size(); ++i) {
        diff = std::max(diff, double(std::fabs(ge.data()[i] - gf[i])));
        scale = std::max(scale, double(std::fabs(gf[i])));
      }
    }
    err = fmt::format(" w3_max_err={:.3g}", scale > 0 ? diff / scale : HUGE_VAL);
  }
  std::unique_ptr<Floor> floor, gemm;
  std::unique_ptr<Engine> engine;
  if (only != "engine") floor = std::make_unique<Floor>(w), gemm = std::make_unique<Floor>(w);
  if (only != "floor") engine = std::make_unique<Engine>(w);
  std::vector<double> tf, te, tg;
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
    if (gemm) {
      auto t0 = Clock::now();
      gemm_only_epoch(*gemm, w.ytrain.size());
      tg.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    fmt::print("epoch {:>2}: floor {:.3f} s (loss {:.4f})  engine {:.3f} s (loss {:.4f})  sgemm alone {:.3f} s\n", e + 1,
               tf.empty() ? 0.0 : tf.back(), lf, te.empty() ? 0.0 : te.back(), le, tg.empty() ? 0.0 : tg.back());
  }
  const double af = floor ? accuracy_of(w, floor->weights()) : 0, ae = engine ? accuracy_of(w, engine->weights()) : 0;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double mf = tf.empty() ? 0 : median_from_second(tf), me = te.empty() ? 0 : median_from_second(te);
  const double mg = tg.empty() ? 0 : median_from_second(tg);
  fmt::print("w3_floor_s_per_epoch={:.3f} w3_engine_s_per_epoch={:.3f} w3_ratio={:.3f} w3_floor_test_accuracy={:.4f} "
             "w3_test_accuracy={:.4f} w3_epochs={} w3_peak_rss_mb={:.0f}{} w3_gemm_s_per_epoch={:.3f} "
             "w3_ratio_to_gemm={:.3f}\n",
             mf, me, (mf > 0 && me > 0) ? me / mf : 0.0, af, ae, epochs, double(ru.ru_maxrss) / 1024.0, err, mg,
             (mg > 0 && me > 0) ? me / mg : 0.0);
}
