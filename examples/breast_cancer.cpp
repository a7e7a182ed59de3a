// Breast cancer (Wisconsin diagnostic, 569 x 30): binary classification, malignant vs benign.
// Features standardized with statistics of the training part only; 30-16-1 network, ReLU
// hidden, sigmoid output, binary cross-entropy, Adam lr 1e-3, batch 32, 100 epochs, a stratified
// 80/20 split, with 20% of the training part held out for early stopping.
//
// Last line: test_accuracy=... test_loss=... seconds=...
#include <ad/nn/data.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <chrono>

using namespace ad::nn;

int main() {
  const auto t0 = std::chrono::steady_clock::now();
  Dataset d = load_breast_cancer();
  Split s = train_test_split(d, 0.2, /*seed=*/0, /*stratify=*/true);
  Split tv = train_test_split(s.train, 0.2, /*seed=*/1, /*stratify=*/true);
  StandardScaler scaler;
  scaler.fit(tv.train.x);  // training part only: no test statistics leak in
  const auto x_train = scaler.transform(tv.train.x), x_val = scaler.transform(tv.test.x),
             x_test = scaler.transform(s.test.x);

  Sequential<double> net = mlp<double>({30, 16, 1}, "relu", "sigmoid", /*seed=*/0);
  Adam<double> opt(net.parameters(), {.lr = 1e-3});
  History h = fit(net, opt, x_train, tv.train.y,
                  {.epochs = 100, .batch_size = 32, .loss = Loss::bce, .x_val = &x_val, .y_val = &tv.test.y,
                   .patience = 15, .print_every = 10});
  Evaluation e = evaluate(net, x_test, s.test.y, Loss::bce);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("best epoch {} of {}{}\n", h.best_epoch, h.epochs.size(), h.stopped_early ? " (stopped early)" : "");
  fmt::print("{}", classification_report(e.predicted, s.test.labels(), 2).to_string(d.class_names));
  fmt::print("test_accuracy={:.4f} test_loss={:.4f} epochs={} seconds={:.2f}\n", e.metric, e.loss, h.epochs.size(),
             secs);
  return 0;
}
