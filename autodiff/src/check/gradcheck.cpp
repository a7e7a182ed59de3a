// Gradient checking against central finite differences.
#include <ad/gradcheck.hpp>

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace ad {

Shape unravel_index(std::size_t flat, const Shape& shape) {
  std::size_t size = 1;
  for (auto n : shape) size *= n;
  if (flat >= size)
    throw ValueError(fmt::format("unravel_index: flat index {} is out of range for shape {} ({} entries)",
                                 flat, shape_str(shape), size));
  Shape idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

double evaluate(const TensorFunction& f, const std::vector<xt::xarray<double>>& inputs) {
  Tape<double> t;
  NoGradGuard ng;
  std::vector<Var<double>> xs;
  for (const auto& x : inputs) xs.push_back(t.constant(x));
  Var<double> y = f(t, xs);
  return y.item();
}

std::vector<xt::xarray<double>> engine_gradient(const TensorFunction& f,
                                                const std::vector<xt::xarray<double>>& inputs) {
  Tape<double> t;
  std::vector<Var<double>> xs;
  for (const auto& x : inputs) xs.push_back(t.variable(x));
  Var<double> y = f(t, xs);
  if (y.size() != 1)
    throw ShapeError(fmt::format("gradcheck: the function must return a single value, got shape {}",
                                 shape_str(y.shape())));
  return t.grad(y, xs);
}

std::vector<xt::xarray<double>> numerical_gradient(const TensorFunction& f,
                                                   const std::vector<xt::xarray<double>>& inputs,
                                                   double step) {
  std::vector<xt::xarray<double>> x = inputs, out;
  for (std::size_t k = 0; k < x.size(); ++k) {
    xt::xarray<double> g = xt::zeros<double>(x[k].shape());
    for (std::size_t i = 0; i < x[k].size(); ++i) {
      const double x0 = x[k].data()[i];
      const double h = step * std::max(1.0, std::abs(x0));
      x[k].data()[i] = x0 + h;
      const double fp = evaluate(f, x);
      x[k].data()[i] = x0 - h;
      const double fm = evaluate(f, x);
      x[k].data()[i] = x0;
      g.data()[i] = (fp - fm) / (2 * h);
    }
    out.push_back(std::move(g));
  }
  return out;
}

GradcheckEntry compare_gradients(const std::string& name, const xt::xarray<double>& actual,
                                 const xt::xarray<double>& expected, const GradcheckOptions& opt) {
  if (actual.shape() != expected.shape())
    throw ShapeError(fmt::format("gradcheck: gradient of {} has shape {}, expected {}", name,
                                 shape_str(actual.shape()), shape_str(expected.shape())));
  GradcheckEntry e;
  e.name = name;
  e.shape = Shape(actual.shape().begin(), actual.shape().end());
  double worst = -1;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual.data()[i], b = expected.data()[i];
    const double abs_err = std::abs(a - b);
    const double rel_err = abs_err / std::max(std::abs(b), std::numeric_limits<double>::min());
    const double excess = std::isnan(abs_err) ? std::numeric_limits<double>::infinity()
                                              : abs_err / (opt.atol + opt.rtol * std::abs(b));
    e.max_abs_error = std::max(e.max_abs_error, std::isnan(abs_err) ? INFINITY : abs_err);
    e.max_rel_error = std::max(e.max_rel_error, std::isnan(rel_err) ? INFINITY : rel_err);
    if (excess > worst) {
      worst = excess;
      e.worst_index = i;
      e.engine_at_worst = a;
      e.numeric_at_worst = b;
    }
    if (!(excess <= 1)) e.ok = false;
  }
  if (actual.size() > 0) e.worst_at = unravel_index(e.worst_index, e.shape);
  return e;
}

GradcheckResult gradcheck(const TensorFunction& f, const std::vector<xt::xarray<double>>& inputs,
                          const GradcheckOptions& opt) {
  const auto exact = engine_gradient(f, inputs);
  const auto numeric = numerical_gradient(f, inputs, opt.step);
  GradcheckResult r;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    r.inputs.push_back(compare_gradients(fmt::format("input {}", k), exact[k], numeric[k], opt));
    r.ok = r.ok && r.inputs.back().ok;
  }
  return r;
}

std::string GradcheckResult::report() const {
  std::string s = fmt::format("{:<12} {:<12} {:>12} {:>12} {:>8} {:>14} {:>14}  {}\n", "input", "shape",
                              "max abs err", "max rel err", "worst", "engine", "numeric", "verdict");
  for (const auto& e : inputs)
    s += fmt::format("{:<12} {:<12} {:>12.3e} {:>12.3e} {:>8} {:>14.6e} {:>14.6e}  {}\n", e.name,
                     shape_str(e.shape), e.max_abs_error, e.max_rel_error, shape_str(e.worst_at),
                     e.engine_at_worst, e.numeric_at_worst, e.ok ? "ok" : "FAIL");
  return s;
}

}  // namespace ad
