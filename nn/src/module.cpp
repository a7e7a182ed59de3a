// Layers, Sequential and the MLP builder: forward passes made of autodiff ops only.
#include <ad/error.hpp>
#include <ad/nn/module.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ad::nn {

// ---- Module --------------------------------------------------------------------------------
template <class T>
std::vector<Parameter<T>*> Module<T>::parameters() {
  std::vector<Parameter<T>*> out;
  collect_parameters(out);
  return out;
}

template <class T>
void Module<T>::collect_state(std::vector<std::pair<std::string, xt::xarray<T>*>>& out) {
  std::vector<Parameter<T>*> ps;
  collect_parameters(ps);
  for (auto* p : ps) out.emplace_back(p->local_name.empty() ? p->name : p->local_name, &p->value);
}

template <class T>
std::vector<std::pair<std::string, xt::xarray<T>*>> Module<T>::state() {
  std::vector<std::pair<std::string, xt::xarray<T>*>> out;
  collect_state(out);
  return out;
}

template <class T>
void Module<T>::zero_grad() {
  for (auto* p : parameters()) p->zero_grad();
}

// ---- Linear --------------------------------------------------------------------------------
template <class T>
Linear<T>::Linear(std::size_t in, std::size_t out, Rng& rng, Init init, bool bias)
    : weight("weight", {in, out}, true), in_(in), out_(out), has_bias_(bias) {
  if (in == 0 || out == 0)
    throw ValueError(fmt::format("Linear: sizes must be positive, got in={} out={}", in, out));
  if (bias) this->bias = Parameter<T>("bias", {out}, false);
  init_linear(weight.value, bias ? &this->bias.value : nullptr, init, rng);
}

template <class T>
Linear<T>::Linear(std::size_t in, std::size_t out, std::uint64_t seed, Init init, bool bias)
    : Linear(in, out, *std::make_unique<Rng>(seed), init, bias) {}

template <class T>
Var<T> Linear<T>::forward(const Var<T>& x) {
  Tape<T>& t = x.tape();
  if (x.dim() != 2 || x.shape()[1] != in_)
    throw ShapeError(fmt::format("Linear: expected input of shape (n, {}), got {}; the layer was built "
                                 "for {} input features",
                                 in_, shape_str(x.shape()), in_));
  if (has_bias_) return linear(x, weight.on(t), bias.on(t));  // Z = X W + b, one node
  return matmul(x, weight.on(t));
}

template <class T>
void Linear<T>::collect_parameters(std::vector<Parameter<T>*>& out) {
  out.push_back(&weight);
  if (has_bias_) out.push_back(&bias);
}

template <class T>
std::string Linear<T>::spec() const {
  return fmt::format("linear {} {} {}", in_, out_, has_bias_ ? "bias" : "nobias");
}

// ---- activations ----------------------------------------------------------------------------
// Every function of one argument in the op rules (<ad/ops/rules.hpp>) is an activation of the
// same name; besides them: identity (alias linear), silu (= swish), leaky_relu and elu (with their
// parameter alpha) and softmax (over the last axis).
namespace {
#define AD_ACTIVATION_NAME(Rule, fn) #fn,
constexpr const char* kRuleNames[] = {AD_UNARY_RULES(AD_ACTIVATION_NAME)};
#undef AD_ACTIVATION_NAME
constexpr int kRules = static_cast<int>(sizeof(kRuleNames) / sizeof(kRuleNames[0]));
// Kinds: 0 .. kRules - 1 a rule; then these.
enum Kind { kIdentity = kRules, kLeakyRelu, kElu, kSoftmax };

int rule_index(std::string_view name) {
  for (int i = 0; i < kRules; ++i)
    if (name == kRuleNames[i]) return i;
  return -1;
}

int activation_kind(const std::string& name) {
  if (name == "identity" || name == "linear") return kIdentity;
  if (name == "leaky_relu") return kLeakyRelu;
  if (name == "elu") return kElu;
  if (name == "softmax") return kSoftmax;
  if (name == "silu") return rule_index("swish");
  if (const int i = rule_index(name); i >= 0) return i;
  std::string known;
  for (const std::string& n : activation_names()) known += (known.empty() ? "" : ", ") + n;
  throw ValueError(fmt::format("activation: unknown name '{}'; use one of {}", name, known));
}
double default_alpha(int k) { return k == kLeakyRelu ? 0.01 : k == kElu ? 1.0 : 0.0; }

template <class T>
Var<T> apply(const Var<T>& x, int k, double alpha) {
  using Fn = Var<T> (*)(const Var<T>&);
#define AD_ACTIVATION_FN(Rule, fn) +[](const Var<T>& v) { return fn(v); },
  static constexpr Fn rules[] = {AD_UNARY_RULES(AD_ACTIVATION_FN)};
#undef AD_ACTIVATION_FN
  if (k >= 0 && k < kRules) return rules[k](x);
  switch (k) {
    case kIdentity: return x;
    case kLeakyRelu: return leaky_relu(x, static_cast<T>(alpha));
    case kElu: return elu(x, static_cast<T>(alpha));
    case kSoftmax: return softmax(x, -1);
    default: return x;
  }
}
}  // namespace

