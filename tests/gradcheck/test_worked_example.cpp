// The course slides' worked example (2-3-1 network, linear activations, L = 1/2 (y_hat - y)^2,
// one SGD step, eta = 0.1), number for number, by the engine and by ad::nn; and the slides'
// hand-derived gradients through check_backprop.
#include "../../examples/slides_network.hpp"

#include <ad/backprop_check.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using Arr = xt::xarray<double>;

namespace {

void check_close(const Arr& got, const Arr& want, const char* what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(std::abs(got.data()[i] - want.data()[i]) <= 1e-12);
}

void check_slides(const slides::Numbers& n) {
  namespace ex = slides::expected;
  check_close(n.z1, Arr{1.0, 2.0, 1.5}, "z1");
  CHECK(std::abs(n.y_hat - 1.4) <= 1e-12);
  CHECK(std::abs(n.loss - 0.08) <= 1e-12);
  check_close(n.dW2, Arr{0.4, 0.8, 0.6}, "dL/dW2");
  CHECK(std::abs(n.db2 - 0.4) <= 1e-12);
  check_close(n.dW1, Arr{{0.16, 0.32}, {0.12, 0.24}, {0.08, 0.16}}, "dL/dW1");
  check_close(n.db1, Arr{0.16, 0.12, 0.08}, "dL/db1");
  check_close(n.W1_new, Arr{{0.484, 0.168}, {0.288, 0.776}, {0.592, 0.384}}, "W1 after one step");
  check_close(n.b1_new, Arr{0.084, 0.088, 0.092}, "b1 after one step");
  check_close(n.W2_new, Arr{0.36, 0.22, 0.14}, "W2 after one step");
  CHECK(std::abs(n.b2_new - 0.06) <= 1e-12);
  // The constants the example prints are the slides' numbers too.
  check_close(n.W1_new, ex::W1_new, "expected::W1_new");
  check_close(n.dW1, ex::dW1, "expected::dW1");
}

}  // namespace

TEST_CASE("worked example: the engine reproduces the slides") { check_slides(slides::by_engine()); }

TEST_CASE("worked example: ad::nn (Linear, mse, SGD lr 0.1) reproduces the slides") { check_slides(slides::by_nn()); }

TEST_CASE("worked example: the slides' hand-derived gradients pass check_backprop") {
  const auto r = ad::check_backprop(slides::loss_on_tape, slides::parameters(), slides::by_hand_gradients());
  INFO(r.report());
  CHECK(r.ok);
  CHECK(std::abs(r.loss - 0.08) <= 1e-12);
  REQUIRE(r.parameters.size() == 4);
  CHECK(r.find("b2")->shape == ad::Shape{});
  for (const auto& p : r.parameters) CHECK(p.vs_engine.max_abs_error <= 1e-15);
}

TEST_CASE("worked example: dropping W2^T from dL/dW1 is caught at W1") {
  auto g = slides::by_hand_gradients();
  // The slip: dL/dW1 = (a2 - y) x^T repeated per row, forgetting the W2^T factor.
  ad::NamedTensors wrong;
  for (const auto& t : g)
    wrong.add(t.name, t.name == "W1" ? Arr{{0.4, 0.8}, {0.4, 0.8}, {0.4, 0.8}} : t.value);
  const auto r = ad::check_backprop(slides::loss_on_tape, slides::parameters(), wrong);
  INFO(r.report());
  CHECK_FALSE(r.ok);
  REQUIRE(r.first_failure() != nullptr);
  CHECK(r.first_failure()->name == "W1");
  CHECK(r.find("b1")->ok);
  CHECK(r.find("W2")->ok);
  CHECK(r.find("b2")->ok);
  // Relative to the tolerance the worst entry is (2, 1): yours 0.8 where the slides have 0.16
  // (|0.8 - 0.16| / (1e-8 + 1e-6 * 0.16) beats (2, 0)'s |0.4 - 0.08| / (1e-8 + 1e-6 * 0.08)).
  CHECK(r.first_failure()->worst_index == ad::Shape{2, 1});
  CHECK(r.first_failure()->yours == 0.8);
  CHECK(std::abs(r.first_failure()->engine - 0.16) <= 1e-12);
  CHECK(r.report().find("FAIL W1 at (2, 1): yours 0.8, engine 0.16, finite differences 0.16") != std::string::npos);
}
