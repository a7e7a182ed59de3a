// Trainer, fit, evaluate, predict. No derivative code: each step records a forward pass and a
// loss on a cleared tape and lets the reverse sweep produce the gradients.
#include <ad/error.hpp>
#include <ad/nn/data.hpp>
#include <ad/nn/distributed.hpp>
#include <ad/nn/lbfgs.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>

namespace ad::nn {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// How a model meets its loss: forward through `layers` layers of a Sequential (all but a final
/// softmax/sigmoid that the loss absorbs), with the loss actually computed.
template <class T>
struct Plan {
  Sequential<T>* seq = nullptr;
  std::size_t layers = 0;
  bool fused = false;
  Loss loss = Loss::cross_entropy;
};

template <class T>
Plan<T> make_plan(Module<T>& model, Loss loss) {
  Plan<T> p;
  p.loss = loss;
  p.seq = dynamic_cast<Sequential<T>*>(&model);
  if (p.seq) {
    p.layers = p.seq->size();
    if (p.layers > 0) {
      if (auto* act = dynamic_cast<Activation<T>*>(&(*p.seq)[p.layers - 1])) {
        if (loss == Loss::cross_entropy && act->name() == "softmax") {
          p.fused = true;
          --p.layers;
        } else if (loss == Loss::bce && act->name() == "sigmoid") {
          p.fused = true;
          p.loss = Loss::bce_with_logits;
          --p.layers;
        }
      }
    }
  }
  return p;
}

template <class T>
Var<T> forward(Module<T>& model, const Plan<T>& plan, const Var<T>& x) {
  return plan.seq ? plan.seq->forward_first(x, plan.layers) : model.forward(x);
}

/// The data loss of output `out` against targets yb (labels or target matrix). rows[i], when
/// given, is the row of the whole data set that minibatch row i came from (for error messages).
template <class T>
Var<T> data_loss(const Plan<T>& plan, const Var<T>& out, const xt::xarray<T>& yb, std::vector<std::size_t>& labels,
                 std::span<const std::size_t> rows = {}) {
  Tape<T>& tape = out.tape();
  const std::size_t n = out.shape()[0];
  if (yb.shape()[0] != n)
    throw ShapeError(fmt::format("loss: {} predictions but {} targets", n, yb.shape()[0]));
  if (plan.loss == Loss::cross_entropy) {
    if (out.dim() != 2)
      throw ShapeError(fmt::format("cross_entropy: the model output must be (n, classes), got {}",
                                   shape_str(out.shape())));
    const std::size_t k = out.shape()[1];
    if (yb.dimension() == 1 || (yb.dimension() == 2 && yb.shape()[1] == 1 && k > 1)) {
      labels.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        const T v = yb.data()[i];
        // Compared as T before any cast: casting 1e30 or inf to size_t is undefined behaviour.
        if (!(v >= 0) || !(v < static_cast<T>(k)) || static_cast<T>(static_cast<std::size_t>(v)) != v)
          throw ValueError(fmt::format("cross_entropy: label {} ({}) is not a class index in 0..{}; "
                                       "the model has {} outputs",
                                       static_cast<double>(v),
                                       i < rows.size() ? fmt::format("row {} of y", rows[i])
                                                       : fmt::format("row {} of the minibatch", i),
                                       k - 1, k));
        labels[i] = static_cast<std::size_t>(v);
      }
      return cross_entropy(out, labels);
    }
    return cross_entropy(out, tape.constant(yb));
  }
  Var<T> target = tape.constant(yb);
  if (yb.dimension() != out.dim() || !std::equal(yb.shape().begin(), yb.shape().end(), out.shape().begin())) {
    if (yb.size() != out.size())
      throw ShapeError(fmt::format("{}: targets {} do not fit the model output {}", loss_name(plan.loss),
                                   shape_str(yb.shape()), shape_str(out.shape())));
    target = reshape(target, std::vector<std::ptrdiff_t>(out.shape().begin(), out.shape().end()));
  }
  switch (plan.loss) {
    case Loss::mse: return mse_loss(out, target);
    case Loss::bce: return bce_loss(out, target);
    case Loss::bce_with_logits: return bce_with_logits(out, target);
    default: break;
  }
  return mse_loss(out, target);
}

