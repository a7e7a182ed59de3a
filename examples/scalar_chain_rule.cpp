// The chain rule by hand and by tape: f(x) = sqrt(x^2 + exp(x^2)), as in the course notes.
//
// The notes split f into intermediates
//     a = x^2,  b = exp(a),  c = a + b,  d = sqrt(c) = f,
// and walk the chain rule backwards:
//     df/dd = 1,  df/dc = 1/(2 sqrt(c)),  df/db = df/dc,  df/da = df/dc (1 + exp(a)),
//     df/dx = df/da 2x = x (1 + b) / d.
// Recording the same steps on a scalar tape gives every one of these adjoints from one reverse
// sweep; this program prints both side by side.
//
// Run: build/bin/scalar_chain_rule [x]      (default x = 1.5)
#include <ad/scalar.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

int main(int argc, char** argv) {
  const double x0 = argc > 1 ? std::atof(argv[1]) : 1.5;

  // 1. Record: each line appends one node to the tape (values are kept for the printout).
  ad::ScalarTape tape;
  tape.keep_values(true);
  ad::Real x = tape.variable(x0, "x");
  ad::Real a = x * x;     // a = x^2
  ad::Real b = exp(a);    // b = exp(a)
  ad::Real c = a + b;     // c = a + b
  ad::Real d = sqrt(c);   // d = sqrt(c) = f

  // 2. One reverse sweep from d: afterwards every node holds df/d(node).
  ad::backward(d);

  // 3. The same adjoints derived by hand from the course notes.
  const double av = x0 * x0, bv = std::exp(av), cv = av + bv, dv = std::sqrt(cv);
  const double hand_d = 1.0;
  const double hand_c = 1.0 / (2.0 * std::sqrt(cv));
  const double hand_b = hand_c;
  const double hand_a = hand_c * (1.0 + bv);  // a feeds c directly and through b
  const double hand_x = x0 * (1.0 + bv) / dv;

  fmt::print("f(x) = sqrt(x^2 + exp(x^2)) at x = {}\n\n", x0);
  fmt::print("{:<14} {:>22} {:>22} {:>22}\n", "node", "value", "adjoint (tape)", "adjoint (hand)");
  auto row = [](const char* name, const ad::Real& r, double hand) {
    fmt::print("{:<14} {:>22.17g} {:>22.17g} {:>22.17g}\n", name, r.value(), r.adjoint(), hand);
  };
  row("d = sqrt(c)", d, hand_d);
  row("c = a + b", c, hand_c);
  row("b = exp(a)", b, hand_b);
  row("a = x^2", a, hand_a);
  row("x", x, hand_x);

  fmt::print("\nThe tape (one line per node; inputs with their local partial derivatives):\n{}",
             tape.print());

  // df/dx = x (1 + b) / d: three operations once the intermediates are known.
  const double err = std::fabs(x.adjoint() - hand_x);
  fmt::print("\ndf/dx by tape = {:.17g}, x(1+b)/d = {:.17g}, difference = {:.3g}\n",
             x.adjoint(), hand_x, err);
  fmt::print("x={} f={:.17g} dfdx={:.17g} dfdx_formula={:.17g} abs_diff={:.3g}\n", x0, d.value(),
             x.adjoint(), hand_x, err);
  return err <= 1e-12 * std::max(1.0, std::fabs(hand_x)) ? 0 : 1;
}
