// Parameter: storage outside the tape; see parameter.hpp.
#include <ad/nn/parameter.hpp>

#include <algorithm>

namespace ad::nn {

template <class T>
Parameter<T>::Parameter(std::string n, const std::vector<std::size_t>& shape, bool d)
    : name(n), local_name(std::move(n)), value(xt::xarray<T>::from_shape(shape)), grad(xt::xarray<T>::from_shape(shape)),
      decay(d) {
  std::fill(value.begin(), value.end(), T(0));
  std::fill(grad.begin(), grad.end(), T(0));
}

template <class T>
Var<T> Parameter<T>::on(Tape<T>& tape) {
  // One leaf per recording: the handle is reused while it belongs to this tape's current
  // recording (epochs are unique across tapes, so a destroyed tape's handle never matches).
  if (var.belongs_to(tape)) return var;
  var = tape.parameter(value, &grad);
  return var;
}

template <class T>
void Parameter<T>::zero_grad() {
  std::fill(grad.begin(), grad.end(), T(0));
}

template struct Parameter<float>;
template struct Parameter<double>;

}  // namespace ad::nn
