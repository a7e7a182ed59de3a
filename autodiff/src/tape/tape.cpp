// The tape: recording, the reverse sweep, clearing with memory reuse.
#include <ad/tape.hpp>

#include "ops/kernels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <atomic>
#include <cmath>

namespace ad {

std::string shape_str(const Shape& s) {
  if (s.size() == 1) return fmt::format("({},)", s[0]);
  return fmt::format("({})", fmt::join(s, ", "));
}

namespace detail {
std::uint32_t next_tape_epoch() {
  static std::atomic<std::uint32_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
int& no_grad_depth() {
  thread_local int depth = 0;
  return depth;
}
int& anomaly_depth() {
  thread_local int depth = 0;
  return depth;
}
}  // namespace detail

// ---- Var -------------------------------------------------------------------------------------

template <class T>
bool Var<T>::valid() const {
  return tape_ && epoch_ == tape_->epoch_ && id_ < tape_->size_;
}

template <class T>
Tape<T>& Var<T>::tape() const {
  if (!tape_) throw TapeError("ad::Var: empty handle (default-constructed Var used in an operation)");
  return *tape_;
}

template <class T>
const xt::xarray<T>& Var<T>::value() const {
  return tape().checked(*this, "value").val();
}

template <class T>
const xt::xarray<T>& Var<T>::grad() const {
  auto& n = tape().checked(*this, "grad");
  if (n.grad_in_sink) return *n.sink;  // backward(y, SinkMode::assign) wrote it there directly
  if (!n.has_grad) {
    n.grad.resize(n.val().shape());
    std::fill(n.grad.begin(), n.grad.end(), T(0));
  }
  return n.grad;
}

template <class T>
T Var<T>::item() const {
  const auto& v = value();
  if (v.size() != 1)
    throw ShapeError(fmt::format("item: value has shape {} with {} entries; item() needs exactly one",
                                 shape_str(v.shape()), v.size()));
  return v.data()[0];
}

template <class T>
bool Var<T>::requires_grad() const {
  return tape().checked(*this, "requires_grad").requires_grad;
}

template <class T>
const char* Var<T>::op() const {
  return tape().checked(*this, "op").op;
}

// ---- Tape: recording -------------------------------------------------------------------------

template <class T>
detail::Node<T>& Tape<T>::checked(const Var<T>& v, const char* op) {
  if (v.tape_ == nullptr)
    throw TapeError(fmt::format("{}: empty handle (a default-constructed Var)", op));
  if (v.tape_ != this)
    throw TapeError(fmt::format("{}: the operands belong to different tapes; record a computation "
                                "on one tape (copy values across with constant() or variable())",
                                op));
  if (v.epoch_ != epoch_ || v.id_ >= size_)
    throw TapeError(fmt::format("{}: handle to node {} is stale: its tape was cleared after it was "
                                "recorded; record the value again after clear()",
                                op, v.id_));
  return nodes_[v.id_];
}

template <class T>
detail::Node<T>& Tape<T>::push(const char* op) {
  if (size_ == nodes_.size()) nodes_.emplace_back();
  auto& n = nodes_[size_++];
  n.op = op;
  n.backward = nullptr;
  n.rules = nullptr;
  n.n_in = 0;
  n.requires_grad = false;
  n.has_grad = false;
  n.has_grad_tangent = false;
  n.grad_in_sink = false;
  n.active = false;
  n.axis = 0;
  n.scale = 1;
  n.start = 0;
  n.index.clear();  // keeps its capacity
  n.rule_params[0] = n.rule_params[1] = 0;
  n.external = nullptr;
  n.sink = nullptr;
  return n;
}

namespace {
// "NaN", "inf" or "-inf", for anomaly messages.
template <class T>
std::string non_finite(T v) {
  return std::isnan(v) ? std::string("NaN") : fmt::format("{}", v);
}

template <class T>
void copy_into(xt::xarray<T>& dst, const xt::xarray<T>& src) {
  if (dst.dimension() != src.dimension() ||
      !std::equal(src.shape().begin(), src.shape().end(), dst.shape().begin()))
    dst.resize(src.shape());
  std::copy(src.data(), src.data() + src.size(), dst.data());
}
}  // namespace

template <class T>
Var<T> Tape<T>::variable(const xt::xarray<T>& value) {
  auto& n = push("variable");
  n.requires_grad = grad_enabled();
  copy_into(n.value, value);
  return handle(static_cast<std::uint32_t>(size_ - 1));
}

template <class T>
Var<T> Tape<T>::constant(const xt::xarray<T>& value) {
  auto& n = push("constant");
  copy_into(n.value, value);
  return handle(static_cast<std::uint32_t>(size_ - 1));
}

template <class T>
Var<T> Tape<T>::constant_ref(const xt::xarray<T>& storage) {
  auto& n = push("constant");
  n.external = &storage;
  return handle(static_cast<std::uint32_t>(size_ - 1));
}

template <class T>
Var<T> Tape<T>::variable(T value) {
  auto& n = push("variable");
  n.requires_grad = grad_enabled();
  if (n.value.dimension() != 0) n.value.resize(std::vector<std::size_t>{});
  n.value.data()[0] = value;
  return handle(static_cast<std::uint32_t>(size_ - 1));
}

template <class T>
Var<T> Tape<T>::constant(T value) {
  auto& n = push("constant");
  if (n.value.dimension() != 0) n.value.resize(std::vector<std::size_t>{});
  n.value.data()[0] = value;
  return handle(static_cast<std::uint32_t>(size_ - 1));
}

template <class T>
Var<T> Tape<T>::parameter(const xt::xarray<T>& storage, xt::xarray<T>* grad_sink) {
  auto& n = push("parameter");
  n.requires_grad = grad_enabled();
  n.external = &storage;
  n.sink = grad_sink;
  return handle(static_cast<std::uint32_t>(size_ - 1));
}

template <class T>
void Tape<T>::after_forward(std::uint32_t id) {
  if (!anomaly_mode()) return;
  const auto& n = nodes_[id];
  const auto& v = n.val();
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v.data()[i]))
      throw ValueError(fmt::format("anomaly: forward of {} (node {}) produced {} at flat index {} "
                                   "of shape {}",
                                   n.op, id, non_finite(v.data()[i]), i, shape_str(v.shape())));
}

