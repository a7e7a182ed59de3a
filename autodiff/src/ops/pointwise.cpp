// The elementwise tensor ops, generated from the op rules (<ad/ops/rules.hpp>): the generic
// unary/binary machinery below records the node, runs the forward loop (unary ops on xsimd
// batches, binary ops entry by entry with broadcasting) and, in backward, multiplies the incoming
// adjoint by the rule's local derivative (summing over broadcast axes). Nothing here knows any
// particular op: adding one is a rule and a row in <ad/ops/rules.hpp>.
#include <ad/ops.hpp>
#include <ad/ops/rules.hpp>

#include "ops/kernels.hpp"
#include "ops/simd.hpp"

#include <cmath>
#include <cstring>
#include <type_traits>

namespace ad {
namespace detail {
namespace {

// ---- the generic machinery ------------------------------------------------------------------

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

template <class Op, class T>
void unary_backward(Tape<T>& t, Node<T>& n);

template <class Op, class T>
Var<T> unary(const Var<T>& xv, const Op& op = {}) {
  Tape<T>& t = xv.tape();
  Var<T> out = t.record(Op::name, &unary_backward<Op, T>, {xv}, t.checked(xv, Op::name).val().shape());
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

template <class Op, class T>
void binary_backward(Tape<T>& t, Node<T>& n);

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

}  // namespace

}  // namespace detail

#define AD_TENSOR_UNARY(Rule, name) \
  template <class T>                \
  Var<T> name(const Var<T>& x) {    \
    return detail::unary<rules::Rule>(x); \
  }
#define AD_TENSOR_BINARY(Rule, name)                \
  template <class T>                               \
  Var<T> name(const Var<T>& a, const Var<T>& b) {  \
    return detail::binary<rules::Rule>(a, b);      \
  }
AD_OPERATOR_UNARY_RULES(AD_TENSOR_UNARY)
AD_UNARY_RULES(AD_TENSOR_UNARY)
AD_OPERATOR_BINARY_RULES(AD_TENSOR_BINARY)
AD_BINARY_RULES(AD_TENSOR_BINARY)

template <class T> Var<T> pow(const Var<T>& x, Scalar<T> p) { return detail::unary(x, detail::BindSecond<rules::Pow>{p}); }
template <class T> Var<T> leaky_relu(const Var<T>& x, Scalar<T> slope) { return detail::unary(x, rules::LeakyRelu{slope}); }
template <class T> Var<T> elu(const Var<T>& x, Scalar<T> alpha) { return detail::unary(x, rules::Elu{alpha}); }
template <class T> Var<T> clamp(const Var<T>& x, Scalar<T> lo, Scalar<T> hi) {
  if (!(lo <= hi))
    throw ValueError(fmt::format("clamp: lower bound {} is above upper bound {}", lo, hi));
  return detail::unary(x, rules::Clamp{lo, hi});
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
