// The scalar fast path: a flat tape of small records for functions of plain numbers.
//
// What: `ad::Real` is a handle {tape, id, epoch, value} to one recorded node of an
// `ad::ScalarTape`. Arithmetic and the usual math functions on Reals build small expression
// objects; storing one into a `Real` records the whole expression as ONE statement. One reverse
// loop over the tape then gives the derivative of an output with respect to every input at once:
//
//     ad::ScalarTape tape;
//     ad::Real x = tape.variable(1.5), y = tape.variable(-0.5);
//     ad::Real f = sqrt(x * x + exp(x * y));        // one statement on the tape
//     auto [dx, dy] = ad::derivatives(f, ad::wrt(x, y));
//
// Why a tape of its own: a tensor node (see <ad/tape.hpp>) owns arrays and a shape; a scalar
// node must cost a few bytes and a few nanoseconds.
//
// Statements (Adept-2's idea, R. Hogan, "Fast reverse-mode automatic differentiation using
// expression templates in C++", ACM TOMS 2014): `x * y`, `exp(a)`, `a + 2.0`, ... return
// expression objects (RealUnaryExpr, RealBinaryExpr) that hold their operands BY VALUE (a leaf
// is a copy of the 24-byte Real handle) together with their value, computed right away. Nothing
// is recorded until an expression becomes a Real: `ad::Real f = expr;`, `f += expr;`, or any
// function taking a Real (derivatives, gradient, backward, jacobian, ...). Then the expression's
// partial derivatives with respect to its leaves are computed by passing a multiplier down the
// tree (each node multiplies it by its local partial, written next to its value below), and the
// tape gets one record: an op byte, a count, and one (leaf id, partial) pair per distinct leaf.
// `sqrt(x*x + exp(x*x))` is one record with a single pair (x, df/dx). The reverse sweep is one
// loop over the statements (variables have nothing to propagate and are skipped) of
// multiply-adds: adjoint[leaf] += partial * adjoint[statement].
//
// Unlike Adept, operands are copied, not referenced, so `auto e = sqrt(x * x + 1.0);` is safe
// to keep and use later (it is an expression, recorded each time it is converted to a Real).
// Write `ad::Real` rather than `auto` when you mean a node: a named Real is a node of its own,
// with an adjoint after backward() (`ad::Real a = x * x;` then `a.adjoint()`).
//
// Teaching mode: with `tape.keep_values(true)` (needed by the printouts) every elementary op of
// an expression is recorded as a node of its own, so print()/dot() show x*x, exp, add, sqrt one
// per line, exactly the chain rule of the course notes.
//
// Memory per recorded statement: 6 bytes (op, count, its place in the statement list) + 12 bytes
// per distinct tape leaf (4-byte id + 8-byte partial), plus 8 bytes for its adjoint, plus 8
// bytes for the value if `keep_values(true)`. A variable: 6 bytes (op, count, its place in the
// variable list) + 8 for its adjoint. Reals hold their own value, so the sweep never reads
// values.
//
// Long sums: `ad::Sum s(tape); for (...) s += term; ad::Real f = s;` collects the terms' pairs
// and records them as a few statements, instead of one chained statement per term (see Sum).
//
// Constants: a Real built from a number (`ad::Real c = 2.0;`) belongs to no tape; ops with it
// record only the tape operands. A leaf used several times in one statement (`x * x`) is
// recorded once, with the partials summed (2x).
//
// Conventions at kinks and edges (a derivative is chosen where the function has none):
//   abs'(0) = 0, relu'(0) = 0 (relu(x) = max(x, 0));
//   min(a, b), max(a, b): at a tie (a == b) each argument gets half the gradient;
//   hypot(0, 0): both partials 0; pow(a, b) with a == 0: d/db = 0 (the limit of a^b log a);
//   outside a domain (log(-1), sqrt(-1), asin(2)) the value is NaN, as in <cmath>, and so are
//   the partials; nothing throws. A NaN input to min/max gives a NaN output.
//   A sub-expression whose multiplier is 0 is skipped (as the sweep skips nodes no adjoint
//   reaches), so an infinite partial on a branch not taken does not turn the gradient into NaN.
//
// Safety: clearing a tape bumps its epoch; using a Real recorded before the clear throws
// ad::TapeError naming the op. The check costs one integer compare per statement: when an
// expression is recorded, its epoch must be the tape's; when two operands meet, their epochs must
// agree (so a stale Real next to a fresh one throws at once, and an expression of stale Reals
// only when it is recorded: until then it records nothing). Epochs wrap after 2^32 clears.
// Reals of two different tapes can't be mixed (TapeError). A Real must not outlive its tape.
//
// Threads: a tape is not shared between threads; separate tapes on separate threads are
// independent. `ScalarTape::active()` is a per-thread default tape used by `ad::variable`.
#pragma once

#include <ad/error.hpp>
#include <ad/ops/rules.hpp>

#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ad {

class ScalarTape;
class Real;

