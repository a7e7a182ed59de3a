// check_backprop: a user's hand-written gradients against the engine and finite differences.
// The engine gradient and the finite differences come from the generic checker in gradcheck.cpp;
// this file adds names, the user's side of the comparison and the two reports.
#include <ad/backprop_check.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ad {

// ---- named tensors and handles --------------------------------------------------------------

NamedTensors::NamedTensors(const std::map<std::string, xt::xarray<double>>& items) {
  for (const auto& [name, value] : items) add(name, value);
}

NamedTensors::NamedTensors(const std::vector<std::pair<std::string, xt::xarray<double>>>& items) {
  for (const auto& [name, value] : items) add(name, value);
}

const NamedTensor* NamedTensors::find(std::string_view name) const {
  for (const auto& t : items_)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<std::string> NamedTensors::names() const {
  std::vector<std::string> out;
  for (const auto& t : items_) out.push_back(t.name);
  return out;
}

NamedVars::NamedVars(Tape<double>& tape, std::vector<std::string> names, std::vector<Var<double>> vars)
    : tape_(&tape), names_(std::move(names)), vars_(std::move(vars)) {
  if (names_.size() != vars_.size())
    throw ValueError(fmt::format("NamedVars: {} names for {} handles", names_.size(), vars_.size()));
}

const Var<double>& NamedVars::operator[](std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return vars_[i];
  throw ValueError(fmt::format("NamedVars: no parameter '{}'; the parameters are: {}", name,
                               fmt::join(names_, ", ")));
}

bool NamedVars::contains(std::string_view name) const {
  return std::find(names_.begin(), names_.end(), name) != names_.end();
}

// ---- comparison -----------------------------------------------------------------------------

GradientComparison compare_to_reference(const xt::xarray<double>& actual,
                                        const xt::xarray<double>& reference, double atol, double rtol) {
  if (actual.shape() != reference.shape())
    throw ShapeError(fmt::format("compare_to_reference: shapes differ: {} vs reference {}",
                                 shape_str(actual.shape()), shape_str(reference.shape())));
  constexpr double inf = std::numeric_limits<double>::infinity();
  GradientComparison c;
  c.checked = true;
  c.atol = atol;
  c.rtol = rtol;
  double worst = -1;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual.data()[i], r = reference.data()[i];
    double abs_err = std::abs(a - r);
    const double scale = std::max(std::abs(a), std::abs(r));
    double rel_err = abs_err == 0 ? 0 : abs_err / scale;
    if (std::isnan(abs_err)) abs_err = rel_err = inf;
    const double excess = abs_err / (atol + rtol * std::abs(r));  // > 1: outside the tolerance
    c.max_abs_error = std::max(c.max_abs_error, abs_err);
    c.max_rel_error = std::max(c.max_rel_error, rel_err);
    if (excess > worst) {
      worst = excess;
      c.worst_flat = i;
      c.actual_at_worst = a;
      c.reference_at_worst = r;
    }
    if (!(excess <= 1)) c.ok = false;
  }
  const Shape shape(actual.shape().begin(), actual.shape().end());
  if (actual.size() > 0) c.worst_index = unravel_index(c.worst_flat, shape);
  return c;
}

// ---- the check ------------------------------------------------------------------------------

namespace {

void check_names(const NamedTensors& params, const NamedTensors& grads) {
  if (params.empty()) throw ValueError("check_backprop: no parameters given");
  auto check_list = [](const NamedTensors& list, const char* what) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].name.empty()) throw ValueError(fmt::format("check_backprop: {} {} has an empty name", what, i));
      for (std::size_t j = 0; j < i; ++j)
        if (list[j].name == list[i].name)
          throw ValueError(fmt::format("check_backprop: {} name '{}' is given twice", what, list[i].name));
    }
  };
  check_list(params, "parameter");
  check_list(grads, "gradient");
  std::vector<std::string> missing, extra;
  for (const auto& p : params)
    if (!grads.find(p.name)) missing.push_back(p.name);
  for (const auto& g : grads)
    if (!params.find(g.name)) extra.push_back(g.name);
  if (missing.empty() && extra.empty()) return;
  std::string msg = "check_backprop: your gradients do not match the parameters:";
  if (!missing.empty()) msg += fmt::format(" missing gradients for: {};", fmt::join(missing, ", "));
  if (!extra.empty()) msg += fmt::format(" gradients for unknown parameters: {};", fmt::join(extra, ", "));
  msg += fmt::format(" the parameters are: {}", fmt::join(params.names(), ", "));
  throw ValueError(msg);
}

