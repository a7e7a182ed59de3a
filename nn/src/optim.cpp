// Optimizer updates (PyTorch's formulas, see optim.hpp): plain loops over parameter storage, one
// pass per parameter tensor, which g++ vectorizes (this file is compiled with -fno-math-errno).
#include <ad/error.hpp>
#include <ad/nn/lbfgs.hpp>
#include <ad/nn/optim.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ad::nn {

template <class T>
Optimizer<T>::Optimizer(std::vector<Parameter<T>*> params, double lr_) : lr(lr_), params_(std::move(params)) {
  if (!(lr_ >= 0)) throw ValueError(fmt::format("optimizer: learning rate must be >= 0, got {}", lr_));
}

template <class T>
void Optimizer<T>::zero_grad() {
  for (auto* p : params_) p->zero_grad();
}

template <class T>
std::vector<xt::xarray<T>> Optimizer<T>::zeros_like_params() const {
  std::vector<xt::xarray<T>> out;
  out.reserve(params_.size());
  for (auto* p : params_) {
    out.push_back(xt::xarray<T>::from_shape(p->value.shape()));
    std::fill(out.back().begin(), out.back().end(), T(0));
  }
  return out;
}

// ---- SGD -----------------------------------------------------------------------------------
template <class T>
SGD<T>::SGD(std::vector<Parameter<T>*> params, const SGDOptions& o) : Optimizer<T>(std::move(params), o.lr), options(o) {
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0");
  if (o.momentum != 0) buf_ = this->zeros_like_params();
}

template <class T>
void SGD<T>::step() {
  ++this->t_;
  const T lr = static_cast<T>(this->lr), wd = static_cast<T>(options.weight_decay),
          mu = static_cast<T>(options.momentum), damp = static_cast<T>(1 - options.dampening);
  for (std::size_t k = 0; k < this->params_.size(); ++k) {
    auto* prm = this->params_[k];
    T* p = prm->value.data();
    const T* gr = prm->grad.data();
    T* b = mu != 0 ? buf_[k].data() : nullptr;
    for (std::size_t i = 0; i < prm->value.size(); ++i) {
      T g = gr[i] + wd * p[i];
      if (b) {
        b[i] = this->t_ == 1 ? g : mu * b[i] + damp * g;
        g = options.nesterov ? g + mu * b[i] : b[i];
      }
      p[i] -= lr * g;
    }
  }
}

// ---- Adagrad -------------------------------------------------------------------------------
template <class T>
Adagrad<T>::Adagrad(std::vector<Parameter<T>*> params, const AdagradOptions& o)
    : Optimizer<T>(std::move(params), o.lr), options(o), sum_(this->zeros_like_params()) {
  for (auto& s : sum_) std::fill(s.begin(), s.end(), static_cast<T>(o.initial_accumulator_value));
}

template <class T>
void Adagrad<T>::step() {
  ++this->t_;
  const T clr = static_cast<T>(this->lr / (1 + static_cast<double>(this->t_ - 1) * options.lr_decay));
  const T wd = static_cast<T>(options.weight_decay), eps = static_cast<T>(options.eps);
  for (std::size_t k = 0; k < this->params_.size(); ++k) {
    auto* prm = this->params_[k];
    T* p = prm->value.data();
    const T* gr = prm->grad.data();
    T* s = sum_[k].data();
    for (std::size_t i = 0; i < prm->value.size(); ++i) {
      const T g = gr[i] + wd * p[i];
      s[i] += g * g;
      p[i] -= clr * g / (std::sqrt(s[i]) + eps);
    }
  }
}

// ---- RMSprop -------------------------------------------------------------------------------
template <class T>
RMSprop<T>::RMSprop(std::vector<Parameter<T>*> params, const RMSpropOptions& o)
    : Optimizer<T>(std::move(params), o.lr), options(o), sq_(this->zeros_like_params()) {
  if (o.centered) avg_ = this->zeros_like_params();
  if (o.momentum > 0) buf_ = this->zeros_like_params();
}

template <class T>
void RMSprop<T>::step() {
  ++this->t_;
  const T lr = static_cast<T>(this->lr), wd = static_cast<T>(options.weight_decay),
          a = static_cast<T>(options.alpha), eps = static_cast<T>(options.eps), mu = static_cast<T>(options.momentum);
  for (std::size_t k = 0; k < this->params_.size(); ++k) {
    auto* prm = this->params_[k];
    T* p = prm->value.data();
    const T* gr = prm->grad.data();
    T* v = sq_[k].data();
    T* ga = options.centered ? avg_[k].data() : nullptr;
    T* b = options.momentum > 0 ? buf_[k].data() : nullptr;
    for (std::size_t i = 0; i < prm->value.size(); ++i) {
      const T g = gr[i] + wd * p[i];
      v[i] = a * v[i] + (T(1) - a) * g * g;
      T d;
      if (ga) {
        ga[i] += (T(1) - a) * (g - ga[i]);
        d = std::sqrt(v[i] - ga[i] * ga[i]) + eps;
      } else {
        d = std::sqrt(v[i]) + eps;
      }
      if (b) {
        b[i] = mu * b[i] + g / d;
        p[i] -= lr * b[i];
      } else {
        p[i] -= lr * g / d;
      }
    }
  }
}

