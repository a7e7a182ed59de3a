// The scalar fast path: a flat tape of small records for functions of plain numbers.
//
// What: `ad::Real` is a handle {tape, id, epoch, value} to one recorded scalar operation on an
// `ad::ScalarTape`. Arithmetic and the usual math functions on Reals record one small node each;
// one reverse loop over the tape then gives the derivative of an output with respect to every
// input at once:
//
//     ad::ScalarTape tape;
//     ad::Real x = tape.variable(1.5), y = tape.variable(-0.5);
//     auto f = sqrt(x * x + exp(x * y));
//     auto [dx, dy] = ad::derivatives(f, ad::wrt(x, y));
//
// Why a tape of its own: a tensor node (see <ad/tape.hpp>) owns arrays and a shape; a scalar
// node must cost a few bytes and a few nanoseconds. The layout follows Adept's stack: each
// recorded op stores one op byte (kind + arity) and, per input, the input's id and the local
// partial derivative d(op)/d(input), computed when the op is recorded. The reverse sweep is then
// a single loop of multiply-adds: adjoint[input] += partial * adjoint[node]. Nothing here
// allocates per op once the buffers have grown; `clear()` keeps their capacity.
//
// Memory per recorded op: 1 byte + 12 bytes per input (id + partial), plus 8 bytes for the
// adjoint during a sweep, plus 8 bytes for the value if `keep_values(true)` (needed only by the
// printouts). Reals hold their own value, so the sweep never reads values.
//
// Constants: a Real built from a number (`ad::Real c = 2.0;`) belongs to no tape; ops with it
// record only the tape operand. `x * x` (same handle twice) records one input with partial 2x.
//
// Conventions at kinks and edges (a derivative is chosen where the function has none):
//   abs'(0) = 0, relu'(0) = 0 (relu(x) = max(x, 0));
//   min(a, b), max(a, b): at a tie (a == b) the whole gradient goes to the FIRST argument;
//   hypot(0, 0): both partials 0; pow(a, b) with a == 0: d/db = 0 (the limit of a^b log a);
//   outside a domain (log(-1), sqrt(-1), asin(2)) the value is NaN, as in <cmath>, and so are
//   the partials; nothing throws. A NaN input to min/max gives a NaN output.
//
// Safety: clearing a tape bumps its epoch; using a Real recorded before the clear throws
// ad::TapeError (one integer compare per operand). Reals of two different tapes can't be mixed
// (TapeError). A Real must not outlive its tape object.
//
// Threads: a tape is not shared between threads; separate tapes on separate threads are
// independent. `ScalarTape::active()` is a per-thread default tape used by `ad::variable`.
#pragma once

#include <ad/error.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ad {

class ScalarTape;
class Real;

namespace detail {

/// Kinds of scalar op. Stored in the low 6 bits of the op byte; the high 2 bits hold the
/// number of tape inputs recorded (0, 1 or 2).
enum class ScalarOp : std::uint8_t {
  var, add, sub, mul, div, neg, pow, exp, log, log1p, expm1, sqrt, cbrt, sin, cos, tan,
  asin, acos, atan, atan2, sinh, cosh, tanh, asinh, acosh, atanh, sigmoid, softplus, abs,
  relu, min, max, hypot, erf, count_
};

/// The stored op byte: kind | arity << 6. An enum rather than a uint8_t so that stores to it
/// cannot alias the tape's counters (char types alias everything, which would force reloads).
enum class OpByte : std::uint8_t {};
constexpr OpByte op_byte(ScalarOp op, unsigned arity) {
  return static_cast<OpByte>(static_cast<unsigned>(op) | (arity << 6));
}

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
[[noreturn]] void throw_mixed(ScalarOp op);

}  // namespace detail

/// A scalar variable or intermediate: a handle to one node of a ScalarTape, carrying its value.
/// Copying is free (24 bytes); the tape holds the record.
class Real {
 public:
  /// A constant (belongs to no tape): `ad::Real c = 0.0;` is the usual start of a sum.
  Real(double value = 0.0) noexcept : value_(value) {}  // NOLINT(implicit)

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

