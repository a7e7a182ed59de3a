// W2 (bench/README.md, ../shared/bench-workloads.md): the course's digits network, 64-50-10,
// sigmoid hidden, softmax + cross-entropy, plain SGD lr 0.1, batch 100, 100 epochs, float64.
//
// Two programs doing the same math in the same run, alternating:
//   floor  hand-written backprop over raw buffers and BLAS gemm (no engine)
//   engine ad::nn: mlp + cross_entropy + SGD, gradients from the tape's reverse sweep
// Both start from the same initial weights and see the same batches, so their final losses agree
// to rounding; the ratio engine / floor is the figure of merit. Check: w2_max_err, the largest
// |engine - floor| over the trained weights (a wrong gradient anywhere would show as ~1e-2 or more).
//
// Usage: w2_digits [--repeats N] [--epochs N]
#include <ad/nn/data.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/random.hpp>

#include "common.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

using bench::Clock;
constexpr std::size_t kIn = 64, kHidden = 50, kOut = 10, kBatch = 100;
constexpr double kLr = 0.1;

struct Workload {
  xt::xarray<double> xtrain, xtest;
  std::vector<std::size_t> ytrain, ytest;
  std::vector<std::vector<std::size_t>> orders;  // one per epoch, precomputed
  // initial weights: W (fan_in x fan_out, row-major) then b, layer by layer, from splitmix64(1)
  std::vector<double> w1, b1, w2, b2;
};

Workload make_workload(std::size_t epochs) {
  Workload w;
  auto d = ad::nn::load_digits();
  d.x /= 16.0;
  auto perm = ad::nn::Rng(42).permutation(d.size());
  std::vector<std::size_t> tr(perm.begin(), perm.begin() + 1437), te(perm.begin() + 1437, perm.end());
  auto train = d.subset(tr), test = d.subset(te);
  w.xtrain = train.x;
  w.xtest = test.x;
  w.ytrain = train.labels();
  w.ytest = test.labels();
  w.orders = bench::epoch_orders(w.ytrain.size(), epochs);
  auto init = bench::initial_weights<double>({kIn, kHidden, kOut});
  w.w1 = init[0];
  w.b1 = init[1];
  w.w2 = init[2];
  w.b2 = init[3];
  return w;
}

struct Result {
  double seconds = 0, final_loss = 0, test_accuracy = 0;
  std::vector<double> weights;  // after training: W1, b1, W2, b2 (W fan_in x fan_out, row-major)
};

