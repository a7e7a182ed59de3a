// L-BFGS with a strong-Wolfe line search: torch.optim.LBFGS's algorithm and options, for a
// network's Parameters (LBFGS) and for a plain function of a vector (minimize_lbfgs).
//
// L-BFGS is a quasi-Newton method: from the last history_size pairs of steps s = x_{k+1} - x_k
// and gradient changes y = g_{k+1} - g_k it builds an approximation of the inverse Hessian and
// moves along d = -H g (the two-loop recursion), so on a smooth function it takes far fewer
// iterations than gradient descent. Each iteration evaluates the loss and its full gradient one
// or more times: it is a full-batch method, for small and medium problems with smooth losses
// (docs/training.md, "L-BFGS").
//
//   ad::nn::LBFGS<double> opt(net.parameters(), {.max_iter = 20});
//   for (int epoch = 0; epoch < 50; ++epoch)
//     opt.step([&] {                      // the closure: zero the gradients, loss, backward
//       tape.clear();
//       opt.zero_grad();
//       auto loss = ...;                  // recorded on the tape from the parameters
//       tape.backward(loss);
//       return loss.item();
//     });
//   opt.state().loss, opt.state().grad_norm, opt.state().iterations, opt.stop_message() ...
//
// step(closure) is PyTorch's LBFGS.step with line_search_fn="strong_wolfe" (or None: a fixed
// step of lr, LineSearch::none), the same options and defaults, the same stopping tests in the
// same order, and the same state kept from one step to the next (the curvature pairs, the last
// direction and step); the line search uses its own tolerance 1e-9 on the bracket, whatever
// tolerance_change is (PyTorch does not pass it on). The numbers are stored as T; dot products
// and norms are summed in double.
// Unlike PyTorch:
//   * a NaN or infinite loss or gradient from the closure throws LBFGSNonFiniteError (a
//     ValueError naming LBFGS) with the parameters put back at the last point whose loss and
//     gradient were finite, instead of carrying the NaN on;
//   * after step() every Parameter::grad holds the gradient that goes with state().loss (the
//     line search may have evaluated other points after it);
//   * the state reports why the iterations stopped (LBFGSStop) and the gradient's norm.
#pragma once

#include <ad/error.hpp>
#include <ad/nn/optim.hpp>

#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace ad::nn {

/// How LBFGS chooses the step length along its direction d.
enum class LineSearch {
  none,          // a fixed step t = lr (the first iteration ever: min(1, 1 / sum |g|) lr), no search
  strong_wolfe,  // search t from lr for the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9)
};

/// torch.optim.LBFGS's options and defaults, line search strong_wolfe.
struct LBFGSOptions {
  double lr = 1;                  // the first trial step of every iteration (the fixed step without a search)
  int max_iter = 20;              // iterations per step()
  std::optional<int> max_eval{};  // closure calls per step(); default max_iter * 5 / 4 (integer division)
  double tolerance_grad = 1e-7;   // stop when max |gradient entry| <= this
  double tolerance_change = 1e-9; // stop when the step, or the loss change, is below this
  int history_size = 100;         // (s, y) pairs kept; memory 2 history_size numbers per parameter
  LineSearch line_search = LineSearch::strong_wolfe;
};

/// Why the iterations of the last step() ended (PyTorch's tests, in the order it makes them).
enum class LBFGSStop {
  none,                    // no step() yet (or one is running: what on_iteration sees mid-step)
  gradient,                // max |g| <= tolerance_grad: converged
  max_iter,                // max_iter iterations done in this step()
  max_eval,                // max_eval closure calls done in this step()
  directional_derivative,  // g . d > -tolerance_change: no descent along the new direction
  step_change,             // max |t d| <= tolerance_change: the parameters stopped moving
  loss_change,             // |loss - previous loss| < tolerance_change: the loss stopped moving
  callback,                // on_iteration returned false
};
/// "gradient", "max_iter", "max_eval", "directional_derivative", "step_change", "loss_change",
/// "callback", "none".
const char* stop_name(LBFGSStop stop);