/// Running classification / regression score over minibatches.
struct Score {
  bool regression = false;
  double correct = 0, count = 0;           // classification
  double sse = 0, sy = 0, syy = 0, m = 0;  // regression: R^2 = 1 - sse / (syy - sy^2 / m)

  template <class T>
  void add(const xt::xarray<T>& out, const xt::xarray<T>& y, bool logits, std::vector<std::size_t>* predicted) {
    const std::size_t n = out.shape()[0], k = out.size() / std::max<std::size_t>(n, 1);
    if (regression) {
      for (std::size_t i = 0; i < out.size() && i < y.size(); ++i) {
        const double d = static_cast<double>(out.data()[i]) - y.data()[i];
        sse += d * d;
        sy += y.data()[i];
        syy += static_cast<double>(y.data()[i]) * y.data()[i];
        m += 1;
      }
      return;
    }
    const std::size_t ky = y.dimension() == 2 ? y.shape()[1] : 1;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t pred;
      if (k == 1) {
        pred = static_cast<double>(out.data()[i]) > (logits ? 0.0 : 0.5) ? 1 : 0;
      } else {
        const T* row = out.data() + i * k;
        pred = static_cast<std::size_t>(std::max_element(row, row + k) - row);
      }
      std::size_t truth;
      if (ky == 1) {
        const double v = y.data()[i];
        truth = k == 1 ? (v > 0.5 ? 1 : 0) : static_cast<std::size_t>(v);
      } else {
        const T* row = y.data() + i * ky;
        truth = static_cast<std::size_t>(std::max_element(row, row + ky) - row);
      }
      correct += pred == truth;
      count += 1;
      if (predicted) predicted->push_back(pred);
    }
  }
  /// Data-parallel: every rank's counts summed, so value() is the whole epoch's.
  void reduce(Communicator& comm) {
    double v[6] = {correct, count, sse, sy, syy, m};
    comm.allreduce_sum(std::span<double>(v, 6));
    correct = v[0], count = v[1], sse = v[2], sy = v[3], syy = v[4], m = v[5];
  }
  double value() const {
    if (!regression) return count > 0 ? correct / count : 0;
    const double sst = syy - sy * sy / std::max(m, 1.0);
    return sst > 0 ? 1 - sse / sst : 0;
  }
};

void check_xy(const char* who, DataRef x, DataRef y) {
  if (x.dimension() != 2)
    throw ShapeError(fmt::format("{}: x must be (n, features), got {}", who, shape_str(x.shape())));
  if (y.dimension() < 1 || y.dimension() > 2 || y.shape()[0] != x.shape()[0])
    throw ShapeError(fmt::format("{}: y must be (n,) or (n, k) with n = {} rows of x, got {}", who, x.shape()[0],
                                 shape_str(y.shape())));
  if (x.shape()[0] == 0) throw ValueError(fmt::format("{}: no rows to work on", who));
}

/// The loss of guessing without looking at the inputs, the yardstick of "no better than chance":
/// log(classes) for cross-entropy (a uniform guess), log 2 for bce, the targets' variance for mse
/// (predicting their mean). `what` says which, for the error message.
/// k: the model's outputs per row.
double chance_loss(Loss loss, DataRef y, std::size_t k, std::string& what) {
  if (loss == Loss::cross_entropy) {
    what = fmt::format("log {} for {} classes", k, k);
    return std::log(static_cast<double>(k));
  }
  if (loss == Loss::bce || loss == Loss::bce_with_logits) {
    what = "log 2 for two classes";
    return std::log(2.0);
  }
  // mse: the mean over output columns of each column's variance
  const std::size_t n = y.shape()[0];
  k = y.size() / std::max<std::size_t>(n, 1);
  double total = 0;
  for (std::size_t c = 0; c < k; ++c) {
    double s = 0, ss = 0;
    y.visit([&](const auto& a) {
      for (std::size_t i = 0; i < n; ++i) {
        const double v = static_cast<double>(a.data()[i * k + c]);
        s += v, ss += v * v;
      }
    });
    const double mean = s / static_cast<double>(n);
    total += std::max(0.0, ss / static_cast<double>(n) - mean * mean);
  }
  what = "the variance of the targets";
  return total / static_cast<double>(std::max<std::size_t>(k, 1));
}

