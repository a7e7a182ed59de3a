// Newton's method with the exact Hessian, for small problems: a network's Parameters (Newton)
// or a plain function of one tensor (minimize_newton).
//
// Each iteration records the loss, takes its gradient g and its full Hessian H from the tape
// (Tape::hessian: one Hessian-vector product per parameter value, forward over reverse), solves
//
//     (H + lambda I) d = -g        by a dense Cholesky factorization (lambda = 0 when H is
//                                  positive definite: the pure Newton step)
//
// and moves to x + t d, t = 1 or shorter (backtracking on the loss). Near a minimum with a
// positive definite Hessian the full step is taken and the error is squared at every iteration
// (quadratic convergence): a handful of iterations reach the gradient's rounding level. The
// price is N Hessian-vector products (about 3N gradients) and N^3/6 multiply-adds per iteration
// for N parameter values, and N^2 numbers of memory: for models up to a few thousand values
// (logistic regression, a small network's last layer). Beyond that use LBFGS (<ad/nn/lbfgs.hpp>).
//
//   ad::nn::Newton<double> opt(model.parameters(), {.tolerance_grad = 1e-10});
//   opt.step([&](ad::Tape<double>& tape) {         // records the loss; layers call p->on(tape)
//     return ad::nn::bce_with_logits(model(tape.constant(x)), tape.constant(y));
//   });
//   opt.state().iterations, opt.state().loss, opt.state().grad_norm, opt.stop_message() ...
//
// Details:
//   * Not positive definite (a saddle, a maximum, a non-convex region): the factorization of H
//     fails, and lambda I is added (Levenberg's damping, as Nocedal and Wright's "Cholesky with
//     added multiple of the identity", Algorithm 3.3): first lambda = b, or b - min_i H_ii when a
//     diagonal entry is not positive, with b = damping_start times the Hessian's scale (max |H_ii|,
//     or 1); then lambda is multiplied by damping_factor until the factorization succeeds. The
//     step (H + lambda I)^-1 (-g) is then between a Newton step and a short gradient step, and
//     always a descent direction. lambda starts from 0 again at every iteration, so the pure
//     Newton step returns as soon as H is positive definite. state().damping and
//     damped_iterations report it.
//   * The line search tries t = 1, backtrack, backtrack^2, ... until the loss meets the Armijo
//     condition f(x + t d) <= f(x) + c1 t g.d (with a slack of 4 rounding units of f, so that a
//     full step that changes the loss only by rounding is not refused). A NaN or infinite loss
//     at a trial point counts as too long a step. line_search = false always takes t = 1.
//   * Stopping: the L2 norm of the gradient <= tolerance_grad (converged), or max_iter
//     iterations in this step(), or no step length passes the line search (the loss cannot be
//     lowered along d: usually the rounding floor of a tolerance set too tight), or
//     max |t d| <= tolerance_change, or on_iteration returning false.
//   * The factorization and the solve are written here (row-oriented Cholesky-Banachiewicz) and
//     run in double for float parameters too; the Hessian comes from the tape in T.
//   * After step() the parameters hold the last accepted point and each Parameter::grad holds
//     the gradient that goes with state().loss (overwritten, not accumulated).
//   * Errors (ValueError naming Newton, the parameters put back at the last accepted point): an
//     empty parameter list, more than max_parameters values, bad options, a non-finite loss at
//     the starting point, a non-finite gradient or Hessian entry.
#pragma once

#include <ad/error.hpp>
#include <ad/nn/optim.hpp>
#include <ad/nn/second_order.hpp>

#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace ad::nn {

struct NewtonOptions {
  int max_iter = 50;                  // iterations per step()
  double tolerance_grad = 1e-8;       // converged when the gradient's L2 norm <= this
  double tolerance_change = 0;        // stop when max |t d| <= this (0: never; useful in float)
  bool line_search = true;            // backtracking on the loss; false: always the full step
  double c1 = 1e-4;                   // Armijo's sufficient-decrease constant, in (0, 1)
  double backtrack = 0.5;             // t <- backtrack t after a refused trial, in (0, 1)
  int max_backtracks = 40;            // trials after t = 1 before the line search gives up
  double damping_start = 1e-3;        // b of the first lambda, relative to the Hessian's scale
  double damping_factor = 2;          // lambda <- damping_factor lambda until H + lambda I factors
  std::size_t max_parameters = 2000;  // refuse more values: the dense Hessian is N x N
};

/// Why the iterations of the last step() ended.
enum class NewtonStop {
  none,         // no step() yet (or one is running: what on_iteration sees)
  gradient,     // the gradient's L2 norm <= tolerance_grad: converged
  max_iter,     // max_iter iterations done in this step()
  line_search,  // no trial step lowered the loss enough (the parameters did not move)
  step_change,  // max |t d| <= tolerance_change
  callback,     // on_iteration returned false
};
/// "gradient", "max_iter", "line_search", "step_change", "callback", "none".
const char* stop_name(NewtonStop stop);

