// Checking hand-written backprop: your gradients against the engine's exact ones and against
// central finite differences, parameter tensor by parameter tensor.
//
// You wrote a forward pass and its backward pass by hand (the NumPy course exercise). Write the
// loss once more with ad ops, as a function of the same *named* parameters, and hand both to
// check_backprop together with your gradients:
//
//   auto loss = [&](ad::Tape<double>& t, const ad::NamedVars& p) {
//     auto a_h = ad::sigmoid(ad::matmul(t.constant(X), p["W_h"]) + p["b_h"]);
//     ...
//     return cost;                                    // a single value
//   };
//   auto r = ad::check_backprop(loss, {{"W_h", W_h}, {"b_h", b_h}, ...},     // the parameters
//                                     {{"W_h", dW_h}, {"b_h", db_h}, ...});  // your gradients
//   std::cout << r.report();        // a table; r.to_json() for machines
//   if (!r.ok) { auto* f = r.first_failure(); /* f->name, f->worst_index */ }
//
// For every parameter the result holds the largest absolute and relative error of your gradient
// against (1) the engine's gradient of the same loss, exact up to rounding, and (2) central finite
// differences of the loss, which need no engine at all; the entry furthest outside the tolerance
// as a multi-index such as (2, 0); and a verdict. It also compares the engine with the finite
// differences, so a loss evaluated at a kink (relu at 0, abs at 0) shows up as an untrustworthy
// reference instead of a false alarm.
//
// Errors: parameter and gradient names must match one to one (ValueError listing the missing and
// the extra names), each gradient must have its parameter's shape (ShapeError naming the
// parameter and both shapes), and the loss must be a single value (ShapeError).
#pragma once

#include <ad/gradcheck.hpp>
#include <ad/tape.hpp>

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ad {

/// A tensor with a name ("W_h", "0.weight", ...).
struct NamedTensor {
  std::string name;
  xt::xarray<double> value;
};

/// Tensors by name, in a fixed order (the order of the report). Built from a braced list
/// {{"W", w}, {"b", b}}, a std::map (name order), or a vector of pairs.
class NamedTensors {
 public:
  NamedTensors() = default;
  NamedTensors(std::initializer_list<NamedTensor> items) : items_(items) {}
  NamedTensors(std::vector<NamedTensor> items) : items_(std::move(items)) {}
  NamedTensors(const std::map<std::string, xt::xarray<double>>& items);
  NamedTensors(const std::vector<std::pair<std::string, xt::xarray<double>>>& items);

  void add(std::string name, xt::xarray<double> value) { items_.push_back({std::move(name), std::move(value)}); }
  /// The tensor called `name`, or nullptr.
  const NamedTensor* find(std::string_view name) const;
  std::vector<std::string> names() const;
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  const NamedTensor& operator[](std::size_t i) const { return items_.at(i); }

 private:
  std::vector<NamedTensor> items_;
};

/// The parameters as the loss sees them: handles on the tape, looked up by name.
class NamedVars {
 public:
  NamedVars(Tape<double>& tape, std::vector<std::string> names, std::vector<Var<double>> vars);
  /// The parameter called `name`. ValueError naming it and listing the known names otherwise.
  const Var<double>& operator[](std::string_view name) const;
  bool contains(std::string_view name) const;
  const std::vector<std::string>& names() const { return names_; }
  Tape<double>& tape() const { return *tape_; }

 private:
  Tape<double>* tape_;
  std::vector<std::string> names_;
  std::vector<Var<double>> vars_;
};

/// A scalar loss of named parameters, recorded with ad ops on the given tape.
using NamedLoss = std::function<Var<double>(Tape<double>&, const NamedVars&)>;

struct BackpropCheckOptions {
  // An entry of your gradient passes if |yours - reference| <= atol + rtol |reference|.
  // Against the engine: both sides are exact up to rounding, so the tolerance is tight.
  double atol = 1e-8;
  double rtol = 1e-6;
  // Against central finite differences, which carry truncation (~h^2) and rounding (~eps/h)
  // error: looser.
  double fd_atol = 1e-6;
  double fd_rtol = 1e-4;
  // Finite-difference step, chosen per entry: h_i = step * max(1, |x_i|). The default
  // cbrt(machine epsilon) ~ 6e-6 balances the two errors above.
  double step = GradcheckOptions{}.step;
  // Finite differences cost two loss evaluations per parameter entry; turn them off for big
  // networks (the engine comparison alone is exact).
  bool finite_differences = true;
};

/// One gradient against one reference.
struct GradientComparison {
  bool checked = false;        // false when this comparison was not run
  double max_abs_error = 0;    // max |actual - reference|
  double max_rel_error = 0;    // max |actual - reference| / max(|actual|, |reference|) (0 if both 0)
  std::size_t worst_flat = 0;  // the entry furthest outside the tolerance (row-major flat index)
  Shape worst_index;           // the same entry as a multi-index, e.g. (2, 0)
  double actual_at_worst = 0, reference_at_worst = 0;
  double atol = 0, rtol = 0;   // the tolerance it was judged by
  bool ok = true;
};

/// How one parameter tensor fared.
struct ParameterCheck {
  std::string name;
  Shape shape;
  GradientComparison vs_engine;          // your gradient against the engine's
  GradientComparison vs_numeric;         // your gradient against finite differences
  GradientComparison engine_vs_numeric;  // the engine against finite differences (the reference)
  // vs_engine.ok && vs_numeric.ok; where the engine and finite differences disagree with each
  // other (the loss has a kink here), vs_engine.ok alone.
  bool ok = true;
  // The entry to look at: the worst one of the first failing comparison (engine first), or of
  // the engine comparison when everything passed, with the three values there.
  Shape worst_index;
  double yours = 0, engine = 0, numeric = 0;
  /// False when the engine and finite differences disagree here (the loss is not smooth at this
  /// point, or the finite-difference step is badly chosen): judge by the engine column then.
  bool reference_consistent() const { return !engine_vs_numeric.checked || engine_vs_numeric.ok; }
};

struct BackpropCheckResult {
  bool ok = true;
  double loss = 0;  // the loss at the given parameters
  BackpropCheckOptions options;
  std::vector<ParameterCheck> parameters;  // in the order the parameters were given

  /// The first parameter whose gradient failed, or nullptr.
  const ParameterCheck* first_failure() const;
  /// The check of the parameter called `name`, or nullptr.
  const ParameterCheck* find(std::string_view name) const;
  /// A table for the terminal: the tolerances, one row per parameter, and a line naming the
  /// failing parameters and their worst entries.
  std::string report() const;
  /// The same as one JSON object (non-finite numbers as null).
  std::string to_json() const;
};

/// Checks your gradients of `loss` at `params` (see the top of this file).
BackpropCheckResult check_backprop(const NamedLoss& loss, const NamedTensors& params,
                                   const NamedTensors& your_gradients,
                                   const BackpropCheckOptions& options = {});

/// Compares `actual` with `reference` entry by entry under |a - r| <= atol + rtol |r| (the
/// building block of check_backprop). ShapeError if the shapes differ.
GradientComparison compare_to_reference(const xt::xarray<double>& actual,
                                        const xt::xarray<double>& reference, double atol, double rtol);

}  // namespace ad