  Real& operator+=(const Real& b);
  Real& operator-=(const Real& b);
  Real& operator*=(const Real& b);
  Real& operator/=(const Real& b);

 private:
  friend class ScalarTape;
  Real(ScalarTape* tape, std::uint32_t id, std::uint32_t epoch, double value) noexcept
      : tape_(tape), id_(id), epoch_(epoch), value_(value) {}

  ScalarTape* tape_ = nullptr;
  std::uint32_t id_ = 0;
  std::uint32_t epoch_ = 0;
  double value_;
};

/// One flat recording of scalar operations. Not copyable; movable only while no Real refers
/// to it.
class ScalarTape {
 public:
  ScalarTape() = default;
  ScalarTape(const ScalarTape&) = delete;
  ScalarTape& operator=(const ScalarTape&) = delete;

  /// The calling thread's default tape (used by ad::variable and ad::new_recording).
  static ScalarTape& active();

  /// A new independent variable. `name` only labels it in printouts.
  Real variable(double value) { return push0(value); }
  Real variable(double value, std::string_view name);

  /// Forget every node (Reals recorded so far become stale), keep the buffers' capacity.
  void clear() noexcept {
    n_ops_ = 0;
    n_args_ = 0;
    swept_ = 0;
    vars_.clear();
    if (!names_.empty()) names_.clear();
    if (++epoch_ == 0) epoch_ = 1;  // 0 is never a live epoch
  }
  /// Reserve room for `ops` nodes with `args` tape inputs in total.
  void reserve(std::size_t ops, std::size_t args);
  /// Also keep each node's value (8 bytes more per op); needed only for print() and dot().
  /// Values of nodes recorded before it is switched on print as nan.
  void keep_values(bool on);
  bool keeps_values() const noexcept { return keep_values_; }

  /// Reverse sweep from y: sets every adjoint to d y / d node. Reading adjoints: Real::adjoint,
  /// adjoint(), gradient().
  void backward(const Real& y);
  /// d y / d x from the last backward() (0 if x was recorded after it, or is a constant).
  double adjoint(const Real& x) const {
    if (x.tape_ != this) [[unlikely]]
      return foreign_adjoint(x);
    check(x, detail::ScalarOp::var);
    return x.id_ < swept_ ? adjoints_.data()[x.id_] : 0.0;
  }
  /// Adjoints of all variables, in the order they were created.
  std::vector<double> variable_adjoints() const;
  /// The same into `out` (no allocation); out.size() must equal the number of variables.
  void variable_adjoints(std::span<double> out) const;
  std::size_t variable_count() const noexcept { return vars_.size(); }

  std::size_t size() const noexcept { return n_ops_; }           ///< recorded nodes
  std::size_t input_count() const noexcept { return n_args_; }   ///< recorded (id, partial) pairs
  std::uint32_t epoch() const noexcept { return epoch_; }
  /// Bytes of the recording itself (op bytes + ids + partials [+ values]).
  std::size_t recorded_bytes() const noexcept;
  /// Bytes currently reserved by all buffers, adjoints included.
  std::size_t capacity_bytes() const noexcept;

  /// One line per node: id, op, inputs with their local partials, value, adjoint. A binary op
  /// with a plain-number operand, or with one node on both sides (x * x), shows one input.
  /// `names` relabels variables by creation order (else the names given to variable()).
  std::string print() const;
  /// The graph in Graphviz DOT: nodes labelled by op, value and adjoint; edges by partials.
  std::string dot() const;
  /// First node whose value is NaN or infinite although its inputs are finite (needs
  /// keep_values); returns size() if none.
  std::size_t first_nonfinite() const;
  /// The name of node i's op, e.g. "exp".
  const char* op_name(std::size_t i) const;

  // ---- recording (used by the functions below; public for extensions) ----
  Real push0(double value);
  Real push1(detail::ScalarOp op, const Real& a, double value, double da);
  Real push2(detail::ScalarOp op, const Real& a, double da, const Real& b, double db,
             double value);

