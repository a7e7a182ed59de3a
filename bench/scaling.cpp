// Scaling (issue 16, W4 of ../shared/bench-workloads.md): one training step of the MLP
// 784-W-W-10 (ReLU, softmax + cross-entropy, Adam lr 1e-3 with PyTorch's update, float32) for
// W = 256, 512, 1024, 2048 and batch 128 and 512, on synthetic data: one fixed batch per shape,
// inputs U[0, 1) from splitmix64(3), labels i mod 10; initial weights as W2/W3 (splitmix64(1)).
//
// Three timings per shape, one after the other in each repetition, in one process:
//   engine     ad::nn::Trainer<float>::step on the batch (clear the tape, record forward + loss,
//              zero the grads, the reverse sweep, Adam::step): what fit() runs per minibatch
//   floor      the same step hand-written: the 8 cblas_sgemm calls with transpose flags (3
//              forward; per layer the weight gradient and, below the top layer, the input
//              gradient), bias + ReLU fused, softmax + cross-entropy + its gradient in one pass,
//              the bias gradients, then Adam as one xsimd pass over all parameters (held in one
//              buffer), split in two halves run on both cores (the main thread and one
//              persistent std::thread woken by a C++20 atomic wait/notify), as OpenBLAS runs the
//              GEMMs on both cores (OPENBLAS_NUM_THREADS=2)
//   GEMM-only  the floor's 8 sgemm calls alone, on the floor's buffers
// Each is the median over the repetitions after 3 warm-up steps (the engine first in even
// repetitions, the floor first in odd ones; fewer repetitions for the wide shapes, to keep the
// whole run well under two minutes). Min and max are printed too, and engine min / floor min,
// steadier than the medians when other jobs share the cores. Check, once per shape, before the timing: the
// engine's gradient (Trainer::loss_and_grad) against the floor's at the initial weights, max
// |engine - floor| / max |floor| over all parameters (float32 rounding, ~1e-7).
//
// Usage: scaling [--svg PATH] [--reps N] [--width W] [--batch B] [--only engine|floor]
//   --reps N     repetitions at W <= 512 (default 45; W = 1024 gets N/2, W = 2048 N/3, at least 10)
//   --width, --batch   run only that width / batch size (for profiling the widest shape)
//   --only       time only the engine (or only the floor and GEMM-only), e.g. under perf record
//   --adam-threads 1   the floor's Adam pass on the main thread alone (default 2)
#include <ad/nn/module.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/plot.hpp>
#include <ad/nn/random.hpp>
#include <ad/nn/train.hpp>

#include "common.hpp"
#include "mlp_floor.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using bench::Clock;
using bench::seconds_since;
using bench::AlignedFloats;

// Runs job(0) on the calling thread and job(1) on one persistent worker thread, returns when both
// are done. The worker sleeps in a futex (std::atomic::wait) between calls, so it does not compete
// with OpenBLAS's threads for the two cores while the GEMMs run.
class TwoThreads {
 public:
  TwoThreads() : worker_([this] { loop(); }) {}
  ~TwoThreads() {
    stop_ = true;
    go_.fetch_add(1);
    go_.notify_one();
    worker_.join();
  }
  template <class F>
  void run(F& job) {  // no std::function: nothing is allocated per call
    call_ = [](void* f, int part) { (*static_cast<F*>(f))(part); };
    arg_ = &job;
    const unsigned d = done_.load();
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_one();
    job(0);
    done_.wait(d, std::memory_order_acquire);
  }

 private:
  void loop() {
    unsigned seen = 0;
    for (;;) {
      go_.wait(seen, std::memory_order_acquire);
      seen = go_.load(std::memory_order_acquire);
      if (stop_) return;
      call_(arg_, 1);
      done_.fetch_add(1, std::memory_order_release);
      done_.notify_one();
    }
  }
  std::atomic<unsigned> go_{0}, done_{0};
  std::atomic<bool> stop_{false};
  void (*call_)(void*, int) = nullptr;
  void* arg_ = nullptr;
  std::thread worker_;
};

struct Shape {
  std::size_t width, batch;
  std::vector<std::size_t> sizes() const { return {784, width, width, 10}; }
};

