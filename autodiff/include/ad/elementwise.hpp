// ad::elementwise: a user's function of up to three numbers, applied entry by entry to tensors
// and recorded as ONE node (a fused elementwise op).
//
//     auto a = ad::slice(x, 0, 0, -1), b = ad::slice(x, 0, 1, n);
//     auto f = ad::sum(ad::elementwise(
//         [](auto a, auto b) { return 100 * pow(b - a * a, 2) + pow(1 - a, 2); }, a, b));
//
// Written with the tensor ops, the same term is a dozen nodes, each a pass over memory forward
// and another backward, with its own intermediate array. Here the function runs once per entry
// on ad::Dual numbers (<ad/scalar.hpp>): a value and its partials with respect to each argument,
// from the same op rules as the scalar tape. The node keeps those partials; its backward rule is
// one multiply-add pass per input: grad_j += grad * d f / d arg_j. Nothing is hand-derived.
//
// The function must be generic (`auto` parameters) and use the math functions unqualified
// (`exp`, `pow`, `sqrt`, ... as ad's: for ad::Dual they are found by argument-dependent lookup);
// it receives ad::Dual<K> (K = number of inputs) and returns one, or a plain number for a
// constant. Branches on values (`a > 0 ? a : 0.01 * a`) work; each entry takes its own branch.
// It is evaluated in double for float tapes too, and rounded to float when stored.
//
// Shapes: the inputs have one shape, except that an input with a single entry is used for every
// entry (a scalar parameter, whose adjoint is then the sum over entries). Anything else is a
// ShapeError naming the shapes. Under NoGradGuard, or if no input needs a gradient, only values
// are computed. If fn throws, the exception propagates and the half-filled node stays on the
// tape, unreachable (no Var to it is returned); the tape remains usable.
#pragma once

#include <ad/scalar.hpp>
#include <ad/tape.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace ad {

namespace detail {

/// The recorded node and where the header's loop reads and writes (set up out of line).
template <class T>
struct ElementwisePlan {
  Var<T> out;
  std::size_t size = 0;        // entries of the result
  const T* in[3] = {nullptr, nullptr, nullptr};
  bool scalar[3] = {false, false, false};  // a single entry, used for every entry
  bool all_full = true;        // every input has the result's shape
  T* y = nullptr;              // the result's values
  T* partials = nullptr;       // K x size partials (null when no gradient is needed)
};

/// Checks the inputs, records the node "elementwise" with its backward rule, sizes its value and
/// (if a gradient is needed) its K x size partials.
template <class T>
ElementwisePlan<T> elementwise_begin(const Var<T>* in, std::size_t k);
/// The anomaly check of the finished node; returns it.
template <class T>
Var<T> elementwise_end(const ElementwisePlan<T>& plan);

template <std::size_t K, class R>
inline double elementwise_value(const R& r) {
  if constexpr (std::is_same_v<R, Dual<K>>)
    return r.value();
  else
    return static_cast<double>(r);
}

template <std::size_t K, class T, class F, std::size_t... J>
void elementwise_run(F& fn, const ElementwisePlan<T>& p, std::index_sequence<J...>) {
  using D = Dual<K>;
  using R = std::invoke_result_t<F&, decltype((void)J, D())...>;
  static_assert(std::is_same_v<R, D> || std::is_convertible_v<R, double>,
                "ad::elementwise: the function must return what it computed from its arguments "
                "(an ad::Dual), or a plain number");
  const std::size_t n = p.size;
  T* const y = p.y;
  if (p.partials == nullptr) {  // values only: Dual<0> carries no partials
    using D0 = Dual<0>;
    for (std::size_t i = 0; i < n; ++i) {
      const auto r = fn(D0(static_cast<double>(p.in[J][p.scalar[J] ? 0 : i]))...);
      y[i] = static_cast<T>(elementwise_value<0>(r));
    }
    return;
  }
  T* const part = p.partials;
  auto store = [&](std::size_t i, const R& r) {
    y[i] = static_cast<T>(elementwise_value<K>(r));
    if constexpr (std::is_same_v<R, D>)
      ((part[J * n + i] = static_cast<T>(r.partial(J))), ...);
    else
      ((part[J * n + i] = T(0)), ...);
  };
  if (p.all_full) {  // the common case: plain contiguous loops, which the compiler vectorizes
    const std::array<const T*, K> in{p.in[J]...};
    for (std::size_t i = 0; i < n; ++i) store(i, fn(D(static_cast<double>(in[J][i]), J)...));
  } else {
    for (std::size_t i = 0; i < n; ++i)
      store(i, fn(D(static_cast<double>(p.in[J][p.scalar[J] ? 0 : i]), J)...));
  }
}

}  // namespace detail

/// fn applied entry by entry to 1-3 tensors of one shape (or single entries), as one node whose
/// partials come from running fn on ad::Dual numbers. See the top of this header.
template <class F, class T, class... Rest>
  requires(sizeof...(Rest) <= 2 && (std::same_as<Rest, Var<T>> && ...))
Var<T> elementwise(F&& fn, const Var<T>& first, const Rest&... rest) {
  constexpr std::size_t K = 1 + sizeof...(Rest);
  const std::array<Var<T>, K> in{first, rest...};
  const detail::ElementwisePlan<T> plan = detail::elementwise_begin<T>(in.data(), K);
  detail::elementwise_run<K>(fn, plan, std::make_index_sequence<K>{});
  return detail::elementwise_end(plan);
}

/// More than three inputs, or inputs that are not Vars of one tape type: a compile-time error
/// that says so (rather than "no matching function").
template <class F, class... Vs>
  requires(sizeof...(Vs) > 3 || sizeof...(Vs) == 0)
void elementwise(F&&, const Vs&...) {
  static_assert(sizeof...(Vs) == 1000,
                "ad::elementwise takes 1 to 3 tensors (a node has at most three inputs); "
                "split the function, or stack inputs of one shape with reshape/slice");
}

extern template detail::ElementwisePlan<float> detail::elementwise_begin<float>(const Var<float>*, std::size_t);
extern template detail::ElementwisePlan<double> detail::elementwise_begin<double>(const Var<double>*, std::size_t);
extern template Var<float> detail::elementwise_end<float>(const detail::ElementwisePlan<float>&);
extern template Var<double> detail::elementwise_end<double>(const detail::ElementwisePlan<double>&);

}  // namespace ad
