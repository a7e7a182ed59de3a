// Trainer, fit, evaluate, predict. No derivative code: each step records a forward pass and a
// loss on a cleared tape and lets the reverse sweep produce the gradients.
#include <ad/error.hpp>
#include <ad/nn/data.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
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
  double value() const {
    if (!regression) return count > 0 ? correct / count : 0;
    const double sst = syy - sy * sy / std::max(m, 1.0);
    return sst > 0 ? 1 - sse / sst : 0;
  }
};

void check_xy(const char* who, const xt::xarray<double>& x, const xt::xarray<double>& y) {
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
template <class T>
double chance_loss(Loss loss, const xt::xarray<double>& y, const xt::xarray<T>& out, std::string& what) {
  if (loss == Loss::cross_entropy) {
    const std::size_t k = out.dimension() == 2 ? out.shape()[1] : 1;
    what = fmt::format("log {} for {} classes", k, k);
    return std::log(static_cast<double>(k));
  }
  if (loss == Loss::bce || loss == Loss::bce_with_logits) {
    what = "log 2 for two classes";
    return std::log(2.0);
  }
  // mse: the mean over output columns of each column's variance
  const std::size_t n = y.shape()[0], k = y.size() / std::max<std::size_t>(n, 1);
  double total = 0;
  for (std::size_t c = 0; c < k; ++c) {
    double s = 0, ss = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double v = y.data()[i * k + c];
      s += v, ss += v * v;
    }
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
}

template <class T>
Var<T> Trainer<T>::loss_on(Tape<T>& tape, const xt::xarray<T>& xb, const xt::xarray<T>& yb,
                           std::span<const std::size_t> rows) {
  Plan<T> plan = make_plan(model_, loss_);
  Var<T> out = forward(model_, plan, tape.constant(xb));
  last_output_ = out;
  Var<T> loss = data_loss(plan, out, yb, labels_, rows);
  if (l2_ > 0) loss = add(loss, l2_penalty(tape, params_, l2_));
  if (l1_ > 0) loss = add(loss, l1_penalty(tape, params_, l1_));
  return loss;
}

template <class T>
double Trainer<T>::step(const xt::xarray<T>& xb, const xt::xarray<T>& yb, std::span<const std::size_t> row_ids) {
  const std::size_t rows = xb.dimension() > 0 ? xb.shape()[0] : 0;
  if (full_rows_ == 0) full_rows_ = rows;
  Tape<T>& tape = tapes_[rows == full_rows_ ? 0 : 1];
  tape.clear();
  Var<T> loss = loss_on(tape, xb, yb, row_ids);
  // The model's parameters, not only the optimizer's: clipping below measures all of them, and a
  // parameter the optimizer leaves alone must not carry gradients over from earlier steps.
  for (auto* p : params_) p->zero_grad();
  tape.backward(loss);  // every parameter's grad receives this step's gradient
  if (clip_norm > 0) clip_grad_norm(params_, clip_norm);
  if (clip_value > 0) clip_grad_value(params_, clip_value);
  opt_.step();
  return static_cast<double>(loss.item());
}

// ---- fit -----------------------------------------------------------------------------------
std::string History::to_csv() const {
  std::string s = fmt::format("epoch,loss,{0},val_loss,val_{0},lr,seconds\n", metric);
  for (const auto& e : epochs)
    s += fmt::format("{},{},{},{},{},{},{}\n", e.epoch, e.loss, e.metric, e.val_loss, e.val_metric, e.lr, e.seconds);
  return s;
}

template <class T>
History fit(Module<T>& model, Optimizer<T>& opt, const xt::xarray<double>& x, const xt::xarray<double>& y,
            const FitOptions& o) {
  check_xy("fit", x, y);
  if ((o.x_val == nullptr) != (o.y_val == nullptr))
    throw ValueError("fit: give both x_val and y_val, or neither");
  if (o.x_val) check_xy("fit (validation)", *o.x_val, *o.y_val);
  if (o.batch_size == 0) throw ValueError("fit: batch_size must be positive");
  const auto t_fit = Clock::now();
  const std::size_t n = x.shape()[0], bs = std::min(o.batch_size, n);
  const std::size_t batches = (n + bs - 1) / bs;

  Trainer<T> trainer(model, opt, o.loss, o.l2, o.l1);
  trainer.clip_norm = o.clip_norm;
  trainer.clip_value = o.clip_value;
  // Targets: labels stay (n,) for cross-entropy; other losses get a (rows, k) matrix.
  xt::xarray<double> y2;
  const xt::xarray<double>* yp = &y;
  if (o.loss != Loss::cross_entropy && y.dimension() == 1) {
    y2 = y;
    y2.reshape({n, std::size_t(1)});
    yp = &y2;
  }
  xt::xarray<T> xb[2], yb[2];

  History h;
  h.metric = o.loss == Loss::mse ? "r2" : "accuracy";
  h.epochs.reserve(o.epochs);
  auto state = model.state();
  std::vector<xt::xarray<T>> best;
  const bool early = o.patience > 0;
  if (early || o.restore_best) {
    best.reserve(state.size());
    for (auto& [name, a] : state) best.push_back(*a);
  }
  double best_loss = std::numeric_limits<double>::infinity();
  std::size_t wait = 0;
  // Divergence detection (see FitOptions): start and chance are known after the first step.
  double start_loss = 0, chance = 0, lowest_loss = std::numeric_limits<double>::infinity();
  std::size_t stalled = 0, lowest_epoch = 0;
  std::string chance_what;

  std::vector<std::size_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = i;
  Rng rng(o.seed);
  const double base_lr = opt.lr;
  const bool tty = o.verbose > 0 && isatty(fileno(stderr));
  const int digits = static_cast<int>(std::to_string(o.epochs).size());
  const bool was_training = model.training();

  for (std::size_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto t0 = Clock::now();
    model.train(true);
    opt.lr = o.schedule.at(base_lr, epoch - 1);
    if (o.shuffle) rng.shuffle(perm);
    double loss_sum = 0;
    Score score;
    score.regression = o.loss == Loss::mse;
    auto last_draw = Clock::now();
    for (std::size_t b = 0; b < batches; ++b) {
      const std::size_t begin = b * bs, end = std::min(n, begin + bs);
      const int slot = end - begin == bs ? 0 : 1;
      gather_rows(x, perm, begin, end, xb[slot]);
      gather_rows(*yp, perm, begin, end, yb[slot]);
      const double l = trainer.step(xb[slot], yb[slot], std::span<const std::size_t>(perm).subspan(begin, end - begin));
      if (!std::isfinite(l)) {
        if (tty) std::fputc('\n', stderr);
        const std::string reason = fmt::format("the loss became {} at epoch {}, batch {}", l, epoch, b + 1);
        throw DivergenceError(
            fmt::format("fit: {}: training diverged; lower the learning rate, scale the inputs or clip gradients",
                        reason),
            reason, epoch, l, false);
      }
      if (epoch == 1 && b == 0) {
        start_loss = l;
        chance = chance_loss(o.loss, y, trainer.last_output(), chance_what);
      }
      loss_sum += l * static_cast<double>(end - begin);
      score.add(trainer.last_output(), yb[slot], trainer.output_is_logits(), nullptr);
      if (tty && (since(last_draw) > 0.1 || b + 1 == batches)) {
        last_draw = Clock::now();
        std::fprintf(stderr, "\repoch %*zu/%zu [%s] %zu/%zu loss %.4f", digits, epoch, o.epochs,
                     bar(b + 1, batches, 24).c_str(), b + 1, batches, loss_sum / static_cast<double>(end));
        std::fflush(stderr);
      }
    }
    EpochStats st;
    st.epoch = epoch;
    st.loss = loss_sum / static_cast<double>(n);
    st.metric = score.value();
    st.lr = opt.lr;
    if (o.x_val) {
      const Evaluation ev = evaluate(model, *o.x_val, *o.y_val, o.loss, std::max<std::size_t>(bs, 256));
      st.val_loss = ev.loss;
      st.val_metric = ev.metric;
    }
    st.seconds = since(t0);
    h.epochs.push_back(st);

    if (o.detect_divergence) {
      const double ref = std::max(start_loss, chance);
      std::string why;
      if (st.loss > o.divergence_factor * ref) {
        why = fmt::format("the loss {:.4g} is more than {:g} times its start {:.4g} (chance: {:.4g}, {})", st.loss,
                          o.divergence_factor, start_loss, chance, chance_what);
      } else if (st.loss >= chance && st.loss >= lowest_loss) {
        if (++stalled >= std::max<std::size_t>(o.divergence_patience, 1))
          why = fmt::format("the loss {:.4g} has not gone below {:.4g} (epoch {}) for {} epochs and is no better "
                            "than chance, {:.4g} ({})",
                            st.loss, lowest_loss, lowest_epoch, stalled, chance, chance_what);
      } else {
        stalled = 0;
      }
      if (st.loss < lowest_loss) lowest_loss = st.loss, lowest_epoch = epoch;
      if (!why.empty()) {
        if (tty) std::fputc('\n', stderr);
        const std::string reason = fmt::format("training diverged at epoch {}: {}", epoch, why);
        throw DivergenceError(fmt::format("fit: {}; lower the learning rate, scale the inputs or clip gradients "
                                          "(FitOptions::detect_divergence = false trains on regardless)",
                                          reason),
                              reason, epoch, st.loss, true);
      }
    }

    const double monitored = o.x_val ? st.val_loss : st.loss;
    bool stop = false;
    if (monitored < best_loss - o.min_delta) {
      best_loss = monitored;
      h.best_epoch = epoch;
      wait = 0;
      for (std::size_t k = 0; k < best.size(); ++k)
        std::copy(state[k].second->begin(), state[k].second->end(), best[k].begin());
    } else if (early && ++wait >= o.patience) {
      stop = true;
      h.stopped_early = true;
    }
    if (o.verbose > 0 && (tty || epoch % std::max<std::size_t>(o.print_every, 1) == 0 || epoch == o.epochs || stop)) {
      std::string line = fmt::format("epoch {:>{}}/{} loss {:.4f} {} {:.4f}", epoch, digits, o.epochs, st.loss,
                                     h.metric, st.metric);
      if (o.x_val) line += fmt::format(" val_loss {:.4f} val_{} {:.4f}", st.val_loss, h.metric, st.val_metric);
      line += fmt::format(" lr {:.3g} {:.2f}s", st.lr, st.seconds);
      if (stop) line += fmt::format(" (early stop: best epoch {})", h.best_epoch);
      std::fprintf(stderr, "%s%s\n", tty ? "\r\033[K" : "", line.c_str());
    }
    if (o.on_epoch && !o.on_epoch(st)) break;
    if (stop) break;
  }
  // Restore the best weights when training was monitored and the last epoch was not the best.
  if (o.restore_best && (early || o.x_val) && h.best_epoch != 0 && h.best_epoch != h.epochs.size())
    for (std::size_t k = 0; k < best.size(); ++k) std::copy(best[k].begin(), best[k].end(), state[k].second->begin());
  opt.lr = o.schedule.kind == LrSchedule::Kind::constant ? base_lr : opt.lr;
  model.train(was_training);
  h.seconds = since(t_fit);
  return h;
}

// ---- evaluate / predict --------------------------------------------------------------------
template <class T>
Evaluation evaluate(Module<T>& model, const xt::xarray<double>& x, const xt::xarray<double>& y, Loss loss,
                    std::size_t batch_size) {
  check_xy("evaluate", x, y);
  const bool was_training = model.training();
  model.eval();
  NoGradGuard no_grad;
  const Plan<T> plan = make_plan(model, loss);
  const std::size_t n = x.shape()[0], bs = std::max<std::size_t>(1, std::min(batch_size, n));
  xt::xarray<double> y2;
  const xt::xarray<double>* yp = &y;
  if (loss != Loss::cross_entropy && y.dimension() == 1) {
    y2 = y;
    y2.reshape({n, std::size_t(1)});
    yp = &y2;
  }
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
      gather_rows(x, idx, begin, end, xb);
      gather_rows(*yp, idx, begin, end, yb);
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
xt::xarray<double> predict(Module<T>& model, const xt::xarray<double>& x, std::size_t batch_size) {
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
      gather_rows(x, idx, begin, end, xb);
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
  template History fit<T>(Module<T>&, Optimizer<T>&, const xt::xarray<double>&, const xt::xarray<double>&,     \
                          const FitOptions&);                                                                 \
  template Evaluation evaluate<T>(Module<T>&, const xt::xarray<double>&, const xt::xarray<double>&, Loss,      \
                                  std::size_t);                                                               \
  template xt::xarray<double> predict<T>(Module<T>&, const xt::xarray<double>&, std::size_t);
AD_NN_TRAIN(float)
AD_NN_TRAIN(double)
#undef AD_NN_TRAIN

}  // namespace ad::nn
