// Matrix product (through BLAS, with transpose flags instead of materialized transposes),
// transpose, reshape, slice and detach.
#include <ad/ops.hpp>

#include "ops/kernels.hpp"

#include <cblas.h>

namespace ad {
namespace detail {
namespace {

// C = alpha op(A) op(B) + beta C, row-major.
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

// C = A B:  dA = G B^T,  dB = A^T G  (BLAS transpose flags; beta = 0 on the first contribution)
template <class T>
void matmul_backward(Tape<T>& t, Node<T>& n) {
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

// Y = X W + b (b broadcast over rows), fused:  dX = G W^T,  dW = X^T G,  db = column sums of G
template <class T>
void linear_backward(Tape<T>& t, Node<T>& n) {
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

// y = x^T:  dx = g^T
template <class T>
void transpose_backward(Tape<T>& t, Node<T>& n) {
  auto& xn = t.node(n.in[0]);
  if (xn.val().dimension() < 2) {
    accumulate(t, n.in[0], [&](std::size_t i) { return n.grad.data()[i]; });
    return;
  }
  const std::size_t r = xn.val().shape()[0], c = xn.val().shape()[1];
  const T* g = n.grad.data();
  accumulate(t, n.in[0], [&](std::size_t i) { return g[(i % c) * r + i / c]; });
}

// y = reshape(x):  dx = reshape(g) (same order of entries)
template <class T>
void reshape_backward(Tape<T>& t, Node<T>& n) {
  const T* g = n.grad.data();
  accumulate(t, n.in[0], [&](std::size_t i) { return g[i]; });
}

// y = x[.., b:e, ..] along an axis:  dx[.., b:e, ..] += g, the other entries of dx unchanged.
// The axis is kept in n.axis and b in n.alpha.
template <class T>
void slice_backward(Tape<T>& t, Node<T>& n) {
  auto& in = t.node(n.in[0]);
  if (!in.active) return;
  const AxisView v("slice", in.val().shape(), n.axis);
  const std::size_t b = static_cast<std::size_t>(n.alpha), len = n.value.shape()[v.axis];
  const T* g = n.grad.data();
  const std::size_t block = len * v.inner;  // contiguous per outer index (see slice)
  const std::size_t row = v.n * v.inner;
  if (!in.has_grad) {  // the first contribution: the slice's entries are copied, the rest zeroed
    resize_to(in.grad, in.val().shape());
    T* gx = in.grad.data();
    for (std::size_t o = 0; o < v.outer; ++o) {
      T* dst = gx + o * row;
      std::fill(dst, dst + b * v.inner, T(0));
      std::copy(g + o * block, g + (o + 1) * block, dst + b * v.inner);
      std::fill(dst + b * v.inner + block, dst + row, T(0));
    }
    in.has_grad = true;
    return;
  }
  T* gx = in.grad.data();
  for (std::size_t o = 0; o < v.outer; ++o) {
    T* dst = gx + o * row + b * v.inner;
    const T* src = g + o * block;
    for (std::size_t j = 0; j < block; ++j) dst[j] += src[j];
  }
}

}  // namespace
}  // namespace detail

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
  Var<T> out = t.record("matmul", &matmul_backward<T>, {a, b}, shape);
  auto& n = t.node(out.id());
  if (d.k == 0)
    std::fill(n.value.begin(), n.value.end(), T(0));
  else if (n.value.size() > 0)
    gemm(false, false, d.m, d.n, d.k, t.node(a.id()).val().data(), d.k, t.node(b.id()).val().data(), d.n,
         T(0), n.value.data(), d.n);
  return done(t, out);
}

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
  Var<T> out = t.record("linear", &linear_backward<T>, {x, w, b}, xt::svector<std::size_t, 2>{xs[0], ws[1]});
  auto& n = t.node(out.id());
  const T* bias = t.node(b.id()).val().data();
  T* y = n.value.data();
  for (int i = 0; i < d.m; ++i) std::copy(bias, bias + d.n, y + static_cast<std::size_t>(i) * d.n);
  if (d.k > 0 && n.value.size() > 0)
    gemm(false, false, d.m, d.n, d.k, t.node(x.id()).val().data(), d.k, t.node(w.id()).val().data(), d.n, T(1), y, d.n);
  return done(t, out);
}

template <class T>
Var<T> transpose(const Var<T>& x) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, "transpose").val().shape();
  if (xs.size() > 2)
    throw ShapeError(fmt::format("transpose: expects a matrix (or a vector), got shape {}; use reshape "
                                 "for other layouts",
                                 shape_str(xs)));
  xt::svector<std::size_t, kMaxRank> shape(xs.rbegin(), xs.rend());
  Var<T> out = t.record("transpose", &transpose_backward<T>, {x}, shape);
  const auto& xv = t.node(x.id()).val();
  T* y = t.node(out.id()).value.data();
  if (xv.dimension() < 2) {
    std::copy(xv.data(), xv.data() + xv.size(), y);
  } else {
    const std::size_t r = xv.shape()[0], c = xv.shape()[1];
    for (std::size_t i = 0; i < r; ++i)
      for (std::size_t j = 0; j < c; ++j) y[j * r + i] = xv.data()[i * c + j];
  }
  return done(t, out);
}

