// check_backprop: the course's NeuralNetMLP (correct, and with each classic bug), name and shape
// errors with their exact messages, the table and JSON reports, kinks, options.
#include "../../examples/neural_net_mlp.hpp"

#include <ad/backprop_check.hpp>
#include <ad/ops.hpp>

#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <string>

using ad::NamedVars;
using ad::Tape;
using Arr = xt::xarray<double>;
using course::Bug;

namespace {

// A minimal JSON reader: true if `s` is exactly one valid JSON value (RFC 8259 grammar, no
// extensions). Enough to prove the report parses.
struct JsonReader {
  const std::string& s;
  std::size_t i = 0;
  void ws() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool lit(const char* w) {
    const std::string t(w);
    if (s.compare(i, t.size(), t) != 0) return false;
    i += t.size();
    return true;
  }
  bool string() {
    if (s[i] != '"') return false;
    for (++i; i < s.size(); ++i) {
      if (s[i] == '\\') ++i;
      else if (s[i] == '"') return ++i, true;
      else if (static_cast<unsigned char>(s[i]) < 0x20) return false;
    }
    return false;
  }
  bool number() {
    const std::size_t start = i;
    if (s[i] == '-') ++i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == 'e' ||
                            s[i] == 'E' || s[i] == '+' || s[i] == '-'))
      ++i;
    return i > start && std::isdigit(static_cast<unsigned char>(s[i - 1]));
  }
  bool value() {
    ws();
    if (i >= s.size()) return false;
    bool ok;
    if (s[i] == '{') {
      ++i, ws();
      if (s[i] == '}') return ++i, true;
      do {
        ws();
        if (!string()) return false;
        ws();
        if (s[i++] != ':' || !value()) return false;
        ws();
      } while (s[i] == ',' && ++i);
      ok = s[i++] == '}';
    } else if (s[i] == '[') {
      ++i, ws();
      if (s[i] == ']') return ++i, true;
      do {
        if (!value()) return false;
        ws();
      } while (s[i] == ',' && ++i);
      ok = s[i++] == ']';
    } else if (s[i] == '"') {
      ok = string();
    } else if (s[i] == 't' || s[i] == 'f' || s[i] == 'n') {
      ok = lit("true") || lit("false") || lit("null");
    } else {
      ok = number();
    }
    return ok;
  }
  bool document() {
    const bool ok = value();
    ws();
    return ok && i == s.size();
  }
};

bool valid_json(const std::string& s) { return JsonReader{s}.document(); }

// The entry where `yours` is furthest outside |yours - ref| <= atol + rtol |ref|, computed here
// independently of the library.
ad::Shape worst_entry(const Arr& yours, const Arr& ref, double atol, double rtol) {
  std::size_t best = 0;
  double worst = -1;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double e = std::abs(yours.data()[i] - ref.data()[i]) / (atol + rtol * std::abs(ref.data()[i]));
    if (e > worst) worst = e, best = i;
  }
  return ad::unravel_index(best, ad::Shape(ref.shape().begin(), ref.shape().end()));
}

struct Mlp {
  course::Problem p = course::make_problem();
  ad::BackpropCheckResult check(Bug bug, const ad::BackpropCheckOptions& o = {}) const {
    return ad::check_backprop(p.net.loss(p.X, p.y_enc), p.net.parameters(), p.net.backprop(p.X, p.y_enc, bug).named(),
                              o);
  }
};

}  // namespace