namespace detail {

/// Kinds of scalar op: `var` and one per rule of <ad/ops/rules.hpp>. Stored in the low 6 bits of
/// the op byte; bit 6 marks a statement of more than one elementary op (whose kind is then the
/// kind of its outermost op).
enum class ScalarOp : std::uint8_t {
  var,
#define AD_SCALAR_KIND(Rule, name) name,
  AD_ALL_RULES(AD_SCALAR_KIND)
#undef AD_SCALAR_KIND
  count_
};
static_assert(static_cast<unsigned>(ScalarOp::count_) <= 64, "the op kind must fit in 6 bits");

/// The kind of a rule.
template <class Rule>
inline constexpr ScalarOp scalar_kind = ScalarOp::count_;
#define AD_SCALAR_KIND(Rule, name) \
  template <>                      \
  inline constexpr ScalarOp scalar_kind<rules::Rule> = ScalarOp::name;
AD_ALL_RULES(AD_SCALAR_KIND)
#undef AD_SCALAR_KIND

/// The stored op byte: kind | compound << 6. An enum rather than a uint8_t so that stores to it
/// cannot alias the tape's counters (char types alias everything, which would force reloads).
enum class OpByte : std::uint8_t {};
constexpr OpByte op_byte(ScalarOp op, bool compound = false) {
  return static_cast<OpByte>(static_cast<unsigned>(op) | (compound ? 64u : 0u));
}
/// Number of (id, partial) pairs of a record; same reason for an enum.
enum class Count : std::uint8_t {};

/// "exp", "add", ... for printouts and messages.
const char* scalar_op_name(ScalarOp op) noexcept;

/// A growable array of trivially copyable T that keeps its capacity (no value-initialization).
template <class T>
class PodBuffer {
 public:
  PodBuffer() = default;
  PodBuffer(const PodBuffer&) = delete;
  PodBuffer& operator=(const PodBuffer&) = delete;
  ~PodBuffer() { std::free(data_); }
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  std::size_t capacity() const noexcept { return cap_; }
  /// Makes room for at least n elements, keeping the first `keep` ones.
  void reserve(std::size_t n, std::size_t keep);

 private:
  T* data_ = nullptr;
  std::size_t cap_ = 0;
};

[[noreturn]] void throw_stale(ScalarOp op);
[[noreturn]] void throw_mixed(ScalarOp op, bool same_tape = false);
/// A term added to an ad::Sum comes from another tape, or (same_tape) from an earlier recording.
[[noreturn]] void throw_sum_origin(bool same_tape);

/// The (leaf id, partial) pairs an ad::Sum has collected; owned by the tape, kept across clear().
struct SumScratch {
  PodBuffer<std::uint32_t> ids;
  PodBuffer<double> partials;
  bool in_use = false;
};

/// What the rare recording paths return: 16 bytes, so in two registers (a Real, 24 bytes, would
/// come back through memory and pull the fast path's Real into memory too).
struct Recorded {
  double value;
  std::uint32_t id;
};

/// Base of the expression node types (RealUnaryExpr, RealBinaryExpr).
struct ExprTag {};

/// A plain-number operand inside an expression (`2.0 * x`): no leaves, never recorded.
struct Constant {
  static constexpr int leaves = 0;
  static constexpr int positions = 1;
  static constexpr int ops = 0;
  double v;
  double value() const noexcept { return v; }
  ScalarTape* tape() const noexcept { return nullptr; }
  std::uint32_t epoch() const noexcept { return 0; }
  template <class Sink>
  void push_partials(Sink&, double) const noexcept {}
  inline void collect(Real* out) const noexcept;
  static inline Constant rebuild(const Real* in) noexcept;
};

}  // namespace detail

/// A Real or an expression of Reals: what the operators and functions below accept.
template <class T>
concept RealExpr = std::same_as<T, Real> || std::derived_from<T, detail::ExprTag>;

/// A scalar variable or intermediate: a handle to one node of a ScalarTape, carrying its value.
/// Copying is free (24 bytes); the tape holds the record.
class Real {
 public:
  /// A constant (belongs to no tape): `ad::Real c = 0.0;` is the usual start of a sum.
  Real(double value = 0.0) noexcept : value_(value) {}  // NOLINT(implicit)
  /// Records an expression as one statement (or gives a constant if it has no tape leaf).
  template <RealExpr E>
    requires(!std::same_as<E, Real>)
  Real(const E& e);  // NOLINT(implicit)

  double value() const noexcept { return value_; }
  /// Position of the node on its tape (meaningless for constants).
  std::uint32_t id() const noexcept { return id_; }
  /// The tape this handle was recorded on, or nullptr for a constant.
  ScalarTape* tape() const noexcept { return tape_; }
  bool is_constant() const noexcept { return tape_ == nullptr; }
  /// The tape's epoch when this was recorded (a clear() makes it stale).
  std::uint32_t epoch() const noexcept { return epoch_; }
  /// d(output)/d(this) after the last backward() on this tape (0 for constants).
  double adjoint() const;