/// What LBFGS reports (state()); counts include every step() since construction or reset().
struct LBFGSState {
  std::size_t iterations = 0;        // PyTorch's state["n_iter"]
  std::size_t evaluations = 0;       // closure calls, PyTorch's state["func_evals"]
  std::size_t step_iterations = 0;   // of the last step()
  std::size_t step_evaluations = 0;  // of the last step()
  double loss = std::numeric_limits<double>::quiet_NaN();        // the latest accepted loss
  double grad_norm = std::numeric_limits<double>::quiet_NaN();   // L2 norm of its gradient
  double grad_max = std::numeric_limits<double>::quiet_NaN();    // max |entry| of it (vs tolerance_grad)
  double start_loss = std::numeric_limits<double>::quiet_NaN();  // at the start of the last step() (its return value)
  double first_loss = std::numeric_limits<double>::quiet_NaN();  // at the first evaluation since construction/reset()
  double step_size = 0;              // t of the last iteration: the parameters moved by t d
  std::size_t history = 0;           // (s, y) pairs held
  // false when the last iteration of a fixed-step (LineSearch::none) step() moved the parameters
  // without evaluating the loss there (as PyTorch: its last iteration does not re-evaluate);
  // loss and the gradients are then those of the point before that move.
  bool loss_current = true;
  LBFGSStop stop = LBFGSStop::none;
};

/// A closure returned a NaN or infinite loss, or a gradient with such an entry. The parameters
/// are back at the last point whose loss and gradient were finite.
struct LBFGSNonFiniteError : ValueError {
  LBFGSNonFiniteError(const std::string& message, double loss, std::size_t evaluation)
      : ValueError(message), loss(loss), evaluation(evaluation) {}
  double loss;             // the loss the closure returned (finite if only the gradient was not)
  std::size_t evaluation;  // 1-based count of closure calls since construction or reset()
};

template <class T>
class LBFGS : public Optimizer<T> {
 public:
  /// Recomputes the loss at the parameters' current values: zeroes their gradients, records the
  /// loss, sweeps backward (filling Parameter::grad) and returns the loss.
  using Closure = std::function<double()>;

  /// Throws ValueError naming LBFGS for an empty parameter list (or parameters without entries)
  /// and for bad options (history_size < 1, max_iter < 1, max_eval < 1, lr <= 0, a negative or
  /// NaN tolerance).
  LBFGS(std::vector<Parameter<T>*> params, const LBFGSOptions& options = {});

  /// Up to options.max_iter L-BFGS iterations, each calling closure() one or more times (see
  /// the top of this file). Returns the loss of its first evaluation, before any update (as
  /// PyTorch's step). The learning rate is Optimizer::lr (schedules may change it between steps).
  double step(const Closure& closure);
  /// L-BFGS needs a closure: throws ValueError saying so.
  void step() override;
  std::string name() const override { return "lbfgs"; }

  const LBFGSState& state() const { return state_; }
  /// Why the last step() stopped, in words with the figures: "max |gradient| 8.2e-11 <=
  /// tolerance_grad 1e-10", "max_iter: 20 iterations in this step", ...
  std::string stop_message() const;
  /// Forgets the curvature pairs, the direction and the counts: the next step() starts afresh.
  void reset();

  /// The options of the next step() (checked when it starts). lr here is only the initial
  /// value of Optimizer::lr.
  LBFGSOptions options;
  /// Called after every iteration with the state (stop is set on the last iteration of a
  /// step(), none before); returning false ends the step() (stop = callback).
  std::function<bool(const LBFGSState&)> on_iteration{};

 private:
  struct Pair {
    std::vector<T> s, y;
    double rho = 0;  // 1 / (y . s)
  };
  struct GradStats {
    double max_abs = 0, sum_abs = 0, norm = 0;
    bool finite = true;
  };
  void check_options() const;
  GradStats gather_grad(std::vector<T>& g) const;
  void scatter_grad(const std::vector<T>& g);
  void read_params(std::vector<T>& x) const;
  void write_params(const std::vector<T>& x);
  void write_params(const std::vector<T>& x, double t, const std::vector<T>& d);  // x + t d
  // at: 0 the start of a step, 1 the line search, 2 after a fixed step (for messages)
  double evaluate(const Closure& closure, std::vector<T>& g, GradStats& stats, int at);
  void direction();  // d_ from g_, g_prev_ and the history (the two-loop recursion)

  std::size_t n_ = 0;
  std::vector<T> g_, g_prev_, d_, x0_, slots_[3];
  std::deque<Pair> history_;
  Pair spare_;  // the candidate pair (and the buffers of the last one dropped)
  std::vector<double> al_;
  double step_t_ = 0, h_diag_ = 1, prev_loss_ = 0;
  double last_gtd_ = 0, last_step_max_ = 0, last_loss_change_ = 0;
  LBFGSState state_;
};