struct Batch {
  AlignedFloats x;             // batch x 784, row-major
  std::vector<std::size_t> y;  // i mod 10
  xt::xarray<float> xb, yb;    // the same for the engine (labels as floats, as Trainer takes them)
};

Batch make_batch(std::size_t rows) {
  Batch b;
  ad::nn::Rng rng(3);
  b.x.resize(rows * 784);
  for (auto& v : b.x) v = static_cast<float>(rng.uniform(0, 1));
  b.y.resize(rows);
  for (std::size_t i = 0; i < rows; ++i) b.y[i] = i % 10;
  b.xb = xt::xarray<float>::from_shape({rows, std::size_t(784)});
  std::copy(b.x.begin(), b.x.end(), b.xb.begin());
  b.yb = xt::xarray<float>::from_shape({rows});
  for (std::size_t i = 0; i < rows; ++i) b.yb(i) = static_cast<float>(b.y[i]);
  return b;
}

// ---- the floor -----------------------------------------------------------------------------
// bench/mlp_floor.hpp's step on a fixed batch, with its Adam pass split over two threads.
struct Floor : bench::MlpFloor {
  std::size_t m;
  TwoThreads* pool;  // null: the Adam pass on the calling thread alone
  Floor(const std::vector<std::size_t>& s, const std::vector<std::vector<float>>& init, const Batch& b,
        TwoThreads* threads)
      : MlpFloor(s, init, b.y.size()), m(b.y.size()), pool(threads) {
    Y = b.y;
    std::copy(b.x.begin(), b.x.end(), A[0].begin());
  }
  double grad() { return MlpFloor::grad(m); }
  void gemm_only() { MlpFloor::gemm_only(m); }
  // PyTorch's Adam in one pass of xsimd batches over the whole buffer, the two halves on the two
  // threads (the split at a multiple of 64 floats keeps the loads aligned).
  void adam() {
    const auto [step, bc2] = next_adam_step();
    const std::size_t n = P.size(), half = (n / 2) / 64 * 64;
    auto job = [&](int part) { adam_range(part == 0 ? 0 : half, part == 0 ? half : n, step, bc2); };
    if (pool) pool->run(job);
    else adam_range(0, n, step, bc2);  // --adam-threads 1
  }
};

// ---- the engine ----------------------------------------------------------------------------
struct Engine {
  ad::nn::Sequential<float> net;
  std::vector<ad::nn::Parameter<float>*> params;
  std::unique_ptr<ad::nn::Adam<float>> opt;
  std::unique_ptr<ad::nn::Trainer<float>> trainer;
  Engine(const std::vector<std::size_t>& sizes, const std::vector<std::vector<float>>& init)
      : net(ad::nn::mlp<float>(sizes, "relu", "softmax", 1)), params(net.parameters()) {
    for (std::size_t k = 0; k < params.size(); ++k)
      std::copy(init[k].begin(), init[k].end(), params[k]->value.begin());
    opt = std::make_unique<ad::nn::Adam<float>>(params, ad::nn::AdamOptions{.lr = 1e-3});
    trainer = std::make_unique<ad::nn::Trainer<float>>(net, *opt, ad::nn::Loss::cross_entropy);
  }
};

struct Result {
  Shape shape;
  std::size_t params = 0, reps = 0;
  bench::Stats engine{}, floor{}, gemm{}, floor_adam{};
  double max_err = std::nan("");  // not checked unless both programs run
  double ratio() const { return floor.median > 0 && engine.median > 0 ? engine.median / floor.median : 0; }
  double ratio_min() const { return floor.min > 0 && engine.min > 0 ? engine.min / floor.min : 0; }
  double ratio_gemm() const { return gemm.median > 0 && engine.median > 0 ? engine.median / gemm.median : 0; }
};

