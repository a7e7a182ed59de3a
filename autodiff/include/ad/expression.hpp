// Expressions as text: parse "sqrt(x^2 + exp(x^2))" once, evaluate it onto a ScalarTape.
//
// What: `ad::Expression` turns a formula into a flat program (postfix order: operands before
// their operator), so evaluating it is one loop over a value stack, with no recursion and no
// pointer tree. Evaluating on Reals records the scalar tape, so one reverse sweep gives every
// partial derivative; that is how the `adiff` command works.
//
// Grammar (whitespace is ignored):
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '/') unary)*
//   unary   := ('-' | '+') unary | power
//   power   := primary ('^' unary)?          ^ is right-associative and binds tighter than a
//                                            leading minus: -x^2 = -(x^2), 2^-1 = 0.5,
//                                            2^3^2 = 2^9
//   primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
//   number  := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]   (also ".5")
// Names: `pi` and `e` are constants; a name followed by '(' is one of the functions of
// <ad/scalar.hpp> (exp, log, log1p, expm1, sqrt, cbrt, sin, cos, tan, asin, acos, atan, sinh,
// cosh, tanh, asinh, acosh, atanh, sigmoid, softplus, abs, relu, erf; two arguments: pow,
// atan2, min, max, hypot); any other name is a variable.
//
// Errors: ad::ExpressionError (an ad::ParseError) with the 1-based column of the offending
// character; `caret()` shows the expression with a ^ under that column.
#pragma once

#include <ad/error.hpp>
#include <ad/scalar.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ad {

/// A syntax error, an unknown function or a wrong number of arguments, at a column.
class ExpressionError : public ParseError {
 public:
  ExpressionError(std::string message, std::string text, std::size_t column);
  /// 1-based column of the offending character (text.size() + 1 for "unexpected end").
  std::size_t column() const noexcept { return column_; }
  /// The message alone, without the column.
  const std::string& message() const noexcept { return message_; }
  /// Two lines: the expression, then a caret under the column.
  std::string caret() const;

 private:
  std::string message_, text_;
  std::size_t column_;
};

/// A value outside a function's domain met during evaluation (log(-1) -> nan).
struct DomainWarning {
  std::string op;        ///< the function or operator, e.g. "log"
  std::size_t column;    ///< where it is in the expression (1-based)
  std::string message;   ///< e.g. "log(-1) is nan: outside the domain of log"
};

class Expression {
 public:
  /// Parses; throws ExpressionError.
  explicit Expression(std::string_view text);

  const std::string& text() const noexcept { return text_; }
  /// The variables, in order of first appearance.
  const std::vector<std::string>& variables() const noexcept { return variables_; }

  /// Evaluates with values[i] for variables()[i]; Reals on a tape record the computation.
  /// Throws ValueError if values.size() != variables().size(). Non-finite results from finite
  /// arguments are reported in `warnings` (if given), never thrown.
  Real evaluate(std::span<const Real> values, std::vector<DomainWarning>* warnings = nullptr) const;
  /// Plain evaluation (no tape).
  double operator()(std::span<const double> values) const;

  /// Value, gradient and Hessian at `values` (one per variable), exact: the expression is
  /// evaluated on nested ad::Dual numbers whose ops are the same op rules as the tape's, once
  /// per pair i <= j (n (n + 1) / 2 evaluations). Same conventions at kinks as first derivatives.
  struct SecondOrder {
    double value = 0;
    std::vector<double> gradient;              // df/dx_i
    std::vector<std::vector<double>> hessian;  // d2f/dx_i dx_j, symmetric
  };
  SecondOrder hessian(std::span<const double> values) const;

  /// Evaluates on any number type with the functions of the op rules (ad::Dual, nested Duals).
  template <class T>
  T evaluate_as(std::span<const T> values) const;

  /// Known function names and their argument counts.
  static int arity(std::string_view function);  // 0 if unknown

 private:
  enum class Kind : std::uint8_t { number, variable, neg, add, sub, mul, div, pow, call };
  struct Instr {
    Kind kind;
    std::uint8_t fn = 0;     // function index for calls
    std::uint32_t index = 0; // variable index
    double number = 0;
    std::uint32_t column = 0;
  };
  friend class ExpressionParser;
  std::string text_;
  std::vector<std::string> variables_;
  std::vector<Instr> code_;
};

}  // namespace ad
