// L-BFGS and its strong-Wolfe line search (see lbfgs.hpp). The algorithm is torch.optim.LBFGS's
// (itself after minFunc): the two-loop recursion over the last history_size curvature pairs,
// the first step min(1, 1 / sum |g|) lr, the curvature test y . s > 1e-10 and the scaling
// H0 = (y . s) / (y . y), the stopping tests in its order. Written here from the algorithm's
// description (Nocedal and Wright, Numerical Optimization, ch. 3 and 7).
#include <ad/nn/lbfgs.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace ad::nn {

const char* stop_name(LBFGSStop s) {
  switch (s) {
    case LBFGSStop::none: return "none";
    case LBFGSStop::gradient: return "gradient";
    case LBFGSStop::max_iter: return "max_iter";
    case LBFGSStop::max_eval: return "max_eval";
    case LBFGSStop::directional_derivative: return "directional_derivative";
    case LBFGSStop::step_change: return "step_change";
    case LBFGSStop::loss_change: return "loss_change";
    case LBFGSStop::callback: return "callback";
  }
  return "none";
}

// ---- cubic interpolation and the line search --------------------------------------------------

double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, std::optional<double> lo,
                         std::optional<double> hi) {
  const double left = lo ? *lo : std::min(x1, x2), right = hi ? *hi : std::max(x1, x2);
  // Order the points a < b. The cubic through them with slopes ga, gb has its stationary points
  // where its derivative, a quadratic, vanishes; with
  //   d1 = ga + gb - 3 (fa - fb) / (a - b),   d2 = sqrt(d1^2 - ga gb),
  // the local minimizer is b - (b - a) (gb + d2 - d1) / (gb - ga + 2 d2) (Nocedal and Wright,
  // eq. 3.59). d1^2 < ga gb: the derivative has no real root, no minimizer.
  double a = x1, fa = f1, ga = g1, b = x2, fb = f2, gb = g2;
  if (a > b) std::swap(a, b), std::swap(fa, fb), std::swap(ga, gb);
  const double d1 = ga + gb - 3 * (fa - fb) / (a - b);
  const double d2sq = d1 * d1 - ga * gb;
  if (d2sq >= 0) {
    const double d2 = std::sqrt(d2sq);
    const double m = b - (b - a) * ((gb + d2 - d1) / (gb - ga + 2 * d2));
    if (std::isfinite(m)) return std::min(std::max(m, left), right);
  }
  return (left + right) / 2;
}

