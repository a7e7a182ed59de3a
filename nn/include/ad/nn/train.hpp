// Training: Trainer (one step on a minibatch), fit (epochs of reshuffled minibatches, history,
// early stopping, progress), evaluate and predict.
//
// fit is a composition of parts you can use in a loop of your own (see "The parts of fit"):
// EpochLoop (one epoch of minibatch steps), ProgressPrinter (the bar and the epoch lines),
// EarlyStopping (the best epoch, its weights, when to stop), DivergenceCheck (the NaN, blow-up
// and stall rules) and LrSchedule (optim.hpp: the learning rate of each epoch).
//
// A step is: clear the tape, record the forward pass and the loss, sweep backward, copy each
// parameter's adjoint into its grad buffer, clip, let the optimizer update the weights. The tape
// keeps its buffers, so after the first full and the first short (last) minibatch a step
// allocates nothing: full batches and the short last batch of an epoch use two separate tapes.
//
// Data comes in as double or float matrices (n, features), as the data module loads it (a
// FloatDataset for a float model holds the data once, in half the memory); each minibatch is
// gathered into reused buffers of T, one memcpy per row when the data already is T. Targets y:
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
#include <ad/nn/data.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace ad::nn {

class Communicator;  // distributed.hpp: data-parallel training

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

/// Rows of a data matrix held as double or as float, by reference (not a copy): what EpochLoop,
/// fit, evaluate and predict read their minibatches from. Made from an xt::xarray<double> or
/// xt::xarray<float>; the array must outlive it.
class DataRef {
 public:
  DataRef(const xt::xarray<double>& a) : d_(&a) {}  // NOLINT: implicit by design
  DataRef(const xt::xarray<float>& a) : f_(&a) {}   // NOLINT
  std::size_t dimension() const { return d_ ? d_->dimension() : f_->dimension(); }
  const xt::xarray<double>::shape_type& shape() const { return d_ ? d_->shape() : f_->shape(); }
  std::size_t size() const { return d_ ? d_->size() : f_->size(); }
  const xt::xarray<double>* doubles() const { return d_; }  ///< null when the data is float
  const xt::xarray<float>* floats() const { return f_; }    ///< null when the data is double
  /// f(the array), called with the xt::xarray<double> or the xt::xarray<float>.
  template <class F>
  decltype(auto) visit(F&& f) const {
    return d_ ? f(*d_) : f(*f_);
  }
  /// Rows idx[begin, end) into out as T (see gather_rows).
  template <class T>
  void gather(const std::vector<std::size_t>& idx, std::size_t begin, std::size_t end, xt::xarray<T>& out) const {
    if (d_) gather_rows(*d_, idx, begin, end, out);
    else detail::gather_rows_float(*f_, idx, begin, end, out);
  }

 private:
  const xt::xarray<double>* d_ = nullptr;
  const xt::xarray<float>* f_ = nullptr;
};

/// A pointer to a data matrix held as double or as float, or none: FitOptions' validation data,
/// set with `&x` of either (`.x_val = &test.x`).
class DataPtr {
 public:
  DataPtr() = default;
  DataPtr(std::nullptr_t) {}                                   // NOLINT
  DataPtr(const xt::xarray<double>* p) : d_(p) {}              // NOLINT
  DataPtr(const xt::xarray<float>* p) : f_(p) {}               // NOLINT
  explicit operator bool() const { return d_ != nullptr || f_ != nullptr; }
  bool operator==(std::nullptr_t) const { return !*this; }
  /// The data; only when set.
  DataRef operator*() const { return d_ ? DataRef(*d_) : DataRef(*f_); }

 private:
  const xt::xarray<double>* d_ = nullptr;
  const xt::xarray<float>* f_ = nullptr;
};

