// The expression parser (recursive descent with a depth limit) and the postfix evaluator.
#include <ad/expression.hpp>

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <numbers>

namespace ad {

namespace {

struct Function {
  const char* name;
  int arity;
  Real (*apply)(const Real&, const Real&);
};

// The functions: one per function rule of <ad/ops/rules.hpp> (name, argument count, how to apply
// it to Reals).
const Function functions[] = {
#define AD_PARSER_UNARY(Rule, name) {#name, 1, [](const Real& a, const Real&) -> Real { return name(a); }},
#define AD_PARSER_BINARY(Rule, name) {#name, 2, [](const Real& a, const Real& b) -> Real { return name(a, b); }},
    AD_UNARY_RULES(AD_PARSER_UNARY) AD_BINARY_RULES(AD_PARSER_BINARY)
#undef AD_PARSER_UNARY
#undef AD_PARSER_BINARY
};
constexpr std::size_t function_count = sizeof(functions) / sizeof(functions[0]);

int find_function(std::string_view name) {
  for (std::size_t i = 0; i < function_count; ++i)
    if (name == functions[i].name) return static_cast<int>(i);
  return -1;
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

constexpr int max_depth = 200;

}  // namespace

ExpressionError::ExpressionError(std::string message, std::string text, std::size_t column)
    : ParseError(fmt::format("column {}: {}", column, message)),
      message_(std::move(message)),
      text_(std::move(text)),
      column_(column) {}

std::string ExpressionError::caret() const {
  // Tabs stay tabs so the caret lines up under them.
  std::string pad;
  for (std::size_t i = 0; i + 1 < column_ && i < text_.size(); ++i) pad += text_[i] == '\t' ? '\t' : ' ';
  if (column_ > text_.size() + 1) pad.append(column_ - 1 - text_.size(), ' ');
  return fmt::format("{}\n{}^", text_, pad);
}

int Expression::arity(std::string_view function) {
  const int f = find_function(function);
  return f < 0 ? 0 : functions[f].arity;
}

class ExpressionParser {
 public:
  ExpressionParser(Expression& e) : e_(e), s_(e.text_) {}

  void parse() {
    skip();
    if (pos_ == s_.size()) fail("empty expression", pos_);
    expr(0);
    skip();
    if (pos_ != s_.size()) {
      if (s_[pos_] == ')') fail("unmatched ')'", pos_);
      fail(fmt::format("unexpected '{}' (expected an operator or the end)", s_[pos_]), pos_);
    }
  }

 private:
  using Kind = Expression::Kind;

