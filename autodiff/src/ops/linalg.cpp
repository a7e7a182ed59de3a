// Linear algebra: matmul (1-d and 2-d operands, as NumPy) and linear (X W + b as one node),
// both through BLAS, with transpose flags instead of materialized transposes. Each op's backward
// rule follows its forward.
#include <ad/ops.hpp>

#include "ops/kernels.hpp"

#include <cblas.h>

namespace ad {
using detail::Node;

namespace {

// C = op(A) op(B) + beta C, row-major.
void gemm(bool ta, bool tb, int m, int n, int k, const double* A, int lda, const double* B, int ldb,
          double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
              1.0, A, lda, B, ldb, beta, C, ldc);
}
void gemm(bool ta, bool tb, int m, int n, int k, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k,
              1.0f, A, lda, B, ldb, beta, C, ldc);
}

/// (m, k, n) of a product; a 1-d left operand is a row (m = 1), a 1-d right one a column (n = 1).
struct MatmulDims {
  int m, k, n;
  template <class SA, class SB>
  MatmulDims(const SA& a, const SB& b) {
    if (a.size() == 0 || a.size() > 2 || b.size() == 0 || b.size() > 2)
      throw ShapeError(fmt::format("matmul: operands must be 1-d or 2-d, got {} @ {}", shape_str(a),
                                   shape_str(b)));
    m = a.size() == 2 ? static_cast<int>(a[0]) : 1;
    k = static_cast<int>(a.size() == 2 ? a[1] : a[0]);
    int kb = static_cast<int>(b[0]);
    n = b.size() == 2 ? static_cast<int>(b[1]) : 1;
    if (k != kb)
      throw ShapeError(fmt::format("matmul: inner dimensions differ: {} @ {}", shape_str(a), shape_str(b)));
  }
};

}  // namespace

// ---- matmul ------------------------------------------------------------------------------------

template <class T> static void matmul_backward(Tape<T>& t, Node<T>& n);
template <class T> static void matmul_jvp(Tape<T>& t, Node<T>& n);
template <class T> static void matmul_backward_tangent(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> matmul_rules{&matmul_backward<T>, &matmul_jvp<T>, &matmul_backward_tangent<T>};

template <class T>
Var<T> matmul(const Var<T>& a, const Var<T>& b) {
  using namespace detail;
  Tape<T>& t = a.tape();
  const auto& as = t.checked(a, "matmul").val().shape();
  const auto& bs = t.checked(b, "matmul").val().shape();
  const MatmulDims d(as, bs);
  xt::svector<std::size_t, kMaxRank> shape;
  if (as.size() == 2) shape.push_back(static_cast<std::size_t>(d.m));
  if (bs.size() == 2) shape.push_back(static_cast<std::size_t>(d.n));
  Var<T> out = t.record("matmul", matmul_rules<T>, {a, b}, shape);
  auto& n = t.node(out.id());
  if (d.k == 0)
    std::fill(n.value.begin(), n.value.end(), T(0));
  else if (n.value.size() > 0)
    gemm(false, false, d.m, d.n, d.k, t.node(a.id()).val().data(), d.k, t.node(b.id()).val().data(), d.n,
         T(0), n.value.data(), d.n);
  return done(t, out);
}

// C = A B:  dA = G B^T,  dB = A^T G  (BLAS transpose flags; beta = 0 on the first contribution)
template <class T>
static void matmul_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  auto& an = t.node(n.in[0]);
  auto& bn = t.node(n.in[1]);
  const MatmulDims d(an.val().shape(), bn.val().shape());
  const T* G = n.grad.data();
  if (an.active) {
    const bool first = !an.has_grad;
    if (first) resize_to(an.grad, an.val().shape());
    gemm(false, true, d.m, d.k, d.n, G, d.n, bn.val().data(), d.n, first ? T(0) : T(1), an.grad.data(), d.k);
    an.has_grad = true;
  }
  if (bn.active) {
    const bool first = !bn.has_grad;
    if (first) resize_to(bn.grad, bn.val().shape());
    gemm(true, false, d.k, d.n, d.m, an.val().data(), d.k, G, d.n, first ? T(0) : T(1), bn.grad.data(), d.n);
    bn.has_grad = true;
  }
}

// Adds op(A) op(B) into the adjoint tangent of node `id` (assigning on its first contribution).
template <class T>
static void gemm_into_tangent(Tape<T>& t, std::uint32_t id, bool ta, bool tb, int m, int n, int k, const T* A,
                              int lda, const T* B, int ldb) {
  auto& in = t.node(id);
  const bool first = !in.has_grad_tangent;
  if (first) detail::resize_to(in.grad_tangent, in.val().shape());
  in.has_grad_tangent = true;
  if (k == 0) {
    if (first) std::fill(in.grad_tangent.begin(), in.grad_tangent.end(), T(0));
    return;
  }
  gemm(ta, tb, m, n, k, A, lda, B, ldb, first ? T(0) : T(1), in.grad_tangent.data(), n);
}

// C = A B:  C' = A' B + A B'  (a term whose input the sweep does not visit is 0)
template <class T>
static void matmul_jvp(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const auto& an = t.node(n.in[0]);
  const auto& bn = t.node(n.in[1]);
  const MatmulDims d(an.val().shape(), bn.val().shape());
  const T* Ad = tangent_of(t, n.in[0]);
  const T* Bd = tangent_of(t, n.in[1]);
  T* Cd = tangent_out(n);
  if (d.k == 0 || n.value.size() == 0) {
    std::fill(n.tangent.begin(), n.tangent.end(), T(0));
    return;
  }
  if (Ad) gemm(false, false, d.m, d.n, d.k, Ad, d.k, bn.val().data(), d.n, T(0), Cd, d.n);
  if (Bd) gemm(false, false, d.m, d.n, d.k, an.val().data(), d.k, Bd, d.n, Ad ? T(1) : T(0), Cd, d.n);
}

