// Logistic regression on the breast-cancer data fitted three ways: Newton-Raphson with the exact
// Hessian, L-BFGS and plain gradient descent, side by side.
//
// The model is one Linear(30, 1) layer: p(benign | x) = sigmoid(x w + b). The cost is the mean
// binary cross-entropy (bce_with_logits, computed from the logit z = x w + b) plus a small L2
// penalty (lambda / 2) |w|^2 with lambda = 0.01 on the weights, not the bias. Without it the cost
// has no minimum here: the training rows are (almost) linearly separable, and every method would
// drive |w| towards infinity at its own pace. Data as examples/breast_cancer.cpp: a stratified
// 80/20 split (seed 0), features standardized with statistics of the training rows only.
//
// Newton-Raphson is the method of the course notes for logistic regression,
//   beta <- beta - H^-1 grad C(beta),   H = X^T W X / n + lambda I_w,  W = diag(p_i (1 - p_i)),
// but the gradient and H here come from the tape (ad::nn::Newton: one Hessian-vector product per
// parameter, forward over reverse); the program checks H against that formula at the end. All three
// start from the same initial weights. They stop at gradient norm 1e-10 (Newton), max |gradient|
// 1e-9 (L-BFGS, PyTorch's test; its line search finds no lower loss in double below about 4e-10)
// and gradient norm 1e-6 (gradient descent with the fixed rate 1 / L: its linear rate would need
// thousands more iterations for the last digits).
//
// Last line: newton_iterations=... newton_loss=... newton_grad_norm=... newton_test_accuracy=...
// (the same for lbfgs_ and gd_), hessian_max_err=..., loss_spread=... (largest difference between
// the three final losses), seconds=...
#include <ad/nn/data.hpp>
#include <ad/nn/lbfgs.hpp>
#include <ad/nn/losses.hpp>
#include <ad/nn/metrics.hpp>
#include <ad/nn/module.hpp>
#include <ad/nn/newton.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/second_order.hpp>

#include <fmt/format.h>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

using namespace ad::nn;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kLambda = 0.01;

struct Fit {
  std::string method;
  std::size_t iterations = 0, evaluations = 0;
  double loss = 0, grad_norm = 0, test_accuracy = 0, ms = 0;
};

/// The cost on (x, y): mean BCE of the logits plus (lambda / 2) |w|^2.
ad::Var<double> cost(Linear<double>& model, ad::Tape<double>& tape, const xt::xarray<double>& x,
                     const xt::xarray<double>& y) {
  const auto z = model(tape.constant(x));
  return bce_with_logits(z, tape.constant(y)) + l2_penalty(tape, model.parameters(), kLambda);
}

double norm(const std::vector<Parameter<double>*>& params) {
  double s = 0;
  for (auto* p : params)
    for (double g : p->grad) s += g * g;
  return std::sqrt(s);
}

double test_accuracy(Linear<double>& model, const xt::xarray<double>& x, const std::vector<std::size_t>& labels) {
  ad::Tape<double> tape;
  const auto z = model(tape.constant(x)).value();  // (n, 1) logits: benign when z > 0
  std::vector<std::size_t> predicted(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) predicted[i] = z(i, 0) > 0 ? 1 : 0;
  return accuracy(predicted, labels);
}

/// lambda + the largest eigenvalue of A^T A / (4 n), A = [x 1]: an upper bound on the eigenvalues
/// of the cost's Hessian anywhere (power iteration, 200 steps from all ones).
double curvature_bound(const xt::xarray<double>& x) {
  const std::size_t n = x.shape()[0], m = x.shape()[1] + 1;
  std::vector<double> v(m, 1.0), av(n), w(m);
  double eig = 0;
  for (int k = 0; k < 200; ++k) {
    for (std::size_t i = 0; i < n; ++i) {
      av[i] = v[m - 1];
      for (std::size_t j = 0; j + 1 < m; ++j) av[i] += x(i, j) * v[j];
    }
    std::fill(w.begin(), w.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j + 1 < m; ++j) w[j] += x(i, j) * av[i];
      w[m - 1] += av[i];
    }
    double s = 0;
    for (double e : w) s += e * e;
    s = std::sqrt(s);
    double vv = 0;
    for (double e : v) vv += e * e;
    eig = s / std::sqrt(vv);  // |A^T A v| / |v| -> the largest eigenvalue
    for (std::size_t j = 0; j < m; ++j) v[j] = w[j] / s;
  }
  return eig / (4 * double(n)) + kLambda;
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

