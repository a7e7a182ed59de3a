// Regression of f(x0, x1) = x0^2 + 3 x0 x1 + x1^2 + 5 from 200 noise-free samples, x uniform
// in [-2, 2]^2. A 2-32-32-1 tanh network with MSE and Adam; the test MSE is compared with
// the MSE before training (the headline: it must fall at least 100-fold).
//
// Last line: initial_mse=... final_mse=... fold=... r2=... seconds=...
#include <ad/nn/data.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/random.hpp>
#include <ad/nn/train.hpp>

#include <fmt/format.h>

#include <chrono>

using namespace ad::nn;

int main() {
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t n = 200;
  Rng rng(7);
  Dataset d;
  d.x = xt::xarray<double>::from_shape({n, std::size_t(2)});
  d.y = xt::xarray<double>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) {
    const double a = rng.uniform(-2, 2), b = rng.uniform(-2, 2);
    d.x(i, 0) = a;
    d.x(i, 1) = b;
    d.y(i) = a * a + 3 * a * b + b * b + 5;
  }
  Split s = train_test_split(d, 0.25, /*seed=*/0);

  Sequential<double> net = mlp<double>({2, 32, 32, 1}, "tanh", "identity", /*seed=*/0);
  const double initial = evaluate(net, s.test.x, s.test.y, Loss::mse).loss;
  Adam<double> opt(net.parameters(), {.lr = 1e-2});
  History h = fit(net, opt, s.train.x, s.train.y,
                  {.epochs = 1000, .batch_size = 32, .loss = Loss::mse, .schedule = LrSchedule::cosine(1000, 1e-4),
                   .print_every = 100});
  const auto pred = predict(net, s.test.x);
  const double final_mse = mse(pred, s.test.y), r2 = r2_score(pred, s.test.y);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("train loss {:.3e} -> test mse {:.3e} (before training {:.3f})\n", h.last().loss, final_mse, initial);
  fmt::print("initial_mse={:.4f} final_mse={:.6f} fold={:.0f} r2={:.6f} seconds={:.2f}\n", initial, final_mse,
             initial / final_mse, r2, secs);
  return 0;
}
