// The softmax family along an axis: softmax and log_softmax, numerically stable (the maximum is
// subtracted before exponentiating). The input is seen as (outer, n, inner) and normalized
// along n. The two share one forward; each backward rule follows it.
#include <ad/ops.hpp>

#include "ops/kernels.hpp"

#include <cmath>
#include <limits>

namespace ad {
using detail::Node;

template <class T> static void softmax_backward(Tape<T>& t, Node<T>& n);
template <class T> static void softmax_jvp(Tape<T>& t, Node<T>& n);
template <class T> static void softmax_backward_tangent(Tape<T>& t, Node<T>& n);
template <class T> static void log_softmax_backward(Tape<T>& t, Node<T>& n);
template <class T> static void log_softmax_jvp(Tape<T>& t, Node<T>& n);
template <class T> static void log_softmax_backward_tangent(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> softmax_rules{&softmax_backward<T>, &softmax_jvp<T>, &softmax_backward_tangent<T>};
template <class T>
static const detail::OpRules<T> log_softmax_rules{&log_softmax_backward<T>, &log_softmax_jvp<T>,
                                                  &log_softmax_backward_tangent<T>};

// Calls f(base) for each line along the axis; entry k of the line is at base + k * v.inner.
template <class F>
static void for_each_line(const detail::AxisView& v, F&& f) {
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) f(o * v.n * v.inner + j);
}

// Softmax: y = e^(x - m) / sum e^(x - m), m the maximum (so no overflow).
// Log-softmax: y = (x - m) - log sum e^(x - m); softmax(x) is kept in aux for the backward.
template <class T>
static Var<T> softmax_family(const Var<T>& x, int axis, bool log, const char* op) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, op).val().shape();
  const AxisView v(op, xs, axis);
  Var<T> out = t.record(op, log ? log_softmax_rules<T> : softmax_rules<T>, {x}, xs);
  auto& n = t.node(out.id());
  n.axis = v.axis;
  if (log) resize_to(n.aux, n.value.shape());  // not xs: recording may have moved the input node
  const T* in = t.node(x.id()).val().data();
  T* y = n.value.data();
  T* prob = n.aux.data();
  for_each_line(v, [&](std::size_t base) {
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
  });
  return done(t, out);
}

// ---- softmax -----------------------------------------------------------------------------------

template <class T> Var<T> softmax(const Var<T>& x, int axis) { return softmax_family(x, axis, false, "softmax"); }

// y = softmax(x):  dx = y * (g - sum_k g y)
template <class T>
static void softmax_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("softmax", n.value.shape(), n.axis);
  const T* y = n.value.data();
  const T* g = n.grad.data();
  T* gx = grad_for_scatter(t, n.in[0]);
  for_each_line(v, [&](std::size_t base) {
    T dot = 0;
    for (std::size_t k = 0; k < v.n; ++k) dot += g[base + k * v.inner] * y[base + k * v.inner];
    for (std::size_t k = 0; k < v.n; ++k) {
      const std::size_t i = base + k * v.inner;
      gx[i] += y[i] * (g[i] - dot);
    }
  });
}

// y = softmax(x):  y' = y * (x' - sum_k y x')
template <class T>
static void softmax_jvp(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("softmax", n.value.shape(), n.axis);
  const T* y = n.value.data();
  const T* xd = tangent_of(t, n.in[0]);
  T* yd = tangent_out(n);
  for_each_line(v, [&](std::size_t base) {
    T dot = 0;
    for (std::size_t k = 0; k < v.n; ++k) dot += y[base + k * v.inner] * xd[base + k * v.inner];
    for (std::size_t k = 0; k < v.n; ++k) {
      const std::size_t i = base + k * v.inner;
      yd[i] = y[i] * (xd[i] - dot);
    }
  });
}

// dx = y (g - s), s = sum_k g y:  dx' = y' (g - s) + y (g' - s'),  s' = sum_k (g' y + g y')
template <class T>
static void softmax_backward_tangent(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("softmax", n.value.shape(), n.axis);
  const T* y = n.value.data();
  const T* yd = n.tangent.data();
  const T* g = n.grad.data();
  const T* gd = n.grad_tangent.data();
  T* out = grad_tangent_for_scatter(t, n.in[0]);
  for_each_line(v, [&](std::size_t base) {
    T s = 0, sd = 0;
    for (std::size_t k = 0; k < v.n; ++k) {
      const std::size_t i = base + k * v.inner;
      s += g[i] * y[i];
      sd += gd[i] * y[i] + g[i] * yd[i];
    }
    for (std::size_t k = 0; k < v.n; ++k) {
      const std::size_t i = base + k * v.inner;
      out[i] += yd[i] * (g[i] - s) + y[i] * (gd[i] - sd);
    }
  });
}

// ---- log_softmax -------------------------------------------------------------------------------

template <class T> Var<T> log_softmax(const Var<T>& x, int axis) {
  return softmax_family(x, axis, true, "log_softmax");
}

// y = log_softmax(x):  dx = g - softmax(x) * sum_k g, with softmax(x) from the forward pass (aux),
// so the backward needs no exponentials.
template <class T>
static void log_softmax_backward(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("log_softmax", n.value.shape(), n.axis);
  const T* p = n.aux.data();
  const T* g = n.grad.data();
  T* gx = grad_for_scatter(t, n.in[0]);
  for_each_line(v, [&](std::size_t base) {
    T gs = 0;
    for (std::size_t k = 0; k < v.n; ++k) gs += g[base + k * v.inner];
    for (std::size_t k = 0; k < v.n; ++k) {
      const std::size_t i = base + k * v.inner;
      gx[i] += g[i] - p[i] * gs;
    }
  });
}

// y = log_softmax(x), p = softmax(x):  y' = x' - sum_k p x'
template <class T>
static void log_softmax_jvp(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("log_softmax", n.value.shape(), n.axis);
  const T* p = n.aux.data();
  const T* xd = tangent_of(t, n.in[0]);
  T* yd = tangent_out(n);
  for_each_line(v, [&](std::size_t base) {
    T dot = 0;
    for (std::size_t k = 0; k < v.n; ++k) dot += p[base + k * v.inner] * xd[base + k * v.inner];
    for (std::size_t k = 0; k < v.n; ++k) yd[base + k * v.inner] = xd[base + k * v.inner] - dot;
  });
}

// dx = g - p S, S = sum_k g:  dx' = g' - p' S - p S',  p' = p y',  S' = sum_k g'
template <class T>
static void log_softmax_backward_tangent(Tape<T>& t, Node<T>& n) {
  using namespace detail;
  const AxisView v("log_softmax", n.value.shape(), n.axis);
  const T* p = n.aux.data();
  const T* yd = n.tangent.data();
  const T* g = n.grad.data();
  const T* gd = n.grad_tangent.data();
  T* out = grad_tangent_for_scatter(t, n.in[0]);
  for_each_line(v, [&](std::size_t base) {
    T s = 0, sd = 0;
    for (std::size_t k = 0; k < v.n; ++k) {
      s += g[base + k * v.inner];
      sd += gd[base + k * v.inner];
    }
    for (std::size_t k = 0; k < v.n; ++k) {
      const std::size_t i = base + k * v.inner;
      out[i] += gd[i] - p[i] * yd[i] * s - p[i] * sd;
    }
  });
}

#define AD_SOFTMAX(T)                                  \
  template Var<T> softmax<T>(const Var<T>&, int);      \
  template Var<T> log_softmax<T>(const Var<T>&, int);
AD_SOFTMAX(float)
AD_SOFTMAX(double)

}  // namespace ad
