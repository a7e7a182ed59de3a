// transpose, reshape, slice and detach (autodiff/src/ops/shape.cpp) through the op checker, every
// value and adjoint exact (the ops only move entries); then what a row cannot say: overlapping
// slices of one value, the exact messages, and a slice starting beyond 2^24 on a float tape.
#include <ad/ops.hpp>

#include "op_checks.hpp"
#include "support.hpp"

#include <doctest/doctest.h>
#include <xtensor/xmanipulation.hpp>

#include <cstddef>

using namespace op_checks;

namespace {

// x[.., b:e, ..] along `axis` by plain loops over (outer, k, inner), negative b and e counting from
// the end as Python's; with `w` given, the adjoint instead: w in the sliced entries, 0 elsewhere.
Arr slice_ref(const Arr& x, std::size_t axis, std::ptrdiff_t b, std::ptrdiff_t e, const Arr* w = nullptr) {
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < x.dimension(); ++d) {
    if (d < axis) outer *= x.shape()[d];
    if (d > axis) inner *= x.shape()[d];
  }
  const std::size_t n = x.shape()[axis];
  const std::size_t lo = static_cast<std::size_t>(b < 0 ? b + static_cast<std::ptrdiff_t>(n) : b);
  const std::size_t hi = static_cast<std::size_t>(e < 0 ? e + static_cast<std::ptrdiff_t>(n) : e);
  Shape ys(x.shape().begin(), x.shape().end());
  ys[axis] = hi - lo;
  Arr y = xt::zeros<double>(ys), g = xt::zeros<double>(x.shape());
  for (std::size_t o = 0; o < outer; ++o)
    for (std::size_t k = lo; k < hi; ++k)
      for (std::size_t j = 0; j < inner; ++j) {
        const std::size_t at_x = (o * n + k) * inner + j, at_y = (o * (hi - lo) + (k - lo)) * inner + j;
        y.data()[at_y] = x.data()[at_x];
        if (w) g.data()[at_x] = w->data()[at_y];
      }
  return w ? g : y;
}

Row slice_row(const Shape& s, int axis, std::ptrdiff_t b, std::ptrdiff_t e) {
  const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + static_cast<int>(s.size()) : axis);
  return {.label = "slice " + ad::shape_str(s) + " axis " + std::to_string(axis) + " [" + std::to_string(b) + ":" +
                   std::to_string(e) + "]",
          .op = "slice",
          .f = [=](const auto& x) { return ad::slice(x[0], axis, b, e); },
          .shapes = {s},
          .value = [=](const Inputs& x) { return slice_ref(x[0], ax, b, e); },
          .vjp = [=](const Inputs& x, const Arr& w) { return Inputs{slice_ref(x[0], ax, b, e, &w)}; },
          .bad_shapes = {{{}}, {{0, 0, 0, 0}}},  // 0-d: no such axis; too short for [b:e]
          .tol = exact};
}

}  // namespace

