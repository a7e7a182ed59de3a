// Everything of the engine in one include: the tensor tape and its ops, the scalar fast path,
// the expression parser and gradient checking. Include the individual headers instead when
// compile time matters.
#pragma once

#include <ad/elementwise.hpp>
#include <ad/error.hpp>
#include <ad/expression.hpp>
#include <ad/gradcheck.hpp>
#include <ad/ops.hpp>
#include <ad/scalar.hpp>
#include <ad/tape.hpp>
