// The tape itself: sweeps, grad() visiting only what it must, no_grad and detach, clear() and
// stale handles, errors that name the op and shapes, anomaly mode, and a two-layer network
// against hand-derived backprop.
#include <ad/ops.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <xtensor-blas/xlinalg.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xrandom.hpp>

#include <string>
#include <thread>
#include <tuple>

using ad::Tape;
using ad::Var;
using Arr = xt::xarray<double>;

namespace {
template <class F>
std::string message_of(F&& f) {
  return support::message_of<ad::Error>(f);
}
}  // namespace

TEST_CASE("tape: shape mismatches name the op and both shapes") {
  Tape<double> t;
  auto a = t.variable(Arr(xt::zeros<double>({3, 4})));
  auto b = t.variable(Arr(xt::zeros<double>({2, 5})));
  auto c = t.variable(Arr(xt::zeros<double>({3})));
  CHECK_THROWS_AS(ad::matmul(a, b), ad::ShapeError);
  CHECK(message_of([&] { ad::matmul(a, b); }) == "matmul: inner dimensions differ: (3, 4) @ (2, 5)");
  CHECK(message_of([&] { a + b; }) == "add: shapes (3, 4) and (2, 5) do not broadcast (axis 1: 4 vs 5)");
  CHECK(message_of([&] { a * c; }) == "mul: shapes (3, 4) and (3,) do not broadcast (axis 1: 4 vs 3)");
  CHECK(message_of([&] { ad::sum(a, 2); }) == "sum: axis 2 is out of range for shape (3, 4)");
  CHECK(message_of([&] { ad::softmax(a, -3); }) == "softmax: axis -3 is out of range for shape (3, 4)");
  CHECK(message_of([&] { ad::reshape(a, {5, -1}); }) == "reshape: cannot view (3, 4) (12 entries) as (5, -1)");
  // sizes whose product overflows size_t are refused, not wrapped around to 12
  CHECK(message_of([&] { ad::reshape(a, {4294967296, 4294967296, 12}); }) ==
        "reshape: cannot view (3, 4) (12 entries) as (4294967296, 4294967296, 12)");
  CHECK(message_of([&] { ad::reshape(a, {0, 4294967296, 4294967296, -1}); }).find("reshape: cannot view") == 0);
  CHECK(message_of([&] { ad::pick(a, {0, 1}); }) == "pick: needs a (n, k) matrix and n labels, got shape (3, 4) and 2 labels");
  CHECK(message_of([&] { ad::pick(a, {0, 1, 4}); }) == "pick: label 4 at row 2 is out of range for 4 classes");
  CHECK(message_of([&] { t.backward(a); }).find("backward: the output has shape (3, 4)") == 0);
  // the tape stays usable after errors
  auto y = ad::sum(a * 2.0);
  t.backward(y);
  CHECK(support::rel_err(a.grad(), xt::ones<double>({3, 4}) * 2.0) == 0);
}

TEST_CASE("tape: stale handles and handles of two tapes throw TapeError") {
  Tape<double> t1, t2;
  auto x = t1.variable(2.0);
  auto z = t2.variable(3.0);
  CHECK(message_of([&] { x + z; }).find("add: the operands belong to different tapes") == 0);
  t1.clear();
  CHECK_THROWS_AS(x.value(), ad::TapeError);
  CHECK(message_of([&] { ad::exp(x); }).find("exp: handle to node 0 is stale") == 0);
  // a new node now sits at the same id: the old handle must still be refused
  auto w = t1.variable(5.0);
  CHECK(w.id() == x.id());
  CHECK_THROWS_AS(x * 2.0, ad::TapeError);
  CHECK(w.item() == 5.0);
  Var<double> empty;
  CHECK_THROWS_AS(empty.value(), ad::TapeError);
}

