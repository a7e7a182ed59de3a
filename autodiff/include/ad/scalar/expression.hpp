// The expression nodes of the scalar tape (an expression of Reals is recorded as one
// statement) and the inline recording path. Part of <ad/scalar.hpp>.
#pragma once

#include <ad/scalar/real.hpp>

#include <cstring>
#include <type_traits>

namespace ad {

// ---------------------------------------------------------------------------------------------
// Expression nodes. Each holds its operands by value, its value (computed on construction) and
// the tape of its leaves (nullptr if all are constants). push_partials(sink, m) hands every leaf
// m times d(node)/d(leaf), multiplying m by the op's local partial on the way down.

namespace detail {

template <class A>
constexpr bool is_leaf = std::same_as<A, Real> || std::same_as<A, Constant>;

/// Ops whose partials are constants (+, -, negation): a zero multiplier stays zero below them
/// without a test.
template <class Op>
constexpr bool constant_partials = requires { requires Op::constant_partials; };

/// Collects the (id, partial) pairs of one statement straight into the tape's buffers. A leaf
/// repeated next to itself (x in `x * x`, or in `sqrt(x*x + exp(x*x))`) is merged into one pair
/// while the pair is still in registers; other repeats are kept as separate pairs (the sweep
/// adds them up just the same).
struct LeafSink {
  std::uint32_t* ids;
  double* partials;
  std::uint32_t n = 0;
  std::uint32_t last = 0;  // the pending pair (last, pending), not yet written
  double pending = 0.0;
  bool any = false;
  [[gnu::always_inline]] void add(const Real& leaf, double m) {
    const std::uint32_t id = leaf.id();
    if (any && id == last) {
      pending += m;
      return;
    }
    if (any) {
      ids[n] = last;
      partials[n] = pending;
      ++n;
    }
    any = true;
    last = id;
    pending = m;
  }
  [[gnu::always_inline]] void finish() {
    if (any) {
      ids[n] = last;
      partials[n] = pending;
      ++n;
    }
  }
  /// finish() with every partial multiplied by `scale` (the root's own partial, applied last);
  /// a zero scale leaves no pair, as a zero multiplier would have.
  void finish(double scale) {
    if (scale == 0.0) [[unlikely]] {
      n = 0;
      return;
    }
    for (std::uint32_t j = 0; j < n; ++j) partials[j] *= scale;
    if (any) {
      ids[n] = last;
      partials[n] = pending * scale;
      ++n;
    }
  }
};

/// All (leaf, partial) pairs of statement e, times m, into the sink. A unary root's own partial
/// is applied last (see RealUnaryExpr::push_partials_deferred).
template <class E>
inline void push_statement(const E& e, LeafSink& sink, double m) {
  if constexpr (requires { e.push_partials_deferred(sink); }) {
    if constexpr (!E::elementary) {
      sink.finish(m * e.push_partials_deferred(sink));
      return;
    }
  }
  e.push_partials(sink, m);
  sink.finish();
}

}  // namespace detail

/// op(a) for an expression or Real a. Op supplies kind, value(a) and partial(a, y).
template <class Op, class A>
class RealUnaryExpr : public detail::ExprTag {
 public:
  static constexpr int leaves = A::leaves;
  /// A rule with parameters (leaky_relu's slope) keeps them in positions after its operand's,
  /// as constant Reals, so that rebuild() restores them.
  static constexpr int n_params = std::is_empty_v<Op> ? 0 : int(sizeof(Op) / sizeof(double));
  static constexpr int positions = A::positions + n_params;
  static constexpr int ops = A::ops + 1;
  static constexpr detail::ScalarOp kind = detail::scalar_kind<Op>;
  static constexpr bool elementary = detail::is_leaf<A>;

  /// The leaves (Reals, and constants as constant Reals) in order, and the expression rebuilt
  /// from them with the same values: how the rare paths of recording get an expression without
  /// the hot path ever taking its address (see ScalarTape::record).
  [[gnu::always_inline]] void collect(Real* out) const {
    a_.collect(out);
    if constexpr (n_params > 0) {
      double p[n_params];
      std::memcpy(p, &op_, sizeof(Op));
      for (int k = 0; k < n_params; ++k) out[A::positions + k] = Real(p[k]);
    }
  }
  static RealUnaryExpr rebuild(const Real* in) {
    Op op{};
    if constexpr (n_params > 0) {
      double p[n_params];
      for (int k = 0; k < n_params; ++k) p[k] = in[A::positions + k].value();
      std::memcpy(&op, p, sizeof(Op));
    }
    return RealUnaryExpr(A::rebuild(in), op);
  }

