// "No allocation per step after warm-up", proven by counting: this program replaces the global
// operator new/delete with counting versions, records a training-like step (matmul, bias,
// sigmoid, log_softmax, pick, mean; reverse sweep; clear) 1000 times, and checks that after the
// first steps not a single heap allocation happens and the tape's memory does not grow.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <ad/elementwise.hpp>
#include <ad/ops.hpp>
#include <ad/scalar.hpp>

#include <doctest/doctest.h>

#include <atomic>
// The replacements below pair malloc with free on purpose; gcc cannot see that they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <cstdlib>
#include <new>
#include <vector>

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  ++g_allocations;
  if (void* p = std::aligned_alloc(static_cast<std::size_t>(a), (n + static_cast<std::size_t>(a) - 1) & ~(static_cast<std::size_t>(a) - 1))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

TEST_CASE_TEMPLATE("alloc: record, sweep, clear 1000 times allocates nothing after warm-up", T, double, float) {
  const std::size_t n = 32, d = 64, h = 50, k = 10;
  xt::xarray<T> X = xt::zeros<T>({n, d}), W1 = xt::zeros<T>({d, h}), b1 = xt::zeros<T>({h});
  xt::xarray<T> W2 = xt::zeros<T>({h, k}), b2 = xt::zeros<T>({k});
  for (std::size_t i = 0; i < X.size(); ++i) X.data()[i] = static_cast<T>((i % 17) / 17.0);
  for (std::size_t i = 0; i < W1.size(); ++i) W1.data()[i] = static_cast<T>(((i * 7) % 13) / 13.0 - 0.5);
  for (std::size_t i = 0; i < W2.size(); ++i) W2.data()[i] = static_cast<T>(((i * 5) % 11) / 11.0 - 0.5);
  std::vector<std::size_t> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = i % k;

  ad::Tape<T> tape;
  T loss_sum = 0;
  auto step = [&] {
    tape.clear();
    auto x = tape.constant(X);
    auto w1 = tape.parameter(W1), c1 = tape.parameter(b1), w2 = tape.parameter(W2), c2 = tape.parameter(b2);
    auto a = ad::sigmoid(ad::matmul(x, w1) + c1);
    auto logp = ad::log_softmax(ad::matmul(a, w2) + c2, 1);
    auto loss = -ad::mean(ad::pick(logp, labels)) + ad::sum(w1 * w1) * T(1e-4);
    tape.backward(loss);
    // an SGD step reading the adjoints in place
    const auto& g1 = w1.grad();
    for (std::size_t i = 0; i < W1.size(); ++i) W1.data()[i] -= T(0.1) * g1.data()[i];
    loss_sum += loss.item();
  };
  for (int i = 0; i < 10; ++i) step();  // warm-up
  const std::size_t bytes = tape.memory_bytes();
  const long before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) step();
  CHECK(g_allocations.load() - before == 0);
  CHECK(tape.memory_bytes() == bytes);
  CHECK(std::isfinite(loss_sum));
  // the counter does count: a fresh vector allocates
  const long c0 = g_allocations.load();
  std::vector<int> v(10);
  CHECK(g_allocations.load() - c0 == 1);
}

TEST_CASE_TEMPLATE("alloc: W1b on the tensor tape with slice and elementwise allocates nothing after warm-up", T,
                   double, float) {
  const std::size_t n = 1000;
  xt::xarray<T> X = xt::zeros<T>({n});
  ad::Tape<T> tape;
  T f_sum = 0;
  auto step = [&](int r) {
    for (std::size_t i = 0; i < n; ++i) X.data()[i] = static_cast<T>((i % 2 == 0 ? -1.2 : 1.0) + 1e-4 * r);
    tape.clear();
    auto x = tape.parameter(X);
    auto a = ad::slice(x, 0, 0, -1), b = ad::slice(x, 0, 1, static_cast<std::ptrdiff_t>(n));
    auto f = ad::sum(ad::elementwise([](auto u, auto v) { return 100 * pow(v - u * u, 2) + pow(1 - u, 2); }, a, b));
    tape.backward(f);
    f_sum += f.item() + x.grad().data()[0];
  };
  for (int i = 0; i < 10; ++i) step(i);  // warm-up
  const std::size_t bytes = tape.memory_bytes();
  const long before = g_allocations.load();
  for (int i = 0; i < 500; ++i) step(i);
  CHECK(g_allocations.load() - before == 0);
  CHECK(tape.memory_bytes() == bytes);
  CHECK(std::isfinite(f_sum));
}

#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/random.hpp>
#include <ad/nn/train.hpp>

