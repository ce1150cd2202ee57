#!/usr/bin/env bash
# Fails when an object of the core calls a libm function whose result is not exactly specified
# by IEEE-754 (log, exp, pow, sin, ...). floor/ceil/trunc/round/sqrt/fabs are exact and allowed.
set -euo pipefail
banned='^(log|log2|log10|log1p|exp|exp2|expm1|pow|cbrt|hypot|sin|cos|tan|asin|acos|atan|atan2|sinh|cosh|tanh|asinh|acosh|atanh|erf|erfc|lgamma|tgamma)f?$'
archives=$(find -L . -path '*core*' -name '*.a' | sort)
if [ -z "$archives" ]; then
  echo "FAIL: no core archives found in the runfiles" >&2
  exit 1
fi
found=0
for a in $archives; do
  # nm prints "file.o:" headers and "U symbol" for undefined references.
  hits=$(nm -u "$a" 2>/dev/null | awk '{print $NF}' | sed 's/@.*//' | grep -E "$banned" | sort -u || true)
  if [ -n "$hits" ]; then
    echo "FAIL: $a calls libm: $(echo $hits)" >&2
    found=1
  fi
done
[ "$found" -eq 0 ] && echo "checked $(echo "$archives" | wc -l) core archives: no libm transcendental calls"
exit "$found"
