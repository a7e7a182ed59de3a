// adiff: value and partial derivatives of a formula, from the shell.
//
//   adiff 'sqrt(x^2 + exp(x^2))' --at x=1.5
//   adiff 'x*y + sin(x)' --at x=1,y=2 --json
//
// The formula is parsed once (ad::Expression), evaluated onto a scalar tape at the given point,
// and one reverse sweep gives every partial derivative. Exit codes: 0 success (also when the
// value is nan, with a warning), 2 bad usage or a formula that does not parse, 1 anything else.
#include <ad/expression.hpp>
#include <ad/scalar.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: adiff EXPRESSION [--at NAME=VALUE[,NAME=VALUE...]] [options]

Prints the value of EXPRESSION and its partial derivative with respect to each variable,
computed by reverse-mode automatic differentiation (one sweep over a recorded tape).

  --at x=1.5,y=2   values of the variables (repeatable; a value may be a constant
                   expression such as pi/4)
  --json           print {"value": V, "gradient": {"x": GX, ...}} with 17 significant digits
  --check          also estimate each derivative by central finite differences and show the
                   difference
  --tape           print the recorded tape: one line per node with its op, inputs (with
                   local partial derivatives), value and adjoint after the sweep
  --dot            print the tape as a Graphviz graph instead (adiff ... --dot | dot -Tsvg)
  --help           this text

Expressions: numbers (2, 0.5, 1e-3), variables, + - * / ^ (^ is right-associative and binds
tighter than unary minus: -x^2 = -(x^2)), parentheses, constants pi and e, and the functions
exp log log1p expm1 sqrt cbrt sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh
sigmoid softplus abs relu erf, pow(a,b) atan2(y,x) min(a,b) max(a,b) hypot(a,b).

Examples:
  adiff 'sqrt(x^2 + exp(x^2))' --at x=1.5
  adiff 'x*y + sin(x)' --at x=1,y=2 --json --check
)";

struct UsageError {
  std::string message;
};

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";  // JSON has no nan or infinity
  return fmt::format("{:.17g}", v);
}

// Shortest text that reads back as the same double; nan without a sign.
std::string show(double v) { return std::isnan(v) ? std::string("nan") : fmt::format("{}", v); }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

double parse_value(const std::string& name, const std::string& text) {
  if (text.empty()) throw UsageError{fmt::format("--at {}=: the value is missing", name)};
  try {
    const ad::Expression e(text);
    if (!e.variables().empty())
      throw UsageError{fmt::format("--at {}={}: the value must be a number or a constant "
                                   "expression, not use '{}'",
                                   name, text, e.variables().front())};
    return e({});
  } catch (const ad::ExpressionError& err) {
    throw UsageError{fmt::format("--at {}={}: not a number: {}\n{}", name, text, err.message(),
                                 err.caret())};
  }
}

bool valid_name(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

void parse_at(const std::string& spec, std::vector<std::pair<std::string, double>>& at) {
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string item = spec.substr(start, end - start);
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw UsageError{fmt::format("--at '{}': expected NAME=VALUE, e.g. --at x=1.5", item)};
    std::string name = item.substr(0, eq);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    while (!name.empty() && name.front() == ' ') name.erase(name.begin());
    if (!valid_name(name))
      throw UsageError{fmt::format("--at '{}': '{}' is not a variable name", item, name)};
    if (name == "pi" || name == "e")
      throw UsageError{fmt::format("--at {}: '{}' is a constant, not a variable", item, name)};
    if (ad::Expression::arity(name) > 0)
      throw UsageError{fmt::format("--at {}: '{}' is a function, not a variable", item, name)};
    for (const auto& [n, v] : at)
      if (n == name) throw UsageError{fmt::format("--at: '{}' is given twice", name)};
    at.emplace_back(name, parse_value(name, item.substr(eq + 1)));
    start = end + 1;
  }
}