/// The largest |a_i - b_i| (infinite if the sizes differ): the floor and the engine do the same
/// math from the same weights over the same batches, so their trained weights agree to rounding.
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.empty()) return HUGE_VAL;
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// ---- the floor: hand-written backprop (BLAS gemm, xtensor + xsimd elementwise) -----------------
Result run_floor(const Workload& w) {
  std::vector<double> W1 = w.w1, B1 = w.b1, W2 = w.w2, B2 = w.b2;
  std::vector<double> X(kBatch * kIn), H(kBatch * kHidden), P(kBatch * kOut), dZ2(kBatch * kOut),
      dH(kBatch * kHidden), gW1(kIn * kHidden), gW2(kHidden * kOut), gB1(kHidden), gB2(kOut);
  std::vector<std::size_t> Y(kBatch);
  const std::size_t n = w.ytrain.size();
  double loss = 0;
  const auto t0 = Clock::now();
  for (const auto& order : w.orders) {
    for (std::size_t start = 0; start < n; start += kBatch) {
      const std::size_t m = std::min(kBatch, n - start);
      const int mi = static_cast<int>(m);
      for (std::size_t i = 0; i < m; ++i) {
        std::memcpy(&X[i * kIn], w.xtrain.data() + order[start + i] * kIn, kIn * sizeof(double));
        Y[i] = w.ytrain[order[start + i]];
      }
      // forward: H = sigmoid(X W1 + b1), P = softmax(H W2 + b2)
      for (std::size_t i = 0; i < m; ++i) std::memcpy(&H[i * kHidden], B1.data(), kHidden * sizeof(double));
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, kHidden, kIn, 1.0, X.data(), kIn, W1.data(),
                  kHidden, 1.0, H.data(), kHidden);
      auto h = xt::adapt(H.data(), m * kHidden, xt::no_ownership(), std::array<std::size_t, 1>{m * kHidden});
      xt::noalias(h) = 1.0 / (1.0 + xt::exp(-h));  // xtensor + xsimd, as the reference floor
      for (std::size_t i = 0; i < m; ++i) std::memcpy(&P[i * kOut], B2.data(), kOut * sizeof(double));
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, kOut, kHidden, 1.0, H.data(), kHidden,
                  W2.data(), kOut, 1.0, P.data(), kOut);
      loss = 0;
      for (std::size_t i = 0; i < m; ++i) {
        double* p = &P[i * kOut];
        const double mx = *std::max_element(p, p + kOut);
        double s = 0;
        for (std::size_t k = 0; k < kOut; ++k) s += (p[k] = std::exp(p[k] - mx));
        for (std::size_t k = 0; k < kOut; ++k) p[k] /= s;
        loss -= std::log(p[Y[i]]);
        // delta_out = (P - onehot) / m
        for (std::size_t k = 0; k < kOut; ++k) dZ2[i * kOut + k] = (p[k] - (k == Y[i])) / double(m);
      }
      loss /= double(m);
      // backward: gW2 = H^T dZ2, gb2 = colsum dZ2, dH = dZ2 W2^T * H (1 - H), gW1 = X^T dH
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kHidden, kOut, mi, 1.0, H.data(), kHidden, dZ2.data(),
                  kOut, 0.0, gW2.data(), kOut);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, kHidden, kOut, 1.0, dZ2.data(), kOut, W2.data(),
                  kOut, 0.0, dH.data(), kHidden);
      std::fill(gB2.begin(), gB2.end(), 0.0);
      std::fill(gB1.begin(), gB1.end(), 0.0);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t k = 0; k < kOut; ++k) gB2[k] += dZ2[i * kOut + k];
      auto dh = xt::adapt(dH.data(), m * kHidden, xt::no_ownership(), std::array<std::size_t, 1>{m * kHidden});
      xt::noalias(dh) = dh * h * (1.0 - h);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t k = 0; k < kHidden; ++k) gB1[k] += dH[i * kHidden + k];
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kIn, kHidden, mi, 1.0, X.data(), kIn, dH.data(),
                  kHidden, 0.0, gW1.data(), kHidden);
      for (std::size_t i = 0; i < W1.size(); ++i) W1[i] -= kLr * gW1[i];
      for (std::size_t i = 0; i < W2.size(); ++i) W2[i] -= kLr * gW2[i];
      for (std::size_t i = 0; i < B1.size(); ++i) B1[i] -= kLr * gB1[i];
      for (std::size_t i = 0; i < B2.size(); ++i) B2[i] -= kLr * gB2[i];
    }
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.final_loss = loss;
  for (const auto* v : {&W1, &B1, &W2, &B2}) r.weights.insert(r.weights.end(), v->begin(), v->end());
  // test accuracy (outside the timing)
  std::size_t correct = 0;
  for (std::size_t i = 0; i < w.ytest.size(); ++i) {
    std::vector<double> h(B1), o(B2);
    for (std::size_t j = 0; j < kIn; ++j)
      for (std::size_t k = 0; k < kHidden; ++k) h[k] += w.xtest.data()[i * kIn + j] * W1[j * kHidden + k];
    for (auto& v : h) v = 1 / (1 + std::exp(-v));
    for (std::size_t j = 0; j < kHidden; ++j)
      for (std::size_t k = 0; k < kOut; ++k) o[k] += h[j] * W2[j * kOut + k];
    correct += static_cast<std::size_t>(std::max_element(o.begin(), o.end()) - o.begin()) == w.ytest[i];
  }
  r.test_accuracy = double(correct) / double(w.ytest.size());
  return r;
}

