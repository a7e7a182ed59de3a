// Newton's method with the exact Hessian (see newton.hpp): the gradient and the Hessian from the
// tape, a dense Cholesky factorization with Levenberg damping when it fails, backtracking on the
// loss. The factorization is written here rather than taken from LAPACK: it must report failure
// (not throw) many times in the damping loop, it is a dozen lines, and at the sizes Newton is
// for (N <= a few thousand) it costs less than the N Hessian-vector products before it.
#include <ad/nn/newton.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace ad::nn {

const char* stop_name(NewtonStop s) {
  switch (s) {
    case NewtonStop::none: return "none";
    case NewtonStop::gradient: return "gradient";
    case NewtonStop::max_iter: return "max_iter";
    case NewtonStop::line_search: return "line_search";
    case NewtonStop::step_change: return "step_change";
    case NewtonStop::callback: return "callback";
  }
  return "none";
}

namespace {

// In place: the lower triangle of the n x n row-major matrix a becomes L with L L^T = a (the
// upper triangle is not read). Row by row (Cholesky-Banachiewicz), so every inner loop is a dot
// product of two contiguous row prefixes. false when a pivot is not above `floor` (not positive
// definite, to working precision) or not finite.
bool cholesky(std::vector<double>& a, std::size_t n, double floor) {
  for (std::size_t j = 0; j < n; ++j) {
    double* lj = &a[j * n];
    for (std::size_t k = 0; k < j; ++k) {
      const double* lk = &a[k * n];
      double s = lj[k];
      for (std::size_t m = 0; m < k; ++m) s -= lj[m] * lk[m];
      lj[k] = s / lk[k];
    }
    double s = lj[j];
    for (std::size_t m = 0; m < j; ++m) s -= lj[m] * lj[m];
    if (!(s > floor) || !std::isfinite(s)) return false;
    lj[j] = std::sqrt(s);
  }
  return true;
}

// b <- (L L^T)^-1 b for the factor of cholesky().
void cholesky_solve(const std::vector<double>& l, std::size_t n, std::vector<double>& b) {
  for (std::size_t i = 0; i < n; ++i) {  // L y = b
    const double* li = &l[i * n];
    double s = b[i];
    for (std::size_t k = 0; k < i; ++k) s -= li[k] * b[k];
    b[i] = s / li[i];
  }
  for (std::size_t i = n; i-- > 0;) {  // L^T x = y, row i of L subtracted once x_i is known
    const double* li = &l[i * n];
    b[i] /= li[i];
    for (std::size_t k = 0; k < i; ++k) b[k] -= li[k] * b[i];
  }
}

// A number for a message: NaN as "nan" whatever its sign bit (which depends on the instruction
// set that produced it).
std::string number(double v) { return std::isnan(v) ? std::string("nan") : fmt::format("{}", v); }

std::string megabytes(std::size_t n) { return fmt::format("{:.0f} MB", double(n) * double(n) * 8 / 1e6); }

}  // namespace

template <class T>
Newton<T>::Newton(std::vector<Parameter<T>*> params, const NewtonOptions& o)
    : Optimizer<T>(std::move(params), 1.0), options(o) {
  if (this->params_.empty())
    throw ValueError("Newton: the parameter list is empty; give it the parameters to optimize");
  for (auto* p : this->params_) {
    if (!p) throw ValueError("Newton: a parameter pointer is null");
    n_ += p->size();
  }
  if (n_ == 0) throw ValueError("Newton: the parameters have no entries; give it the parameters to optimize");
  check_options();
  x_.resize(n_);
  g_.resize(n_);
  d_.resize(n_);
}

