// Modules: the building blocks of a network (Linear, activations, Dropout, BatchNorm1d) and
// Sequential, which chains them; mlp() builds a multilayer perceptron from layer sizes.
//
// A module's forward() records operations on the tape of its input; it holds no derivative
// code. Gradients come from the tape's reverse sweep. Parameters live in the module (they
// outlive the tape) and are recorded as leaves that read their storage in place.
//
// Conventions (as in the course notes and PyTorch): data is batch-major, a batch is (n, features);
// Linear computes Z = X W + b with W of shape (fan_in, fan_out). Modules start in training mode;
// eval() switches Dropout to the identity and BatchNorm1d to its running statistics.
//
//   auto net = ad::nn::mlp<double>({64, 50, 10}, "sigmoid", "softmax", /*seed=*/1);
//   ad::Tape<double> tape;
//   auto out = net(tape.constant(x));      // (n, 10) probabilities
#pragma once

#include <ad/nn/init.hpp>
#include <ad/nn/parameter.hpp>
#include <ad/nn/random.hpp>
#include <ad/ops.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ad::nn {

template <class T>
class Module {
 public:
  virtual ~Module() = default;

  /// Records this module's computation on x's tape and returns its output.
  virtual Var<T> forward(const Var<T>& x) = 0;
  Var<T> operator()(const Var<T>& x) { return forward(x); }

  /// Appends pointers to the trainable parameters (stable while the module lives).
  virtual void collect_parameters(std::vector<Parameter<T>*>& /*out*/) {}
  std::vector<Parameter<T>*> parameters();
  /// Everything a saved model holds: parameters and non-trainable buffers (running statistics),
  /// named, in a fixed order.
  virtual void collect_state(std::vector<std::pair<std::string, xt::xarray<T>*>>& out);
  std::vector<std::pair<std::string, xt::xarray<T>*>> state();
  /// grad <- 0 for every parameter.
  void zero_grad();

  virtual void train(bool on = true) { training_ = on; }
  void eval() { train(false); }
  bool training() const { return training_; }

  /// One line naming the module and its configuration, e.g. "linear 64 50 bias"; this is what a
  /// saved model file stores as the architecture.
  virtual std::string spec() const = 0;
  /// A readable summary (for printing a model).
  virtual std::string describe() const { return spec(); }

 protected:
  bool training_ = true;
};

/// Z = X W + b, W (in, out), b (out,), broadcast over the batch.
template <class T>
class Linear : public Module<T> {
 public:
  Linear(std::size_t in, std::size_t out, Rng& rng, Init init = Init::pytorch_default, bool bias = true);
  Linear(std::size_t in, std::size_t out, std::uint64_t seed = 0, Init init = Init::pytorch_default,
         bool bias = true);
  Var<T> forward(const Var<T>& x) override;
  void collect_parameters(std::vector<Parameter<T>*>& out) override;
  std::string spec() const override;
  std::size_t in_features() const { return in_; }
  std::size_t out_features() const { return out_; }
  bool has_bias() const { return has_bias_; }

  Parameter<T> weight;
  Parameter<T> bias;  // empty when has_bias() is false

 private:
  std::size_t in_, out_;
  bool has_bias_;
};

/// An activation function as a layer: any function of one argument of the op rules
/// (<ad/ops/rules.hpp>: "sigmoid", "tanh", "relu", "swish", "softplus", "erf", "sin", ...) by its
/// name, and "identity" (or "linear"), "silu" (= swish), "leaky_relu" (alpha = slope, default
/// 0.01), "elu" (alpha default 1), "softmax" (over the last axis).
template <class T>
class Activation : public Module<T> {
 public:
  explicit Activation(const std::string& name, double alpha = -1);  // alpha < 0: the default
  Var<T> forward(const Var<T>& x) override;
  std::string spec() const override;
  const std::string& name() const { return name_; }
  double alpha() const { return alpha_; }

 private:
  std::string name_;
  int kind_;
  double alpha_;
};

/// Applies the named activation (the names of Activation) to x.
template <class T>
Var<T> activate(const Var<T>& x, const std::string& name, double alpha = -1);
/// Throws ValueError listing the known names unless `name` is one.
void check_activation_name(const std::string& name);
/// Every name Activation accepts: identity, linear, leaky_relu, elu, softmax, silu, then the
/// functions of one argument of the op rules in their list's order.
std::vector<std::string> activation_names();

