// `f += term` and `f -= term` on the scalar tape (issue 16): when f is the tape's last statement
// the term is recorded as a *linked* statement (its pairs only; the pair (f, 1) is implicit and
// passed down by the sweep in a register). Every test compares against the path that stores the
// pair, `f = f + term` (what `+=` recorded before), bit for bit, and against hand derivations:
// copies of f, f read in between, aliasing (terms that read f), expressions holding f, backward
// from the middle of a chain, cleared tapes, buffer growth, teaching mode, ad::Sum.
#include <ad/scalar.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

using ad::Real;

// Rosenbrock-like terms with both signs, written `+=` / `-=` (linked) or `f = f + ...` (the
// stored pair). Returns f.
template <bool Linked>
Real chain(const std::vector<Real>& x) {
  Real f = 0.0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    if constexpr (Linked) {
      f += 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
      if (i % 3 == 0) f -= sin(x[i]) * x[i + 1];
      if (i % 5 == 0) f += x[i];
    } else {
      f = f + (100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2));
      if (i % 3 == 0) f = f - sin(x[i]) * x[i + 1];
      if (i % 5 == 0) f = f + x[i];
    }
  }
  return f;
}

std::vector<Real> make_vars(ad::ScalarTape& tape, std::size_t n) {
  std::vector<Real> x;
  for (std::size_t i = 0; i < n; ++i)
    x.push_back(tape.variable((i % 2 == 0 ? -1.2 : 1.0) + 1e-3 * static_cast<double>(i % 7)));
  return x;
}

}  // namespace

TEST_CASE("f += term: linked statements give the stored pair's value and gradient, bit for bit") {
  for (std::size_t n : {2u, 3u, 50u, 3000u}) {  // 3000: the buffers grow in the middle of the loop
    CAPTURE(n);
    ad::ScalarTape a, b;
    const auto xa = make_vars(a, n), xb = make_vars(b, n);
    const Real fa = chain<true>(xa), fb = chain<false>(xb);
    CHECK(fa.value() == fb.value());
    CHECK(a.size() == b.size());  // still one node per +=
    CHECK(a.elementary_ops() == b.elementary_ops());
    // one pair fewer per `+=` after the first
    const std::size_t terms = (n - 1) + (n - 2) / 3 + 1 + (n - 2) / 5 + 1;
    CHECK(a.input_count() + (terms - 1) == b.input_count());
    const auto ga = ad::gradient(fa), gb = ad::gradient(fb);
    REQUIRE(ga.size() == gb.size());
    for (std::size_t i = 0; i < n; ++i) {
      CAPTURE(i);
      CHECK(ga[i] == gb[i]);
      // by hand
      const double xi = xa[i].value();
      double want = 0;
      if (i + 1 < n) {
        const double x1 = xa[i + 1].value();
        want += -400 * xi * (x1 - xi * xi) - 2 * (1 - xi);
        if (i % 3 == 0) want -= std::cos(xi) * x1;
        if (i % 5 == 0) want += 1;
      }
      if (i > 0) {
        const double x0 = xa[i - 1].value();
        want += 200 * (xi - x0 * x0);
        if ((i - 1) % 3 == 0) want -= std::sin(x0);
      }
      CHECK(std::fabs(ga[i] - want) <= 1e-12 * std::max(1.0, std::fabs(want)));
    }
  }
}

