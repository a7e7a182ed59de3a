// Internal helpers shared by the op files: adjoint accumulation, broadcasting loops and the
// (outer, n, inner) decomposition used by every axis operation. Not installed, not public.
#pragma once

#include <ad/tape.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace ad::detail {

inline constexpr int kMaxRank = 8;

/// Resizes `a` to `shape` unless it already has it (keeping the buffer when the size matches).
template <class T, class S>
void resize_to(xt::xarray<T>& a, const S& shape) {
  if (a.dimension() != shape.size() || !std::equal(shape.begin(), shape.end(), a.shape().begin()))
    a.resize(shape);
}

/// Calls f(i) for each entry of node `id`'s buffer `Buf` (its adjoint, or in an hvp sweep the
/// adjoint's tangent) and adds the result into it (assigning on the first contribution of the
/// sweep, which flag `Has` records, so no zero-fill pass is needed). No-op for nodes the sweep
/// does not visit.
template <auto Buf, auto Has, class T, class F>
inline void accumulate_into(Tape<T>& t, std::uint32_t id, F&& f) {
  auto& n = t.node(id);
  if (!n.active) return;
  const std::size_t size = n.val().size();
  xt::xarray<T>& buf = n.*Buf;
  if (!(n.*Has)) {
    resize_to(buf, n.val().shape());
    T* g = buf.data();
    for (std::size_t i = 0; i < size; ++i) g[i] = f(i);
    n.*Has = true;
  } else {
    T* g = buf.data();
    for (std::size_t i = 0; i < size; ++i) g[i] += f(i);
  }
}

/// Node `id`'s buffer `Buf`, zero-filled on the first contribution of the sweep, for rules that
/// scatter into it (broadcast inputs, reductions). Null for nodes the sweep does not visit.
template <auto Buf, auto Has, class T>
inline T* scatter_target(Tape<T>& t, std::uint32_t id) {
  auto& n = t.node(id);
  if (!n.active) return nullptr;
  xt::xarray<T>& buf = n.*Buf;
  if (!(n.*Has)) {
    resize_to(buf, n.val().shape());
    std::fill(buf.begin(), buf.end(), T(0));
    n.*Has = true;
  }
  return buf.data();
}

/// accumulate_into() the adjoint.
template <class T, class F>
inline void accumulate(Tape<T>& t, std::uint32_t id, F&& f) {
  accumulate_into<&Node<T>::grad, &Node<T>::has_grad>(t, id, std::forward<F>(f));
}

