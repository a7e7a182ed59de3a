// Elementwise ops. Each op is one struct: its value f and its local derivative(s) side by side,
// with the math in a comment. The generic unary/binary machinery below records the node, runs
// the forward loop and, in backward, multiplies the incoming adjoint g by the local derivative
// (summing over broadcast axes). Adding an elementwise op = one struct + one line at the bottom.
#include <ad/ops.hpp>

#include "kernels.hpp"
#include "simd.hpp"

#include <cmath>

namespace ad {
namespace detail {
namespace {

// ---- binary ops: f(a, b), da = df/da, db = df/db (y = f(a, b) is available) ---------------
struct Add {
  static constexpr const char* name = "add";
  template <class T> static T f(T a, T b) { return a + b; }
  template <class T> static T da(T, T, T) { return 1; }  // d(a+b) = da + db
  template <class T> static T db(T, T, T) { return 1; }
};
struct Sub {
  static constexpr const char* name = "sub";
  template <class T> static T f(T a, T b) { return a - b; }
  template <class T> static T da(T, T, T) { return 1; }  // d(a-b) = da - db
  template <class T> static T db(T, T, T) { return -1; }
};
struct Mul {
  static constexpr const char* name = "mul";
  template <class T> static T f(T a, T b) { return a * b; }
  template <class T> static T da(T, T b, T) { return b; }  // d(ab) = b da + a db
  template <class T> static T db(T a, T, T) { return a; }
};
struct Div {
  static constexpr const char* name = "div";
  template <class T> static T f(T a, T b) { return a / b; }
  template <class T> static T da(T, T b, T) { return T(1) / b; }  // d(a/b) = da/b - (a/b^2) db
  template <class T> static T db(T, T b, T y) { return -y / b; }
};
struct Maximum {
  static constexpr const char* name = "maximum";
  template <class T> static T f(T a, T b) { return a >= b ? a : b; }
  template <class T> static T da(T a, T b, T) { return a >= b ? 1 : 0; }  // ties go to a
  template <class T> static T db(T a, T b, T) { return a >= b ? 0 : 1; }
};
struct Minimum {
  static constexpr const char* name = "minimum";
  template <class T> static T f(T a, T b) { return a <= b ? a : b; }
  template <class T> static T da(T a, T b, T) { return a <= b ? 1 : 0; }  // ties go to a
  template <class T> static T db(T a, T b, T) { return a <= b ? 0 : 1; }
};

// ---- unary ops: y = f(x; alpha, beta), d = dy/dx given x and y -----------------------------
// Written once for a plain number and for an xsimd batch (V is T or xsimd::batch<T>): branches
// are vselect(), and the math functions resolve to std:: or xsimd:: (see simd.hpp).
struct Neg {
  static constexpr const char* name = "neg";
  template <class V> static V f(V x, V, V) { return -x; }
  template <class V> static V d(V, V, V, V) { return V(-1); }
};
struct Exp {
  static constexpr const char* name = "exp";
  template <class V> static V f(V x, V, V) { return vexp(x); }
  template <class V> static V d(V, V y, V, V) { return y; }  // d e^x = e^x
};
struct Log {
  static constexpr const char* name = "log";
  template <class V> static V f(V x, V, V) { return vlog(x); }
  template <class V> static V d(V x, V, V, V) { return V(1) / x; }  // d log x = 1/x
};
struct Sqrt {
  static constexpr const char* name = "sqrt";
  template <class V> static V f(V x, V, V) { return vsqrt(x); }
  template <class V> static V d(V, V y, V, V) { return V(0.5) / y; }  // d sqrt x = 1/(2 sqrt x)
};
struct Pow {
  static constexpr const char* name = "pow";
  template <class V> static V f(V x, V p, V) { return vpow(x, p); }
  // d x^p = p x^(p-1), written without dividing by x so that x = 0 works for p >= 1
  template <class V> static V d(V x, V, V p, V) { return vselect(p == V(0), V(0), p * vpow(x, p - V(1))); }
};
struct Abs {
  static constexpr const char* name = "abs";
  template <class V> static V f(V x, V, V) { return vabs(x); }
  // sign(x), 0 at 0
  template <class V> static V d(V x, V, V, V) { return vselect(x > V(0), V(1), vselect(x < V(0), V(-1), V(0))); }
};
struct Tanh {
  static constexpr const char* name = "tanh";
  template <class V> static V f(V x, V, V) { return vtanh(x); }
  template <class V> static V d(V, V y, V, V) { return V(1) - y * y; }  // d tanh = 1 - tanh^2
};
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  // never exponentiates a positive number: e = e^-|x|, s = 1/(1+e) for x >= 0, e/(1+e) otherwise
  template <class V> static V f(V x, V, V) {
    const V e = vexp(-vabs(x)), r = V(1) / (V(1) + e);
    return vselect(x >= V(0), r, e * r);
  }
  template <class V> static V d(V, V y, V, V) { return y * (V(1) - y); }  // d s = s (1 - s)
};
struct Relu {
  static constexpr const char* name = "relu";
  template <class V> static V f(V x, V, V) { return vselect(x > V(0), x, V(0)); }
  template <class V> static V d(V x, V, V, V) { return vselect(x > V(0), V(1), V(0)); }  // 0 at 0
};
struct LeakyRelu {
  static constexpr const char* name = "leaky_relu";
  template <class V> static V f(V x, V a, V) { return vselect(x > V(0), x, a * x); }
  template <class V> static V d(V x, V, V a, V) { return vselect(x > V(0), V(1), a); }
};
struct Elu {
  static constexpr const char* name = "elu";
  template <class V> static V f(V x, V a, V) { return vselect(x > V(0), x, a * vexpm1(x)); }
  template <class V> static V d(V x, V y, V a, V) { return vselect(x > V(0), V(1), y + a); }  // a e^x = y + a
};
struct Softplus {
  static constexpr const char* name = "softplus";
  // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|
  template <class V> static V f(V x, V, V) { return vmax(x, V(0)) + vlog1p(vexp(-vabs(x))); }
  template <class V> static V d(V x, V, V, V) { return Sigmoid::f(x, V(0), V(0)); }  // = sigmoid(x)
};
struct Swish {
  static constexpr const char* name = "swish";
  template <class V> static V f(V x, V, V) { return x * Sigmoid::f(x, V(0), V(0)); }
  template <class V> static V d(V x, V, V, V) {  // d x s(x) = s + x s (1 - s)
    const V s = Sigmoid::f(x, V(0), V(0));
    return s * (V(1) + x * (V(1) - s));
  }
};
struct Clamp {
  static constexpr const char* name = "clamp";
  template <class V> static V f(V x, V lo, V hi) { return vselect(x < lo, lo, vselect(x > hi, hi, x)); }
  template <class V> static V d(V x, V, V lo, V hi) { return vselect(x >= lo && x <= hi, V(1), V(0)); }
};

// ---- the generic machinery ------------------------------------------------------------------

template <class Op, class T>
void unary_backward(Tape<T>& t, Node<T>& n) {
  auto& in = t.node(n.in[0]);
  if (!in.active) return;
  const T* x = in.val().data();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  const T a = static_cast<T>(n.alpha), b = static_cast<T>(n.beta);
  const bool first = !in.has_grad;
  if (first) resize_to(in.grad, in.val().shape());
  T* gx = in.grad.data();
  const std::size_t size = in.val().size();
  auto rule = [&](auto gv, auto xv, auto yv) {
    using V = decltype(xv);
    return gv * Op::d(xv, yv, V(a), V(b));
  };
  if (first)
    simd_map3<T, false>(size, g, x, y, gx, rule);
  else
    simd_map3<T, true>(size, g, x, y, gx, rule);
  in.has_grad = true;
}

template <class Op, class T>
Var<T> unary(const Var<T>& xv, T alpha = T(0), T beta = T(0)) {
  Tape<T>& t = xv.tape();
  Var<T> out = t.record(Op::name, &unary_backward<Op, T>, {xv}, t.checked(xv, Op::name).val().shape());
  auto& n = t.node(out.id());
  n.alpha = alpha;
  n.beta = beta;
  const auto& xa = t.node(xv.id()).val();
  simd_map1<T>(xa.size(), xa.data(), n.value.data(), [&](auto x) {
    using V = decltype(x);
    return Op::f(x, V(alpha), V(beta));
  });
  return done(t, out);
}

// Adds f(i_out, i_a, i_b) into the adjoint of input `id` (side 0 = a, 1 = b). An input with the
// result's shape gets one contribution per entry (assigned on the first one); a broadcast input
// sums over its repeated axes: this is the one place where sum_to(grad, input_shape) happens.
template <class T, class F>
void broadcast_accumulate(Tape<T>& t, std::uint32_t id, int side, bool full, const Broadcast& bc, F&& f) {
  auto& in = t.node(id);
  if (!in.active) return;
  auto index = [side](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) {
    (void)io;
    return side == 0 ? ia : ib;
  };
  if (full && !in.has_grad) {
    resize_to(in.grad, in.val().shape());
    T* gi = in.grad.data();
    bc.for_each([&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) { gi[index(io, ia, ib)] = f(io, ia, ib); });
    in.has_grad = true;
    return;
  }
  T* gi = grad_for_scatter(t, id);
  bc.for_each([&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) { gi[index(io, ia, ib)] += f(io, ia, ib); });
}

template <class Op, class T>
void binary_backward(Tape<T>& t, Node<T>& n) {
  const auto& an = t.node(n.in[0]);
  const auto& bn = t.node(n.in[1]);
  const Broadcast bc(Op::name, an.val().shape(), bn.val().shape());
  const T* a = an.val().data();
  const T* b = bn.val().data();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  if (bc.a_full && bc.b_full) {  // the common case, as plain loops
    accumulate(t, n.in[0], [&](std::size_t i) { return g[i] * Op::da(a[i], b[i], y[i]); });
    accumulate(t, n.in[1], [&](std::size_t i) { return g[i] * Op::db(a[i], b[i], y[i]); });
    return;
  }
  broadcast_accumulate(t, n.in[0], 0, bc.a_full, bc, [&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) {
    return g[io] * Op::da(a[ia], b[ib], y[io]);
  });
  broadcast_accumulate(t, n.in[1], 1, bc.b_full, bc, [&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) {
    return g[io] * Op::db(a[ia], b[ib], y[io]);
  });
}

template <class Op, class T>
Var<T> binary(const Var<T>& av, const Var<T>& bv) {
  Tape<T>& t = av.tape();
  const auto& an = t.checked(av, Op::name);
  const auto& bn = t.checked(bv, Op::name);
  const Broadcast bc(Op::name, an.val().shape(), bn.val().shape());
  Var<T> out = t.record(Op::name, &binary_backward<Op, T>, {av, bv}, bc.out_shape());
  const T* a = t.node(av.id()).val().data();
  const T* b = t.node(bv.id()).val().data();
  T* y = t.node(out.id()).value.data();
  if (bc.a_full && bc.b_full) {
    for (std::size_t i = 0; i < bc.size; ++i) y[i] = Op::f(a[i], b[i]);
  } else if (bc.a_full && t.node(bv.id()).val().size() == 1) {
    const T s = b[0];
    for (std::size_t i = 0; i < bc.size; ++i) y[i] = Op::f(a[i], s);
  } else {
    bc.for_each([&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) { y[io] = Op::f(a[ia], b[ib]); });
  }
  return done(t, out);
}

}  // namespace

}  // namespace detail

