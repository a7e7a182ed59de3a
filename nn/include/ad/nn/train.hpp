// Training: Trainer (one step on a minibatch), fit (epochs of reshuffled minibatches, history,
// early stopping, progress), evaluate and predict.
//
// A step is: clear the tape, record the forward pass and the loss, sweep backward, copy each
// parameter's adjoint into its grad buffer, clip, let the optimizer update the weights. The tape
// keeps its buffers, so after the first full and the first short (last) minibatch a step
// allocates nothing: full batches and the short last batch of an epoch use two separate tapes.
//
// Data comes in as double matrices (n, features), as the data module loads it; it is converted
// to T one minibatch at a time into reused buffers. Targets y:
//   cross_entropy     (n,) integer class labels stored as doubles, or (n, classes) one-hot / soft
//   bce, bce_with_logits  (n,) or (n, 1) of 0/1
//   mse               (n,) or (n, outputs)
// A model whose last layer is a softmax (with cross_entropy) or a sigmoid (with bce) hands its
// pre-activation to the fused, numerically stable loss: the same loss value, computed from logits.
//
//   auto net = ad::nn::mlp<double>({64, 50, 10}, "sigmoid", "softmax");
//   ad::nn::SGD<double> opt(net.parameters(), {.lr = 0.1});
//   auto hist = ad::nn::fit(net, opt, x_train, y_train, {.epochs = 100, .batch_size = 100});
#pragma once

#include <ad/error.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace ad::nn {

/// Training diverged (thrown by fit): the loss became NaN or infinite, blew up far above its start,
/// or stayed at or above chance level without improving. A ValueError, so code that caught the
/// NaN error before still catches it. The message names the epoch, the loss and the fix.
struct DivergenceError : ValueError {
  DivergenceError(const std::string& message, std::string reason, std::size_t epoch, double loss, bool finite_rule)
      : ValueError(message), reason(std::move(reason)), epoch(epoch), loss(loss), finite_rule(finite_rule) {}
  std::string reason;  // what happened, without the advice: "the loss became nan at epoch 3, batch 2"
  std::size_t epoch;   // 1-based epoch in which it was detected
  double loss;         // the offending loss: a minibatch's (non-finite) or the epoch's mean
  bool finite_rule;    // true: a finite blow-up or stall (FitOptions::detect_divergence turns it off)
};

struct EpochStats {
  std::size_t epoch = 0;        // 1-based
  double loss = 0;              // mean training loss over the epoch's minibatches (penalties included)
  double metric = 0;            // training accuracy (classification) or R^2 (mse), from the minibatches
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  double val_metric = std::numeric_limits<double>::quiet_NaN();
  double lr = 0;
  double seconds = 0;           // wall time of the epoch, validation included
};

struct History {
  std::string metric = "accuracy";  // "accuracy" or "r2"
  std::vector<EpochStats> epochs;
  std::size_t best_epoch = 0;       // 1-based epoch of the lowest monitored loss
  bool stopped_early = false;
  double seconds = 0;
  const EpochStats& last() const { return epochs.back(); }
  /// One row per epoch: epoch,loss,metric,val_loss,val_metric,lr,seconds (with a header).
  std::string to_csv() const;
};

