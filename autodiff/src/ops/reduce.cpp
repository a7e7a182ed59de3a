// Reductions (sum, mean, max along an axis), the softmax family and pick. Every axis operation
// sees its input as (outer, n, inner) and works along n.
#include <ad/ops.hpp>

#include "ops/kernels.hpp"

#include <cmath>
#include <limits>

namespace ad {
namespace detail {
namespace {

// y = scale * sum(x):  dx = scale * g (broadcast back over all entries). alpha holds the scale
// (1 for sum, 1/N for mean).
template <class T>
void sum_all_backward(Tape<T>& t, Node<T>& n) {
  const T g = n.grad.data()[0] * static_cast<T>(n.alpha);
  accumulate(t, n.in[0], [&](std::size_t) { return g; });
}

template <class T>
Var<T> sum_all(const Var<T>& x, const char* op, bool mean) {
  Tape<T>& t = x.tape();
  const std::size_t size = t.checked(x, op).val().size();
  Var<T> out = t.record(op, &sum_all_backward<T>, {x}, xt::svector<std::size_t, 1>{});
  auto& n = t.node(out.id());
  n.alpha = mean ? 1.0 / static_cast<double>(size) : 1.0;
  const T* v = t.node(x.id()).val().data();
  n.value.data()[0] = sum_of<T>(size, [v](std::size_t i) { return v[i]; }) * static_cast<T>(n.alpha);
  return done(t, out);
}

// y[o, j] = scale * sum_k x[o, k, j]:  dx[o, k, j] = scale * g[o, j]
template <class T>
void sum_axis_backward(Tape<T>& t, Node<T>& n) {
  const AxisView v("sum", t.node(n.in[0]).val().shape(), n.axis);
  const T* g = n.grad.data();
  const T scale = static_cast<T>(n.alpha);
  accumulate(t, n.in[0], [&](std::size_t i) { return scale * g[(i / (v.n * v.inner)) * v.inner + i % v.inner]; });
}

template <class T>
Var<T> sum_axis(const Var<T>& x, int axis, bool keepdims, const char* op, bool mean) {
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, op).val().shape();
  const AxisView v(op, xs, axis);
  Var<T> out = t.record(op, &sum_axis_backward<T>, {x}, v.reduced(xs, keepdims));
  auto& n = t.node(out.id());
  n.axis = v.axis;
  n.flag = keepdims;
  n.alpha = mean ? 1.0 / static_cast<double>(v.n) : 1.0;
  const T scale = static_cast<T>(n.alpha);
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

// y[o, j] = max_k x[o, k, j]:  dx[o, k*, j] = g[o, j] for the first maximal k*, 0 elsewhere
template <class T>
void max_axis_backward(Tape<T>& t, Node<T>& n) {
  const auto& xn = t.node(n.in[0]);
  const AxisView v("max", xn.val().shape(), n.axis);
  const T* x = xn.val().data();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  T* gx = grad_for_scatter(t, n.in[0]);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j)
      for (std::size_t k = 0; k < v.n; ++k) {
        const std::size_t i = (o * v.n + k) * v.inner + j;
        if (x[i] == y[o * v.inner + j] || std::isnan(x[i])) {
          gx[i] += g[o * v.inner + j];
          break;
        }
      }
}

// Softmax along an axis: y = e^(x - m) / sum e^(x - m), m the maximum (so no overflow).
// dx = y * (g - sum_k g y)
template <class T>
void softmax_backward(Tape<T>& t, Node<T>& n) {
  const AxisView v("softmax", n.value.shape(), n.axis);
  const T* y = n.value.data();
  const T* g = n.grad.data();
  T* gx = grad_for_scatter(t, n.in[0]);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) {
      const std::size_t base = o * v.n * v.inner + j;
      T dot = 0;
      for (std::size_t k = 0; k < v.n; ++k) dot += g[base + k * v.inner] * y[base + k * v.inner];
      for (std::size_t k = 0; k < v.n; ++k) {
        const std::size_t i = base + k * v.inner;
        gx[i] += y[i] * (g[i] - dot);
      }
    }
}

// Log-softmax: y = (x - m) - log sum e^(x - m).  dx = g - softmax(x) * sum_k g; the forward pass
// keeps softmax(x) in aux, so the backward needs no exponentials.
template <class T>
void log_softmax_backward(Tape<T>& t, Node<T>& n) {
  const AxisView v("log_softmax", n.value.shape(), n.axis);
  const T* p = n.aux.data();
  const T* g = n.grad.data();
  T* gx = grad_for_scatter(t, n.in[0]);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) {
      const std::size_t base = o * v.n * v.inner + j;
      T gs = 0;
      for (std::size_t k = 0; k < v.n; ++k) gs += g[base + k * v.inner];
      for (std::size_t k = 0; k < v.n; ++k) {
        const std::size_t i = base + k * v.inner;
        gx[i] += g[i] - p[i] * gs;
      }
    }
}

