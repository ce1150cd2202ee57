"""muster's C++ rules: the native ones with our warning flags, so a dependency's
headers in /usr/include (system headers) never break our -Werror build."""

MUSTER_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-sign-compare",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    # No fused multiply-add behind our backs: a*b+c rounded once on a machine with FMA and twice
    # elsewhere would make the core's arithmetic, and so a simulator seed, machine-dependent.
    "-ffp-contract=off",
]

def muster_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = MUSTER_COPTS + copts, **kwargs)

def muster_cc_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = MUSTER_COPTS + copts, **kwargs)

def muster_cc_test(name, copts = [], deps = [], **kwargs):
    native.cc_test(
        name = name,
        copts = MUSTER_COPTS + copts,
        deps = deps + ["//third_party/system:gtest_main"],
        **kwargs
    )
