// Reductions: sum and mean (of everything, or along an axis, with or without keepdims) and max
// along an axis. An axis reduction sees its input as (outer, n, inner) and works along n. Each
// op's backward rule follows its forward.
#include <ad/ops.hpp>

#include "ops/kernels.hpp"

#include <cmath>

namespace ad {
using detail::Node;

// ---- sum and mean of every entry ---------------------------------------------------------------

template <class T> static void sum_all_backward(Tape<T>& t, Node<T>& n);
template <class T> static void sum_all_jvp(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> sum_all_rules{&sum_all_backward<T>, &sum_all_jvp<T>,
                                          &detail::linear_backward_tangent<T, &sum_all_backward<T>>};

// The scale is 1 for sum, 1/N for mean.
template <class T>
static Var<T> sum_all(const Var<T>& x, const char* op, bool mean) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const std::size_t size = t.checked(x, op).val().size();
  Var<T> out = t.record(op, sum_all_rules<T>, {x}, xt::svector<std::size_t, 1>{});
  auto& n = t.node(out.id());
  n.scale = mean ? 1.0 / static_cast<double>(size) : 1.0;
  const T* v = t.node(x.id()).val().data();
  n.value.data()[0] = sum_of<T>(size, [v](std::size_t i) { return v[i]; }) * static_cast<T>(n.scale);
  return done(t, out);
}

// y = scale * sum(x):  dx = scale * g (broadcast back over all entries)
template <class T>
static void sum_all_backward(Tape<T>& t, Node<T>& n) {
  const T g = n.grad.data()[0] * static_cast<T>(n.scale);
  detail::accumulate(t, n.in[0], [&](std::size_t) { return g; });
}

// y = scale * sum(x) is linear:  y' = scale * sum(x')
template <class T>
static void sum_all_jvp(Tape<T>& t, Node<T>& n) {
  const T* xd = detail::tangent_of(t, n.in[0]);
  const std::size_t size = t.node(n.in[0]).val().size();
  detail::tangent_out(n)[0] = detail::sum_of<T>(size, [xd](std::size_t i) { return xd[i]; }) * static_cast<T>(n.scale);
}

template <class T> Var<T> sum(const Var<T>& x) { return sum_all(x, "sum", false); }
template <class T> Var<T> mean(const Var<T>& x) {
  if (x.size() == 0) throw ShapeError("mean: the input is empty (shape " + shape_str(x.shape()) + ")");
  return sum_all(x, "mean", true);
}

// ---- sum and mean along an axis ----------------------------------------------------------------

template <class T> static void sum_axis_backward(Tape<T>& t, Node<T>& n);
template <class T> static void sum_axis_jvp(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> sum_axis_rules{&sum_axis_backward<T>, &sum_axis_jvp<T>,
                                          &detail::linear_backward_tangent<T, &sum_axis_backward<T>>};

template <class T>
static Var<T> sum_axis(const Var<T>& x, int axis, bool keepdims, const char* op, bool mean) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, op).val().shape();
  const AxisView v(op, xs, axis);
  Var<T> out = t.record(op, sum_axis_rules<T>, {x}, v.reduced(xs, keepdims));
  auto& n = t.node(out.id());
  n.axis = v.axis;  // keepdims changes only the shape, which the node's value has
  n.scale = mean ? 1.0 / static_cast<double>(v.n) : 1.0;
  const T scale = static_cast<T>(n.scale);
  const T* in = t.node(x.id()).val().data();
  T* y = n.value.data();
  for (std::size_t o = 0; o < v.outer; ++o) {
    T* yo = y + o * v.inner;
    for (std::size_t j = 0; j < v.inner; ++j) yo[j] = 0;
    for (std::size_t k = 0; k < v.n; ++k) {
      const T* row = in + (o * v.n + k) * v.inner;
      for (std::size_t j = 0; j < v.inner; ++j) yo[j] += row[j];
    }
    for (std::size_t j = 0; j < v.inner; ++j) yo[j] *= scale;
  }
  return done(t, out);
}