TEST_CASE("tape: adjoints accumulate, grad() visits only nodes between inputs and output") {
  Tape<double> t;
  auto x = t.variable(3.0);
  auto y = t.variable(-2.0);
  auto ey = ad::exp(y);              // leads to f, but only from y
  auto f = x * x * y + x * ey;       // x used three times
  auto g = t.grad(f, {x});
  // df/dx = 2 x y + e^y
  CHECK(g[0]() == doctest::Approx(2 * 3.0 * -2.0 + std::exp(-2.0)).epsilon(1e-15));
  CHECK_FALSE(t.node(ey.id()).has_grad);  // not between x and f: never visited
  CHECK_FALSE(t.node(y.id()).has_grad);
  auto both = t.grad(f, {y, x});
  CHECK(both[0]() == doctest::Approx(9.0 + 3.0 * std::exp(-2.0)).epsilon(1e-15));
  CHECK(both[1]() == g[0]());
  // backward() fills every variable's adjoint, and a second sweep starts again from zero
  t.backward(f);
  t.backward(f);
  CHECK(x.grad()() == doctest::Approx(g[0]()).epsilon(1e-15));
  CHECK(y.grad()() == doctest::Approx(both[0]()).epsilon(1e-15));
  // an input that does not reach the output gets a zero gradient
  auto lonely = t.variable(Arr{1.0, 2.0});
  auto z = t.grad(f, {lonely});
  CHECK(support::rel_err(z[0], Arr{0.0, 0.0}) == 0);
}