 private:
  void grow(std::size_t ops, std::size_t args);
  double foreign_adjoint(const Real& x) const;  // constant (0) or another tape (throws)
  std::size_t arg_offset(std::size_t node) const;  // where node's inputs start (O(n))
  void check(const Real& a, detail::ScalarOp op) const {
    if (a.epoch_ != epoch_) [[unlikely]]
      detail::throw_stale(op);
  }
  void push_value(double v) {
    if (keep_values_) values_.data()[n_ops_] = v;
  }

  detail::PodBuffer<detail::OpByte> ops_;    // kind | arity << 6
  detail::PodBuffer<std::uint32_t> args_;    // input ids
  detail::PodBuffer<double> partials_;       // local partials, parallel to args_
  detail::PodBuffer<double> values_;         // only if keep_values_
  detail::PodBuffer<double> adjoints_;      // filled by backward()
  std::vector<std::uint32_t> vars_;          // ids of variables, in creation order
  std::vector<std::pair<std::uint32_t, std::string>> names_;
  std::size_t n_ops_ = 0, n_args_ = 0, cap_ops_ = 0, cap_args_ = 0;
  std::size_t swept_ = 0;                    // nodes covered by the last backward
  std::uint32_t epoch_ = 1;
  bool keep_values_ = false;
};

inline double Real::adjoint() const { return tape_ ? tape_->adjoint(*this) : 0.0; }

// ---------------------------------------------------------------------------------------------
// Recording primitives (inline: this is the hot path)

inline Real ScalarTape::push0(double value) {
  if (n_ops_ + 1 > cap_ops_) [[unlikely]]
    grow(1, 0);
  ops_.data()[n_ops_] = detail::op_byte(detail::ScalarOp::var, 0);
  push_value(value);
  vars_.push_back(static_cast<std::uint32_t>(n_ops_));
  return Real(this, static_cast<std::uint32_t>(n_ops_++), epoch_, value);
}

inline Real ScalarTape::push1(detail::ScalarOp op, const Real& a, double value, double da) {
  check(a, op);
  if (n_ops_ + 1 > cap_ops_ || n_args_ + 1 > cap_args_) [[unlikely]]
    grow(1, 1);
  ops_.data()[n_ops_] = detail::op_byte(op, 1);
  args_.data()[n_args_] = a.id_;
  partials_.data()[n_args_] = da;
  ++n_args_;
  push_value(value);
  return Real(this, static_cast<std::uint32_t>(n_ops_++), epoch_, value);
}

inline Real ScalarTape::push2(detail::ScalarOp op, const Real& a, double da, const Real& b,
                              double db, double value) {
  check(a, op);
  check(b, op);
  if (n_ops_ + 1 > cap_ops_ || n_args_ + 2 > cap_args_) [[unlikely]]
    grow(1, 2);
  ops_.data()[n_ops_] = detail::op_byte(op, 2);
  args_.data()[n_args_] = a.id_;
  partials_.data()[n_args_] = da;
  args_.data()[n_args_ + 1] = b.id_;
  partials_.data()[n_args_ + 1] = db;
  n_args_ += 2;
  push_value(value);
  return Real(this, static_cast<std::uint32_t>(n_ops_++), epoch_, value);
}