TEST_CASE("check_backprop: the course's NeuralNetMLP with correct backprop passes") {
  Mlp m;
  const auto r = m.check(Bug::none);
  INFO(r.report());
  CHECK(r.ok);
  CHECK(r.first_failure() == nullptr);
  REQUIRE(r.parameters.size() == 4);
  const char* names[] = {"W_h", "b_h", "W_out", "b_out"};
  const ad::Shape shapes[] = {{4, 3}, {3}, {3, 3}, {3}};
  for (std::size_t k = 0; k < 4; ++k) {
    const auto& p = r.parameters[k];
    CHECK(p.name == names[k]);
    CHECK(p.shape == shapes[k]);
    CHECK(p.ok);
    CHECK(p.vs_engine.checked);
    CHECK(p.vs_engine.max_abs_error < 1e-14);
    CHECK(p.vs_engine.max_rel_error < 1e-13);
    CHECK(p.vs_numeric.max_abs_error < 1e-8);
    CHECK(p.reference_consistent());
  }
  // The loss on the tape is the student's cost.
  const double cost = m.p.net.compute_cost(m.p.y_enc, m.p.net.forward(m.p.X).a_out);
  CHECK(r.loss == doctest::Approx(cost).epsilon(1e-14));
  CHECK(r.report().find("all 4 parameter tensors pass") != std::string::npos);
}

TEST_CASE("check_backprop: a missing transpose in delta_h fails at W_h and b_h, at the worst entry") {
  Mlp m;
  const auto r = m.check(Bug::missing_transpose);
  INFO(r.report());
  CHECK_FALSE(r.ok);
  REQUIRE(r.first_failure() != nullptr);
  CHECK(r.first_failure()->name == "W_h");
  CHECK_FALSE(r.find("W_h")->ok);
  CHECK_FALSE(r.find("b_h")->ok);
  CHECK(r.find("W_out")->ok);
  CHECK(r.find("b_out")->ok);
  // The reported entry is the one furthest outside the tolerance, by an independent count.
  const auto good = m.p.net.backprop(m.p.X, m.p.y_enc), bad = m.p.net.backprop(m.p.X, m.p.y_enc, Bug::missing_transpose);
  const auto& w = *r.find("W_h");
  CHECK(w.worst_index == worst_entry(bad.w_h, good.w_h, 1e-8, 1e-6));
  CHECK(w.worst_index == ad::Shape{1, 0});
  CHECK(w.yours == bad.w_h(1, 0));
  CHECK(w.engine == doctest::Approx(good.w_h(1, 0)).epsilon(1e-12));
  CHECK(w.numeric == doctest::Approx(good.w_h(1, 0)).epsilon(1e-6));
  CHECK(r.find("b_h")->worst_index == worst_entry(bad.b_h, good.b_h, 1e-8, 1e-6));
  // Both references agree that it is wrong.
  CHECK_FALSE(w.vs_engine.ok);
  CHECK_FALSE(w.vs_numeric.ok);
  const auto text = r.report();
  CHECK(text.find("FAIL W_h at (1, 0)") != std::string::npos);
  CHECK(text.find("2 of 4 parameter tensors FAIL; look first at W_h, entry (1, 0)") != std::string::npos);
}

TEST_CASE("check_backprop: the sigmoid derivative applied twice fails at W_h and b_h only") {
  Mlp m;
  const auto r = m.check(Bug::sigmoid_derivative_twice);
  INFO(r.report());
  CHECK_FALSE(r.ok);
  CHECK(r.first_failure()->name == "W_h");
  CHECK_FALSE(r.find("b_h")->ok);
  CHECK(r.find("W_out")->ok);
  CHECK(r.find("b_out")->ok);
  const auto good = m.p.net.backprop(m.p.X, m.p.y_enc),
             bad = m.p.net.backprop(m.p.X, m.p.y_enc, Bug::sigmoid_derivative_twice);
  CHECK(r.find("W_h")->worst_index == worst_entry(bad.w_h, good.w_h, 1e-8, 1e-6));
  CHECK(r.find("W_h")->worst_index == ad::Shape{0, 1});
  CHECK(r.find("b_h")->worst_index == worst_entry(bad.b_h, good.b_h, 1e-8, 1e-6));
}