  explicit RealUnaryExpr(const A& a, Op op = {})
      : a_(a), op_(op), tape_(a.tape()), epoch_(a.epoch()) {
    y_ = op_.value(a.value());
  }
  double value() const noexcept { return y_; }
  ScalarTape* tape() const noexcept { return tape_; }
  std::uint32_t epoch() const noexcept { return epoch_; }

  template <class Sink>
  [[gnu::always_inline]] void push_partials(Sink& s, double m) const {
    if constexpr (!detail::constant_partials<Op>)
      if (m == 0.0) return;  // nothing reaches this branch (as a node with zero adjoint)
    a_.push_partials(s, m * op_.d(a_.value(), y_));
  }
  /// As the root of a statement: pushes the operand's pairs with multiplier 1 and returns this
  /// op's own partial, to be applied to all of them at the end. The pairs below then do not wait
  /// for the root's value (the last one computed), which shortens the chain of dependent
  /// operations from the root's value to the recorded partials to one multiplication.
  template <class Sink>
  double push_partials_deferred(Sink& s) const {
    a_.push_partials(s, 1.0);
    return op_.d(a_.value(), y_);
  }
  /// The same op applied to a replacement operand with the same value (used when splitting).
  template <class A2>
  RealUnaryExpr<Op, A2> with_operand(const A2& a) const {
    return RealUnaryExpr<Op, A2>(a, op_, y_, tape_, epoch_);
  }
  const A& operand() const noexcept { return a_; }

  RealUnaryExpr(const A& a, Op op, double y, ScalarTape* t, std::uint32_t epoch)
      : a_(a), op_(op), tape_(t), epoch_(epoch), y_(y) {}
  // Member-wise copies (not one block copy): the compiler then keeps a whole expression in
  // registers instead of copying it through memory at each level of nesting.
  RealUnaryExpr(const RealUnaryExpr& o)
      : a_(o.a_), op_(o.op_), tape_(o.tape_), epoch_(o.epoch_), y_(o.y_) {}
  RealUnaryExpr& operator=(const RealUnaryExpr&) = delete;

 private:
  A a_;
  [[no_unique_address]] Op op_;
  ScalarTape* tape_;
  std::uint32_t epoch_;
  double y_;
};

/// op(a, b). Op supplies kind, value(a, b), da(a, b, y) and db(a, b, y).
template <class Op, class A, class B>
class RealBinaryExpr : public detail::ExprTag {
 public:
  static constexpr int leaves = A::leaves + B::leaves;
  static constexpr int positions = A::positions + B::positions;
  static constexpr int ops = A::ops + B::ops + 1;
  static constexpr detail::ScalarOp kind = detail::scalar_kind<Op>;
  static constexpr bool elementary = detail::is_leaf<A> && detail::is_leaf<B>;

  [[gnu::always_inline]] void collect(Real* out) const {
    a_.collect(out);
    b_.collect(out + A::positions);
  }
  static RealBinaryExpr rebuild(const Real* in) {
    return RealBinaryExpr(A::rebuild(in), B::rebuild(in + A::positions));
  }

  RealBinaryExpr(const A& a, const B& b) : a_(a), b_(b) {
    if constexpr (A::leaves == 0) {  // a plain number: b's tape
      tape_ = b.tape();
      epoch_ = b.epoch();
    } else if constexpr (B::leaves == 0) {
      tape_ = a.tape();
      epoch_ = a.epoch();
    } else {
      // The common case, both on one recording of one tape, costs two compares. Otherwise one
      // side is a constant Real (no tape: take the other's), or the operands belong to two
      // tapes or to two recordings of one tape (one of them stale): TapeError.
      tape_ = a.tape();
      epoch_ = a.epoch();
      // `|` on purpose (no second branch); unsigned operands say so to clang's
      // -Wbitwise-instead-of-logical.
      if (unsigned(tape_ != b.tape()) | unsigned(epoch_ != b.epoch())) [[unlikely]] {
        if (tape_ == nullptr) {  // a is a constant Real: b's origin
          tape_ = b.tape();
          epoch_ = b.epoch();
        } else if (b.tape() != nullptr) {  // two tapes, or two recordings of one
          detail::throw_mixed(kind, tape_ == b.tape());
        }
        // The only call here does not return (see docs/scalar-internals.md, "calls that return").
      }
    }
    y_ = op_.value(a.value(), b.value());
  }
  double value() const noexcept { return y_; }
  ScalarTape* tape() const noexcept { return tape_; }
  std::uint32_t epoch() const noexcept { return epoch_; }