WolfeResult strong_wolfe_search(const std::function<LineSearchValue(double, int)>& phi, double f0, double slope0,
                                double t, double d_max, const WolfeOptions& o) {
  if (!(slope0 < 0))
    throw ValueError(fmt::format("LBFGS line search: the slope at t = 0 must be negative (a descent direction), got {}",
                                 slope0));
  if (!(t > 0) || !std::isfinite(t))
    throw ValueError(fmt::format("LBFGS line search: the first trial step must be positive and finite, got {}", t));
  if (!(o.c1 > 0 && o.c1 < o.c2 && o.c2 < 1))
    throw ValueError(fmt::format("LBFGS line search: need 0 < c1 < c2 < 1, got c1 = {}, c2 = {}", o.c1, o.c2));
  if (o.max_evaluations < 1)
    throw ValueError(fmt::format("LBFGS line search: max_evaluations must be >= 1, got {}", o.max_evaluations));

  struct Point {
    double t, f, slope;
    int slot;  // -1: the start, whose data the caller has
  };
  // A buffer that holds neither a nor b.
  const auto free_slot = [](int a, int b) {
    for (int s = 0; s < 3; ++s)
      if (s != a && s != b) return s;
    return 0;
  };
  const double armijo_slope = o.c1 * slope0, curvature = -o.c2 * slope0;
  const auto sufficient_decrease = [&](const Point& p) { return p.f <= f0 + p.t * armijo_slope; };
  const auto flat_enough = [&](const Point& p) { return std::fabs(p.slope) <= curvature; };

  WolfeResult r;
  const Point start{0, f0, slope0, -1};
  const auto eval = [&](double at, int slot) {
    const LineSearchValue v = phi(at, slot);
    ++r.evaluations;
    return Point{at, v.f, v.slope, slot};
  };

  // 1. Bracketing: lengthen the step until [prev, cur] must contain a point of the conditions
  //    (cur fails sufficient decrease, is no lower than prev, or has a nonnegative slope), or
  //    cur satisfies them.
  Point prev = start, cur = eval(t, 0);
  Point br[2] = {start, cur};
  bool done = false, bracketed = false;
  int count = 0;  // evaluations after the first, as PyTorch's ls_iter
  while (count < o.max_evaluations) {
    if (!sufficient_decrease(cur) || (count > 1 && cur.f >= prev.f)) {
      br[0] = prev, br[1] = cur, bracketed = true;
      break;
    }
    if (flat_enough(cur)) {
      br[0] = br[1] = cur, done = true;
      break;
    }
    if (cur.slope >= 0) {  // past a minimum: [prev, cur] holds it
      br[0] = prev, br[1] = cur, bracketed = true;
      break;
    }
    // Still going down steeply: extrapolate, at least a little and at most 10 times further.
    const double next = cubic_interpolate(prev.t, prev.f, prev.slope, cur.t, cur.f, cur.slope,
                                          cur.t + 0.01 * (cur.t - prev.t), cur.t * 10);
    prev = cur;
    cur = eval(next, free_slot(prev.slot, -1));
    ++count;
  }
  if (!done && !bracketed) {  // the evaluations ran out while extrapolating
    br[0] = start, br[1] = cur;
  }

  // 2. Zoom: shrink the bracket around a point of the conditions. lo is the end with the lower
  //    value (it satisfies sufficient decrease), hi the other.
  int lo = br[0].f <= br[1].f ? 0 : 1, hi = 1 - lo;
  bool insufficient = false;
  while (!done && count < o.max_evaluations) {
    if (std::fabs(br[1].t - br[0].t) * d_max < o.tolerance_change) break;
    double next = cubic_interpolate(br[0].t, br[0].f, br[0].slope, br[1].t, br[1].f, br[1].slope);
    // Safeguard: a trial within 10% of the bracket's length from one of its ends moves to that
    // distance when the previous trial was also that close, or when it lies on an end.
    const double high = std::max(br[0].t, br[1].t), low = std::min(br[0].t, br[1].t), eps = 0.1 * (high - low);
    if (std::min(high - next, next - low) < eps) {
      if (insufficient || next >= high || next <= low) {
        next = std::fabs(next - high) < std::fabs(next - low) ? high - eps : low + eps;
        insufficient = false;
      } else {
        insufficient = true;
      }
    } else {
      insufficient = false;
    }
    const Point p = eval(next, free_slot(br[0].slot, br[1].slot));
    ++count;
    if (!sufficient_decrease(p) || p.f >= br[lo].f) {
      br[hi] = p;  // p becomes the high end
      lo = br[0].f <= br[1].f ? 0 : 1, hi = 1 - lo;
    } else {
      if (flat_enough(p))
        done = true;
      else if (p.slope * (br[hi].t - br[lo].t) >= 0)
        br[hi] = br[lo];  // the minimum lies between lo and p: lo becomes the high end
      br[lo] = p;
    }
  }
  const Point& best = br[lo];
  r.t = best.t, r.f = best.f, r.slope = best.slope, r.slot = best.slot, r.satisfied = done;
  return r;
}

// ---- LBFGS -------------------------------------------------------------------------------------

namespace {

template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

std::string num(double v) {
  if (std::isnan(v)) return "nan";  // whatever the sign bit
  return fmt::format("{:.3g}", v);
}

void check_lbfgs_options(double lr, int max_iter, const std::optional<int>& max_eval, double tol_grad,
                         double tol_change, int history) {
  if (!(lr > 0) || !std::isfinite(lr))
    throw ValueError(fmt::format("LBFGS: the learning rate (the first trial step) must be positive and finite, got {}", lr));
  if (max_iter < 1) throw ValueError(fmt::format("LBFGS: max_iter must be >= 1, got {}", max_iter));
  if (max_eval && *max_eval < 1) throw ValueError(fmt::format("LBFGS: max_eval must be >= 1, got {}", *max_eval));
  if (!(tol_grad >= 0)) throw ValueError(fmt::format("LBFGS: tolerance_grad must be >= 0, got {}", tol_grad));
  if (!(tol_change >= 0)) throw ValueError(fmt::format("LBFGS: tolerance_change must be >= 0, got {}", tol_change));
  if (history < 1)
    throw ValueError(fmt::format("LBFGS: history_size must be >= 1 (the number of curvature pairs kept), got {}",
                                 history));
}

/// The options checked (before the base class sees the learning rate); returns it.
double checked_lr(const LBFGSOptions& o) {
  check_lbfgs_options(o.lr, o.max_iter, o.max_eval, o.tolerance_grad, o.tolerance_change, o.history_size);
  return o.lr;
}

}  // namespace