// y[o, j] = scale * sum_k x[o, k, j]:  dx[o, k, j] = scale * g[o, j]
template <class T>
static void sum_axis_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("sum", t.node(n.in[0]).val().shape(), n.axis);
  const T* g = n.grad.data();
  const T scale = static_cast<T>(n.scale);
  accumulate(t, n.in[0], [&](std::size_t i) { return scale * g[(i / (v.n * v.inner)) * v.inner + i % v.inner]; });
}

// linear:  y' = the same sum of x'
template <class T>
static void sum_axis_jvp(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("sum", t.node(n.in[0]).val().shape(), n.axis);
  const T* xd = tangent_of(t, n.in[0]);
  T* yd = tangent_out(n);
  const T scale = static_cast<T>(n.scale);
  for (std::size_t o = 0; o < v.outer; ++o) {
    T* yo = yd + o * v.inner;
    for (std::size_t j = 0; j < v.inner; ++j) yo[j] = 0;
    for (std::size_t k = 0; k < v.n; ++k)
      for (std::size_t j = 0; j < v.inner; ++j) yo[j] += xd[(o * v.n + k) * v.inner + j];
    for (std::size_t j = 0; j < v.inner; ++j) yo[j] *= scale;
  }
}

template <class T> Var<T> sum(const Var<T>& x, int axis, bool keepdims) {
  return sum_axis(x, axis, keepdims, "sum", false);
}
template <class T> Var<T> mean(const Var<T>& x, int axis, bool keepdims) {
  return sum_axis(x, axis, keepdims, "mean", true);
}

// ---- max along an axis -------------------------------------------------------------------------

template <class T> static void max_axis_backward(Tape<T>& t, Node<T>& n);
template <class T> static void max_axis_jvp(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> max_axis_rules{&max_axis_backward<T>, &max_axis_jvp<T>,
                                          &detail::linear_backward_tangent<T, &max_axis_backward<T>>};

template <class T>
Var<T> max(const Var<T>& x, int axis, bool keepdims) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, "max").val().shape();
  const AxisView v("max", xs, axis);
  if (v.n == 0) throw ShapeError(fmt::format("max: axis {} of shape {} is empty", axis, shape_str(xs)));
  Var<T> out = t.record("max", max_axis_rules<T>, {x}, v.reduced(xs, keepdims));
  auto& n = t.node(out.id());
  n.axis = v.axis;
  n.index.resize(v.outer * v.inner);  // the argmax k* of each result entry
  const T* in = t.node(x.id()).val().data();
  T* y = n.value.data();
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) {
      T m = in[o * v.n * v.inner + j];
      std::size_t arg = 0;
      for (std::size_t k = 1; k < v.n && !std::isnan(m); ++k) {  // the first maximum, or the first NaN
        const T c = in[(o * v.n + k) * v.inner + j];
        if (c > m || std::isnan(c)) {
          m = c;
          arg = k;
        }
      }
      y[o * v.inner + j] = m;
      n.index[o * v.inner + j] = arg;
    }
  return done(t, out);
}

// y[o, j] = max_k x[o, k, j]:  dx[o, k*, j] = g[o, j] for the argmax k* found by the forward (the
// first maximal entry, or the first NaN), 0 elsewhere
template <class T>
static void max_axis_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("max", t.node(n.in[0]).val().shape(), n.axis);
  const T* g = n.grad.data();
  T* gx = grad_for_scatter(t, n.in[0]);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j)
      gx[(o * v.n + n.index[o * v.inner + j]) * v.inner + j] += g[o * v.inner + j];
}

// linear in x for the argmax found by the forward:  y'[o, j] = x'[o, k*, j]
template <class T>
static void max_axis_jvp(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("max", t.node(n.in[0]).val().shape(), n.axis);
  const T* xd = tangent_of(t, n.in[0]);
  T* yd = tangent_out(n);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j)
      yd[o * v.inner + j] = xd[(o * v.n + n.index[o * v.inner + j]) * v.inner + j];
}

#define AD_REDUCE(T)                                            \
  template Var<T> sum<T>(const Var<T>&);                        \
  template Var<T> mean<T>(const Var<T>&);                       \
  template Var<T> sum<T>(const Var<T>&, int, bool);             \
  template Var<T> mean<T>(const Var<T>&, int, bool);            \
  template Var<T> max<T>(const Var<T>&, int, bool);
AD_REDUCE(float)
AD_REDUCE(double)

}  // namespace ad