void check_activation_name(const std::string& name) { (void)activation_kind(name); }

std::vector<std::string> activation_names() {
  std::vector<std::string> out = {"identity", "linear", "leaky_relu", "elu", "softmax", "silu"};
  out.insert(out.end(), std::begin(kRuleNames), std::end(kRuleNames));
  return out;
}

template <class T>
Var<T> activate(const Var<T>& x, const std::string& name, double alpha) {
  const int k = activation_kind(name);
  return apply(x, k, alpha < 0 ? default_alpha(k) : alpha);
}

template <class T>
Activation<T>::Activation(const std::string& name, double alpha) : name_(name), kind_(activation_kind(name)) {
  alpha_ = alpha < 0 ? default_alpha(kind_) : alpha;
}

template <class T>
Var<T> Activation<T>::forward(const Var<T>& x) {
  return apply(x, kind_, alpha_);
}

template <class T>
std::string Activation<T>::spec() const {
  if (kind_ == kLeakyRelu || kind_ == kElu) return fmt::format("activation {} {:a}", name_, alpha_);
  return "activation " + name_;
}

// ---- Dropout -------------------------------------------------------------------------------
template <class T>
Dropout<T>::Dropout(double p, std::uint64_t seed) : p_(p), seed_(seed), rng_(seed) {
  if (!(p >= 0 && p < 1)) throw ValueError(fmt::format("Dropout: p must be in [0, 1), got {}", p));
}

template <class T>
Var<T> Dropout<T>::forward(const Var<T>& x) {
  if (!this->training_ || p_ == 0) return x;
  const auto& s = x.shape();
  if (mask_.dimension() != s.size() || !std::equal(s.begin(), s.end(), mask_.shape().begin())) mask_.resize(s);
  const T keep = static_cast<T>(1.0 / (1.0 - p_));
  T* m = mask_.data();
  for (std::size_t i = 0; i < mask_.size(); ++i) m[i] = rng_.uniform() < p_ ? T(0) : keep;
  return mul(x, x.tape().constant(mask_));  // the mask is data: no gradient flows into it
}

template <class T>
std::string Dropout<T>::spec() const {
  return fmt::format("dropout {:a} {}", p_, seed_);
}

// ---- BatchNorm1d ---------------------------------------------------------------------------
template <class T>
BatchNorm1d<T>::BatchNorm1d(std::size_t features, double momentum, double eps)
    : gamma("gamma", {features}, false), beta("beta", {features}, false),
      running_mean(xt::xarray<T>::from_shape({features})), running_var(xt::xarray<T>::from_shape({features})),
      features_(features), momentum_(momentum), eps_(eps),
      shift_(xt::xarray<T>::from_shape({features})), scale_(xt::xarray<T>::from_shape({features})) {
  if (features == 0) throw ValueError("BatchNorm1d: features must be positive");
  std::fill(gamma.value.begin(), gamma.value.end(), T(1));
  std::fill(running_mean.begin(), running_mean.end(), T(0));
  std::fill(running_var.begin(), running_var.end(), T(1));
}

template <class T>
Var<T> BatchNorm1d<T>::forward(const Var<T>& x) {
  Tape<T>& t = x.tape();
  if (x.dim() != 2 || x.shape()[1] != features_)
    throw ShapeError(fmt::format("BatchNorm1d: expected input of shape (n, {}), got {}", features_,
                                 shape_str(x.shape())));
  const std::size_t n = x.shape()[0];
  if (this->training_) {
    if (n < 2)
      throw ValueError(fmt::format("BatchNorm1d: training needs batches of at least 2 rows, got {}; "
                                   "use eval() or a larger batch",
                                   n));
    Var<T> mu = mean(x, 0, true);           // (1, F)
    Var<T> xc = sub(x, mu);
    Var<T> var = mean(mul(xc, xc), 0, true);  // biased variance
    Var<T> xhat = div(xc, sqrt(add(var, t.constant(static_cast<T>(eps_)))));
    // running statistics: plain arithmetic on buffers, outside the graph
    const T m = static_cast<T>(momentum_), unbias = static_cast<T>(double(n) / double(n - 1));
    const T* bm = mu.value().data();
    const T* bv = var.value().data();
    for (std::size_t j = 0; j < features_; ++j) {
      running_mean.data()[j] = (T(1) - m) * running_mean.data()[j] + m * bm[j];
      running_var.data()[j] = (T(1) - m) * running_var.data()[j] + m * bv[j] * unbias;
    }
    return add(mul(xhat, gamma.on(t)), beta.on(t));
  }
  for (std::size_t j = 0; j < features_; ++j) {
    shift_.data()[j] = -running_mean.data()[j];
    scale_.data()[j] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var.data()[j]) + eps_));
  }
  Var<T> xhat = mul(add(x, t.constant(shift_)), t.constant(scale_));
  return add(mul(xhat, gamma.on(t)), beta.on(t));
}

