// Anomaly mode reaching the tapes nn::fit owns: inside an ad::AnomalyModeGuard, the first op
// whose forward or backward produces NaN or Inf throws ad::ValueError naming it (as
// torch.autograd.detect_anomaly); outside, NaN propagates silently. The guard is per thread.
#include "common.hpp"

#include <ad/nn/losses.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/train.hpp>
#include <ad/ops.hpp>

#include <xtensor/xbuilder.hpp>

#include <cmath>
#include <limits>
#include <thread>

using namespace robust;

TEST_CASE("anomaly mode: a guard reaches the tapes inside fit and names the first bad op") {
  auto net = ad::nn::mlp<double>({2, 3, 2}, "relu", "softmax", 3);
  ad::nn::SGD<double> opt(net.parameters(), {.lr = 0.1});
  xt::xarray<double> x = xt::ones<double>({4, 2}), y = xt::xarray<double>{0, 1, 0, 1};
  x(2, 1) = std::numeric_limits<double>::quiet_NaN();
  const ad::nn::FitOptions o{.epochs = 2, .batch_size = 4, .shuffle = false, .verbose = 0};

  // Without the guard the NaN propagates (relu(NaN) is NaN, as in PyTorch) up to the loss, where
  // fit's divergence check stops, naming the epoch and batch but not the op.
  const auto plain = message_of<ad::nn::DivergenceError>([&] { ad::nn::fit(net, opt, x, y, o); });
  CHECK(plain.rfind("fit: the loss became nan at epoch 1, batch 1", 0) == 0);

  // With it, the first Linear's op (x W + b, one node) is named, with the entry (row 2 of 3 outputs).
  auto fresh = ad::nn::mlp<double>({2, 3, 2}, "relu", "softmax", 3);
  ad::nn::SGD<double> opt2(fresh.parameters(), {.lr = 0.1});
  {
    ad::AnomalyModeGuard anomaly;
    const auto m = message_of<ad::ValueError>([&] { ad::nn::fit(fresh, opt2, x, y, o); });
    CAPTURE(m);
    CHECK(m.rfind("anomaly: forward of linear (node ", 0) == 0);
    CHECK(m.find("produced NaN at flat index 6 of shape (4, 3)") != std::string::npos);
    // Another thread is not in anomaly mode.
    std::string other = "<not run>";
    std::thread([&] {
      ad::Tape<double> t;
      other = std::isnan(ad::log(t.variable(xt::xarray<double>{-1.0})).value()(0)) ? "nan" : "?";
    }).join();
    CHECK(other == "nan");
  }
  CHECK(fresh.parameters()[0]->value == ad::nn::mlp<double>({2, 3, 2}, "relu", "softmax", 3).parameters()[0]->value);

  // Backward: sqrt at 0 has a finite value and an infinite derivative.
  ad::Tape<double> t;
  auto v = t.variable(xt::xarray<double>{0.0, 1.0});
  auto loss = ad::sum(ad::sqrt(v));
  CHECK_NOTHROW(t.backward(loss));
  ad::AnomalyModeGuard anomaly;
  CHECK(t.anomaly_mode());
  CHECK(message_of<ad::ValueError>([&] { t.backward(loss); }) ==
        "anomaly: backward of sqrt (node 1) produced inf in the adjoint of its input 0 (variable, node 0)");
}