template <class T>
Var<T> slice(const Var<T>& x, int axis, std::ptrdiff_t begin, std::ptrdiff_t end) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, "slice").val().shape();
  const AxisView v("slice", xs, axis);
  const auto n = static_cast<std::ptrdiff_t>(v.n);
  const std::ptrdiff_t b = begin < 0 ? begin + n : begin, e = end < 0 ? end + n : end;
  if (b < 0 || e > n || b > e)
    throw ShapeError(fmt::format("slice: [{}:{}] is out of range for axis {} of shape {} (length {})",
                                 begin, end, axis, shape_str(xs), n));
  const auto len = static_cast<std::size_t>(e - b);
  xt::svector<std::size_t, kMaxRank> shape(xs.begin(), xs.end());
  shape[static_cast<std::size_t>(v.axis)] = len;
  Var<T> out = t.record("slice", &slice_backward<T>, {x}, shape);  // xs may dangle from here
  auto& node = t.node(out.id());
  node.axis = v.axis;
  node.alpha = static_cast<double>(b);
  const T* in = t.node(x.id()).val().data();
  T* y = node.value.data();
  // Entries b .. e-1 of the axis are one contiguous block of len * inner values per outer index.
  const std::size_t block = len * v.inner;
  for (std::size_t o = 0; o < v.outer; ++o) {
    const T* src = in + (o * v.n + static_cast<std::size_t>(b)) * v.inner;
    std::copy(src, src + block, y + o * block);
  }
  return done(t, out);
}

template <class T>
Var<T> reshape(const Var<T>& x, const std::vector<std::ptrdiff_t>& new_shape) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xv = t.checked(x, "reshape").val();
  xt::svector<std::size_t, kMaxRank> shape;
  std::size_t known = 1;
  int infer = -1;
  for (std::size_t d = 0; d < new_shape.size(); ++d) {
    if (new_shape[d] == -1 && infer < 0) {
      infer = static_cast<int>(d);
      shape.push_back(1);
    } else if (new_shape[d] < 0) {
      throw ShapeError(fmt::format("reshape: invalid target shape ({}) for {}: only one entry may be -1",
                                   fmt::join(new_shape, ", "), shape_str(xv.shape())));
    } else {
      shape.push_back(static_cast<std::size_t>(new_shape[d]));
      if (shape.back() != 0 && known > xv.size() / shape.back() + 1)  // would overflow or exceed the input
        throw ShapeError(fmt::format("reshape: cannot view {} ({} entries) as ({})", shape_str(xv.shape()),
                                     xv.size(), fmt::join(new_shape, ", ")));
      known *= shape.back();
    }
  }
  if (infer >= 0 && known != 0 && xv.size() % known == 0) shape[infer] = xv.size() / known;
  std::size_t total = 1;
  for (auto s : shape) total = (s != 0 && total > xv.size() / s + 1) ? xv.size() + 1 : total * s;
  if (total != xv.size())
    throw ShapeError(fmt::format("reshape: cannot view {} ({} entries) as ({})", shape_str(xv.shape()),
                                 xv.size(), fmt::join(new_shape, ", ")));
  Var<T> out = t.record("reshape", &reshape_backward<T>, {x}, shape);
  const auto& src = t.node(x.id()).val();
  std::copy(src.data(), src.data() + src.size(), t.node(out.id()).value.data());
  return done(t, out);
}

template <class T>
Var<T> detach(const Var<T>& x) {
  using namespace detail;
  Tape<T>& t = x.tape();
  Var<T> out = t.record("detach", nullptr, {x}, t.checked(x, "detach").val().shape());
  auto& n = t.node(out.id());
  n.requires_grad = false;  // nothing flows back through a detached value
  const auto& src = t.node(x.id()).val();
  std::copy(src.data(), src.data() + src.size(), n.value.data());
  return out;
}

#define AD_LINALG(T)                                                                  \
  template Var<T> matmul<T>(const Var<T>&, const Var<T>&);                            \
  template Var<T> linear<T>(const Var<T>&, const Var<T>&, const Var<T>&);             \
  template Var<T> transpose<T>(const Var<T>&);                                        \
  template Var<T> reshape<T>(const Var<T>&, const std::vector<std::ptrdiff_t>&);      \
  template Var<T> slice<T>(const Var<T>&, int, std::ptrdiff_t, std::ptrdiff_t);        \
  template Var<T> detach<T>(const Var<T>&);
AD_LINALG(float)
AD_LINALG(double)

}  // namespace ad