template <class T>
void Newton<T>::check_options() const {
  const auto& o = options;
  if (n_ > o.max_parameters)
    throw ValueError(fmt::format(
        "Newton: {} parameter values, more than max_parameters = {}: the dense Hessian would be {} x {} ({} in "
        "double) and each iteration {} Hessian-vector products; use LBFGS for a model this size, or raise "
        "NewtonOptions::max_parameters",
        n_, o.max_parameters, n_, n_, megabytes(n_), n_));
  if (o.max_iter < 1) throw ValueError(fmt::format("Newton: max_iter must be >= 1, got {}", o.max_iter));
  if (!(o.tolerance_grad >= 0))
    throw ValueError(fmt::format("Newton: tolerance_grad must be >= 0, got {}", o.tolerance_grad));
  if (!(o.tolerance_change >= 0))
    throw ValueError(fmt::format("Newton: tolerance_change must be >= 0, got {}", o.tolerance_change));
  if (!(o.c1 > 0 && o.c1 < 1)) throw ValueError(fmt::format("Newton: c1 must be in (0, 1), got {}", o.c1));
  if (!(o.backtrack > 0 && o.backtrack < 1))
    throw ValueError(fmt::format("Newton: backtrack must be in (0, 1), got {}", o.backtrack));
  if (o.max_backtracks < 0)
    throw ValueError(fmt::format("Newton: max_backtracks must be >= 0, got {}", o.max_backtracks));
  if (!(o.damping_start > 0) || !std::isfinite(o.damping_start))
    throw ValueError(fmt::format("Newton: damping_start must be positive and finite, got {}", o.damping_start));
  if (!(o.damping_factor > 1) || !std::isfinite(o.damping_factor))
    throw ValueError(fmt::format("Newton: damping_factor must be > 1 and finite, got {}", o.damping_factor));
}

template <class T>
void Newton<T>::step() {
  throw ValueError("Newton: step() needs the loss function, to take its Hessian: call step(loss), loss(tape) "
                   "recording the loss from the parameters");
}

template <class T>
void Newton<T>::read_params(std::vector<T>& x) const {
  std::size_t at = 0;
  for (auto* p : this->params_) {
    std::copy(p->value.data(), p->value.data() + p->size(), x.data() + at);
    at += p->size();
  }
}

template <class T>
void Newton<T>::write_params(const std::vector<T>& x) {
  std::size_t at = 0;
  for (auto* p : this->params_) {
    std::copy(x.data() + at, x.data() + at + p->size(), p->value.data());
    at += p->size();
  }
}

template <class T>
void Newton<T>::write_params(const std::vector<T>& x, double t, const std::vector<double>& d) {
  std::size_t at = 0;
  for (auto* p : this->params_) {
    T* v = p->value.data();
    for (std::size_t k = 0; k < p->size(); ++k, ++at) v[k] = static_cast<T>(double(x[at]) + t * d[at]);
  }
}

template <class T>
void Newton<T>::write_grads() const {
  std::size_t at = 0;
  for (auto* p : this->params_) {
    if (p->grad.size() != p->size()) p->grad = xt::zeros<T>(p->value.shape());
    std::copy(g_.data() + at, g_.data() + at + p->size(), p->grad.data());
    at += p->size();
  }
}

template <class T>
double Newton<T>::record(const LossFn<T>& loss) {
  tape_.clear();
  y_ = loss(tape_);
  ++state_.evaluations;
  if (!y_.belongs_to(tape_))
    throw TapeError("Newton: the loss function must record the loss on the tape it is given (and return it)");
  if (y_.size() != 1)
    throw ShapeError(fmt::format("Newton: the loss has shape {}; it must be a single value (reduce it with mean() "
                                 "or sum())",
                                 shape_str(y_.shape())));
  xs_.clear();
  for (auto* p : this->params_) xs_.push_back(p->on(tape_));
  return static_cast<double>(y_.item());
}

template <class T>
void Newton<T>::gradient_at_recording() {
  const auto grads = tape_.grad(y_, xs_);
  std::size_t at = 0;
  double sq = 0, mx = 0;
  bool finite = true;
  for (const auto& b : grads)
    for (std::size_t k = 0; k < b.size(); ++k, ++at) {
      const T v = b.data()[k];
      g_[at] = v;
      finite = finite && std::isfinite(v);
      sq += double(v) * double(v);
      mx = std::max(mx, std::fabs(double(v)));
    }
  state_.grad_norm = finite ? std::sqrt(sq) : std::numeric_limits<double>::quiet_NaN();
  state_.grad_max = finite ? mx : std::numeric_limits<double>::quiet_NaN();
}

