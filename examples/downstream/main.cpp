// A program of another project, built against the installed package (find_package(ad)) with no
// instruction-set flags of its own: a derivative on each tape, then a network trained on the XOR
// gate (data from the installed share/ad/data) and run forward.
//
// Last line: dfdx_scalar=... dfdx_tensor=... dfdx_formula=... xor_correct=4
#include <ad/ops.hpp>
#include <ad/scalar.hpp>
#include <ad/nn/data.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <cmath>

int main() {
  // f(x) = sqrt(x^2 + exp(x^2)), f'(x) = x (1 + exp(x^2)) / f(x).
  const double x0 = 1.5;
  ad::ScalarTape stape;
  ad::Real xs = stape.variable(x0);
  const double d_scalar = ad::derivative(sqrt(xs * xs + exp(xs * xs)), xs);

  ad::Tape<double> tape;
  auto x = tape.variable(x0);
  auto f = ad::sqrt(x * x + ad::exp(x * x));
  tape.backward(f);
  const double d_tensor = x.grad()();
  const double d_formula = x0 * (1 + std::exp(x0 * x0)) / std::sqrt(x0 * x0 + std::exp(x0 * x0));

  using namespace ad::nn;
  Dataset d = load_gates("xor");
  Sequential<double> net = mlp<double>({2, 4, 1}, "tanh", "sigmoid", /*seed=*/1);
  Adam<double> opt(net.parameters(), {.lr = 0.05});
  fit(net, opt, d.x, d.y, {.epochs = 500, .batch_size = 4, .loss = Loss::bce, .verbose = 0});
  const auto p = predict(net, d.x);
  int correct = 0;
  for (std::size_t i = 0; i < 4; ++i) correct += (p(i, 0) > 0.5) == (d.y(i) > 0.5);

  fmt::print("dfdx_scalar={:.17g} dfdx_tensor={:.17g} dfdx_formula={:.17g} xor_correct={}\n",
             d_scalar, d_tensor, d_formula, correct);
  const bool ok = std::fabs(d_scalar - d_formula) <= 1e-14 * std::fabs(d_formula) &&
                  std::fabs(d_tensor - d_formula) <= 1e-14 * std::fabs(d_formula) && correct == 4;
  return ok ? 0 : 1;
}