template <class T> Var<T> add(const Var<T>& a, const Var<T>& b) { return detail::binary<detail::Add>(a, b); }
template <class T> Var<T> sub(const Var<T>& a, const Var<T>& b) { return detail::binary<detail::Sub>(a, b); }
template <class T> Var<T> mul(const Var<T>& a, const Var<T>& b) { return detail::binary<detail::Mul>(a, b); }
template <class T> Var<T> div(const Var<T>& a, const Var<T>& b) { return detail::binary<detail::Div>(a, b); }
template <class T> Var<T> maximum(const Var<T>& a, const Var<T>& b) { return detail::binary<detail::Maximum>(a, b); }
template <class T> Var<T> minimum(const Var<T>& a, const Var<T>& b) { return detail::binary<detail::Minimum>(a, b); }

template <class T> Var<T> neg(const Var<T>& x) { return detail::unary<detail::Neg>(x); }
template <class T> Var<T> exp(const Var<T>& x) { return detail::unary<detail::Exp>(x); }
template <class T> Var<T> log(const Var<T>& x) { return detail::unary<detail::Log>(x); }
template <class T> Var<T> sqrt(const Var<T>& x) { return detail::unary<detail::Sqrt>(x); }
template <class T> Var<T> pow(const Var<T>& x, Scalar<T> p) { return detail::unary<detail::Pow>(x, p); }
template <class T> Var<T> abs(const Var<T>& x) { return detail::unary<detail::Abs>(x); }
template <class T> Var<T> tanh(const Var<T>& x) { return detail::unary<detail::Tanh>(x); }
template <class T> Var<T> sigmoid(const Var<T>& x) { return detail::unary<detail::Sigmoid>(x); }
template <class T> Var<T> relu(const Var<T>& x) { return detail::unary<detail::Relu>(x); }
template <class T> Var<T> leaky_relu(const Var<T>& x, Scalar<T> slope) { return detail::unary<detail::LeakyRelu>(x, slope); }
template <class T> Var<T> elu(const Var<T>& x, Scalar<T> alpha) { return detail::unary<detail::Elu>(x, alpha); }
template <class T> Var<T> softplus(const Var<T>& x) { return detail::unary<detail::Softplus>(x); }
template <class T> Var<T> swish(const Var<T>& x) { return detail::unary<detail::Swish>(x); }
template <class T> Var<T> clamp(const Var<T>& x, Scalar<T> lo, Scalar<T> hi) {
  if (!(lo <= hi))
    throw ValueError(fmt::format("clamp: lower bound {} is above upper bound {}", lo, hi));
  return detail::unary<detail::Clamp>(x, lo, hi);
}

