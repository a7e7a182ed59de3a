// Fashion-MNIST (60000 training and 10000 test images, 28x28, 10 classes): a 784-256-128-10
// ReLU network trained in float32 with Adam lr 1e-3, batch 128, pixels / 255. The images load
// straight into floats (FloatDataset: 188 MB for the training set instead of 376 as doubles), so
// each minibatch is one memcpy per row.
//
// Usage: fashion_mnist [--epochs N] (default 10) [--seed S]
// Last line: test_accuracy=... test_loss=... epochs=... seconds=... seconds_per_epoch=...
#include <ad/nn/data.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

using namespace ad::nn;

int main(int argc, char** argv) {
  std::size_t epochs = 10;
  std::uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = std::strtoul(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else {
      fmt::print(stderr, "usage: fashion_mnist [--epochs N] [--seed S]\n");
      return 2;
    }
  }
  FloatDataset train = load_fashion_mnist<float>(true), test = load_fashion_mnist<float>(false);
  MaxScaler pixels;  // divides by the largest training value, 255
  pixels.fit(train.x);
  pixels.transform_in_place(train.x);
  pixels.transform_in_place(test.x);

  const auto t0 = std::chrono::steady_clock::now();
  Sequential<float> net = mlp<float>({784, 256, 128, 10}, "relu", "identity", seed);
  Adam<float> opt(net.parameters(), {.lr = 1e-3});
  History h = fit(net, opt, train.x, train.y,
                  {.epochs = epochs, .batch_size = 128, .seed = seed, .loss = Loss::cross_entropy,
                   .x_val = &test.x, .y_val = &test.y, .restore_best = false});
  const double train_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Evaluation e = evaluate(net, test.x, test.y, Loss::cross_entropy);
  fmt::print("{}", classification_report(e.predicted, test.labels(), 10).to_string(train.class_names));
  fmt::print("test_accuracy={:.4f} test_loss={:.4f} train_accuracy={:.4f} epochs={} seconds={:.1f} "
             "seconds_per_epoch={:.2f}\n",
             e.metric, e.loss, h.last().metric, h.epochs.size(), train_secs,
             train_secs / static_cast<double>(h.epochs.size()));
  return 0;
}