template <class T>
Var<T> softmax_family(const Var<T>& x, int axis, bool log, const char* op) {
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, op).val().shape();
  const AxisView v(op, xs, axis);
  Var<T> out = t.record(op, log ? &log_softmax_backward<T> : &softmax_backward<T>, {x}, xs);
  auto& n = t.node(out.id());
  n.axis = v.axis;
  if (log) resize_to(n.aux, n.value.shape());  // not xs: recording may have moved the input node
  const T* in = t.node(x.id()).val().data();
  T* y = n.value.data();
  T* prob = n.aux.data();
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) {
      const std::size_t base = o * v.n * v.inner + j;
      T m = -std::numeric_limits<T>::infinity();
      for (std::size_t k = 0; k < v.n; ++k) m = std::max(m, in[base + k * v.inner]);
      if (!std::isfinite(m)) m = 0;  // all -inf (or +inf/nan): let the arithmetic say so
      T s = 0;
      for (std::size_t k = 0; k < v.n; ++k) {
        const std::size_t i = base + k * v.inner;
        y[i] = std::exp(in[i] - m);
        s += y[i];
      }
      if (log) {  // (x - m) - log s: exact 0 - log s for the maximal entry
        const T ls = std::log(s);
        for (std::size_t k = 0; k < v.n; ++k) {
          const std::size_t i = base + k * v.inner;
          prob[i] = y[i] / s;
          y[i] = (in[i] - m) - ls;
        }
      } else {
        for (std::size_t k = 0; k < v.n; ++k) y[base + k * v.inner] /= s;
      }
    }
  return done(t, out);
}

// y[i] = x[i, label_i]:  dx[i, label_i] = g[i]. The labels are kept in aux.
template <class T>
void pick_backward(Tape<T>& t, Node<T>& n) {
  const std::size_t k = t.node(n.in[0]).val().shape()[1];
  const T* g = n.grad.data();
  T* gx = grad_for_scatter(t, n.in[0]);
  for (std::size_t i = 0; i < n.aux.size(); ++i) gx[i * k + static_cast<std::size_t>(n.aux.data()[i])] += g[i];
}

}  // namespace
}  // namespace detail

template <class T> Var<T> sum(const Var<T>& x) { return detail::sum_all(x, "sum", false); }
template <class T> Var<T> mean(const Var<T>& x) {
  if (x.size() == 0) throw ShapeError("mean: the input is empty (shape " + shape_str(x.shape()) + ")");
  return detail::sum_all(x, "mean", true);
}
template <class T> Var<T> sum(const Var<T>& x, int axis, bool keepdims) {
  return detail::sum_axis(x, axis, keepdims, "sum", false);
}
template <class T> Var<T> mean(const Var<T>& x, int axis, bool keepdims) {
  return detail::sum_axis(x, axis, keepdims, "mean", true);
}

template <class T>
Var<T> max(const Var<T>& x, int axis, bool keepdims) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, "max").val().shape();
  const AxisView v("max", xs, axis);
  if (v.n == 0) throw ShapeError(fmt::format("max: axis {} of shape {} is empty", axis, shape_str(xs)));
  Var<T> out = t.record("max", &max_axis_backward<T>, {x}, v.reduced(xs, keepdims));
  auto& n = t.node(out.id());
  n.axis = v.axis;
  n.flag = keepdims;
  const T* in = t.node(x.id()).val().data();
  T* y = n.value.data();
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) {
      T m = in[o * v.n * v.inner + j];
      for (std::size_t k = 1; k < v.n && !std::isnan(m); ++k) {
        const T c = in[(o * v.n + k) * v.inner + j];
        if (c > m || std::isnan(c)) m = c;
      }
      y[o * v.inner + j] = m;
    }
  return done(t, out);
}

template <class T> Var<T> softmax(const Var<T>& x, int axis) { return detail::softmax_family(x, axis, false, "softmax"); }
template <class T> Var<T> log_softmax(const Var<T>& x, int axis) {
  return detail::softmax_family(x, axis, true, "log_softmax");
}

template <class T>
Var<T> pick(const Var<T>& x, const std::vector<std::size_t>& labels) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, "pick").val().shape();
  if (xs.size() != 2 || xs[0] != labels.size())
    throw ShapeError(fmt::format("pick: needs a (n, k) matrix and n labels, got shape {} and {} labels",
                                 shape_str(xs), labels.size()));
  const std::size_t k = xs[1];
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= k)
      throw ValueError(fmt::format("pick: label {} at row {} is out of range for {} classes", labels[i], i, k));
  Var<T> out = t.record("pick", &pick_backward<T>, {x}, xt::svector<std::size_t, 1>{labels.size()});
  auto& n = t.node(out.id());
  resize_to(n.aux, xt::svector<std::size_t, 1>{labels.size()});
  const T* in = t.node(x.id()).val().data();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    n.aux.data()[i] = static_cast<T>(labels[i]);
    n.value.data()[i] = in[i * k + labels[i]];
  }
  return done(t, out);
}

#define AD_REDUCE(T)                                                         \
  template Var<T> sum<T>(const Var<T>&);                                     \
  template Var<T> mean<T>(const Var<T>&);                                    \
  template Var<T> sum<T>(const Var<T>&, int, bool);                          \
  template Var<T> mean<T>(const Var<T>&, int, bool);                         \
  template Var<T> max<T>(const Var<T>&, int, bool);                          \
  template Var<T> softmax<T>(const Var<T>&, int);                            \
  template Var<T> log_softmax<T>(const Var<T>&, int);                        \
  template Var<T> pick<T>(const Var<T>&, const std::vector<std::size_t>&);
AD_REDUCE(float)
AD_REDUCE(double)

}  // namespace ad
