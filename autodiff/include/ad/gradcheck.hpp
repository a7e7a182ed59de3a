// Gradient checking: the engine's exact gradients against central finite differences, for any
// function of tensors (as torch.autograd.gradcheck). The test suite runs every op through it.
//
//   auto r = ad::gradcheck([](ad::Tape<double>& t, const std::vector<ad::Var<double>>& x) {
//     return ad::sum(ad::tanh(ad::matmul(x[0], x[1])));
//   }, {a, b});
//   if (!r.ok) std::cerr << r.report();
//
// Checks run in double precision. The finite-difference step is chosen per entry:
// h = step * max(1, |x_i|), with step = cbrt(machine epsilon) ~ 6e-6 by default, which balances
// truncation error (~h^2) against rounding error (~eps/h).
#pragma once

#include <ad/tape.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ad {

/// A scalar function of named-by-position tensors, recorded on the given tape.
using TensorFunction = std::function<Var<double>(Tape<double>&, const std::vector<Var<double>>&)>;

struct GradcheckOptions {
  double step = 6.0554544523933395e-06;  // cbrt(2^-52)
  double atol = 1e-7;                    // an entry passes if |a - b| <= atol + rtol |b|
  double rtol = 1e-5;
};

/// How one input tensor fared.
struct GradcheckEntry {
  std::string name;              // "input 0" unless named
  Shape shape;
  double max_abs_error = 0;      // max |engine - finite difference|
  double max_rel_error = 0;      // max |engine - fd| / max(|fd|, tiny)
  std::size_t worst_index = 0;   // flat index of the worst entry (by the pass criterion)
  Shape worst_at;                // the same entry as a multi-index, e.g. (2, 0)
  double engine_at_worst = 0, numeric_at_worst = 0;
  bool ok = true;
};

struct GradcheckResult {
  bool ok = true;
  std::vector<GradcheckEntry> inputs;
  /// A table: one row per input with its errors, worst entry and verdict.
  std::string report() const;
};

/// The multi-index of entry `flat` of a row-major array of the given shape: (5, (2, 3)) -> (1, 2).
/// ValueError if flat is out of range.
Shape unravel_index(std::size_t flat, const Shape& shape);

/// The function's value at `inputs` (no gradient recorded).
double evaluate(const TensorFunction& f, const std::vector<xt::xarray<double>>& inputs);

/// The engine's gradient of f with respect to each input.
std::vector<xt::xarray<double>> engine_gradient(const TensorFunction& f,
                                                const std::vector<xt::xarray<double>>& inputs);

/// Central finite differences (f(x + h e_i) - f(x - h e_i)) / 2h, h chosen per entry.
std::vector<xt::xarray<double>> numerical_gradient(const TensorFunction& f,
                                                   const std::vector<xt::xarray<double>>& inputs,
                                                   double step = GradcheckOptions{}.step);

/// Compares `actual` against `expected` entry by entry (shapes must match: ShapeError otherwise).
GradcheckEntry compare_gradients(const std::string& name, const xt::xarray<double>& actual,
                                 const xt::xarray<double>& expected, const GradcheckOptions& opt = {});

/// The engine's gradient against finite differences, per input.
GradcheckResult gradcheck(const TensorFunction& f, const std::vector<xt::xarray<double>>& inputs,
                          const GradcheckOptions& opt = {});

}  // namespace ad
