// Hessian-vector products and Hessians of a loss with respect to a network's parameters, from
// the tape's forward-over-reverse sweep (see <ad/nn/second_order.hpp>).
#include <ad/nn/second_order.hpp>

#include <ad/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace ad::nn {

namespace {
// Records the loss and returns each parameter's leaf. A parameter the loss does not use gets its
// leaf recorded now: it is a constant of the loss, with zero derivatives.
template <class T>
std::vector<Var<T>> record(const std::vector<Parameter<T>*>& params, const LossFn<T>& loss, Tape<T>& tape,
                           Var<T>& y, const char* op) {
  if (params.empty()) throw ValueError(fmt::format("{}: the parameter list is empty", op));
  tape.clear();
  y = loss(tape);
  if (!y.belongs_to(tape))
    throw TapeError(fmt::format("{}: the loss function must record the loss on the tape it is given", op));
  if (y.size() != 1)
    throw ShapeError(fmt::format("{}: the loss has shape {}; it must be a single value", op, shape_str(y.shape())));
  std::vector<Var<T>> xs;
  for (auto* p : params) xs.push_back(p->on(tape));
  return xs;
}
}  // namespace

template <class T>
HvpResult<T> hvp(const std::vector<Parameter<T>*>& params, const LossFn<T>& loss,
                 const std::vector<xt::xarray<T>>& v, Tape<T>& tape) {
  if (v.size() != params.size())
    throw ShapeError(fmt::format("hvp: {} parameters but {} direction blocks", params.size(), v.size()));
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!std::equal(v[i].shape().begin(), v[i].shape().end(), params[i]->value.shape().begin(),
                    params[i]->value.shape().end()))
      throw ShapeError(fmt::format("hvp: direction block {} has shape {}, parameter {} has shape {}", i,
                                   shape_str(v[i].shape()), params[i]->name, shape_str(params[i]->value.shape())));
  Var<T> y;
  const auto xs = record(params, loss, tape, y, "hvp");
  HvpResult<T> r;
  r.loss = y.item();
  r.hvp = tape.hvp(y, xs, v, &r.gradient);
  return r;
}

template <class T>
xt::xarray<T> hessian(const std::vector<Parameter<T>*>& params, const LossFn<T>& loss) {
  Tape<T> tape;
  Var<T> y;
  const auto xs = record(params, loss, tape, y, "hessian");
  return tape.hessian(y, xs);
}

template <class T>
xt::xarray<T> flatten_blocks(const std::vector<xt::xarray<T>>& blocks) {
  std::size_t n = 0;
  for (const auto& b : blocks) n += b.size();
  xt::xarray<T> flat = xt::zeros<T>({n});
  std::size_t at = 0;
  for (const auto& b : blocks) {
    std::copy(b.data(), b.data() + b.size(), flat.data() + at);
    at += b.size();
  }
  return flat;
}

template <class T>
xt::xarray<T> flatten_values(const std::vector<Parameter<T>*>& params) {
  std::vector<xt::xarray<T>> blocks;
  for (auto* p : params) blocks.push_back(p->value);
  return flatten_blocks(blocks);
}

template <class T>
void unflatten_into(const xt::xarray<T>& flat, const std::vector<Parameter<T>*>& params) {
  const std::size_t n = count_parameters(params);
  if (flat.size() != n)
    throw ShapeError(fmt::format("unflatten_into: {} values for {} parameter values", flat.size(), n));
  std::size_t at = 0;
  for (auto* p : params) {
    std::copy(flat.data() + at, flat.data() + at + p->size(), p->value.data());
    at += p->size();
  }
}

#define AD_NN_SECOND_ORDER(T)                                                                            \
  template HvpResult<T> hvp<T>(const std::vector<Parameter<T>*>&, const LossFn<T>&,                      \
                               const std::vector<xt::xarray<T>>&, Tape<T>&);                             \
  template xt::xarray<T> hessian<T>(const std::vector<Parameter<T>*>&, const LossFn<T>&);                \
  template xt::xarray<T> flatten_blocks<T>(const std::vector<xt::xarray<T>>&);                                  \
  template xt::xarray<T> flatten_values<T>(const std::vector<Parameter<T>*>&);                           \
  template void unflatten_into<T>(const xt::xarray<T>&, const std::vector<Parameter<T>*>&);
AD_NN_SECOND_ORDER(float)
AD_NN_SECOND_ORDER(double)

}  // namespace ad::nn
