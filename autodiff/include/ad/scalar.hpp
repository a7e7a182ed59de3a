// The scalar fast path: a flat tape of small records for functions of plain numbers.
//
// What: `ad::Real` is a handle {tape, id, epoch, value} to one recorded node of an
// `ad::ScalarTape`. Arithmetic and the usual math functions on Reals build small expression
// objects; storing one into a `Real` records the whole expression as ONE statement. One reverse
// loop over the tape then gives the derivative of an output with respect to every input at once:
//
//     ad::ScalarTape tape;
//     ad::Real x = tape.variable(1.5), y = tape.variable(-0.5);
//     ad::Real f = sqrt(x * x + exp(x * y));        // one statement on the tape
//     auto [dx, dy] = ad::derivatives(f, ad::wrt(x, y));
//
// Why a tape of its own: a tensor node (see <ad/tape.hpp>) owns arrays and a shape; a scalar
// node must cost a few bytes and a few nanoseconds.
//
// Statements (Adept-2's idea, R. Hogan, "Fast reverse-mode automatic differentiation using
// expression templates in C++", ACM TOMS 2014): `x * y`, `exp(a)`, `a + 2.0`, ... return
// expression objects (RealUnaryExpr, RealBinaryExpr) that hold their operands BY VALUE (a leaf
// is a copy of the 24-byte Real handle) together with their value, computed right away. Nothing
// is recorded until an expression becomes a Real: `ad::Real f = expr;`, `f += expr;`, or any
// function taking a Real (derivatives, gradient, backward, jacobian, ...). Then the expression's
// partial derivatives with respect to its leaves are computed by passing a multiplier down the
// tree (each node multiplies it by its local partial, written next to its value below), and the
// tape gets one record: an op byte, a count, and one (leaf id, partial) pair per distinct leaf.
// `sqrt(x*x + exp(x*x))` is one record with a single pair (x, df/dx). The reverse sweep is one
// loop over the statements (variables have nothing to propagate and are skipped) of
// multiply-adds: adjoint[leaf] += partial * adjoint[statement].
//
// Unlike Adept, operands are copied, not referenced, so `auto e = sqrt(x * x + 1.0);` is safe
// to keep and use later (it is an expression, recorded each time it is converted to a Real).
// Write `ad::Real` rather than `auto` when you mean a node: a named Real is a node of its own,
// with an adjoint after backward() (`ad::Real a = x * x;` then `a.adjoint()`).
//
// Teaching mode: with `tape.keep_values(true)` (needed by the printouts) every elementary op of
// an expression is recorded as a node of its own, so print()/dot() show x*x, exp, add, sqrt one
// per line, exactly the chain rule of the course notes.
//
// Memory per recorded statement: 6 bytes (op, count, its place in the statement list) + 12 bytes
// per distinct tape leaf (4-byte id + 8-byte partial), plus 8 bytes for its adjoint, plus 8
// bytes for the value if `keep_values(true)`. A variable: 6 bytes (op, count, its place in the
// variable list) + 8 for its adjoint. Reals hold their own value, so the sweep never reads
// values.
//
// Long sums: `ad::Sum s(tape); for (...) s += term; ad::Real f = s;` collects the terms' pairs
// and records them as a few statements, instead of one chained statement per term (see Sum).
//
// Constants: a Real built from a number (`ad::Real c = 2.0;`) belongs to no tape; ops with it
// record only the tape operands. A leaf used several times in one statement (`x * x`) is
// recorded once, with the partials summed (2x).
//
// Conventions at kinks and edges (a derivative is chosen where the function has none):
//   abs'(0) = 0, relu'(0) = 0 (relu(x) = max(x, 0));
//   min(a, b), max(a, b): at a tie (a == b) each argument gets half the gradient;
//   hypot(0, 0): both partials 0; pow(a, b) with a == 0: d/db = 0 (the limit of a^b log a);
//   outside a domain (log(-1), sqrt(-1), asin(2)) the value is NaN, as in <cmath>, and so are
//   the partials; nothing throws. A NaN input to min/max gives a NaN output.
//   A sub-expression whose multiplier is 0 is skipped (as the sweep skips nodes no adjoint
//   reaches), so an infinite partial on a branch not taken does not turn the gradient into NaN.
//
// Safety: clearing a tape bumps its epoch; using a Real recorded before the clear throws
// ad::TapeError naming the op. The check costs one integer compare per statement: when an
// expression is recorded, its epoch must be the tape's; when two operands meet, their epochs must
// agree (so a stale Real next to a fresh one throws at once, and an expression of stale Reals
// only when it is recorded: until then it records nothing). Epochs wrap after 2^32 clears.
// Reals of two different tapes can't be mixed (TapeError). A Real must not outlive its tape.
//
// Threads: a tape is not shared between threads; separate tapes on separate threads are
// independent. `ScalarTape::active()` is a per-thread default tape used by `ad::variable`.
#pragma once

#include <ad/scalar/dual.hpp>
#include <ad/scalar/expression.hpp>
#include <ad/scalar/functions.hpp>
#include <ad/scalar/hessian.hpp>
#include <ad/scalar/real.hpp>
#include <ad/scalar/sum.hpp>

#include <array>
#include <span>
#include <vector>

namespace ad {

/// The value of a Real or expression (or of a plain number), for generic code.
template <RealExpr E>
inline double value(const E& a) {
  return a.value();
}
inline double value(double a) { return a; }

// ---------------------------------------------------------------------------------------------
// The front door. Every function taking `const Real&` also takes an expression (it is recorded
// first, as one statement).

/// A new variable on the calling thread's default tape.
inline Real variable(double value) { return ScalarTape::active().variable(value); }
/// Clear the calling thread's default tape (its Reals become stale).
inline void new_recording() { ScalarTape::active().clear(); }

/// Reverse sweep from y on y's tape; then read x.adjoint() for any x recorded before y.
void backward(const Real& y);

/// The variables to differentiate with respect to: `wrt(x, y, z)`.
template <std::size_t N>
struct Wrt {
  std::array<Real, N> vars;
};
template <class... Rs>
Wrt<sizeof...(Rs)> wrt(const Rs&... xs) {
  return Wrt<sizeof...(Rs)>{{Real(xs)...}};
}

/// d f / d x for each x, by one reverse sweep: `auto [dx, dy] = derivatives(f, wrt(x, y));`
template <std::size_t N>
std::array<double, N> derivatives(const Real& f, const Wrt<N>& w) {
  backward(f);
  std::array<double, N> d{};
  for (std::size_t i = 0; i < N; ++i) d[i] = w.vars[i].adjoint();
  return d;
}

/// d f / d x for one x.
double derivative(const Real& f, const Real& x);
/// d f / d xs[i] for each i, by one reverse sweep.
std::vector<double> gradient(const Real& f, std::span<const Real> xs);
/// d f / d v for every variable v of f's tape, in creation order (one sweep).
std::vector<double> gradient(const Real& f);

/// Jacobian J[i][j] = d ys[i] / d xs[j]; one reverse sweep per output. All on one tape.
std::vector<std::vector<double>> jacobian(std::span<const Real> ys, std::span<const Real> xs);

}  // namespace ad