template <class T>
LBFGS<T>::LBFGS(std::vector<Parameter<T>*> params, const LBFGSOptions& o)
    : Optimizer<T>(std::move(params), checked_lr(o)), options(o) {
  if (this->params_.empty()) throw ValueError("LBFGS: the parameter list is empty; give it the parameters to optimize");
  for (auto* p : this->params_) {
    if (!p) throw ValueError("LBFGS: a parameter pointer is null");
    if (p->grad.size() != p->value.size())
      throw ShapeError(fmt::format("LBFGS: parameter '{}' has {} values but a gradient of {}", p->name,
                                   p->value.size(), p->grad.size()));
    n_ += p->value.size();
  }
  if (n_ == 0) throw ValueError("LBFGS: the parameters have no entries; give it the parameters to optimize");
  for (auto* v : {&g_, &g_prev_, &d_, &x0_, &slots_[0], &slots_[1], &slots_[2]}) v->assign(n_, T(0));
}

template <class T>
void LBFGS<T>::check_options() const {
  check_lbfgs_options(this->lr, options.max_iter, options.max_eval, options.tolerance_grad, options.tolerance_change,
                      options.history_size);
}

template <class T>
void LBFGS<T>::step() {
  throw ValueError("LBFGS: step() needs a closure that recomputes the loss and the gradients: call step(closure) "
                   "(Trainer::step and fit do it for you)");
}

template <class T>
void LBFGS<T>::reset() {
  history_.clear();
  step_t_ = 0, h_diag_ = 1, prev_loss_ = 0;
  state_ = LBFGSState{};
}

template <class T>
typename LBFGS<T>::GradStats LBFGS<T>::gather_grad(std::vector<T>& g) const {
  GradStats s;
  double sq = 0;
  std::size_t k = 0;
  for (auto* p : this->params_) {
    const T* src = p->grad.data();
    for (std::size_t i = 0; i < p->grad.size(); ++i, ++k) {
      const T v = src[i];
      g[k] = v;
      const double a = std::fabs(static_cast<double>(v));
      if (!(a <= std::numeric_limits<double>::max())) s.finite = false;  // NaN or inf
      s.max_abs = std::max(s.max_abs, a);
      s.sum_abs += a;
      sq += a * a;
    }
  }
  s.norm = std::sqrt(sq);
  return s;
}

template <class T>
void LBFGS<T>::scatter_grad(const std::vector<T>& g) {
  std::size_t k = 0;
  for (auto* p : this->params_) {
    std::copy(g.begin() + static_cast<std::ptrdiff_t>(k), g.begin() + static_cast<std::ptrdiff_t>(k + p->grad.size()),
              p->grad.begin());
    k += p->grad.size();
  }
}

template <class T>
void LBFGS<T>::read_params(std::vector<T>& x) const {
  std::size_t k = 0;
  for (auto* p : this->params_) {
    std::copy(p->value.begin(), p->value.end(), x.begin() + static_cast<std::ptrdiff_t>(k));
    k += p->value.size();
  }
}

template <class T>
void LBFGS<T>::write_params(const std::vector<T>& x) {
  std::size_t k = 0;
  for (auto* p : this->params_) {
    std::copy(x.begin() + static_cast<std::ptrdiff_t>(k), x.begin() + static_cast<std::ptrdiff_t>(k + p->value.size()),
              p->value.begin());
    k += p->value.size();
  }
}

template <class T>
void LBFGS<T>::write_params(const std::vector<T>& x, double t, const std::vector<T>& d) {
  const T tt = static_cast<T>(t);
  std::size_t k = 0;
  for (auto* p : this->params_) {
    T* v = p->value.data();
    for (std::size_t i = 0; i < p->value.size(); ++i, ++k) v[i] = x[k] + tt * d[k];
  }
}

