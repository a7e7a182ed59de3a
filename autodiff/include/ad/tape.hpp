// The tape: a flat, append-only array of nodes, and Var, the handle to one node.
//
// Every operation on Vars appends a node (op name, input ids, attributes, value) to the tape of
// its inputs. Recording order is a topological order, so the reverse sweep is one loop from the
// output down: seed the output's adjoint with 1 and let each node's backward rule add its
// contribution into its inputs' adjoints (`+=`, so a value used twice gets both).
//
// Memory: clear() forgets the nodes but keeps their buffers; the next recording of the same
// computation reuses them, so a training loop stops allocating after its first step.
//
// A Var is {tape, id, epoch}. Using a Var after its tape was cleared, or mixing Vars of two tapes,
// throws ad::TapeError instead of reading freed memory.
//
// Values are xt::xarray<T> for T = float or double; a 0-d array is a scalar. For scalar functions
// that must run fast, use the scalar tape in <ad/scalar.hpp> instead.
#pragma once

#include <ad/error.hpp>

#include <fmt/format.h>

#include <ad/config.hpp>  // first: pins the array types

#include <xtensor/xarray.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

namespace ad {

template <class T>
class Tape;
template <class T>
class Var;

/// How backward() hands a parameter leaf's adjoint to its gradient sink (Tape::parameter).
enum class SinkMode {
  accumulate,  ///< add into the sink, as PyTorch's .grad (the default)
  /// overwrite every sink of a parameter leaf recorded on the tape with this sweep's adjoint, or
  /// zeros if the sweep did not reach it (leaves sharing a sink still add up): what zero_grad()
  /// then backward() leave, without the zero-fill pass and the reread of the sink
  assign
};

using Shape = std::vector<std::size_t>;

/// "(3, 4)" — how every error message prints a shape.
std::string shape_str(const Shape& s);
template <class S>
std::string shape_str(const S& s) {
  return shape_str(Shape(s.begin(), s.end()));
}

namespace detail {

template <class T>
struct Node;

/// A backward rule: reads the node's adjoint, inputs and value from the tape and adds into the
/// inputs' adjoints.
template <class T>
using BackwardFn = void (*)(Tape<T>&, Node<T>&);

/// An op's rules beyond its forward, kept side by side in the op's file:
/// - backward: adds the node's adjoint g times the op's Jacobian into its inputs' adjoints;
/// - jvp: the forward-mode rule, fills the node's tangent from its inputs' tangents (an input
///   the sweep does not visit has tangent zero);
/// - backward_tangent: the tangent of backward: adds d/dt of the inputs' adjoint contributions
///   (from the node's adjoint tangent and from the tangents of the values backward reads) into
///   the inputs' adjoint tangents. With jvp it gives Hessian-vector products (forward over
///   reverse). For an op linear in its input it is backward applied to the adjoint tangent.
/// A null jvp or backward_tangent makes jvp()/hvp() throw naming the op.
template <class T>
struct OpRules {
  BackwardFn<T> backward = nullptr;
  BackwardFn<T> jvp = nullptr;
  BackwardFn<T> backward_tangent = nullptr;
};

/// One recorded operation. Buffers (value, grad, aux, index) survive Tape::clear() for reuse.
template <class T>
struct Node {
  const char* op = "";                 // name, for errors and printouts
  BackwardFn<T> backward = nullptr;    // null for leaves and nodes that need no gradient
  const OpRules<T>* rules = nullptr;   // every rule of the op (null for leaves and custom ops)
  std::uint32_t in[3] = {0, 0, 0};     // input ids (n_in of them)
  std::uint8_t n_in = 0;
  bool requires_grad = false;          // some input (transitively) is a variable
  bool has_grad = false;               // grad holds a contribution of the current sweep
  bool active = false;                 // visited by the current sweep
  bool has_grad_tangent = false;       // grad_tangent holds a contribution of the current hvp sweep
  bool grad_in_sink = false;           // backward(assign) lent this leaf's sink as its adjoint buffer:
                                       // the adjoint is in *sink (Var::grad reads it there)
  int axis = 0;                        // axis ops (reductions, softmax, slice): the axis, >= 0
  double scale = 1;                    // sum and mean: the factor of the sum (1, or 1/n)
  std::size_t start = 0;               // slice: the first index taken along the axis
  double rule_params[2] = {0, 0};      // an elementwise rule's parameters (slope, bounds, exponent)
  const xt::xarray<T>* external = nullptr;  // a parameter's storage, read without copying
  xt::xarray<T>* sink = nullptr;       // a parameter's gradient: backward() adds the adjoint here
  xt::xarray<T> value;
  xt::xarray<T> grad;
  xt::xarray<T> aux;                   // saved numbers (log_softmax: softmax; elementwise: partials)
  std::vector<std::size_t> index;      // saved integers, exact at any size (pick: labels; max: argmax)
  xt::xarray<T> tangent;               // jvp/hvp: d value / dt along the requested direction
  xt::xarray<T> grad_tangent;          // hvp: d grad / dt