std::string bar(std::size_t done, std::size_t total, std::size_t width) {
  const std::size_t full = total ? done * width / total : width;
  std::string s(full, '=');
  if (full < width) s += '>', s += std::string(width - full - 1, ' ');
  return s;
}

}  // namespace

// ---- Trainer -------------------------------------------------------------------------------
template <class T>
Trainer<T>::Trainer(Module<T>& model, Optimizer<T>& opt, Loss loss, double l2, double l1)
    : model_(model), opt_(opt), loss_(loss), l2_(l2), l1_(l1), params_(model.parameters()) {
  const Plan<T> p = make_plan(model, loss);
  fused_ = p.fused;
  forward_layers_ = p.layers;
  lbfgs_ = dynamic_cast<LBFGS<T>*>(&opt);
}

template <class T>
Var<T> Trainer<T>::loss_on(Tape<T>& tape, const xt::xarray<T>& xb, const xt::xarray<T>& yb,
                           std::span<const std::size_t> rows) {
  Plan<T> plan = make_plan(model_, loss_);
  // Inside loss_and_grad the batch outlives the sweep: read in place (a 400 KB copy per W3 step).
  Var<T> out = forward(model_, plan, input_in_place_ ? tape.constant_ref(xb) : tape.constant(xb));
  last_output_ = out;
  Var<T> loss = data_loss(plan, out, yb, labels_, rows);
  if (l2_ > 0) loss = add(loss, l2_penalty(tape, params_, l2_));
  if (l1_ > 0) loss = add(loss, l1_penalty(tape, params_, l1_));
  return loss;
}

template <class T>
double Trainer<T>::loss_and_grad(const xt::xarray<T>& xb, const xt::xarray<T>& yb, std::span<const std::size_t> row_ids) {
  const std::size_t rows = xb.dimension() > 0 ? xb.shape()[0] : 0;
  if (full_rows_ == 0) full_rows_ = rows;
  Tape<T>& tape = tapes_[rows == full_rows_ ? 0 : 1];
  tape.clear();
  input_in_place_ = true;  // xb outlives this recording's use (the sweep below)
  Var<T> loss;
  try {
    loss = loss_on(tape, xb, yb, row_ids);
  } catch (...) {
    input_in_place_ = false;
    throw;
  }
  input_in_place_ = false;
  // The model's parameters, not only the optimizer's: clipping measures all of them, and a
  // parameter the optimizer leaves alone must not carry gradients over from earlier steps.
  // A parameter on this recording gets its grad overwritten by the sweep (zeros if the loss does
  // not reach it): no zero-fill pass and no reread of the grad. The others are zeroed here.
  for (auto* p : params_)
    if (!p->var.belongs_to(tape)) p->zero_grad();
  tape.backward(loss, SinkMode::assign);  // every parameter's grad receives this step's gradient
  return static_cast<double>(loss.item());
}

template <class T>
void Trainer<T>::set_communicator(Communicator* comm) {
  comm_ = comm && comm->size() > 1 ? comm : nullptr;
}

template <class T>
double Trainer<T>::shared_loss_and_grad(const xt::xarray<T>& xb, const xt::xarray<T>& yb,
                                        std::span<const std::size_t> row_ids) {
  // This rank's share: its mean loss and gradient, weighted by its rows; summed over the ranks
  // and divided by the batch's rows, the mean over the whole batch (a penalty added on every
  // rank comes out once: the weights sum to 1). A rank without rows sends zeros.
  const std::size_t rows = xb.dimension() > 0 ? xb.shape()[0] : 0;
  double local = 0;
  if (rows > 0) local = loss_and_grad(xb, yb, row_ids);
  std::size_t total = 0;
  for (auto* p : params_) total += p->grad.size();
  flat_.resize(total + 2);
  T* out = flat_.data();
  const T w = static_cast<T>(rows);
  for (auto* p : params_) {
    if (rows > 0)
      for (const T g : p->grad) *out++ = g * w;
    else
      out = std::fill_n(out, p->grad.size(), T(0));
  }
  flat_[total] = static_cast<T>(local * static_cast<double>(rows));
  flat_[total + 1] = w;
  comm_->allreduce_sum(std::span<T>(flat_));  // the one collective of the step
  const T n = flat_[total + 1];
  if (!(n > 0)) throw ValueError("Trainer: a data-parallel step on a batch with no rows on any rank");
  const T* in = flat_.data();
  for (auto* p : params_)
    for (T& g : p->grad) g = *in++ / n;
  return static_cast<double>(flat_[total]) / static_cast<double>(n);
}

