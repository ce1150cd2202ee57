"""muster_proto_library: one .proto file -> one C++ library, built offline with Debian's
protoc (Bazel's native proto_library would download @com_google_protobuf)."""

def muster_proto_library(name, src, deps = [], visibility = None, hdrs = []):
    """Generates <src>.pb.{h,cc} with protoc and wraps them in a cc_library `name`.

    deps: other muster_proto_library targets whose .proto files `src` imports.
    hdrs: hand-written headers that belong with the messages (a namespace alias).
    """
    base = src[:-len(".proto")]
    dep_srcs = [d + "_src" for d in deps]
    native.filegroup(name = name + "_src", srcs = [src] + dep_srcs, visibility = visibility)
    native.genrule(
        name = name + "_gen",
        srcs = [src] + dep_srcs,
        outs = [base + ".pb.h", base + ".pb.cc"],
        cmd = "protoc --proto_path=. --cpp_out=$(GENDIR) $(location %s)" % src,
    )
    native.cc_library(
        name = name,
        srcs = [base + ".pb.cc"],
        hdrs = [base + ".pb.h"] + hdrs,
        deps = deps + ["//third_party/system:protobuf"],
        visibility = visibility,
    )