int run(int argc, char** argv) {
  std::string text;
  bool have_text = false, json = false, check = false, tape_out = false, dot = false;
  std::vector<std::pair<std::string, double>> at;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--check") {
      check = true;
    } else if (a == "--tape") {
      tape_out = true;
    } else if (a == "--dot") {
      dot = true;
    } else if (a == "--at") {
      if (i + 1 >= argc) throw UsageError{"--at needs NAME=VALUE, e.g. --at x=1.5"};
      parse_at(argv[++i], at);
    } else if (a.starts_with("--at=")) {
      parse_at(std::string(a.substr(5)), at);
    } else if (a.size() > 1 && a[0] == '-' && a[1] == '-') {
      throw UsageError{fmt::format("unknown option '{}' (see adiff --help)", a)};
    } else if (!have_text) {
      text = std::string(a);
      have_text = true;
    } else {
      throw UsageError{fmt::format("more than one expression given: '{}' and '{}' (quote the "
                                   "expression)",
                                   text, a)};
    }
  }
  if (!have_text) throw UsageError{"no expression given (see adiff --help)"};
  if (json && (tape_out || dot))
    throw UsageError{"--json cannot be combined with --tape or --dot"};

  ad::Expression expr(text);  // ExpressionError -> exit 2 with a caret (see main)

  // Every variable of the expression needs a value; the gradient lists the --at variables.
  std::vector<std::pair<std::string, double>> vars = at;
  for (const std::string& v : expr.variables()) {
    bool found = false;
    for (const auto& [n, x] : at) found = found || n == v;
    if (!found)
      throw UsageError{fmt::format("variable '{}' has no value: give it with --at {}=...", v, v)};
  }
  auto values_for_expr = [&](const std::vector<std::pair<std::string, double>>& point) {
    std::vector<double> vals;
    for (const std::string& v : expr.variables())
      for (const auto& [n, x] : point)
        if (n == v) vals.push_back(x);
    return vals;
  };

  ad::ScalarTape tape;
  tape.keep_values(true);
  std::vector<ad::Real> reals;
  for (const auto& [n, x] : vars) reals.push_back(tape.variable(x, n));
  std::vector<ad::Real> args;
  for (const std::string& v : expr.variables())
    for (std::size_t k = 0; k < vars.size(); ++k)
      if (vars[k].first == v) args.push_back(reals[k]);

  std::vector<ad::DomainWarning> warnings;
  const ad::Real f = expr.evaluate(args, &warnings);
  std::vector<double> grad(vars.size(), 0.0);
  if (!f.is_constant()) {
    tape.backward(f);
    for (std::size_t k = 0; k < vars.size(); ++k) grad[k] = reals[k].adjoint();
  }
  for (const auto& w : warnings) fmt::print(stderr, "adiff: warning: {}\n", w.message);

  // Central finite differences, h scaled to the point.
  std::vector<double> fd(vars.size(), 0.0);
  if (check) {
    const double h0 = std::cbrt(std::numeric_limits<double>::epsilon());
    for (std::size_t k = 0; k < vars.size(); ++k) {
      auto plus = vars, minus = vars;
      const double h = h0 * std::max(1.0, std::fabs(vars[k].second));
      plus[k].second += h;
      minus[k].second -= h;
      const double hp = plus[k].second - vars[k].second, hm = vars[k].second - minus[k].second;
      fd[k] = (expr(values_for_expr(plus)) - expr(values_for_expr(minus))) / (hp + hm);
    }
  }

  if (dot) {
    fmt::print("{}", tape.dot());
    return 0;
  }
  if (json) {
    std::string out = fmt::format("{{\"value\": {}, \"gradient\": {{", json_number(f.value()));
    for (std::size_t k = 0; k < vars.size(); ++k)
      out += fmt::format("{}{}: {}", k ? ", " : "", json_string(vars[k].first),
                         json_number(grad[k]));
    out += "}";
    if (check) {
      out += ", \"check\": {";
      for (std::size_t k = 0; k < vars.size(); ++k)
        out += fmt::format("{}{}: {{\"fd\": {}, \"diff\": {}}}", k ? ", " : "",
                           json_string(vars[k].first), json_number(fd[k]),
                           json_number(grad[k] - fd[k]));
      out += "}";
    }
    fmt::print("{}}}\n", out);
    return 0;
  }

  std::string names, point;
  for (std::size_t k = 0; k < vars.size(); ++k) {
    names += fmt::format("{}{}", k ? ", " : "", vars[k].first);
    point += fmt::format("{}{} = {}", k ? ", " : "", vars[k].first, show(vars[k].second));
  }
  fmt::print("f({}) = {}\n", names, text);
  if (!vars.empty()) fmt::print("at {}\n", point);
  std::size_t width = 5;
  for (const auto& [n, x] : vars) width = std::max(width, n.size() + 3);
  fmt::print("{:<{}} = {}\n", "f", width, show(f.value()));
  for (std::size_t k = 0; k < vars.size(); ++k) {
    const std::string label = "df/d" + vars[k].first;
    if (check)
      fmt::print("{:<{}} = {:<24}  finite difference = {:<24}  difference = {:.3g}\n", label,
                 width, show(grad[k]), show(fd[k]), grad[k] - fd[k]);
    else
      fmt::print("{:<{}} = {}\n", label, width, show(grad[k]));
  }
  if (tape_out) {
    fmt::print("\ntape ({} nodes, newest last; adjoint = df/d(node) after the reverse sweep):\n{}",
               tape.size(), tape.print());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    fmt::print(stderr, "adiff: {}\n", e.message);
    return 2;
  } catch (const ad::ExpressionError& e) {
    fmt::print(stderr, "adiff: {}\n{}\n", e.what(), e.caret());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "adiff: error: {}\n", e.what());
    return 1;
  }
}
