// Errors: one exception type per category, all deriving from ad::Error.
//
// Every check in the library throws with one fmt::format'ed message that names the operation,
// the shapes (or file and line) involved and, where there is one, the fix:
//   "matmul: inner dimensions differ: (3, 4) @ (2, 5)".
// After any of these exceptions the objects involved stay usable.
#pragma once

#include <stdexcept>
#include <string>

namespace ad {

/// Base of every exception the library throws.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Shapes that do not fit the operation (broadcasting, matmul, reshape, axis out of range).
struct ShapeError : Error {
  using Error::Error;
};

/// Misuse of a tape: a handle used after its tape was cleared, handles of two tapes mixed,
/// backward from a non-scalar, an empty handle.
struct TapeError : Error {
  using Error::Error;
};

/// A value outside what the operation accepts (NaN/Inf where forbidden, bad parameters).
struct ValueError : Error {
  using Error::Error;
};

/// A file that is missing, truncated, corrupt or of the wrong kind; the message names the file.
struct IoError : Error {
  using Error::Error;
};

/// Text that does not parse (expressions, CSV cells, options); the message names the place.
struct ParseError : Error {
  using Error::Error;
};

}  // namespace ad
