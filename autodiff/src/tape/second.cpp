// Second order on the tensor tape: forward mode (jvp) and Hessian-vector products (hvp), and the
// Hessian built from them. Both reuse the recording as it is: nothing is evaluated again.
//
// jvp: one forward sweep. Each node between the inputs xs and y gets a tangent, d value / dt
// along the direction, from its inputs' tangents by its op's jvp rule.
//
// hvp (forward over reverse, as Pearlmutter's R-operator): the jvp sweep, then the reverse sweep
// of backward() in which every node also carries the tangent of its adjoint. The tangent of
// (adjoint of x) is (H v) for x an input, since the adjoint of x is dy/dx and the tangent is its
// derivative along v. Each op's backward_tangent rule is the tangent of its backward rule.
#include <ad/tape.hpp>

#include "ops/kernels.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace ad {

namespace {
template <class T>
const detail::OpRules<T>& rules_for(const detail::Node<T>& n, std::uint32_t id, const char* op, bool hvp) {
  const bool ok = n.rules && n.rules->jvp && (!hvp || n.rules->backward_tangent);
  if (!ok)
    throw TapeError(fmt::format("{}: the op {} (node {}) has no {} rule; {} goes through the ops of "
                                "<ad/ops.hpp> (ad::elementwise and custom ops are first-order only)",
                                op, n.op, id, hvp && n.rules && n.rules->jvp ? "second-order" : "forward-mode",
                                op));
  return *n.rules;
}
}  // namespace

// Seeds each requested input with its direction and runs every active node's jvp rule, in
// recording order. An input listed twice gets the sum of its directions. An input is treated as
// independent even if it was computed from others.
template <class T>
void Tape<T>::tangent_sweep(const Var<T>& y, const std::vector<Var<T>>& xs, const std::vector<xt::xarray<T>>& vs,
                            std::uint32_t lowest, const char* op) {
  if (xs.size() != vs.size())
    throw ShapeError(fmt::format("{}: {} inputs but {} directions; give one direction per input", op,
                                 xs.size(), vs.size()));
  std::vector<char> seeded(y.id() + 1 - lowest, 0);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    auto& n = nodes_[xs[i].id()];
    const auto& shape = n.val().shape();
    if (!std::equal(shape.begin(), shape.end(), vs[i].shape().begin(), vs[i].shape().end()))
      throw ShapeError(fmt::format("{}: the direction for input {} has shape {}, the input has shape {}", op, i,
                                   shape_str(vs[i].shape()), shape_str(shape)));
    if (!n.requires_grad)
      throw ValueError(fmt::format("{}: input {} ({}, node {}) is a constant; directions are for values "
                                   "recorded with variable() or parameter()",
                                   op, i, n.op, xs[i].id()));
    if (xs[i].id() > y.id()) continue;  // recorded after y: y does not depend on it
    char& s = seeded[xs[i].id() - lowest];
    if (!s) {
      detail::resize_to(n.tangent, shape);
      std::fill(n.tangent.begin(), n.tangent.end(), T(0));
      s = 1;
    }
    T* d = n.tangent.data();
    const T* v = vs[i].data();
    for (std::size_t k = 0; k < vs[i].size(); ++k) d[k] += v[k];
  }
  // Only nodes on a path from the inputs to y matter: the others (active because they depend on
  // an input) are switched off, so neither their rules nor their cost come into it.
  std::vector<char> needed(y.id() + 1 - lowest, 0);
  needed[y.id() - lowest] = 1;
  for (std::uint32_t i = y.id() + 1; i-- > lowest;) {
    auto& n = nodes_[i];
    if (!needed[i - lowest] || !n.active) {
      n.active = false;
      continue;
    }
    if (seeded[i - lowest]) continue;
    for (int k = 0; k < n.n_in; ++k)
      if (n.in[k] >= lowest) needed[n.in[k] - lowest] = 1;
  }
  const bool hvp = std::string_view(op) == "hvp";
  for (std::uint32_t i = lowest; i <= y.id(); ++i)  // fail before any work
    if (nodes_[i].active && !seeded[i - lowest]) rules_for(nodes_[i], i, op, hvp);
  for (std::uint32_t i = lowest; i <= y.id(); ++i) {
    auto& n = nodes_[i];
    if (!n.active || seeded[i - lowest]) continue;
    n.rules->jvp(*this, n);
  }
}

