// Selection by integer index: pick, the entry x[i, labels[i]] of each row (cross-entropy with
// integer labels). Its backward rule follows its forward.
#include <ad/ops.hpp>

#include "ops/kernels.hpp"

namespace ad {
using detail::Node;

template <class T> static void pick_backward(Tape<T>& t, Node<T>& n);
template <class T> static void pick_jvp(Tape<T>& t, Node<T>& n);
template <class T>
static const detail::OpRules<T> pick_rules{&pick_backward<T>, &pick_jvp<T>,
                                          &detail::linear_backward_tangent<T, &pick_backward<T>>};

template <class T>
Var<T> pick(const Var<T>& x, const std::vector<std::size_t>& labels) {
  using namespace detail;
  Tape<T>& t = x.tape();
  const auto& xs = t.checked(x, "pick").val().shape();
  if (xs.size() != 2 || xs[0] != labels.size())
    throw ShapeError(fmt::format("pick: needs a (n, k) matrix and n labels, got shape {} and {} labels",
                                 shape_str(xs), labels.size()));
  const std::size_t k = xs[1];
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= k)
      throw ValueError(fmt::format("pick: label {} at row {} is out of range for {} classes", labels[i], i, k));
  Var<T> out = t.record("pick", pick_rules<T>, {x}, xt::svector<std::size_t, 1>{labels.size()});
  auto& n = t.node(out.id());
  n.index.assign(labels.begin(), labels.end());  // exact at any size (a float would not be)
  const T* in = t.node(x.id()).val().data();
  for (std::size_t i = 0; i < labels.size(); ++i) n.value.data()[i] = in[i * k + labels[i]];
  return done(t, out);
}

// y[i] = x[i, label_i]:  dx[i, label_i] = g[i], with the labels kept in n.index
template <class T>
static void pick_backward(Tape<T>& t, Node<T>& n) {
  const std::size_t k = t.node(n.in[0]).val().shape()[1];
  const T* g = n.grad.data();
  T* gx = detail::grad_for_scatter(t, n.in[0]);
  for (std::size_t i = 0; i < n.index.size(); ++i) gx[i * k + n.index[i]] += g[i];
}

// linear:  y'[i] = x'[i, label_i]
template <class T>
static void pick_jvp(Tape<T>& t, Node<T>& n) {
  const std::size_t k = t.node(n.in[0]).val().shape()[1];
  const T* xd = detail::tangent_of(t, n.in[0]);
  T* yd = detail::tangent_out(n);
  for (std::size_t i = 0; i < n.index.size(); ++i) yd[i] = xd[i * k + n.index[i]];
}

template Var<float> pick<float>(const Var<float>&, const std::vector<std::size_t>&);
template Var<double> pick<double>(const Var<double>&, const std::vector<std::size_t>&);

}  // namespace ad
