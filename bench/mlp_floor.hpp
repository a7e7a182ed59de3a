// The hand-written floor of an MLP training step, shared by the benchmarks that compare the
// engine with it (w3_fashion, scaling): the fastest straightforward float32 code for a ReLU MLP
// with softmax + cross-entropy and Adam. One cblas_sgemm per product with transpose flags (no
// transposed copies), the bias add fused with the ReLU, softmax + cross-entropy + its gradient in
// one pass per row, and Adam as one vectorized pass over all parameters, held in one contiguous
// buffer (W0 b0 W1 b1 ...). The caller puts a batch's rows into input() and its labels into Y.
#pragma once

#include <cblas.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace bench {

using AlignedFloats = std::vector<float, xsimd::aligned_allocator<float, 64>>;

struct MlpFloor {
  std::vector<std::size_t> sizes;   // layer widths, input first
  AlignedFloats P, G, M, V;         // params, grads, Adam moments: every tensor in one buffer
  std::vector<std::size_t> off;     // offset of tensor k (W0, b0, W1, b1, ...) in P, G, M, V; the total last
  std::vector<AlignedFloats> A, D;  // activations per layer (A[0] = the input batch), deltas
  std::vector<std::size_t> Y;       // the batch's labels
  std::size_t t = 0;                // Adam's step count

  /// `init`: W then b per layer; `rows`: the largest batch.
  MlpFloor(const std::vector<std::size_t>& s, const std::vector<std::vector<float>>& init, std::size_t rows)
      : sizes(s), Y(rows) {
    for (const auto& p : init) {
      off.push_back(P.size());
      P.insert(P.end(), p.begin(), p.end());
    }
    off.push_back(P.size());
    G.assign(P.size(), 0.f);
    M.assign(P.size(), 0.f);
    V.assign(P.size(), 0.f);
    for (auto n : sizes) {
      A.emplace_back(rows * n);
      D.emplace_back(rows * n);
    }
  }
  float* input() { return A[0].data(); }
  float* W(std::size_t l) { return P.data() + off[2 * l]; }
  float* b(std::size_t l) { return P.data() + off[2 * l + 1]; }
  std::size_t layers() const { return sizes.size() - 1; }
  std::vector<std::vector<float>> weights() const {
    std::vector<std::vector<float>> out;
    for (std::size_t k = 0; k + 1 < off.size(); ++k) out.emplace_back(P.begin() + off[k], P.begin() + off[k + 1]);
    return out;
  }