template <class T>
double Trainer<T>::step(const xt::xarray<T>& xb, const xt::xarray<T>& yb, std::span<const std::size_t> row_ids) {
  if (lbfgs_) {
    if (clip_norm > 0 || clip_value > 0)
      throw ValueError("Trainer: gradient clipping does not go with LBFGS: it would change the gradient that the "
                       "line search and the curvature pairs rely on");
    try {
      start_loss_ = lbfgs_->step(
          [&] { return comm_ ? shared_loss_and_grad(xb, yb, row_ids) : loss_and_grad(xb, yb, row_ids); });
    } catch (const LBFGSNonFiniteError& e) {
      if (std::isfinite(e.loss)) throw;  // a non-finite gradient with a finite loss: not a divergence
      start_loss_ = lbfgs_->state().step_evaluations == 1 ? e.loss : lbfgs_->state().start_loss;
      return e.loss;  // the caller's divergence check reports it (the output is that evaluation's)
    }
    // The loss and the output at the weights the step ends with (the line search may have
    // evaluated other points last): one forward pass, no gradient.
    const std::size_t rows = xb.dimension() > 0 ? xb.shape()[0] : 0;
    Tape<T>& tape = tapes_[rows == full_rows_ ? 0 : 1];
    tape.clear();
    NoGradGuard no_grad;
    if (!comm_) return static_cast<double>(loss_on(tape, xb, yb, row_ids).item());
    double sums[2] = {0, static_cast<double>(rows)};  // data-parallel: the whole batch's loss
    if (rows > 0) sums[0] = static_cast<double>(loss_on(tape, xb, yb, row_ids).item()) * static_cast<double>(rows);
    comm_->allreduce_sum(std::span<double>(sums, 2));
    return sums[0] / sums[1];
  }
  start_loss_ = comm_ ? shared_loss_and_grad(xb, yb, row_ids) : loss_and_grad(xb, yb, row_ids);
  if (clip_norm > 0) clip_grad_norm(params_, clip_norm);
  if (clip_value > 0) clip_grad_value(params_, clip_value);
  opt_.step();
  return start_loss_;
}

// ---- fit -----------------------------------------------------------------------------------
std::string History::to_csv() const {
  std::string s = fmt::format("epoch,loss,{0},val_loss,val_{0},lr,seconds\n", metric);
  for (const auto& e : epochs)
    s += fmt::format("{},{},{},{},{},{},{}\n", e.epoch, e.loss, e.metric, e.val_loss, e.val_metric, e.lr, e.seconds);
  return s;
}

// ---- the parts of fit -----------------------------------------------------------------------
namespace {
// y as (n, 1) in `copy` of its own type, when a loss other than cross-entropy gets (n,) targets.
DataRef as_column(DataRef y, Loss loss, xt::xarray<double>& copy_d, xt::xarray<float>& copy_f) {
  if (loss == Loss::cross_entropy || y.dimension() != 1) return y;
  const std::vector<std::size_t> column{y.shape()[0], std::size_t(1)};
  if (y.doubles()) {
    copy_d = *y.doubles();
    copy_d.reshape(column);
    return DataRef(copy_d);
  }
  copy_f = *y.floats();
  copy_f.reshape(column);
  return DataRef(copy_f);
}
}  // namespace

