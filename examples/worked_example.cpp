// The course slides' worked example, number for number: a 2-3-1 network with linear activations,
// x = [1, 2], y = 1, L = 1/2 (y_hat - y)^2, one SGD step with eta = 0.1.
//
// Each quantity is printed as the slides give it, as the engine computes it (tape + reverse sweep)
// and as ad::nn computes it (Linear layers, mse loss, SGD optimizer); then the slides' own
// hand-derived gradient formulas are checked with ad::check_backprop.
#include "slides_network.hpp"

#include <ad/backprop_check.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

namespace {

double max_diff(const slides::Array& a, const slides::Array& b) {
  if (a.shape() != b.shape()) return INFINITY;
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a.data()[i] - b.data()[i]));
  return d;
}

std::string show(const slides::Array& a) {
  std::vector<std::string> parts;
  if (a.dimension() == 2) {
    for (std::size_t i = 0; i < a.shape()[0]; ++i) {
      std::vector<double> row;
      for (std::size_t j = 0; j < a.shape()[1]; ++j) row.push_back(a(i, j));
      parts.push_back(fmt::format("[{:.6g}]", fmt::join(row, ", ")));
    }
    return fmt::format("[{}]", fmt::join(parts, ", "));
  }
  for (double v : a) parts.push_back(fmt::format("{:.6g}", v));
  return a.dimension() == 0 ? parts[0] : fmt::format("[{}]", fmt::join(parts, ", "));
}

}  // namespace

int main() {
  namespace ex = slides::expected;
  const slides::Numbers engine = slides::by_engine();
  const slides::Numbers nn = slides::by_nn();

  struct Row {
    const char* name;
    slides::Array slides, engine, nn;
  };
  const std::vector<Row> rows = {
      {"z1", ex::z1, engine.z1, nn.z1},
      {"y_hat", slides::Array(ex::y_hat), slides::Array(engine.y_hat), slides::Array(nn.y_hat)},
      {"L", slides::Array(ex::loss), slides::Array(engine.loss), slides::Array(nn.loss)},
      {"dL/dW2", ex::dW2, engine.dW2, nn.dW2},
      {"dL/db2", slides::Array(ex::db2), slides::Array(engine.db2), slides::Array(nn.db2)},
      {"dL/dW1", ex::dW1, engine.dW1, nn.dW1},
      {"dL/db1", ex::db1, engine.db1, nn.db1},
      {"W1 after", ex::W1_new, engine.W1_new, nn.W1_new},
      {"b1 after", ex::b1_new, engine.b1_new, nn.b1_new},
      {"W2 after", ex::W2_new, engine.W2_new, nn.W2_new},
      {"b2 after", slides::Array(ex::b2_new), slides::Array(engine.b2_new), slides::Array(nn.b2_new)},
  };

  std::cout << "The slides' worked example: x = [1, 2], y = 1, linear activations, L = 1/2 (y_hat - y)^2, eta = 0.1\n"
               "(W1 in the slides' orientation, (3, 2); nn stores its transpose and is shown transposed back)\n\n";
  std::cout << fmt::format("{:<9} {:<50} {:>15} {:>15}\n", "quantity", "slides", "|engine-slides|", "|nn-slides|");
  double worst_engine = 0, worst_nn = 0;
  for (const auto& r : rows) {
    const double de = max_diff(r.engine, r.slides), dn = max_diff(r.nn, r.slides);
    worst_engine = std::max(worst_engine, de);
    worst_nn = std::max(worst_nn, dn);
    std::cout << fmt::format("{:<9} {:<50} {:>15.2e} {:>15.2e}\n", r.name, show(r.slides), de, dn);
  }

  // The slides derive the gradients by hand; check that derivation like any user's backprop.
  const auto check = ad::check_backprop(slides::loss_on_tape, slides::parameters(), slides::by_hand_gradients());
  std::cout << "\nThe slides' hand-derived gradients, checked:\n" << check.report() << "\n";

  const bool engine_ok = worst_engine <= 1e-12, nn_ok = worst_nn <= 1e-12;
  std::cout << fmt::format("engine_matches_slides={} nn_matches_slides={} max_engine_diff={:.2e} max_nn_diff={:.2e} "
                           "slides_gradients_pass={}\n",
                           engine_ok ? 1 : 0, nn_ok ? 1 : 0, worst_engine, worst_nn, check.ok ? 1 : 0);
  return engine_ok && nn_ok && check.ok ? 0 : 1;
}