TEST_CASE("tape: grad() and backward() give the same adjoints; grad() leaves parameters' sinks alone") {
  // both run the one reverse loop; grad() visits fewer nodes and does not touch parameters' sinks
  const Arr x0 = {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, w0 = {{1.0, -2.0}, {0.5, 0.5}, {-1.0, 3.0}};
  auto record = [&](Tape<double>& t, xt::xarray<double>* sink) {
    auto x = t.variable(x0);
    auto w = t.parameter(w0, sink);
    auto h = ad::log_softmax(ad::matmul(ad::slice(x, 1, 0, 3), w), 1);
    return std::tuple{x, w, -ad::sum(ad::pick(h, {1, 0})) + ad::sum(ad::max(x, 0) * 0.5)};
  };
  Tape<double> t1, t2;
  Arr sink1, sink2 = {7.0};
  auto [x1, w1, f1] = record(t1, &sink1);
  t1.backward(f1);
  auto [x2, w2, f2] = record(t2, &sink2);
  const auto g = t2.grad(f2, {w2, x2});
  CHECK(support::rel_err(g[0], w1.grad()) == 0);
  CHECK(support::rel_err(g[1], x1.grad()) == 0);
  CHECK(support::rel_err(sink1, w1.grad()) == 0);  // backward() added into the sink
  CHECK(support::rel_err(sink2, Arr{7.0}) == 0);   // grad() did not
  // anomaly mode checks grad()'s sweep as it does backward()'s
  Tape<double> t3;
  t3.set_anomaly_mode(true);
  auto z = t3.variable(Arr{0.0, 4.0});
  const std::string m = message_of([&] { t3.grad(ad::sum(ad::sqrt(z)), {z}); });
  CHECK(m.find("anomaly: backward of sqrt (node 1) produced inf") == 0);
}

TEST_CASE("tape: no_grad and detach stop the gradient") {
  Tape<double> t;
  auto x = t.variable(2.0);
  Var<double> c;
  {
    ad::NoGradGuard guard;
    CHECK_FALSE(ad::grad_enabled());
    c = x * x;  // recorded as a value only
  }
  CHECK(ad::grad_enabled());
  CHECK_FALSE(c.requires_grad());
  auto d = ad::detach(x * 3.0);
  CHECK_FALSE(d.requires_grad());
  CHECK(d.item() == 6.0);
  auto f = x * c + x * d + x;  // df/dx = c + d + 1 with c, d constant
  t.backward(f);
  CHECK(x.grad()() == 4.0 + 6.0 + 1.0);
  auto k = t.constant(Arr{1.0, 2.0});
  CHECK_FALSE(k.requires_grad());
}

TEST_CASE("tape: SinkMode::assign leaves the sinks as zero_grad() then backward() would") {
  const Arr x0 = {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, w0 = {{1.0, -2.0}, {0.5, 0.5}, {-1.0, 3.0}};
  Arr ga = {9.0}, gb = xt::ones<double>({3, 2}) * 5.0, gc = {7.0, 7.0}, gd = xt::ones<double>({3, 2});
  const Arr a0 = {1.0, 2.0}, c0 = {3.0, 4.0};  // parameters' storage outlives the recording
  Tape<double> t;
  auto x = t.constant(x0);
  auto w = t.parameter(w0, &gb);   // reached, sink of the right shape holding old numbers
  auto a = t.parameter(a0, &ga);   // reached, sink of another shape
  auto c = t.parameter(c0, &gc);   // recorded, not reached: zeros
  auto f = ad::sum(ad::tanh(ad::matmul(x, w))) + ad::sum(a * a);
  auto w_again = t.parameter(w0, &gb);  // a second leaf on the same sink, used after f: adds to it
  (void)c;
  (void)w_again;
  t.backward(f, ad::SinkMode::assign);
  CHECK(support::rel_err(gb, w.grad()) == 0);
  CHECK(support::rel_err(ga, Arr{2.0, 4.0}) == 0);
  CHECK(support::rel_err(gc, Arr{0.0, 0.0}) == 0);
  // the same recording swept with accumulate adds onto what is there
  t.backward(f);
  CHECK(support::rel_err(gb, 2.0 * w.grad()) == 0);
  CHECK(support::rel_err(ga, Arr{4.0, 8.0}) == 0);
  // two leaves on one sink, both reached: the first assigns, the second adds
  Tape<double> t2;
  auto w1 = t2.parameter(w0, &gd), w2 = t2.parameter(w0, &gd);
  auto g = ad::sum(w1 * w2);  // d/dw1 = w2 = w0, d/dw2 = w0: the sink gets 2 w0
  t2.backward(g, ad::SinkMode::assign);
  CHECK(support::rel_err(gd, 2.0 * w0) == 0);
}

TEST_CASE("tape: SinkMode::assign sweeps straight into a parameter's sink, which keeps its buffer") {
  const Arr x0 = {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, w0 = {{1.0, -2.0}, {0.5, 0.5}, {-1.0, 3.0}};
  Arr gw = xt::ones<double>({3, 2}) * 5.0, gu;  // gu: empty, given its shape by the sweep
  const Arr u0 = {0.25, -0.5};
  const double* gw_buffer = gw.data();
  Tape<double> t, ref;
  auto f_of = [&](Tape<double>& tape, auto w, auto u) {
    return ad::sum(ad::tanh(ad::matmul(tape.constant(x0), w) + u)) + ad::sum(u * u);
  };
  auto w = t.parameter(w0, &gw), u = t.parameter(u0, &gu);
  auto f = f_of(t, w, u);
  auto rw = ref.variable(w0), ru = ref.variable(u0);
  ref.backward(f_of(ref, rw, ru));
  t.backward(f, ad::SinkMode::assign);
  CHECK(gw.data() == gw_buffer);  // the sink's own buffer, not the tape's
  CHECK(support::rel_err(gw, rw.grad()) == 0);
  CHECK(support::rel_err(gu, ru.grad()) == 0);
  CHECK(gu.shape() == u0.shape());
  CHECK(&w.grad() == &gw);  // the leaf's adjoint is read where it was written
  // again: the same numbers, the same buffers (nothing accumulates in assign mode)
  t.backward(f, ad::SinkMode::assign);
  CHECK(gw.data() == gw_buffer);
  CHECK(support::rel_err(gw, rw.grad()) == 0);
  // an accumulate sweep after it adds onto the sink, and the leaf's adjoint is the tape's again
  t.backward(f);
  CHECK(support::rel_err(gw, 2.0 * rw.grad()) == 0);
  CHECK(&w.grad() != &gw);
  CHECK(support::rel_err(w.grad(), rw.grad()) == 0);
  // a sweep that throws half way hands every sink back its buffer
  Arr gs = {1.0, 1.0};
  const double* gs_buffer = gs.data();
  const Arr s0 = {0.0, 4.0};
  Tape<double> t3;
  auto s = t3.parameter(s0, &gs);
  auto root = ad::sum(ad::sqrt(s));  // d/ds sqrt(s) at 0 is infinite: anomaly mode throws in the sweep
  t3.set_anomaly_mode(true);
  CHECK_THROWS(t3.backward(root, ad::SinkMode::assign));
  CHECK(gs.data() == gs_buffer);
  t3.set_anomaly_mode(false);
  t3.backward(root, ad::SinkMode::assign);
  CHECK(gs(1) == doctest::Approx(0.25));
  CHECK(std::isinf(gs(0)));
}

TEST_CASE("tape: constant_ref reads the caller's array in place, as constant() reads its copy") {
  const Arr x0 = {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, w0 = {{1.0, -2.0}, {0.5, 0.5}, {-1.0, 3.0}};
  Tape<double> t1, t2;
  auto x1 = t1.constant(x0), w1 = t1.variable(w0);
  auto x2 = t2.constant_ref(x0), w2 = t2.variable(w0);
  CHECK(&x2.value() == &x0);  // no copy
  CHECK(x2.op() == std::string("constant"));
  CHECK_FALSE(x2.requires_grad());
  auto f1 = ad::sum(ad::tanh(ad::matmul(x1, w1))), f2 = ad::sum(ad::tanh(ad::matmul(x2, w2)));
  t1.backward(f1);
  t2.backward(f2);
  CHECK(f1.item() == f2.item());
  CHECK(support::rel_err(w1.grad(), w2.grad()) == 0);
  // the leaf is forgotten at clear(): the node's slot takes copies again
  t2.clear();
  auto c = t2.constant(Arr{3.0});
  CHECK(&c.value() != &x0);
  CHECK(c.item() == 3.0);
}

TEST_CASE("tape: a vector-Jacobian product with a seed") {
  Tape<double> t;
  auto x = t.variable(Arr{1.0, 2.0, 3.0});
  auto y = x * x;  // J = diag(2x)
  t.backward(y, Arr{1.0, 10.0, 100.0});
  CHECK(support::rel_err(x.grad(), Arr{2.0, 40.0, 600.0}) == 0);
  CHECK_THROWS_AS(t.backward(y, Arr{1.0}), ad::ShapeError);
}

TEST_CASE("tape: anomaly mode names the first op that produced NaN or Inf") {
  Tape<double> t;
  t.set_anomaly_mode(true);
  auto x = t.variable(Arr{1.0, -1.0});
  auto ok = ad::exp(x);
  CHECK(ok.size() == 2);
  CHECK(message_of([&] { ad::log(x); }).find("anomaly: forward of log (node 2) produced NaN at flat index 1") == 0);
  t.clear();
  auto z = t.variable(Arr{0.0, 4.0});
  auto s = ad::sqrt(z);  // finite forward, infinite derivative at 0
  CHECK(message_of([&] { t.backward(ad::sum(s)); }).find("anomaly: backward of sqrt (node 1) produced inf") == 0);
  t.set_anomaly_mode(false);
  t.clear();
  auto w = t.variable(Arr{-1.0});
  CHECK(std::isnan(ad::log(w).value()(0)));  // without anomaly mode NaN propagates silently
}

TEST_CASE("tape: clear() keeps memory and the same recording reuses it") {
  Tape<double> t;
  Arr w0 = xt::random::randn<double>({20, 10});
  auto record = [&] {
    t.clear();
    auto x = t.constant(Arr(xt::ones<double>({8, 20})));
    auto w = t.parameter(w0);
    auto y = ad::mean(ad::tanh(ad::matmul(x, w)));
    t.backward(y);
    return t.memory_bytes();
  };
  const std::size_t first = record();
  CHECK(first > 0);
  for (int i = 0; i < 100; ++i) CHECK(record() == first);
}

TEST_CASE("tape: two-layer network against hand-derived backprop") {
  // matmul + bias + sigmoid + matmul + bias + softmax + mean cross-entropy, batch of 7
  xt::random::seed(42);
  const std::size_t n = 7, d = 5, h = 4, k = 3;
  Arr X = xt::random::randn<double>({n, d});
  Arr W1 = xt::random::randn<double>({d, h}) * 0.5, b1 = xt::random::randn<double>({h});
  Arr W2 = xt::random::randn<double>({h, k}) * 0.5, b2 = xt::random::randn<double>({k});
  Arr Y = xt::zeros<double>({n, k});
  for (std::size_t i = 0; i < n; ++i) Y(i, (i * 2) % k) = 1;

  Tape<double> t;
  auto x = t.constant(X), y = t.constant(Y);
  auto w1 = t.variable(W1), c1 = t.variable(b1), w2 = t.variable(W2), c2 = t.variable(b2);
  auto ah = ad::sigmoid(ad::matmul(x, w1) + c1);
  auto p = ad::softmax(ad::matmul(ah, w2) + c2, 1);
  auto loss = -ad::mean(ad::sum(y * ad::log(p), 1));
  t.backward(loss);

  // by hand, with xtensor-blas
  Arr zh = xt::linalg::dot(X, W1) + b1;
  Arr a_h = 1.0 / (1.0 + xt::exp(-zh));
  Arr zo = xt::linalg::dot(a_h, W2) + b2;
  Arr eo = xt::exp(zo);
  Arr so = xt::sum(eo, {1}, xt::keep_dims);
  Arr a_out = eo / so;
  const double loss_ref = -xt::sum(Y * xt::log(a_out))() / n;
  Arr delta_out = (a_out - Y) / double(n);
  Arr delta_h = xt::linalg::dot(delta_out, xt::transpose(W2)) * a_h * (1.0 - a_h);
  Arr dW2 = xt::linalg::dot(xt::transpose(a_h), delta_out), db2 = xt::sum(delta_out, {0});
  Arr dW1 = xt::linalg::dot(xt::transpose(X), delta_h), db1 = xt::sum(delta_h, {0});

  CHECK(loss.item() == doctest::Approx(loss_ref).epsilon(1e-13));
  CHECK(support::rel_err(w2.grad(), dW2) <= 1e-12);
  CHECK(support::rel_err(c2.grad(), db2) <= 1e-12);
  CHECK(support::rel_err(w1.grad(), dW1) <= 1e-12);
  CHECK(support::rel_err(c1.grad(), db1) <= 1e-12);
  CHECK(xt::amax(xt::abs(dW1))() > 1e-3);  // the comparison is not between zeros
}

TEST_CASE("tape: separate tapes on separate threads give the single-threaded results") {
  auto work = [](double seed, double* out) {
    Tape<double> t;
    for (int step = 0; step < 200; ++step) {
      t.clear();
      auto x = t.variable(Arr{seed, seed + 1, seed + 2});
      t.backward(ad::sum(ad::tanh(x * x) * x));
      out[0] += x.grad()(1);
    }
  };
  double single[2] = {0, 0}, threaded[2] = {0, 0};
  work(0.1, &single[0]);
  work(0.7, &single[1]);
  std::thread a(work, 0.1, &threaded[0]), b(work, 0.7, &threaded[1]);
  a.join();
  b.join();
  CHECK(single[0] == threaded[0]);
  CHECK(single[1] == threaded[1]);
}