/// The arrays fit, evaluate and predict take: xt::xarray<double> or xt::xarray<float>.
template <class X>
concept DataArray = std::same_as<X, xt::xarray<double>> || std::same_as<X, xt::xarray<float>>;

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
  DataPtr x_val = nullptr;           // validation data (optional): &x of double or float data
  DataPtr y_val = nullptr;
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
  // Data-parallel training (distributed.hpp, docs/distributed.md): with a communicator of more
  // than one rank, every rank calls fit with the same data and options; each global minibatch is
  // split across the ranks and the gradients summed with one allreduce per step; the history
  // holds the global figures on every rank; only rank 0 prints progress.
  Communicator* comm = nullptr;
};

template <class T>
class LBFGS;

/// One optimization step at a time, allocation-free after warm-up.
///
/// With an LBFGS optimizer (lbfgs.hpp) a step is one LBFGS::step on the batch: up to max_iter
/// iterations, each evaluating the loss and its gradient on that same batch (loss_and_grad is
/// the closure), then one forward pass at the new weights for the loss and the output. fit then
/// trains full batch: one such step per epoch on the whole training set.
template <class T>
class Trainer {
 public:
  Trainer(Module<T>& model, Optimizer<T>& opt, Loss loss, double l2 = 0, double l1 = 0);
  /// One step on a minibatch: xb (n, features); yb as described at the top (labels or targets).
  /// Returns the loss (penalties included) before the update; with LBFGS, the loss after it (at
  /// the new weights; start_loss() has the one before), or the NaN or infinite loss that stopped
  /// it (the weights are then those of the last finite loss).
  /// rows[i], when given, is the row of the whole data set that minibatch row i came from: an
  /// error about a label then names that row (fit passes it), otherwise the minibatch's row.
  /// With LBFGS, clip_norm or clip_value is a ValueError (clipping would change the gradient
  /// that the line search and the curvature pairs rely on).
  double step(const xt::xarray<T>& xb, const xt::xarray<T>& yb, std::span<const std::size_t> rows = {});
  /// The loss on a minibatch and each parameter's gradient of it (grad zeroed first, no clipping,
  /// no update): what step does before the optimizer's update, and LBFGS's closure.
  double loss_and_grad(const xt::xarray<T>& xb, const xt::xarray<T>& yb, std::span<const std::size_t> rows = {});
  /// The loss of the last step before its update (the value step returns, except with LBFGS).
  double start_loss() const { return start_loss_; }
  /// The optimizer is an LBFGS: steps are full L-BFGS steps and fit trains full batch.
  bool full_batch() const { return lbfgs_ != nullptr; }
  /// Records forward + loss on `tape` without stepping (used by step and by gradient checks).
  Var<T> loss_on(Tape<T>& tape, const xt::xarray<T>& xb, const xt::xarray<T>& yb,
                 std::span<const std::size_t> rows = {});
  /// The model's output of the last step (logits when the final softmax/sigmoid was fused).
  const xt::xarray<T>& last_output() const { return last_output_.value(); }
  bool output_is_logits() const { return fused_; }
  Module<T>& model() const { return model_; }
  Loss loss() const { return loss_; }
  /// Data-parallel steps (distributed.hpp): xb is then this rank's share of the global batch
  /// (possibly no rows); after the backward sweep every parameter's grad, weighted by the share's
  /// rows, goes with the loss into one buffer summed over the ranks by one allreduce, and step
  /// returns the loss of the whole batch. nullptr or a one-rank communicator: plain steps.
  void set_communicator(Communicator* comm);
  Communicator* communicator() const { return comm_; }

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
  LBFGS<T>* lbfgs_ = nullptr;
  double start_loss_ = 0;
  bool input_in_place_ = false;  // loss_on records xb without copying it (inside loss_and_grad)
  Communicator* comm_ = nullptr;
  std::vector<T> flat_;           // the gradients, the loss and the rows of a data-parallel step
  double shared_loss_and_grad(const xt::xarray<T>& xb, const xt::xarray<T>& yb, std::span<const std::size_t> rows);
};

