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

def _test_name(prefix, src):
    """CMake's test name for src: <prefix>_<file stem>, or the stem when it already has the prefix."""
    stem = src.rsplit("/", 1)[-1][:-len(".cc")]
    if not prefix or stem.startswith(prefix + "_"):
        return stem
    return prefix + "_" + stem

def _helpers_library(name, helpers, deps):
    """The directory's test helpers (fakes, test PKI, ...) as one testonly library, or None."""
    if not helpers:
        return []
    native.cc_library(
        name = name,
        testonly = True,
        srcs = [h for h in helpers if h.endswith(".cc")],
        hdrs = [h for h in helpers if not h.endswith(".cc")],
        copts = KCRED_COPTS,
        deps = deps + KCRED_TEST_DEPS,
    )
    return [":" + name]

def kcred_unit_tests(
        prefix,
        srcs,
        helpers = [],
        helpers_name = "test_helpers",
        deps = [],
        data = [],
        size = "small",
        tags = []):
    """One cc_test per *_test.cc in srcs, named like the CMake test.

    CMake builds one GoogleTest binary per test source (kcred_unit_test in cmake/KcredTarget.cmake),
    named <prefix>_<file stem> (the stem alone when it already starts with the prefix); so does this,
    and `bazel test //...` runs them all. `helpers` (the directory's other .h/.cc files, such as fakes)
    become one testonly library `helpers_name` that every test links, with `deps`.
    """
    helper_deps = _helpers_library(helpers_name, helpers, deps)
    for src in srcs:
        native.cc_test(
            name = _test_name(prefix, src),
            srcs = [src],
            copts = KCRED_COPTS,
            deps = deps + helper_deps + KCRED_TEST_DEPS,
            data = data,
            size = size,
            tags = tags,
        )

def kcred_unit_test(name, srcs, helpers = [], deps = [], data = [], size = "small", tags = []):
    """One cc_test `name` built from all of srcs, for directories whose CMake test is one binary.

    `helpers` are compiled into it as well (CMake lists them among the SOURCES).
    """
    native.cc_test(
        name = name,
        srcs = srcs + helpers,
        copts = KCRED_COPTS,
        deps = deps + KCRED_TEST_DEPS,
        data = data,
        size = size,
        tags = tags,
    )

def kcred_integration_tests(prefix, srcs, helpers = [], deps = []):
    """The integration tests of a directory, built but never run by Bazel.

    They start the kcredd / kcred / kcred-devcluster binaries of a CMake build (found through
    KCRED_BIN_DIR, see tests/support/process.h) and run under ctest (label "integration"). Bazel builds
    them as testonly binaries, so `bazel build //...` keeps them compiling and `bazel test //...`
    does not start them.
    """
    support = "//tests/support:kcred_test_support"
    deps = [d for d in deps if d != support] + [support]
    helper_deps = _helpers_library("integration_test_helpers", helpers, deps)
    for src in srcs:
        native.cc_binary(
            name = _test_name(prefix, src),
            testonly = True,
            srcs = [src],
            copts = KCRED_COPTS,
            deps = deps + helper_deps + KCRED_TEST_DEPS,
            tags = ["integration"],
        )

# -DKCRED_VERSION="x.y.z", as CMake defines it for the binaries that report their version.
KCRED_VERSION_DEFINE = "KCRED_VERSION=\\\"%s\\\"" % KCRED_VERSION