template <class T>
EpochLoop<T>::EpochLoop(Trainer<T>& trainer, DataRef x, DataRef y, std::size_t batch_size)
    : trainer_(trainer), x_(x), y_(y), batch_size_(batch_size) {
  check_xy("EpochLoop", x, y);
  if (batch_size == 0) throw ValueError("EpochLoop: batch_size must be positive");
  batch_size_ = trainer.full_batch() ? x.shape()[0] : std::min(batch_size, x.shape()[0]);
  // Targets: labels stay (n,) for cross-entropy; other losses get a (rows, k) matrix.
  y_ = as_column(y, trainer.loss(), y2d_, y2f_);
}

template <class T>
EpochStats EpochLoop<T>::run(const std::vector<std::size_t>& order,
                             const std::function<void(const BatchInfo<T>&)>& after_batch) {
  const std::size_t n = order.size(), bs = batch_size_, batches = (n + bs - 1) / bs;
  trainer_.model().train(true);
  double loss_sum = 0;
  Score score;
  score.regression = trainer_.loss() == Loss::mse;
  BatchInfo<T> info;
  info.batches = batches;
  Communicator* comm = trainer_.communicator();  // data-parallel: this rank's share of each batch
  for (std::size_t b = 0; b < batches; ++b) {
    const std::size_t begin = b * bs, end = std::min(n, begin + bs);
    const int slot = end - begin == bs ? 0 : 1;
    const auto [lo, hi] = comm ? share_of(end - begin, comm->rank(), comm->size())
                               : std::pair<std::size_t, std::size_t>(0, end - begin);
    x_.gather(order, begin + lo, begin + hi, xb_[slot]);
    y_.gather(order, begin + lo, begin + hi, yb_[slot]);
    const double l = trainer_.step(xb_[slot], yb_[slot], std::span<const std::size_t>(order).subspan(begin + lo, hi - lo));
    loss_sum += l * static_cast<double>(end - begin);
    if (hi > lo) score.add(trainer_.last_output(), yb_[slot], trainer_.output_is_logits(), nullptr);
    if (after_batch) {
      info.batch = b + 1;
      info.rows = end;
      info.loss = l;
      info.start_loss = trainer_.start_loss();
      info.mean_loss = loss_sum / static_cast<double>(end);
      info.output = hi > lo ? &trainer_.last_output() : nullptr;
      after_batch(info);
    }
  }
  if (comm) score.reduce(*comm);
  EpochStats st;
  st.loss = loss_sum / static_cast<double>(n);
  st.metric = score.value();
  return st;
}

ProgressPrinter::ProgressPrinter(std::size_t epochs, std::size_t print_every, std::FILE* out, int live)
    : epochs_(epochs),
      print_every_(std::max<std::size_t>(print_every, 1)),
      out_(out),
      live_(live < 0 ? isatty(fileno(out)) != 0 : live != 0),
      digits_(static_cast<int>(std::to_string(epochs).size())) {}

namespace {
double now_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }
}  // namespace

void ProgressPrinter::begin_epoch() { last_draw_ = now_seconds(); }

void ProgressPrinter::batch(std::size_t epoch, std::size_t batch, std::size_t batches, double mean_loss) {
  if (!live_) return;
  const double t = now_seconds();
  if (!(t - last_draw_ > 0.1 || batch == batches)) return;
  last_draw_ = t;
  std::fprintf(out_, "\repoch %*zu/%zu [%s] %zu/%zu loss %.4f", digits_, epoch, epochs_, bar(batch, batches, 24).c_str(),
               batch, batches, mean_loss);
  std::fflush(out_);
  bar_open_ = true;
}

void ProgressPrinter::end_epoch(const EpochStats& st, const std::string& metric, bool validation,
                                std::size_t early_stop_best) {
  const bool stop = early_stop_best > 0;
  if (!(live_ || st.epoch % print_every_ == 0 || st.epoch == epochs_ || stop)) return;
  std::string line = fmt::format("epoch {:>{}}/{} loss {:.4f} {} {:.4f}", st.epoch, digits_, epochs_, st.loss, metric,
                                 st.metric);
  if (validation) line += fmt::format(" val_loss {:.4f} val_{} {:.4f}", st.val_loss, metric, st.val_metric);
  line += fmt::format(" lr {:.3g} {:.2f}s", st.lr, st.seconds);
  if (stop) line += fmt::format(" (early stop: best epoch {})", early_stop_best);
  std::fprintf(out_, "%s%s\n", live_ ? "\r\033[K" : "", line.c_str());
  bar_open_ = false;
}