/// Trains `model` on (x, y) for options.epochs epochs (see FitOptions) and returns the history:
/// each epoch, EpochLoop over a fresh shuffle of the rows at the schedule's learning rate, the
/// validation loss, DivergenceCheck, EarlyStopping, the ProgressPrinter's line and on_epoch.
/// With an LBFGS optimizer an epoch is one LBFGS::step (up to its max_iter iterations) on the
/// whole training set in row order, as `for epoch: opt.step(closure)` in PyTorch: batch_size and
/// shuffle are ignored, clip_norm and clip_value are a ValueError, and the epoch's loss and
/// metric are those at the weights the step ends with.
struct Evaluation;

namespace detail {
template <class T>
History fit(Module<T>& model, Optimizer<T>& opt, DataRef x, DataRef y, const FitOptions& options);
template <class T>
Evaluation evaluate(Module<T>& model, DataRef x, DataRef y, Loss loss, std::size_t batch_size);
template <class T>
xt::xarray<double> predict(Module<T>& model, DataRef x, std::size_t batch_size);
}  // namespace detail

template <class T>
History fit(Module<T>& model, Optimizer<T>& opt, const xt::xarray<double>& x, const xt::xarray<double>& y,
            const FitOptions& options = {}) {
  return detail::fit(model, opt, DataRef(x), DataRef(y), options);
}
/// The same from float data (a FloatDataset's x and y, or float x with double y): a float model
/// then gathers each minibatch with one memcpy per row, and the data set is held once as float.
template <class T, DataArray X, DataArray Y>
  requires(FloatArray<X> || FloatArray<Y>)
History fit(Module<T>& model, Optimizer<T>& opt, const X& x, const Y& y, const FitOptions& options = {}) {
  return detail::fit(model, opt, DataRef(x), DataRef(y), options);
}

// ---- The parts of fit ----------------------------------------------------------------------
// A loop of your own, as fit does it (fit adds the validation loss, the history and on_epoch):
//
//   Trainer<double> trainer(net, opt, Loss::cross_entropy);
//   EpochLoop<double> loop(trainer, x, y, /*batch_size=*/100);
//   EarlyStopping<double> stopper(net, /*patience=*/5);
//   ProgressPrinter progress(epochs);
//   std::vector<std::size_t> order = ...;  // 0 .. n-1
//   Rng rng(1);
//   for (std::size_t epoch = 1; epoch <= epochs; ++epoch) {
//     opt.lr = LrSchedule::cosine(epochs).at(0.1, epoch - 1);
//     rng.shuffle(order);
//     progress.begin_epoch();
//     EpochStats st = loop.run(order, [&](const BatchInfo<double>& b) {
//       progress.batch(epoch, b.batch, b.batches, b.mean_loss);
//     });
//     st.epoch = epoch, st.lr = opt.lr;
//     const bool stop = stopper.update(epoch, st.loss);
//     progress.end_epoch(st, "accuracy", /*validation=*/false, stop ? stopper.best_epoch() : 0);
//     if (stop) break;
//   }
//   stopper.restore();

/// What EpochLoop::run reports after each minibatch step.
template <class T>
struct BatchInfo {
  std::size_t batch = 0;    // 1-based
  std::size_t batches = 0;  // in the epoch
  std::size_t rows = 0;     // rows of the epoch done, this batch's included
  double loss = 0;          // this minibatch's loss (penalties included); NaN or inf if it diverged
                            // (with LBFGS: after the step, at the new weights)
  double start_loss = 0;    // its loss before the update (= loss, except with LBFGS)
  double mean_loss = 0;     // mean loss per row over the epoch so far
  const xt::xarray<T>* output = nullptr;  // the model's output on it (logits when fused); data-parallel:
                                          // on this rank's share, nullptr when the share is empty
};