namespace detail {

/// y = op(a) with local partial da.
inline Real unary(ScalarOp op, const Real& a, double y, double da) {
  ScalarTape* t = a.tape();
  if (!t) return Real(y);
  return t->push1(op, a, y, da);
}

/// y = op(a, b) with local partials da, db. Constants are not recorded; a == b (the same
/// node) records one input with da + db.
inline Real binary(ScalarOp op, const Real& a, const Real& b, double y, double da, double db) {
  ScalarTape* ta = a.tape();
  ScalarTape* tb = b.tape();
  if (!tb) return ta ? ta->push1(op, a, y, da) : Real(y);
  if (!ta) return tb->push1(op, b, y, db);
  if (ta != tb) [[unlikely]]
    throw_mixed(op);
  if (a.id() == b.id() && a.epoch() == b.epoch()) return ta->push1(op, a, y, da + db);
  return ta->push2(op, a, da, b, db, y);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Operators. Each function: the value, then its local partials, with the rule in a comment.

inline Real operator+(const Real& a) { return a; }
// d(-a) = -da
inline Real operator-(const Real& a) {
  return detail::unary(detail::ScalarOp::neg, a, -a.value(), -1.0);
}
// d(a + b) = da + db
inline Real operator+(const Real& a, const Real& b) {
  return detail::binary(detail::ScalarOp::add, a, b, a.value() + b.value(), 1.0, 1.0);
}
// d(a - b) = da - db
inline Real operator-(const Real& a, const Real& b) {
  return detail::binary(detail::ScalarOp::sub, a, b, a.value() - b.value(), 1.0, -1.0);
}
// d(a b) = b da + a db
inline Real operator*(const Real& a, const Real& b) {
  return detail::binary(detail::ScalarOp::mul, a, b, a.value() * b.value(), b.value(),
                        a.value());
}
// d(a / b) = da / b - (a / b^2) db = (da - y db) / b
inline Real operator/(const Real& a, const Real& b) {
  const double inv = 1.0 / b.value();
  const double y = a.value() * inv;
  return detail::binary(detail::ScalarOp::div, a, b, y, inv, -y * inv);
}
// Mixed with plain numbers: the number is a constant (not recorded).
inline Real operator+(const Real& a, double b) { return a + Real(b); }
inline Real operator+(double a, const Real& b) { return Real(a) + b; }
inline Real operator-(const Real& a, double b) { return a - Real(b); }
inline Real operator-(double a, const Real& b) { return Real(a) - b; }
inline Real operator*(const Real& a, double b) { return a * Real(b); }
inline Real operator*(double a, const Real& b) { return Real(a) * b; }
inline Real operator/(const Real& a, double b) { return a / Real(b); }
inline Real operator/(double a, const Real& b) { return Real(a) / b; }

inline Real& Real::operator+=(const Real& b) { return *this = *this + b; }
inline Real& Real::operator-=(const Real& b) { return *this = *this - b; }
inline Real& Real::operator*=(const Real& b) { return *this = *this * b; }
inline Real& Real::operator/=(const Real& b) { return *this = *this / b; }

// Comparisons look at values only (they record nothing).
inline bool operator==(const Real& a, const Real& b) { return a.value() == b.value(); }
inline bool operator!=(const Real& a, const Real& b) { return a.value() != b.value(); }
inline bool operator<(const Real& a, const Real& b) { return a.value() < b.value(); }
inline bool operator<=(const Real& a, const Real& b) { return a.value() <= b.value(); }
inline bool operator>(const Real& a, const Real& b) { return a.value() > b.value(); }
inline bool operator>=(const Real& a, const Real& b) { return a.value() >= b.value(); }
inline bool operator==(const Real& a, double b) { return a.value() == b; }
inline bool operator!=(const Real& a, double b) { return a.value() != b; }
inline bool operator<(const Real& a, double b) { return a.value() < b; }
inline bool operator<=(const Real& a, double b) { return a.value() <= b; }
inline bool operator>(const Real& a, double b) { return a.value() > b; }
inline bool operator>=(const Real& a, double b) { return a.value() >= b; }
inline bool operator==(double a, const Real& b) { return a == b.value(); }
inline bool operator!=(double a, const Real& b) { return a != b.value(); }
inline bool operator<(double a, const Real& b) { return a < b.value(); }
inline bool operator<=(double a, const Real& b) { return a <= b.value(); }
inline bool operator>(double a, const Real& b) { return a > b.value(); }
inline bool operator>=(double a, const Real& b) { return a >= b.value(); }

/// The value of a Real (or of a plain number), for generic code.
inline double value(const Real& a) { return a.value(); }

// ---------------------------------------------------------------------------------------------
// Functions

// d exp(a) = exp(a) da = y da
inline Real exp(const Real& a) {
  const double y = std::exp(a.value());
  return detail::unary(detail::ScalarOp::exp, a, y, y);
}
// d log(a) = da / a
inline Real log(const Real& a) {
  return detail::unary(detail::ScalarOp::log, a, std::log(a.value()), 1.0 / a.value());
}
// d log1p(a) = da / (1 + a)
inline Real log1p(const Real& a) {
  return detail::unary(detail::ScalarOp::log1p, a, std::log1p(a.value()),
                       1.0 / (1.0 + a.value()));
}
// d expm1(a) = exp(a) da = (y + 1) da
inline Real expm1(const Real& a) {
  const double y = std::expm1(a.value());
  return detail::unary(detail::ScalarOp::expm1, a, y, y + 1.0);
}
// d sqrt(a) = da / (2 sqrt(a)) = da / (2 y)
inline Real sqrt(const Real& a) {
  const double y = std::sqrt(a.value());
  return detail::unary(detail::ScalarOp::sqrt, a, y, 0.5 / y);
}
// d cbrt(a) = da / (3 cbrt(a)^2) = da / (3 y^2)
inline Real cbrt(const Real& a) {
  const double y = std::cbrt(a.value());
  return detail::unary(detail::ScalarOp::cbrt, a, y, 1.0 / (3.0 * y * y));
}
// d sin(a) = cos(a) da
inline Real sin(const Real& a) {
  return detail::unary(detail::ScalarOp::sin, a, std::sin(a.value()), std::cos(a.value()));
}
// d cos(a) = -sin(a) da
inline Real cos(const Real& a) {
  return detail::unary(detail::ScalarOp::cos, a, std::cos(a.value()), -std::sin(a.value()));
}
// d tan(a) = (1 + tan(a)^2) da = (1 + y^2) da
inline Real tan(const Real& a) {
  const double y = std::tan(a.value());
  return detail::unary(detail::ScalarOp::tan, a, y, 1.0 + y * y);
}
// d asin(a) = da / sqrt(1 - a^2)
inline Real asin(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::asin, a, std::asin(v), 1.0 / std::sqrt(1.0 - v * v));
}
// d acos(a) = -da / sqrt(1 - a^2)
inline Real acos(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::acos, a, std::acos(v), -1.0 / std::sqrt(1.0 - v * v));
}
// d atan(a) = da / (1 + a^2)
inline Real atan(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::atan, a, std::atan(v), 1.0 / (1.0 + v * v));
}
// d atan2(a, b) = (b da - a db) / (a^2 + b^2)      (a is the "y" argument, b the "x")
inline Real atan2(const Real& a, const Real& b) {
  const double u = a.value(), v = b.value();
  const double r2 = u * u + v * v;
  return detail::binary(detail::ScalarOp::atan2, a, b, std::atan2(u, v), v / r2, -u / r2);
}
// d sinh(a) = cosh(a) da
inline Real sinh(const Real& a) {
  return detail::unary(detail::ScalarOp::sinh, a, std::sinh(a.value()), std::cosh(a.value()));
}
// d cosh(a) = sinh(a) da
inline Real cosh(const Real& a) {
  return detail::unary(detail::ScalarOp::cosh, a, std::cosh(a.value()), std::sinh(a.value()));
}
// d tanh(a) = (1 - y^2) da
inline Real tanh(const Real& a) {
  const double y = std::tanh(a.value());
  return detail::unary(detail::ScalarOp::tanh, a, y, 1.0 - y * y);
}
// d asinh(a) = da / sqrt(a^2 + 1)
inline Real asinh(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::asinh, a, std::asinh(v), 1.0 / std::hypot(v, 1.0));
}
// d acosh(a) = da / (sqrt(a - 1) sqrt(a + 1))        (a > 1)
inline Real acosh(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::acosh, a, std::acosh(v),
                       1.0 / (std::sqrt(v - 1.0) * std::sqrt(v + 1.0)));
}
// d atanh(a) = da / (1 - a^2)                         (|a| < 1)
inline Real atanh(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::atanh, a, std::atanh(v), 1.0 / ((1.0 - v) * (1.0 + v)));
}
// sigmoid(a) = 1 / (1 + exp(-a)), computed without overflow on either side.
// d sigmoid(a) = y (1 - y) da
inline Real sigmoid(const Real& a) {
  const double v = a.value();
  double y;
  if (v >= 0) {
    y = 1.0 / (1.0 + std::exp(-v));
  } else {
    const double e = std::exp(v);
    y = e / (1.0 + e);
  }
  return detail::unary(detail::ScalarOp::sigmoid, a, y, y * (1.0 - y));
}
// softplus(a) = log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|))  (no overflow, no cancellation)
// d softplus(a) = sigmoid(a) da
inline Real softplus(const Real& a) {
  const double v = a.value();
  const double e = std::exp(-std::fabs(v));
  const double y = (v > 0 ? v : 0.0) + std::log1p(e);
  const double s = v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  return detail::unary(detail::ScalarOp::softplus, a, y, s);
}
// d |a| = sign(a) da, with abs'(0) = 0
inline Real abs(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::abs, a, std::fabs(v),
                       v > 0 ? 1.0 : (v < 0 ? -1.0 : (v == 0 ? 0.0 : v)));
}
// relu(a) = max(a, 0); d relu(a) = [a > 0] da, with relu'(0) = 0
inline Real relu(const Real& a) {
  const double v = a.value();
  return detail::unary(detail::ScalarOp::relu, a, v > 0 ? v : (v <= 0 ? 0.0 : v),
                       v > 0 ? 1.0 : (v <= 0 ? 0.0 : v));
}
// d min(a, b) = da if a <= b else db   (a tie sends the gradient to the first argument)
inline Real min(const Real& a, const Real& b) {
  const double u = a.value(), v = b.value();
  if (std::isnan(u) || std::isnan(v)) {
    const double n = u + v;
    return detail::binary(detail::ScalarOp::min, a, b, n, n, n);
  }
  const bool first = u <= v;
  return detail::binary(detail::ScalarOp::min, a, b, first ? u : v, first ? 1.0 : 0.0,
                        first ? 0.0 : 1.0);
}
// d max(a, b) = da if a >= b else db   (a tie sends the gradient to the first argument)
inline Real max(const Real& a, const Real& b) {
  const double u = a.value(), v = b.value();
  if (std::isnan(u) || std::isnan(v)) {
    const double n = u + v;
    return detail::binary(detail::ScalarOp::max, a, b, n, n, n);
  }
  const bool first = u >= v;
  return detail::binary(detail::ScalarOp::max, a, b, first ? u : v, first ? 1.0 : 0.0,
                        first ? 0.0 : 1.0);
}
// d hypot(a, b) = (a da + b db) / y, with both partials 0 at (0, 0)
inline Real hypot(const Real& a, const Real& b) {
  const double u = a.value(), v = b.value();
  const double y = std::hypot(u, v);
  const double inv = y > 0 ? 1.0 / y : 0.0;
  return detail::binary(detail::ScalarOp::hypot, a, b, y, u * inv, v * inv);
}
// d erf(a) = 2 / sqrt(pi) exp(-a^2) da
inline Real erf(const Real& a) {
  const double v = a.value();
  constexpr double two_over_sqrt_pi = 1.1283791670955126;
  return detail::unary(detail::ScalarOp::erf, a, std::erf(v), two_over_sqrt_pi * std::exp(-v * v));
}
// d a^b = b a^(b-1) da + a^b log(a) db;  d/db is taken as 0 where a^b == 0 (a == 0)
inline Real pow(const Real& a, const Real& b) {
  const double u = a.value(), v = b.value();
  const double y = std::pow(u, v);
  const double da = v == 0.0 ? 0.0 : v * std::pow(u, v - 1.0);
  const double db = (b.is_constant() || y == 0.0) ? 0.0 : y * std::log(u);
  return detail::binary(detail::ScalarOp::pow, a, b, y, da, db);
}
inline Real pow(const Real& a, double b) { return pow(a, Real(b)); }
inline Real pow(double a, const Real& b) { return pow(Real(a), b); }
inline Real atan2(const Real& a, double b) { return atan2(a, Real(b)); }
inline Real atan2(double a, const Real& b) { return atan2(Real(a), b); }
inline Real min(const Real& a, double b) { return min(a, Real(b)); }
inline Real min(double a, const Real& b) { return min(Real(a), b); }
inline Real max(const Real& a, double b) { return max(a, Real(b)); }
inline Real max(double a, const Real& b) { return max(Real(a), b); }
inline Real hypot(const Real& a, double b) { return hypot(a, Real(b)); }
inline Real hypot(double a, const Real& b) { return hypot(Real(a), b); }

// ---------------------------------------------------------------------------------------------
// The front door

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
