// Logic gates XOR, AND and OR: a 2-4-1 network (tanh hidden, sigmoid output) learns each truth
// table from its four rows with binary cross-entropy and Adam. XOR is the classic case a single
// neuron cannot learn; one hidden layer can.
//
// Last line: xor_correct=4 and_correct=4 or_correct=4 ... (rows right out of 4).
#include <ad/nn/data.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <chrono>

using namespace ad::nn;

int main() {
  const auto t0 = std::chrono::steady_clock::now();
  std::string last;
  for (const char* gate : {"xor", "and", "or"}) {
    Dataset d = load_gates(gate);
    Sequential<double> net = mlp<double>({2, 4, 1}, "tanh", "sigmoid", /*seed=*/1);
    Adam<double> opt(net.parameters(), {.lr = 0.05});
    History h = fit(net, opt, d.x, d.y, {.epochs = 500, .batch_size = 4, .loss = Loss::bce, .verbose = 0});
    const auto p = predict(net, d.x);
    std::size_t correct = 0;
    fmt::print("{}: final loss {:.5f}\n", gate, h.last().loss);
    for (std::size_t i = 0; i < 4; ++i) {
      const std::size_t pred = p(i, 0) > 0.5 ? 1 : 0;
      correct += pred == static_cast<std::size_t>(d.y(i));
      fmt::print("  {} {} -> {:.4f} (target {})\n", d.x(i, 0), d.x(i, 1), p(i, 0), d.y(i));
    }
    last += fmt::format("{}_correct={} {}_loss={:.5f} ", gate, correct, gate, h.last().loss);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("{}seconds={:.3f}\n", last, s);
  return 0;
}