TEST_CASE("f += term: copies of f, f read in between, expressions holding f keep their meaning") {
  ad::ScalarTape tape;
  const Real x = tape.variable(0.7), y = tape.variable(-1.3);
  Real f = x * y;        // f0 = xy
  Real f0 = f;           // a copy of the node f += will link to
  auto e0 = f * 3.0;     // an expression holding f0
  f += sin(x);           // f1 = xy + sin x  (linked)
  Real f1 = f;
  f -= y * y;            // f2 = f1 - y^2  (linked)
  f0 += x;               // g = xy + x: f0 is not the last statement: the stored pair
  const Real g = f0;
  f += exp(y);           // f3 = f2 + e^y: f2 is no longer the last node (g is): the stored pair
  const Real h = e0;     // 3 xy
  const double xv = 0.7, yv = -1.3;
  CHECK(f1.value() == xv * yv + std::sin(xv));
  CHECK(g.value() == xv * yv + xv);
  CHECK(f.value() == ((xv * yv + std::sin(xv)) - yv * yv) + std::exp(yv));
  CHECK(h.value() == xv * yv * 3.0);
  auto [dx, dy] = ad::derivatives(f, ad::wrt(x, y));
  CHECK(dx == doctest::Approx(yv + std::cos(xv)).epsilon(1e-15));
  CHECK(dy == doctest::Approx(xv - 2 * yv + std::exp(yv)).epsilon(1e-15));
  // backward from copies: each is the function it was when copied
  auto [gx, gy] = ad::derivatives(g, ad::wrt(x, y));
  CHECK(gx == doctest::Approx(yv + 1).epsilon(1e-15));
  CHECK(gy == doctest::Approx(xv).epsilon(1e-15));
  auto [f1x, f1y] = ad::derivatives(f1, ad::wrt(x, y));  // the middle of a linked chain
  CHECK(f1x == doctest::Approx(yv + std::cos(xv)).epsilon(1e-15));
  CHECK(f1y == doctest::Approx(xv).epsilon(1e-15));
  auto [hx, hy] = ad::derivatives(h, ad::wrt(x, y));
  CHECK(hx == doctest::Approx(3 * yv).epsilon(1e-15));
  CHECK(hy == doctest::Approx(3 * xv).epsilon(1e-15));
  // intermediate adjoints after one sweep from an output using several stages of the chain
  const Real out = f * f1 + f0 * 2.0;  // f0 is g now
  ad::backward(out);
  CHECK(f.adjoint() == doctest::Approx(f1.value()).epsilon(1e-15));
  CHECK(f1.adjoint() == doctest::Approx(f.value() + f1.value()).epsilon(1e-15));  // d out/d f1
  CHECK(f0.adjoint() == 2.0);
}

TEST_CASE("f += term: intermediate adjoints of a linked chain equal the stored pair's") {
  ad::ScalarTape a, b;
  const Real xa = a.variable(0.3), xb = b.variable(0.3);
  std::vector<Real> sa, sb;
  Real fa = xa * xa, fb = xb * xb;
  for (int k = 0; k < 6; ++k) {
    sa.push_back(fa);
    sb.push_back(fb);
    fa += cos(xa * (k + 1));
    fb = fb + cos(xb * (k + 1));
  }
  // an output reading several stages (copies made before the chain went on)
  const Real oa = fa * sa[2] + exp(sa[4]), ob = fb * sb[2] + exp(sb[4]);
  CHECK(oa.value() == ob.value());
  ad::backward(oa);
  ad::backward(ob);
  CHECK(xa.adjoint() == xb.adjoint());
  for (std::size_t k = 0; k < sa.size(); ++k) {
    CAPTURE(k);
    CHECK(sa[k].adjoint() == sb[k].adjoint());
  }
  CHECK(fa.adjoint() == fb.adjoint());
  // from the middle of the chain: the statements after it do not count
  ad::backward(sa[3]);
  ad::backward(sb[3]);
  CHECK(xa.adjoint() == xb.adjoint());
  CHECK(sa[1].adjoint() == 1.0);
  CHECK(fa.adjoint() == 0.0);
}

TEST_CASE("f += term where the term reads f (aliasing): the stored pair, same results") {
  ad::ScalarTape a, b;
  const Real xa = a.variable(1.1), xb = b.variable(1.1);
  Real fa = sin(xa), fb = sin(xb);
  fa += fa * xa;     // f's own node in the term: not linked
  fb = fb + fb * xb;
  fa += xa * fa;
  fb = fb + xb * fb;
  fa -= fa;          // 0, through the stored pair
  fb = fb - fb;
  fa += exp(xa);     // linked again
  fb = fb + exp(xb);
  fa += fa;
  fb = fb + fb;
  CHECK(fa.value() == fb.value());
  CHECK(a.input_count() + 1 == b.input_count());  // only exp(x) was linked
  CHECK(ad::derivative(fa, xa) == ad::derivative(fb, xb));
  CHECK(ad::derivative(fa, xa) == doctest::Approx(2 * std::exp(1.1)).epsilon(1e-15));
  // a Real and a plain number
  Real u = a.variable(2.0);
  Real s = u * u;
  s += u;  // a Real term: linked
  s -= 1.5;
  s += Real(4.0);  // a constant Real: no pair, the usual path
  CHECK(s.value() == 4.0 + 2.0 - 1.5 + 4.0);
  CHECK(ad::derivative(s, u) == 5.0);
}

