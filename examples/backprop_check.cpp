// Checking hand-written backprop (the course's NeuralNetMLP) with ad::check_backprop.
//
// The network, its cost and its hand-derived gradients are plain xtensor code in
// neural_net_mlp.hpp, as a student writes them. The checker gets the cost once more, written
// with ad ops, and compares the student's gradients with the engine's exact gradients and with
// central finite differences, parameter tensor by parameter tensor.
//
// First the correct code: every tensor passes. Then the same code with a classic bug each; the
// report names the tensor and the entry that is wrong. Last, a gradient returned transposed:
// that is a shape error, and the message says so.
#include "neural_net_mlp.hpp"

#include <ad/backprop_check.hpp>

#include <fmt/format.h>

#include <iostream>
#include <string>

namespace {

// "W_h[2,0]": a parameter and entry, without spaces, for the key=value line.
std::string where(const ad::ParameterCheck* p) {
  if (!p) return "none";
  return fmt::format("{}[{}]", p->name, fmt::join(p->worst_index, ","));
}

}  // namespace

int main() {
  const course::Problem problem = course::make_problem();
  const auto& net = problem.net;
  const ad::NamedLoss loss = net.loss(problem.X, problem.y_enc);

  // 1. The correct backprop. The cost on the tape must equal the student's cost: same function.
  const double cost = net.compute_cost(problem.y_enc, net.forward(problem.X).a_out);
  const auto good = ad::check_backprop(loss, net.parameters(), net.backprop(problem.X, problem.y_enc).named());
  std::cout << "== correct backprop ==\n" << good.report() << "\n";
  std::cout << fmt::format("your cost {:.15g}, the loss on the tape {:.15g}\n\n", cost, good.loss);
  std::cout << "machine-readable:\n" << good.to_json() << "\n\n";
  const bool loss_matches = std::abs(cost - good.loss) <= 1e-12 * std::abs(cost);

  // 2. Three classic bugs: each must fail, at the tensor the bug corrupts.
  std::string summary;
  int detected_all = 1;
  for (course::Bug bug : {course::Bug::missing_transpose, course::Bug::sigmoid_derivative_twice,
                          course::Bug::bias_regularized}) {
    const auto r = ad::check_backprop(loss, net.parameters(), net.backprop(problem.X, problem.y_enc, bug).named());
    std::cout << "== bug: " << course::bug_name(bug) << " ==\n" << r.report() << "\n";
    detected_all &= r.ok ? 0 : 1;
    summary += fmt::format(" bug_{}_detected={} bug_{}_at={}", course::bug_name(bug), r.ok ? 0 : 1,
                           course::bug_name(bug), where(r.first_failure()));
  }

  // 3. A gradient computed as delta_h^T X instead of X^T delta_h has the transposed shape.
  int shape_error = 0;
  try {
    ad::check_backprop(loss, net.parameters(),
                       net.backprop(problem.X, problem.y_enc, course::Bug::transposed_gradient).named());
  } catch (const ad::ShapeError& e) {
    std::cout << "== bug: transposed_gradient ==\nShapeError: " << e.what() << "\n\n";
    shape_error = 1;
  }

  std::cout << fmt::format("correct_pass={} loss_matches={}{} bug_transposed_gradient_shape_error={} all_detected={}\n",
                           good.ok ? 1 : 0, loss_matches ? 1 : 0, summary, shape_error, detected_all & shape_error);
  return good.ok && detected_all && shape_error ? 0 : 1;
}