void ProgressPrinter::interrupt() {
  if (live_ && bar_open_) std::fputc('\n', out_);
  bar_open_ = false;
}

template <class T>
EarlyStopping<T>::EarlyStopping(Module<T>& model, std::size_t patience, double min_delta, bool keep_best)
    : model_(model),
      patience_(patience),
      min_delta_(min_delta),
      keep_best_(keep_best),
      best_loss_(std::numeric_limits<double>::infinity()) {
  if (keep_best_)
    for (auto& [name, a] : model_.state()) best_.push_back(*a);
}

template <class T>
bool EarlyStopping<T>::update(std::size_t epoch, double loss) {
  last_epoch_ = epoch;
  if (loss < best_loss_ - min_delta_) {
    best_loss_ = loss;
    best_epoch_ = epoch;
    wait_ = 0;
    if (keep_best_) {
      auto state = model_.state();
      for (std::size_t k = 0; k < best_.size(); ++k)
        std::copy(state[k].second->begin(), state[k].second->end(), best_[k].begin());
    }
  } else if (patience_ > 0 && ++wait_ >= patience_) {
    stopped_ = true;
  }
  return stopped_;
}

template <class T>
bool EarlyStopping<T>::restore() {
  if (!keep_best_ || best_epoch_ == 0 || best_epoch_ == last_epoch_) return false;
  auto state = model_.state();
  for (std::size_t k = 0; k < best_.size(); ++k) std::copy(best_[k].begin(), best_[k].end(), state[k].second->begin());
  return true;
}

void DivergenceCheck::start(double first_loss, double chance, std::string chance_what) {
  start_ = first_loss;
  chance_ = chance;
  chance_what_ = std::move(chance_what);
}

void DivergenceCheck::batch(std::size_t epoch, std::size_t batch, double loss) const {
  if (std::isfinite(loss)) return;
  // NaN without its sign bit, which differs with the instruction set that produced it.
  const std::string what = std::isnan(loss) ? std::string("nan") : fmt::format("{}", loss);
  const std::string reason = fmt::format("the loss became {} at epoch {}, batch {}", what, epoch, batch);
  throw DivergenceError(
      fmt::format("fit: {}: training diverged; lower the learning rate, scale the inputs or clip gradients", reason),
      reason, epoch, loss, false);
}

void DivergenceCheck::epoch(std::size_t epoch, double loss) {
  if (!finite_rules_) return;
  const double ref = std::max(start_, chance_);
  std::string why;
  if (loss > factor_ * ref) {
    why = fmt::format("the loss {:.4g} is more than {:g} times its start {:.4g} (chance: {:.4g}, {})", loss, factor_,
                      start_, chance_, chance_what_);
  } else if (loss >= chance_ && loss >= lowest_) {
    if (++stalled_ >= std::max<std::size_t>(patience_, 1))
      why = fmt::format("the loss {:.4g} has not gone below {:.4g} (epoch {}) for {} epochs and is no better "
                        "than chance, {:.4g} ({})",
                        loss, lowest_, lowest_epoch_, stalled_, chance_, chance_what_);
  } else {
    stalled_ = 0;
  }
  if (loss < lowest_) lowest_ = loss, lowest_epoch_ = epoch;
  if (!why.empty()) {
    const std::string reason = fmt::format("training diverged at epoch {}: {}", epoch, why);
    throw DivergenceError(fmt::format("fit: {}; lower the learning rate, scale the inputs or clip gradients "
                                      "(FitOptions::detect_divergence = false trains on regardless)",
                                      reason),
                          reason, epoch, loss, true);
  }
}