  template <class Sink>
  [[gnu::always_inline]] void push_partials(Sink& s, double m) const {
    if constexpr (!detail::constant_partials<Op>)
      if (m == 0.0) return;  // nothing reaches this branch (as a node with zero adjoint)
    // (A constant Real among the leaves pushes nothing: see Real::push_partials.)
    if constexpr (A::leaves > 0) a_.push_partials(s, m * op_.da(a_.value(), b_.value(), y_));
    if constexpr (B::leaves > 0) b_.push_partials(s, m * op_.db(a_.value(), b_.value(), y_));
  }
  template <class A2, class B2>
  RealBinaryExpr<Op, A2, B2> with_operands(const A2& a, const B2& b) const {
    return RealBinaryExpr<Op, A2, B2>(a, b, op_, y_, tape_, epoch_);
  }
  const A& left() const noexcept { return a_; }
  const B& right() const noexcept { return b_; }

  RealBinaryExpr(const A& a, const B& b, Op op, double y, ScalarTape* t, std::uint32_t epoch)
      : a_(a), b_(b), op_(op), tape_(t), epoch_(epoch), y_(y) {}
  // Member-wise copies (see RealUnaryExpr).
  RealBinaryExpr(const RealBinaryExpr& o)
      : a_(o.a_), b_(o.b_), op_(o.op_), tape_(o.tape_), epoch_(o.epoch_), y_(o.y_) {}
  RealBinaryExpr& operator=(const RealBinaryExpr&) = delete;