TEST_CASE("check_backprop: regularized biases fail at b_h and b_out, weights pass") {
  Mlp m;
  const auto r = m.check(Bug::bias_regularized);
  INFO(r.report());
  CHECK_FALSE(r.ok);
  CHECK(r.first_failure()->name == "b_h");
  CHECK(r.find("W_h")->ok);
  CHECK(r.find("W_out")->ok);
  CHECK_FALSE(r.find("b_h")->ok);
  CHECK_FALSE(r.find("b_out")->ok);
  // The error is exactly lambda b.
  CHECK(r.find("b_h")->vs_engine.max_abs_error == doctest::Approx(0.1 * 0.15).epsilon(1e-9));
  CHECK(r.find("b_out")->vs_engine.max_abs_error == doctest::Approx(0.1 * 0.2).epsilon(1e-9));

  SUBCASE("one non-zero bias entry: the check points at exactly that entry") {
    m.p.net.b_h = Arr{0.0, 0.0, 0.5};
    m.p.net.b_out = Arr{0.0, 0.0, 0.0};
    const auto r2 = m.check(Bug::bias_regularized);
    INFO(r2.report());
    CHECK_FALSE(r2.ok);
    CHECK(r2.first_failure()->name == "b_h");
    CHECK(r2.first_failure()->worst_index == ad::Shape{2});
    CHECK(r2.find("b_out")->ok);  // l2 * 0 = 0: this bug is invisible at zero biases
    CHECK(r2.find("b_h")->yours - r2.find("b_h")->engine == doctest::Approx(0.1 * 0.5).epsilon(1e-9));
  }
}

TEST_CASE("check_backprop: a transposed gradient is a ShapeError that names the parameter and both shapes") {
  Mlp m;
  CHECK_THROWS_WITH_AS(m.check(Bug::transposed_gradient),
                       "check_backprop: your gradient of 'W_h' has shape (3, 4), but the parameter has shape (4, 3); "
                       "a gradient has the shape of its parameter (a missing transpose?)",
                       ad::ShapeError);
  auto g = m.p.net.backprop(m.p.X, m.p.y_enc);
  g.b_h = xt::reshape_view(g.b_h, {1, 3});
  CHECK_THROWS_WITH_AS(ad::check_backprop(m.p.net.loss(m.p.X, m.p.y_enc), m.p.net.parameters(), g.named()),
                       "check_backprop: your gradient of 'b_h' has shape (1, 3), but the parameter has shape (3,); "
                       "a gradient has the shape of its parameter",
                       ad::ShapeError);
}

TEST_CASE("check_backprop: names must match one to one") {
  Mlp m;
  const auto loss = m.p.net.loss(m.p.X, m.p.y_enc);
  const auto g = m.p.net.backprop(m.p.X, m.p.y_enc);
  CHECK_THROWS_WITH_AS(ad::check_backprop(loss, m.p.net.parameters(), {{"W_h", g.w_h}, {"b_h", g.b_h}, {"W_x", g.w_out}}),
                       "check_backprop: your gradients do not match the parameters: missing gradients for: W_out, "
                       "b_out; gradients for unknown parameters: W_x; the parameters are: W_h, b_h, W_out, b_out",
                       ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(loss, m.p.net.parameters(),
                                          {{"W_h", g.w_h}, {"b_h", g.b_h}, {"W_out", g.w_out}}),
                       "check_backprop: your gradients do not match the parameters: missing gradients for: b_out; "
                       "the parameters are: W_h, b_h, W_out, b_out",
                       ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(loss, {{"W_h", m.p.net.w_h}}, {{"W_h", g.w_h}, {"bias", g.b_h}}),
                       "check_backprop: your gradients do not match the parameters: gradients for unknown "
                       "parameters: bias; the parameters are: W_h",
                       ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(loss, {{"W_h", m.p.net.w_h}, {"W_h", m.p.net.w_h}}, {{"W_h", g.w_h}}),
                       "check_backprop: parameter name 'W_h' is given twice", ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(loss, {{"W_h", m.p.net.w_h}}, {{"W_h", g.w_h}, {"W_h", g.w_h}}),
                       "check_backprop: gradient name 'W_h' is given twice", ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(loss, {{"", m.p.net.w_h}}, {{"", g.w_h}}),
                       "check_backprop: parameter 0 has an empty name", ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(loss, {}, {}), "check_backprop: no parameters given", ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(ad::NamedLoss{}, {{"w", Arr{1.0}}}, {{"w", Arr{1.0}}}),
                       "check_backprop: the loss function is empty", ad::ValueError);
}

