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

def kcred_unit_tests(name, srcs, deps = [], data = [], size = "small", **kwargs):
    """One cc_test per *_test.cc in srcs, named after the file, plus a test_suite `name`.

    CMake builds one GoogleTest binary per test source; so does this.
    """
    tests = []
    for src in srcs:
        test_name = src.rsplit("/", 1)[-1][:-len(".cc")]
        native.cc_test(
            name = test_name,
            srcs = [src],
            copts = KCRED_COPTS,
            deps = deps + KCRED_TEST_DEPS,
            data = data,
            size = size,
            **kwargs
        )
        tests.append(":" + test_name)
    native.test_suite(name = name, tests = tests, tags = kwargs.get("tags", []))
