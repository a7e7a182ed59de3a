// Parameter: a trainable tensor that outlives the tape.
//
// A network's weights live here, not on the tape. Each training step clears the tape and records
// the forward pass afresh: on(tape) puts the parameter on the tape once per recording, as a leaf
// that reads `value` in place, and returns that same handle to every later use (a layer applied
// twice, weights tied between layers, the L2 penalty). backward() then adds the leaf's adjoint,
// every use summed, straight into `grad`. As in PyTorch, gradients accumulate across backward
// calls until zero_grad(): an optimizer's step() reads `grad`, and the training loop zeroes it
// before each backward. After the first step none of this allocates.
#pragma once

#include <ad/tape.hpp>

#include <string>
#include <vector>

namespace ad::nn {

template <class T>
struct Parameter {
  std::string name;      // the full path, "0.weight", "1.0.bias", ... (set by parameters())
  std::string local_name;  // the name its module gave it: "weight", "bias", ...
  xt::xarray<T> value;   // the weights themselves
  xt::xarray<T> grad;    // d loss / d value, summed over every backward() since zero_grad()
  bool decay = true;     // penalties (l2/l1) apply; false for biases and normalization shifts
  Var<T> var;            // this parameter's leaf on the tape of the current recording

  Parameter() = default;
  Parameter(std::string name, const std::vector<std::size_t>& shape, bool decay);

  /// The parameter's leaf on `tape` for the current recording: recorded (reading `value` in
  /// place, its adjoint going to `grad`) the first time, the same handle after that.
  Var<T> on(Tape<T>& tape);
  /// grad <- 0 (before a backward whose gradient should not add to the previous ones).
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