/// f(0) + ... + f(n-1), in 16 interleaved partial sums added pairwise at the end: the additions
/// are independent chains (a plain `s += f(i)` loop waits ~4 cycles per entry on the previous
/// one; this one vectorizes), and the rounding error grows more slowly than in one running sum.
template <class T, class F>
inline T sum_of(std::size_t n, F&& f) {
  constexpr std::size_t L = 16;
  T acc[L] = {};
  std::size_t i = 0;
  for (; i + L <= n; i += L)
    for (std::size_t j = 0; j < L; ++j) acc[j] += f(i + j);
  for (std::size_t j = 0; i < n; ++i, ++j) acc[j] += f(i);
  for (std::size_t w = L / 2; w > 0; w /= 2)
    for (std::size_t j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

/// scatter_target() of the adjoint.
template <class T>
inline T* grad_for_scatter(Tape<T>& t, std::uint32_t id) {
  return scatter_target<&Node<T>::grad, &Node<T>::has_grad>(t, id);
}

// ---- second order: tangents (jvp) and adjoint tangents (hvp) ----------------------------------

/// The tangent of node `id`'s value in the current jvp/hvp sweep, or null where it is zero (the
/// node does not depend on the direction: the sweep does not visit it).
template <class T>
inline const T* tangent_of(Tape<T>& t, std::uint32_t id) {
  const auto& n = t.node(id);
  return n.active ? n.tangent.data() : nullptr;
}

/// The node's tangent buffer, sized as its value, for its jvp rule to fill.
template <class T>
inline T* tangent_out(Node<T>& n) {
  resize_to(n.tangent, n.val().shape());
  return n.tangent.data();
}

/// accumulate_into() the adjoint's tangent.
template <class T, class F>
inline void accumulate_tangent(Tape<T>& t, std::uint32_t id, F&& f) {
  accumulate_into<&Node<T>::grad_tangent, &Node<T>::has_grad_tangent>(t, id, std::forward<F>(f));
}

/// scatter_target() of the adjoint's tangent.
template <class T>
inline T* grad_tangent_for_scatter(Tape<T>& t, std::uint32_t id) {
  return scatter_target<&Node<T>::grad_tangent, &Node<T>::has_grad_tangent>(t, id);
}

/// The tangent of the backward rule of an op that is linear in its one input, y = L x: the
/// adjoint contribution L^T g depends on g only, so its tangent is L^T (the adjoint tangent), that
/// is the op's own backward run on the adjoint tangents (swapped in and out, O(1)).
template <class T, BackwardFn<T> Backward>
void linear_backward_tangent(Tape<T>& t, Node<T>& n) {
  auto& in = t.node(n.in[0]);
  auto swap_in = [&] {
    std::swap(n.grad, n.grad_tangent);
    std::swap(in.grad, in.grad_tangent);
    std::swap(in.has_grad, in.has_grad_tangent);
  };
  swap_in();
  Backward(t, n);
  swap_in();
}

/// How two shapes broadcast: the result shape and, per result axis, each input's element
/// stride (0 along a repeated axis).
struct Broadcast {
  int rank = 0;
  std::array<std::size_t, kMaxRank> shape{};
  std::array<std::ptrdiff_t, kMaxRank> sa{}, sb{};
  std::size_t size = 1;
  bool a_full = true, b_full = true;  // the input has the result's shape

  auto out_shape() const { return xt::svector<std::size_t, kMaxRank>(shape.begin(), shape.begin() + rank); }

  template <class SA, class SB>
  Broadcast(const char* op, const SA& a, const SB& b) {
    rank = static_cast<int>(std::max(a.size(), b.size()));
    if (rank > kMaxRank)
      throw ShapeError(fmt::format("{}: at most {} dimensions are supported, got {} and {}", op,
                                   kMaxRank, shape_str(a), shape_str(b)));
    std::ptrdiff_t stride_a = 1, stride_b = 1;
    for (int d = rank - 1; d >= 0; --d) {
      int da = d - (rank - static_cast<int>(a.size())), db = d - (rank - static_cast<int>(b.size()));
      std::size_t na = da >= 0 ? a[da] : 1, nb = db >= 0 ? b[db] : 1;
      if (na != nb && na != 1 && nb != 1)
        throw ShapeError(fmt::format("{}: shapes {} and {} do not broadcast (axis {}: {} vs {})", op,
                                     shape_str(a), shape_str(b), d, na, nb));
      shape[d] = std::max(na, nb);
      if (na != nb && nb == 0) shape[d] = 0;
      if (na != nb && na == 0) shape[d] = 0;
      sa[d] = (na == 1 && shape[d] != 1) ? 0 : stride_a;
      sb[d] = (nb == 1 && shape[d] != 1) ? 0 : stride_b;
      stride_a *= static_cast<std::ptrdiff_t>(na);
      stride_b *= static_cast<std::ptrdiff_t>(nb);
      size *= shape[d];
    }
    a_full = a.size() == static_cast<std::size_t>(rank) && std::equal(a.begin(), a.end(), shape.begin());
    b_full = b.size() == static_cast<std::size_t>(rank) && std::equal(b.begin(), b.end(), shape.begin());
  }

  /// Calls f(i_out, i_a, i_b) for every result entry, in order.
  template <class F>
  void for_each(F&& f) const {
    if (size == 0) return;
    if (rank == 0) {
      f(std::size_t(0), std::ptrdiff_t(0), std::ptrdiff_t(0));
      return;
    }
    const std::size_t inner = shape[rank - 1];
    const std::ptrdiff_t ja = sa[rank - 1], jb = sb[rank - 1];
    // the innermost loop with compile-time strides in the common cases, so it vectorizes
    auto row = [&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib, auto JA, auto JB) {
      const std::ptrdiff_t sa_ = JA.value < 0 ? ja : JA.value, sb_ = JB.value < 0 ? jb : JB.value;
      for (std::size_t j = 0; j < inner; ++j)
        f(io + j, ia + static_cast<std::ptrdiff_t>(j) * sa_, ib + static_cast<std::ptrdiff_t>(j) * sb_);
    };
    using One = std::integral_constant<std::ptrdiff_t, 1>;
    using Zero = std::integral_constant<std::ptrdiff_t, 0>;
    using Any = std::integral_constant<std::ptrdiff_t, -1>;
    std::array<std::size_t, kMaxRank> idx{};
    std::ptrdiff_t ia = 0, ib = 0;
    for (std::size_t io = 0; io < size; io += inner) {
      if (ja == 1 && jb == 1) row(io, ia, ib, One{}, One{});
      else if (ja == 1 && jb == 0) row(io, ia, ib, One{}, Zero{});
      else if (ja == 0 && jb == 1) row(io, ia, ib, Zero{}, One{});
      else row(io, ia, ib, Any{}, Any{});
      for (int d = rank - 2; d >= 0; --d) {
        ia += sa[d];
        ib += sb[d];
        if (++idx[d] < shape[d]) break;
        ia -= sa[d] * static_cast<std::ptrdiff_t>(shape[d]);
        ib -= sb[d] * static_cast<std::ptrdiff_t>(shape[d]);
        idx[d] = 0;
      }
    }
  }
};

/// A shape seen along one axis as (outer, n, inner): entry (o, k, j) is at (o * n + k) * inner + j.
struct AxisView {
  std::size_t outer = 1, n = 1, inner = 1;
  int axis = 0;
  template <class S>
  AxisView(const char* op, const S& shape, int ax) {
    const int rank = static_cast<int>(shape.size());
    if (ax < -rank || ax >= rank || rank == 0)
      throw ShapeError(fmt::format("{}: axis {} is out of range for shape {}", op, ax, shape_str(shape)));
    axis = ax < 0 ? ax + rank : ax;
    for (int d = 0; d < axis; ++d) outer *= shape[d];
    n = shape[axis];
    for (int d = axis + 1; d < rank; ++d) inner *= shape[d];
  }
  /// The shape with `axis` removed (or set to 1 with keepdims).
  template <class S>
  xt::svector<std::size_t, kMaxRank> reduced(const S& shape, bool keepdims) const {
    xt::svector<std::size_t, kMaxRank> r;
    for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
      if (d != axis)
        r.push_back(shape[d]);
      else if (keepdims)
        r.push_back(1);
    }
    return r;
  }
};

/// The end of every op's forward, once the value is filled: the anomaly check, then the handle.
template <class T>
inline Var<T> done(Tape<T>& t, const Var<T>& v) {
  t.after_forward(v.id());
  return v;
}

}  // namespace ad::detail