void check_shapes(const NamedTensors& params, const NamedTensors& grads) {
  for (const auto& p : params) {
    const auto& g = grads.find(p.name)->value;
    if (g.shape() == p.value.shape()) continue;
    const bool transposed = g.dimension() == 2 && p.value.dimension() == 2 &&
                            g.shape()[0] == p.value.shape()[1] && g.shape()[1] == p.value.shape()[0];
    throw ShapeError(fmt::format("check_backprop: your gradient of '{}' has shape {}, but the parameter has "
                                 "shape {}; a gradient has the shape of its parameter{}",
                                 p.name, shape_str(g.shape()), shape_str(p.value.shape()),
                                 transposed ? " (a missing transpose?)" : ""));
  }
  for (const auto& p : params)
    for (std::size_t i = 0; i < p.value.size(); ++i)
      if (!std::isfinite(p.value.data()[i]))
        throw ValueError(fmt::format("check_backprop: parameter '{}' has a non-finite value {} at {}", p.name,
                                     p.value.data()[i],
                                     shape_str(unravel_index(i, Shape(p.value.shape().begin(), p.value.shape().end())))));
}

void check_options(const BackpropCheckOptions& o) {
  if (!(o.step > 0) || !std::isfinite(o.step))
    throw ValueError(fmt::format("check_backprop: step must be positive and finite, got {}", o.step));
  const std::pair<const char*, double> tols[] = {
      {"atol", o.atol}, {"rtol", o.rtol}, {"fd_atol", o.fd_atol}, {"fd_rtol", o.fd_rtol}};
  for (const auto& [name, v] : tols)
    if (!(v >= 0) || !std::isfinite(v))
      throw ValueError(fmt::format("check_backprop: tolerance {} must be non-negative and finite, got {}", name, v));
  if (o.atol == 0 && o.rtol == 0)
    throw ValueError("check_backprop: atol and rtol are both 0; no gradient computed in floating point passes");
  if (o.finite_differences && o.fd_atol == 0 && o.fd_rtol == 0)
    throw ValueError("check_backprop: fd_atol and fd_rtol are both 0; finite differences are never exact");
}

}  // namespace