  // `s += e` records the statement s + e (one record, whatever e is).
  template <RealExpr E> Real& operator+=(const E& b);
  template <RealExpr E> Real& operator-=(const E& b);
  template <RealExpr E> Real& operator*=(const E& b);
  template <RealExpr E> Real& operator/=(const E& b);
  Real& operator+=(double b);
  Real& operator-=(double b);
  Real& operator*=(double b);
  Real& operator/=(double b);

  // ---- expression interface (a Real is the leaf of an expression) ----
  static constexpr int leaves = 1;
  static constexpr int positions = 1;  // leaf positions, constants included (collect/rebuild)
  static constexpr int ops = 0;
  // Field by field: an aggregate copy here would keep the expression holding this Real in memory.
  [[gnu::always_inline]] void collect(Real* out) const noexcept {
    out->tape_ = tape_;
    out->id_ = id_;
    out->epoch_ = epoch_;
    out->value_ = value_;
  }
  static Real rebuild(const Real* in) noexcept { return in[0]; }
  template <class Sink>
  void push_partials(Sink& s, double m) const {
    if (tape_) s.add(*this, m);  // a constant (no tape) has no pair
  }

 private:
  friend class ScalarTape;
  Real(ScalarTape* tape, std::uint32_t id, std::uint32_t epoch, double value) noexcept
      : tape_(tape), id_(id), epoch_(epoch), value_(value) {}

  ScalarTape* tape_ = nullptr;
  std::uint32_t id_ = 0;
  std::uint32_t epoch_ = 0;
  double value_;
};

/// One flat recording of scalar statements. Not copyable; movable only while no Real refers
/// to it.
class alignas(64) ScalarTape {
 public:
  /// Most (id, partial) pairs in one record; larger expressions are split into several.
  static constexpr int max_statement_leaves = 64;

  ScalarTape() = default;
  ScalarTape(const ScalarTape&) = delete;
  ScalarTape& operator=(const ScalarTape&) = delete;

  /// The calling thread's default tape (used by ad::variable and ad::new_recording).
  static ScalarTape& active();

  /// A new independent variable. `name` only labels it in printouts.
  Real variable(double value) { return push0(value); }
  Real variable(double value, std::string_view name);
  /// One variable per value, into `out` (out.size() must equal values.size()); the inverse of
  /// variable_adjoints(span). One capacity check for all: in a loop of variable() calls the
  /// compiler reloads the tape's counters after each possible growth, ~2.5 ns per variable
  /// where this takes ~1.2 (W1b's 10,000 variables: 24 -> 12 us).
  void variables(std::span<const double> values, std::span<Real> out);
  /// The same, returning the Reals.
  std::vector<Real> variables(std::span<const double> values);

  /// Forget every node (Reals recorded so far become stale), keep the buffers' capacity.
  void clear() noexcept {
    n_ops_ = 0;
    n_args_ = 0;
    n_elementary_ = 0;
    swept_ = 0;
    n_vars_ = 0;
    n_stmts_ = 0;
    if (!names_.empty()) names_.clear();
    ++epoch_;  // wraps after 2^32 clears
  }
  /// Reserve room for `ops` nodes with `args` tape inputs in total.
  void reserve(std::size_t ops, std::size_t args);
  /// Also keep each node's value (8 bytes more per node); needed only for print() and dot().
  /// While on, expressions are recorded one elementary op per node (teaching mode).
  /// Values of nodes recorded before it is switched on print as nan.
  void keep_values(bool on);
  bool keeps_values() const noexcept { return keep_values_; }

  /// Reverse sweep from y: sets every adjoint to d y / d node. Reading adjoints: Real::adjoint,
  /// adjoint(), gradient(). Inline: for a small recording (W1 has two nodes) a call and its
  /// checks would cost as much as the sweep itself.
  void backward(const Real& y) {
    if (y.tape_ != this || y.epoch_ != epoch_) [[unlikely]]
      throw_backward(y.tape_);  // a foreign, constant or stale output
    sweep(y.id_);
  }
  /// d y / d x from the last backward() (0 if x was recorded after it, or is a constant).
  double adjoint(const Real& x) const {
    if (x.tape_ != this) [[unlikely]]
      return foreign_adjoint(x.tape_);
    check(x, detail::ScalarOp::var);
    return x.id_ < swept_ ? adjoints_.data()[x.id_] : 0.0;
  }
  /// Adjoints of all variables, in the order they were created.
  std::vector<double> variable_adjoints() const;
  /// The same into `out` (no allocation); out.size() must equal the number of variables.
  void variable_adjoints(std::span<double> out) const;
  std::size_t variable_count() const noexcept { return n_vars_; }

