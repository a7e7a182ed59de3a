// Parameter: a trainable tensor that outlives the tape.
//
// A network's weights live here, not on the tape. Each training step clears the tape, records
// the forward pass afresh (record() puts the parameter on the tape as a leaf that reads `value`
// in place, without copying), sweeps backward, and collect_grad() copies the parameter's adjoint
// from the tape into the preallocated `grad` buffer. Optimizers then update `value` from `grad`.
// After the first step none of this allocates: value, grad and the tape's node buffers are reused.
#pragma once

#include <ad/tape.hpp>

#include <string>
#include <vector>

namespace ad::nn {

template <class T>
struct Parameter {
  std::string name;      // "0.weight", "2.bias", ... (set by the owning module)
  xt::xarray<T> value;   // the weights themselves
  xt::xarray<T> grad;    // d loss / d value of the last step (same shape as value)
  bool decay = true;     // penalties (l2/l1) apply; false for biases and normalization shifts
  Var<T> var;            // this parameter's node on the tape of the current step

  Parameter() = default;
  Parameter(std::string name, const std::vector<std::size_t>& shape, bool decay);

  /// Records the parameter on `tape` (reading `value` in place) and remembers the handle.
  Var<T> record(Tape<T>& tape);
  /// The handle of this step on `tape`, recording the parameter if it is not there yet.
  Var<T> on(Tape<T>& tape);
  /// grad <- the adjoint that the last backward sweep left on var (zeros if none reached it).
  void collect_grad();
  /// grad <- 0.
  void zero_grad();
  std::size_t size() const { return value.size(); }
};

/// Total number of trainable values.
template <class T>
std::size_t count_parameters(const std::vector<Parameter<T>*>& params) {
  std::size_t n = 0;
  for (auto* p : params) n += p->size();
  return n;
}

extern template struct Parameter<float>;
extern template struct Parameter<double>;

}  // namespace ad::nn
