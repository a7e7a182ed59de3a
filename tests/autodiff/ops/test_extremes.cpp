// Elementwise ops at the extremes of the number line: values far beyond where exp, tanh and pow
// saturate, infinities and NaN, in float and double, forward and backward. xsimd reduces the
// argument of exp/expm1/tanh/pow through a float-to-integer conversion that is undefined
// behaviour for NaN or |x| > ~6e18 in double (a fuzzed model file with a bias of 1.8e19 found
// it under clang's UBSan); such lanes are computed with <cmath> (autodiff/src/ops/simd.hpp). The values must be
// those of the C library; the sanitizer builds check that no conversion overflows.
#include <ad/ops.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace {

template <class T>
std::vector<T> extremes() {
  const T big = std::is_same_v<T, double> ? T(2.66e19) : T(2.66e19f), huge = std::numeric_limits<T>::max();
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // 20 entries: more than two batches of every instruction set, so each lands in a full batch.
  return {-big, big, -huge, huge, T(-800), T(800), T(-1e4), T(1e4), nan, inf,
          -inf, T(0), T(0.5), T(-3), T(88), T(-88), T(709), T(-709), T(1e-30), nan};
}

template <class T>
bool same(T got, T want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want) || want == 0) return got == want;
  const T tol = std::is_same_v<T, double> ? T(1e-13) : T(1e-5);
  return std::fabs(got - want) <= tol * std::fabs(want) || std::fabs(got - want) < std::numeric_limits<T>::min();
}

// op recorded on the tape; ref its value and dref its derivative (from x and the reference value
// y), both from the C library.
template <class T>
void check_op(const char* name, const std::function<ad::Var<T>(const ad::Var<T>&)>& op, T (*ref)(T),
              T (*dref)(T x, T y)) {
  const std::vector<T> xs = extremes<T>();
  xt::xarray<T> x = xt::xarray<T>::from_shape({xs.size()});
  for (std::size_t i = 0; i < xs.size(); ++i) x(i) = xs[i];
  ad::Tape<T> tape;
  auto v = tape.variable(x);
  auto y = op(v);
  tape.backward(ad::sum(y));  // the backward kernels on the same values
  for (std::size_t i = 0; i < xs.size(); ++i) {
    CAPTURE(name);
    CAPTURE(xs[i]);
    CHECK(same(y.value()(i), ref(xs[i])));
    CHECK(same(v.grad()(i), dref(xs[i], ref(xs[i]))));
  }
}

template <class T> T ref_exp(T x) { return std::exp(x); }
template <class T> T d_exp(T, T y) { return y; }
template <class T> T ref_tanh(T x) { return std::tanh(x); }
template <class T> T d_tanh(T, T y) { return T(1) - y * y; }
template <class T> T ref_sigmoid(T x) { return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x)); }
template <class T> T d_sigmoid(T, T y) { return y * (T(1) - y); }
template <class T> T ref_elu(T x) { return x > 0 ? x : std::expm1(x); }
template <class T> T d_elu(T x, T y) { return x > 0 ? T(1) : y + T(1); }
template <class T> T ref_softplus(T x) { return std::isnan(x) ? x : std::max(x, T(0)) + std::log1p(std::exp(-std::fabs(x))); }
template <class T> T d_softplus(T x, T) { return ref_sigmoid(x); }
template <class T> T ref_cube(T x) { return std::pow(x, T(3)); }
template <class T> T d_cube(T x, T) { return T(3) * std::pow(x, T(2)); }
template <class T> T ref_pow_half(T x) { return std::pow(x, T(0.5)); }
template <class T> T d_pow_half(T x, T) { return T(0.5) * std::pow(x, T(-0.5)); }

}  // namespace

TEST_CASE_TEMPLATE("extremes: exp, tanh, sigmoid, elu, softplus, pow at huge, infinite and NaN inputs", T, float,
                   double) {
  check_op<T>("exp", [](const ad::Var<T>& x) { return ad::exp(x); }, ref_exp<T>, d_exp<T>);
  check_op<T>("tanh", [](const ad::Var<T>& x) { return ad::tanh(x); }, ref_tanh<T>, d_tanh<T>);
  check_op<T>("sigmoid", [](const ad::Var<T>& x) { return ad::sigmoid(x); }, ref_sigmoid<T>, d_sigmoid<T>);
  check_op<T>("elu", [](const ad::Var<T>& x) { return ad::elu(x); }, ref_elu<T>, d_elu<T>);
  check_op<T>("softplus", [](const ad::Var<T>& x) { return ad::softplus(x); }, ref_softplus<T>, d_softplus<T>);
  check_op<T>("pow 3", [](const ad::Var<T>& x) { return ad::pow(x, T(3)); }, ref_cube<T>, d_cube<T>);
  check_op<T>("pow 0.5", [](const ad::Var<T>& x) { return ad::pow(x, T(0.5)); }, ref_pow_half<T>, d_pow_half<T>);
}
