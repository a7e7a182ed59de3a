// adiff: value and partial derivatives of a formula, from the shell.
//
//   adiff 'sqrt(x^2 + exp(x^2))' --at x=1.5
//   adiff 'x*y + sin(x)' --at x=1,y=2 --json
//
// The formula is parsed once (ad::Expression), evaluated onto a scalar tape at the given point,
// and one reverse sweep gives every partial derivative. Options are read by CLI11. --json is
// written here, not by a JSON library, for its documented layout: ", " and ": " separators, 17
// significant digits, integers without ".0" (nlohmann-json's dump gives {"value":1.0}). Exit
// codes: 0 success (also when the value is nan, with a warning), 2 bad usage or a formula that
// does not parse, 1 anything else.
#include <ad/expression.hpp>
#include <ad/scalar.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* kHelpHead = R"(usage: adiff EXPRESSION [--at NAME=VALUE[,NAME=VALUE...]] [options]

Prints the value of EXPRESSION and its partial derivative with respect to each variable,
computed by reverse-mode automatic differentiation (one sweep over a recorded tape).

)";
/// The end of --help: the syntax, and the functions of the op rules' lists (the parser's own).
std::string help_tail() {
  std::string s = R"(
Expressions: numbers (2, 0.5, 1e-3), variables, + - * / ^ (^ is right-associative and binds
tighter than unary minus: -x^2 = -(x^2)), parentheses, constants pi and e, and the functions)";
  std::vector<std::string> names;
#define AD_HELP_UNARY(Rule, fn) names.push_back(#fn);
#define AD_HELP_BINARY(Rule, fn) names.push_back(#fn "(a,b)");
  AD_UNARY_RULES(AD_HELP_UNARY)
  AD_BINARY_RULES(AD_HELP_BINARY)
#undef AD_HELP_UNARY
#undef AD_HELP_BINARY
  std::size_t column = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string word = names[i] + (i + 1 == names.size() ? "." : "");
    if (column == 0 || column + 1 + word.size() > 94) {
      s += "\n" + word;
      column = word.size();
    } else {
      s += " " + word;
      column += 1 + word.size();
    }
  }
  return s + R"(

Examples:
  adiff 'sqrt(x^2 + exp(x^2))' --at x=1.5
  adiff 'x*y + sin(x)' --at x=1,y=2 --json --check
)";
}

