// Losses and penalties as compositions of autodiff ops (no derivative code here).
#include <ad/error.hpp>
#include <ad/nn/losses.hpp>

#include <fmt/format.h>

namespace ad::nn {

namespace {
template <class T>
void check_same(const char* op, const Var<T>& a, const Var<T>& b) {
  const auto& sa = a.shape();
  const auto& sb = b.shape();
  if (sa.size() != sb.size() || !std::equal(sa.begin(), sa.end(), sb.begin()))
    throw ShapeError(fmt::format("{}: prediction {} and target {} must have the same shape; reshape the "
                                 "target (e.g. labels (n,) to (n, 1))",
                                 op, shape_str(sa), shape_str(sb)));
}
}  // namespace

template <class T>
Var<T> mse_loss(const Var<T>& pred, const Var<T>& target) {
  check_same("mse_loss", pred, target);
  Var<T> d = sub(pred, target);
  return mean(mul(d, d));
}

template <class T>
Var<T> bce_loss(const Var<T>& prob, const Var<T>& target, double eps) {
  check_same("bce_loss", prob, target);
  Var<T> p = clamp(prob, static_cast<T>(eps), static_cast<T>(1 - eps));
  // -(y log p + (1 - y) log(1 - p))
  Var<T> ll = target * log(p) + (T(1) - target) * log(T(1) - p);
  return neg(mean(ll));
}

template <class T>
Var<T> bce_with_logits(const Var<T>& z, const Var<T>& target) {
  check_same("bce_with_logits", z, target);
  // -(y log s(z) + (1-y) log(1 - s(z))) = softplus(z) - y z
  return mean(sub(softplus(z), mul(target, z)));
}

template <class T>
Var<T> cross_entropy(const Var<T>& logits, const std::vector<std::size_t>& labels) {
  if (logits.dim() != 2 || logits.shape()[0] != labels.size())
    throw ShapeError(fmt::format("cross_entropy: logits {} need to be (n, classes) with n = {} labels",
                                 shape_str(logits.shape()), labels.size()));
  return neg(mean(pick(log_softmax(logits, -1), labels)));
}

template <class T>
Var<T> cross_entropy(const Var<T>& logits, const Var<T>& one_hot) {
  check_same("cross_entropy", logits, one_hot);
  if (logits.dim() != 2)
    throw ShapeError(fmt::format("cross_entropy: logits must be (n, classes), got {}", shape_str(logits.shape())));
  const T n = static_cast<T>(logits.shape()[0]);
  return neg(div(sum(mul(one_hot, log_softmax(logits, -1))), logits.tape().constant(n)));
}

template <class T>
Var<T> l2_penalty(Tape<T>& tape, const std::vector<Parameter<T>*>& params, double lambda, bool include_all) {
  Var<T> total;
  for (auto* p : params) {
    if (!p->decay && !include_all) continue;
    Var<T> w = p->on(tape);
    Var<T> s = sum(mul(w, w));
    total = total.valid() ? add(total, s) : s;
  }
  if (!total.valid()) return tape.constant(T(0));
  return mul(total, tape.constant(static_cast<T>(lambda / 2)));
}

template <class T>
Var<T> l1_penalty(Tape<T>& tape, const std::vector<Parameter<T>*>& params, double lambda, bool include_all) {
  Var<T> total;
  for (auto* p : params) {
    if (!p->decay && !include_all) continue;
    Var<T> s = sum(abs(p->on(tape)));
    total = total.valid() ? add(total, s) : s;
  }
  if (!total.valid()) return tape.constant(T(0));
  return mul(total, tape.constant(static_cast<T>(lambda)));
}

Loss loss_from_name(const std::string& name) {
  if (name == "mse") return Loss::mse;
  if (name == "bce" || name == "binary_cross_entropy") return Loss::bce;
  if (name == "bce_with_logits" || name == "bce_logits") return Loss::bce_with_logits;
  if (name == "cross_entropy" || name == "ce") return Loss::cross_entropy;
  throw ValueError(fmt::format("loss: unknown name '{}'; use mse, bce, bce_with_logits or cross_entropy", name));
}

const char* loss_name(Loss loss) {
  switch (loss) {
    case Loss::mse: return "mse";
    case Loss::bce: return "bce";
    case Loss::bce_with_logits: return "bce_with_logits";
    case Loss::cross_entropy: return "cross_entropy";
  }
  return "?";
}

#define AD_NN_LOSSES(T)                                                                          \
  template Var<T> mse_loss<T>(const Var<T>&, const Var<T>&);                                     \
  template Var<T> bce_loss<T>(const Var<T>&, const Var<T>&, double);                             \
  template Var<T> bce_with_logits<T>(const Var<T>&, const Var<T>&);                              \
  template Var<T> cross_entropy<T>(const Var<T>&, const std::vector<std::size_t>&);              \
  template Var<T> cross_entropy<T>(const Var<T>&, const Var<T>&);                                \
  template Var<T> l2_penalty<T>(Tape<T>&, const std::vector<Parameter<T>*>&, double, bool);      \
  template Var<T> l1_penalty<T>(Tape<T>&, const std::vector<Parameter<T>*>&, double, bool);
AD_NN_LOSSES(float)
AD_NN_LOSSES(double)
#undef AD_NN_LOSSES

}  // namespace ad::nn