BackpropCheckResult check_backprop(const NamedLoss& loss, const NamedTensors& params,
                                   const NamedTensors& your_gradients, const BackpropCheckOptions& options) {
  if (!loss) throw ValueError("check_backprop: the loss function is empty");
  check_options(options);
  check_names(params, your_gradients);
  check_shapes(params, your_gradients);

  std::vector<std::string> names = params.names();
  std::vector<xt::xarray<double>> values;
  for (const auto& p : params) values.push_back(p.value);
  // The named loss as a function of tensors by position, for the generic checker.
  TensorFunction f = [&](Tape<double>& t, const std::vector<Var<double>>& xs) {
    return loss(t, NamedVars(t, names, xs));
  };

  BackpropCheckResult r;
  r.options = options;
  {
    Tape<double> t;
    NoGradGuard ng;
    std::vector<Var<double>> xs;
    for (const auto& v : values) xs.push_back(t.constant(v));
    Var<double> y = f(t, xs);
    if (y.size() != 1)
      throw ShapeError(fmt::format("check_backprop: the loss must be a single value, got shape {}; reduce it "
                                   "with ad::sum or ad::mean",
                                   shape_str(y.shape())));
    r.loss = y.value().data()[0];
  }
  if (!std::isfinite(r.loss))
    throw ValueError(fmt::format("check_backprop: the loss is {} at the given parameters; gradients there mean "
                                 "nothing (a log of 0, an overflowing exp?)",
                                 std::isnan(r.loss) ? "nan" : fmt::format("{}", r.loss)));

  const auto exact = engine_gradient(f, values);
  std::vector<xt::xarray<double>> numeric;
  if (options.finite_differences) numeric = numerical_gradient(f, values, options.step);

  for (std::size_t k = 0; k < values.size(); ++k) {
    const auto& yours = your_gradients.find(names[k])->value;
    ParameterCheck pc;
    pc.name = names[k];
    pc.shape = Shape(values[k].shape().begin(), values[k].shape().end());
    pc.vs_engine = compare_to_reference(yours, exact[k], options.atol, options.rtol);
    if (options.finite_differences) {
      pc.vs_numeric = compare_to_reference(yours, numeric[k], options.fd_atol, options.fd_rtol);
      pc.engine_vs_numeric = compare_to_reference(exact[k], numeric[k], options.fd_atol, options.fd_rtol);
    }
    // Where the engine and finite differences disagree (a kink), finite differences are no
    // reference; the verdict then follows the engine and the report says why.
    pc.ok = pc.vs_engine.ok && (pc.vs_numeric.ok || !pc.reference_consistent());
    const bool fd_leads = pc.vs_engine.ok && pc.vs_numeric.checked && !pc.vs_numeric.ok && pc.reference_consistent();
    const auto& lead = fd_leads ? pc.vs_numeric : pc.vs_engine;
    if (values[k].size() > 0) {
      pc.worst_index = lead.worst_index;
      pc.yours = yours.data()[lead.worst_flat];
      pc.engine = exact[k].data()[lead.worst_flat];
      pc.numeric = options.finite_differences ? numeric[k].data()[lead.worst_flat]
                                              : std::numeric_limits<double>::quiet_NaN();
    }
    r.ok = r.ok && pc.ok;
    r.parameters.push_back(std::move(pc));
  }
  return r;
}

// ---- results --------------------------------------------------------------------------------

const ParameterCheck* BackpropCheckResult::first_failure() const {
  for (const auto& p : parameters)
    if (!p.ok) return &p;
  return nullptr;
}

const ParameterCheck* BackpropCheckResult::find(std::string_view name) const {
  for (const auto& p : parameters)
    if (p.name == name) return &p;
  return nullptr;
}

std::string BackpropCheckResult::report() const {
  const auto& o = options;
  std::size_t w = 9;
  for (const auto& p : parameters) w = std::max(w, p.name.size());
  std::string s;
  s += "check_backprop: your gradients against the engine (exact) and central finite differences\n";
  s += fmt::format("loss = {:.10g}\n", loss);
  s += fmt::format("an entry passes if |yours - ref| <= atol + rtol |ref|, with\n"
                   "  engine:             atol {:g}, rtol {:g}\n",
                   o.atol, o.rtol);
  if (o.finite_differences)
    s += fmt::format("  finite differences: atol {:g}, rtol {:g}; step h = {:.3g} max(1, |x|) per entry\n",
                     o.fd_atol, o.fd_rtol, o.step);
  else
    s += "  finite differences: off\n";
  s += "relative error = |yours - ref| / max(|yours|, |ref|); 'worst at' = the entry furthest outside the tolerance\n\n";

  s += fmt::format("{:<{}}  {:<9} {:>11} {:>11} {:>11} {:>11}  {:<9} {:>13} {:>13} {:>13}  {}\n", "parameter", w,
                   "shape", "abs(engine)", "rel(engine)", "abs(fd)", "rel(fd)", "worst at", "yours", "engine",
                   "finite diff", "verdict");
  auto num = [](const GradientComparison& c, double v) {
    return c.checked ? fmt::format("{:11.3e}", v) : fmt::format("{:>11}", "-");
  };
  for (const auto& p : parameters) {
    s += fmt::format("{:<{}}  {:<9} {} {} {} {}  {:<9} {:13.6e} {:>13} {:>13}  {}\n", p.name, w, shape_str(p.shape),
                     num(p.vs_engine, p.vs_engine.max_abs_error), num(p.vs_engine, p.vs_engine.max_rel_error),
                     num(p.vs_numeric, p.vs_numeric.max_abs_error), num(p.vs_numeric, p.vs_numeric.max_rel_error),
                     shape_str(p.worst_index), p.yours, fmt::format("{:.6e}", p.engine),
                     p.vs_numeric.checked ? fmt::format("{:.6e}", p.numeric) : "-", p.ok ? "ok" : "FAIL");
  }
  s += "\n";
  std::size_t failed = 0;
  for (const auto& p : parameters) {
    if (p.ok) continue;
    ++failed;
    s += fmt::format("FAIL {} at {}: yours {:.10g}, engine {:.10g}", p.name, shape_str(p.worst_index), p.yours,
                     p.engine);
    if (p.vs_numeric.checked) s += fmt::format(", finite differences {:.10g}", p.numeric);
    s += "\n";
  }
  for (const auto& p : parameters)
    if (!p.reference_consistent())
      s += fmt::format("note: for {} the engine and finite differences disagree at {} ({:.6e} vs {:.6e}): the loss "
                       "is probably not smooth there (relu or abs at 0?); trust the engine column\n",
                       p.name, shape_str(p.engine_vs_numeric.worst_index), p.engine_vs_numeric.actual_at_worst,
                       p.engine_vs_numeric.reference_at_worst);
  if (failed == 0)
    s += fmt::format("all {} parameter tensors pass\n", parameters.size());
  else
    s += fmt::format("{} of {} parameter tensors FAIL; look first at {}, entry {}\n", failed, parameters.size(),
                     first_failure()->name, shape_str(first_failure()->worst_index));
  return s;
}