  std::size_t size() const noexcept { return n_ops_; }           ///< recorded nodes
  std::size_t input_count() const noexcept { return n_args_; }   ///< recorded (id, partial) pairs
  /// Elementary scalar operations represented: a statement of k ops counts k, a variable 1.
  std::size_t elementary_ops() const noexcept { return n_elementary_ + n_vars_; }
  std::uint32_t epoch() const noexcept { return epoch_; }
  /// Bytes of the recording itself (op bytes, counts, variable and statement lists, ids,
  /// partials [+ values]); adjoints not included.
  std::size_t recorded_bytes() const noexcept;
  /// Bytes currently reserved by all buffers, adjoints and ad::Sum scratch included.
  std::size_t capacity_bytes() const noexcept;

  /// One line per node: id, op, inputs with their local partials, value, adjoint. A node
  /// recorded from an expression of several ops shows as e.g. "sqrt(..)" with one input per
  /// distinct leaf (keep_values(true) records one node per op instead).
  std::string print() const;
  /// The graph in Graphviz DOT: nodes labelled by op, value and adjoint; edges by partials.
  std::string dot() const;
  /// First node whose value is NaN or infinite although its inputs are finite (needs
  /// keep_values); returns size() if none.
  std::size_t first_nonfinite() const;
  /// The name of node i's op, e.g. "exp".
  const char* op_name(std::size_t i) const;

  // ---- recording (used by Real and the functions below; public for extensions) ----
  Real push0(double value);
  Real push1(detail::ScalarOp op, const Real& a, double value, double da);
  Real push2(detail::ScalarOp op, const Real& a, double da, const Real& b, double db,
             double value);
  /// Records expression e (whose tape is this one) as one statement, or one node per op in
  /// teaching mode.
  template <class E>
  Real record(const E& e);

 private:
  template <bool Values, class E>
  Real record_statement(const E& e);  // makes room, then write_statement
  template <bool Values, class E>
  Real write_statement(const E& e);   // needs room for 1 node and E::leaves pairs
  template <int Limit, class E>
  Real record_split(const E& e);
  // Grows, or records op by op in teaching mode, the expression rebuilt from its leaves.
  template <class E>
  [[gnu::noinline]] detail::Recorded record_slow(const Real* leaves) {
    const E e = E::rebuild(leaves);
    Real r;
    if (keep_values_) {
      r = record_split<0>(e);
    } else {
      grow(1, E::leaves);
      r = write_statement<false>(e);
    }
    return {r.value(), r.id()};
  }
  template <int Limit, class A>
  auto materialize(const A& a);

  void grow(std::size_t ops, std::size_t args);
  detail::Recorded push0_slow(double value);  // grows; keeps the value in teaching mode
  Real write_variable(double value);  // needs room for one node
  // Cold paths take plain values: a reference would force the caller's Real into memory.
  [[noreturn]] void throw_backward(const ScalarTape* tape) const;
  void sweep(std::uint32_t y);
  double foreign_adjoint(const ScalarTape* tape) const;  // constant (0) or another tape (throws)
  std::size_t arg_offset(std::size_t node) const;  // where node's inputs start (O(n))
  void check(const Real& a, detail::ScalarOp op) const {
    if (a.epoch_ != epoch_) [[unlikely]]
      detail::throw_stale(op);
  }
  void push_value(double v) {
    if (keep_values_) values_.data()[n_ops_] = v;
  }
  friend class Real;
  friend class Sum;
  // ad::Sum's scratch buffers (one per open Sum) and its recording.
  detail::SumScratch* acquire_sum();
  static void release_sum(detail::SumScratch* s) noexcept { s->in_use = false; }
  static void reserve_sum(detail::SumScratch* s, std::size_t n, std::size_t keep);
  Real record_sum(const detail::SumScratch& s, std::size_t n, double value, std::size_t ops);
  std::size_t sum_capacity_bytes() const noexcept;

  // Layout: the tape is aligned to a cache line (alignas(64) above) and what every recording
  // reads and writes comes first: the counters in line 0, the buffers used per statement in
  // lines 1-2. Unaligned, the same fields fell across cache lines differently with each stack
  // position of the tape, and W1's time per point varied between 15 and 19 ns from one process
  // to the next (by the stack address alone: measured by shifting it with the environment).
  std::size_t n_ops_ = 0, n_args_ = 0, cap_ops_ = 0, cap_args_ = 0;
  std::size_t fast_ops_ = 0;  // cap_ops_, or 0 in teaching mode (every node takes the slow path)
  std::size_t n_elementary_ = 0, n_vars_ = 0, n_stmts_ = 0;
  std::size_t swept_ = 0;                    // nodes covered by the last backward
  std::uint32_t epoch_ = 1;
  bool keep_values_ = false;
  detail::PodBuffer<detail::OpByte> ops_;    // kind | compound << 6
  detail::PodBuffer<detail::Count> counts_;  // (id, partial) pairs per node
  detail::PodBuffer<std::uint32_t> args_;    // input ids
  detail::PodBuffer<double> partials_;       // local partials, parallel to args_
  detail::PodBuffer<double> adjoints_;       // filled by backward(); grows with the nodes
  detail::PodBuffer<std::uint32_t> vars_;    // ids of variables, in creation order
  detail::PodBuffer<std::uint32_t> stmts_;   // ids of nodes with pairs (the sweep visits only these)
  detail::PodBuffer<double> values_;         // only if keep_values_
  std::vector<std::pair<std::uint32_t, std::string>> names_;
  std::vector<std::unique_ptr<detail::SumScratch>> sums_;
};

