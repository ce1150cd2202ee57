// Logarithms computed from IEEE-754 basic operations only (+, -, *, / are correctly rounded on
// every conforming machine), so the core's timeouts and the seeded Rng's exponential draws are
// bit-identical everywhere. libm's log/log10/log2 are not: glibc, musl and macOS round the last
// bit differently, and a simulator seed would then mean a different run on another machine.
//
// Never call <cmath>'s transcendental functions from core/: //core:no_libm_test fails on them.
// The core is also built with -ffp-contract=off (tools/cc.bzl), so no compiler fuses a*b+c into
// an FMA on one machine and not on another.
#pragma once

#include <cstdint>

namespace muster {

// Natural logarithm of a finite x > 0, within 2 ulp of libm's (checked in portable_math_test). Deterministic: a function of x's bits alone.
double PortableLog(double x);

// log10(x) for a finite x > 0; exact for integral powers of ten (10, 100, ...), so a scale
// taken as floor(1000 * log10(n)) never lands one below an integer boundary.
double PortableLog10(double x);

// ceil(log10(n + 1)) for n >= 0: the number of decimal digits of n (0 for n = 0). Integer only.
int DecimalDigits(uint64_t n);

// ceil(log2(n)) for n >= 1. Integer only.
int CeilLog2(uint64_t n);

}  // namespace muster