  [[noreturn]] void fail(const std::string& msg, std::size_t at) {
    throw ExpressionError(msg, std::string(s_), at + 1);
  }
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                                s_[pos_] == '\r'))
      ++pos_;
  }
  char peek() {
    skip();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  void emit(Kind k, std::size_t column, double number = 0, std::uint32_t index = 0,
            std::uint8_t fn = 0) {
    Expression::Instr in{k, fn, index, number, static_cast<std::uint32_t>(column + 1)};
    e_.code_.push_back(in);
  }
  void enter(std::size_t at) {
    if (++depth_ > max_depth)
      fail(fmt::format("expression nested more than {} levels deep", max_depth), at);
  }

  void expr(int) {
    term();
    for (;;) {
      const char c = peek();
      if (c != '+' && c != '-') break;
      const std::size_t at = pos_++;
      term();
      emit(c == '+' ? Kind::add : Kind::sub, at);
    }
  }
  void term() {
    unary();
    for (;;) {
      const char c = peek();
      if (c != '*' && c != '/') break;
      const std::size_t at = pos_++;
      unary();
      emit(c == '*' ? Kind::mul : Kind::div, at);
    }
  }
  // Every recursion (parentheses, calls, signs, ^ chains) passes through here: one depth check.
  void unary() {
    enter(pos_);
    const char c = peek();
    if (c == '-' || c == '+') {
      const std::size_t at = pos_++;
      unary();
      if (c == '-') emit(Kind::neg, at);
    } else {
      power();
    }
    --depth_;
  }
  void power() {
    primary();
    if (peek() == '^') {
      const std::size_t at = pos_++;
      unary();  // right-associative; allows 2^-x
      emit(Kind::pow, at);
    }
  }
  void primary() {
    const char c = peek();
    const std::size_t at = pos_;
    if (c == '\0') fail("unexpected end of expression (expected a number, a name or '(')", at);
    if (is_digit(c) || (c == '.' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]))) {
      number();
    } else if (is_name_start(c)) {
      std::size_t end = pos_;
      while (end < s_.size() && is_name_char(s_[end])) ++end;
      const std::string_view name = s_.substr(pos_, end - pos_);
      pos_ = end;
      if (peek() == '(') {
        call(name, at);
      } else if (name == "pi") {
        emit(Kind::number, at, std::numbers::pi);
      } else if (name == "e") {
        emit(Kind::number, at, std::numbers::e);
      } else if (find_function(name) >= 0) {
        fail(fmt::format("'{}' is a function: call it as {}(...)", name, name), at);
      } else {
        std::uint32_t index = 0;
        while (index < e_.variables_.size() && e_.variables_[index] != name) ++index;
        if (index == e_.variables_.size()) e_.variables_.emplace_back(name);
        emit(Kind::variable, at, 0, index);
      }
    } else if (c == '(') {
      ++pos_;
      expr(0);
      if (peek() != ')') {
        if (pos_ == s_.size()) fail("missing ')' (the '(' is not closed)", pos_);
        fail(fmt::format("expected ')' but found '{}'", s_[pos_]), pos_);
      }
      ++pos_;
    } else if (c == ')') {
      fail("unexpected ')' (expected a number, a name or '(')", at);
    } else {
      fail(fmt::format("unexpected '{}' (expected a number, a name or '(')", c), at);
    }
  }
  void number() {
    const std::size_t at = pos_;
    std::size_t end = pos_;
    while (end < s_.size() && is_digit(s_[end])) ++end;
    if (end < s_.size() && s_[end] == '.') {
      ++end;
      while (end < s_.size() && is_digit(s_[end])) ++end;
    }
    if (end < s_.size() && (s_[end] == 'e' || s_[end] == 'E')) {
      std::size_t k = end + 1;
      if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
      if (k < s_.size() && is_digit(s_[k])) {
        while (k < s_.size() && is_digit(s_[k])) ++k;
        end = k;
      }
    }
    double v = 0;
    const auto r = std::from_chars(s_.data() + at, s_.data() + end, v);
    if (r.ec == std::errc::result_out_of_range) {
      fail(fmt::format("number '{}' is out of range for a double", s_.substr(at, end - at)), at);
    }
    if (r.ec != std::errc() || r.ptr != s_.data() + end) fail("malformed number", at);
    pos_ = end;
    if (pos_ < s_.size() && is_name_start(s_[pos_]))
      fail(fmt::format("unexpected '{}' after a number (write '*' to multiply)", s_[pos_]), pos_);
    emit(Kind::number, at, v);
  }
  void call(std::string_view name, std::size_t at) {
    const int f = find_function(name);
    if (f < 0) {
      if (name == "pi" || name == "e") fail(fmt::format("'{}' is a constant, not a function", name), at);
      fail(fmt::format("unknown function '{}'", name), at);
    }
    ++pos_;  // '('
    int args = 0;
    if (peek() == ')') {
      ++pos_;
    } else {
      for (;;) {
        expr(0);
        ++args;
        const char c = peek();
        if (c == ',') {
          ++pos_;
          continue;
        }
        if (c == ')') {
          ++pos_;
          break;
        }
        if (c == '\0') fail(fmt::format("missing ')' to close {}(", name), pos_);
        fail(fmt::format("expected ',' or ')' in the arguments of {} but found '{}'", name, c),
             pos_);
      }
    }
    if (args != functions[f].arity)
      fail(fmt::format("{} takes {} argument{}, got {}", name, functions[f].arity,
                       functions[f].arity == 1 ? "" : "s", args),
           at);
    emit(Kind::call, at, 0, 0, static_cast<std::uint8_t>(f));
  }

  Expression& e_;
  std::string_view s_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

Expression::Expression(std::string_view text) : text_(text) {
  ExpressionParser(*this).parse();
}

namespace {

bool finite(double v) { return std::isfinite(v); }

std::string num(double v) { return std::isnan(v) ? std::string("nan") : fmt::format("{}", v); }

}  // namespace

