// Parameter: storage outside the tape; see parameter.hpp.
#include <ad/nn/parameter.hpp>

#include <algorithm>

namespace ad::nn {

template <class T>
Parameter<T>::Parameter(std::string n, const std::vector<std::size_t>& shape, bool d)
    : name(std::move(n)), value(xt::xarray<T>::from_shape(shape)), grad(xt::xarray<T>::from_shape(shape)),
      decay(d) {
  std::fill(value.begin(), value.end(), T(0));
  std::fill(grad.begin(), grad.end(), T(0));
}

template <class T>
Var<T> Parameter<T>::record(Tape<T>& tape) {
  var = tape.parameter(value);
  return var;
}

template <class T>
Var<T> Parameter<T>::on(Tape<T>& tape) {
  if (var.valid() && &var.tape() == &tape) return var;
  return record(tape);
}

template <class T>
void Parameter<T>::collect_grad() {
  if (grad.size() != value.size() || grad.dimension() != value.dimension()) grad.resize(value.shape());
  if (!var.valid()) {
    std::fill(grad.begin(), grad.end(), T(0));
    return;
  }
  const auto& n = var.tape().node(var.id());
  if (n.has_grad && n.grad.size() == grad.size())
    std::copy(n.grad.data(), n.grad.data() + grad.size(), grad.data());
  else
    std::fill(grad.begin(), grad.end(), T(0));
}

template <class T>
void Parameter<T>::zero_grad() {
  std::fill(grad.begin(), grad.end(), T(0));
}

template struct Parameter<float>;
template struct Parameter<double>;

}  // namespace ad::nn
