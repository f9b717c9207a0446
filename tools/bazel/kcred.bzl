"""Compiler options shared by kcred's own targets, mirroring cmake/KcredTarget.cmake.

Project code builds with -Wall -Wextra -Werror; generated code and third-party headers do not. Every
#include is spelled from the repository root, which is the workspace root and so already on Bazel's
include path.
"""

load("@kcred_version//:version.bzl", _KCRED_VERSION = "KCRED_VERSION")

KCRED_COPTS = ["-Wall", "-Wextra", "-Werror"]

KCRED_VERSION = _KCRED_VERSION

# Test-only dependencies every unit test links (CMake: GTest::gmock GTest::gtest_main).
KCRED_TEST_DEPS = [
    "//third_party:gmock",
    "//third_party:gtest_main",
]

def kcred_unit_tests(prefix, srcs, helpers = [], deps = [], data = [], size = "small", tags = []):
    """One cc_test per *_test.cc in srcs, named <prefix>_<file stem> like the CMake tests.

    CMake builds one GoogleTest binary per test source (kcred_unit_test in cmake/KcredTarget.cmake,
    named after the directory below tests/unit/ and the file); so does this, and
    `bazel test //tests/unit/...` runs them all. `helpers` (the directory's other .h/.cc files, such
    as fakes) are compiled into each test.
    """
    for src in srcs:
        stem = src.rsplit("/", 1)[-1][:-len(".cc")]
        native.cc_test(
            name = prefix + "_" + stem if prefix else stem,
            srcs = [src] + helpers,
            copts = KCRED_COPTS,
            deps = deps + KCRED_TEST_DEPS,
            data = data,
            size = size,
            tags = tags,
        )

# -DKCRED_VERSION="x.y.z", as CMake defines it for the binaries that report their version.
KCRED_VERSION_DEFINE = "KCRED_VERSION=\\\"%s\\\"" % KCRED_VERSION