  const xt::xarray<T>& val() const { return external ? *external : value; }
};

/// A new recording's epoch, unique across every tensor tape of the process, so a handle of a
/// tape that was destroyed never passes for one of a new tape at the same address.
std::uint32_t next_tape_epoch();

/// Depth of the no-gradient scope on this thread.
int& no_grad_depth();
/// Depth of the anomaly-mode scope on this thread.
int& anomaly_depth();

}  // namespace detail

/// While alive, operations record values only: results need no gradient and are never traced
/// into (as torch.no_grad()). Nests; per thread.
class NoGradGuard {
 public:
  NoGradGuard() { ++detail::no_grad_depth(); }
  ~NoGradGuard() { --detail::no_grad_depth(); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;
};
/// True inside a NoGradGuard on this thread.
inline bool grad_enabled() { return detail::no_grad_depth() == 0; }

/// While alive, every tape used on this thread runs in anomaly mode (Tape::set_anomaly_mode),
/// including tapes you do not see, such as those of nn::fit and nn::Trainer (as
/// torch.autograd.detect_anomaly()). Nests; per thread.
class AnomalyModeGuard {
 public:
  AnomalyModeGuard() { ++detail::anomaly_depth(); }
  ~AnomalyModeGuard() { --detail::anomaly_depth(); }
  AnomalyModeGuard(const AnomalyModeGuard&) = delete;
  AnomalyModeGuard& operator=(const AnomalyModeGuard&) = delete;
};

/// Handle to a node of a Tape. Cheap to copy; valid until the tape is cleared.
template <class T>
class Var {
 public:
  using value_type = T;
  Var() = default;

  /// The node's value (throws TapeError if the handle is stale or empty).
  const xt::xarray<T>& value() const;
  /// The node's adjoint after a sweep; zeros of the value's shape if nothing reached it.
  const xt::xarray<T>& grad() const;
  /// The single value of a node with one element.
  T item() const;
  const auto& shape() const { return value().shape(); }
  std::size_t dim() const { return value().dimension(); }
  std::size_t size() const { return value().size(); }
  bool requires_grad() const;
  /// Name of the op that produced this node ("variable", "constant", "matmul", ...).
  const char* op() const;

  Tape<T>& tape() const;
  std::uint32_t id() const { return id_; }
  bool valid() const;
  /// A live handle of `t`'s current recording (never reads a tape other than `t`, so it is safe
  /// even when the handle's own tape no longer exists).
  bool belongs_to(const Tape<T>& t) const { return tape_ == &t && epoch_ == t.epoch() && id_ < t.size(); }

 private:
  friend class Tape<T>;
  Var(Tape<T>* t, std::uint32_t id, std::uint32_t epoch) : tape_(t), id_(id), epoch_(epoch) {}
  Tape<T>* tape_ = nullptr;
  std::uint32_t id_ = 0;
  std::uint32_t epoch_ = 0;
};

template <class T>
class Tape {
 public:
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "ad::Tape is instantiated for float and double");
  Tape() = default;
  Tape(const Tape&) = delete;  // Vars point at their tape
  Tape& operator=(const Tape&) = delete;

  /// A leaf that needs a gradient (copied into the tape).
  Var<T> variable(const xt::xarray<T>& value);
  Var<T> variable(T value);
  /// A leaf that needs no gradient.
  Var<T> constant(const xt::xarray<T>& value);
  Var<T> constant(T value);
  /// A leaf that needs no gradient and reads `storage` in place, without copying (a minibatch
  /// held by the caller: the training loop's input). `storage` must stay alive and unchanged
  /// until clear(); constant() copies instead.
  Var<T> constant_ref(const xt::xarray<T>& storage);
  /// A leaf needing a gradient that reads `storage` in place, without copying (for parameters
  /// that outlive the tape). `storage` must stay alive and unchanged until clear(). With
  /// `grad_sink`, every backward() that reaches the leaf adds its adjoint into *grad_sink
  /// (PyTorch's .grad: contributions accumulate across backward calls until the owner zeroes
  /// it; a sink of another shape is first reset to zeros of the storage's shape). Record such a
  /// leaf once per recording and use the handle everywhere: all its uses then add up in one
  /// adjoint before it reaches the sink.
  Var<T> parameter(const xt::xarray<T>& storage, xt::xarray<T>* grad_sink = nullptr);