// ---- Adam / AdamW --------------------------------------------------------------------------
template <class T>
Adam<T>::Adam(std::vector<Parameter<T>*> params, const AdamOptions& o, bool decoupled)
    : Optimizer<T>(std::move(params), o.lr), options(o), decoupled_(decoupled), m_(this->zeros_like_params()),
      v_(this->zeros_like_params()) {}

template <class T>
void Adam<T>::step() {
  ++this->t_;
  const double t = static_cast<double>(this->t_);
  const T b1 = static_cast<T>(options.beta1), b2 = static_cast<T>(options.beta2), eps = static_cast<T>(options.eps);
  const T step_size = static_cast<T>(this->lr / (1 - std::pow(options.beta1, t)));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(options.beta2, t)));
  const T wd = decoupled_ ? T(0) : static_cast<T>(options.weight_decay);
  const T shrink = decoupled_ ? static_cast<T>(1 - this->lr * options.weight_decay) : T(1);
  const bool decoupled = decoupled_;
  // One pass per parameter tensor, vectorized (this file is compiled with -fno-math-errno, see
  // nn/CMakeLists.txt: otherwise sqrt's errno path keeps g++ from vectorizing the loop; the
  // numbers are the same either way, sqrt and division being exactly rounded in both).
  for (std::size_t k = 0; k < this->params_.size(); ++k) {
    auto* prm = this->params_[k];
    T* __restrict p = prm->value.data();
    const T* __restrict gr = prm->grad.data();
    T* __restrict m = m_[k].data();
    T* __restrict v = v_[k].data();
    const std::size_t size = prm->value.size();
    for (std::size_t i = 0; i < size; ++i) {
      if (decoupled) p[i] *= shrink;
      const T g = gr[i] + wd * p[i];
      m[i] = b1 * m[i] + (T(1) - b1) * g;
      v[i] = b2 * v[i] + (T(1) - b2) * g * g;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
    }
  }
}

// ---- schedules and clipping ----------------------------------------------------------------
double LrSchedule::at(double base, std::size_t epoch) const {
  const double e = static_cast<double>(epoch);
  switch (kind) {
    case Kind::constant: return base;
    case Kind::step: return base * std::pow(gamma, std::floor(e / static_cast<double>(std::max<std::size_t>(step_size, 1))));
    case Kind::exponential: return base * std::pow(gamma, e);
    case Kind::cosine: {
      const double tm = static_cast<double>(std::max<std::size_t>(t_max, 1));
      return eta_min + (base - eta_min) * (1 + std::cos(3.141592653589793 * std::min(e, tm) / tm)) / 2;
    }
  }
  return base;
}

template <class T>
double clip_grad_norm(const std::vector<Parameter<T>*>& params, double max_norm) {
  double sq = 0;
  for (auto* p : params)
    for (std::size_t i = 0; i < p->grad.size(); ++i) sq += static_cast<double>(p->grad.data()[i]) * p->grad.data()[i];
  const double norm = std::sqrt(sq), coef = max_norm / (norm + 1e-6);
  if (coef < 1)
    for (auto* p : params)
      for (std::size_t i = 0; i < p->grad.size(); ++i) p->grad.data()[i] *= static_cast<T>(coef);
  return norm;
}

template <class T>
void clip_grad_value(const std::vector<Parameter<T>*>& params, double clip) {
  const T c = static_cast<T>(clip);
  for (auto* p : params)
    for (std::size_t i = 0; i < p->grad.size(); ++i) p->grad.data()[i] = std::clamp(p->grad.data()[i], -c, c);
}

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(const std::string& name, std::vector<Parameter<T>*> params, double lr) {
  if (name == "sgd") return std::make_unique<SGD<T>>(std::move(params), SGDOptions{.lr = lr});
  if (name == "momentum") return std::make_unique<SGD<T>>(std::move(params), SGDOptions{.lr = lr, .momentum = 0.9});
  if (name == "nesterov")
    return std::make_unique<SGD<T>>(std::move(params), SGDOptions{.lr = lr, .momentum = 0.9, .nesterov = true});
  if (name == "adagrad") return std::make_unique<Adagrad<T>>(std::move(params), AdagradOptions{.lr = lr});
  if (name == "rmsprop") return std::make_unique<RMSprop<T>>(std::move(params), RMSpropOptions{.lr = lr});
  if (name == "adam") return std::make_unique<Adam<T>>(std::move(params), AdamOptions{.lr = lr});
  if (name == "adamw") return std::make_unique<AdamW<T>>(std::move(params), AdamWOptions{.lr = lr});
  if (name == "lbfgs") return std::make_unique<LBFGS<T>>(std::move(params), LBFGSOptions{.lr = lr});
  throw ValueError(fmt::format(
      "optimizer: unknown name '{}'; use sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw or lbfgs", name));
}

#define AD_NN_OPTIM(T)                                                                                   \
  template class Optimizer<T>;                                                                          \
  template class SGD<T>;                                                                                \
  template class Adagrad<T>;                                                                            \
  template class RMSprop<T>;                                                                            \
  template class Adam<T>;                                                                               \
  template double clip_grad_norm<T>(const std::vector<Parameter<T>*>&, double);                         \
  template void clip_grad_value<T>(const std::vector<Parameter<T>*>&, double);                          \
  template std::unique_ptr<Optimizer<T>> make_optimizer<T>(const std::string&, std::vector<Parameter<T>*>, \
                                                           double);
AD_NN_OPTIM(float)
AD_NN_OPTIM(double)
#undef AD_NN_OPTIM

}  // namespace ad::nn