/// The training loop of one epoch: the rows of x in a given order, batch_size at a time (the
/// last batch shorter), gathered into reused buffers as T, one Trainer::step each, the model in
/// training mode. x and y as fit takes them; they are referenced, not copied. With an LBFGS
/// trainer (full_batch()) the batch is always every row: batch_size is ignored. With a
/// communicator on the trainer (Trainer::set_communicator, distributed.hpp) every rank runs the
/// same loop over the same order and steps on its share of each batch (share_of); the loss and
/// the metric are the whole epoch's on every rank.
template <class T>
class EpochLoop {
 public:
  /// x and y: double or float data (DataRef), referenced, not copied.
  EpochLoop(Trainer<T>& trainer, DataRef x, DataRef y, std::size_t batch_size);
  EpochLoop(const EpochLoop&) = delete;  // y may point into the loop's own column copy
  EpochLoop& operator=(const EpochLoop&) = delete;
  /// One epoch over the rows in `order` (any sequence of row indices, usually a permutation of
  /// 0 .. n-1 shuffled per epoch). after_batch, when given, is called after every step; an
  /// exception from it ends the epoch. Returns loss (the mean over the rows) and metric
  /// (training accuracy, or R^2 for mse) of the epoch; the other fields are the caller's.
  EpochStats run(const std::vector<std::size_t>& order,
                 const std::function<void(const BatchInfo<T>&)>& after_batch = {});
  std::size_t batch_size() const { return batch_size_; }
  std::size_t rows() const { return x_.shape()[0]; }

 private:
  Trainer<T>& trainer_;
  DataRef x_, y_;
  xt::xarray<double> y2d_;          // y as (n, 1) when a loss other than cross-entropy gets (n,)
  xt::xarray<float> y2f_;           // the same for float y
  std::size_t batch_size_;
  xt::xarray<T> xb_[2], yb_[2];     // full batches and the short last one
};

/// fit's progress display (FitOptions::verbose = 1). On a live output (a terminal) a bar per
/// epoch, redrawn at most every 0.1 s and at the last batch, then replaced by the epoch's line;
/// elsewhere only the line, every print_every epochs, at the last epoch and at an early stop:
///   epoch  7/100 loss 0.3274 accuracy 0.9123 val_loss 0.3512 val_accuracy 0.9031 lr 0.1 0.02s
class ProgressPrinter {
 public:
  /// epochs: the run's length; out: where to write; live: 1 bar, 0 lines only, -1 (the default)
  /// a bar when `out` is a terminal.
  explicit ProgressPrinter(std::size_t epochs, std::size_t print_every = 1, std::FILE* out = stderr, int live = -1);
  bool live() const { return live_; }
  /// At the start of an epoch (the bar's clock).
  void begin_epoch();
  /// After minibatch `batch` of `batches` (1-based): the bar with the mean loss so far (live only).
  void batch(std::size_t epoch, std::size_t batch, std::size_t batches, double mean_loss);
  /// After an epoch: its line when due. metric: "accuracy" or "r2"; validation: print val_loss
  /// and val_metric; early_stop_best > 0: training stops here, at best epoch early_stop_best.
  void end_epoch(const EpochStats& stats, const std::string& metric, bool validation,
                 std::size_t early_stop_best = 0);
  /// Ends the line of a live bar that is showing, before an error message is printed.
  void interrupt();

 private:
  std::size_t epochs_, print_every_;
  std::FILE* out_;
  bool live_;
  int digits_;
  double last_draw_ = 0;  // seconds on a steady clock
  bool bar_open_ = false;  // a bar is on the current line
};

/// Early stopping on a monitored loss (the validation loss, or the training loss): remembers the
/// best epoch, a loss below the best by more than min_delta, with a copy of the model's weights
/// at it (keep_best), and says stop when `patience` epochs in a row brought no such improvement
/// (patience 0: never, only the best epoch is tracked).
template <class T>
class EarlyStopping {
 public:
  explicit EarlyStopping(Module<T>& model, std::size_t patience = 0, double min_delta = 0, bool keep_best = true);
  /// After epoch `epoch` (1-based) with its monitored loss; true: stop training now.
  bool update(std::size_t epoch, double loss);
  std::size_t best_epoch() const { return best_epoch_; }  // 0 before any epoch
  double best_loss() const { return best_loss_; }
  bool stopped() const { return stopped_; }
  /// Copies the best epoch's weights back into the model (keep_best only). False, and nothing
  /// done, when there is no best epoch yet or the last epoch seen was the best.
  bool restore();

