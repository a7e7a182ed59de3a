// The scalar tape's cold paths: growth, the reverse sweep, the front door and the printouts.
#include <ad/scalar.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>

namespace ad {

namespace detail {

const char* scalar_op_name(ScalarOp op) noexcept {
  static constexpr const char* names[] = {
      "var",
#define AD_SCALAR_NAME(Rule, fn) rules::Rule::name,
      AD_ALL_RULES(AD_SCALAR_NAME)
#undef AD_SCALAR_NAME
  };
  static_assert(sizeof(names) / sizeof(names[0]) == static_cast<std::size_t>(ScalarOp::count_));
  const auto i = static_cast<std::size_t>(op);
  return i < static_cast<std::size_t>(ScalarOp::count_) ? names[i] : "?";
}

template <class T>
void PodBuffer<T>::reserve(std::size_t n, std::size_t keep) {
  if (n <= cap_) return;
  if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
  T* p = static_cast<T*>(std::malloc(n * sizeof(T)));
  if (!p) throw std::bad_alloc();
  if (keep && data_) std::memcpy(p, data_, keep * sizeof(T));
  std::free(data_);
  data_ = p;
  cap_ = n;
}

template class PodBuffer<OpByte>;
template class PodBuffer<Count>;
template class PodBuffer<std::uint32_t>;
template class PodBuffer<double>;

void throw_stale(ScalarOp op) {
  throw TapeError(fmt::format(
      "{}: a Real from an earlier recording was used after its tape was cleared; record the "
      "variables again after clear()",
      op == ScalarOp::var ? "backward/adjoint" : scalar_op_name(op)));
}

void throw_mixed(ScalarOp op, bool same_tape) {
  if (same_tape) throw_stale(op);
  throw TapeError(fmt::format(
      "{}: the two operands were recorded on different scalar tapes; record both on one tape",
      scalar_op_name(op)));
}

namespace {
inline unsigned count(Count c) { return static_cast<unsigned>(c); }
inline bool compound(OpByte code) { return (static_cast<unsigned>(code) & 64u) != 0; }
inline ScalarOp kind(OpByte code) { return static_cast<ScalarOp>(static_cast<unsigned>(code) & 63u); }
}  // namespace

}  // namespace detail

using detail::ScalarOp;

ScalarTape& ScalarTape::active() {
  thread_local ScalarTape tape;
  return tape;
}

Real ScalarTape::variable(double value, std::string_view name) {
  Real r = push0(value);
  names_.emplace_back(r.id(), std::string(name));
  return r;
}

void ScalarTape::keep_values(bool on) {
  if (on && !keep_values_) {
    values_.reserve(std::max(cap_ops_, std::size_t{1}), 0);
    std::fill(values_.data(), values_.data() + n_ops_, std::numeric_limits<double>::quiet_NaN());
  }
  keep_values_ = on;
  fast_ops_ = on ? 0 : cap_ops_;
}

detail::Recorded ScalarTape::push0_slow(double value) {
  if (n_ops_ + 1 > cap_ops_) grow(1, 0);
  if (keep_values_) values_.data()[n_ops_] = value;
  const Real r = write_variable(value);
  return {r.value(), r.id()};
}

void ScalarTape::reserve(std::size_t ops, std::size_t args) {
  if (ops > cap_ops_ || args > cap_args_) grow(ops > n_ops_ ? ops - n_ops_ : 0,
                                               args > n_args_ ? args - n_args_ : 0);
}

void ScalarTape::grow(std::size_t ops, std::size_t args) {
  constexpr std::size_t max_nodes = std::numeric_limits<std::uint32_t>::max();
  if (n_ops_ + ops > max_nodes)
    throw TapeError(fmt::format("scalar tape: more than {} nodes in one recording; clear() the "
                                "tape between recordings",
                                max_nodes));
  if (n_ops_ + ops > cap_ops_) {
    const std::size_t n = std::max({n_ops_ + ops, 2 * cap_ops_, std::size_t{64}});
    ops_.reserve(n, n_ops_);
    counts_.reserve(n, n_ops_);
    vars_.reserve(n, n_vars_);
    stmts_.reserve(n, n_stmts_);
    if (keep_values_ || values_.capacity()) values_.reserve(n, n_ops_);
    adjoints_.reserve(n, swept_);  // adjoints of the last sweep stay readable
    cap_ops_ = n;
    fast_ops_ = keep_values_ ? 0 : n;
  }
  if (keep_values_ && values_.capacity() < cap_ops_) values_.reserve(cap_ops_, n_ops_);
  if (n_args_ + args > cap_args_) {
    const std::size_t n = std::max({n_args_ + args, 2 * cap_args_, std::size_t{128}});
    args_.reserve(n, n_args_);
    partials_.reserve(n, n_args_);
    cap_args_ = n;
  }
}

std::size_t ScalarTape::recorded_bytes() const noexcept {
  return n_ops_ * (sizeof(detail::OpByte) + sizeof(detail::Count) +
                   (keep_values_ ? sizeof(double) : 0)) +
         (n_stmts_ + n_vars_) * sizeof(std::uint32_t) +
         n_args_ * (sizeof(std::uint32_t) + sizeof(double));
}

std::size_t ScalarTape::capacity_bytes() const noexcept {
  return ops_.capacity() + counts_.capacity() + values_.capacity() * sizeof(double) +
         args_.capacity() * sizeof(std::uint32_t) + partials_.capacity() * sizeof(double) +
         adjoints_.capacity() * sizeof(double) + vars_.capacity() * sizeof(std::uint32_t) +
         stmts_.capacity() * sizeof(std::uint32_t) + sum_capacity_bytes();
}

void ScalarTape::throw_backward(const ScalarTape* tape) const {
  if (tape != this) [[unlikely]]
    throw TapeError(tape ? "backward: the output was recorded on another scalar tape"
                         : "backward: the output is a constant (it depends on no variable)");
  detail::throw_stale(ScalarOp::var);
}

double ScalarTape::foreign_adjoint(const ScalarTape* tape) const {
  if (tape == nullptr) return 0.0;
  throw TapeError("adjoint: the Real was recorded on another scalar tape");
}

void ScalarTape::variables(std::span<const double> values, std::span<Real> out) {
  if (out.size() != values.size())
    throw ValueError(fmt::format("variables: {} values but room for {} Reals", values.size(),
                                 out.size()));
  if (keep_values_) {  // teaching mode: one by one, keeping values (and the printout's order)
    for (std::size_t i = 0; i < values.size(); ++i) out[i] = variable(values[i]);
    return;
  }
  if (n_ops_ + values.size() > cap_ops_) grow(values.size(), 0);
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = write_variable(values[i]);
}

std::vector<Real> ScalarTape::variables(std::span<const double> values) {
  std::vector<Real> out(values.size());
  variables(values, out);
  return out;
}

void ScalarTape::variable_adjoints(std::span<double> out) const {
  if (out.size() != n_vars_)
    throw ValueError(fmt::format("variable_adjoints: the tape has {} variables, the output has "
                                 "room for {}",
                                 n_vars_, out.size()));
  const std::uint32_t* v = vars_.data();
  const double* adj = adjoints_.data();
  for (std::size_t i = 0; i < n_vars_; ++i) out[i] = v[i] < swept_ ? adj[v[i]] : 0.0;
}

std::vector<double> ScalarTape::variable_adjoints() const {
  std::vector<double> g(n_vars_);
  variable_adjoints(g);
  return g;
}


std::size_t ScalarTape::arg_offset(std::size_t node) const {
  std::size_t off = 0;
  for (std::size_t i = 0; i < node && i < n_ops_; ++i) off += detail::count(counts_.data()[i]);
  return off;
}

const char* ScalarTape::op_name(std::size_t i) const {
  if (i >= n_ops_) return "?";
  return detail::scalar_op_name(detail::kind(ops_.data()[i]));
}

std::size_t ScalarTape::first_nonfinite() const {
  if (!keep_values_) return n_ops_;
  const double* v = values_.data();
  std::size_t off = 0;
  for (std::size_t i = 0; i < n_ops_; ++i) {
    const unsigned k = detail::count(counts_.data()[i]);
    if (!std::isfinite(v[i])) {
      bool inputs_finite = true;
      for (unsigned j = 0; j < k; ++j)
        if (!std::isfinite(v[args_.data()[off + j]])) inputs_finite = false;
      if (inputs_finite) return i;
    }
    off += k;
  }
  return n_ops_;
}

namespace {

std::string node_label(const std::vector<std::pair<std::uint32_t, std::string>>& names,
                       std::uint32_t id) {
  for (const auto& [i, s] : names)
    if (i == id) return s;
  return fmt::format("#{}", id);
}

std::string num(double v) { return std::isnan(v) ? std::string("nan") : fmt::format("{:.6g}", v); }

}  // namespace

std::string ScalarTape::print() const {
  std::string out = fmt::format("{:>4}  {:<9} {:<30} {:>14} {:>14}\n", "id", "op",
                                "inputs (local partial)", "value", "adjoint");
  std::size_t off = 0;
  for (std::size_t i = 0; i < n_ops_; ++i) {
    const detail::OpByte code = ops_.data()[i];
    const unsigned k = detail::count(counts_.data()[i]);
    const bool var = detail::kind(code) == ScalarOp::var;
    std::string op = detail::scalar_op_name(detail::kind(code));
    if (detail::compound(code)) op += "(..)";  // a statement of several ops, outermost named
    std::string inputs;
    if (var) {
      for (const auto& [id, s] : names_)
        if (id == i) op += " " + s;
    }
    // A linked statement's first input, the statement before it with partial 1, is not stored.
    if (detail::is_linked(code)) inputs = fmt::format("#{} (1)", i - 1);
    for (unsigned j = 0; j < k; ++j) {
      if (j || !inputs.empty()) inputs += ", ";
      inputs += fmt::format("#{} ({})", args_.data()[off + j], num(partials_.data()[off + j]));
    }
    const std::string value = keep_values_ ? num(values_.data()[i]) : std::string("-");
    const std::string adj = i < swept_ ? num(adjoints_.data()[i]) : std::string("-");
    out += fmt::format("{:>4}  {:<9} {:<30} {:>14} {:>14}\n", i, op, inputs, value, adj);
    off += k;
  }
  return out;
}

std::string ScalarTape::dot() const {
  std::string out = "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
  std::size_t off = 0;
  for (std::size_t i = 0; i < n_ops_; ++i) {
    const detail::OpByte code = ops_.data()[i];
    const unsigned k = detail::count(counts_.data()[i]);
    const bool var = detail::kind(code) == ScalarOp::var;
    std::string label = fmt::format("#{} {}{}", i, detail::scalar_op_name(detail::kind(code)),
                                    detail::compound(code) ? "(..)" : "");
    if (var) label = fmt::format("#{} {}", i, node_label(names_, static_cast<std::uint32_t>(i)));
    if (keep_values_) label += fmt::format("\\nvalue {}", num(values_.data()[i]));
    if (i < swept_) label += fmt::format("\\nadjoint {}", num(adjoints_.data()[i]));
    out += fmt::format("  n{} [label=\"{}\"{}];\n", i, label,
                       var ? ", shape=ellipse" : "");
    if (detail::is_linked(code)) out += fmt::format("  n{} -> n{} [label=\"1\"];\n", i - 1, i);
    for (unsigned j = 0; j < k; ++j)
      out += fmt::format("  n{} -> n{} [label=\"{}\"];\n", args_.data()[off + j], i,
                         num(partials_.data()[off + j]));
    off += k;
  }
  out += "}\n";
  return out;
}

// ---- ad::Sum ----

std::size_t ScalarTape::sum_capacity_bytes() const noexcept {
  std::size_t b = 0;
  for (const auto& s : sums_)
    b += s->ids.capacity() * sizeof(std::uint32_t) + s->partials.capacity() * sizeof(double);
  return b;
}

detail::SumScratch* ScalarTape::acquire_sum() {
  for (auto& s : sums_)
    if (!s->in_use) {
      s->in_use = true;
      return s.get();
    }
  sums_.push_back(std::make_unique<detail::SumScratch>());
  sums_.back()->in_use = true;
  return sums_.back().get();
}

void ScalarTape::reserve_sum(detail::SumScratch* s, std::size_t n, std::size_t keep) {
  const std::size_t cap = std::max({n, 2 * s->ids.capacity(), std::size_t{256}});
  s->ids.reserve(cap, keep);
  s->partials.reserve(cap, keep);
}

Real ScalarTape::record_sum(const detail::SumScratch& s, std::size_t n, double value,
                            std::size_t ops) {
  // Statements of up to 255 pairs (a record's count is one byte), each after the first starting
  // with the pair (previous statement, 1).
  constexpr std::size_t max_pairs = 255;
  const std::uint32_t* ids = s.ids.data();
  const double* partials = s.partials.data();
  std::size_t done = 0;
  bool linked = false;
  std::uint32_t prev = 0;
  while (done < n) {
    const std::size_t k = std::min(max_pairs - (linked ? 1 : 0), n - done);
    const std::size_t total = k + (linked ? 1 : 0);
    if (n_ops_ + 1 > cap_ops_ || n_args_ + total > cap_args_) grow(1, total);
    std::uint32_t* a = args_.data() + n_args_;
    double* p = partials_.data() + n_args_;
    if (linked) {
      *a++ = prev;
      *p++ = 1.0;
    }
    std::memcpy(a, ids + done, k * sizeof(std::uint32_t));
    std::memcpy(p, partials + done, k * sizeof(double));
    ops_.data()[n_ops_] = detail::op_byte(ScalarOp::add, true);
    counts_.data()[n_ops_] = static_cast<detail::Count>(total);
    stmts_.data()[n_stmts_++] = static_cast<std::uint32_t>(n_ops_);
    done += k;
    // Only the whole sum's value is known (values are kept only in teaching mode, which records
    // a Sum term by term; this is for keep_values switched on after the Sum started).
    if (keep_values_)
      values_.data()[n_ops_] = done == n ? value : std::numeric_limits<double>::quiet_NaN();
    n_args_ += total;
    prev = static_cast<std::uint32_t>(n_ops_++);
    linked = true;
  }
  n_elementary_ += ops;
  last_stmt_ = prev;  // `f = s; f += term` may link to it
  return Real(this, prev, epoch_, value);
}

Sum::Sum(ScalarTape& tape)
    : tape_(&tape),
      scratch_(tape.acquire_sum()),
      epoch_(tape.epoch_),
      teaching_(tape.keeps_values()) {}

Sum& Sum::operator+=(double c) {
  if (teaching_) return *this += Real(c);
  value_ += c;
  return *this;
}

Sum& Sum::operator-=(double c) {
  if (teaching_) return *this -= Real(c);
  value_ -= c;
  return *this;
}

void detail::throw_sum_origin(bool same_tape) {
  if (!same_tape) throw TapeError("Sum: the term was recorded on another scalar tape than the sum's");
  throw TapeError(
      "Sum: a Real from an earlier recording was used after its tape was cleared; record the "
      "variables and the sum again after clear()");
}

void Sum::check_origin(const ScalarTape* tape, std::uint32_t epoch) {
  if (tape != tape_) detail::throw_sum_origin(false);
  if (epoch_ != tape_->epoch_ && n_ == 0) epoch_ = tape_->epoch_;  // nothing held yet: restart
  if (epoch != tape_->epoch_ || epoch_ != tape_->epoch_) detail::throw_sum_origin(true);
}

Real Sum::record() {
  if (teaching_) return running_.is_constant() ? Real(value_) : running_;
  if (n_ == 0) return Real(value_);
  if (epoch_ != tape_->epoch_)
    throw TapeError(
        "Sum: the tape was cleared after the terms were added; record the variables and the sum "
        "again after clear()");
  return tape_->record_sum(*scratch_, n_, value_, ops_);
}

// ---- the front door ----

void backward(const Real& y) {
  if (y.tape() == nullptr)
    throw TapeError("backward: the output is a constant (it depends on no variable)");
  y.tape()->backward(y);
}

double derivative(const Real& f, const Real& x) {
  backward(f);
  return x.adjoint();
}

std::vector<double> gradient(const Real& f, std::span<const Real> xs) {
  backward(f);
  std::vector<double> g(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) g[i] = xs[i].adjoint();
  return g;
}

std::vector<double> gradient(const Real& f) {
  backward(f);
  return f.tape()->variable_adjoints();
}

std::vector<std::vector<double>> jacobian(std::span<const Real> ys, std::span<const Real> xs) {
  std::vector<std::vector<double>> J(ys.size(), std::vector<double>(xs.size(), 0.0));
  for (std::size_t i = 0; i < ys.size(); ++i) {
    if (ys[i].is_constant()) continue;  // a constant output has a zero row
    ys[i].tape()->backward(ys[i]);
    for (std::size_t j = 0; j < xs.size(); ++j) J[i][j] = xs[j].adjoint();
  }
  return J;
}

}  // namespace ad