inline double Real::adjoint() const { return tape_ ? tape_->adjoint(*this) : 0.0; }

// Always inlined, like everything the fast path of recording touches: one out-of-line call
// taking an expression's address would keep that expression in memory.
[[gnu::always_inline]] inline void detail::Constant::collect(Real* out) const noexcept {
  *out = Real(v);
}
[[gnu::always_inline]] inline detail::Constant detail::Constant::rebuild(const Real* in) noexcept {
  return Constant{in[0].value()};
}

// The reverse sweep: one loop over the statements, newest first, one multiply-add per (leaf,
// partial) pair. Variables have nothing to propagate and are not visited. Nodes after y cannot
// influence it: they are neither zeroed nor swept, and read as 0.
inline void ScalarTape::sweep(std::uint32_t y) {
  const std::size_t n = static_cast<std::size_t>(y) + 1;
  double* adj = adjoints_.data();
  if (n <= 4) {  // the buffer holds at least 64; a call to memset would cost more than this
    adj[0] = adj[1] = adj[2] = adj[3] = 0.0;
  } else {
    std::memset(adj, 0, n * sizeof(double));
  }
  adj[y] = 1.0;
  const std::uint32_t* args = args_.data();
  const double* partials = partials_.data();
  const std::uint32_t* st = stmts_.data();
  std::size_t s = n_stmts_;
  if (s == 1 && st[0] == y) {  // y is the only statement (one expression per recording, as W1)
    for (std::size_t j = 0; j < n_args_; ++j) adj[args[j]] += partials[j];
    swept_ = n;
    return;
  }
  const detail::Count* counts = counts_.data();
  std::size_t off = n_args_;  // step the input offset back over the statements after y
  while (s > 0 && st[s - 1] > y) off -= static_cast<unsigned>(counts[st[--s]]);
  while (s-- > 0) {
    const std::uint32_t node = st[s];
    const unsigned k = static_cast<unsigned>(counts[node]);
    off -= k;
    const double g = adj[node];
    if (g == 0.0) continue;  // no adjoint reached this node: its partials are not used
    const std::uint32_t* a = args + off;
    const double* p = partials + off;
    const double* end = p + k;
    do {  // a listed statement has at least one pair
      adj[*a++] += *p++ * g;
    } while (p != end);
  }
  swept_ = n;
}

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
  void add(const Real& leaf, double m) {
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
  void finish() {
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
  static constexpr int positions = A::positions;
  static constexpr int ops = A::ops + 1;
  static constexpr detail::ScalarOp kind = detail::scalar_kind<Op>;
  static constexpr bool elementary = detail::is_leaf<A>;

  /// The leaves (Reals, and constants as constant Reals) in order, and the expression rebuilt
  /// from them with the same values: how the rare paths of recording get an expression without
  /// the hot path ever taking its address (see ScalarTape::record).
  [[gnu::always_inline]] void collect(Real* out) const { a_.collect(out); }
  static RealUnaryExpr rebuild(const Real* in) { return RealUnaryExpr(A::rebuild(in)); }

  explicit RealUnaryExpr(const A& a, Op op = {})
      : a_(a), op_(op), tape_(a.tape()), epoch_(a.epoch()) {
    y_ = op_.value(a.value());
  }
  double value() const noexcept { return y_; }
  ScalarTape* tape() const noexcept { return tape_; }
  std::uint32_t epoch() const noexcept { return epoch_; }

  template <class Sink>
  void push_partials(Sink& s, double m) const {
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
        // The only call here does not return, so values computed before this node need not be
        // kept in memory across it (no XMM register survives a call). An out-of-line merge that
        // returned (for the constant case) cost W1b's ad::Sum loop 17%.
      }
    }
    y_ = op_.value(a.value(), b.value());
  }
  double value() const noexcept { return y_; }
  ScalarTape* tape() const noexcept { return tape_; }
  std::uint32_t epoch() const noexcept { return epoch_; }

  template <class Sink>
  void push_partials(Sink& s, double m) const {
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

inline Real ScalarTape::push1(detail::ScalarOp op, const Real& a, double value, double da) {
  check(a, op);
  if (n_ops_ + 1 > cap_ops_ || n_args_ + 1 > cap_args_) [[unlikely]]
    grow(1, 1);
  ops_.data()[n_ops_] = detail::op_byte(op);
  counts_.data()[n_ops_] = detail::Count{1};
  stmts_.data()[n_stmts_++] = static_cast<std::uint32_t>(n_ops_);
  args_.data()[n_args_] = a.id_;
  partials_.data()[n_args_] = da;
  ++n_args_;
  ++n_elementary_;
  push_value(value);
  return Real(this, static_cast<std::uint32_t>(n_ops_++), epoch_, value);
}

inline Real ScalarTape::push2(detail::ScalarOp op, const Real& a, double da, const Real& b,
                              double db, double value) {
  check(a, op);
  check(b, op);
  if (a.id_ == b.id_) return push1(op, a, value, da + db);
  if (n_ops_ + 1 > cap_ops_ || n_args_ + 2 > cap_args_) [[unlikely]]
    grow(1, 2);
  ops_.data()[n_ops_] = detail::op_byte(op);
  counts_.data()[n_ops_] = detail::Count{2};
  stmts_.data()[n_stmts_++] = static_cast<std::uint32_t>(n_ops_);
  args_.data()[n_args_] = a.id_;
  partials_.data()[n_args_] = da;
  args_.data()[n_args_ + 1] = b.id_;
  partials_.data()[n_args_ + 1] = db;
  n_args_ += 2;
  ++n_elementary_;
  push_value(value);
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
      // The rare path gets a copy of the expression's leaves, not the expression: a call taking
      // e's address would keep all of e in memory on the fast path too, its values spilled and
      // its parts copied through the stack (GCC then reads 16-byte halves of objects it wrote
      // 8 bytes at a time: store-forwarding stalls). W1 ran 25% slower, W1b 2-4x.
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
  n_args_ += sink.n;
  n_elementary_ += E::ops;
  if constexpr (Values) values_.data()[n_ops_] = e.value();
  return Real(this, static_cast<std::uint32_t>(n_ops_++), epoch_, e.value());
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

// ---------------------------------------------------------------------------------------------
/// A forward-mode number: a value and its partial derivatives with respect to N inputs, carried
/// along by every op below with the same value and partial rules as the tape (one list of ops).
/// This is how ad::elementwise (<ad/elementwise.hpp>) differentiates a user's function of a few
/// numbers entry by entry in one pass, and it can be used directly for forward mode:
///
///     ad::Dual<2> x(1.5, 0), y(-0.5, 1);             // seeds: d/dx, d/dy
///     auto f = sqrt(x * x + exp(x * y));
///     f.value(); f.partial(0); f.partial(1);          // f, df/dx, df/dy
///
/// A partial that is exactly zero stays zero through any op, even one whose local derivative is
/// infinite there (sqrt at 0): the sqrt(a) + b at a = 0 still has df/db = 1, as reverse mode.
template <std::size_t N>
class Dual {
 public:
  /// A constant: value v, every partial 0.
  Dual(double v = 0.0) noexcept : v_(v) {}  // NOLINT(implicit)
  /// Input number `wrt` (0 .. N-1): value v, partial 1 with respect to itself, 0 to the others.
  Dual(double v, std::size_t wrt) noexcept : v_(v) {
    if constexpr (N > 0) d_[wrt] = 1.0;
  }
  double value() const noexcept { return v_; }
  /// d(this)/d(input j).
  double partial(std::size_t j) const noexcept { return d_[j]; }
  const std::array<double, N>& partials() const noexcept { return d_; }

  /// op(a): the value y = Op::value(a) and partials Op::partial(a, y) * da.
  template <class Op>
  static Dual unary(const Dual& a, Op op = {}) noexcept {
    Dual r(op.value(a.v_));
    const double p = op.d(a.v_, r.v_);
    for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(p, a.d_[j]);
    return r;
  }
  /// op(a, b) with either side a plain number (whose partials are 0, and not computed).
  template <class Op, class A, class B>
  static Dual binary(const A& a, const B& b) noexcept {
    Op op{};
    const double av = val(a), bv = val(b);
    Dual r(op.value(av, bv));
    if constexpr (std::is_same_v<A, Dual> && std::is_same_v<B, Dual>) {
      const double pa = op.da(av, bv, r.v_), pb = op.db(av, bv, r.v_);
      for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(pa, a.d_[j]) + scaled(pb, b.d_[j]);
    } else if constexpr (std::is_same_v<A, Dual>) {
      const double pa = op.da(av, bv, r.v_);
      for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(pa, a.d_[j]);
    } else {
      const double pb = op.db(av, bv, r.v_);
      for (std::size_t j = 0; j < N; ++j) r.d_[j] = scaled(pb, b.d_[j]);
    }
    return r;
  }

  Dual& operator+=(const Dual& b) noexcept { return *this = binary<rules::Add>(*this, b); }
  Dual& operator-=(const Dual& b) noexcept { return *this = binary<rules::Sub>(*this, b); }
  Dual& operator*=(const Dual& b) noexcept { return *this = binary<rules::Mul>(*this, b); }
  Dual& operator/=(const Dual& b) noexcept { return *this = binary<rules::Div>(*this, b); }

 private:
  static double val(double x) noexcept { return x; }
  static double val(const Dual& x) noexcept { return x.v_; }
  // p * d, except that a zero partial stays zero (no 0 * inf = NaN from an unused direction).
  // (Written as a mask on the product's bits, not as `d == 0 ? 0 : p * d`: GCC's if-conversion
  // gives up on chains of such selects, and loops over Duals, as ad::elementwise runs, then do
  // not vectorize.)
  static double scaled(double p, double d) noexcept {
    const std::uint64_t keep = std::uint64_t{0} - static_cast<std::uint64_t>(d != 0.0);
    return std::bit_cast<double>(std::bit_cast<std::uint64_t>(p * d) & keep);
  }

  double v_;
  std::array<double, N> d_{};
};

template <std::size_t N>
inline double value(const Dual<N>& a) {
  return a.value();
}

// ---------------------------------------------------------------------------------------------
// Operators and functions: each builds the node of its op (value and partials above). Either
// operand of a binary op may be a Real, an expression, or a plain number. The same names on
// ad::Dual carry the value and partials forward.

#define AD_SCALAR_UNARY(Op, name)                                  \
  template <RealExpr A>                                            \
  inline auto name(const A& a) {                                   \
    return detail::unary<rules::Op>(a);                           \
  }                                                                \
  template <std::size_t N>                                         \
  inline Dual<N> name(const Dual<N>& a) {                          \
    return Dual<N>::template unary<rules::Op>(a);                 \
  }
#define AD_SCALAR_BINARY(Op, name)                                 \
  template <RealExpr A, RealExpr B>                                \
  inline auto name(const A& a, const B& b) {                       \
    return detail::binary<rules::Op>(a, b);                       \
  }                                                                \
  template <RealExpr A>                                            \
  inline auto name(const A& a, double b) {                         \
    return detail::binary<rules::Op>(a, b);                       \
  }                                                                \
  template <RealExpr B>                                            \
  inline auto name(double a, const B& b) {                         \
    return detail::binary<rules::Op>(a, b);                       \
  }                                                                \
  template <std::size_t N>                                         \
  inline Dual<N> name(const Dual<N>& a, const Dual<N>& b) {        \
    return Dual<N>::template binary<rules::Op>(a, b);             \
  }                                                                \
  template <std::size_t N>                                         \
  inline Dual<N> name(const Dual<N>& a, double b) {                \
    return Dual<N>::template binary<rules::Op>(a, b);             \
  }                                                                \
  template <std::size_t N>                                         \
  inline Dual<N> name(double a, const Dual<N>& b) {                \
    return Dual<N>::template binary<rules::Op>(a, b);             \
  }

template <RealExpr A>
inline A operator+(const A& a) {
  return a;
}
template <std::size_t N>
inline Dual<N> operator+(const Dual<N>& a) {
  return a;
}
AD_SCALAR_UNARY(Neg, operator-)
AD_SCALAR_BINARY(Add, operator+)
AD_SCALAR_BINARY(Sub, operator-)
AD_SCALAR_BINARY(Mul, operator*)
AD_SCALAR_BINARY(Div, operator/)
AD_UNARY_RULES(AD_SCALAR_UNARY)
AD_BINARY_RULES(AD_SCALAR_BINARY)

/// x for x > 0, slope * x otherwise.
template <RealExpr A>
inline auto leaky_relu(const A& a, double slope = 0.01) {
  return RealUnaryExpr<rules::LeakyRelu, A>(a, rules::LeakyRelu{slope});
}
template <std::size_t N>
inline Dual<N> leaky_relu(const Dual<N>& a, double slope = 0.01) {
  return Dual<N>::unary(a, rules::LeakyRelu{slope});
}
/// x for x > 0, alpha (e^x - 1) otherwise.
template <RealExpr A>
inline auto elu(const A& a, double alpha = 1.0) {
  return RealUnaryExpr<rules::Elu, A>(a, rules::Elu{alpha});
}
template <std::size_t N>
inline Dual<N> elu(const Dual<N>& a, double alpha = 1.0) {
  return Dual<N>::unary(a, rules::Elu{alpha});
}
/// x clamped into [lo, hi] (lo <= hi).
template <RealExpr A>
inline auto clamp(const A& a, double lo, double hi) {
  return RealUnaryExpr<rules::Clamp, A>(a, rules::Clamp{lo, hi});
}
template <std::size_t N>
inline Dual<N> clamp(const Dual<N>& a, double lo, double hi) {
  return Dual<N>::unary(a, rules::Clamp{lo, hi});
}

#undef AD_SCALAR_UNARY
#undef AD_SCALAR_BINARY

template <RealExpr E>
inline Real& Real::operator+=(const E& b) {
  return *this = *this + b;
}
template <RealExpr E>
inline Real& Real::operator-=(const E& b) {
  return *this = *this - b;
}
template <RealExpr E>
inline Real& Real::operator*=(const E& b) {
  return *this = *this * b;
}
template <RealExpr E>
inline Real& Real::operator/=(const E& b) {
  return *this = *this / b;
}
inline Real& Real::operator+=(double b) { return *this = *this + b; }
inline Real& Real::operator-=(double b) { return *this = *this - b; }
inline Real& Real::operator*=(double b) { return *this = *this * b; }
inline Real& Real::operator/=(double b) { return *this = *this / b; }

// Comparisons look at values only (they record nothing, and carry no partials).
#define AD_SCALAR_COMPARE(op)                                  \
  template <RealExpr A, RealExpr B>                            \
  inline bool operator op(const A& a, const B& b) {            \
    return a.value() op b.value();                             \
  }                                                            \
  template <RealExpr A>                                        \
  inline bool operator op(const A& a, double b) {              \
    return a.value() op b;                                     \
  }                                                            \
  template <RealExpr B>                                        \
  inline bool operator op(double a, const B& b) {              \
    return a op b.value();                                     \
  }                                                            \
  template <std::size_t N>                                     \
  inline bool operator op(const Dual<N>& a, const Dual<N>& b) { \
    return a.value() op b.value();                             \
  }                                                            \
  template <std::size_t N>                                     \
  inline bool operator op(const Dual<N>& a, double b) {        \
    return a.value() op b;                                     \
  }                                                            \
  template <std::size_t N>                                     \
  inline bool operator op(double a, const Dual<N>& b) {        \
    return a op b.value();                                     \
  }
AD_SCALAR_COMPARE(==)
AD_SCALAR_COMPARE(!=)
AD_SCALAR_COMPARE(<)
AD_SCALAR_COMPARE(<=)
AD_SCALAR_COMPARE(>)
AD_SCALAR_COMPARE(>=)
#undef AD_SCALAR_COMPARE

// ---------------------------------------------------------------------------------------------
/// A long sum recorded as few statements. `f += term` on a Real records one statement per term,
/// each new f being f + term: a chain as long as the sum, with one more pair, node and adjoint
/// per term. An ad::Sum collects the terms' (leaf, partial) pairs instead and records them when
/// it becomes a Real, as statements of up to 255 pairs:
///
///     ad::Sum s(tape);
///     for (std::size_t i = 0; i + 1 < n; ++i)
///       s += 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
///     ad::Real f = s;  // records the sum; s stays usable (add more terms, convert again)
///
/// `s.add_terms(count, term)` (or `ad::sum(tape, count, term)`) adds term(0) ... term(count-1)
/// in a loop of its own, about 30% faster than writing the loop (see add_terms).
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
  /// that order, but faster (see ad::sum(tape, count, term)).
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
                "ad::sum / Sum::add_terms: term(i) must return an expression of Reals, a Real or a "
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
///     ad::Real f = ad::sum(tape, n - 1, [&](std::size_t i) {
///       return 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
///     });
///
/// term(i) returns an expression of Reals of `tape` (or a Real, or a constant); terms are added
/// in order, so the value equals that of the loop `f += term(i)` exactly.
template <class F>
Real sum(ScalarTape& tape, std::size_t count, F&& term) {
  Sum s(tape);
  s.add_terms(count, term);
  return s.record();
}

/// The value of a Real or expression (or of a plain number), for generic code.
template <RealExpr E>
inline double value(const E& a) {
  return a.value();
}
inline double value(double a) { return a; }

// ---------------------------------------------------------------------------------------------
// The front door. Every function taking `const Real&` also takes an expression (it is recorded
// first, as one statement).

/// A new variable on the calling thread's default tape.
inline Real variable(double value) { return ScalarTape::active().variable(value); }
/// Clear the calling thread's default tape (its Reals become stale).
inline void new_recording() { ScalarTape::active().clear(); }

/// Reverse sweep from y on y's tape; then read x.adjoint() for any x recorded before y.
void backward(const Real& y);

/// The variables to differentiate with respect to: `wrt(x, y, z)`.
template <std::size_t N>
struct Wrt {
  std::array<Real, N> vars;
};
template <class... Rs>
Wrt<sizeof...(Rs)> wrt(const Rs&... xs) {
  return Wrt<sizeof...(Rs)>{{Real(xs)...}};
}

/// d f / d x for each x, by one reverse sweep: `auto [dx, dy] = derivatives(f, wrt(x, y));`
template <std::size_t N>
std::array<double, N> derivatives(const Real& f, const Wrt<N>& w) {
  backward(f);
  std::array<double, N> d{};
  for (std::size_t i = 0; i < N; ++i) d[i] = w.vars[i].adjoint();
  return d;
}

/// d f / d x for one x.
double derivative(const Real& f, const Real& x);
/// d f / d xs[i] for each i, by one reverse sweep.
std::vector<double> gradient(const Real& f, std::span<const Real> xs);
/// d f / d v for every variable v of f's tape, in creation order (one sweep).
std::vector<double> gradient(const Real& f);

/// Jacobian J[i][j] = d ys[i] / d xs[j]; one reverse sweep per output. All on one tape.
std::vector<std::vector<double>> jacobian(std::span<const Real> ys, std::span<const Real> xs);

}  // namespace ad
