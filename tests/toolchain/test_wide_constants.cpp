// The compiler, with the flags this suite was built with, builds wide integer constants right.
//
// Debian 12's g++ 12.2 under -march=native on an AVX-512 CPU built std::vector<std::size_t>{1, 1,
// 1, 0} as {1, 1, 1, 1} when it moved or compared the 32 bytes at once: a test of load_gates
// failed although load_gates was right (cmake/AdArch.cmake has the story and the guard). These
// cases are the shapes of constant that bug broke (256 and 512 bits whose top 64-bit limbs are
// zero); each is checked entry by entry against values the compiler cannot fold.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

volatile std::uint64_t opaque_zero = 0;  // read at run time: expected values are never constants

template <class T>
std::vector<T> expected(std::size_t n, std::uint64_t fill, std::size_t zeros) {
  std::vector<T> v(n, static_cast<T>(fill + opaque_zero));
  for (std::size_t i = n - zeros; i < n; ++i) v[i] = static_cast<T>(opaque_zero);
  return v;
}

template <class T>
[[gnu::noinline]] std::vector<T> pass_through(const std::vector<T>& v) { return v; }

}  // namespace

TEST_CASE("wide constants: 4 x 64 bits with zero top limbs (the gates test that failed)") {
  const std::vector<std::size_t> nand = {1, 1, 1, 0};
  CHECK(nand == expected<std::size_t>(4, 1, 1));
  CHECK(pass_through(expected<std::size_t>(4, 1, 1)) == std::vector<std::size_t>{1, 1, 1, 0});
  CHECK(pass_through(expected<std::uint64_t>(4, 7, 2)) == std::vector<std::uint64_t>{7, 7, 0, 0});
}

TEST_CASE("wide constants: 8 x 64 and 8 or 16 x 32 bits with zero top limbs") {
  CHECK(pass_through(expected<std::uint64_t>(8, 1, 1)) ==
        std::vector<std::uint64_t>{1, 1, 1, 1, 1, 1, 1, 0});
  CHECK(pass_through(expected<std::uint64_t>(8, 3, 2)) ==
        std::vector<std::uint64_t>{3, 3, 3, 3, 3, 3, 0, 0});
  CHECK(pass_through(expected<std::uint32_t>(8, 1, 2)) ==
        std::vector<std::uint32_t>{1, 1, 1, 1, 1, 1, 0, 0});
  CHECK(pass_through(expected<std::uint32_t>(16, 5, 2)) ==
        std::vector<std::uint32_t>{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0});
  const std::vector<std::uint64_t> built = {2, 2, 2, 2, 2, 2, 2, 0};
  for (std::size_t i = 0; i < 7; ++i) CHECK(built[i] == 2);
  CHECK(built[7] == 0);
}