// ---- the engine: ad::nn -----------------------------------------------------------------------
Result run_engine(const Workload& w) {
  auto net = ad::nn::mlp<double>({kIn, kHidden, kOut}, "sigmoid", "softmax", 1);
  auto params = net.parameters();
  std::copy(w.w1.begin(), w.w1.end(), params[0]->value.begin());
  std::copy(w.b1.begin(), w.b1.end(), params[1]->value.begin());
  std::copy(w.w2.begin(), w.w2.end(), params[2]->value.begin());
  std::copy(w.b2.begin(), w.b2.end(), params[3]->value.begin());
  ad::nn::SGD<double> opt(params, {.lr = kLr});
  ad::Tape<double> tape;
  xt::xarray<double> xb;
  std::vector<std::size_t> yb;
  const std::size_t n = w.ytrain.size();
  double loss = 0;
  const auto t0 = Clock::now();
  for (const auto& order : w.orders) {
    for (std::size_t start = 0; start < n; start += kBatch) {
      const std::size_t end = std::min(n, start + kBatch);
      ad::nn::gather_rows(w.xtrain, order, start, end, xb);
      yb.resize(end - start);
      for (std::size_t i = start; i < end; ++i) yb[i - start] = w.ytrain[order[i]];
      tape.clear();
      auto logits = net.forward_first(tape.constant(xb), 3);  // softmax is fused into the loss
      auto l = ad::nn::cross_entropy(logits, yb);
      opt.zero_grad();
      tape.backward(l);  // into every parameter's grad
      opt.step();
      loss = l.item();
    }
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.final_loss = loss;
  for (auto* p : params) r.weights.insert(r.weights.end(), p->value.begin(), p->value.end());
  net.eval();
  ad::Tape<double> t2;
  auto scores = net(t2.constant(w.xtest)).value();
  r.test_accuracy = ad::nn::accuracy(ad::nn::argmax_rows(scores), w.ytest);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t repeats = 5, epochs = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--repeats") repeats = std::stoul(argv[i + 1]);
    else if (a == "--epochs") epochs = std::stoul(argv[i + 1]);
    else {
      fmt::print(stderr, "w2_digits: unknown option {} (valid: --repeats N, --epochs N)\n", a);
      return 2;
    }
  }
  const Workload w = make_workload(epochs);
  std::vector<double> tf, te;
  Result rf, re;
  for (std::size_t r = 0; r < repeats; ++r) {  // alternate the two programs
    rf = run_floor(w);
    re = run_engine(w);
    tf.push_back(rf.seconds);
    te.push_back(re.seconds);
    fmt::print("repeat {}: floor {:.4f} s  engine {:.4f} s\n", r, rf.seconds, re.seconds);
  }
  const double samples = double(epochs) * double(w.ytrain.size());
  const double max_err = max_abs_diff(re.weights, rf.weights);
  const bench::Stats sf = bench::stats(tf), se = bench::stats(te);
  fmt::print("floor:  median {:.4f} s (min {:.4f}, max {:.4f}), final loss {:.6f}, test accuracy {:.4f}\n",
             sf.median, sf.min, sf.max, rf.final_loss, rf.test_accuracy);
  fmt::print("engine: median {:.4f} s (min {:.4f}, max {:.4f}), final loss {:.6f}, test accuracy {:.4f}\n",
             se.median, se.min, se.max, re.final_loss, re.test_accuracy);
  fmt::print("w2_floor_s={:.4f} w2_engine_s={:.4f} w2_ratio={:.3f} w2_samples_per_s={:.0f} w2_final_loss={:.6f} "
             "w2_floor_loss={:.6f} w2_test_accuracy={:.4f} w2_max_err={:.3g}\n",
             sf.median, se.median, se.median / sf.median, samples / se.median, re.final_loss, rf.final_loss,
             re.test_accuracy, max_err);
}
