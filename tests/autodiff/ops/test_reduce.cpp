// sum, mean and max (autodiff/src/ops/reduce.cpp) through the op checker: of everything, along
// every axis of a 3-d value (negative too), with and without keepdims; max's ties and NaN; the
// references by plain loops. Then the 16-lane sum of everything, exact on integers.
#include <ad/ops.hpp>

#include "op_checks.hpp"
#include "support.hpp"

#include <doctest/doctest.h>
#include <xtensor/xbuilder.hpp>

#include <cmath>
#include <limits>
#include <string>

using namespace op_checks;

namespace {

// x seen along `axis` as (outer, n, inner); the result shape with that axis removed or kept as 1.
struct Along {
  std::size_t outer = 1, n = 1, inner = 1;
  Shape out;
  Along(const Shape& s, std::size_t axis, bool keep) {
    for (std::size_t d = 0; d < s.size(); ++d) {
      if (d < axis) outer *= s[d];
      if (d > axis) inner *= s[d];
      if (d != axis) out.push_back(s[d]);
      else if (keep) out.push_back(1);
    }
    n = s[axis];
  }
  std::size_t at(std::size_t o, std::size_t k, std::size_t j) const { return (o * n + k) * inner + j; }
};

Shape shape_of(const Arr& a) { return Shape(a.shape().begin(), a.shape().end()); }

// The sum (or the mean) along an axis, adding k = 0 .. n-1 in order.
Arr sum_ref(const Arr& x, std::size_t axis, bool keep, bool mean) {
  const Along v(shape_of(x), axis, keep);
  Arr y = xt::zeros<double>(v.out);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < v.n; ++k) s += x.data()[v.at(o, k, j)];
      y.data()[o * v.inner + j] = mean ? s / static_cast<double>(v.n) : s;
    }
  return y;
}
// Its adjoint: w[o, j] (over n for the mean) at every x[o, k, j].
Arr sum_vjp(const Arr& x, std::size_t axis, bool mean, const Arr& w) {
  const Along v(shape_of(x), axis, false);
  Arr g = xt::zeros<double>(x.shape());
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t k = 0; k < v.n; ++k)
      for (std::size_t j = 0; j < v.inner; ++j) {
        const double wj = w.data()[o * v.inner + j];
        g.data()[v.at(o, k, j)] = mean ? wj / static_cast<double>(v.n) : wj;
      }
  return g;
}

// The first k with the largest x[o, k, j], or the first NaN (whose max is NaN).
std::size_t argmax(const Arr& x, const Along& v, std::size_t o, std::size_t j) {
  std::size_t best = 0;
  for (std::size_t k = 0; k < v.n; ++k) {
    const double c = x.data()[v.at(o, k, j)];
    if (std::isnan(c)) return k;
    if (c > x.data()[v.at(o, best, j)]) best = k;
  }
  return best;
}
Arr max_ref(const Arr& x, std::size_t axis, bool keep) {
  const Along v(shape_of(x), axis, keep);
  Arr y = xt::zeros<double>(v.out);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) y.data()[o * v.inner + j] = x.data()[v.at(o, argmax(x, v, o, j), j)];
  return y;
}
Arr max_vjp(const Arr& x, std::size_t axis, const Arr& w) {
  const Along v(shape_of(x), axis, false);
  Arr g = xt::zeros<double>(x.shape());
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t j = 0; j < v.inner; ++j) g.data()[v.at(o, argmax(x, v, o, j), j)] = w.data()[o * v.inner + j];
  return g;
}

std::vector<Row> axis_rows(int axis, bool keep) {
  const Shape s = {2, 3, 4};
  const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + 3 : axis);
  const std::string where = " axis " + std::to_string(axis) + (keep ? " keepdims" : "");
  Shape empty_axis = s;
  empty_axis[ax] = 0;
  std::vector<Row> rows;
  for (bool mean : {false, true}) {
    const char* op = mean ? "mean" : "sum";
    rows.push_back({.label = op + where,
                    .op = op,
                    .f = [=](const auto& x) { return mean ? ad::mean(x[0], axis, keep) : ad::sum(x[0], axis, keep); },
                    .shapes = {s},
                    .domain = {-2, 2},
                    .value = [=](const Inputs& x) { return sum_ref(x[0], ax, keep, mean); },
                    .vjp = [=](const Inputs& x, const Arr& w) { return Inputs{sum_vjp(x[0], ax, mean, w)}; },
                    .bad_shapes = {{{}}}});
  }
  rows.push_back({.label = "max" + where,
                  .op = "max",
                  .f = [=](const auto& x) { return ad::max(x[0], axis, keep); },
                  .shapes = {s},
                  .domain = {-2, 2},
                  .value = [=](const Inputs& x) { return max_ref(x[0], ax, keep); },
                  .vjp = [=](const Inputs& x, const Arr& w) { return Inputs{max_vjp(x[0], ax, w)}; },
                  .bad_shapes = {{{}}, {empty_axis}},
                  .tol = exact});
  return rows;
}

