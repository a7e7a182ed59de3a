// The tensor operations, declared by group. Each group is defined in the file of autodiff/src/ops/
// named after it (elementwise: pointwise.cpp), every op's backward rule right under its forward,
// instantiated for float and double.
//
// Binary elementwise ops broadcast as NumPy does (shapes aligned on the right; a dimension of 1,
// or a missing one, is repeated). The adjoint of a broadcast input is summed back to its shape.
// Shapes are checked when an op is recorded: a mismatch throws ad::ShapeError naming the op and
// both shapes.
//
// Axes may be negative (-1 is the last). Conventions at kinks and at NaN follow PyTorch (see
// <ad/ops/rules.hpp>); max along an axis sends the adjoint to the first maximum.
#pragma once

#include <ad/ops/rules.hpp>
#include <ad/tape.hpp>

namespace ad {

/// A plain number next to a Var<T> converts to T (so `x * 2` works for float and double).
template <class T>
using Scalar = std::type_identity_t<T>;

// ---- elementwise (the rules of <ad/ops/rules.hpp>) --------------------------------------------
// One function per rule, named as in the lists at the end of <ad/ops/rules.hpp>: exp(x), log(x),
// sigmoid(x), ... of one tensor; add(a, b), pow(a, b), max(a, b), ... of two, which broadcast.
// Values and derivatives (and their conventions at kinks and at NaN) are the rules'.
#define AD_DECLARE_UNARY(Rule, name) template <class T> Var<T> name(const Var<T>& x);
#define AD_DECLARE_BINARY(Rule, name) template <class T> Var<T> name(const Var<T>& a, const Var<T>& b);
AD_OPERATOR_UNARY_RULES(AD_DECLARE_UNARY)
AD_UNARY_RULES(AD_DECLARE_UNARY)
AD_OPERATOR_BINARY_RULES(AD_DECLARE_BINARY)
AD_BINARY_RULES(AD_DECLARE_BINARY)
#undef AD_DECLARE_UNARY
#undef AD_DECLARE_BINARY

/// Elementwise maximum / minimum (torch.maximum): max(a, b) and min(a, b).
template <class T> Var<T> maximum(const Var<T>& a, const Var<T>& b) { return max(a, b); }
template <class T> Var<T> minimum(const Var<T>& a, const Var<T>& b) { return min(a, b); }
/// x^p for a fixed number p.
template <class T> Var<T> pow(const Var<T>& x, Scalar<T> p);
/// x for x > 0, slope * x otherwise.
template <class T> Var<T> leaky_relu(const Var<T>& x, Scalar<T> slope = T(0.01));
/// x for x > 0, alpha (e^x - 1) otherwise.
template <class T> Var<T> elu(const Var<T>& x, Scalar<T> alpha = T(1));
/// x * sigmoid(x), also called swish.
template <class T> Var<T> silu(const Var<T>& x) { return swish(x); }
/// Clamps into [lo, hi]; the adjoint passes where lo <= x <= hi.
template <class T> Var<T> clamp(const Var<T>& x, Scalar<T> lo, Scalar<T> hi);

// ---- linear algebra (linalg.cpp) -----------------------------------------------------------
/// Matrix product through BLAS. (m, k) @ (k, n) -> (m, n); a 1-d left operand is a row,
/// a 1-d right operand a column, and that dimension is dropped from the result (as NumPy).
template <class T> Var<T> matmul(const Var<T>& a, const Var<T>& b);
/// X W + b for X (n, in), W (in, out), b (out,): matmul and bias add as one node (one pass less
/// forward and backward; the layer nn::Linear records).
template <class T> Var<T> linear(const Var<T>& x, const Var<T>& w, const Var<T>& b);

// ---- shape: entries moved, no arithmetic (shape.cpp) ---------------------------------------
/// Swaps the two axes of a matrix (a 1-d value is returned unchanged).
template <class T> Var<T> transpose(const Var<T>& x);
/// Same values in a new shape; one entry may be -1 (inferred).
template <class T> Var<T> reshape(const Var<T>& x, const std::vector<std::ptrdiff_t>& shape);
/// Entries begin .. end-1 along `axis`, as `x[begin:end]` on that axis in NumPy (torch.narrow):
/// negative indices count from the end (-1 is the last). Out of range, or begin > end, is a
/// ShapeError; the adjoint of the slice is added back into those entries of x.
template <class T> Var<T> slice(const Var<T>& x, int axis, std::ptrdiff_t begin, std::ptrdiff_t end);
/// The same value as a constant: nothing flows back through it.
template <class T> Var<T> detach(const Var<T>& x);

// ---- reductions (reduce.cpp) ---------------------------------------------------------------
/// Sum of all entries (0-d result).
template <class T> Var<T> sum(const Var<T>& x);
/// Sum along one axis.
template <class T> Var<T> sum(const Var<T>& x, int axis, bool keepdims = false);
template <class T> Var<T> mean(const Var<T>& x);
template <class T> Var<T> mean(const Var<T>& x, int axis, bool keepdims = false);
/// Maximum along one axis; the adjoint goes to the first maximal entry.
template <class T> Var<T> max(const Var<T>& x, int axis, bool keepdims = false);

// ---- softmax family, numerically stable: the maximum is subtracted first (softmax.cpp) -----
template <class T> Var<T> softmax(const Var<T>& x, int axis = -1);
template <class T> Var<T> log_softmax(const Var<T>& x, int axis = -1);

// ---- selection by integer index (select.cpp) -----------------------------------------------
/// For a (n, k) matrix and n integer labels, the n entries x[i, labels[i]] (as
/// torch.gather(x, 1, labels)); used by cross-entropy with integer labels.
template <class T> Var<T> pick(const Var<T>& x, const std::vector<std::size_t>& labels);

// ---- operators -----------------------------------------------------------------------------
template <class T> Var<T> operator+(const Var<T>& a, const Var<T>& b) { return add(a, b); }
template <class T> Var<T> operator-(const Var<T>& a, const Var<T>& b) { return sub(a, b); }
template <class T> Var<T> operator*(const Var<T>& a, const Var<T>& b) { return mul(a, b); }
template <class T> Var<T> operator/(const Var<T>& a, const Var<T>& b) { return div(a, b); }
template <class T> Var<T> operator-(const Var<T>& a) { return neg(a); }

template <class T> Var<T> operator+(const Var<T>& a, Scalar<T> b) { return add(a, a.tape().constant(b)); }
template <class T> Var<T> operator+(Scalar<T> a, const Var<T>& b) { return add(b.tape().constant(a), b); }
template <class T> Var<T> operator-(const Var<T>& a, Scalar<T> b) { return sub(a, a.tape().constant(b)); }
template <class T> Var<T> operator-(Scalar<T> a, const Var<T>& b) { return sub(b.tape().constant(a), b); }
template <class T> Var<T> operator*(const Var<T>& a, Scalar<T> b) { return mul(a, a.tape().constant(b)); }
template <class T> Var<T> operator*(Scalar<T> a, const Var<T>& b) { return mul(b.tape().constant(a), b); }
template <class T> Var<T> operator/(const Var<T>& a, Scalar<T> b) { return div(a, a.tape().constant(b)); }
template <class T> Var<T> operator/(Scalar<T> a, const Var<T>& b) { return div(b.tape().constant(a), b); }

}  // namespace ad
