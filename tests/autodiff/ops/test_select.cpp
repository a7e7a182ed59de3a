// pick (autodiff/src/ops/select.cpp): labels beyond what a float holds exactly.
#include <ad/ops.hpp>

#include <doctest/doctest.h>

#include <cstddef>

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