template <class T>
void BatchNorm1d<T>::collect_parameters(std::vector<Parameter<T>*>& out) {
  out.push_back(&gamma);
  out.push_back(&beta);
}

template <class T>
void BatchNorm1d<T>::collect_state(std::vector<std::pair<std::string, xt::xarray<T>*>>& out) {
  out.emplace_back("gamma", &gamma.value);
  out.emplace_back("beta", &beta.value);
  out.emplace_back("running_mean", &running_mean);
  out.emplace_back("running_var", &running_var);
}

template <class T>
std::string BatchNorm1d<T>::spec() const {
  return fmt::format("batchnorm1d {} {:a} {:a}", features_, momentum_, eps_);
}

// ---- Sequential ----------------------------------------------------------------------------
template <class T>
Var<T> Sequential<T>::forward(const Var<T>& x) {
  return forward_first(x, layers_.size());
}

template <class T>
Var<T> Sequential<T>::forward_first(const Var<T>& x, std::size_t count) {
  Var<T> h = x;
  for (std::size_t i = 0; i < count && i < layers_.size(); ++i) h = layers_[i]->forward(h);
  return h;
}

// Names are the path from this module down, as PyTorch's named_parameters: layer i's
// parameter "weight" is "i.weight", and inside a nested Sequential "i.j.weight". They are
// rebuilt from each parameter's local name on every call, so calling parameters() again (on
// the outer or an inner Sequential) never stacks prefixes.
template <class T>
void Sequential<T>::collect_parameters(std::vector<Parameter<T>*>& out) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const std::size_t first = out.size();
    layers_[i]->collect_parameters(out);
    // A nested Sequential has just named its parameters relative to itself; any other layer's
    // parameters start again from their local names.
    const bool nested = dynamic_cast<Sequential<T>*>(layers_[i].get()) != nullptr;
    for (std::size_t k = first; k < out.size(); ++k) {
      Parameter<T>& p = *out[k];
      if (p.local_name.empty()) p.local_name = p.name;  // a Parameter named by hand
      p.name = fmt::format("{}.{}", i, nested ? p.name : p.local_name);
    }
  }
}

template <class T>
void Sequential<T>::collect_state(std::vector<std::pair<std::string, xt::xarray<T>*>>& out) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    std::vector<std::pair<std::string, xt::xarray<T>*>> sub;
    layers_[i]->collect_state(sub);
    for (auto& [name, a] : sub) out.emplace_back(fmt::format("{}.{}", i, name), a);  // relative to layer i
  }
}

template <class T>
void Sequential<T>::train(bool on) {
  this->training_ = on;
  for (auto& l : layers_) l->train(on);
}

template <class T>
std::string Sequential<T>::describe() const {
  std::string s = "Sequential(\n";
  for (std::size_t i = 0; i < layers_.size(); ++i) s += fmt::format("  ({}) {}\n", i, layers_[i]->describe());
  return s + ")";
}

// ---- mlp -----------------------------------------------------------------------------------
template <class T>
Sequential<T> mlp(const std::vector<std::size_t>& sizes, const std::string& hidden, const std::string& output,
                  Rng& rng, Init init) {
  if (sizes.size() < 2)
    throw ValueError(fmt::format("mlp: needs at least two layer sizes (inputs, outputs), got {}", sizes.size()));
  check_activation_name(hidden);
  check_activation_name(output);
  Sequential<T> net;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    net.template emplace<Linear<T>>(sizes[i], sizes[i + 1], rng, init);
    const std::string& act = i + 2 < sizes.size() ? hidden : output;
    if (act != "identity" && act != "linear") net.template emplace<Activation<T>>(act);
  }
  return net;
}

template <class T>
Sequential<T> mlp(const std::vector<std::size_t>& sizes, const std::string& hidden, const std::string& output,
                  std::uint64_t seed, Init init) {
  Rng rng(seed);
  return mlp<T>(sizes, hidden, output, rng, init);
}

#define AD_NN_MODULE(T)                                                                                      \
  template class Module<T>;                                                                                 \
  template class Linear<T>;                                                                                 \
  template class Activation<T>;                                                                             \
  template class Dropout<T>;                                                                                \
  template class BatchNorm1d<T>;                                                                            \
  template class Sequential<T>;                                                                             \
  template Var<T> activate<T>(const Var<T>&, const std::string&, double);                                   \
  template Sequential<T> mlp<T>(const std::vector<std::size_t>&, const std::string&, const std::string&,   \
                                Rng&, Init);                                                                \
  template Sequential<T> mlp<T>(const std::vector<std::size_t>&, const std::string&, const std::string&,   \
                                std::uint64_t, Init);
AD_NN_MODULE(float)
AD_NN_MODULE(double)
#undef AD_NN_MODULE

}  // namespace ad::nn
