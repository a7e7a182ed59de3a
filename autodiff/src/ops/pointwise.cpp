// The elementwise tensor ops, generated from the op rules (<ad/ops/rules.hpp>): the generic
// unary/binary machinery below records the node, runs the forward loop (unary ops on xsimd
// batches, binary ops entry by entry with broadcasting) and, in backward, multiplies the incoming
// adjoint by the rule's local derivative (summing over broadcast axes). Nothing here knows any
// particular op: adding one is a rule and a row in <ad/ops/rules.hpp>.
#include <ad/ops.hpp>
#include <ad/ops/rules.hpp>
#include <ad/scalar.hpp>  // ad::Dual and its functions

#include "ops/kernels.hpp"
#include "ops/simd.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

namespace ad {
namespace detail {
namespace {

// ---- the generic machinery ------------------------------------------------------------------

// Second order comes from the same rules, evaluated on forward-mode numbers: for a value x with
// tangent x', rule.d(Dual(x, x'), Dual(y, y')) is the local derivative with its own tangent.
template <class T>
using Tan = Dual<1, T>;
template <class T>
Tan<T> with_tangent(T v, const T* dv, std::size_t i) {
  Tan<T> d(v);
  if (dv) d.set_partial(0, dv[i]);
  return d;
}
/// p * dv, zero when dv is zero (as Dual: a zero tangent stays zero through an infinite slope).
template <class T>
T times_tangent(T p, T dv) {
  return dv == T(0) ? T(0) : p * dv;
}

/// A rule with its parameters, rebuilt from the node that recorded it.
template <class Op>
Op rule_of(const double (&p)[2]) {
  if constexpr (std::is_empty_v<Op>)
    return Op{};
  else if constexpr (sizeof(Op) == sizeof(double))
    return Op{p[0]};
  else
    return Op{p[0], p[1]};
}
template <class Op>
void store_rule(const Op& op, double (&p)[2]) {
  static_assert(std::is_empty_v<Op> || sizeof(Op) <= sizeof(p), "a rule keeps at most two parameters");
  if constexpr (!std::is_empty_v<Op>) std::memcpy(p, &op, sizeof(Op));
}

template <class Op, class T> void unary_backward(Tape<T>& t, Node<T>& n);
template <class Op, class T> void unary_jvp(Tape<T>& t, Node<T>& n);
template <class Op, class T> void unary_backward_tangent(Tape<T>& t, Node<T>& n);
template <class Op, class T>
const OpRules<T> unary_rules{&unary_backward<Op, T>, &unary_jvp<Op, T>, &unary_backward_tangent<Op, T>};

template <class Op, class T>
Var<T> record_unary(const Var<T>& xv, const Op& op = {}) {
  Tape<T>& t = xv.tape();
  Var<T> out = t.record(Op::name, unary_rules<Op, T>, {xv}, t.checked(xv, Op::name).val().shape());
  auto& n = t.node(out.id());
  store_rule(op, n.rule_params);
  const auto& xa = t.node(xv.id()).val();
  simd_map1<T>(xa.size(), xa.data(), n.value.data(), [&](auto x) { return op.value(x); });
  return done(t, out);
}

template <class Op, class T>
void unary_backward(Tape<T>& t, Node<T>& n) {
  auto& in = t.node(n.in[0]);
  if (!in.active) return;
  const Op op = rule_of<Op>(n.rule_params);
  const T* x = in.val().data();
  const T* y = n.value.data();
  const T* g = n.grad.data();
  const bool first = !in.has_grad;
  if (first) resize_to(in.grad, in.val().shape());
  T* gx = in.grad.data();
  const std::size_t size = in.val().size();
  auto rule = [&](auto gv, auto xv, auto yv) { return gv * op.d(xv, yv); };
  if (first)
    simd_map3<T, false>(size, g, x, y, gx, rule);
  else
    simd_map3<T, true>(size, g, x, y, gx, rule);
  in.has_grad = true;
}

// y = f(x):  y' = d(x, y) x'
template <class Op, class T>
void unary_jvp(Tape<T>& t, Node<T>& n) {
  const Op op = rule_of<Op>(n.rule_params);
  const T* x = t.node(n.in[0]).val().data();
  const T* xd = tangent_of(t, n.in[0]);  // an active unary node has an active input
  const T* y = n.value.data();
  T* yd = tangent_out(n);
  for (std::size_t i = 0, size = n.value.size(); i < size; ++i) yd[i] = times_tangent(op.d(x[i], y[i]), xd[i]);
}

// dx = g d(x, y):  dx' = g' d(x, y) + g d(x, y)', the latter from the rule on Duals
template <class Op, class T>
void unary_backward_tangent(Tape<T>& t, Node<T>& n) {
  const Op op = rule_of<Op>(n.rule_params);
  const T* x = t.node(n.in[0]).val().data();
  const T* xd = tangent_of(t, n.in[0]);
  const T* y = n.value.data();
  const T* yd = n.tangent.data();
  const T* g = n.grad.data();
  const T* gd = n.grad_tangent.data();
  accumulate_tangent(t, n.in[0], [&](std::size_t i) {
    const Tan<T> d = op.d(with_tangent(x[i], xd, i), with_tangent(y[i], yd, i));
    return gd[i] * d.value() + g[i] * d.partial(0);
  });
}

/// A binary rule with its second argument fixed: pow(x, p) for a number p.
template <class Op>
struct BindSecond {
  static constexpr const char* name = Op::name;
  double b = 0;
  template <class V> V value(const V& a) const { return Op::value(a, math::lit<V>(b)); }
  template <class V> V d(const V& a, const V& y) const { return Op::da(a, math::lit<V>(b), y); }
};

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

template <class Op, class T> void binary_backward(Tape<T>& t, Node<T>& n);
template <class Op, class T> void binary_jvp(Tape<T>& t, Node<T>& n);
template <class Op, class T> void binary_backward_tangent(Tape<T>& t, Node<T>& n);
template <class Op, class T>
const OpRules<T> binary_rules{&binary_backward<Op, T>, &binary_jvp<Op, T>, &binary_backward_tangent<Op, T>};

template <class Op, class T>
Var<T> record_binary(const Var<T>& av, const Var<T>& bv) {
  Tape<T>& t = av.tape();
  const auto& an = t.checked(av, Op::name);
  const auto& bn = t.checked(bv, Op::name);
  const Broadcast bc(Op::name, an.val().shape(), bn.val().shape());
  Var<T> out = t.record(Op::name, binary_rules<Op, T>, {av, bv}, bc.out_shape());
  const T* a = t.node(av.id()).val().data();
  const T* b = t.node(bv.id()).val().data();
  T* y = t.node(out.id()).value.data();
  if (bc.a_full && bc.b_full) {
    for (std::size_t i = 0; i < bc.size; ++i) y[i] = Op::value(a[i], b[i]);
  } else if (bc.a_full && t.node(bv.id()).val().size() == 1) {
    const T s = b[0];
    for (std::size_t i = 0; i < bc.size; ++i) y[i] = Op::value(a[i], s);
  } else {
    bc.for_each([&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) { y[io] = Op::value(a[ia], b[ib]); });
  }
  return done(t, out);
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

// y = f(a, b):  y' = da a' + db b' (an input the sweep does not visit has tangent 0)
template <class Op, class T>
void binary_jvp(Tape<T>& t, Node<T>& n) {
  const auto& an = t.node(n.in[0]);
  const auto& bn = t.node(n.in[1]);
  const Broadcast bc(Op::name, an.val().shape(), bn.val().shape());
  const T* a = an.val().data();
  const T* b = bn.val().data();
  const T* ad = tangent_of(t, n.in[0]);
  const T* bd = tangent_of(t, n.in[1]);
  const T* y = n.value.data();
  T* yd = tangent_out(n);
  bc.for_each([&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) {
    yd[io] = (ad ? times_tangent(Op::da(a[ia], b[ib], y[io]), ad[ia]) : T(0)) +
             (bd ? times_tangent(Op::db(a[ia], b[ib], y[io]), bd[ib]) : T(0));
  });
}

// da_in = g da(a, b, y):  da_in' = g' da + g da', with da' from the rule on Duals; likewise b
template <class Op, class T>
void binary_backward_tangent(Tape<T>& t, Node<T>& n) {
  const auto& an = t.node(n.in[0]);
  const auto& bn = t.node(n.in[1]);
  const Broadcast bc(Op::name, an.val().shape(), bn.val().shape());
  const T* a = an.val().data();
  const T* b = bn.val().data();
  const T* ad = tangent_of(t, n.in[0]);
  const T* bd = tangent_of(t, n.in[1]);
  const T* y = n.value.data();
  const T* yd = n.tangent.data();
  const T* g = n.grad.data();
  const T* gd = n.grad_tangent.data();
  auto part = [&](int side, std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) {
    const Tan<T> A = with_tangent(a[ia], ad, static_cast<std::size_t>(ia));
    const Tan<T> B = with_tangent(b[ib], bd, static_cast<std::size_t>(ib));
    const Tan<T> Y = with_tangent(y[io], yd, io);
    const Tan<T> d = side == 0 ? Op::da(A, B, Y) : Op::db(A, B, Y);
    return gd[io] * d.value() + g[io] * d.partial(0);
  };
  for (int side = 0; side < 2; ++side) {
    const std::uint32_t id = n.in[side];
    if (!t.node(id).active) continue;
    if (bc.a_full && bc.b_full) {
      accumulate_tangent(t, id, [&](std::size_t i) {
        return part(side, i, static_cast<std::ptrdiff_t>(i), static_cast<std::ptrdiff_t>(i));
      });
    } else {
      T* gi = grad_tangent_for_scatter(t, id);
      bc.for_each([&](std::size_t io, std::ptrdiff_t ia, std::ptrdiff_t ib) {
        gi[side == 0 ? ia : ib] += part(side, io, ia, ib);
      });
    }
  }
}

}  // namespace

}  // namespace detail

#define AD_TENSOR_UNARY(Rule, name) \
  template <class T>                \
  Var<T> name(const Var<T>& x) {    \
    return detail::record_unary<rules::Rule>(x); \
  }
#define AD_TENSOR_BINARY(Rule, name)                \
  template <class T>                               \
  Var<T> name(const Var<T>& a, const Var<T>& b) {  \
    return detail::record_binary<rules::Rule>(a, b);      \
  }
AD_OPERATOR_UNARY_RULES(AD_TENSOR_UNARY)
AD_UNARY_RULES(AD_TENSOR_UNARY)
AD_OPERATOR_BINARY_RULES(AD_TENSOR_BINARY)
AD_BINARY_RULES(AD_TENSOR_BINARY)

template <class T> Var<T> pow(const Var<T>& x, Scalar<T> p) { return detail::record_unary(x, detail::BindSecond<rules::Pow>{p}); }
template <class T> Var<T> leaky_relu(const Var<T>& x, Scalar<T> slope) { return detail::record_unary(x, rules::LeakyRelu{slope}); }
template <class T> Var<T> elu(const Var<T>& x, Scalar<T> alpha) { return detail::record_unary(x, rules::Elu{alpha}); }
template <class T> Var<T> clamp(const Var<T>& x, Scalar<T> lo, Scalar<T> hi) {
  if (!(lo <= hi))
    throw ValueError(fmt::format("clamp: lower bound {} is above upper bound {}", lo, hi));
  return detail::record_unary(x, rules::Clamp{lo, hi});
}

#define AD_INSTANTIATE_UNARY(Rule, name) \
  template Var<float> name<float>(const Var<float>&); \
  template Var<double> name<double>(const Var<double>&);
#define AD_INSTANTIATE_BINARY(Rule, name) \
  template Var<float> name<float>(const Var<float>&, const Var<float>&); \
  template Var<double> name<double>(const Var<double>&, const Var<double>&);
AD_OPERATOR_UNARY_RULES(AD_INSTANTIATE_UNARY)
AD_UNARY_RULES(AD_INSTANTIATE_UNARY)
AD_OPERATOR_BINARY_RULES(AD_INSTANTIATE_BINARY)
AD_BINARY_RULES(AD_INSTANTIATE_BINARY)
#define AD_INSTANTIATE_PARAMETRIC(T)                                \
  template Var<T> pow<T>(const Var<T>&, Scalar<T>);                 \
  template Var<T> leaky_relu<T>(const Var<T>&, Scalar<T>);          \
  template Var<T> elu<T>(const Var<T>&, Scalar<T>);                 \
  template Var<T> clamp<T>(const Var<T>&, Scalar<T>, Scalar<T>);
AD_INSTANTIATE_PARAMETRIC(float)
AD_INSTANTIATE_PARAMETRIC(double)

}  // namespace ad