 private:
  A a_;
  B b_;
  [[no_unique_address]] Op op_;
  ScalarTape* tape_ = nullptr;
  std::uint32_t epoch_ = 0;
  double y_ = 0.0;
};

// ---------------------------------------------------------------------------------------------
// Recording (inline: this is the hot path)

template <RealExpr E>
  requires(!std::same_as<E, Real>)
inline Real::Real(const E& e) : value_(e.value()) {
  if (ScalarTape* t = e.tape()) *this = t->record(e);
}

inline Real ScalarTape::push0(double value) {
  // The rare path returns the whole Real, so that no value has to survive a call here.
  if (n_ops_ >= fast_ops_) [[unlikely]] {
    const detail::Recorded r = push0_slow(value);
    return Real(this, r.id, epoch_, r.value);
  }
  return write_variable(value);
}

inline Real ScalarTape::write_variable(double value) {
  ops_.data()[n_ops_] = detail::op_byte(detail::ScalarOp::var);
  counts_.data()[n_ops_] = detail::Count{0};
  vars_.data()[n_vars_++] = static_cast<std::uint32_t>(n_ops_);  // room: n_vars_ <= n_ops_
  return Real(this, static_cast<std::uint32_t>(n_ops_++), epoch_, value);
}

template <class E>
inline Real ScalarTape::record(const E& e) {
  if constexpr (E::leaves > max_statement_leaves) {
    if (keep_values_) return record_split<0>(e);  // teaching mode: one node per elementary op
    return record_split<max_statement_leaves>(e);
  } else {
    // One test covers both the room left and teaching mode (where fast_ops_ is 0).
    if (n_ops_ >= fast_ops_ || n_args_ + E::leaves > cap_args_) [[unlikely]] {
      // The rare path gets a copy of the expression's leaves, never the expression's address
      // (docs/scalar-internals.md, "the rare path").
      std::array<Real, E::positions> leaves;
      e.collect(leaves.data());
      const detail::Recorded r = record_slow<E>(leaves.data());
      return Real(this, r.id, epoch_, r.value);
    }
    return write_statement<false>(e);
  }
}

template <bool Values, class E>
inline Real ScalarTape::record_statement(const E& e) {
  if (n_ops_ + 1 > cap_ops_ || n_args_ + E::leaves > cap_args_) [[unlikely]]
    grow(1, E::leaves);
  return write_statement<Values>(e);
}

template <bool Values, class E>
inline Real ScalarTape::write_statement(const E& e) {
  // Every tape leaf of e was live when e was built (checked then) and carries e.epoch(); if the
  // tape was cleared since, they are stale.
  if (e.epoch() != epoch_) [[unlikely]]
    detail::throw_stale(E::kind);
  detail::LeafSink sink{args_.data() + n_args_, partials_.data() + n_args_};
  detail::push_statement(e, sink, 1.0);
  ops_.data()[n_ops_] = detail::op_byte(E::kind, E::ops > 1);
  counts_.data()[n_ops_] = static_cast<detail::Count>(sink.n);
  // Listed for the sweep only if it has pairs (every multiplier may have been 0).
  stmts_.data()[n_stmts_] = static_cast<std::uint32_t>(n_ops_);
  n_stmts_ += sink.n != 0;
  last_stmt_ = sink.n != 0 ? static_cast<std::uint32_t>(n_ops_) : no_statement;
  n_args_ += sink.n;
  n_elementary_ += E::ops;
  if constexpr (Values) values_.data()[n_ops_] = e.value();
  return Real(this, static_cast<std::uint32_t>(n_ops_++), epoch_, e.value());
}

template <class E>
[[gnu::always_inline]] inline std::uint32_t ScalarTape::write_linked(const E& b, double sign,
                                                                    std::uint32_t f,
                                                                    detail::ScalarOp op) {
  std::uint32_t* const ids = args_.data() + n_args_;
  detail::LeafSink sink{ids, partials_.data() + n_args_};
  b.push_partials(sink, sign);  // as under the root of f + b (whose partial for b is sign)
  sink.finish();
  // A term that reads f's own node (f += f * x) would make the node its own input: the usual way.
  // (Checked on the pairs written: a check per leaf while pushing them cost W1b 10 us.)
  unsigned self = sink.n == 0;
  for (std::uint32_t j = 0; j < sink.n; ++j) self |= unsigned(ids[j] == f);
  if (self) [[unlikely]]
    return no_statement;
  const auto node = static_cast<std::uint32_t>(n_ops_);
  ops_.data()[node] = detail::op_byte(op, E::ops + 1 > 1, true);
  counts_.data()[node] = static_cast<detail::Count>(sink.n);
  stmts_.data()[n_stmts_++] = node;
  n_args_ += sink.n;
  n_elementary_ += E::ops + 1;
  last_stmt_ = node;
  n_ops_ = node + std::size_t{1};
  return node;
}

// Records the operands of e first (as statements of at most Limit leaves, or one node per op
// when Limit is 0), then e itself over them.
template <int Limit, class E>
inline Real ScalarTape::record_split(const E& e) {
  if constexpr (E::elementary || (Limit > 0 && E::leaves <= Limit)) {
    return record_statement<Limit == 0>(e);
  } else if constexpr (requires { e.operand(); }) {
    return record_statement<Limit == 0>(e.with_operand(materialize<Limit>(e.operand())));
  } else {
    auto a = materialize<Limit>(e.left());
    auto b = materialize<Limit>(e.right());
    return record_statement<Limit == 0>(e.with_operands(a, b));
  }
}

template <int Limit, class A>
inline auto ScalarTape::materialize(const A& a) {
  if constexpr (detail::is_leaf<A>) {
    return a;
  } else {
    if (!a.tape()) return Real(a.value());
    return record_split<Limit>(a);
  }
}

// ---------------------------------------------------------------------------------------------
// The ops: the rules of <ad/ops/rules.hpp>, at V = double.

namespace detail {

template <class Op, class A>
inline auto unary(const A& a) {
  return RealUnaryExpr<Op, A>(a);
}
template <class Op, class A, class B>
inline auto binary(const A& a, const B& b) {
  return RealBinaryExpr<Op, A, B>(a, b);
}
template <class Op, class A>
inline auto binary(const A& a, double b) {
  return RealBinaryExpr<Op, A, Constant>(a, Constant{b});
}
template <class Op, class B>
inline auto binary(double a, const B& b) {
  return RealBinaryExpr<Op, Constant, B>(Constant{a}, b);
}

}  // namespace detail


}  // namespace ad