TEST_CASE("check_backprop: the loss asking for an unknown name, returning a tensor, or NaN") {
  const ad::NamedTensors params = {{"w", Arr{1.0, 2.0}}};
  const ad::NamedTensors grads = {{"w", Arr{2.0, 4.0}}};
  auto typo = [](Tape<double>&, const NamedVars& p) { return ad::sum(p["weights"]); };
  CHECK_THROWS_WITH_AS(ad::check_backprop(typo, params, grads), "NamedVars: no parameter 'weights'; the parameters are: w",
                       ad::ValueError);
  auto tensor = [](Tape<double>&, const NamedVars& p) { return p["w"] * p["w"]; };
  CHECK_THROWS_WITH_AS(ad::check_backprop(tensor, params, grads),
                       "check_backprop: the loss must be a single value, got shape (2,); reduce it with ad::sum or "
                       "ad::mean",
                       ad::ShapeError);
  auto nan = [](Tape<double>&, const NamedVars& p) { return ad::sum(ad::log(p["w"] - 5.0)); };
  CHECK_THROWS_WITH_AS(ad::check_backprop(nan, params, grads),
                       "check_backprop: the loss is nan at the given parameters; gradients there mean nothing (a log "
                       "of 0, an overflowing exp?)",
                       ad::ValueError);
  CHECK_THROWS_WITH_AS(ad::check_backprop(tensor, {{"w", Arr{1.0, INFINITY}}}, grads),
                       "check_backprop: parameter 'w' has a non-finite value inf at (1,)", ad::ValueError);
}

TEST_CASE("check_backprop: options are validated") {
  const ad::NamedTensors params = {{"w", Arr{1.0, 2.0}}};
  const ad::NamedTensors grads = {{"w", Arr{2.0, 4.0}}};
  auto sq = [](Tape<double>&, const NamedVars& p) { return ad::sum(p["w"] * p["w"]); };
  ad::BackpropCheckOptions o;
  o.step = 0;
  CHECK_THROWS_WITH_AS(ad::check_backprop(sq, params, grads, o), "check_backprop: step must be positive and finite, got 0",
                       ad::ValueError);
  o = {};
  o.rtol = -1;
  CHECK_THROWS_WITH_AS(ad::check_backprop(sq, params, grads, o),
                       "check_backprop: tolerance rtol must be non-negative and finite, got -1", ad::ValueError);
  o = {};
  o.atol = o.rtol = 0;
  CHECK_THROWS_WITH_AS(ad::check_backprop(sq, params, grads, o),
                       "check_backprop: atol and rtol are both 0; no gradient computed in floating point passes",
                       ad::ValueError);
  o = {};
  o.fd_atol = std::nan("");
  CHECK_THROWS_AS(ad::check_backprop(sq, params, grads, o), ad::ValueError);
}

TEST_CASE("check_backprop: tolerances decide, and are the ones stated") {
  const ad::NamedTensors params = {{"w", Arr{1.0, 2.0}}};
  auto sq = [](Tape<double>&, const NamedVars& p) { return ad::sum(p["w"] * p["w"]); };  // gradient 2w
  // Off by 1e-7 relative: passes the default engine tolerance (rtol 1e-6)...
  const ad::NamedTensors close = {{"w", Arr{2.0 * (1 + 1e-7), 4.0}}};
  CHECK(ad::check_backprop(sq, params, close).ok);
  // ...and fails a stricter one, which the report states.
  ad::BackpropCheckOptions strict;
  strict.atol = 0;
  strict.rtol = 1e-9;
  const auto r = ad::check_backprop(sq, params, close, strict);
  CHECK_FALSE(r.ok);
  CHECK(r.parameters[0].worst_index == ad::Shape{0});
  CHECK(r.parameters[0].vs_engine.atol == 0);
  CHECK(r.parameters[0].vs_engine.rtol == 1e-9);
  CHECK(r.report().find("engine:             atol 0, rtol 1e-09") != std::string::npos);
  CHECK(r.parameters[0].vs_numeric.ok);  // finite differences cannot see 1e-7
  // Relative error is symmetric: |a - b| / max(|a|, |b|).
  CHECK(r.parameters[0].vs_engine.max_rel_error == doctest::Approx(1e-7 / (1 + 1e-7)).epsilon(1e-6));
}