namespace {

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{}", v);  // shortest representation that reads back exactly
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += ch;
  }
  return out + "\"";
}

std::string json_index(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

std::string json_comparison(const GradientComparison& c) {
  if (!c.checked) return "null";
  return fmt::format(
      "{{\"max_abs_error\": {}, \"max_rel_error\": {}, \"worst_index\": {}, \"worst_flat_index\": {}, "
      "\"actual\": {}, \"reference\": {}, \"atol\": {}, \"rtol\": {}, \"ok\": {}}}",
      json_number(c.max_abs_error), json_number(c.max_rel_error), json_index(c.worst_index), c.worst_flat,
      json_number(c.actual_at_worst), json_number(c.reference_at_worst), json_number(c.atol), json_number(c.rtol),
      c.ok ? "true" : "false");
}

}  // namespace

std::string BackpropCheckResult::to_json() const {
  const auto& o = options;
  std::string s = fmt::format(
      "{{\"ok\": {}, \"loss\": {}, \"tolerances\": {{\"atol\": {}, \"rtol\": {}, \"fd_atol\": {}, \"fd_rtol\": {}, "
      "\"step\": {}, \"finite_differences\": {}}}, \"parameters\": [",
      ok ? "true" : "false", json_number(loss), json_number(o.atol), json_number(o.rtol), json_number(o.fd_atol),
      json_number(o.fd_rtol), json_number(o.step), o.finite_differences ? "true" : "false");
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const auto& p = parameters[i];
    s += fmt::format(
        "{}{{\"name\": {}, \"shape\": {}, \"ok\": {}, \"worst_index\": {}, \"yours\": {}, \"engine\": {}, "
        "\"numeric\": {}, \"vs_engine\": {}, \"vs_finite_differences\": {}, \"engine_vs_finite_differences\": {}}}",
        i ? ", " : "", json_string(p.name), json_index(p.shape), p.ok ? "true" : "false", json_index(p.worst_index),
        json_number(p.yours), json_number(p.engine), json_number(p.numeric), json_comparison(p.vs_engine),
        json_comparison(p.vs_numeric), json_comparison(p.engine_vs_numeric));
  }
  s += "], \"first_failure\": ";
  if (const auto* f = first_failure())
    s += fmt::format("{{\"parameter\": {}, \"index\": {}}}", json_string(f->name), json_index(f->worst_index));
  else
    s += "null";
  return s + "}";
}

}  // namespace ad
