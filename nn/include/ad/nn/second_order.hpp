// Second derivatives of a network's loss with respect to its parameters: Hessian-vector products
// and, for small models, the whole Hessian (Newton's method). The loss is any function that
// records it on a tape from the parameters' leaves (Parameter::on); the products come from the
// tape's forward-over-reverse sweep (Tape::hvp), so they hold through every op the tape has.
//
//     auto loss = [&](ad::Tape<double>& t) {
//       return ad::nn::cross_entropy(model(t.constant(X)), labels);  // layers call p->on(t)
//     };
//     auto hv = ad::nn::hvp(model.parameters(), loss, v);  // one block per parameter, as v
#pragma once

#include <ad/nn/parameter.hpp>

#include <functional>
#include <vector>

namespace ad::nn {

/// Records the loss on the tape it is given (a fresh recording) and returns it.
template <class T>
using LossFn = std::function<Var<T>(Tape<T>&)>;

/// What hvp() gives: the loss, its gradient and H v, one block per parameter, in order.
template <class T>
struct HvpResult {
  T loss = 0;
  std::vector<xt::xarray<T>> gradient;
  std::vector<xt::xarray<T>> hvp;
};

/// H v for the Hessian H of loss(params) at the parameters' current values, v given as one block
/// of each parameter's shape. About three gradients' cost. Parameters' grad buffers are left
/// alone. `tape` is cleared and reused (pass the same one each call: no allocation after the
/// first).
template <class T>
HvpResult<T> hvp(const std::vector<Parameter<T>*>& params, const LossFn<T>& loss,
                 const std::vector<xt::xarray<T>>& v, Tape<T>& tape);
template <class T>
HvpResult<T> hvp(const std::vector<Parameter<T>*>& params, const LossFn<T>& loss,
                 const std::vector<xt::xarray<T>>& v) {
  Tape<T> tape;
  return hvp(params, loss, v, tape);
}

/// The Hessian of loss(params), N x N for the N parameter values flattened in order (the order of
/// params, each row-major), one hvp per column: for small models.
template <class T>
xt::xarray<T> hessian(const std::vector<Parameter<T>*>& params, const LossFn<T>& loss);

/// The parameters' values (or any blocks) as one flat vector, and back: for methods that see the
/// parameters as one vector x (Newton, L-BFGS).
template <class T>
xt::xarray<T> flatten_blocks(const std::vector<xt::xarray<T>>& blocks);
template <class T>
xt::xarray<T> flatten_values(const std::vector<Parameter<T>*>& params);
template <class T>
void unflatten_into(const xt::xarray<T>& flat, const std::vector<Parameter<T>*>& params);

}  // namespace ad::nn
