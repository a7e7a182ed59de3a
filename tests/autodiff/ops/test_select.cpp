// pick (autodiff/src/ops/select.cpp) through the op checker, every value and adjoint exact; then
// what a row cannot say: labels beyond what a float holds exactly.
#include <ad/ops.hpp>

#include "op_checks.hpp"

#include <doctest/doctest.h>

#include <cstddef>

using namespace op_checks;

namespace {

Row pick_row(const Shape& s, const std::vector<std::size_t>& labels) {
  std::string names;
  for (auto l : labels) names += (names.empty() ? "" : ", ") + std::to_string(l);
  return {.label = "pick " + ad::shape_str(s) + " labels {" + names + "}",
          .op = "pick",
          .f = [=](const auto& x) { return ad::pick(x[0], labels); },
          .shapes = {s},
          .value =
              [=](const Inputs& x) {
                Arr y = xt::zeros<double>({labels.size()});
                for (std::size_t i = 0; i < labels.size(); ++i) y(i) = x[0](i, labels[i]);
                return y;
              },
          .vjp =
              [=](const Inputs& x, const Arr& w) {
                Arr g = xt::zeros<double>(x[0].shape());
                for (std::size_t i = 0; i < labels.size(); ++i) g(i, labels[i]) += w(i);
                return Inputs{g};
              },
          // a vector; a matrix with a row too many; a 3-d value
          .bad_shapes = {{{labels.size()}}, {{labels.size() + 1, s[1]}}, {{labels.size(), s[1], 1}}},
          .tol = exact};
}

}  // namespace

TEST_CASE("select: pick, every row of the table") {
  check_rows({pick_row({3, 4}, {3, 0, 3}), pick_row({1, 1}, {0}), pick_row({4, 2}, {1, 1, 0, 1}),
              pick_row({0, 5}, {})});
}

TEST_CASE("pick: a float tape keeps a label above 2^24 exactly") {
  // float(2^24 + 1) is 2^24: a label kept as a float would pick, and send the adjoint to, the
  // column before the right one.
  const std::size_t big = (std::size_t(1) << 24) + 1, k = big + 2;
  xt::xarray<float> x = xt::zeros<float>({std::size_t(1), k});
  x(0, big - 1) = 1.0f;
  x(0, big) = 2.0f;
  ad::Tape<float> t;
  auto xv = t.parameter(x);  // read in place: one copy of the 64 MB matrix less
  auto y = ad::pick(xv, {big});
  CHECK(y.value()(0) == 2.0f);
  t.backward(ad::sum(y * 3.0f));
  const auto& g = xv.grad();
  CHECK(g(0, big) == 3.0f);
  CHECK(g(0, big - 1) == 0.0f);
  CHECK(xt::sum(g)() == 3.0f);
}