template <class T>
double LBFGS<T>::evaluate(const Closure& closure, std::vector<T>& g, GradStats& stats, int at) {
  const double f = closure();
  const auto where = [&] {
    if (at == 0) return fmt::format("at the start of step {}", this->t_);
    return fmt::format("{} of iteration {}", at == 1 ? "in the line search" : "after the fixed step", state_.iterations);
  };
  ++state_.evaluations;
  ++state_.step_evaluations;
  if (state_.evaluations == 1) state_.first_loss = f;
  if (!std::isfinite(f))
    throw LBFGSNonFiniteError(
        fmt::format("LBFGS: the closure returned the loss {} at evaluation {} ({}); the parameters are back at the "
                    "last point with a finite loss; a smaller lr, scaled inputs or a bounded loss may help",
                    num(f), state_.evaluations, where()),
        f, state_.evaluations);
  stats = gather_grad(g);
  if (!stats.finite) {
    std::size_t bad = 0;
    while (bad < g.size() && std::isfinite(static_cast<double>(g[bad]))) ++bad;
    std::string which;
    std::size_t k = bad;
    for (auto* p : this->params_) {
      if (k < p->grad.size()) {
        which = fmt::format("parameter '{}' entry {}", p->name, k);
        break;
      }
      k -= p->grad.size();
    }
    throw LBFGSNonFiniteError(
        fmt::format("LBFGS: the gradient has the entry {} ({}) at evaluation {} ({}), with the loss {}; the "
                    "parameters are back at the last point with a finite gradient",
                    num(static_cast<double>(g[bad])), which, state_.evaluations, where(), num(f)),
        f, state_.evaluations);
  }
  return f;
}

template <class T>
void LBFGS<T>::direction() {
  // The new curvature pair: s = t d (the last move), y = g - g_prev. Kept only if y . s > 1e-10,
  // which keeps the inverse-Hessian approximation positive definite.
  const T tt = static_cast<T>(step_t_);
  Pair& pair = spare_;
  pair.s.resize(n_), pair.y.resize(n_);
  for (std::size_t i = 0; i < n_; ++i) pair.y[i] = g_[i] - g_prev_[i], pair.s[i] = d_[i] * tt;
  const double ys = dot(pair.y, pair.s);
  if (ys > 1e-10) {
    pair.rho = 1 / ys;
    h_diag_ = ys / dot(pair.y, pair.y);
    Pair oldest;
    if (history_.size() >= static_cast<std::size_t>(options.history_size)) {
      oldest = std::move(history_.front());  // its buffers serve the next pair
      history_.pop_front();
    }
    history_.push_back(std::move(pair));
    spare_ = std::move(oldest);
  }

  // The two-loop recursion: d = -H g, H the L-BFGS inverse Hessian with H0 = h_diag I.
  const std::size_t m = history_.size();
  al_.resize(std::max<std::size_t>(al_.size(), m));
  for (std::size_t i = 0; i < n_; ++i) d_[i] = -g_[i];
  for (std::size_t k = m; k-- > 0;) {
    const Pair& p = history_[k];
    al_[k] = p.rho * dot(p.s, d_);
    const T a = static_cast<T>(al_[k]);
    for (std::size_t i = 0; i < n_; ++i) d_[i] -= a * p.y[i];
  }
  const T h = static_cast<T>(h_diag_);
  for (std::size_t i = 0; i < n_; ++i) d_[i] *= h;
  for (std::size_t k = 0; k < m; ++k) {
    const Pair& p = history_[k];
    const double be = p.rho * dot(p.y, d_);
    const T c = static_cast<T>(al_[k] - be);
    for (std::size_t i = 0; i < n_; ++i) d_[i] += c * p.s[i];
  }
}