 private:
  Module<T>& model_;
  std::size_t patience_;
  double min_delta_;
  bool keep_best_;
  std::vector<xt::xarray<T>> best_;
  double best_loss_;
  std::size_t best_epoch_ = 0, last_epoch_ = 0, wait_ = 0;
  bool stopped_ = false;
};

/// fit's divergence rules (see FitOptions): a NaN or infinite minibatch loss always, and with
/// finite_rules a blow-up (an epoch's mean loss above factor * max(start, chance)) or a stall
/// (`patience` epochs in a row at or above chance and not below the lowest loss so far) throw
/// DivergenceError.
class DivergenceCheck {
 public:
  explicit DivergenceCheck(bool finite_rules = true, double factor = 10, std::size_t patience = 10)
      : finite_rules_(finite_rules), factor_(factor), patience_(patience) {}
  /// The yardsticks, known after the first step: the first minibatch's loss (before any update)
  /// and the loss of chance, with its description for messages ("log 10 for 10 classes").
  void start(double first_loss, double chance, std::string chance_what);
  /// A minibatch's loss: DivergenceError if it is NaN or infinite.
  void batch(std::size_t epoch, std::size_t batch, double loss) const;
  /// An epoch's mean training loss: DivergenceError on a blow-up or a stall (finite_rules only).
  void epoch(std::size_t epoch, double mean_loss);

 private:
  bool finite_rules_;
  double factor_;
  std::size_t patience_;
  double start_ = 0, chance_ = 0, lowest_ = std::numeric_limits<double>::infinity();
  std::size_t stalled_ = 0, lowest_epoch_ = 0;
  std::string chance_what_;
};

struct Evaluation {
  double loss = 0;
  double metric = 0;                      // accuracy, or R^2 for mse
  std::string metric_name = "accuracy";
  std::vector<std::size_t> predicted;     // predicted classes (classification only)
};

/// Loss and metric on (x, y) in eval mode, without recording gradients (the mode is restored).
/// x and y may also be float data (xt::xarray<float>).
template <class T>
Evaluation evaluate(Module<T>& model, const xt::xarray<double>& x, const xt::xarray<double>& y, Loss loss,
                    std::size_t batch_size = 1024) {
  return detail::evaluate(model, DataRef(x), DataRef(y), loss, batch_size);
}
template <class T, DataArray X, DataArray Y>
  requires(FloatArray<X> || FloatArray<Y>)
Evaluation evaluate(Module<T>& model, const X& x, const Y& y, Loss loss, std::size_t batch_size = 1024) {
  return detail::evaluate(model, DataRef(x), DataRef(y), loss, batch_size);
}

/// The model's outputs for x (eval mode, no gradients), as doubles (n, outputs). x may also be
/// float data.
template <class T>
xt::xarray<double> predict(Module<T>& model, const xt::xarray<double>& x, std::size_t batch_size = 1024) {
  return detail::predict(model, DataRef(x), batch_size);
}
template <class T, FloatArray X>
xt::xarray<double> predict(Module<T>& model, const X& x, std::size_t batch_size = 1024) {
  return detail::predict(model, DataRef(x), batch_size);
}

/// Predicted classes: the argmax of each row, or for a single output column `score > threshold`
/// (0.5 for probabilities; pass 0 for logits).
std::vector<std::size_t> classes_from_scores(const xt::xarray<double>& scores, double threshold = 0.5);

extern template class Trainer<float>;
extern template class Trainer<double>;
extern template class EpochLoop<float>;
extern template class EpochLoop<double>;
extern template class EarlyStopping<float>;
extern template class EarlyStopping<double>;

}  // namespace ad::nn