// ---- fit: the parts put together ------------------------------------------------------------
namespace detail {
template <class T>
History fit(Module<T>& model, Optimizer<T>& opt, DataRef x, DataRef y, const FitOptions& o) {
  check_xy("fit", x, y);
  if ((o.x_val == nullptr) != (o.y_val == nullptr))
    throw ValueError("fit: give both x_val and y_val, or neither");
  if (o.x_val) check_xy("fit (validation)", *o.x_val, *o.y_val);
  if (o.batch_size == 0) throw ValueError("fit: batch_size must be positive");
  const auto t_fit = Clock::now();
  const std::size_t n = x.shape()[0];

  Trainer<T> trainer(model, opt, o.loss, o.l2, o.l1);
  if (trainer.full_batch() && (o.clip_norm > 0 || o.clip_value > 0))
    throw ValueError("fit: clip_norm and clip_value do not go with LBFGS: clipping would change the gradient that "
                     "the line search and the curvature pairs rely on");
  trainer.clip_norm = o.clip_norm;
  trainer.clip_value = o.clip_value;
  // Data-parallel (distributed.hpp): the same data and options everywhere, rank 0's weights.
  Communicator* comm = o.comm && o.comm->size() > 1 ? o.comm : nullptr;
  if (comm) detail::start_data_parallel(*comm, model, x, y, o, opt.name(), opt.lr);
  trainer.set_communicator(comm);
  EpochLoop<T> loop(trainer, x, y, o.batch_size);
  const bool early = o.patience > 0;
  // The best weights are kept only where they can be restored: monitored training.
  EarlyStopping<T> stopper(model, o.patience, o.min_delta, o.restore_best && (early || o.x_val));
  DivergenceCheck divergence(o.detect_divergence, o.divergence_factor, o.divergence_patience);
  std::optional<ProgressPrinter> progress;
  if (o.verbose > 0 && (!comm || comm->root())) progress.emplace(o.epochs, o.print_every);

  History h;
  h.metric = o.loss == Loss::mse ? "r2" : "accuracy";
  h.epochs.reserve(o.epochs);
  std::vector<std::size_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = i;
  Rng rng(o.seed);
  const double base_lr = opt.lr;
  const bool was_training = model.training();

  std::size_t epoch = 1;
  const std::function<void(const BatchInfo<T>&)> after_batch = [&](const BatchInfo<T>& b) {
    divergence.batch(epoch, b.batch, b.loss);
    if (epoch == 1 && b.batch == 1) {  // before any update: the yardsticks of divergence
      std::string what;
      double k = !b.output ? 0.0 : b.output->dimension() == 2 ? static_cast<double>(b.output->shape()[1]) : 1.0;
      if (comm) comm->allreduce_max(std::span<double>(&k, 1));  // a rank without rows has no output
      const double chance = chance_loss(o.loss, y, static_cast<std::size_t>(k), what);
      divergence.start(b.start_loss, chance, std::move(what));
    }
    if (progress) progress->batch(epoch, b.batch, b.batches, b.mean_loss);
  };

  for (; epoch <= o.epochs; ++epoch) {
    const auto t0 = Clock::now();
    opt.lr = o.schedule.at(base_lr, epoch - 1);
    if (o.shuffle && !trainer.full_batch()) rng.shuffle(perm);
    if (progress) progress->begin_epoch();
    EpochStats st;
    try {
      st = loop.run(perm, after_batch);
      if (comm) detail::average_buffers(*comm, model);  // BatchNorm's running statistics
      st.epoch = epoch;
      st.lr = opt.lr;
      if (o.x_val) {
        const Evaluation ev = evaluate(model, *o.x_val, *o.y_val, o.loss, std::max<std::size_t>(loop.batch_size(), 256));
        st.val_loss = ev.loss;
        st.val_metric = ev.metric;
      }
      st.seconds = since(t0);
      h.epochs.push_back(st);
      divergence.epoch(epoch, st.loss);
    } catch (...) {
      if (progress) progress->interrupt();
      throw;
    }

    const bool stop = stopper.update(epoch, o.x_val ? st.val_loss : st.loss);
    h.best_epoch = stopper.best_epoch();
    h.stopped_early = stop;
    if (progress) progress->end_epoch(st, h.metric, o.x_val != nullptr, stop ? h.best_epoch : 0);
    if (o.on_epoch && !o.on_epoch(st)) break;
    if (stop) break;
  }
  // Restore the best weights when training was monitored and the last epoch was not the best.
  if (early || o.x_val) stopper.restore();
  opt.lr = o.schedule.kind == LrSchedule::Kind::constant ? base_lr : opt.lr;
  model.train(was_training);
  h.seconds = since(t_fit);
  return h;
}
}  // namespace detail

