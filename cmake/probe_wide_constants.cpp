// Configure-time probe (cmake/AdArch.cmake): does the compiler, with the flags the project is about
// to use, build wide integer constants right? Debian 12's g++ 12.2 does not when it moves or
// compares 32 or 64 bytes at once (AVX-512 CPUs under -march=native, and any -march whose tuning
// allows 256-bit "by pieces" moves): ix86_convert_const_wide_int_to_broadcast turns a constant
// whose top 64-bit limbs are zero, such as std::vector<std::size_t>{1, 1, 1, 0}, into a broadcast
// of its first limb, {1, 1, 1, 1}. Exit code 0: every constant below came out right.
#include <cstdint>
#include <cstdio>
#include <vector>

using V64 = std::vector<std::uint64_t>;
using V32 = std::vector<std::uint32_t>;

// Each function compares its argument with a literal (an inlined memcmp of 32 or 64 bytes), and
// each make_ builds a literal (an inlined 32- or 64-byte store). noinline keeps the literals
// separate from the values they are checked against.
#define AD_PROBE(name, V, ...)                                                             \
  [[gnu::noinline]] bool eq_##name(const V& v) { return v == V{__VA_ARGS__}; }             \
  [[gnu::noinline]] V make_##name() { return V{__VA_ARGS__}; }

AD_PROBE(a, V64, 1, 1, 1, 0)
AD_PROBE(b, V64, 7, 7, 0, 0)
AD_PROBE(c, V64, 1, 1, 1, 1, 1, 1, 1, 0)
AD_PROBE(d, V64, 3, 3, 3, 3, 3, 3, 0, 0)
AD_PROBE(e, V32, 1, 1, 1, 1, 1, 1, 0, 0)
AD_PROBE(f, V32, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 0)

template <class V>
bool same(const V& got, std::initializer_list<typename V::value_type> want, const char* name) {
  V w(want);
  bool ok = got.size() == w.size();
  for (std::size_t i = 0; ok && i < w.size(); ++i) ok = got[i] == w[i];
  if (!ok) {
    std::printf("%s: got", name);
    for (auto x : got) std::printf(" %llu", static_cast<unsigned long long>(x));
    std::printf("\n");
  }
  return ok;
}

int main() {
  int bad = 0;
  // Expected values are built at run time from a volatile, so they never become a wide constant.
  volatile std::uint32_t opaque_one = 1;
  const std::uint32_t one = opaque_one;
  auto check = [&](bool ok) { bad += ok ? 0 : 1; };
  V64 a(4, one); a[3] = one - 1;
  V64 b(4, one - 1); b[0] = b[1] = 7 * one;
  V64 c(8, one); c[7] = one - 1;
  V64 d(8, 3 * one); d[6] = d[7] = one - 1;
  V32 e(8, one); e[6] = e[7] = one - 1;
  V32 f(16, 5 * one); f[14] = f[15] = one - 1;
  check(eq_a(a)); check(eq_b(b)); check(eq_c(c)); check(eq_d(d)); check(eq_e(e)); check(eq_f(f));
  check(make_a() == a); check(make_b() == b); check(make_c() == c);
  check(make_d() == d); check(make_e() == e); check(make_f() == f);
  check(same(make_a(), {1, 1, 1, 0}, "make_a"));
  std::printf("%d of 13 wide-constant checks wrong\n", bad);
  return bad == 0 ? 0 : 1;
}