Real Expression::evaluate(std::span<const Real> values, std::vector<DomainWarning>* warnings) const {
  if (values.size() != variables_.size())
    throw ValueError(fmt::format("expression: {} variable value{} given, the expression has {}",
                                 values.size(), values.size() == 1 ? "" : "s",
                                 variables_.size()));
  std::vector<Real> stack;
  stack.reserve(code_.size());
  auto warn = [&](const Instr& in, const char* op, const std::string& call, double y) {
    if (!warnings) return;
    warnings->push_back({op, in.column,
                         fmt::format("{} = {} (column {}): outside the domain of {}", call,
                                     num(y), in.column, op)});
  };
  for (const Instr& in : code_) {
    switch (in.kind) {
      case Kind::number:
        stack.emplace_back(in.number);
        break;
      case Kind::variable:
        stack.push_back(values[in.index]);
        break;
      case Kind::neg:
        stack.back() = -stack.back();
        break;
      case Kind::call: {
        const Function& f = functions[in.fn];
        if (f.arity == 1) {
          const Real a = stack.back();
          stack.back() = f.apply(a, a);
          if (finite(a.value()) && !finite(stack.back().value()))
            warn(in, f.name, fmt::format("{}({})", f.name, num(a.value())), stack.back().value());
        } else {
          const Real b = stack.back();
          stack.pop_back();
          const Real a = stack.back();
          stack.back() = f.apply(a, b);
          if (finite(a.value()) && finite(b.value()) && !finite(stack.back().value()))
            warn(in, f.name, fmt::format("{}({}, {})", f.name, num(a.value()), num(b.value())),
                 stack.back().value());
        }
        break;
      }
      default: {
        const Real b = stack.back();
        stack.pop_back();
        const Real a = stack.back();
        const char* op = "";
        switch (in.kind) {
          case Kind::add: stack.back() = a + b; op = "+"; break;
          case Kind::sub: stack.back() = a - b; op = "-"; break;
          case Kind::mul: stack.back() = a * b; op = "*"; break;
          case Kind::div: stack.back() = a / b; op = "/"; break;
          default: stack.back() = pow(a, b); op = "^"; break;
        }
        if (finite(a.value()) && finite(b.value()) && !finite(stack.back().value()) && warnings) {
          const char* name = in.kind == Kind::div ? "division" : in.kind == Kind::pow ? "^" : op;
          warnings->push_back(
              {name, in.column,
               fmt::format("{} {} {} = {} (column {}){}", num(a.value()), op, num(b.value()),
                           num(stack.back().value()), in.column,
                           in.kind == Kind::div && b.value() == 0 ? ": division by zero"
                           : in.kind == Kind::pow ? ": outside the domain of ^"
                                                  : ": overflow")});
        }
        break;
      }
    }
  }
  return stack.back();
}

double Expression::operator()(std::span<const double> values) const {
  std::vector<Real> r(values.begin(), values.end());
  return evaluate(r).value();
}

}  // namespace ad

namespace ad {

namespace {
/// Function number fn of the table above, applied to numbers of type T.
template <class T>
T call_function(std::uint8_t fn, const T& a, const T& b) {
  std::uint8_t i = 0;
#define AD_CALL_UNARY(Rule, name) \
  if (fn == i++) return name(a);
#define AD_CALL_BINARY(Rule, name) \
  if (fn == i++) return name(a, b);
  AD_UNARY_RULES(AD_CALL_UNARY)
  AD_BINARY_RULES(AD_CALL_BINARY)
#undef AD_CALL_UNARY
#undef AD_CALL_BINARY
  (void)b;
  throw ValueError(fmt::format("expression: no function number {}", fn));
}
}  // namespace

template <class T>
T Expression::evaluate_as(std::span<const T> values) const {
  if (values.size() != variables_.size())
    throw ValueError(fmt::format("expression: {} variable value{} given, the expression has {}",
                                 values.size(), values.size() == 1 ? "" : "s",
                                 variables_.size()));
  std::vector<T> stack;
  stack.reserve(code_.size());
  for (const Instr& in : code_) {
    switch (in.kind) {
      case Kind::number: stack.emplace_back(in.number); break;
      case Kind::variable: stack.push_back(values[in.index]); break;
      case Kind::neg: stack.back() = -stack.back(); break;
      case Kind::call: {
        const T b = stack.back();
        if (functions[in.fn].arity == 1) {
          stack.back() = call_function<T>(in.fn, b, b);
        } else {
          stack.pop_back();
          stack.back() = call_function<T>(in.fn, stack.back(), b);
        }
        break;
      }
      default: {
        const T b = stack.back();
        stack.pop_back();
        T& a = stack.back();
        switch (in.kind) {
          case Kind::add: a = a + b; break;
          case Kind::sub: a = a - b; break;
          case Kind::mul: a = a * b; break;
          case Kind::div: a = a / b; break;
          case Kind::pow: a = pow(a, b); break;
          default: break;
        }
      }
    }
  }
  return stack.back();
}

Expression::SecondOrder Expression::hessian(std::span<const double> values) const {
  const std::size_t n = values.size();
  SecondOrder r;
  r.value = (*this)(values);
  r.gradient.assign(n, 0.0);
  r.hessian.assign(n, std::vector<double>(n, 0.0));
  for_each_hessian_entry([this](std::span<const HessianNumber> xs) { return evaluate_as<HessianNumber>(xs); },
                         values, [&](std::size_t i, std::size_t j, const HessianNumber& y) {
                           r.value = y.value().value();
                           r.gradient[i] = y.partial(0).value();
                           r.hessian[i][j] = r.hessian[j][i] = y.partial(0).partial(0);
                         });
  return r;
}

template Dual<1, Dual<1>> Expression::evaluate_as<Dual<1, Dual<1>>>(std::span<const Dual<1, Dual<1>>>) const;
template Dual<1> Expression::evaluate_as<Dual<1>>(std::span<const Dual<1>>) const;

}  // namespace ad