TEST_CASE("check_backprop: without finite differences only the engine is compared") {
  Mlp m;
  ad::BackpropCheckOptions o;
  o.finite_differences = false;
  const auto r = m.check(Bug::sigmoid_derivative_twice, o);
  CHECK_FALSE(r.ok);
  CHECK(r.first_failure()->name == "W_h");
  CHECK_FALSE(r.parameters[0].vs_numeric.checked);
  CHECK(std::isnan(r.parameters[0].numeric));
  const auto text = r.report();
  CHECK(text.find("finite differences: off") != std::string::npos);
  const auto json = r.to_json();
  CHECK(valid_json(json));
  CHECK(json.find("\"vs_finite_differences\": null") != std::string::npos);
  CHECK(json.find("\"numeric\": null") != std::string::npos);
}

TEST_CASE("check_backprop: at a kink the engine and finite differences disagree; the report says so") {
  // relu'(0) = 0 by convention, while the central difference gives 1/2.
  auto loss = [](Tape<double>&, const NamedVars& p) { return ad::sum(ad::relu(p["w"])); };
  const auto r = ad::check_backprop(loss, {{"w", Arr{0.0, 1.5}}}, {{"w", Arr{0.0, 1.0}}});
  INFO(r.report());
  const auto& p = r.parameters[0];
  CHECK(p.vs_engine.ok);
  CHECK_FALSE(p.vs_numeric.ok);
  CHECK_FALSE(p.reference_consistent());
  CHECK(p.engine_vs_numeric.worst_index == ad::Shape{0});
  CHECK(p.ok);  // judged by the engine
  CHECK(r.report().find("note: for w the engine and finite differences disagree at (0,)") != std::string::npos);
  // A gradient that is wrong where the loss is smooth still fails.
  const auto r2 = ad::check_backprop(loss, {{"w", Arr{0.0, 1.5}}}, {{"w", Arr{0.0, 2.0}}});
  CHECK_FALSE(r2.ok);
  CHECK(r2.parameters[0].worst_index == ad::Shape{1});
}

TEST_CASE("check_backprop: the JSON report parses and carries every field") {
  Mlp m;
  const auto r = m.check(Bug::missing_transpose);
  const std::string json = r.to_json();
  INFO(json);
  CHECK(valid_json(json));
  CHECK(json.rfind("{\"ok\": false, \"loss\": ", 0) == 0);
  for (const char* key :
       {"\"tolerances\": {\"atol\": 1e-08, \"rtol\": 1e-06, \"fd_atol\": 1e-06, \"fd_rtol\": 0.0001, \"step\": ",
        "\"finite_differences\": true}", "\"parameters\": [{\"name\": \"W_h\", \"shape\": [4, 3], \"ok\": false, "
        "\"worst_index\": [1, 0]",
        "{\"name\": \"b_out\", \"shape\": [3], \"ok\": true", "\"vs_engine\": {\"max_abs_error\": ",
        "\"vs_finite_differences\": {\"max_abs_error\": ", "\"engine_vs_finite_differences\": {", "\"worst_flat_index\": 3",
        "\"first_failure\": {\"parameter\": \"W_h\", \"index\": [1, 0]}}"})
    CHECK_MESSAGE(json.find(key) != std::string::npos, key);
  CHECK(json.find("nan") == std::string::npos);
  CHECK(json.find(": inf") == std::string::npos);
  CHECK(json.find("-inf") == std::string::npos);

  const auto ok = m.check(Bug::none).to_json();
  CHECK(valid_json(ok));
  CHECK(ok.find("\"first_failure\": null}") != std::string::npos);
  // Names are escaped.
  auto loss = [](Tape<double>&, const NamedVars& p) { return ad::sum(p["a\"b\\c"]); };
  const auto odd = ad::check_backprop(loss, {{"a\"b\\c", Arr{1.0}}}, {{"a\"b\\c", Arr{1.0}}}).to_json();
  CHECK(valid_json(odd));
  CHECK(odd.find("\"name\": \"a\\\"b\\\\c\"") != std::string::npos);
  CHECK(valid_json("{\"a\": [1, 2.5e-3, true, null]}"));
  CHECK_FALSE(valid_json("{\"a\": nan}"));
}

