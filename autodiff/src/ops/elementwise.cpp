// ad::elementwise (<ad/elementwise.hpp>): the node's set-up and its backward rule. The forward
// loop is in the header, because it runs the user's function; it stores the value and, per input
// j, d value / d input j in the node's aux (K x size). Backward is grad_j += grad * partial_j,
// summed for an input with a single entry.
#include <ad/elementwise.hpp>

#include "ops/kernels.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace ad::detail {
namespace {

template <class T>
void elementwise_backward(Tape<T>& t, Node<T>& n) {
  const std::size_t size = n.value.size();
  const T* g = n.grad.data();
  for (std::uint8_t k = 0; k < n.n_in; ++k) {
    const T* p = n.aux.data() + k * size;
    if (t.node(n.in[k]).val().size() == size) {
      accumulate(t, n.in[k], [&](std::size_t i) { return g[i] * p[i]; });
    } else if (T* gi = grad_for_scatter(t, n.in[k])) {  // one entry, used for every entry
      gi[0] += sum_of<T>(size, [&](std::size_t i) { return g[i] * p[i]; });
    }
  }
}

// y = f(x_1, .., x_K):  y' = sum_j partial_j x_j'. Only first order: the partials are numbers
// saved by the forward, and f itself is not kept, so there is no backward_tangent (hvp throws).
template <class T>
void elementwise_jvp(Tape<T>& t, Node<T>& n) {
  const std::size_t size = n.value.size();
  T* yd = tangent_out(n);
  std::fill(yd, yd + size, T(0));
  for (std::uint8_t k = 0; k < n.n_in; ++k) {
    const T* xd = tangent_of(t, n.in[k]);
    if (!xd) continue;
    const T* p = n.aux.data() + k * size;
    const bool one = t.node(n.in[k]).val().size() != size;
    for (std::size_t i = 0; i < size; ++i) yd[i] += p[i] * xd[one ? 0 : i];
  }
}

template <class T>
const OpRules<T> elementwise_rules{&elementwise_backward<T>, &elementwise_jvp<T>, nullptr};

}  // namespace

template <class T>
ElementwisePlan<T> elementwise_begin(const Var<T>* in, std::size_t k) {
  static constexpr const char* name = "elementwise";
  if (k == 0 || k > 3) throw ValueError(fmt::format("{}: takes 1 to 3 inputs, got {}", name, k));
  Tape<T>& t = in[0].tape();
  // The result's shape: the inputs' one shape, where inputs with a single entry do not count (if
  // all have one entry: the shape with the most dimensions, as broadcasting would give).
  std::size_t widest = 0;
  for (std::size_t j = 0; j < k; ++j) {
    const auto& v = t.checked(in[j], name).val();
    const auto& w = t.node(in[widest].id()).val();
    if (v.size() > w.size() || (v.size() == w.size() && v.dimension() > w.dimension())) widest = j;
  }
  const auto& shape = t.node(in[widest].id()).val().shape();
  for (std::size_t j = 0; j < k; ++j) {
    const auto& v = t.node(in[j].id()).val();
    if (v.size() != 1 && !std::equal(shape.begin(), shape.end(), v.shape().begin(), v.shape().end())) {
      std::string shapes;
      for (std::size_t i = 0; i < k; ++i)
        shapes += (i ? " and " : "") + shape_str(t.node(in[i].id()).val().shape());
      throw ShapeError(fmt::format("{}: inputs have shapes {}; they must have one shape (an input "
                                   "with a single entry is used for every entry)",
                                   name, shapes));
    }
  }
  ElementwisePlan<T> p;
  p.out = k == 1 ? t.record(name, elementwise_rules<T>, {in[0]}, shape)
        : k == 2 ? t.record(name, elementwise_rules<T>, {in[0], in[1]}, shape)
                 : t.record(name, elementwise_rules<T>, {in[0], in[1], in[2]}, shape);
  auto& n = t.node(p.out.id());
  p.size = n.value.size();
  p.y = n.value.data();
  for (std::size_t j = 0; j < k; ++j) {
    const auto& v = t.node(in[j].id()).val();
    p.in[j] = v.data();
    p.scalar[j] = v.size() != p.size;
    p.all_full = p.all_full && !p.scalar[j];
  }
  if (n.requires_grad) {
    resize_to(n.aux, std::array<std::size_t, 2>{k, p.size});
    p.partials = n.aux.data();
  }
  return p;
}

template <class T>
Var<T> elementwise_end(const ElementwisePlan<T>& plan) {
  return done(plan.out.tape(), plan.out);
}

template ElementwisePlan<float> elementwise_begin<float>(const Var<float>*, std::size_t);
template ElementwisePlan<double> elementwise_begin<double>(const Var<double>*, std::size_t);
template Var<float> elementwise_end<float>(const ElementwisePlan<float>&);
template Var<double> elementwise_end<double>(const ElementwisePlan<double>&);

}  // namespace ad::detail
