// Ops that move entries without arithmetic: transpose, reshape, slice along an axis; and detach
// (the same value cut from the graph). Each op's backward rule follows its forward.
#include <ad/ops.hpp>

#include "ops/kernels.hpp"

namespace ad {
using detail::Node;

// ---- transpose ---------------------------------------------------------------------------------

template <class T> static void transpose_backward(Tape<T>& t, Node<T>& n);
template <class T> static void transpose_jvp(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> transpose_rules{&transpose_backward<T>, &transpose_jvp<T>,
                                          &detail::linear_backward_tangent<T, &transpose_backward<T>>};

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
  Var<T> out = t.record("transpose", transpose_rules<T>, {x}, shape);
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

// y = x^T:  dx = g^T
template <class T>
static void transpose_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  auto& xn = t.node(n.in[0]);
  if (xn.val().dimension() < 2) {
    accumulate(t, n.in[0], [&](std::size_t i) { return n.grad.data()[i]; });
    return;
  }
  const std::size_t r = xn.val().shape()[0], c = xn.val().shape()[1];
  const T* g = n.grad.data();
  accumulate(t, n.in[0], [&](std::size_t i) { return g[(i % c) * r + i / c]; });
}

// linear:  y' = x'^T
template <class T>
static void transpose_jvp(Tape<T>& t, Node<T>& n) {
  const auto& xn = t.node(n.in[0]);
  const T* xd = detail::tangent_of(t, n.in[0]);
  T* yd = detail::tangent_out(n);
  if (xn.val().dimension() < 2) {
    std::copy(xd, xd + xn.val().size(), yd);
    return;
  }
  const std::size_t r = xn.val().shape()[0], c = xn.val().shape()[1];
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) yd[j * r + i] = xd[i * c + j];
}

// ---- reshape -----------------------------------------------------------------------------------

template <class T> static void reshape_backward(Tape<T>& t, Node<T>& n);
template <class T> static void reshape_jvp(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> reshape_rules{&reshape_backward<T>, &reshape_jvp<T>,
                                          &detail::linear_backward_tangent<T, &reshape_backward<T>>};

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
  Var<T> out = t.record("reshape", reshape_rules<T>, {x}, shape);
  const auto& src = t.node(x.id()).val();
  std::copy(src.data(), src.data() + src.size(), t.node(out.id()).value.data());
  return done(t, out);
}

// y = reshape(x):  dx = reshape(g) (same order of entries)
template <class T>
static void reshape_backward(Tape<T>& t, Node<T>& n) {
  const T* g = n.grad.data();
  detail::accumulate(t, n.in[0], [&](std::size_t i) { return g[i]; });
}

// linear:  y' = reshape(x')
template <class T>
static void reshape_jvp(Tape<T>& t, Node<T>& n) {
  const T* xd = detail::tangent_of(t, n.in[0]);
  std::copy(xd, xd + n.value.size(), detail::tangent_out(n));
}

// ---- slice -------------------------------------------------------------------------------------

template <class T> static void slice_backward(Tape<T>& t, Node<T>& n);
template <class T> static void slice_jvp(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> slice_rules{&slice_backward<T>, &slice_jvp<T>,
                                          &detail::linear_backward_tangent<T, &slice_backward<T>>};

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
  Var<T> out = t.record("slice", slice_rules<T>, {x}, shape);  // xs may dangle from here
  auto& node = t.node(out.id());
  node.axis = v.axis;
  node.start = static_cast<std::size_t>(b);
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

// y = x[.., b:e, ..] along an axis:  dx[.., b:e, ..] += g, the other entries of dx unchanged.
template <class T>
static void slice_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  auto& in = t.node(n.in[0]);
  if (!in.active) return;
  const AxisView v("slice", in.val().shape(), n.axis);
  const std::size_t b = n.start, len = n.value.shape()[v.axis];
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

// linear:  y' = x'[.., b:e, ..]
template <class T>
static void slice_jvp(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("slice", t.node(n.in[0]).val().shape(), n.axis);
  const std::size_t len = n.value.shape()[v.axis], block = len * v.inner;
  const T* xd = tangent_of(t, n.in[0]);
  T* yd = tangent_out(n);
  for (std::size_t o = 0; o < v.outer; ++o) {
    const T* src = xd + (o * v.n + n.start) * v.inner;
    std::copy(src, src + block, yd + o * block);
  }
}

// ---- detach (no backward rule: nothing flows back) -------------------------------------------

template <class T>
Var<T> detach(const Var<T>& x) {
  Tape<T>& t = x.tape();
  Var<T> out = t.record("detach", nullptr, {x}, t.checked(x, "detach").val().shape());
  auto& n = t.node(out.id());
  n.requires_grad = false;  // nothing flows back through a detached value
  const auto& src = t.node(x.id()).val();
  std::copy(src.data(), src.data() + src.size(), n.value.data());
  return out;
}

#define AD_SHAPE(T)                                                              \
  template Var<T> transpose<T>(const Var<T>&);                                   \
  template Var<T> reshape<T>(const Var<T>&, const std::vector<std::ptrdiff_t>&); \
  template Var<T> slice<T>(const Var<T>&, int, std::ptrdiff_t, std::ptrdiff_t);   \
  template Var<T> detach<T>(const Var<T>&);
AD_SHAPE(float)
AD_SHAPE(double)

}  // namespace ad