struct FitOptions {
  std::size_t epochs = 10;
  std::size_t batch_size = 32;
  std::uint64_t seed = 0;            // minibatch shuffling (a fresh permutation every epoch)
  bool shuffle = true;
  Loss loss = Loss::cross_entropy;
  double l2 = 0;                     // (l2/2) sum w^2 over weights (biases excluded)
  double l1 = 0;                     // l1 sum |w| over weights
  const xt::xarray<double>* x_val = nullptr;  // validation data (optional)
  const xt::xarray<double>* y_val = nullptr;
  std::size_t patience = 0;          // > 0: stop after this many epochs without improvement of the
                                     // validation loss (training loss if there is no validation)
  double min_delta = 0;              // an improvement must exceed this
  bool restore_best = true;          // on early stop (or at the end), restore the best weights
  LrSchedule schedule{};             // optimizer lr = schedule.at(initial lr, epoch - 1)
  double clip_norm = 0;              // > 0: clip_grad_norm every step
  double clip_value = 0;             // > 0: clip_grad_value every step
  int verbose = 1;                   // 0 silent; 1 a line per epoch on stderr (a live bar on a terminal)
  std::size_t print_every = 1;       // with verbose = 1: print every this many epochs (and the last)
  std::function<bool(const EpochStats&)> on_epoch{};  // called after each epoch; false stops training
  // Divergence. A NaN or infinite minibatch loss always throws DivergenceError (epoch and batch
  // named). With detect_divergence (the default) so does a finite failure, judged at the end of
  // each epoch on its mean training loss L (penalties included), against the start S (the first
  // minibatch's loss, before any update) and chance C (the loss of guessing: log(classes) for
  // cross-entropy, log 2 for bce, the variance of the targets for mse):
  //   blow-up: L > divergence_factor * max(S, C);
  //   stalled: for divergence_patience epochs in a row, L >= C and L not below the lowest epoch
  //            loss so far (the network guesses no better than chance and stopped improving; a
  //            slow learner still lowers its loss every epoch and is not stopped).
  // Keras stops on NaN only (TerminateOnNaN); these rules also catch the finite blow-ups that
  // cross-entropy produces (a learning rate of 100 on the digits: loss ~40, accuracy 0.1).
  bool detect_divergence = true;
  double divergence_factor = 10;
  std::size_t divergence_patience = 10;
};

/// One optimization step at a time, allocation-free after warm-up.
template <class T>
class Trainer {
 public:
  Trainer(Module<T>& model, Optimizer<T>& opt, Loss loss, double l2 = 0, double l1 = 0);
  /// One step on a minibatch: xb (n, features); yb as described at the top (labels or targets).
  /// Returns the loss (penalties included).
  /// rows[i], when given, is the row of the whole data set that minibatch row i came from: an
  /// error about a label then names that row (fit passes it), otherwise the minibatch's row.
  double step(const xt::xarray<T>& xb, const xt::xarray<T>& yb, std::span<const std::size_t> rows = {});
  /// Records forward + loss on `tape` without stepping (used by step and by gradient checks).
  Var<T> loss_on(Tape<T>& tape, const xt::xarray<T>& xb, const xt::xarray<T>& yb,
                 std::span<const std::size_t> rows = {});
  /// The model's output of the last step (logits when the final softmax/sigmoid was fused).
  const xt::xarray<T>& last_output() const { return last_output_.value(); }
  bool output_is_logits() const { return fused_; }

  double clip_norm = 0, clip_value = 0;

 private:
  Module<T>& model_;
  Optimizer<T>& opt_;
  Loss loss_;
  double l2_, l1_;
  bool fused_ = false;
  std::size_t forward_layers_ = 0;
  std::vector<Parameter<T>*> params_;
  std::vector<std::size_t> labels_;
  Tape<T> tapes_[2];
  std::size_t full_rows_ = 0;
  Var<T> last_output_;
};

template <class T>
History fit(Module<T>& model, Optimizer<T>& opt, const xt::xarray<double>& x, const xt::xarray<double>& y,
            const FitOptions& options = {});

struct Evaluation {
  double loss = 0;
  double metric = 0;                      // accuracy, or R^2 for mse
  std::string metric_name = "accuracy";
  std::vector<std::size_t> predicted;     // predicted classes (classification only)
};

/// Loss and metric on (x, y) in eval mode, without recording gradients (the mode is restored).
template <class T>
Evaluation evaluate(Module<T>& model, const xt::xarray<double>& x, const xt::xarray<double>& y, Loss loss,
                    std::size_t batch_size = 1024);

/// The model's outputs for x (eval mode, no gradients), as doubles (n, outputs).
template <class T>
xt::xarray<double> predict(Module<T>& model, const xt::xarray<double>& x, std::size_t batch_size = 1024);

/// Predicted classes: the argmax of each row, or for a single output column `score > threshold`
/// (0.5 for probabilities; pass 0 for logits).
std::vector<std::size_t> classes_from_scores(const xt::xarray<double>& scores, double threshold = 0.5);

extern template class Trainer<float>;
extern template class Trainer<double>;

}  // namespace ad::nn