/// What Newton reports (state()). Counts add up over every step() since construction.
struct NewtonState {
  std::size_t iterations = 0;         // Newton steps taken
  std::size_t step_iterations = 0;    // of the last step()
  std::size_t evaluations = 0;        // recordings of the loss (the start and every trial point)
  std::size_t hessians = 0;           // Hessians computed (N Hessian-vector products each)
  std::size_t damped_iterations = 0;  // iterations whose Hessian was not positive definite
  double loss = std::numeric_limits<double>::quiet_NaN();        // at the current point
  double grad_norm = std::numeric_limits<double>::quiet_NaN();   // L2 norm of its gradient
  double grad_max = std::numeric_limits<double>::quiet_NaN();    // max |entry| of it
  double start_loss = std::numeric_limits<double>::quiet_NaN();  // at the start of the last step()
  double start_grad_norm = std::numeric_limits<double>::quiet_NaN();
  double step_size = 0;   // t of the last iteration (1: the full Newton step)
  double damping = 0;     // lambda of the last iteration (0: H was positive definite)
  double max_damping = 0; // the largest lambda of the last step()
  double decrement = 0;   // sqrt(-g.d) of the last iteration: sqrt(g' H^-1 g) undamped, and
                          // decrement^2 / 2 estimates loss - minimum near the minimum
  std::size_t backtracks = 0;  // refused trials in the last iteration's line search
  NewtonStop stop = NewtonStop::none;
};

template <class T>
class Newton : public Optimizer<T> {
 public:
  /// Throws ValueError naming Newton for an empty parameter list (or parameters without
  /// entries), a null pointer, or more than options.max_parameters values in all.
  Newton(std::vector<Parameter<T>*> params, const NewtonOptions& options = {});

  /// Up to options.max_iter Newton iterations from the parameters' current values (see the top
  /// of this file). `loss` records the loss on the tape it is given, from these parameters'
  /// leaves (Parameter::on, which the layers call), and returns it (a single value). Returns the
  /// loss at the start, before any update.
  double step(const LossFn<T>& loss);
  /// Newton needs the loss function: throws ValueError saying so.
  void step() override;
  std::string name() const override { return "newton"; }

  const NewtonState& state() const { return state_; }
  /// Why the last step() stopped, in words with the figures: "gradient norm 3.1e-12 <=
  /// tolerance_grad 1e-08 after 7 iterations", ...
  std::string stop_message() const;

  /// The options of the next step() (checked when it starts).
  NewtonOptions options;
  /// Called after every iteration with the state (stop is none until step() returns);
  /// returning false ends the step() (stop = callback).
  std::function<bool(const NewtonState&)> on_iteration{};

 private:
  void check_options() const;
  double record(const LossFn<T>& loss);  // records the loss at the parameters' values
  void gradient_at_recording();                             // g_ and the state's norms
  void read_params(std::vector<T>& x) const;
  void write_params(const std::vector<T>& x);
  void write_params(const std::vector<T>& x, double t, const std::vector<double>& d);
  void write_grads() const;
  bool solve(std::size_t iteration);  // d_ from the Hessian on the tape and g_; false: not finite

  std::size_t n_ = 0;
  Tape<T> tape_;
  Var<T> y_;
  std::vector<Var<T>> xs_;
  std::vector<T> x_, g_;
  std::vector<double> h_, d_;  // the Hessian (then its factor), the direction
  double last_step_max_ = 0;  // max |t d| of the last iteration
  NewtonState state_;
};

/// What minimize_newton returns.
template <class T>
struct NewtonResult {
  xt::xarray<T> x;        // the minimizer found
  double f = 0;           // f(x)
  double grad_norm = 0;   // L2 norm of the gradient at x
  std::size_t iterations = 0, evaluations = 0, hessians = 0, damped_iterations = 0;
  NewtonStop stop = NewtonStop::none;
  std::string message;    // Newton::stop_message()
  bool converged() const { return stop == NewtonStop::gradient; }
};

/// Minimizes f from x0 by Newton's method. f records f(x) from x, a leaf on a tape (any shape of
/// x0), and returns it as a single value:
///   minimize_newton<double>([](const ad::Var<double>& x) { return ad::sum(x * x); }, x0);
/// Throws as Newton (an empty x0, too many entries, bad options, a non-finite value).
template <class T>
NewtonResult<T> minimize_newton(const std::function<Var<T>(const Var<T>& x)>& f, xt::xarray<T> x0,
                                const NewtonOptions& options = {},
                                const std::function<bool(const NewtonState&)>& on_iteration = {});

extern template class Newton<float>;
extern template class Newton<double>;

}  // namespace ad::nn