template <class T>
void Tape<T>::after_backward(const detail::Node<T>& n) {
  for (int k = 0; k < n.n_in; ++k) {
    const auto& in = nodes_[n.in[k]];
    if (!in.has_grad) continue;
    for (std::size_t i = 0; i < in.grad.size(); ++i)
      if (!std::isfinite(in.grad.data()[i]))
        throw ValueError(fmt::format("anomaly: backward of {} (node {}) produced {} in the adjoint "
                                     "of its input {} ({}, node {})",
                                     n.op, &n - nodes_.data(), non_finite(in.grad.data()[i]), k, in.op,
                                     n.in[k]));
  }
}

// ---- Tape: the reverse sweep -----------------------------------------------------------------

// The one reverse loop, used by backward() and grad(): from y down to node `lowest`, every node
// the sweep visits (active) that an adjoint reached runs its backward rule.
template <class T>
void Tape<T>::sweep(std::uint32_t y, std::uint32_t lowest) {
  const bool anomaly = anomaly_mode();
  for (std::uint32_t i = y + 1; i-- > lowest;) {
    auto& n = nodes_[i];
    if (!n.active || !n.has_grad || !n.backward) continue;
    n.backward(*this, n);
    if (anomaly) after_backward(n);
  }
}

// Gives y an adjoint buffer of its shape, to be filled with the seed; no other node has one yet.
template <class T>
void Tape<T>::seed_buffer(detail::Node<T>& y) {
  detail::resize_to(y.grad, y.val().shape());
  y.has_grad = true;
}

template <class T>
void Tape<T>::backward(const Var<T>& y) {
  backward(y, SinkMode::accumulate);
}

