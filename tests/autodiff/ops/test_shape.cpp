// transpose, reshape, slice, detach (autodiff/src/ops/shape.cpp): a slice starting beyond 2^24
// on a float tape.
#include <ad/ops.hpp>

#include <doctest/doctest.h>

#include <cstddef>

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
