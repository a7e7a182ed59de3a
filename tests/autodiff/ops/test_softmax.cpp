// softmax and log_softmax (autodiff/src/ops/softmax.cpp) through the op checker along every axis
// of a matrix and the middle axis of a 3-d value; references by xtensor, gradients by hand
// (softmax: s (w - sum(w s)); log_softmax: w - s sum(w)). Then stability at logits of +-1000.
#include <ad/ops.hpp>

#include "op_checks.hpp"
#include "support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <xtensor/xmath.hpp>

#include <cmath>
#include <string>

using namespace op_checks;

namespace {

Arr softmax_ref(const Arr& x, std::size_t ax) {
  const Arr e = xt::exp(x);
  const Arr se = xt::sum(e, {ax}, xt::keep_dims);  // (xtensor 0.24 mis-broadcasts a lazy reducer)
  return e / se;
}

std::vector<Row> rows_along(const Shape& s, int axis) {
  const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + static_cast<int>(s.size()) : axis);
  return {
      {.label = fmt::format("softmax {} axis {}", ad::shape_str(s), axis),
       .op = "softmax",
       .f = [=](const auto& x) { return ad::softmax(x[0], axis); },
       .shapes = {s},
       .domain = {-3, 3},
       .value = [=](const Inputs& x) { return softmax_ref(x[0], ax); },
       .vjp =
           [=](const Inputs& x, const Arr& w) {
             const Arr p = softmax_ref(x[0], ax);
             const Arr wp = xt::sum(w * p, {ax}, xt::keep_dims);
             return Inputs{Arr(p * (w - wp))};
           },
       .bad_shapes = {{{}}},
       .tol = {.value = 1e-14, .grad = 1e-10, .how = Rel::entrywise}},
      {.label = fmt::format("log_softmax {} axis {}", ad::shape_str(s), axis),
       .op = "log_softmax",
       .f = [=](const auto& x) { return ad::log_softmax(x[0], axis); },
       .shapes = {s},
       .domain = {-3, 3},
       .value = [=](const Inputs& x) { return Arr(xt::log(softmax_ref(x[0], ax))); },
       .vjp =
           [=](const Inputs& x, const Arr& w) {
             const Arr ws = xt::sum(w, {ax}, xt::keep_dims);
             return Inputs{Arr(w - softmax_ref(x[0], ax) * ws)};
           },
       .bad_shapes = {{{}}},
       .tol = {.value = 1e-14, .grad = 1e-10, .how = Rel::entrywise}},
  };
}

}  // namespace

TEST_CASE("softmax: softmax and log_softmax, every row of the table") {
  std::vector<Row> rows;
  for (int axis : {0, 1, -1})
    for (auto& r : rows_along({3, 4}, axis)) rows.push_back(std::move(r));
  for (auto& r : rows_along({2, 3, 4}, 1)) rows.push_back(std::move(r));
  for (auto& r : rows_along({5}, 0)) rows.push_back(std::move(r));
  check_rows(rows);
}

TEST_CASE("softmax: logits of +-1000, no overflow, in double and float") {
  Tape<double> t;
  auto z = t.variable(Arr{{1000.0, -1000.0, 999.0}, {-1000.0, -1000.0, -1001.0}});
  auto p = ad::softmax(z, 1);
  auto lp = ad::log_softmax(z, 1);
  const double l = std::log1p(std::exp(-1.0));  // log(1 + e^-1)
  CHECK(support::rel_err(p.value()(0, 0), 1 / (1 + std::exp(-1.0))) <= 1e-15);
  CHECK(p.value()(0, 1) == 0.0);
  CHECK(support::rel_err(lp.value()(0, 0), -l) <= 1e-14);
  CHECK(support::rel_err(lp.value()(0, 1), -2000 - l) <= 1e-14);
  CHECK(support::rel_err(lp.value()(1, 0), -std::log(2 + std::exp(-1.0))) <= 1e-14);
  t.backward(-ad::sum(ad::pick(lp, {0, 2})));
  for (double g : z.grad()) CHECK(std::isfinite(g));
  CHECK(support::rel_err(z.grad()(0, 0), 1 / (1 + std::exp(-1.0)) - 1) <= 1e-14);
  Tape<float> tf;
  auto zf = tf.variable(xt::xarray<float>{{1000.f, -1000.f}, {-1000.f, 1000.f}});
  auto lf = ad::log_softmax(zf, 1);
  CHECK(lf.value()(0, 0) == 0.0f);
  CHECK(lf.value()(0, 1) == -2000.0f);
}