template <class T>
double LBFGS<T>::step(const Closure& closure) {
  if (!closure) throw ValueError("LBFGS: step(closure) got an empty closure");
  check_options();
  while (history_.size() > static_cast<std::size_t>(options.history_size)) history_.pop_front();
  ++this->t_;
  const double lr = this->lr, tol_grad = options.tolerance_grad, tol_change = options.tolerance_change;
  const std::size_t max_iter = static_cast<std::size_t>(options.max_iter);
  const std::size_t max_eval =
      options.max_eval ? static_cast<std::size_t>(*options.max_eval) : max_iter * 5 / 4;  // (in 64 bits: no overflow)
  const bool search = options.line_search == LineSearch::strong_wolfe;
  LBFGSState& st = state_;
  st.step_iterations = st.step_evaluations = 0;
  st.stop = LBFGSStop::none;
  st.loss_current = true;

  GradStats gs;
  double loss = evaluate(closure, g_, gs, 0);
  st.start_loss = st.loss = loss;
  st.grad_norm = gs.norm, st.grad_max = gs.max_abs;
  if (gs.max_abs <= tol_grad) {
    st.stop = LBFGSStop::gradient;
    return loss;
  }

  bool away = false;  // the parameters are not at x0_, the last accepted point
  try {
    while (st.step_iterations < max_iter) {
      ++st.step_iterations;
      ++st.iterations;
      if (st.iterations == 1) {  // the first iteration ever: steepest descent
        for (std::size_t i = 0; i < n_; ++i) d_[i] = -g_[i];
        history_.clear();
        h_diag_ = 1;
      } else {
        direction();
      }
      g_prev_ = g_;
      prev_loss_ = loss;
      const double first_step_scale = std::min(1.0, 1.0 / gs.sum_abs);
      step_t_ = st.iterations == 1 ? first_step_scale * lr : lr;
      const double gtd = dot(g_, d_);
      last_gtd_ = gtd;
      if (gtd > -tol_change) {  // the direction goes (almost) nowhere downhill
        st.stop = LBFGSStop::directional_derivative;  // (counted as an iteration, as PyTorch does)
        break;
      }

      read_params(x0_);
      if (search) {
        double d_max = 0;
        for (std::size_t i = 0; i < n_; ++i) d_max = std::max(d_max, std::fabs(static_cast<double>(d_[i])));
        const auto phi = [&](double t, int slot) {
          write_params(x0_, t, d_);
          away = true;
          GradStats s;
          LineSearchValue v;
          v.f = evaluate(closure, slots_[slot], s, 1);
          v.slope = dot(slots_[slot], d_);
          return v;
        };
        const WolfeResult r = strong_wolfe_search(phi, loss, gtd, step_t_, d_max);
        step_t_ = r.t;
        loss = r.f;
        if (r.slot >= 0) std::swap(g_, slots_[r.slot]);  // else t = 0: g_ is already the start's
        write_params(x0_, step_t_, d_);
        away = false;
        gs = GradStats{};
        double sq = 0;
        for (std::size_t i = 0; i < n_; ++i) {
          const double a = std::fabs(static_cast<double>(g_[i]));
          gs.max_abs = std::max(gs.max_abs, a), gs.sum_abs += a, sq += a * a;
        }
        gs.norm = std::sqrt(sq);
      } else {
        write_params(x0_, step_t_, d_);
        if (st.step_iterations != max_iter) {
          away = true;
          loss = evaluate(closure, slots_[0], gs, 2);
          std::swap(g_, slots_[0]);
          away = false;
        } else {
          st.loss_current = false;  // the last iteration moves without evaluating (as PyTorch)
        }
      }

      double step_max = 0;
      for (std::size_t i = 0; i < n_; ++i) step_max = std::max(step_max, std::fabs(static_cast<double>(d_[i]) * step_t_));
      last_step_max_ = step_max;
      last_loss_change_ = std::fabs(loss - prev_loss_);
      st.loss = loss;
      st.grad_norm = gs.norm, st.grad_max = gs.max_abs;
      st.step_size = step_t_;
      st.history = history_.size();

      if (st.step_iterations == max_iter)
        st.stop = LBFGSStop::max_iter;
      else if (st.step_evaluations >= max_eval)
        st.stop = LBFGSStop::max_eval;
      else if (gs.max_abs <= tol_grad)
        st.stop = LBFGSStop::gradient;
      else if (step_max <= tol_change)
        st.stop = LBFGSStop::step_change;
      else if (last_loss_change_ < tol_change)
        st.stop = LBFGSStop::loss_change;
      if (on_iteration && !on_iteration(st) && st.stop == LBFGSStop::none) st.stop = LBFGSStop::callback;
      if (st.stop != LBFGSStop::none) break;
    }
  } catch (...) {
    // Back to the last accepted point, whose gradient g_ still is.
    if (away) write_params(x0_);
    scatter_grad(g_);
    throw;
  }
  // Each Parameter::grad: the gradient at the accepted point (the line search's last evaluation
  // may have been elsewhere).
  scatter_grad(g_);
  return st.start_loss;
}