/// --help: the options in the order added, "  --name VALUE" padded to column 19, the description
/// after it (a "\n" in it starts a new line at column 19).
class HelpFormatter : public CLI::FormatterBase {
 public:
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    constexpr std::size_t column = 19;
    std::string s = kHelpHead;
    for (const CLI::Option* o : app->get_options()) {
      std::string line = "  " + o->get_name();
      if (!o->get_type_name().empty()) line += " " + o->get_type_name();
      line.resize(std::max(line.size() + 1, column), ' ');
      for (char c : o->get_description()) line += c == '\n' ? "\n" + std::string(column, ' ') : std::string(1, c);
      s += line + "\n";
    }
    return s + help_tail();
  }
};

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
  bool have_text = false, json = false, check = false, tape_out = false, dot = false, hessian = false;
  std::vector<std::pair<std::string, double>> at;
  // The options by CLI11, each read in command-line order (trigger_on_parse); the expression is
  // what no option takes (CLI11 would read '-x^2 + pi' as a short option).
  CLI::App app{"", "adiff"};
  app.set_help_flag();
  app.add_option_function<std::string>("--at", [&](const std::string& v) { parse_at(v, at); },
                                       "values of the variables (repeatable; a value may be a constant\n"
                                       "expression such as pi/4)")
      ->type_name("x=1.5,y=2")
      ->trigger_on_parse();
  const auto flag = [&](const char* name, bool& value, const char* text) {
    app.add_flag_function(name, [&value](std::int64_t) { value = true; }, text)->trigger_on_parse();
  };
  flag("--json", json, R"(print {"value": V, "gradient": {"x": GX, ...}} with 17 significant digits)");
  flag("--check", check,
       "also estimate each derivative by central finite differences and show the\ndifference");
  flag("--hessian", hessian,
       "also print the matrix of second derivatives d2f/dx dy, exact (with --json:\n"
       "\"hessian\": {\"x\": {\"y\": HXY, ...}, ...}; with --check: against central\n"
       "differences of the gradient)");
  flag("--tape", tape_out,
       "print the recorded tape: one line per node with its op, inputs (with\n"
       "local partial derivatives), value and adjoint after the sweep");
  flag("--dot", dot, "print the tape as a Graphviz graph instead (adiff ... --dot | dot -Tsvg)");
  // --help as read in order: an unknown option or a second expression before it is reported.
  const auto help = [&](std::int64_t) {
    std::size_t expressions = 0;
    for (const std::string& r : app.remaining())
      if (r.starts_with("--") || ++expressions > 1) return;
    throw CLI::CallForHelp();
  };
  app.add_flag_function("--help,-h", help, "this text")->trigger_on_parse();
  app.formatter(std::make_shared<HelpFormatter>());
  app.allow_extras();
  for (int i = 1; i < argc; ++i) {  // a flag given a value is no option of adiff's
    const std::string_view a = argv[i];
    if (a.starts_with("--") && a.find('=') != std::string_view::npos && !a.starts_with("--at="))
      throw UsageError{fmt::format("unknown option '{}' (see adiff --help)", a)};
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ArgumentMismatch&) {  // --at, the one option with a value, ended the line
    throw UsageError{"--at needs NAME=VALUE, e.g. --at x=1.5"};
  } catch (const CLI::ParseError& e) {
    throw UsageError{e.what()};
  }
  for (const std::string& a : app.remaining()) {
    if (a.starts_with("--")) throw UsageError{fmt::format("unknown option '{}' (see adiff --help)", a)};
    if (have_text)
      throw UsageError{fmt::format("more than one expression given: '{}' and '{}' (quote the "
                                   "expression)",
                                   text, a)};
    text = a;
    have_text = true;
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

  // Second derivatives over the --at variables (rows and columns of variables the expression
  // does not use are 0), and with --check central differences of the exact gradient.
  const std::size_t nv = vars.size();
  std::vector<std::vector<double>> hess(nv, std::vector<double>(nv, 0.0)), hess_fd = hess;
  double hess_diff = 0;
  if (hessian) {
    const ad::Expression::SecondOrder so = expr.hessian(values_for_expr(vars));
    std::vector<std::size_t> slot;  // expression variable -> --at index
    for (const std::string& v : expr.variables())
      for (std::size_t k = 0; k < nv; ++k)
        if (vars[k].first == v) slot.push_back(k);
    for (std::size_t i = 0; i < slot.size(); ++i)
      for (std::size_t j = 0; j < slot.size(); ++j) hess[slot[i]][slot[j]] = so.hessian[i][j];
    if (check) {
      auto gradient_at = [&](const std::vector<std::pair<std::string, double>>& point) {
        ad::ScalarTape t;
        std::vector<ad::Real> xs;
        for (const auto& [n, x] : point) xs.push_back(t.variable(x));
        std::vector<ad::Real> in;
        for (std::size_t i = 0; i < slot.size(); ++i) in.push_back(xs[slot[i]]);
        const ad::Real y = expr.evaluate(in);
        std::vector<double> g(nv, 0.0);
        if (!y.is_constant()) g = t.grad(y, xs);
        return g;
      };
      const double h0 = std::cbrt(std::numeric_limits<double>::epsilon());
      for (std::size_t k = 0; k < nv; ++k) {
        auto plus = vars, minus = vars;
        const double h = h0 * std::max(1.0, std::fabs(vars[k].second));
        plus[k].second += h;
        minus[k].second -= h;
        const double width = plus[k].second - minus[k].second;
        const std::vector<double> gp = gradient_at(plus), gm = gradient_at(minus);
        for (std::size_t i = 0; i < nv; ++i) {
          hess_fd[i][k] = (gp[i] - gm[i]) / width;
          hess_diff = std::max(hess_diff, std::fabs(hess[i][k] - hess_fd[i][k]));
        }
      }
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
    if (hessian) {
      out += ", \"hessian\": {";
      for (std::size_t i = 0; i < nv; ++i) {
        out += fmt::format("{}{}: {{", i ? ", " : "", json_string(vars[i].first));
        for (std::size_t j = 0; j < nv; ++j)
          out += fmt::format("{}{}: {}", j ? ", " : "", json_string(vars[j].first), json_number(hess[i][j]));
        out += "}";
      }
      out += "}";
      if (check) out += fmt::format(", \"hessian_check\": {{\"max_diff\": {}}}", json_number(hess_diff));
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
  if (hessian) {
    // The matrix, rows and columns named; entries in the shortest form that reads back exactly.
    std::vector<std::vector<std::string>> cells(nv, std::vector<std::string>(nv));
    std::size_t cw = 0, rw = 0;
    for (std::size_t i = 0; i < nv; ++i) {
      rw = std::max(rw, vars[i].first.size());
      cw = std::max(cw, vars[i].first.size());
      for (std::size_t j = 0; j < nv; ++j) cw = std::max(cw, (cells[i][j] = show(hess[i][j])).size());
    }
    std::string head = fmt::format("{:<{}}", "", rw);
    for (std::size_t j = 0; j < nv; ++j) head += fmt::format("  {:<{}}", vars[j].first, cw);
    while (!head.empty() && head.back() == ' ') head.pop_back();
    fmt::print("\nhessian d2f/d(row) d(column):\n{}\n", head);
    for (std::size_t i = 0; i < nv; ++i) {
      std::string line = fmt::format("{:<{}}", vars[i].first, rw);
      for (std::size_t j = 0; j < nv; ++j) line += fmt::format("  {:<{}}", cells[i][j], cw);
      while (!line.empty() && line.back() == ' ') line.pop_back();
      fmt::print("{}\n", line);
    }
    if (check)
      fmt::print("largest difference from central differences of the gradient: {:.3g}\n", hess_diff);
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