template <class T>
void Tape<T>::backward(const Var<T>& y, SinkMode sinks) {
  auto& ny = checked(y, "backward");
  if (ny.val().size() != 1)
    throw TapeError(fmt::format("backward: the output has shape {}; backward() needs a single value "
                                "(reduce it with sum() or mean(), or pass a seed of that shape)",
                                shape_str(ny.val().shape())));
  activate_all();
  if (sinks == SinkMode::assign) lend_sinks();
  seed_buffer(ny);
  ny.grad.data()[0] = T(1);
  try {
    sweep(y.id(), 0);
  } catch (...) {
    return_sinks();
    throw;
  }
  return_sinks();
  flush_sinks(y.id(), sinks);
}

// SinkMode::assign writes the gradient of a parameter recorded once straight into its sink: the
// sink's buffer is swapped in as the leaf's adjoint buffer for the sweep (an O(1) swap of the two
// arrays), so the first contribution (matmul's sgemm with beta = 0, say) lands in the sink and no
// copy follows. A sink shared by several leaves is not lent: flush_sinks adds those up as before.
template <class T>
void Tape<T>::lend_sinks() {
  assigned_.clear();  // keep their capacity: no allocation after the first sweep
  lent_.clear();
  constexpr std::uint32_t shared = std::numeric_limits<std::uint32_t>::max();
  for (std::size_t i = 0; i < size_; ++i) {
    if (!nodes_[i].sink) continue;
    const auto at = std::find(assigned_.begin(), assigned_.end(), nodes_[i].sink);
    if (at == assigned_.end()) {
      assigned_.push_back(nodes_[i].sink);
      lent_.push_back(static_cast<std::uint32_t>(i));
    } else {
      lent_[static_cast<std::size_t>(at - assigned_.begin())] = shared;
    }
  }
  for (std::uint32_t i : lent_) {
    if (i == shared) continue;
    auto& n = nodes_[i];
    std::swap(n.grad, *n.sink);
    n.grad_in_sink = true;
  }
}

template <class T>
void Tape<T>::return_sinks() {
  for (std::uint32_t i : lent_) {
    if (i == std::numeric_limits<std::uint32_t>::max()) continue;
    auto& n = nodes_[i];
    std::swap(n.grad, *n.sink);
  }
  lent_.clear();
}

// Each parameter leaf reached by the sweep adds its adjoint (every use of it, summed) into its
// owner's gradient buffer. SinkMode::assign: the first leaf of each sink (in recording order)
// writes it instead, zeros when the sweep did not reach the leaf; later leaves of the same sink add.
template <class T>
void Tape<T>::flush_sinks(std::uint32_t y, SinkMode mode) {
  const bool assign = mode == SinkMode::assign;
  if (assign) assigned_.clear();  // keeps its capacity: no allocation after the first sweep
  const std::size_t last = assign ? size_ : std::size_t(y) + 1;
  for (std::size_t i = 0; i < last; ++i) {
    auto& n = nodes_[i];
    if (!n.sink) continue;
    const bool reached = n.has_grad && i <= y;
    if (n.grad_in_sink && reached) continue;  // the sweep wrote the sink itself (lend_sinks)
    bool first = false;
    if (assign && std::find(assigned_.begin(), assigned_.end(), n.sink) == assigned_.end()) {
      first = true;
      assigned_.push_back(n.sink);
    }
    if (!reached && !first) continue;
    xt::xarray<T>& g = *n.sink;
    const auto& v = n.val();
    if (g.dimension() != v.dimension() || !std::equal(v.shape().begin(), v.shape().end(), g.shape().begin())) {
      g.resize(v.shape());
      std::fill(g.begin(), g.end(), T(0));
    }
    T* out = g.data();
    const std::size_t size = g.size();
    if (first && !reached) {
      std::fill(out, out + size, T(0));
      continue;
    }
    const T* in = n.grad.data();
    if (first)
      std::copy(in, in + size, out);
    else
      for (std::size_t k = 0; k < size; ++k) out[k] += in[k];
  }
}