  /// Reverse sweep from scalar `y`: afterwards every variable (and intermediate) leading to `y`
  /// has its adjoint in .grad(), and parameters' sinks have received theirs. Adjoints on the
  /// tape start from zero at every sweep; sinks accumulate.
  void backward(const Var<T>& y);
  /// backward(y), handing the parameters' adjoints to their sinks as `sinks` says.
  void backward(const Var<T>& y, SinkMode sinks);
  /// Reverse sweep seeding `y` with `seed` (same shape as y): a vector-Jacobian product.
  void backward(const Var<T>& y, const xt::xarray<T>& seed);
  /// dy/dx for each x, visiting only the nodes that lie between them and y (as
  /// torch.autograd.grad: parameters' sinks are left alone).
  std::vector<xt::xarray<T>> grad(const Var<T>& y, const std::vector<Var<T>>& xs);

  // ---- second order: forward mode and Hessian-vector products (<ad/tape.hpp>, tape/second.cpp)
  /// Forward mode (a Jacobian-vector product, as torch.func.jvp): the derivative of y (any
  /// shape) at the recorded point along the direction that moves each xs[i] by vs[i] (one vs[i]
  /// of xs[i]'s shape each). One forward sweep over the recording, no re-evaluation.
  xt::xarray<T> jvp(const Var<T>& y, const std::vector<Var<T>>& xs, const std::vector<xt::xarray<T>>& vs);
  /// Hessian-vector product of scalar y (as torch.autograd.functional.hvp): with H the Hessian of
  /// y with respect to all of xs together, the blocks of H v, one per xs[i], for the direction
  /// v = (vs[0], vs[1], ...). Forward over reverse: a jvp sweep, then a reverse sweep that carries
  /// every adjoint and its tangent; costs about 3 gradients. The gradient comes along: if
  /// `gradient` is given it receives dy/dxs[i]. Parameters' gradient sinks are left alone.
  std::vector<xt::xarray<T>> hvp(const Var<T>& y, const std::vector<Var<T>>& xs,
                                 const std::vector<xt::xarray<T>>& vs,
                                 std::vector<xt::xarray<T>>* gradient = nullptr);
  /// The full Hessian of scalar y with respect to xs, flattened and concatenated in order (N x N
  /// for N entries in all), one hvp per column: for small N (Newton's method). Symmetric up to
  /// rounding; the exact mean of H and H^T is returned.
  xt::xarray<T> hessian(const Var<T>& y, const std::vector<Var<T>>& xs);

  /// Forget every node, keeping their memory for the next recording. Existing Vars go stale.
  void clear();
  /// Number of recorded nodes.
  std::size_t size() const { return size_; }
  /// Bytes held by node buffers, recorded or kept for reuse.
  std::size_t memory_bytes() const;

  /// Anomaly mode (as torch.autograd.detect_anomaly): every forward value and backward adjoint is
  /// checked, and the first NaN/Inf throws ValueError naming the op and node. Also on inside an
  /// AnomalyModeGuard on the calling thread.
  void set_anomaly_mode(bool on) { anomaly_ = on; }
  bool anomaly_mode() const { return anomaly_ || detail::anomaly_depth() > 0; }

  /// One line per node: id, op, inputs, shape, and (after a sweep) whether an adjoint arrived.
  std::string to_string() const;

  // ---- for op implementations (autodiff/src); not needed by users ----
  detail::Node<T>& node(std::uint32_t id) { return nodes_[id]; }
  const detail::Node<T>& node(std::uint32_t id) const { return nodes_[id]; }
  /// Checks that v is a live handle of this tape; returns its node.
  detail::Node<T>& checked(const Var<T>& v, const char* op);
  /// Appends a node; its value is resized to `shape` (keeping the buffer if the size matches).
  /// `shape` may be a reference into another node's value.
  /// The node gets a backward rule only if some input requires a gradient and grad is enabled.
  /// The op's rules (`rules` must outlive the tape: a static of the op's file).
  template <class S>
  Var<T> record(const char* op, const detail::OpRules<T>& rules, std::initializer_list<Var<T>> in,
                const S& shape);
  /// A custom op with only a backward rule (jvp and hvp through it throw).
  template <class S>
  Var<T> record(const char* op, detail::BackwardFn<T> backward, std::initializer_list<Var<T>> in,
                const S& shape);
  Var<T> handle(std::uint32_t id) { return Var<T>(this, id, epoch_); }
  /// Called by ops after computing a value (anomaly check).
  void after_forward(std::uint32_t id);
  std::uint32_t epoch() const { return epoch_; }

