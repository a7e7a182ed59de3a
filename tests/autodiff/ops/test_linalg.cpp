// matmul and linear (autodiff/src/ops/linalg.cpp) through the op checker: every combination of
// 1-d and 2-d operands, empty inner and outer dimensions, the fused bias of linear; references
// from xtensor-blas, gradients by hand (dA = W B^T, dB = A^T W).
#include <ad/ops.hpp>

#include "op_checks.hpp"
#include "support.hpp"

#include <doctest/doctest.h>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>

using namespace op_checks;

namespace {

// A 1-d operand as a matrix: a row on the left, a column on the right (as matmul reads it).
Arr as_matrix(const Arr& a, bool left) {
  Arr m = a;
  if (a.dimension() == 1) m.reshape(left ? Shape{1, a.size()} : Shape{a.size(), 1});
  return m;
}

Row matmul_row(const Shape& sa, const Shape& sb) {
  return {.label = "matmul " + ad::shape_str(sa) + " @ " + ad::shape_str(sb),
          .op = "matmul",
          .f = [](const auto& x) { return ad::matmul(x[0], x[1]); },
          .shapes = {sa, sb},
          .value =
              [](const Inputs& x) {
                const Arr a = as_matrix(x[0], true), b = as_matrix(x[1], false);
                Arr c = xt::zeros<double>({a.shape()[0], b.shape()[1]});
                if (a.shape()[1] > 0 && c.size() > 0) c = xt::linalg::dot(a, b);
                Shape s;  // the 1-d operands' dimensions dropped, as NumPy
                if (x[0].dimension() == 2) s.push_back(a.shape()[0]);
                if (x[1].dimension() == 2) s.push_back(b.shape()[1]);
                c.reshape(s);
                return c;
              },
          .vjp =
              [](const Inputs& x, const Arr& w) {
                const Arr a = as_matrix(x[0], true), b = as_matrix(x[1], false);
                Arr w2 = w;
                w2.reshape({a.shape()[0], b.shape()[1]});
                Arr ga = xt::zeros<double>(a.shape()), gb = xt::zeros<double>(b.shape());
                if (w2.size() > 0 && a.size() > 0) ga = xt::linalg::dot(w2, xt::transpose(b));
                if (w2.size() > 0 && b.size() > 0) gb = xt::linalg::dot(xt::transpose(a), w2);
                ga.reshape(x[0].shape());
                gb.reshape(x[1].shape());
                return Inputs{ga, gb};
              },
          .bad_shapes = {{{3, 4}, {5, 2}}, {{4}, {5}}, {{2, 3, 4}, {4, 2}}, {{}, {3}}},
          .tol = {.value = 1e-14, .grad = 1e-14, .how = Rel::normwise}};
}

}  // namespace

TEST_CASE("linalg: matmul and linear, every row of the table") {
  std::vector<Row> rows = {
      matmul_row({3, 4}, {4, 5}), matmul_row({4}, {4, 5}), matmul_row({3, 4}, {4}), matmul_row({4}, {4}),
      matmul_row({1, 1}, {1, 7}), matmul_row({3, 0}, {0, 2}), matmul_row({0, 4}, {4, 3}),
  };
  rows.push_back(
      {.label = "linear (4, 3) @ (3, 5) + (5,)",
       .op = "linear",
       .f = [](const auto& x) { return ad::linear(x[0], x[1], x[2]); },
       .shapes = {{4, 3}, {3, 5}, {5}},
       .value = [](const Inputs& x) { return Arr(xt::linalg::dot(x[0], x[1]) + x[2]); },
       // dX = G W^T, dW = X^T G, db = column sums of G (b is broadcast over the rows)
       .vjp =
           [](const Inputs& x, const Arr& g) {
             return Inputs{xt::linalg::dot(g, xt::transpose(x[1])), xt::linalg::dot(xt::transpose(x[0]), g),
                           Arr(xt::sum(g, {0}))};
           },
       .bad_shapes = {{{4, 3}, {3, 5}, {2}}, {{4, 3}, {2, 5}, {5}}, {{3}, {3, 5}, {5}}, {{4, 3}, {3, 5}, {1, 5}}},
       .tol = {.value = 1e-14, .grad = 1e-14, .how = Rel::normwise}});
  check_rows(rows);
}

TEST_CASE("linalg: grad() reaches linear's bias alone through the fused node; the exact messages") {
  const Arr x = random_array({4, 3}, -1, 1, 11), wt = random_array({3, 5}, -1, 1, 12);
  const Arr b = random_array({5}, -1, 1, 13), w = random_array({4, 5}, -1, 1, 14);
  Tape<double> t;
  auto xv = t.constant(x), wv = t.constant(wt), bv = t.variable(b);
  auto gb = t.grad(ad::sum(ad::linear(xv, wv, bv) * t.constant(w)), {bv});
  CHECK(rel_err(gb[0], Arr(xt::sum(w, {0}))) < 1e-14);
  CHECK(support::message_of<ad::ShapeError>([&] { ad::linear(xv, wv, t.constant(Arr{1.0, 2.0})); }) ==
        "linear: expects X (n, in) @ W (in, out) + b (out,), got (4, 3) @ (3, 5) + (2,)");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::matmul(xv, xv); }) ==
        "matmul: inner dimensions differ: (4, 3) @ (4, 3)");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::matmul(xv, t.constant(Arr(xt::zeros<double>({3, 2, 2})))); }) ==
        "matmul: operands must be 1-d or 2-d, got (4, 3) @ (3, 2, 2)");
}