Row all_row(const Shape& s, bool mean) {
  const char* op = mean ? "mean" : "sum";
  return {.label = std::string(op) + " of every entry of " + ad::shape_str(s),
          .op = op,
          .f = [=](const auto& x) { return mean ? ad::mean(x[0]) : ad::sum(x[0]); },
          .shapes = {s},
          .domain = {-2, 2},
          .value =
              [=](const Inputs& x) {
                double total = 0;
                for (double v : x[0]) total += v;
                return Arr(mean ? total / static_cast<double>(x[0].size()) : total);
              },
          .vjp =
              [=](const Inputs& x, const Arr& w) {
                Arr g = xt::zeros<double>(x[0].shape());
                std::fill(g.begin(), g.end(), mean ? w() / static_cast<double>(x[0].size()) : w());
                return Inputs{g};
              },
          .bad_shapes = mean ? std::vector<std::vector<Shape>>{{{0}}, {{3, 0}}} : std::vector<std::vector<Shape>>{},
          .tol = {.value = 1e-14}};  // summed in 16 interleaved partial sums, not in order
}

}  // namespace

TEST_CASE("reduce: sum, mean and max, every row of the table") {
  std::vector<Row> rows;
  for (int axis : {0, 1, 2, -1, -3})
    for (bool keep : {false, true})
      for (auto& r : axis_rows(axis, keep)) rows.push_back(std::move(r));
  for (bool mean : {false, true})
    for (const Shape& s : {Shape{2, 3, 4}, Shape{}, Shape{37}}) rows.push_back(all_row(s, mean));
  rows.push_back(all_row({0}, false));  // the empty sum is 0
  const double nan = std::numeric_limits<double>::quiet_NaN();
  rows.push_back({.label = "max: the adjoint goes to the first of tied maxima",
                  .op = "max",
                  .f = [](const auto& x) { return ad::max(x[0], 1); },
                  .domain = {.given = {Arr{{1.0, 3.0, 3.0}, {2.0, 2.0, 0.0}, {-1.0, -1.0, -1.0}}}},
                  .value = [](const Inputs&) { return Arr{3.0, 2.0, -1.0}; },
                  .vjp =
                      [](const Inputs&, const Arr& w) {
                        return Inputs{Arr{{0.0, w(0), 0.0}, {w(1), 0.0, 0.0}, {w(2), 0.0, 0.0}}};
                      },
                  .tol = exact,
                  .fd = false});  // no derivative at a tie
  rows.push_back({.label = "max: NaN is the maximum (PyTorch), the adjoint goes to the first NaN",
                  .op = "max",
                  .f = [](const auto& x) { return ad::max(x[0], 0); },
                  .domain = {.given = {Arr{{1.0, 5.0}, {nan, 2.0}, {3.0, nan}, {nan, 9.0}}}},
                  .value = [=](const Inputs&) { return Arr{nan, nan}; },
                  .vjp =
                      [](const Inputs&, const Arr& w) {
                        return Inputs{Arr{{0.0, 0.0}, {w(0), 0.0}, {0.0, w(1)}, {0.0, 0.0}}};
                      },
                  .tol = exact,
                  .fd = false});
  check_rows(rows);
}

TEST_CASE("reduce: the sum of everything at lengths around its 16 lanes is exact on integers") {
  // sum() adds in 16 interleaved partial sums; every length from 0 to 40 and a long odd one
  // exercises the full blocks, the tail and the pairwise combination.
  for (std::size_t n : {0, 1, 15, 16, 17, 31, 32, 33, 40, 100'003}) {
    Tape<double> t;
    Arr v = xt::arange<double>(static_cast<double>(n)) * 3.0 - 7.0;  // -7, -4, -1, ...
    const double n_ = static_cast<double>(n);
    const double expected = 3.0 * n_ * (n_ - 1) / 2 - 7.0 * n_;
    CHECK(ad::sum(t.variable(v)).item() == expected);
    Tape<float> tf;
    if (n <= 40) CHECK(ad::sum(tf.variable(xt::xarray<float>(v))).item() == static_cast<float>(expected));
  }
}

TEST_CASE("reduce: the exact messages") {
  Tape<double> t;
  auto a = t.variable(Arr(xt::zeros<double>({3, 4})));
  CHECK(support::message_of<ad::ShapeError>([&] { ad::sum(a, 2); }) == "sum: axis 2 is out of range for shape (3, 4)");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::max(ad::slice(a, 0, 0, 0), 0); }) ==
        "max: axis 0 of shape (0, 4) is empty");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::mean(ad::slice(a, 1, 1, 1)); }) ==
        "mean: the input is empty (shape (3, 0))");
}