 private:
  friend class Var<T>;
  detail::Node<T>& push(const char* op);
  void activate_all();
  void seed_buffer(detail::Node<T>& y);
  void sweep(std::uint32_t y, std::uint32_t lowest);
  void after_backward(const detail::Node<T>& n);
  void flush_sinks(std::uint32_t y, SinkMode mode = SinkMode::accumulate);
  void lend_sinks();
  void return_sinks();
  std::uint32_t activate_from(const Var<T>& y, const std::vector<Var<T>>& xs, const char* op);
  void tangent_sweep(const Var<T>& y, const std::vector<Var<T>>& xs, const std::vector<xt::xarray<T>>& vs,
                     std::uint32_t lowest, const char* op);
  template <class S>
  Var<T> record_node(const char* op, detail::BackwardFn<T> backward, const detail::OpRules<T>* rules,
                     std::initializer_list<Var<T>> in, const S& shape);

  std::vector<detail::Node<T>> nodes_;
  std::size_t size_ = 0;
  std::uint32_t epoch_ = detail::next_tape_epoch();
  bool anomaly_ = false;
  std::vector<const xt::xarray<T>*> assigned_;  // flush_sinks(assign): sinks written this sweep
  std::vector<std::uint32_t> lent_;              // lend_sinks: per sink of assigned_, its only leaf (or none)
};

template <class T>
template <class S>
Var<T> Tape<T>::record(const char* op, const detail::OpRules<T>& rules, std::initializer_list<Var<T>> in,
                       const S& shape) {
  return record_node(op, rules.backward, &rules, in, shape);
}

template <class T>
template <class S>
Var<T> Tape<T>::record(const char* op, detail::BackwardFn<T> backward, std::initializer_list<Var<T>> in,
                       const S& shape) {
  return record_node(op, backward, nullptr, in, shape);
}

template <class T>
template <class S>
Var<T> Tape<T>::record_node(const char* op, detail::BackwardFn<T> backward, const detail::OpRules<T>* rules,
                            std::initializer_list<Var<T>> in, const S& shape) {
  bool req = false;
  std::uint32_t ids[3] = {0, 0, 0};
  std::uint8_t k = 0;
  if (in.size() > 3) throw TapeError(fmt::format("{}: a node takes at most 3 inputs", op));
  for (const auto& v : in) {
    req = checked(v, op).requires_grad || req;
    ids[k++] = v.id();
  }
  // copy the shape first: it may point into a node that push() moves when the tape grows
  const xt::svector<std::size_t, 8> dims(shape.begin(), shape.end());
  auto& n = push(op);
  n.n_in = k;
  n.in[0] = ids[0];
  n.in[1] = ids[1];
  n.in[2] = ids[2];
  n.requires_grad = req && grad_enabled();
  n.backward = n.requires_grad ? backward : nullptr;
  n.rules = rules;
  if (n.value.dimension() != dims.size() || !std::equal(dims.begin(), dims.end(), n.value.shape().begin()))
    n.value.resize(dims);
  return handle(static_cast<std::uint32_t>(size_ - 1));
}

/// Convenience: backward(y) on y's tape.
template <class T>
void backward(const Var<T>& y) {
  y.tape().backward(y);
}
/// Convenience: the gradients of scalar y with respect to xs, in order.
template <class T>
std::vector<xt::xarray<T>> grad(const Var<T>& y, const std::vector<Var<T>>& xs) {
  return y.tape().grad(y, xs);
}
/// Convenience: Tape::jvp on y's tape.
template <class T>
xt::xarray<T> jvp(const Var<T>& y, const std::vector<Var<T>>& xs, const std::vector<xt::xarray<T>>& vs) {
  return y.tape().jvp(y, xs, vs);
}
/// Convenience: Tape::hvp on y's tape.
template <class T>
std::vector<xt::xarray<T>> hvp(const Var<T>& y, const std::vector<Var<T>>& xs,
                               const std::vector<xt::xarray<T>>& vs) {
  return y.tape().hvp(y, xs, vs);
}
/// Convenience: Tape::hessian on y's tape.
template <class T>
xt::xarray<T> hessian(const Var<T>& y, const std::vector<Var<T>>& xs) {
  return y.tape().hessian(y, xs);
}

extern template class Tape<float>;
extern template class Tape<double>;
extern template class Var<float>;
extern template class Var<double>;

}  // namespace ad