TEST_CASE("f += term with no pair (every multiplier 0), constants, and other tapes") {
  ad::ScalarTape a, b;
  const Real x = a.variable(0.5);
  Real f = x * x;
  f += 0.0 * sin(x);  // no pair: the stored pair (f, 1)
  f += 2.0 * x;
  CHECK(f.value() == 0.25 + 1.0);
  CHECK(ad::derivative(f, x) == 3.0);
  Real c = 1.0;
  c += Real(2.0) * 3.0;  // constants only: stays a constant
  CHECK(c.is_constant());
  CHECK(c.value() == 7.0);
  c += x;  // a constant f: the usual path, then f is a node of a's
  CHECK(c.tape() == &a);
  c += x * x;
  CHECK(ad::derivative(c, x) == 2.0);
  const Real z = b.variable(1.0);
  CHECK_THROWS_AS(f += z * z, ad::TapeError);
  CHECK_THROWS_AS(f -= z, ad::TapeError);
  CHECK(f.value() == 1.25);  // unchanged
}

TEST_CASE("f += term after clear(): a stale f throws even where its id is the last statement") {
  ad::ScalarTape tape;
  Real x = tape.variable(1.0);
  Real f = x * 2.0;  // node 1, the last statement
  tape.clear();
  Real x2 = tape.variable(3.0);
  Real g = x2 * x2;  // node 1 again, the last statement
  CHECK(f.id() == g.id());
  CHECK_THROWS_AS(f += x2, ad::TapeError);
  CHECK_THROWS_AS(f += x2 * 2.0, ad::TapeError);
  g += x2;
  CHECK(ad::derivative(g, x2) == 7.0);
  // A variable where the last recording had its last statement: not a statement to link to.
  tape.clear();
  Real w = tape.variable(1.0);
  Real last = w * 2.0;  // node 1, the last statement
  tape.clear();
  Real a = tape.variable(2.0);
  Real b = tape.variable(5.0);  // node 1 again, a variable
  const Real b0 = b;
  CHECK(b.id() == last.id());
  b += a * a;
  CHECK(b.value() == 9.0);
  CHECK(tape.input_count() == 2);  // the stored pair (b0, 1) and (a, 2a)
  auto [da, db] = ad::derivatives(b, ad::wrt(a, b0));
  CHECK(da == 4.0);
  CHECK(db == 1.0);
  Real c = tape.variable(1.0);
  Real s = c * 3.0;  // a statement
  Real v = tape.variable(4.0);  // then a variable: s is no longer the last node
  s += v * c;
  CHECK(ad::derivative(s, c) == 3.0 + 4.0);
  CHECK(ad::derivative(s, v) == 1.0);
}

TEST_CASE("f += term: ad::Sum's statement, teaching mode, printouts") {
  ad::ScalarTape tape;
  std::vector<Real> x;
  for (int i = 0; i < 300; ++i) x.push_back(tape.variable(0.01 * i));
  ad::Sum s(tape);
  for (const auto& xi : x) s += xi * xi;  // 300 pairs: two statements
  Real f = s;
  f += sin(x[5]);  // linked to the sum's last statement
  f -= x[7];
  const auto g = ad::gradient(f);
  for (int i = 0; i < 300; ++i) {
    double want = 2 * 0.01 * i;
    if (i == 5) want += std::cos(0.05);
    if (i == 7) want -= 1;
    CHECK(g[static_cast<std::size_t>(i)] == doctest::Approx(want).epsilon(1e-15));
  }
  // The printout shows the implicit input.
  ad::ScalarTape p;
  Real u = p.variable(1.0, "u");
  Real h = u * u;
  h += exp(u);
  const std::string out = p.print();
  CHECK(out.find("#1 (1), #0 (") != std::string::npos);
  CHECK(p.dot().find("n1 -> n2 [label=\"1\"]") != std::string::npos);
  // Teaching mode: one node per op, as before.
  ad::ScalarTape t;
  t.keep_values(true);
  Real v = t.variable(2.0);
  Real k = v * v;
  k += v * 3.0;
  CHECK(t.size() == 4);  // v, v*v, v*3, add
  CHECK(ad::derivative(k, v) == 7.0);
}