  /// G <- the gradient of the mean cross-entropy of the first m rows of input() with labels Y;
  /// returns that mean loss.
  double grad(std::size_t m) {
    const std::size_t L = layers();
    const int mi = int(m);
    for (std::size_t l = 0; l < L; ++l) {
      const std::size_t in = sizes[l], out = sizes[l + 1];
      float* __restrict z = A[l + 1].data();
      const float* __restrict bl = b(l);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, int(out), int(in), 1.f, A[l].data(), int(in), W(l),
                  int(out), 0.f, z, int(out));
      if (l + 1 < L)
        for (std::size_t i = 0; i < m; ++i)
          for (std::size_t k = 0; k < out; ++k) z[i * out + k] = std::max(z[i * out + k] + bl[k], 0.f);
    }
    // softmax + cross-entropy of the logits o (+ bias) and its gradient (p - onehot) / m, per row
    double loss = 0;
    const std::size_t K = sizes[L];
    const float* bL = b(L - 1);
    const float inv_m = 1.f / float(m);
    for (std::size_t i = 0; i < m; ++i) {
      float* o = A[L].data() + i * K;
      float* d = D[L].data() + i * K;
      float mx = -HUGE_VALF;
      for (std::size_t k = 0; k < K; ++k) mx = std::max(mx, o[k] += bL[k]);
      float s = 0;
      for (std::size_t k = 0; k < K; ++k) s += d[k] = std::exp(o[k] - mx);
      loss += double(std::log(s) - (o[Y[i]] - mx));
      const float r = inv_m / s;
      for (std::size_t k = 0; k < K; ++k) d[k] *= r;
      d[Y[i]] -= inv_m;
    }
    for (std::size_t l = L; l-- > 0;) {
      const std::size_t in = sizes[l], out = sizes[l + 1];
      const float* __restrict dz = D[l + 1].data();
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(in), int(out), mi, 1.f, A[l].data(), int(in), dz,
                  int(out), 0.f, G.data() + off[2 * l], int(out));
      float* __restrict gb = G.data() + off[2 * l + 1];
      std::fill(gb, gb + out, 0.f);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t k = 0; k < out; ++k) gb[k] += dz[i * out + k];
      if (l > 0) {
        float* __restrict da = D[l].data();
        const float* __restrict a = A[l].data();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, int(in), int(out), 1.f, dz, int(out), W(l), int(out),
                    0.f, da, int(in));
        for (std::size_t i = 0; i < m * in; ++i) da[i] = a[i] > 0 ? da[i] : 0.f;
      }
    }
    return loss / double(m);
  }

  /// Adam's factors for the next step (PyTorch's update, lr 1e-3): counts the step and returns
  /// {lr / (1 - b1^t), sqrt(1 - b2^t)}.
  std::pair<float, float> next_adam_step() {
    ++t;
    return {float(1e-3 / (1 - std::pow(0.9, double(t)))), float(std::sqrt(1 - std::pow(0.999, double(t))))};
  }
  /// PyTorch's Adam, p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps), on entries
  /// [lo, hi) in xsimd batches (a plain loop does not vectorize under g++'s default -fmath-errno:
  /// sqrt might set errno). lo must be a multiple of 16 floats (aligned loads).
  void adam_range(std::size_t lo, std::size_t hi, float step, float bc2) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    using B = xsimd::batch<float>;
    const std::size_t nv = lo + (hi - lo) / B::size * B::size;
    float* __restrict p = P.data();
    float* __restrict mm = M.data();
    float* __restrict v = V.data();
    const float* __restrict g = G.data();
    const B vb1(b1), vb2(b2), vc1(1 - b1), vc2(1 - b2), vstep(step), vbc2(bc2), veps(eps);
    for (std::size_t i = lo; i < nv; i += B::size) {
      const B gi = B::load_aligned(g + i);
      const B mi = xsimd::fma(vb1, B::load_aligned(mm + i), vc1 * gi);
      const B vi = xsimd::fma(vb2, B::load_aligned(v + i), vc2 * gi * gi);
      mi.store_aligned(mm + i);
      vi.store_aligned(v + i);
      (B::load_aligned(p + i) - vstep * mi / (xsimd::sqrt(vi) / vbc2 + veps)).store_aligned(p + i);
    }
    for (std::size_t i = nv; i < hi; ++i) {
      mm[i] = b1 * mm[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      p[i] -= step * mm[i] / (std::sqrt(v[i]) / bc2 + eps);
    }
  }
  /// One Adam step over every parameter, on the calling thread.
  void adam() {
    const auto [step, bc2] = next_adam_step();
    adam_range(0, P.size(), step, bc2);
  }

  /// The step's sgemm calls alone (forward, weight gradients, input deltas) for m rows, on the
  /// same buffers: what no implementation can go below with this BLAS.
  void gemm_only(std::size_t m) {
    const std::size_t L = layers();
    const int mi = int(m);
    for (std::size_t l = 0; l < L; ++l)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mi, int(sizes[l + 1]), int(sizes[l]), 1.f, A[l].data(),
                  int(sizes[l]), W(l), int(sizes[l + 1]), 0.f, A[l + 1].data(), int(sizes[l + 1]));
    for (std::size_t l = L; l-- > 0;) {
      const std::size_t in = sizes[l], out = sizes[l + 1];
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(in), int(out), mi, 1.f, A[l].data(), int(in),
                  D[l + 1].data(), int(out), 0.f, G.data() + off[2 * l], int(out));
      if (l > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mi, int(in), int(out), 1.f, D[l + 1].data(), int(out),
                    W(l), int(out), 0.f, D[l].data(), int(in));
    }
  }
};

}  // namespace bench