int main() {
  const auto t_start = Clock::now();
  Dataset d = load_breast_cancer();
  Split s = train_test_split(d, 0.2, /*seed=*/0, /*stratify=*/true);
  StandardScaler scaler;
  const xt::xarray<double> x_train = scaler.fit_transform(s.train.x), x_test = scaler.transform(s.test.x);
  const std::size_t n = x_train.shape()[0], features = x_train.shape()[1];
  const xt::xarray<double> y_train = xt::reshape_view(s.train.y, {n, std::size_t(1)});
  const auto test_labels = s.test.labels();
  fmt::print("breast cancer: {} training rows, {} test rows, {} features; logistic regression "
             "Linear({}, 1), mean BCE + ({} / 2) |w|^2\n\n",
             n, test_labels.size(), features, features, kLambda);

  const Linear<double> start(features, 1, /*seed=*/0);
  std::vector<Fit> fits;

  // ---- Newton-Raphson, the exact Hessian from the tape ----
  Linear<double> newton_model = start;
  std::vector<double> grad_norms;
  {
    auto params = newton_model.parameters();
    Newton<double> opt(params, {.max_iter = 50, .tolerance_grad = 1e-10});
    fmt::print("Newton-Raphson (H from {} Hessian-vector products per iteration):\n", count_parameters(params));
    fmt::print("{:>4} {:>18} {:>11} {:>6} {:>9} {:>20}\n", "k", "loss", "|grad|", "step", "damping",
               "|g_k| / |g_k-1|^2");
    opt.on_iteration = [&](const NewtonState& st) {
      const double prev = grad_norms.back();
      fmt::print("{:>4} {:>18.15g} {:>11.3e} {:>6.3g} {:>9.2g} {:>20.3g}\n", st.iterations, st.loss, st.grad_norm,
                 st.step_size, st.damping, st.grad_norm / (prev * prev));
      grad_norms.push_back(st.grad_norm);
      return true;
    };
    ad::Tape<double> probe;  // the starting loss and gradient norm, for the first row
    newton_model.zero_grad();
    const auto l0 = cost(newton_model, probe, x_train, y_train);
    probe.backward(l0);
    grad_norms.push_back(norm(params));
    fmt::print("{:>4} {:>18.15g} {:>11.3e}\n", 0, l0.item(), grad_norms.back());

    const auto t0 = Clock::now();
    opt.step([&](ad::Tape<double>& tape) { return cost(newton_model, tape, x_train, y_train); });
    const double ms = ms_since(t0);
    fmt::print("stopped: {}\n\n", opt.stop_message());
    fits.push_back({"Newton-Raphson", opt.state().iterations, opt.state().evaluations, opt.state().loss,
                    opt.state().grad_norm, test_accuracy(newton_model, x_test, test_labels), ms});
  }

  // ---- L-BFGS, strong-Wolfe line search (torch.optim.LBFGS's algorithm) ----
  {
    Linear<double> model = start;
    auto params = model.parameters();
    LBFGS<double> opt(params, {.max_iter = 500, .tolerance_grad = 1e-9, .tolerance_change = 0});
    ad::Tape<double> tape;
    const auto t0 = Clock::now();
    opt.step([&] {
      tape.clear();
      opt.zero_grad();
      const auto l = cost(model, tape, x_train, y_train);
      tape.backward(l);
      return l.item();
    });
    const double ms = ms_since(t0);
    fmt::print("L-BFGS stopped: {}\n", opt.stop_message());
    fits.push_back({"L-BFGS", opt.state().iterations, opt.state().evaluations, opt.state().loss, opt.state().grad_norm,
                    test_accuracy(model, x_test, test_labels), ms});
  }

  // ---- plain gradient descent, full batch, fixed rate ----
  {
    Linear<double> model = start;
    auto params = model.parameters();
    // The fixed rate 1 / L, L a bound on the cost's curvature: sigmoid' <= 1/4, so H <= A^T A / (4 n)
    // + lambda I for A = [X 1], whose largest eigenvalue power iteration finds.
    const double lr = 1 / curvature_bound(x_train);
    SGD<double> opt(params, {.lr = lr});
    ad::Tape<double> tape;
    const int max_iter = 100000;
    double loss = 0, grad_norm = 0;
    std::size_t it = 0;
    const auto t0 = Clock::now();
    for (;; ++it) {
      tape.clear();
      opt.zero_grad();
      const auto l = cost(model, tape, x_train, y_train);
      tape.backward(l);
      loss = l.item();
      grad_norm = norm(params);
      if (grad_norm <= 1e-6 || it == max_iter) break;
      opt.step();
    }
    const double ms = ms_since(t0);
    fmt::print("gradient descent stopped: {} after {} iterations (lr = 1 / L = {:.4f})\n\n",
               grad_norm <= 1e-6 ? "gradient norm <= 1e-6" : "max_iter", it, lr);
    fits.push_back({"gradient descent", it, it + 1, loss, grad_norm, test_accuracy(model, x_test, test_labels), ms});
  }

  // ---- the table ----
  fmt::print("{:<17} {:>10} {:>11} {:>16} {:>10} {:>9} {:>9}\n", "method", "iterations", "evaluations", "final loss",
             "|grad|", "test acc", "ms");
  for (const auto& f : fits)
    fmt::print("{:<17} {:>10} {:>11} {:>16.13g} {:>10.2e} {:>9.4f} {:>9.2f}\n", f.method, f.iterations, f.evaluations,
               f.loss, f.grad_norm, f.test_accuracy, f.ms);
  double lo = fits[0].loss, hi = fits[0].loss;
  for (const auto& f : fits) lo = std::min(lo, f.loss), hi = std::max(hi, f.loss);
  fmt::print("(Newton's evaluations are loss recordings; each of its iterations also computes a {} x {} Hessian)\n",
             features + 1, features + 1);

  // ---- the tape's Hessian against the textbook formula at Newton's solution ----
  // H = [X 1]^T diag(p (1 - p)) [X 1] / n + lambda diag(1, ..., 1, 0), in the order (w, b).
  auto params = newton_model.parameters();
  const xt::xarray<double> h = hessian<double>(
      params, [&](ad::Tape<double>& tape) { return cost(newton_model, tape, x_train, y_train); });
  double hessian_max_err = 0;
  {
    const auto& w = params[0]->value;
    const double b = params[1]->value(0);
    std::vector<double> weight(n);
    for (std::size_t i = 0; i < n; ++i) {
      double z = b;
      for (std::size_t j = 0; j < features; ++j) z += x_train(i, j) * w(j, 0);
      const double p = 1 / (1 + std::exp(-z));
      weight[i] = p * (1 - p);
    }
    const auto column = [&](std::size_t i, std::size_t j) { return j < features ? x_train(i, j) : 1.0; };
    for (std::size_t r = 0; r <= features; ++r)
      for (std::size_t c = 0; c <= features; ++c) {
        double e = r == c && r < features ? kLambda : 0;
        for (std::size_t i = 0; i < n; ++i) e += weight[i] * column(i, r) * column(i, c) / double(n);
        hessian_max_err = std::max(hessian_max_err, std::fabs(h(r, c) - e));
      }
  }
  fmt::print("Hessian from the tape vs X^T W X / n + lambda I at Newton's solution: max difference {:.2e}\n",
             hessian_max_err);

  const double secs = std::chrono::duration<double>(Clock::now() - t_start).count();
  fmt::print(
      "newton_iterations={} newton_loss={:.12f} newton_grad_norm={:.3e} newton_test_accuracy={:.4f} "
      "lbfgs_iterations={} lbfgs_loss={:.12f} lbfgs_grad_norm={:.3e} lbfgs_test_accuracy={:.4f} "
      "gd_iterations={} gd_loss={:.12f} gd_grad_norm={:.3e} gd_test_accuracy={:.4f} hessian_max_err={:.3e} "
      "loss_spread={:.3e} seconds={:.3f}\n",
      fits[0].iterations, fits[0].loss, fits[0].grad_norm, fits[0].test_accuracy, fits[1].iterations, fits[1].loss,
      fits[1].grad_norm, fits[1].test_accuracy, fits[2].iterations, fits[2].loss, fits[2].grad_norm,
      fits[2].test_accuracy, hessian_max_err, hi - lo, secs);
  return fits[0].grad_norm <= 1e-10 ? 0 : 1;
}
