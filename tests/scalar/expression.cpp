// Tests for <ad/expression.hpp>: precedence and associativity (checked by value against the
// same formula written in C++), derivatives through parsed expressions, and errors with columns.
#include <ad/expression.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

namespace {

double eval(const char* text, std::vector<double> values = {}) {
  return ad::Expression(text)(values);
}

// The column an expression fails at (0 if it parses).
std::size_t error_column(const char* text) {
  try {
    ad::Expression e(text);
  } catch (const ad::ExpressionError& err) {
    return err.column();
  }
  return 0;
}

std::string error_message(const char* text) {
  try {
    ad::Expression e(text);
  } catch (const ad::ExpressionError& err) {
    return err.message();
  }
  return "";
}

}  // namespace

TEST_CASE("precedence, associativity and unary minus") {
  CHECK(eval("1 + 2 * 3") == 7);
  CHECK(eval("(1 + 2) * 3") == 9);
  CHECK(eval("8 / 4 / 2") == 1);      // left-associative
  CHECK(eval("8 - 4 - 2") == 2);
  CHECK(eval("2 ^ 3 ^ 2") == 512);    // right-associative: 2^(3^2)
  CHECK(eval("-2 ^ 2") == -4);        // -(2^2)
  CHECK(eval("-x^2", {3}) == -9);
  CHECK(eval("2 ^ -1") == 0.5);
  CHECK(eval("--3") == 3);
  CHECK(eval("+3 - -3") == 6);
  CHECK(eval("2 * -3") == -6);
  CHECK(eval("3 * 2 ^ 2") == 12);
  CHECK(eval("1e-3 * 1000") == doctest::Approx(1.0));
  CHECK(eval(".5 + 0.25 + 2.") == 2.75);
  CHECK(eval("2.5E2") == 250);
  CHECK(eval("pi") == std::numbers::pi);
  CHECK(eval("e") == std::numbers::e);
  CHECK(eval("  \t1+\n2 ") == 3);
}

TEST_CASE("every function is callable from text and agrees with C++") {
  ad::ScalarTape tape;
  struct Row {
    const char* text;
    double x;
    double value;
  };
  const double x = 0.3;
  const Row rows[] = {
      {"exp(x)", x, std::exp(x)},         {"log(x)", x, std::log(x)},
      {"log1p(x)", x, std::log1p(x)},     {"expm1(x)", x, std::expm1(x)},
      {"sqrt(x)", x, std::sqrt(x)},       {"cbrt(x)", x, std::cbrt(x)},
      {"sin(x)", x, std::sin(x)},         {"cos(x)", x, std::cos(x)},
      {"tan(x)", x, std::tan(x)},         {"asin(x)", x, std::asin(x)},
      {"acos(x)", x, std::acos(x)},       {"atan(x)", x, std::atan(x)},
      {"sinh(x)", x, std::sinh(x)},       {"cosh(x)", x, std::cosh(x)},
      {"tanh(x)", x, std::tanh(x)},       {"asinh(x)", x, std::asinh(x)},
      {"acosh(x + 1)", x, std::acosh(x + 1)}, {"atanh(x)", x, std::atanh(x)},
      {"sigmoid(x)", x, 1 / (1 + std::exp(-x))}, {"softplus(x)", x, std::log1p(std::exp(x))},
      {"abs(-x)", x, x},                  {"relu(-x)", x, 0},
      {"erf(x)", x, std::erf(x)},         {"pow(x, 3)", x, x * x * x},
      {"atan2(x, 2)", x, std::atan2(x, 2)}, {"min(x, 0.1)", x, 0.1},
      {"max(x, 0.1)", x, x},              {"hypot(x, 0.4)", x, 0.5},
  };
  for (const Row& r : rows) {
    CAPTURE(r.text);
    CHECK(eval(r.text, {r.x}) == doctest::Approx(r.value).epsilon(1e-15));
  }
}

