"""Reads kcred's version from the top-level CMakeLists.txt, the one source of truth for it.

The repository rule kcred_version writes @kcred_version//:version.bzl with KCRED_VERSION, so Bazel
binaries report the same version as CMake's project(kcred VERSION x.y.z).
"""

def _kcred_version_impl(ctx):
    cmakelists = ctx.path(ctx.attr.cmakelists)
    text = ctx.read(cmakelists)
    marker = "project(kcred VERSION "
    start = text.find(marker)
    if start < 0:
        fail("%s: no 'project(kcred VERSION x.y.z' line; cannot determine kcred's version" % cmakelists)
    start += len(marker)
    end = start
    for i in range(start, len(text)):
        if text[i] not in "0123456789.":
            end = i
            break
    version = text[start:end]
    if not version:
        fail("%s: empty version after '%s'" % (cmakelists, marker))
    ctx.file("BUILD", "exports_files([\"version.bzl\"])\n")
    ctx.file("version.bzl", "KCRED_VERSION = \"%s\"\n" % version)

kcred_version = repository_rule(
    implementation = _kcred_version_impl,
    attrs = {"cmakelists": attr.label(allow_single_file = True)},
    local = True,
)