// ---- evaluate / predict --------------------------------------------------------------------
namespace detail {
template <class T>
Evaluation evaluate(Module<T>& model, DataRef x, DataRef y, Loss loss, std::size_t batch_size) {
  check_xy("evaluate", x, y);
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  const Plan<T> plan = make_plan(model, loss);
  const std::size_t n = x.shape()[0], bs = std::max<std::size_t>(1, std::min(batch_size, n));
  xt::xarray<double> y2d;
  xt::xarray<float> y2f;
  const DataRef yc = as_column(y, loss, y2d, y2f);
  std::vector<std::size_t> idx(n), labels;
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  Tape<T> tape;
  xt::xarray<T> xb, yb;
  Evaluation ev;
  ev.metric_name = loss == Loss::mse ? "r2" : "accuracy";
  Score score;
  score.regression = loss == Loss::mse;
  double total = 0;
  try {
    for (std::size_t begin = 0; begin < n; begin += bs) {
      const std::size_t end = std::min(n, begin + bs);
      x.gather(idx, begin, end, xb);
      yc.gather(idx, begin, end, yb);
      tape.clear();
      Var<T> out = forward(model, plan, tape.constant(xb));
      total += static_cast<double>(data_loss(plan, out, yb, labels, std::span<const std::size_t>(idx).subspan(begin, end - begin)).item()) *
               static_cast<double>(end - begin);
      score.add(out.value(), yb, plan.fused, score.regression ? nullptr : &ev.predicted);
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  ev.loss = total / static_cast<double>(n);
  ev.metric = score.value();
  return ev;
}

template <class T>
xt::xarray<double> predict(Module<T>& model, DataRef x, std::size_t batch_size) {
  if (x.dimension() != 2) throw ShapeError(fmt::format("predict: x must be (n, features), got {}", shape_str(x.shape())));
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  const std::size_t n = x.shape()[0], bs = std::max<std::size_t>(1, std::min(batch_size, std::max<std::size_t>(n, 1)));
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  Tape<T> tape;
  xt::xarray<T> xb;
  xt::xarray<double> result;
  try {
    for (std::size_t begin = 0; begin < n; begin += bs) {
      const std::size_t end = std::min(n, begin + bs);
      x.gather(idx, begin, end, xb);
      tape.clear();
      const xt::xarray<T>& out = model.forward(tape.constant(xb)).value();
      const std::size_t k = out.size() / (end - begin);
      if (begin == 0) result.resize({n, k});
      std::copy(out.data(), out.data() + out.size(), result.data() + begin * k);
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return result;
}
}  // namespace detail

std::vector<std::size_t> classes_from_scores(const xt::xarray<double>& s, double threshold) {
  if (s.dimension() == 0 || s.dimension() > 2)
    throw ShapeError(fmt::format("classes_from_scores: scores must be (n,) or (n, k), got {}", shape_str(s.shape())));
  const std::size_t n = s.shape()[0], k = s.dimension() == 2 ? s.shape()[1] : 1;
  std::vector<std::size_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double* row = s.data() + i * k;
    out[i] = k == 1 ? (row[0] > threshold ? 1 : 0) : static_cast<std::size_t>(std::max_element(row, row + k) - row);
  }
  return out;
}

#define AD_NN_TRAIN(T)                                                                                         \
  template class Trainer<T>;                                                                                  \
  template class EpochLoop<T>;                                                                                \
  template class EarlyStopping<T>;                                                                            \
  template History detail::fit<T>(Module<T>&, Optimizer<T>&, DataRef, DataRef, const FitOptions&);          \
  template Evaluation detail::evaluate<T>(Module<T>&, DataRef, DataRef, Loss, std::size_t);                   \
  template xt::xarray<double> detail::predict<T>(Module<T>&, DataRef, std::size_t);
AD_NN_TRAIN(float)
AD_NN_TRAIN(double)
#undef AD_NN_TRAIN

}  // namespace ad::nn
