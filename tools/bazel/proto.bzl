"""C++ code generated from .proto files with the system protoc (and grpc_cpp_plugin), as CMake does.

kcred_cc_proto_library(name, srcs, grpc) runs /usr/bin/protoc once over srcs in a genrule, with the
workspace root as the proto path, so generated headers are included from the root exactly as in
CMake ("proto/kcred/v1/broker.pb.h", "devcluster/k8s_proto/core.pb.h"), and wraps the output in a
cc_library `name`. Protos import each other and the well-known types (found by protoc in /usr/include)
by those same root-relative paths.
"""

PROTOC = "/usr/bin/protoc"
GRPC_CPP_PLUGIN = "/usr/bin/grpc_cpp_plugin"

def _stem(src):
    if not src.endswith(".proto"):
        fail("%s: not a .proto file" % src)
    return src[:-len(".proto")]

def kcred_cc_proto_library(name, srcs, grpc = False, grpc_only = False, deps = [], imports = [], visibility = None):
    """Generated C++ for srcs as cc_library `name`.

    grpc: also the gRPC services (.grpc.pb.*). grpc_only: only the services, for protos whose
    messages another kcred_cc_proto_library (in deps) already generates, so that the messages can
    be linked without gRPC.
    """
    hdrs = []
    cc_srcs = []
    for src in srcs:
        stem = _stem(src)
        if not grpc_only:
            hdrs.append(stem + ".pb.h")
            cc_srcs.append(stem + ".pb.cc")
        if grpc or grpc_only:
            hdrs.append(stem + ".grpc.pb.h")
            cc_srcs.append(stem + ".grpc.pb.cc")

    cmd = PROTOC + " --proto_path=."
    if not grpc_only:
        cmd += " --cpp_out=$(GENDIR)"
    if grpc or grpc_only:
        cmd += " --grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=" + GRPC_CPP_PLUGIN
    cmd += " " + " ".join(["$(location %s)" % src for src in srcs])

    native.genrule(
        name = name + "_gen",
        srcs = srcs + imports,
        outs = hdrs + cc_srcs,
        cmd = cmd,
        message = "protoc %s" % native.package_name(),
    )

    lib_deps = ["//third_party:protobuf"]
    if grpc or grpc_only:
        lib_deps.append("//third_party:grpc++")
    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        deps = deps + lib_deps,
        visibility = visibility,
    )
