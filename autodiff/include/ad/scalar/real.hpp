// ad::Real and ad::ScalarTape: the scalar tape's records, its handle, and the reverse sweep.
// Part of <ad/scalar.hpp> (include that); the design is described at its top.
#pragma once

#include <ad/error.hpp>
#include <ad/ops/rules.hpp>

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

/// The stored op byte: kind | compound << 6 | linked << 7. An enum rather than a uint8_t so that
/// stores to it cannot alias the tape's counters (char types alias everything, which would force
/// reloads). A *linked* statement (recorded by `f += term` when f is the tape's last statement)
/// has the implicit first input (previous statement, partial 1), which is not stored: see
/// Real::accumulate and ScalarTape::sweep.
enum class OpByte : std::uint8_t {};
constexpr OpByte op_byte(ScalarOp op, bool compound = false, bool linked = false) {
  return static_cast<OpByte>(static_cast<unsigned>(op) | (compound ? 64u : 0u) |
                             (linked ? 128u : 0u));
}
constexpr bool is_linked(OpByte code) { return (static_cast<unsigned>(code) & 128u) != 0; }
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
  /// The same, by the tensor Var's name for it (Var::grad()).
  double grad() const { return adjoint(); }

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
  [[gnu::always_inline]] void push_partials(Sink& s, double m) const {
    if (tape_) s.add(*this, m);  // a constant (no tape) has no pair
  }

 private:
  friend class ScalarTape;
  // `*this += b` (Op = Add) or `-= b` (Op = Sub); see functions.hpp.
  template <class Op, class E>
  Real& accumulate(const E& b, double sign);
  template <class Op, class E>
  [[gnu::noinline]] static detail::Recorded accumulate_slow(ScalarTape* t, std::uint32_t id,
                                                            std::uint32_t epoch, double v,
                                                            const Real* leaves, bool linkable);
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
  /// variable_adjoints(span). One capacity check for all, so faster than a loop of variable().
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
    last_stmt_ = no_statement;
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
  /// adjoint(), gradient(). Inline, for small recordings (docs/scalar-internals.md).
  void backward(const Real& y) {
    if (y.tape_ != this || y.epoch_ != epoch_) [[unlikely]]
      throw_backward(y.tape_);  // a foreign, constant or stale output
    sweep(y.id_);
  }
  /// d y / d x from the last backward() (0 if x was recorded after it, or is a constant).
  /// dy/dx for each x, by one sweep from y (as Tape::grad for tensors).
  std::vector<double> grad(const Real& y, std::span<const Real> xs) {
    backward(y);
    std::vector<double> g(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) g[i] = adjoint(xs[i]);
    return g;
  }
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
  // `f += b` as a statement linked to f's (the last one): b's pairs only. Needs room for one node
  // and E::leaves pairs; returns the new node's id, or no_statement if it cannot link (b has no
  // pair, or refers to f's node itself): then the caller records f + b as usual.
  template <class E>
  std::uint32_t write_linked(const E& b, double sign, std::uint32_t f, detail::ScalarOp op);
  static constexpr std::uint32_t no_statement = 0xffffffffu;  // never an id (max_nodes)
  // Cold paths take plain values: a reference would force the caller's Real into memory.
  [[noreturn]] void throw_backward(const ScalarTape* tape) const;
  void sweep(std::uint32_t y);
  double foreign_adjoint(const ScalarTape* tape) const;  // constant (0) or another tape (throws)
  std::size_t arg_offset(std::size_t node) const;  // where node's inputs start (O(n))
  void check(const Real& a, detail::ScalarOp op) const {
    if (a.epoch_ != epoch_) [[unlikely]]
      detail::throw_stale(op);
  }
  friend class Real;
  friend class Sum;
  // ad::Sum's scratch buffers (one per open Sum) and its recording.
  detail::SumScratch* acquire_sum();
  static void release_sum(detail::SumScratch* s) noexcept { s->in_use = false; }
  static void reserve_sum(detail::SumScratch* s, std::size_t n, std::size_t keep);
  Real record_sum(const detail::SumScratch& s, std::size_t n, double value, std::size_t ops);
  std::size_t sum_capacity_bytes() const noexcept;

  // Layout: aligned to a cache line, what every recording touches first (counters in line 0,
  // the per-statement buffers in lines 1-2); see docs/scalar-internals.md, "layout".
  std::size_t n_ops_ = 0, n_args_ = 0, cap_ops_ = 0, cap_args_ = 0;
  std::size_t fast_ops_ = 0;  // cap_ops_, or 0 in teaching mode (every node takes the slow path)
  std::size_t n_elementary_ = 0, n_vars_ = 0, n_stmts_ = 0;
  std::size_t swept_ = 0;                    // nodes covered by the last backward
  std::uint32_t epoch_ = 1;
  // The last node, if it is a listed statement (so `f += b` on it may record a linked
  // statement); set by every statement writer, checked together with n_ops_ (variables do not
  // reset it), reset by clear().
  std::uint32_t last_stmt_ = no_statement;
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
  const detail::OpByte* ops = ops_.data();
  std::size_t off = n_args_;  // step the input offset back over the statements after y
  while (s > 0 && st[s - 1] > y) off -= static_cast<unsigned>(counts[st[--s]]);
  // A linked statement's implicit pair (previous statement, 1) is applied here, in a register:
  // `carry` is its adjoint, added to the next statement's (the previous one, always the next in
  // this loop) after everything else has been (the same order, so the same sums, as the stored
  // pair gave). Kept in memory, the chain of a long `f += term` loop made every statement wait
  // for the store of the one before (docs/scalar-internals.md, "linked statements").
  double carry = 0.0;
  while (s-- > 0) {
    const std::uint32_t node = st[s];
    const unsigned k = static_cast<unsigned>(counts[node]);
    off -= k;
    double g = adj[node];
    if (carry != 0.0) {
      if (g == 0.0)  // usually: then no addition waits for g (0 + carry is carry)
        g = carry;
      else
        g += carry;
      adj[node] = g;
      carry = 0.0;
    }
    if (g == 0.0) continue;  // no adjoint reached this node: its partials are not used
    const std::uint32_t* a = args + off;
    const double* p = partials + off;
    const double* end = p + k;
    do {  // a listed statement has at least one pair
      adj[*a++] += *p++ * g;
    } while (p != end);
    if (detail::is_linked(ops[node])) carry = g;
  }
  swept_ = n;
}

}  // namespace ad
