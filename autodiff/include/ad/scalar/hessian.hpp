// ad::hessian: exact second derivatives of a function written for any number type, by forward
// mode over forward mode on nested ad::Dual numbers (whose ops are the op rules, so the same
// conventions at kinks as first derivatives). Part of <ad/scalar.hpp>.
#pragma once

#include <ad/error.hpp>
#include <ad/scalar/dual.hpp>
#include <ad/scalar/functions.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ad {

/// The number type ad::hessian calls f with: a Dual in one direction whose value and partial
/// are Duals in another.
using HessianNumber = Dual<1, Dual<1>>;

/// The loop behind ad::hessian and Expression::hessian: f is called once per pair i <= j, on x
/// seeded so that its result y carries f (y.value().value()), df/dx_i (y.partial(0).value())
/// and d2f / dx_i dx_j (y.partial(0).partial(0)); entry(i, j, y) receives each.
template <class F, class G>
void for_each_hessian_entry(F&& f, std::span<const double> x, G&& entry) {
  using Inner = Dual<1>;
  const std::size_t n = x.size();
  // the seeded inputs: on the stack for a few variables (an allocation would cost more than the
  // evaluation of a small f), on the heap beyond
  constexpr std::size_t kOnStack = 8;
  std::array<HessianNumber, kOnStack> small;
  std::vector<HessianNumber> large(n > kOnStack ? n : 0);
  const std::span<HessianNumber> xs = n > kOnStack ? std::span<HessianNumber>(large)
                                                   : std::span<HessianNumber>(small.data(), n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i; j < n; ++j) {
      // x_k + e1 [k == i] + e2 [k == j]: the e1 e2 coefficient of f is d2f / dx_i dx_j.
      for (std::size_t k = 0; k < n; ++k) {
        xs[k] = HessianNumber(k == j ? Inner(x[k], 0) : Inner(x[k]));
        if (k == i) xs[k].set_partial(0, Inner(1.0));
      }
      const auto y = f(std::span<const HessianNumber>(xs));
      static_assert(std::is_convertible_v<decltype(y), HessianNumber>,
                    "ad::hessian: f must return the number type it is given");
      entry(i, j, HessianNumber(y));
    }
  }
}

/// d2f / dx_i dx_j at x, a symmetric n x n matrix. f takes `std::span<const ad::HessianNumber>`
/// (write it generically, for `auto` numbers, so the same code runs on doubles and Reals too)
/// and returns one of them:
///
///     auto f = [](auto x) { return x[0] * x[0] * x[1] + sin(x[1]); };
///     std::vector<std::vector<double>> H = ad::hessian(f, std::vector<double>{0.5, -2.0});
///     // H = {{2 x1, 2 x0}, {2 x0, -sin(x1)}} = {{-4, 1}, {1, 0.909...}}
///
/// Cost: n (n + 1) / 2 evaluations of f, each about 4 times an evaluation on doubles; for the
/// gradient alone use the scalar tape (one evaluation and one sweep).
template <class F>
std::vector<std::vector<double>> hessian(F&& f, std::span<const double> x) {
  const std::size_t n = x.size();
  std::vector<std::vector<double>> h(n, std::vector<double>(n, 0.0));
  for_each_hessian_entry(f, x, [&](std::size_t i, std::size_t j, const HessianNumber& y) {
    h[i][j] = h[j][i] = y.partial(0).partial(0);
  });
  return h;
}
/// The same into `out`, n * n numbers row-major, without allocating (for a loop over many
/// points). Throws ShapeError if out does not have n * n entries.
template <class F>
void hessian(F&& f, std::span<const double> x, std::span<double> out) {
  const std::size_t n = x.size();
  if (out.size() != n * n)
    throw ShapeError("hessian: the output has " + std::to_string(out.size()) + " entries; " +
                     std::to_string(n) + " variables need " + std::to_string(n * n));
  for_each_hessian_entry(f, x, [&](std::size_t i, std::size_t j, const HessianNumber& y) {
    out[i * n + j] = out[j * n + i] = y.partial(0).partial(0);
  });
}
template <class F>
std::vector<std::vector<double>> hessian(F&& f, const std::vector<double>& x) {
  return hessian(std::forward<F>(f), std::span<const double>(x));
}

}  // namespace ad