#define AD_ELEMENTWISE(T)                                                       \
  template Var<T> add<T>(const Var<T>&, const Var<T>&);                         \
  template Var<T> sub<T>(const Var<T>&, const Var<T>&);                         \
  template Var<T> mul<T>(const Var<T>&, const Var<T>&);                         \
  template Var<T> div<T>(const Var<T>&, const Var<T>&);                         \
  template Var<T> maximum<T>(const Var<T>&, const Var<T>&);                     \
  template Var<T> minimum<T>(const Var<T>&, const Var<T>&);                     \
  template Var<T> neg<T>(const Var<T>&);                                        \
  template Var<T> exp<T>(const Var<T>&);                                        \
  template Var<T> log<T>(const Var<T>&);                                        \
  template Var<T> sqrt<T>(const Var<T>&);                                       \
  template Var<T> pow<T>(const Var<T>&, Scalar<T>);                             \
  template Var<T> abs<T>(const Var<T>&);                                        \
  template Var<T> tanh<T>(const Var<T>&);                                       \
  template Var<T> sigmoid<T>(const Var<T>&);                                    \
  template Var<T> relu<T>(const Var<T>&);                                       \
  template Var<T> leaky_relu<T>(const Var<T>&, Scalar<T>);                      \
  template Var<T> elu<T>(const Var<T>&, Scalar<T>);                             \
  template Var<T> softplus<T>(const Var<T>&);                                   \
  template Var<T> swish<T>(const Var<T>&);                                      \
  template Var<T> clamp<T>(const Var<T>&, Scalar<T>, Scalar<T>);
AD_ELEMENTWISE(float)
AD_ELEMENTWISE(double)

}  // namespace ad