// dA = G B^T, dB = A^T G:  dA' = G' B^T + G B'^T,  dB' = A'^T G + A^T G'
template <class T>
static void matmul_backward_tangent(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const auto& an = t.node(n.in[0]);
  const auto& bn = t.node(n.in[1]);
  const MatmulDims d(an.val().shape(), bn.val().shape());
  const T* G = n.grad.data();
  const T* Gd = n.grad_tangent.data();
  const T* Ad = tangent_of(t, n.in[0]);
  const T* Bd = tangent_of(t, n.in[1]);
  if (an.active) {
    gemm_into_tangent(t, n.in[0], false, true, d.m, d.k, d.n, Gd, d.n, bn.val().data(), d.n);
    if (Bd) gemm_into_tangent(t, n.in[0], false, true, d.m, d.k, d.n, G, d.n, Bd, d.n);
  }
  if (bn.active) {
    gemm_into_tangent(t, n.in[1], true, false, d.k, d.n, d.m, an.val().data(), d.k, Gd, d.n);
    if (Ad) gemm_into_tangent(t, n.in[1], true, false, d.k, d.n, d.m, Ad, d.k, G, d.n);
  }
}

// ---- linear ------------------------------------------------------------------------------------

template <class T> static void linear_backward(Tape<T>& t, Node<T>& n);
template <class T> static void linear_jvp(Tape<T>& t, Node<T>& n);
template <class T> static void linear_backward_tangent(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> linear_rules{&linear_backward<T>, &linear_jvp<T>, &linear_backward_tangent<T>};

template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& w, const Var<T>& b) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, "linear").val().shape();
  const auto& ws = t.checked(w, "linear").val().shape();
  const auto& bs = t.checked(b, "linear").val().shape();
  if (xs.size() != 2 || ws.size() != 2 || xs[1] != ws[0] || bs.size() != 1 || bs[0] != ws[1])
    throw ShapeError(fmt::format("linear: expects X (n, in) @ W (in, out) + b (out,), got {} @ {} + {}",
                                 shape_str(xs), shape_str(ws), shape_str(bs)));
  const MatmulDims d(xs, ws);
  Var<T> out = t.record("linear", linear_rules<T>, {x, w, b}, xt::svector<std::size_t, 2>{xs[0], ws[1]});
  auto& n = t.node(out.id());
  const T* bias = t.node(b.id()).val().data();
  T* y = n.value.data();
  for (int i = 0; i < d.m; ++i) std::copy(bias, bias + d.n, y + static_cast<std::size_t>(i) * d.n);
  if (d.k > 0 && n.value.size() > 0)
    gemm(false, false, d.m, d.n, d.k, t.node(x.id()).val().data(), d.k, t.node(w.id()).val().data(), d.n, T(1), y, d.n);
  return done(t, out);
}

// Y = X W + b (b broadcast over rows), fused:  dX = G W^T,  dW = X^T G,  db = column sums of G
template <class T>
static void linear_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  matmul_backward(t, n);  // inputs 0 and 1 are X and W, exactly as for matmul
  auto& bn = t.node(n.in[2]);
  if (!bn.active) return;
  const std::size_t rows = n.value.shape()[0], cols = n.value.shape()[1];
  const T* G = n.grad.data();
  const bool first = !bn.has_grad;
  if (first) resize_to(bn.grad, bn.val().shape());
  T* gb = bn.grad.data();
  if (first) std::copy(G, G + cols, gb);
  else
    for (std::size_t j = 0; j < cols; ++j) gb[j] += G[j];
  for (std::size_t i = 1; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) gb[j] += G[i * cols + j];
  bn.has_grad = true;
}

// Y = X W + b:  Y' = X' W + X W' + b'
template <class T>
static void linear_jvp(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  matmul_jvp(t, n);  // X' W + X W'; zeros if neither X nor W moves
  const bool moved = t.node(n.in[0]).active || t.node(n.in[1]).active;
  if (!moved) std::fill(n.tangent.begin(), n.tangent.end(), T(0));
  if (const T* bd = tangent_of(t, n.in[2])) {
    const std::size_t rows = n.value.shape()[0], cols = n.value.shape()[1];
    T* yd = n.tangent.data();
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) yd[i * cols + j] += bd[j];
  }
}

// dX, dW as matmul's;  db = column sums of G:  db' = column sums of G'
template <class T>
static void linear_backward_tangent(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  matmul_backward_tangent(t, n);
  if (!t.node(n.in[2]).active) return;
  const std::size_t rows = n.value.shape()[0], cols = n.value.shape()[1];
  const T* Gd = n.grad_tangent.data();
  T* gb = grad_tangent_for_scatter(t, n.in[2]);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) gb[j] += Gd[i * cols + j];
}

#define AD_LINALG(T)                                                      \
  template Var<T> matmul<T>(const Var<T>&, const Var<T>&);                \
  template Var<T> linear<T>(const Var<T>&, const Var<T>&, const Var<T>&);
AD_LINALG(float)
AD_LINALG(double)

}  // namespace ad