TEST_CASE("derivatives through a parsed expression") {
  ad::Expression f("sqrt(x^2 + exp(x^2))");
  REQUIRE(f.variables() == std::vector<std::string>{"x"});
  for (double x0 : {0.5, 1.0, 1.5, -2.0}) {
    ad::ScalarTape tape;
    std::vector<ad::Real> v{tape.variable(x0)};
    ad::Real y = f.evaluate(v);
    const double want = x0 * (1 + std::exp(x0 * x0)) / std::sqrt(x0 * x0 + std::exp(x0 * x0));
    CHECK(ad::derivative(y, v[0]) == doctest::Approx(want).epsilon(1e-12));
  }
  ad::Expression g("x*y + sin(x) - y^2/x");
  REQUIRE(g.variables() == std::vector<std::string>{"x", "y"});
  ad::ScalarTape tape;
  std::vector<ad::Real> v{tape.variable(1.2), tape.variable(-0.7)};
  ad::Real y = g.evaluate(v);
  auto [dx, dy] = ad::derivatives(y, ad::wrt(v[0], v[1]));
  CHECK(dx == doctest::Approx(-0.7 + std::cos(1.2) + 0.49 / 1.44).epsilon(1e-13));
  CHECK(dy == doctest::Approx(1.2 - 2 * -0.7 / 1.2).epsilon(1e-13));
}

TEST_CASE("syntax errors carry the column") {
  CHECK(error_column("1 +") == 4);            // unexpected end
  CHECK(error_column("(1 + 2") == 7);          // missing ')'
  CHECK(error_column("1 + 2)") == 6);          // unmatched ')'
  CHECK(error_column("2 $ 3") == 3);
  CHECK(error_column("foo(x)") == 1);
  CHECK(error_message("foo(x)").find("unknown function 'foo'") != std::string::npos);
  CHECK(error_column("x + pow(x)") == 5);
  CHECK(error_message("x + pow(x)").find("pow takes 2 arguments, got 1") != std::string::npos);
  CHECK(error_column("sin(x, y)") == 1);
  CHECK(error_column("") == 1);
  CHECK(error_column("   ") == 4);
  CHECK(error_column("2x") == 2);
  CHECK(error_column("x * exp") == 5);
  CHECK(error_column("1e999") == 1);
  CHECK(error_column("sin(x") == 6);
  CHECK(error_column("x ^ ^ 2") == 5);
  CHECK(error_column("sqrt(x^2 + exp(x^2)") == 20);
  CHECK(error_column("x + 1") == 0);
}

TEST_CASE("the caret sits under the column") {
  try {
    ad::Expression e("x + * 2");
    FAIL("should not parse");
  } catch (const ad::ExpressionError& err) {
    CHECK(err.column() == 5);
    CHECK(err.caret() == "x + * 2\n    ^");
    CHECK(std::string(err.what()).find("column 5") != std::string::npos);
  }
}

TEST_CASE("deep nesting is refused, not a stack overflow") {
  std::string deep(100000, '(');
  deep += "1";
  CHECK_THROWS_AS(ad::Expression{deep}, ad::ExpressionError);
  std::string minus(100000, '-');
  minus += "1";
  CHECK_THROWS_AS(ad::Expression{minus}, ad::ExpressionError);
  std::string ok(150, '(');
  ok += "1" + std::string(150, ')');
  CHECK(ad::Expression(ok)({}) == 1);
}

TEST_CASE("domain problems are warnings with the op, not exceptions") {
  ad::Expression f("log(x) + sqrt(x) + 1/(x+1)");
  ad::ScalarTape tape;
  std::vector<ad::Real> v{tape.variable(-1.0)};
  std::vector<ad::DomainWarning> warnings;
  ad::Real y = f.evaluate(v, &warnings);
  CHECK(std::isnan(y.value()));
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0].op == "log");
  CHECK(warnings[0].column == 1);
  CHECK(warnings[1].op == "sqrt");
  CHECK(warnings[2].op == "division");
  // Wrong number of values
  std::vector<ad::Real> none;
  CHECK_THROWS_AS(f.evaluate(none), ad::ValueError);
}
