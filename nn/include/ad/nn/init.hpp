// Weight initializers. Every random draw goes through the one seeded ad::nn::Rng, so the same
// seed gives the same weights bit for bit on every machine.
//
// Weights are (fan_in, fan_out), row-major (Z = X W + b). Draws are made in row-major order in
// double precision and rounded to T, so float and double models start from the same numbers.
//
//   pytorch_default  W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))   (torch.nn.Linear; the default)
//   xavier_uniform   W ~ U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)),   b = 0   (Glorot)
//   xavier_normal    W ~ N(0, gain^2 2 / (fan_in + fan_out)),               b = 0
//   he_uniform       W ~ U(-a, a), a = sqrt(6 / fan_in),                    b = 0   (Kaiming)
//   he_normal        W ~ N(0, 2 / fan_in),                                  b = 0
//   small_normal     W ~ N(0, 0.01^2),                                      b = 0
//   zeros            W = 0, b = 0  (only sensible for a single layer: all units stay equal)
//
// For pytorch_default a Linear layer draws W entry by entry, then b (the order the W2 benchmark
// reproduces).
#pragma once

#include <ad/nn/random.hpp>

#include <ad/config.hpp>  // first: pins the array types

#include <xtensor/xarray.hpp>

#include <string>

namespace ad::nn {

enum class Init { pytorch_default, xavier_uniform, xavier_normal, he_uniform, he_normal, small_normal, zeros };

/// "pytorch_default" (also "default", "pytorch"), "xavier_uniform" ("glorot_uniform"),
/// "xavier_normal", "he_uniform" ("kaiming_uniform"), "he_normal", "small_normal", "zeros".
/// Throws ValueError listing the names for anything else.
Init init_from_name(const std::string& name);
const char* init_name(Init init);

/// Fills every entry, in row-major order, with rng.uniform(lo, hi) / rng.normal(mean, stddev).
template <class T> void uniform_(xt::xarray<T>& a, double lo, double hi, Rng& rng);
template <class T> void normal_(xt::xarray<T>& a, double mean, double stddev, Rng& rng);
template <class T> void zeros_(xt::xarray<T>& a);
template <class T> void constant_(xt::xarray<T>& a, double value);

/// The named initializers for a (fan_in, fan_out) weight matrix.
template <class T> void xavier_uniform_(xt::xarray<T>& w, Rng& rng, double gain = 1.0);
template <class T> void xavier_normal_(xt::xarray<T>& w, Rng& rng, double gain = 1.0);
template <class T> void he_uniform_(xt::xarray<T>& w, Rng& rng);
template <class T> void he_normal_(xt::xarray<T>& w, Rng& rng);

/// Initializes a linear layer's weight (fan_in, fan_out) and, if non-null, its bias (fan_out,)
/// as the table above says.
template <class T> void init_linear(xt::xarray<T>& w, xt::xarray<T>* b, Init init, Rng& rng);

}  // namespace ad::nn