/// Inverted dropout: in training each entry is zeroed with probability p and the rest scaled by
/// 1 / (1 - p); in eval mode the identity. The mask comes from the module's own seeded Rng.
template <class T>
class Dropout : public Module<T> {
 public:
  explicit Dropout(double p = 0.5, std::uint64_t seed = 0);
  Var<T> forward(const Var<T>& x) override;
  std::string spec() const override;
  double p() const { return p_; }
  void reseed(std::uint64_t seed) { rng_ = Rng(seed); }

 private:
  double p_;
  std::uint64_t seed_;
  Rng rng_;
  xt::xarray<T> mask_;
};

/// Batch normalization over the batch axis of (n, features) input (torch.nn.BatchNorm1d):
/// training uses the batch mean and (biased) variance and updates the running statistics,
///   running = (1 - momentum) running + momentum batch   (running_var from the unbiased variance);
/// eval uses the running statistics. y = gamma (x - mean) / sqrt(var + eps) + beta.
template <class T>
class BatchNorm1d : public Module<T> {
 public:
  explicit BatchNorm1d(std::size_t features, double momentum = 0.1, double eps = 1e-5);
  Var<T> forward(const Var<T>& x) override;
  void collect_parameters(std::vector<Parameter<T>*>& out) override;
  void collect_state(std::vector<std::pair<std::string, xt::xarray<T>*>>& out) override;
  std::string spec() const override;
  std::size_t features() const { return features_; }

  Parameter<T> gamma, beta;
  xt::xarray<T> running_mean, running_var;

 private:
  std::size_t features_;
  double momentum_, eps_;
  xt::xarray<T> shift_, scale_;  // eval: -running_mean, 1/sqrt(running_var + eps)
};

/// Modules applied in order. Parameter names are "<index>.<name>" ("0.weight", "0.bias", ...).
template <class T>
class Sequential : public Module<T> {
 public:
  Sequential() = default;
  Sequential(Sequential&&) = default;
  Sequential& operator=(Sequential&&) = default;

  /// Appends a module; returns a reference to it.
  template <class M>
  M& add(std::unique_ptr<M> m) {
    M& ref = *m;
    layers_.push_back(std::move(m));
    ref.train(this->training_);
    return ref;
  }
  template <class M, class... Args>
  M& emplace(Args&&... args) {
    return add(std::make_unique<M>(std::forward<Args>(args)...));
  }

  Var<T> forward(const Var<T>& x) override;
  /// Forward through the first `count` layers only (fit uses it to hand a final softmax or
  /// sigmoid to a fused, numerically stable loss).
  Var<T> forward_first(const Var<T>& x, std::size_t count);
  void collect_parameters(std::vector<Parameter<T>*>& out) override;
  void collect_state(std::vector<std::pair<std::string, xt::xarray<T>*>>& out) override;
  void train(bool on = true) override;
  std::string spec() const override { return "sequential"; }
  std::string describe() const override;

  std::size_t size() const { return layers_.size(); }
  Module<T>& operator[](std::size_t i) { return *layers_.at(i); }
  const Module<T>& operator[](std::size_t i) const { return *layers_.at(i); }

 private:
  std::vector<std::unique_ptr<Module<T>>> layers_;
};

/// A multilayer perceptron: Linear(sizes[i], sizes[i+1]) for each consecutive pair, `hidden`
/// after every Linear but the last and `output` after the last ("identity" adds no layer).
/// Layers are initialized in order with one Rng (pytorch_default: W then b, layer by layer).
template <class T>
Sequential<T> mlp(const std::vector<std::size_t>& sizes, const std::string& hidden = "relu",
                  const std::string& output = "identity", std::uint64_t seed = 0,
                  Init init = Init::pytorch_default);
template <class T>
Sequential<T> mlp(const std::vector<std::size_t>& sizes, const std::string& hidden,
                  const std::string& output, Rng& rng, Init init = Init::pytorch_default);

extern template class Module<float>;
extern template class Module<double>;
extern template class Linear<float>;
extern template class Linear<double>;
extern template class Activation<float>;
extern template class Activation<double>;
extern template class Dropout<float>;
extern template class Dropout<double>;
extern template class BatchNorm1d<float>;
extern template class BatchNorm1d<double>;
extern template class Sequential<float>;
extern template class Sequential<double>;

}  // namespace ad::nn
