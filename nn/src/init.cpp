// Initializers; see init.hpp for the table of distributions.
#include <ad/error.hpp>
#include <ad/nn/init.hpp>
#include <ad/tape.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ad::nn {

namespace {
struct InitName {
  const char* name;
  Init init;
};
constexpr InitName kInitNames[] = {
    {"pytorch_default", Init::pytorch_default}, {"default", Init::pytorch_default},
    {"pytorch", Init::pytorch_default},         {"xavier_uniform", Init::xavier_uniform},
    {"glorot_uniform", Init::xavier_uniform},   {"xavier_normal", Init::xavier_normal},
    {"glorot_normal", Init::xavier_normal},     {"he_uniform", Init::he_uniform},
    {"kaiming_uniform", Init::he_uniform},      {"he_normal", Init::he_normal},
    {"kaiming_normal", Init::he_normal},        {"small_normal", Init::small_normal},
    {"zeros", Init::zeros},
};

template <class T>
void check_matrix(const xt::xarray<T>& w, const char* who) {
  if (w.dimension() != 2)
    throw ShapeError(fmt::format("{}: the weight must be a (fan_in, fan_out) matrix, got shape {}", who,
                                 shape_str(w.shape())));
}
}  // namespace

Init init_from_name(const std::string& name) {
  for (const auto& e : kInitNames)
    if (name == e.name) return e.init;
  throw ValueError(fmt::format(
      "init: unknown initializer '{}'; use pytorch_default, xavier_uniform, xavier_normal, he_uniform, "
      "he_normal, small_normal or zeros",
      name));
}

const char* init_name(Init init) {
  switch (init) {
    case Init::pytorch_default: return "pytorch_default";
    case Init::xavier_uniform: return "xavier_uniform";
    case Init::xavier_normal: return "xavier_normal";
    case Init::he_uniform: return "he_uniform";
    case Init::he_normal: return "he_normal";
    case Init::small_normal: return "small_normal";
    case Init::zeros: return "zeros";
  }
  return "?";
}

template <class T>
void uniform_(xt::xarray<T>& a, double lo, double hi, Rng& rng) {
  T* p = a.data();
  for (std::size_t i = 0; i < a.size(); ++i) p[i] = static_cast<T>(rng.uniform(lo, hi));
}
template <class T>
void normal_(xt::xarray<T>& a, double mean, double stddev, Rng& rng) {
  T* p = a.data();
  for (std::size_t i = 0; i < a.size(); ++i) p[i] = static_cast<T>(rng.normal(mean, stddev));
}
template <class T>
void zeros_(xt::xarray<T>& a) {
  std::fill(a.begin(), a.end(), T(0));
}
template <class T>
void constant_(xt::xarray<T>& a, double value) {
  std::fill(a.begin(), a.end(), static_cast<T>(value));
}

template <class T>
void xavier_uniform_(xt::xarray<T>& w, Rng& rng, double gain) {
  check_matrix(w, "xavier_uniform");
  const double a = gain * std::sqrt(6.0 / static_cast<double>(w.shape()[0] + w.shape()[1]));
  uniform_(w, -a, a, rng);
}
template <class T>
void xavier_normal_(xt::xarray<T>& w, Rng& rng, double gain) {
  check_matrix(w, "xavier_normal");
  normal_(w, 0.0, gain * std::sqrt(2.0 / static_cast<double>(w.shape()[0] + w.shape()[1])), rng);
}
template <class T>
void he_uniform_(xt::xarray<T>& w, Rng& rng) {
  check_matrix(w, "he_uniform");
  const double a = std::sqrt(6.0 / static_cast<double>(w.shape()[0]));
  uniform_(w, -a, a, rng);
}
template <class T>
void he_normal_(xt::xarray<T>& w, Rng& rng) {
  check_matrix(w, "he_normal");
  normal_(w, 0.0, std::sqrt(2.0 / static_cast<double>(w.shape()[0])), rng);
}

template <class T>
void init_linear(xt::xarray<T>& w, xt::xarray<T>* b, Init init, Rng& rng) {
  check_matrix(w, "init_linear");
  const double fan_in = static_cast<double>(w.shape()[0]);
  switch (init) {
    case Init::pytorch_default: {
      const double bound = 1.0 / std::sqrt(fan_in);
      uniform_(w, -bound, bound, rng);
      if (b) uniform_(*b, -bound, bound, rng);
      return;
    }
    case Init::xavier_uniform: xavier_uniform_(w, rng); break;
    case Init::xavier_normal: xavier_normal_(w, rng); break;
    case Init::he_uniform: he_uniform_(w, rng); break;
    case Init::he_normal: he_normal_(w, rng); break;
    case Init::small_normal: normal_(w, 0.0, 0.01, rng); break;
    case Init::zeros: zeros_(w); break;
  }
  if (b) zeros_(*b);
}

#define AD_NN_INIT(T)                                                         \
  template void uniform_<T>(xt::xarray<T>&, double, double, Rng&);            \
  template void normal_<T>(xt::xarray<T>&, double, double, Rng&);             \
  template void zeros_<T>(xt::xarray<T>&);                                    \
  template void constant_<T>(xt::xarray<T>&, double);                         \
  template void xavier_uniform_<T>(xt::xarray<T>&, Rng&, double);             \
  template void xavier_normal_<T>(xt::xarray<T>&, Rng&, double);              \
  template void he_uniform_<T>(xt::xarray<T>&, Rng&);                         \
  template void he_normal_<T>(xt::xarray<T>&, Rng&);                          \
  template void init_linear<T>(xt::xarray<T>&, xt::xarray<T>*, Init, Rng&);
AD_NN_INIT(float)
AD_NN_INIT(double)
#undef AD_NN_INIT

}  // namespace ad::nn
