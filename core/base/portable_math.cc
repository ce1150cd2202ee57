#include "core/base/portable_math.h"

#include <bit>
#include <cstring>

#include "core/base/check.h"

namespace muster {
namespace {

constexpr double kLn2 = 0x1.62e42fefa39efp-1;   // ln 2, rounded to nearest
constexpr double kLn10 = 0x1.26bb1bbb55516p+1;  // ln 10, rounded to nearest

uint64_t Bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

double FromBits(uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

}  // namespace

double PortableLog(double x) {
  MUSTER_CHECK(x > 0 && x <= 0x1.fffffffffffffp+1023, "PortableLog of ", x);
  // Split x = m * 2^k with m in [sqrt(2)/2, sqrt(2)) by reading the exponent bits.
  uint64_t b = Bits(x);
  int k = 0;
  if ((b >> 52) == 0) {  // subnormal: scale into the normal range first
    x *= 0x1p54;
    b = Bits(x);
    k = -54;
  }
  k += static_cast<int>(b >> 52) - 1023;
  double m = FromBits((b & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52));  // [1, 2)
  if (m > 0x1.6a09e667f3bcdp+0) {  // sqrt(2)
    m *= 0.5;
    ++k;
  }
  // ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1), |s| < 0.1716.
  // Twelve terms reach s^23 / 23 < 1e-19 relative: below half an ulp.
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double sum = 0.0;
  for (int odd = 23; odd >= 3; odd -= 2) sum = (sum + 1.0 / odd) * s2;  // Horner, fixed order
  const double ln_m = 2.0 * s + 2.0 * s * sum;
  return k * kLn2 + ln_m;
}

double PortableLog10(double x) {
  // Exact powers of ten answer exactly: ln(100)/ln(10) may round to 1.9999999999999998.
  double p = 1.0;
  for (int e = 0; e <= 22 && p <= x; ++e, p *= 10.0) {  // 10^0 .. 10^22 are exact doubles
    if (p == x) return e;
  }
  return PortableLog(x) / kLn10;
}

int DecimalDigits(uint64_t n) {
  int digits = 0;
  while (n > 0) {
    n /= 10;
    ++digits;
  }
  return digits;
}

int CeilLog2(uint64_t n) {
  MUSTER_CHECK(n >= 1);
  return n == 1 ? 0 : 64 - std::countl_zero(n - 1);
}

}  // namespace muster