template <class T>
std::string LBFGS<T>::stop_message() const {
  const LBFGSState& s = state_;
  switch (s.stop) {
    case LBFGSStop::none: return "not run";
    case LBFGSStop::gradient:
      return fmt::format("max |gradient| {} <= tolerance_grad {:g}", num(s.grad_max), options.tolerance_grad);
    case LBFGSStop::max_iter: return fmt::format("max_iter: {} iterations in this step", s.step_iterations);
    case LBFGSStop::max_eval: return fmt::format("max_eval: {} evaluations in this step", s.step_evaluations);
    case LBFGSStop::directional_derivative:
      return fmt::format("the directional derivative g.d = {} > -tolerance_change {:g}: no descent left", num(last_gtd_),
                         options.tolerance_change);
    case LBFGSStop::step_change:
      return fmt::format("the step max |t d| = {} <= tolerance_change {:g}", num(last_step_max_), options.tolerance_change);
    case LBFGSStop::loss_change:
      return fmt::format("the loss changed by {} < tolerance_change {:g}", num(last_loss_change_), options.tolerance_change);
    case LBFGSStop::callback: return "on_iteration returned false";
  }
  return "not run";
}

// ---- minimize_lbfgs ----------------------------------------------------------------------------

namespace {

template <class X>
MinimizeResult<X> finish(const LBFGS<double>& opt, X x) {
  MinimizeResult<X> r;
  r.x = std::move(x);
  const LBFGSState& s = opt.state();
  r.f = s.loss, r.grad_norm = s.grad_norm, r.grad_max = s.grad_max;
  r.iterations = s.iterations, r.evaluations = s.evaluations, r.stop = s.stop;
  r.message = opt.stop_message();
  return r;
}

LBFGSOptions lbfgs_options(const MinimizeOptions& o) {
  return {.lr = o.lr, .max_iter = o.max_iter, .max_eval = o.max_eval, .tolerance_grad = o.tolerance_grad,
          .tolerance_change = o.tolerance_change, .history_size = o.history_size, .line_search = o.line_search};
}

}  // namespace

MinimizeResult<xt::xarray<double>> minimize_lbfgs(
    const std::function<double(const xt::xarray<double>&, xt::xarray<double>&)>& f, xt::xarray<double> x0,
    const MinimizeOptions& o) {
  if (!f) throw ValueError("minimize_lbfgs: f is empty");
  Parameter<double> p("x", std::vector<std::size_t>(x0.shape().begin(), x0.shape().end()), false);
  p.value = std::move(x0);
  LBFGS<double> opt({&p}, lbfgs_options(o));
  opt.on_iteration = o.on_iteration;
  const auto shape = p.grad.shape();
  opt.step([&] {
    std::fill(p.grad.begin(), p.grad.end(), 0.0);
    const double v = f(p.value, p.grad);
    if (p.grad.shape() != shape)
      throw ShapeError(fmt::format("minimize_lbfgs: f changed the gradient's shape to {}; it must stay {}",
                                   shape_str(p.grad.shape()), shape_str(shape)));
    return v;
  });
  return finish(opt, std::move(p.value));
}

MinimizeResult<std::vector<double>> minimize_lbfgs(
    const std::function<double(const std::vector<double>&, std::vector<double>&)>& f, std::vector<double> x0,
    const MinimizeOptions& o) {
  if (!f) throw ValueError("minimize_lbfgs: f is empty");
  Parameter<double> p("x", {x0.size()}, false);
  std::copy(x0.begin(), x0.end(), p.value.begin());
  LBFGS<double> opt({&p}, lbfgs_options(o));
  opt.on_iteration = o.on_iteration;
  std::vector<double> x(x0.size()), g(x0.size());
  opt.step([&] {
    std::copy(p.value.begin(), p.value.end(), x.begin());
    std::fill(g.begin(), g.end(), 0.0);
    const double v = f(x, g);
    if (g.size() != x.size())
      throw ShapeError(fmt::format("minimize_lbfgs: f resized the gradient to {} entries; it must keep {}", g.size(),
                                   x.size()));
    std::copy(g.begin(), g.end(), p.grad.begin());
    return v;
  });
  std::copy(p.value.begin(), p.value.end(), x.begin());
  return finish(opt, std::move(x));
}

template class LBFGS<float>;
template class LBFGS<double>;

}  // namespace ad::nn