// ---- the line search on its own ----------------------------------------------------------
/// phi(t) = f(x + t d) and its slope phi'(t) = grad f(x + t d) . d.
struct LineSearchValue {
  double f = 0, slope = 0;
};

struct WolfeOptions {
  double c1 = 1e-4;                // sufficient decrease: phi(t) <= phi(0) + c1 t phi'(0)
  double c2 = 0.9;                 // curvature: |phi'(t)| <= c2 |phi'(0)|
  double tolerance_change = 1e-9;  // stop zooming when the bracket is this short (times d_max)
  int max_evaluations = 25;        // PyTorch's max_ls
};

struct WolfeResult {
  double t = 0, f = 0, slope = 0;  // the accepted point: phi(t), phi'(t)
  int slot = -1;                   // the buffer of its evaluation (-1: t = 0, the start)
  std::size_t evaluations = 0;     // calls of phi
  bool satisfied = false;          // the strong Wolfe conditions hold at t (else: the best point
                                   // found when the bracket shrank below tolerance or
                                   // max_evaluations ran out)
};

/// The strong-Wolfe line search of PyTorch's LBFGS (Nocedal and Wright, algorithms 3.5 and 3.6):
/// from the trial step t0, extrapolate (cubic interpolation, bounded to [t + 0.01 (t - t_prev),
/// 10 t]) until an interval is bracketed, then zoom into it by safeguarded cubic interpolation.
/// phi(t, slot) evaluates the function at step t; slot (0, 1 or 2) names a buffer for whatever
/// the caller keeps of the evaluation (LBFGS: the gradient), never one that still holds a point
/// of the current bracket, so the accepted point's buffer is result.slot. f0 = phi(0), slope0 =
/// phi'(0) < 0 (a descent direction, else ValueError), d_max = max |d| (scales the bracket
/// length for the tolerance test; 1 for a one-dimensional phi).
WolfeResult strong_wolfe_search(const std::function<LineSearchValue(double t, int slot)>& phi, double f0,
                                double slope0, double t0, double d_max = 1, const WolfeOptions& options = {});

/// The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped into
/// [lo, hi] (default: the interval between x1 and x2); the middle of [lo, hi] when the cubic
/// has no minimizer.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                         std::optional<double> lo = std::nullopt, std::optional<double> hi = std::nullopt);

// ---- a plain function --------------------------------------------------------------------
/// minimize_lbfgs's options: LBFGSOptions for one step() of up to max_iter iterations (default
/// 1000, not 20: this is the whole minimization), and a progress callback.
struct MinimizeOptions {
  double lr = 1;
  int max_iter = 1000;
  std::optional<int> max_eval{};  // default max_iter * 5 / 4
  double tolerance_grad = 1e-7;
  double tolerance_change = 1e-9;
  int history_size = 100;
  LineSearch line_search = LineSearch::strong_wolfe;
  std::function<bool(const LBFGSState&)> on_iteration{};  // as LBFGS::on_iteration
};

template <class X>
struct MinimizeResult {
  X x;                      // the minimizer found
  double f = 0;             // f(x) (see state.loss_current for LineSearch::none)
  double grad_norm = 0;     // L2 norm of the gradient at x
  double grad_max = 0;      // its max |entry|
  std::size_t iterations = 0, evaluations = 0;
  LBFGSStop stop = LBFGSStop::none;
  std::string message;      // LBFGS::stop_message()
  bool converged() const { return stop == LBFGSStop::gradient; }
};

/// Minimizes f from x0 by L-BFGS. f(x, grad) returns f(x) and writes the gradient into grad,
/// which comes shaped like x and filled with zeros (so `+=` works); compute it with the tape
/// (tape.parameter(x, &grad) and backward(), or ad::gradient on the scalar tape). Throws as
/// LBFGS (an empty x0, bad options, a non-finite value) and ShapeError when f reshapes grad.
MinimizeResult<xt::xarray<double>> minimize_lbfgs(
    const std::function<double(const xt::xarray<double>& x, xt::xarray<double>& grad)>& f, xt::xarray<double> x0,
    const MinimizeOptions& options = {});
/// The same for std::vector<double>.
MinimizeResult<std::vector<double>> minimize_lbfgs(
    const std::function<double(const std::vector<double>& x, std::vector<double>& grad)>& f, std::vector<double> x0,
    const MinimizeOptions& options = {});

extern template class LBFGS<float>;
extern template class LBFGS<double>;

}  // namespace ad::nn