Result run_shape(const Shape& s, std::size_t reps, bool do_engine, bool do_floor, TwoThreads* threads) {
  const auto sizes = s.sizes();
  const auto init = bench::initial_weights<float>(sizes);
  const Batch b = make_batch(s.batch);
  Result r{s};
  for (const auto& p : init) r.params += p.size();
  r.reps = reps;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Floor> floor;
  if (do_engine) engine = std::make_unique<Engine>(sizes, init);
  if (do_floor) floor = std::make_unique<Floor>(sizes, init, b, threads);
  if (engine && floor) {  // the check, at the initial weights, before any step
    engine->trainer->loss_and_grad(b.xb, b.yb);
    floor->grad();
    double diff = engine->params.size() + 1 == floor->off.size() ? 0 : HUGE_VAL, scale = 0;
    for (std::size_t k = 0; k < engine->params.size() && k + 1 < floor->off.size(); ++k) {
      const auto& ge = engine->params[k]->grad;
      const float* gf = floor->G.data() + floor->off[k];
      if (ge.size() != floor->off[k + 1] - floor->off[k]) diff = HUGE_VAL;
      for (std::size_t i = 0; i < ge.size() && i < floor->off[k + 1] - floor->off[k]; ++i) {
        diff = std::max(diff, double(std::fabs(ge.data()[i] - gf[i])));
        scale = std::max(scale, double(std::fabs(gf[i])));
      }
    }
    r.max_err = scale > 0 ? diff / scale : HUGE_VAL;
  }
  std::vector<double> te, tf, tg, ta;
  const auto engine_step = [&](bool keep) {
    const auto t0 = Clock::now();
    engine->trainer->step(b.xb, b.yb);
    if (keep) te.push_back(seconds_since(t0) * 1e3);
  };
  const auto floor_step = [&](bool keep) {
    const auto t0 = Clock::now();
    floor->grad();
    const auto t1 = Clock::now();
    floor->adam();
    const double total = seconds_since(t0) * 1e3;
    if (keep) tf.push_back(total), ta.push_back(seconds_since(t1) * 1e3);
    const auto t2 = Clock::now();
    floor->gemm_only();
    if (keep) tg.push_back(seconds_since(t2) * 1e3);
  };
  for (std::size_t i = 0; i < 3 + reps; ++i) {  // engine first in even repetitions, floor first in odd
    const bool keep = i >= 3;
    if (engine && i % 2 == 0) engine_step(keep);
    if (floor) floor_step(keep);
    if (engine && i % 2 == 1) engine_step(keep);
  }
  if (engine) r.engine = bench::stats(te);
  if (floor) r.floor = bench::stats(tf), r.floor_adam = bench::stats(ta), r.gemm = bench::stats(tg);
  return r;
}

std::string plot(const std::vector<Result>& results, const std::vector<std::size_t>& widths,
                 const std::vector<std::size_t>& batches) {
  ad::nn::Panel ratio, gemm;
  ratio.title = "engine step / hand-written floor";
  gemm.title = "engine step / its GEMM calls alone";
  for (auto* p : {&ratio, &gemm}) p->x_label = "width W (784-W-W-10)", p->y_label = "ratio", p->y_min = 1.0;
  ratio.y_max = 1.3;  // the target line inside the picture
  gemm.y_max = 1.5;
  const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
  for (std::size_t j = 0; j < batches.size(); ++j) {
    ad::nn::Series a;
    a.name = fmt::format("batch {}", batches[j]);
    a.color = colors[j % 4];
    ad::nn::Series g = a;
    for (const auto& r : results)
      if (r.shape.batch == batches[j]) {
        a.x.push_back(double(r.shape.width)), a.y.push_back(r.ratio());
        g.x.push_back(double(r.shape.width)), g.y.push_back(r.ratio_gemm());
      }
    ratio.series.push_back(a);
    gemm.series.push_back(g);
  }
  ad::nn::Series target;
  target.name = "target 1.15", target.color = "#7f7f7f", target.dashed = true;
  for (auto w : widths) target.x.push_back(double(w)), target.y.push_back(1.15);
  ratio.series.push_back(target);
  return ad::nn::line_chart_svg(
      {ratio, gemm}, "One Adam training step, float32, 2 threads: the engine against the hand-written floor");
}

}  // namespace