// The direction d_ from (H + lambda I) d = -g, H the Hessian of the current recording, with the
// smallest lambda of the damping sequence that lets H + lambda I factor. false: H has a
// non-finite entry.
template <class T>
bool Newton<T>::solve(std::size_t iteration) {
  const xt::xarray<T> hess = tape_.hessian(y_, xs_);
  ++state_.hessians;
  const std::size_t n = n_;
  std::vector<double> hd(n * n);
  double scale = 0, min_diag = HUGE_VAL;
  for (std::size_t k = 0; k < n * n; ++k) {
    hd[k] = static_cast<double>(hess.data()[k]);
    if (!std::isfinite(hd[k])) {
      const std::size_t r = k / n, c = k % n;
      throw ValueError(fmt::format("Newton: the Hessian at iteration {} has a non-finite entry {} (row {}, column "
                                   "{}); the parameters are back at the last point where it was finite",
                                   iteration, number(hd[k]), r, c));
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    scale = std::max(scale, std::fabs(hd[i * n + i]));
    min_diag = std::min(min_diag, hd[i * n + i]);
  }
  if (scale == 0) scale = 1;
  // A pivot at or below this is rounding noise: the matrix is singular to working precision.
  const double floor = double(n) * std::numeric_limits<T>::epsilon() * scale;
  double lambda = 0;
  for (int attempt = 0;; ++attempt) {
    h_ = hd;
    for (std::size_t i = 0; i < n; ++i) h_[i * n + i] += lambda;
    if (cholesky(h_, n, floor)) break;
    const double b = options.damping_start * scale;
    if (attempt == 0)
      lambda = min_diag <= 0 ? b - min_diag : b;
    else
      lambda *= options.damping_factor;
    if (attempt > 2000 || !std::isfinite(lambda))  // cannot happen for a finite H: lambda > n max|H_ij| factors
      throw ValueError(fmt::format("Newton: H + lambda I did not factor at iteration {} even with lambda = {:.3g}",
                                   iteration, lambda));
  }
  state_.damping = lambda;
  if (lambda > 0) ++state_.damped_iterations;
  state_.max_damping = std::max(state_.max_damping, lambda);
  for (std::size_t i = 0; i < n; ++i) d_[i] = -static_cast<double>(g_[i]);
  cholesky_solve(h_, n, d_);
  return true;
}

template <class T>
double Newton<T>::step(const LossFn<T>& loss) {
  if (!loss) throw ValueError("Newton: step(loss) got an empty loss function");
  check_options();
  const auto& o = options;
  state_.step_iterations = 0;
  state_.max_damping = 0;
  state_.damping = 0;
  state_.backtracks = 0;
  state_.stop = NewtonStop::none;

  read_params(x_);
  double f = record(loss);
  if (!std::isfinite(f))
    throw ValueError(fmt::format("Newton: the loss at the starting point is {}; start from parameters where it is "
                                 "finite",
                                 number(f)));
  gradient_at_recording();
  if (!std::isfinite(state_.grad_norm))
    throw ValueError("Newton: the gradient at the starting point has a non-finite entry");
  state_.loss = state_.start_loss = f;
  state_.start_grad_norm = state_.grad_norm;
  const double slack_units = 4 * std::numeric_limits<T>::epsilon();

  try {
    for (;;) {
      if (state_.grad_norm <= o.tolerance_grad) {
        state_.stop = NewtonStop::gradient;
        break;
      }
      if (state_.step_iterations >= static_cast<std::size_t>(o.max_iter)) {
        state_.stop = NewtonStop::max_iter;
        break;
      }
      const std::size_t iteration = state_.iterations + 1;
      solve(iteration);
      double gd = 0, d_max = 0;
      for (std::size_t i = 0; i < n_; ++i) {
        gd += double(g_[i]) * d_[i];
        d_max = std::max(d_max, std::fabs(d_[i]));
      }
      state_.decrement = std::sqrt(std::max(0.0, -gd));

      // Line search: t = 1, backtrack, backtrack^2, ...; each trial is a fresh recording, and
      // the accepted one stays on the tape for the next gradient and Hessian.
      double t = 1, f_new = f;
      bool accepted = false;
      state_.backtracks = 0;
      for (int trial = 0; trial <= (o.line_search ? o.max_backtracks : 0); ++trial) {
        write_params(x_, t, d_);
        f_new = record(loss);
        if (!o.line_search) {
          if (!std::isfinite(f_new))
            throw ValueError(fmt::format("Newton: the loss after the full step of iteration {} is {}; turn the "
                                         "line search on (line_search = true) to shorten such steps",
                                         iteration, number(f_new)));
          accepted = true;
          break;
        }
        if (std::isfinite(f_new) && f_new <= f + o.c1 * t * gd + slack_units * std::fabs(f)) {
          accepted = true;
          break;
        }
        ++state_.backtracks;
        t *= o.backtrack;
      }
      if (!accepted) {  // back to x, whose recording the trials replaced
        write_params(x_);
        record(loss);
        gradient_at_recording();
        state_.stop = NewtonStop::line_search;
        break;
      }
      gradient_at_recording();
      if (!std::isfinite(state_.grad_norm))
        throw ValueError(fmt::format("Newton: the gradient after iteration {} has a non-finite entry (loss {}); the "
                                     "parameters are back at the point before it",
                                     iteration, f_new));
      read_params(x_);
      f = f_new;
      state_.loss = f;
      state_.step_size = t;
      ++state_.iterations;
      ++state_.step_iterations;
      last_step_max_ = t * d_max;
      if (last_step_max_ <= o.tolerance_change) {
        state_.stop = NewtonStop::step_change;
        break;
      }
      if (on_iteration && !on_iteration(state_)) {
        state_.stop = NewtonStop::callback;
        break;
      }
    }
  } catch (...) {
    // Leave the parameters at the last accepted point (x_), its loss in the state.
    write_params(x_);
    throw;
  }
  write_grads();
  return state_.start_loss;
}

template <class T>
std::string Newton<T>::stop_message() const {
  const auto& s = state_;
  const auto& o = options;
  switch (s.stop) {
    case NewtonStop::none: return "no step() yet";
    case NewtonStop::gradient:
      return fmt::format("gradient norm {:.3g} <= tolerance_grad {:.3g} after {} iterations", s.grad_norm,
                         o.tolerance_grad, s.step_iterations);
    case NewtonStop::max_iter:
      return fmt::format("max_iter: {} iterations in this step, gradient norm {:.3g} (tolerance_grad {:.3g})",
                         s.step_iterations, s.grad_norm, o.tolerance_grad);
    case NewtonStop::line_search:
      return fmt::format("line search: no step along the Newton direction lowered the loss {:.17g} enough after {} "
                         "trials (gradient norm {:.3g}; tolerance_grad {:.3g} may be below its rounding level)",
                         s.loss, s.backtracks, s.grad_norm, o.tolerance_grad);
    case NewtonStop::step_change:
      return fmt::format("step_change: the last step moved no parameter by more than {:.3g} <= tolerance_change "
                         "{:.3g}",
                         last_step_max_, o.tolerance_change);
    case NewtonStop::callback:
      return fmt::format("callback: on_iteration stopped after {} iterations", s.step_iterations);
  }
  return "";
}

template <class T>
NewtonResult<T> minimize_newton(const std::function<Var<T>(const Var<T>& x)>& f, xt::xarray<T> x0,
                                const NewtonOptions& options,
                                const std::function<bool(const NewtonState&)>& on_iteration) {
  if (!f) throw ValueError("minimize_newton: f is empty");
  if (x0.size() == 0) throw ValueError("minimize_newton: x0 is empty; give it the starting point");
  Parameter<T> p("x", std::vector<std::size_t>(x0.shape().begin(), x0.shape().end()), false);
  p.value = std::move(x0);
  Newton<T> opt({&p}, options);
  opt.on_iteration = on_iteration;
  opt.step([&](Tape<T>& tape) { return f(p.on(tape)); });
  const auto& s = opt.state();
  NewtonResult<T> r;
  r.x = p.value;
  r.f = s.loss;
  r.grad_norm = s.grad_norm;
  r.iterations = s.iterations;
  r.evaluations = s.evaluations;
  r.hessians = s.hessians;
  r.damped_iterations = s.damped_iterations;
  r.stop = s.stop;
  r.message = opt.stop_message();
  return r;
}

template class Newton<float>;
template class Newton<double>;
template NewtonResult<float> minimize_newton<float>(const std::function<Var<float>(const Var<float>&)>&,
                                                    xt::xarray<float>, const NewtonOptions&,
                                                    const std::function<bool(const NewtonState&)>&);
template NewtonResult<double> minimize_newton<double>(const std::function<Var<double>(const Var<double>&)>&,
                                                      xt::xarray<double>, const NewtonOptions&,
                                                      const std::function<bool(const NewtonState&)>&);

}  // namespace ad::nn