TEST_CASE("shape: transpose, reshape, slice and detach, every row of the table") {
  std::vector<Row> rows = {
      {.label = "transpose (3, 5)",
       .op = "transpose",
       .f = [](const auto& x) { return ad::transpose(x[0]); },
       .shapes = {{3, 5}},
       .value =
           [](const Inputs& x) {
             Arr y = xt::zeros<double>({5, 3});
             for (std::size_t i = 0; i < 3; ++i)
               for (std::size_t j = 0; j < 5; ++j) y(j, i) = x[0](i, j);
             return y;
           },
       .vjp = [](const Inputs&, const Arr& w) { return Inputs{Arr(xt::transpose(w))}; },
       .bad_shapes = {{{2, 3, 4}}},
       .tol = exact},
      {.label = "transpose of a vector is the vector",
       .op = "transpose",
       .f = [](const auto& x) { return ad::transpose(x[0]); },
       .shapes = {{4}},
       .value = [](const Inputs& x) { return x[0]; },
       .vjp = [](const Inputs&, const Arr& w) { return Inputs{w}; },
       .tol = exact},
      {.label = "reshape (3, 4) to (2, -1)",
       .op = "reshape",
       .f = [](const auto& x) { return ad::reshape(x[0], {2, -1}); },
       .shapes = {{3, 4}},
       .value =
           [](const Inputs& x) {
             Arr y = xt::zeros<double>({2, 6});
             std::copy(x[0].begin(), x[0].end(), y.begin());  // row-major order kept
             return y;
           },
       .vjp =
           [](const Inputs&, const Arr& w) {
             Arr g = xt::zeros<double>({3, 4});
             std::copy(w.begin(), w.end(), g.begin());
             return Inputs{g};
           },
       .bad_shapes = {{{5}}, {{}}},
       .tol = exact},
      {.label = "reshape (2, 3, 2) to (12,)",
       .op = "reshape",
       .f = [](const auto& x) { return ad::reshape(x[0], {12}); },
       .shapes = {{2, 3, 2}},
       .value = [](const Inputs& x) { return Arr(xt::flatten(x[0])); },
       .vjp = [](const Inputs&, const Arr& w) { return Inputs{Arr(xt::reshape_view(w, {2, 3, 2}))}; },
       .bad_shapes = {{{11}}},
       .tol = exact},
      {.label = "reshape (1,) to a 0-d value",
       .op = "reshape",
       .f = [](const auto& x) { return ad::reshape(x[0], {}); },
       .shapes = {{1}},
       .value = [](const Inputs& x) { return Arr(x[0](0)); },
       .vjp = [](const Inputs&, const Arr& w) { return Inputs{Arr{w()}}; },
       .bad_shapes = {{{2}}},
       .tol = exact},
      slice_row({3, 5}, 0, 1, 3),
      slice_row({3, 5}, -1, 1, -1),
      slice_row({3, 5}, 1, -3, 5),
      slice_row({2, 3, 4}, 1, -2, 3),
      slice_row({2, 3, 4}, 2, 0, 1),
      slice_row({2, 3, 4}, 0, 1, 1),  // empty
      {.label = "detach: the value, and no adjoint",
       .op = "detach",
       .f = [](const auto& x) { return ad::detach(x[0] * 2.0); },
       .shapes = {{3, 2}},
       .value = [](const Inputs& x) { return Arr(x[0] * 2.0); },
       .vjp = [](const Inputs& x, const Arr&) { return Inputs{Arr(xt::zeros<double>(x[0].shape()))}; },
       .tol = exact,
       .fd = false},  // the point of detach: its adjoint is not the derivative of its value
  };
  check_rows(rows);
}

TEST_CASE("shape: two overlapping slices of one value both send their adjoints; exact messages") {
  Tape<double> t;
  auto x = t.variable(Arr{1.0, 2.0, 3.0, 4.0});
  auto y = ad::sum(ad::slice(x, 0, 0, 3) * ad::slice(x, 0, 1, 4));  // x0 x1 + x1 x2 + x2 x3
  t.backward(y);
  CHECK(x.grad() == Arr{2.0, 1.0 + 3.0, 2.0 + 4.0, 3.0});
  CHECK(ad::slice(x, 0, 2, 2).shape() == std::vector<std::size_t>{0});  // empty is fine
  CHECK(support::message_of<ad::ShapeError>([&] { ad::slice(x, 0, 1, 5); }) ==
        "slice: [1:5] is out of range for axis 0 of shape (4,) (length 4)");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::slice(x, 0, 3, 1); }) ==
        "slice: [3:1] is out of range for axis 0 of shape (4,) (length 4)");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::slice(x, 1, 0, 1); }) ==
        "slice: axis 1 is out of range for shape (4,)");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::transpose(ad::reshape(x, {1, 2, 2})); }) ==
        "transpose: expects a matrix (or a vector), got shape (1, 2, 2); use reshape for other layouts");
  CHECK(support::message_of<ad::ShapeError>([&] { ad::reshape(x, {-1, -1}); }) ==
        "reshape: invalid target shape (-1, -1) for (4,): only one entry may be -1");
}

TEST_CASE("slice: a start above 2^24 on a float tape takes and returns the right entries") {
  const std::size_t big = (std::size_t(1) << 24) + 1, n = big + 3;
  xt::xarray<float> x = xt::zeros<float>({std::size_t(1), n});
  x(0, big - 1) = 1.0f;
  x(0, big) = 2.0f;
  x(0, big + 1) = 3.0f;
  ad::Tape<float> t;
  auto xv = t.parameter(x);
  auto y = ad::slice(xv, 1, static_cast<std::ptrdiff_t>(big), static_cast<std::ptrdiff_t>(big + 2));
  CHECK(y.value() == xt::xarray<float>{{2.0f, 3.0f}});
  t.backward(ad::sum(y * t.constant(xt::xarray<float>{{5.0f, 7.0f}})));
  const auto& g = xv.grad();
  CHECK(g(0, big - 1) == 0.0f);
  CHECK(g(0, big) == 5.0f);
  CHECK(g(0, big + 1) == 7.0f);
  CHECK(g(0, big + 2) == 0.0f);
  CHECK(xt::sum(g)() == 12.0f);
}