// backward() visits every node that requires a gradient; no adjoint has arrived anywhere yet.
template <class T>
void Tape<T>::activate_all() {
  for (std::size_t i = 0; i < size_; ++i) {
    nodes_[i].has_grad = false;
    nodes_[i].grad_in_sink = false;
    nodes_[i].active = nodes_[i].requires_grad;
  }
}

template <class T>
void Tape<T>::backward(const Var<T>& y, const xt::xarray<T>& seed) {
  auto& ny = checked(y, "backward");
  if (seed.size() != ny.val().size())
    throw ShapeError(fmt::format("backward: seed of shape {} does not match output of shape {}",
                                 shape_str(seed.shape()), shape_str(ny.val().shape())));
  activate_all();
  seed_buffer(ny);
  std::copy(seed.data(), seed.data() + seed.size(), ny.grad.data());
  sweep(y.id(), 0);
  flush_sinks(y.id());
}

// Marks active the nodes between the requested inputs xs and y: those that depend on an input
// that requires a gradient. Clears every adjoint. Returns the lowest node a sweep must visit.
template <class T>
std::uint32_t Tape<T>::activate_from(const Var<T>& y, const std::vector<Var<T>>& xs, const char* op) {
  checked(y, op);
  std::uint32_t lowest = y.id();
  for (auto& x : xs) lowest = std::min(lowest, checked(x, op).requires_grad ? x.id() : lowest);
  for (std::size_t i = 0; i < size_; ++i) {
    auto& n = nodes_[i];
    n.has_grad = n.has_grad_tangent = n.active = n.grad_in_sink = false;
  }
  for (auto& x : xs) nodes_[x.id()].active = nodes_[x.id()].requires_grad;
  for (std::uint32_t i = lowest; i <= y.id(); ++i) {
    auto& n = nodes_[i];
    if (n.active || !n.backward) continue;
    for (int k = 0; k < n.n_in; ++k) n.active = n.active || nodes_[n.in[k]].active;
  }
  return lowest;
}

template <class T>
std::vector<xt::xarray<T>> Tape<T>::grad(const Var<T>& y, const std::vector<Var<T>>& xs) {
  auto& ny = checked(y, "grad");
  if (ny.val().size() != 1)
    throw TapeError(fmt::format("grad: the output has shape {}; grad() needs a single value",
                                shape_str(ny.val().shape())));
  const std::uint32_t lowest = activate_from(y, xs, "grad");
  if (ny.active) {
    seed_buffer(ny);
    ny.grad.data()[0] = T(1);
    sweep(y.id(), lowest);
  }
  std::vector<xt::xarray<T>> out;
  out.reserve(xs.size());
  for (auto& x : xs) {
    auto& n = nodes_[x.id()];
    if (n.has_grad)
      out.push_back(n.grad);
    else
      out.push_back(xt::zeros<T>(n.val().shape()));
  }
  return out;
}

template <class T>
void Tape<T>::clear() {
  size_ = 0;
  epoch_ = detail::next_tape_epoch();
}

template <class T>
std::size_t Tape<T>::memory_bytes() const {
  std::size_t bytes = nodes_.capacity() * sizeof(detail::Node<T>);
  for (const auto& n : nodes_)
    bytes += (n.value.size() + n.grad.size() + n.aux.size() + n.tangent.size() + n.grad_tangent.size()) * sizeof(T) +
             n.index.capacity() * sizeof(std::size_t);
  return bytes;
}

template <class T>
std::string Tape<T>::to_string() const {
  std::string s;
  for (std::size_t i = 0; i < size_; ++i) {
    const auto& n = nodes_[i];
    std::string ins;
    for (int k = 0; k < n.n_in; ++k) ins += fmt::format("{}{}", k ? ", " : "", n.in[k]);
    s += fmt::format("{:>4}  {:<12} ({:<8}) shape {:<10} {}{}\n", i, n.op, ins,
                     shape_str(n.val().shape()), n.requires_grad ? "grad" : "const",
                     n.has_grad ? " adjoint" : "");
  }
  return s;
}

template class Tape<float>;
template class Tape<double>;
template class Var<float>;
template class Var<double>;

}  // namespace ad
