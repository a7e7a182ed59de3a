// Losses and penalties, each a few autodiff ops (their gradients come from the reverse sweep).
// Every loss is the mean over the batch (and over outputs for mse/bce), as PyTorch's defaults.
//
//   mse_loss(pred, target)              mean((pred - target)^2)
//   bce_loss(prob, target, eps)         -mean(y log p + (1 - y) log(1 - p)), p clamped to [eps, 1-eps]
//   bce_with_logits(z, target)          mean(softplus(z) - y z)          (stable for any z)
//   cross_entropy(logits, labels)       -mean_i log_softmax(z)[i, label_i]   (integer labels, via pick)
//   cross_entropy(logits, one_hot)      -sum(y * log_softmax(z)) / n         (one-hot or soft targets)
//   l2_penalty(params, lambda)          (lambda / 2) sum w^2 over parameters with decay = true
//                                       (weights; biases are excluded by default, as in the notes),
//                                       so its gradient is lambda w, the notes' `dW += lmbd * W`
//   l1_penalty(params, lambda)          lambda sum |w|
#pragma once

#include <ad/nn/parameter.hpp>
#include <ad/ops.hpp>

#include <string>
#include <vector>

namespace ad::nn {

template <class T> Var<T> mse_loss(const Var<T>& pred, const Var<T>& target);
template <class T> Var<T> bce_loss(const Var<T>& prob, const Var<T>& target, double eps = 1e-7);
template <class T> Var<T> bce_with_logits(const Var<T>& logits, const Var<T>& target);
template <class T> Var<T> cross_entropy(const Var<T>& logits, const std::vector<std::size_t>& labels);
template <class T> Var<T> cross_entropy(const Var<T>& logits, const Var<T>& one_hot);

/// Penalties over parameters recorded on `tape` this step (recorded now if they are not).
/// include_all = true also penalizes parameters with decay = false (biases).
template <class T>
Var<T> l2_penalty(Tape<T>& tape, const std::vector<Parameter<T>*>& params, double lambda, bool include_all = false);
template <class T>
Var<T> l1_penalty(Tape<T>& tape, const std::vector<Parameter<T>*>& params, double lambda, bool include_all = false);

/// The losses fit() knows by name.
enum class Loss { mse, bce, bce_with_logits, cross_entropy };
/// "mse", "bce", "bce_with_logits", "cross_entropy" (also "ce"); ValueError otherwise.
Loss loss_from_name(const std::string& name);
const char* loss_name(Loss loss);

}  // namespace ad::nn