TEST_CASE("check_backprop: a NaN in your gradient fails at that entry") {
  auto sq = [](Tape<double>&, const NamedVars& p) { return ad::sum(p["w"] * p["w"]); };
  const auto r = ad::check_backprop(sq, {{"w", Arr{{1.0, 2.0}, {3.0, 4.0}}}},
                                    {{"w", Arr{{2.0, 4.0}, {std::nan(""), 8.0}}}});
  CHECK_FALSE(r.ok);
  CHECK(r.parameters[0].worst_index == ad::Shape{1, 0});
  CHECK(std::isinf(r.parameters[0].vs_engine.max_abs_error));
  CHECK(valid_json(r.to_json()));
}

TEST_CASE("NamedTensors: from a braced list, a map (name order) or a vector of pairs") {
  std::map<std::string, Arr> m = {{"b", Arr{1.0}}, {"a", Arr{2.0}}};
  ad::NamedTensors from_map = m;
  CHECK(from_map.names() == std::vector<std::string>{"a", "b"});
  std::vector<std::pair<std::string, Arr>> v = {{"z", Arr{1.0}}, {"y", Arr{2.0}}};
  ad::NamedTensors from_pairs = v;
  CHECK(from_pairs.names() == std::vector<std::string>{"z", "y"});
  CHECK(from_pairs.find("y")->value(0) == 2.0);
  CHECK(from_pairs.find("x") == nullptr);
  // A map of parameters and one of gradients work directly.
  auto loss = [](Tape<double>&, const NamedVars& p) { return ad::sum(p["a"] * p["b"]); };
  const auto r = ad::check_backprop(loss, m, std::map<std::string, Arr>{{"a", Arr{1.0}}, {"b", Arr{2.0}}});
  CHECK(r.ok);
  CHECK(r.parameters[0].name == "a");
}

TEST_CASE("compare_to_reference and unravel_index") {
  const auto c = ad::compare_to_reference(Arr{1.0, 2.0, 3.5}, Arr{1.0, 2.0, 3.0}, 1e-8, 1e-6);
  CHECK_FALSE(c.ok);
  CHECK(c.max_abs_error == 0.5);
  CHECK(c.max_rel_error == doctest::Approx(0.5 / 3.5));
  CHECK(c.worst_flat == 2);
  CHECK(c.worst_index == ad::Shape{2});
  CHECK(c.actual_at_worst == 3.5);
  CHECK(c.reference_at_worst == 3.0);
  CHECK(ad::compare_to_reference(Arr{0.0}, Arr{0.0}, 1e-8, 0).max_rel_error == 0);
  CHECK_THROWS_WITH_AS(ad::compare_to_reference(Arr{1.0, 2.0}, Arr{1.0, 2.0, 3.0}, 1e-8, 1e-6),
                       "compare_to_reference: shapes differ: (2,) vs reference (3,)", ad::ShapeError);
  CHECK(ad::unravel_index(5, {2, 3}) == ad::Shape{1, 2});
  CHECK(ad::unravel_index(0, {}) == ad::Shape{});
  CHECK(ad::unravel_index(7, {2, 2, 2}) == ad::Shape{1, 1, 1});
  CHECK_THROWS_WITH_AS(ad::unravel_index(6, {2, 3}),
                       "unravel_index: flat index 6 is out of range for shape (2, 3) (6 entries)", ad::ValueError);
}