int main(int argc, char** argv) {
  std::string svg, only;
  std::size_t reps = 45, only_width = 0, only_batch = 0, adam_threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--svg") svg = argv[i + 1];
    else if (a == "--reps") reps = std::stoul(argv[i + 1]);
    else if (a == "--width") only_width = std::stoul(argv[i + 1]);
    else if (a == "--batch") only_batch = std::stoul(argv[i + 1]);
    else if (a == "--only") only = argv[i + 1];
    else if (a == "--adam-threads") adam_threads = std::stoul(argv[i + 1]);
    else {
      fmt::print(stderr, "scaling: unknown option {} (valid: --svg PATH, --reps N, --width W, --batch B, "
                         "--only engine|floor, --adam-threads 1|2)\n", a);
      return 2;
    }
  }
  if (argc % 2 == 0) {
    fmt::print(stderr, "scaling: option {} needs a value\n", argv[argc - 1]);
    return 2;
  }
  if (!only.empty() && only != "engine" && only != "floor") {
    fmt::print(stderr, "scaling: --only takes engine or floor, not {}\n", only);
    return 2;
  }
  const std::vector<std::size_t> widths = {256, 512, 1024, 2048}, batches = {128, 512};
  TwoThreads threads;
  std::vector<Result> results;
  const auto t0 = Clock::now();
  for (auto bsz : batches)
    for (auto w : widths) {
      if ((only_width && w != only_width) || (only_batch && bsz != only_batch)) continue;
      const std::size_t n = std::max<std::size_t>(10, w <= 512 ? reps : w == 1024 ? reps / 2 : reps / 3);
      results.push_back(run_shape({w, bsz}, n, only != "floor", only != "engine", adam_threads == 1 ? nullptr : &threads));
      const auto& r = results.back();
      fmt::print(stderr, "W {:>4} batch {:>3}: engine {:.2f} ms, floor {:.2f} ms ({:.2f}x), GEMM-only {:.2f} ms\n", w,
                 bsz, r.engine.median, r.floor.median, r.ratio(), r.gemm.median);
    }
  if (results.empty()) {
    fmt::print(stderr, "scaling: no shape matches --width {} --batch {}\n", only_width, only_batch);
    return 2;
  }
  fmt::print("One training step of 784-W-W-10 (ReLU, softmax + cross-entropy, Adam, float32), ms: median [min, max]\n"
             "over the repetitions after 3 warm-up steps; floor = hand-written step (8 sgemm + fused elementwise +\n"
             "one Adam pass on 2 threads); overhead = (engine - floor) per parameter. Total {:.0f} s.\n\n",
             seconds_since(t0));
  fmt::print("| W | batch | params | reps | engine ms | floor ms (its Adam pass) | GEMM-only ms | engine / floor | "
             "min / min | engine / GEMM | overhead ns/param | max err |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::string kv;
  double max_ratio = 0, max_err = 0;
  for (const auto& r : results) {
    fmt::print("| {} | {} | {} | {} | {:.2f} [{:.2f}, {:.2f}] | {:.2f} [{:.2f}, {:.2f}] ({:.2f}) | {:.2f} | {:.2f} | "
               "{:.2f} | {:.2f} | {:.2f} | {:.2g} |\n",
               r.shape.width, r.shape.batch, r.params, r.reps, r.engine.median, r.engine.min, r.engine.max,
               r.floor.median, r.floor.min, r.floor.max, r.floor_adam.median, r.gemm.median, r.ratio(),
               r.ratio_min(), r.ratio_gemm(), (r.engine.median - r.floor.median) * 1e6 / double(r.params), r.max_err);
    const std::string p = fmt::format("scaling_w{}_b{}_", r.shape.width, r.shape.batch);
    kv += fmt::format("{0}engine_ms={1:.3f} {0}floor_ms={2:.3f} {0}gemm_ms={3:.3f} {0}ratio={4:.3f} "
                      "{0}ratio_min={5:.3f} {0}ratio_to_gemm={6:.3f} {0}max_err={7:.3g} ",
                      p, r.engine.median, r.floor.median, r.gemm.median, r.ratio(), r.ratio_min(), r.ratio_gemm(),
                      r.max_err);
    max_ratio = std::max(max_ratio, r.ratio());
    max_err = std::isnan(r.max_err) ? r.max_err : std::max(max_err, r.max_err);
  }
  if (!svg.empty()) {
    ad::nn::write_text_file(svg, plot(results, widths, batches));
    fmt::print("\nplot: {}\n", svg);
  }
  fmt::print("{}scaling_max_ratio={:.3f} scaling_max_err={:.3g}\n", kv, max_ratio, max_err);
}
