// ad::Sum and ad::sum_terms: long sums recorded as few statements. Part of <ad/scalar.hpp>.
#pragma once

#include <ad/scalar/functions.hpp>

#include <functional>
#include <type_traits>

namespace ad {

// ---------------------------------------------------------------------------------------------
/// A long sum recorded as few statements. `f += term` on a Real records one statement per term,
/// each new f being f + term: a chain as long as the sum, with one more node and adjoint
/// per term. An ad::Sum collects the terms' (leaf, partial) pairs instead and records them when
/// it becomes a Real, as statements of up to 255 pairs:
///
///     ad::Sum s(tape);
///     for (std::size_t i = 0; i + 1 < n; ++i)
///       s += 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
///     ad::Real f = s;  // records the sum; s stays usable (add more terms, convert again)
///
/// `s.add_terms(count, term)` (or `ad::sum_terms(tape, count, term)`) adds term(0) ... term(count-1)
/// in a loop of its own, faster than writing the loop (see add_terms).
///
/// The value is accumulated term by term in order, exactly as `f += term` would. Sums may nest
/// or overlap: each takes its own scratch buffers from the tape, which keeps them across
/// clear(), so a Sum made per recording allocates nothing after the first ones. In teaching
/// mode (keep_values) the terms are recorded one by one, as `f += term`, so printouts show them.
/// A Sum must not outlive its tape; terms from another tape, or from before a clear(), throw
/// TapeError.
class Sum {
 public:
  explicit Sum(ScalarTape& tape);
  ~Sum() { ScalarTape::release_sum(scratch_); }
  Sum(const Sum&) = delete;
  Sum& operator=(const Sum&) = delete;

  template <RealExpr E>
  Sum& operator+=(const E& term) {
    add(term, 1.0);
    return *this;
  }
  template <RealExpr E>
  Sum& operator-=(const E& term) {
    add(term, -1.0);
    return *this;
  }
  Sum& operator+=(double c);
  Sum& operator-=(double c);
  /// Adds term(0) + term(1) + ... + term(count - 1): the same as `s += term(i)` in a loop, in
  /// that order, but faster (see ad::sum_terms(tape, count, term)).
  template <class F>
  Sum& add_terms(std::size_t count, F&& term);

  /// The sum so far.
  double value() const noexcept { return value_; }
  /// (leaf, partial) pairs collected so far (a leaf appearing in several terms counts each time).
  std::size_t pairs() const noexcept { return n_; }
  /// Records the sum (a constant if no term depends on a variable) and returns it.
  Real record();
  operator Real() { return record(); }  // NOLINT(implicit): `ad::Real f = s;`

 private:
  template <class E>
  void add(const E& term, double sign);
  template <class E, class F>
  Sum& add_expression_terms(std::size_t count, F& term);
  template <class E>
  [[gnu::noinline]] void add_teaching(const Real* leaves, double sign) {
    const E term = E::rebuild(leaves);
    running_ = sign > 0 ? Real(running_ + term) : Real(running_ - term);
    value_ = running_.value();
  }
  void check_origin(const ScalarTape* tape, std::uint32_t epoch);

  ScalarTape* tape_;
  detail::SumScratch* scratch_;
  std::uint32_t epoch_;
  bool teaching_;
  std::size_t n_ = 0, ops_ = 0;
  double value_ = 0.0;
  Real running_;  // teaching mode: the sum recorded term by term
};

template <class E>
inline void Sum::add(const E& term, double sign) {
  if (teaching_) [[unlikely]] {
    // Out of line, from a copy of the term's leaves (see ScalarTape::record for why).
    std::array<Real, E::positions> leaves;
    term.collect(leaves.data());
    add_teaching<E>(leaves.data(), sign);
    return;
  }
  const ScalarTape* t = term.tape();
  if (t == nullptr) {  // a constant term
    value_ += sign * term.value();
    return;
  }
  if (t != tape_ || term.epoch() != epoch_ || epoch_ != tape_->epoch_) [[unlikely]]
    check_origin(t, term.epoch());  // throws, or adopts a new recording if nothing is held yet
  if (n_ + E::leaves > scratch_->ids.capacity()) [[unlikely]]
    ScalarTape::reserve_sum(scratch_, n_ + E::leaves, n_);
  detail::LeafSink sink{scratch_->ids.data() + n_, scratch_->partials.data() + n_};
  detail::push_statement(term, sink, sign);
  n_ += sink.n;
  ops_ += E::ops + 1;
  value_ += sign * term.value();
}

template <class F>
Sum& Sum::add_terms(std::size_t count, F&& term) {
  using E = std::remove_cvref_t<std::invoke_result_t<F&, std::size_t>>;
  static_assert(RealExpr<E> || std::is_arithmetic_v<E>,
                "ad::sum_terms / Sum::add_terms: term(i) must return an expression of Reals, a Real or a "
                "plain number");
  if constexpr (std::is_arithmetic_v<E>) {  // constants only
    for (std::size_t i = 0; i < count; ++i) *this += static_cast<double>(term(i));
    return *this;
  } else {
    return add_expression_terms<E>(count, term);
  }
}

template <class E, class F>
Sum& Sum::add_expression_terms(std::size_t count, F& term) {
  if (teaching_ || count == 0) {  // one by one (teaching mode records each term)
    for (std::size_t i = 0; i < count; ++i) add(term(i), 1.0);
    return *this;
  }
  if (epoch_ != tape_->epoch_) check_origin(tape_, tape_->epoch_);  // adopt a new recording, or throw
  // Room for every pair first, then a loop with no call that returns: its state stays in
  // registers (in a loop of `s += term`, the possible growth and origin checks keep the running
  // value and the sum's counters in memory, and the term's values around those calls).
  if (n_ + count * E::leaves > scratch_->ids.capacity())
    ScalarTape::reserve_sum(scratch_, n_ + count * E::leaves, n_);
  std::uint32_t* const ids = scratch_->ids.data();
  double* const partials = scratch_->partials.data();
  const ScalarTape* const tape = tape_;
  const std::uint32_t epoch = epoch_;
  std::size_t n = n_, recorded = 0;
  double value = value_;
  for (std::size_t i = 0; i < count; ++i) {
    const E& t = term(i);  // bound, not copied (a copy kept the expression in memory)
    if (unsigned(t.tape() != tape) | unsigned(t.epoch() != epoch)) [[unlikely]] {  // one branch
      if (t.tape() != nullptr) detail::throw_sum_origin(t.tape() == tape);  // does not return
      value += t.value();  // a constant term
      continue;
    }
    detail::LeafSink sink{ids + n, partials + n};
    detail::push_statement(t, sink, 1.0);
    n += sink.n;
    value += t.value();
    ++recorded;
  }
  // Only now is the sum changed: if a term throws, it is as it was before the call.
  n_ = n;
  value_ = value;
  ops_ += recorded * (E::ops + 1);
  return *this;
}

/// sum_{i < count} term(i), recorded as few statements (as ad::Sum), and faster than a loop of
/// `s += term(i)`: the loop runs here, with room for all pairs reserved first.
///
///     ad::Real f = ad::sum_terms(tape, n - 1, [&](std::size_t i) {
///       return 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
///     });
///
/// term(i) returns an expression of Reals of `tape` (or a Real, or a constant); terms are added
/// in order, so the value equals that of the loop `f += term(i)` exactly.
template <class F>
Real sum_terms(ScalarTape& tape, std::size_t count, F&& term) {
  Sum s(tape);
  s.add_terms(count, term);
  return s.record();
}

}  // namespace ad
