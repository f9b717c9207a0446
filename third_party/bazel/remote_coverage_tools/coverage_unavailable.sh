#!/bin/sh
# Stand-in for Bazel's downloaded coverage tools (see WORKSPACE next to this file).
echo "bazel coverage is not supported in kcred's offline Bazel build; measure coverage with the CMake build" >&2
exit 1