TEST_CASE_TEMPLATE("alloc: nn::Trainer steps (mlp, dropout, Adam, L2, clipping) allocate nothing after warm-up", T, double,
                   float) {
  // 20-16-4 with dropout, a batch of 32, four classes
  ad::nn::Sequential<T> net;
  net.template emplace<ad::nn::Linear<T>>(20, 16, 1);
  net.template emplace<ad::nn::Activation<T>>("relu");
  net.template emplace<ad::nn::Dropout<T>>(0.2, 3);
  net.template emplace<ad::nn::Linear<T>>(16, 4, 2);
  net.template emplace<ad::nn::Activation<T>>("softmax");
  ad::nn::Adam<T> opt(net.parameters(), {.lr = 1e-3});
  ad::nn::Trainer<T> trainer(net, opt, ad::nn::Loss::cross_entropy, /*l2=*/1e-4);
  trainer.clip_norm = 5;
  xt::xarray<T> xb = xt::zeros<T>({std::size_t(32), std::size_t(20)}), yb = xt::zeros<T>({std::size_t(32)});
  for (std::size_t i = 0; i < xb.size(); ++i) xb.data()[i] = static_cast<T>(((i * 13) % 29) / 29.0);
  for (std::size_t i = 0; i < yb.size(); ++i) yb.data()[i] = static_cast<T>(i % 4);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += trainer.step(xb, yb);
  const long before = g_allocations.load();
  for (int i = 0; i < 500; ++i) last = trainer.step(xb, yb);
  CHECK(g_allocations.load() - before == 0);
  CHECK(last < first / 10);  // it does train
}

TEST_CASE_TEMPLATE("alloc: EpochLoop epochs over double or float data, reshuffled, allocate nothing after warm-up", T,
                   double, float) {
  // 100 rows in batches of 32: three full batches and a short one of 4 (the second tape), the
  // rows gathered from data held as double (converted) and as float (a memcpy per row), the
  // order reshuffled every epoch as fit does. Trainer::step reads each batch in place
  // (constant_ref) and overwrites the gradients (SinkMode::assign).
  const std::size_t n = 100;
  xt::xarray<double> xd = xt::zeros<double>({n, std::size_t(20)}), yd = xt::zeros<double>({n});
  for (std::size_t i = 0; i < xd.size(); ++i) xd.data()[i] = ((i * 13) % 29) / 29.0;
  for (std::size_t i = 0; i < n; ++i) yd.data()[i] = static_cast<double>(i % 4);
  const xt::xarray<float> xf = xt::cast<float>(xd), yf = xt::cast<float>(yd);
  for (int data = 0; data < 2; ++data) {
    CAPTURE(data);
    auto net = ad::nn::mlp<T>({20, 16, 4}, "relu", "softmax", 1);
    ad::nn::Adam<T> opt(net.parameters(), {.lr = 1e-3});
    ad::nn::Trainer<T> trainer(net, opt, ad::nn::Loss::cross_entropy);
    ad::nn::EpochLoop<T> loop(trainer, data == 0 ? ad::nn::DataRef(xd) : ad::nn::DataRef(xf),
                              data == 0 ? ad::nn::DataRef(yd) : ad::nn::DataRef(yf), 32);
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    ad::nn::Rng rng(1);
    double first = loop.run(order).loss, last = 0;
    rng.shuffle(order);
    (void)loop.run(order);
    const long before = g_allocations.load();
    for (int e = 0; e < 100; ++e) {
      rng.shuffle(order);
      last = loop.run(order).loss;
    }
    CHECK(g_allocations.load() - before == 0);
    CHECK(last < first);
  }
}

TEST_CASE("alloc: a scalar recording with an ad::Sum made afresh each time allocates nothing after warm-up") {
  ad::ScalarTape tape;
  std::vector<ad::Real> x(500), x2(500);
  std::vector<double> g(x.size() + x2.size()), xs(x2.size(), 0.5);
  auto step = [&](int r) {
    tape.clear();
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = tape.variable(0.001 * static_cast<double>(i + r));
    ad::Sum s(tape);
    for (std::size_t i = 0; i + 1 < x.size(); ++i) s += 100 * pow(x[i + 1] - x[i] * x[i], 2) + pow(1 - x[i], 2);
    ad::Real f = s;
    // the same as one call, and the variables at once
    tape.variables(xs, x2);
    ad::Real f2 = ad::sum_terms(tape, x2.size() - 1, [&](std::size_t i) {
      return 100 * pow(x2[i + 1] - x2[i] * x2[i], 2) + pow(1 - x2[i], 2);
    });
    tape.backward(f + f2);
    tape.variable_adjoints(g);
  };
  for (int r = 0; r < 3; ++r) step(r);
  const long before = g_allocations.load();
  const std::size_t bytes = tape.capacity_bytes();
  for (int r = 3; r < 1000; ++r) step(r);
  CHECK(g_allocations.load() == before);
  CHECK(tape.capacity_bytes() == bytes);
  CHECK(g[1] != 0.0);  // the sweep reached the variables
}
