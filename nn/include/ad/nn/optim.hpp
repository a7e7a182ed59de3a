// Optimizers, learning-rate schedules and gradient clipping.
//
// An optimizer updates each Parameter's `value` in place from its `grad` (which backward() fills;
// zero_grad() before each backward, as in PyTorch). This is parameter arithmetic, not
// differentiation: the gradients themselves all come from the tape. The update formulas are
// PyTorch's (torch.optim, default options), step t counting from 1; g = grad + weight_decay p
// unless stated otherwise:
//
//   SGD      b = g (t = 1), b = mu b + (1 - dampening) g;  g = nesterov ? g + mu b : b  (if mu != 0)
//            p -= lr g
//   Adagrad  clr = lr / (1 + (t - 1) lr_decay);  s += g^2;  p -= clr g / (sqrt(s) + eps)
//   RMSprop  v = alpha v + (1 - alpha) g^2;  centered: a = alpha a + (1 - alpha) g, v~ = v - a^2
//            d = sqrt(v~) + eps;  momentum: b = mu b + g / d, p -= lr b;  else p -= lr g / d
//   Adam     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//            p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   AdamW    p *= 1 - lr weight_decay (decoupled; g = grad), then the Adam update
//
// All state is allocated when the optimizer is built, so step() never allocates.
#pragma once

#include <ad/nn/parameter.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace ad::nn {

template <class T>
class Optimizer {
 public:
  Optimizer(std::vector<Parameter<T>*> params, double lr);
  virtual ~Optimizer() = default;
  /// One update of every parameter from its grad.
  virtual void step() = 0;
  /// grad <- 0 for every parameter.
  void zero_grad();
  virtual std::string name() const = 0;

  double lr;  // the current learning rate (schedules set it)
  std::size_t steps() const { return t_; }
  const std::vector<Parameter<T>*>& parameters() const { return params_; }

 protected:
  /// One buffer of zeros per parameter, shaped like it.
  std::vector<xt::xarray<T>> zeros_like_params() const;
  std::vector<Parameter<T>*> params_;
  std::size_t t_ = 0;
};

struct SGDOptions {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
template <class T>
class SGD : public Optimizer<T> {
 public:
  SGD(std::vector<Parameter<T>*> params, const SGDOptions& o = {});
  void step() override;
  std::string name() const override { return "sgd"; }
  SGDOptions options;

 private:
  std::vector<xt::xarray<T>> buf_;
};

struct AdagradOptions {
  double lr = 0.01, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10;
};
template <class T>
class Adagrad : public Optimizer<T> {
 public:
  Adagrad(std::vector<Parameter<T>*> params, const AdagradOptions& o = {});
  void step() override;
  std::string name() const override { return "adagrad"; }
  AdagradOptions options;

 private:
  std::vector<xt::xarray<T>> sum_;
};

struct RMSpropOptions {
  double lr = 0.01, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false;
};
template <class T>
class RMSprop : public Optimizer<T> {
 public:
  RMSprop(std::vector<Parameter<T>*> params, const RMSpropOptions& o = {});
  void step() override;
  std::string name() const override { return "rmsprop"; }
  RMSpropOptions options;

 private:
  std::vector<xt::xarray<T>> sq_, avg_, buf_;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};
/// Adam; with decoupled = true it is AdamW (default weight_decay then 0.01 via AdamW's options).
template <class T>
class Adam : public Optimizer<T> {
 public:
  Adam(std::vector<Parameter<T>*> params, const AdamOptions& o = {}, bool decoupled = false);
  void step() override;
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  AdamOptions options;

 private:
  bool decoupled_;
  std::vector<xt::xarray<T>> m_, v_;
};

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
};
template <class T>
class AdamW : public Adam<T> {
 public:
  AdamW(std::vector<Parameter<T>*> params, const AdamWOptions& o = {})
      : Adam<T>(std::move(params), AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay}, true) {}
};

/// Learning rate as a function of the epoch (0-based), applied by fit() at the start of each
/// epoch (or by you: opt.lr = schedule.at(base_lr, epoch)). Closed forms as torch.optim.lr_scheduler:
///   constant     base
///   step         base gamma^floor(epoch / step_size)
///   exponential  base gamma^epoch
///   cosine       eta_min + (base - eta_min) (1 + cos(pi epoch / t_max)) / 2   (epoch capped at t_max)
struct LrSchedule {
  enum class Kind { constant, step, exponential, cosine } kind = Kind::constant;
  std::size_t step_size = 1, t_max = 1;
  double gamma = 1, eta_min = 0;

  static LrSchedule constant() { return {}; }
  static LrSchedule step(std::size_t step_size, double gamma) { return {Kind::step, step_size, 1, gamma, 0}; }
  static LrSchedule exponential(double gamma) { return {Kind::exponential, 1, 1, gamma, 0}; }
  static LrSchedule cosine(std::size_t t_max, double eta_min = 0) { return {Kind::cosine, 1, t_max, 1, eta_min}; }
  double at(double base_lr, std::size_t epoch) const;
};

/// Scales all gradients together so their joint L2 norm is at most max_norm (when it is larger:
/// coefficient max_norm / (norm + 1e-6), as torch.nn.utils.clip_grad_norm_). Returns the norm
/// before clipping.
template <class T> double clip_grad_norm(const std::vector<Parameter<T>*>& params, double max_norm);
/// Clamps every gradient entry into [-clip, clip].
template <class T> void clip_grad_value(const std::vector<Parameter<T>*>& params, double clip);

/// Builds an optimizer by name ("sgd", "momentum" (SGD, 0.9), "nesterov" (SGD, 0.9), "adagrad",
/// "rmsprop", "adam", "adamw", "lbfgs" (ad/nn/lbfgs.hpp; its step needs a closure, which
/// Trainer and fit supply)) with learning rate lr and the other options at their defaults.
template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(const std::string& name, std::vector<Parameter<T>*> params, double lr);

extern template class Optimizer<float>;
extern template class Optimizer<double>;
extern template class SGD<float>;
extern template class SGD<double>;
extern template class Adagrad<float>;
extern template class Adagrad<double>;
extern template class RMSprop<float>;
extern template class RMSprop<double>;
extern template class Adam<float>;
extern template class Adam<double>;

}  // namespace ad::nn
