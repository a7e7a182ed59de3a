// Fuzzes ad::Expression: parse arbitrary text; what parses is evaluated plainly and on a
// ScalarTape with a reverse sweep, and both evaluations must agree.
#include <ad/expression.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    ad::Expression e(text);
    const std::size_t n = e.variables().size();
    std::vector<double> at(n);
    for (std::size_t i = 0; i < n; ++i) at[i] = 0.5 + 0.25 * static_cast<double>(i);
    const double plain = e(at);

    ad::ScalarTape tape;
    std::vector<ad::Real> xs;
    for (double v : at) xs.push_back(tape.variable(v));
    std::vector<ad::DomainWarning> warnings;
    const ad::Real y = e.evaluate(xs, &warnings);
    if (!y.is_constant()) {
      tape.backward(y);
      for (const auto& x : xs) (void)tape.adjoint(x);
    }
    // The taped and the plain evaluation are the same arithmetic.
    if (!(plain == y.value() || (std::isnan(plain) && std::isnan(y.value())))) std::abort();
    for (const auto& w : warnings)
      if (w.column == 0 || w.column > text.size() + 1) std::abort();
  } catch (const ad::ExpressionError& err) {
    if (err.column() == 0 || err.column() > text.size() + 1) std::abort();
    (void)err.caret();
  } catch (const ad::Error&) {
  }
  return 0;
}