template <class T>
xt::xarray<T> Tape<T>::jvp(const Var<T>& y, const std::vector<Var<T>>& xs, const std::vector<xt::xarray<T>>& vs) {
  const std::uint32_t lowest = activate_from(y, xs, "jvp");
  tangent_sweep(y, xs, vs, lowest, "jvp");
  const auto& ny = nodes_[y.id()];
  if (!ny.active) return xt::zeros<T>(ny.val().shape());
  return ny.tangent;
}

template <class T>
std::vector<xt::xarray<T>> Tape<T>::hvp(const Var<T>& y, const std::vector<Var<T>>& xs,
                                        const std::vector<xt::xarray<T>>& vs,
                                        std::vector<xt::xarray<T>>* gradient) {
  auto& ny = checked(y, "hvp");
  if (ny.val().size() != 1)
    throw TapeError(fmt::format("hvp: the output has shape {}; hvp() needs a single value (reduce it "
                                "with sum() or mean())",
                                shape_str(ny.val().shape())));
  const std::uint32_t lowest = activate_from(y, xs, "hvp");
  tangent_sweep(y, xs, vs, lowest, "hvp");
  if (ny.active) {
    seed_buffer(ny);
    ny.grad.data()[0] = T(1);
    // y's adjoint is the constant 1: its tangent is 0
    for (std::uint32_t i = y.id() + 1; i-- > lowest;) {
      auto& n = nodes_[i];
      if (!n.active || !n.has_grad || !n.backward) continue;
      n.backward(*this, n);
      if (!n.has_grad_tangent) {
        detail::resize_to(n.grad_tangent, n.val().shape());
        std::fill(n.grad_tangent.begin(), n.grad_tangent.end(), T(0));
        n.has_grad_tangent = true;
      }
      n.rules->backward_tangent(*this, n);
    }
  }
  std::vector<xt::xarray<T>> out;
  out.reserve(xs.size());
  if (gradient) gradient->clear();
  for (auto& x : xs) {
    auto& n = nodes_[x.id()];
    out.push_back(n.has_grad_tangent ? n.grad_tangent : xt::xarray<T>(xt::zeros<T>(n.val().shape())));
    if (gradient) gradient->push_back(n.has_grad ? n.grad : xt::xarray<T>(xt::zeros<T>(n.val().shape())));
  }
  return out;
}

template <class T>
xt::xarray<T> Tape<T>::hessian(const Var<T>& y, const std::vector<Var<T>>& xs) {
  std::size_t total = 0;
  std::vector<xt::xarray<T>> vs;
  for (auto& x : xs) {
    vs.push_back(xt::zeros<T>(checked(x, "hessian").val().shape()));
    total += vs.back().size();
  }
  xt::xarray<T> h = xt::zeros<T>({total, total});
  std::size_t col = 0;
  for (std::size_t i = 0; i < xs.size(); ++i)
    for (std::size_t k = 0; k < vs[i].size(); ++k, ++col) {
      vs[i].data()[k] = T(1);
      const auto hv = hvp(y, xs, vs);
      vs[i].data()[k] = T(0);
      std::size_t row = 0;
      for (const auto& block : hv)
        for (std::size_t r = 0; r < block.size(); ++r) h(row++, col) = block.data()[r];
    }
  for (std::size_t r = 0; r < total; ++r)
    for (std::size_t c = r + 1; c < total; ++c) h(r, c) = h(c, r) = (h(r, c) + h(c, r)) / 2;
  return h;
}

#define AD_SECOND_ORDER(T)                                                                               \
  template void Tape<T>::tangent_sweep(const Var<T>&, const std::vector<Var<T>>&,                        \
                                       const std::vector<xt::xarray<T>>&, std::uint32_t, const char*);   \
  template xt::xarray<T> Tape<T>::jvp(const Var<T>&, const std::vector<Var<T>>&,                         \
                                      const std::vector<xt::xarray<T>>&);                                \
  template std::vector<xt::xarray<T>> Tape<T>::hvp(const Var<T>&, const std::vector<Var<T>>&,            \
                                                   const std::vector<xt::xarray<T>>&,                    \
                                                   std::vector<xt::xarray<T>>*);                         \
  template xt::xarray<T> Tape<T>::hessian(const Var<T>&, const std::vector<Var<T>>&);
AD_SECOND_ORDER(float)
AD_SECOND_ORDER(double)

}  // namespace ad
