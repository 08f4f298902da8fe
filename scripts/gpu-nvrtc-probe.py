#!/usr/bin/env python3
"""Can NVRTC compile the kernels that burn's CUDA backend will ask of it?  (No GPU needed.)

cubecl-cuda 0.11.3 compiles every kernel at run time with NVRTC, passing
`--gpu-architecture=sm_XXa`, `-lineinfo`, `--include-path=$CUDA_PATH/include` and, when that
folder exists, `--include-path=$CUDA_PATH/include/cccl`. Its generated C++ includes `mma.h` for
every tensor-core (TF32) matmul or convolution, and `cuda/barrier` + `cooperative_groups` for its
asynchronous-copy kernels. If those headers are missing, those kernels fail to compile and
autotuning silently falls back to slow ones: the timings would be wrong rather than fail.

This probe loads NVRTC by the names cudarc 0.19 tries (first that loads wins), compiles one small
kernel per header family with the same options, checks that the tensor-core kernel's PTX really
holds `mma` instructions, and names the NVRTC and builtins files that were mapped (they must come
from one installation). It prints one line per kernel and exits 1 if any fails.

    python3 scripts/gpu-nvrtc-probe.py --cuda-path "$CUDA_PATH" [--arch sm_90a]

Written for loev (scripts/gpu-check.sh runs it in its preflight).
"""
import argparse
import ctypes
import os
import sys
import time

# cudarc 0.19.10 (CUDA 13.0 build): unversioned first, then the newest major downwards.
NVRTC_NAMES = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11", "libnvrtc.so.1"]

KERNELS = {
    "f32 (elementwise, reductions)": r"""
extern "C" __global__ void probe(float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = x[i] * 2.0f + 1.0f;
}
""",
    "f16 / bf16 types": r"""
#include <cuda_fp16.h>
#include <cuda_bf16.h>
extern "C" __global__ void probe(__half* h, __nv_bfloat16* b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { h[i] = __hadd(h[i], h[i]); b[i] = __float2bfloat16(__bfloat162float(b[i]) + 1.0f); }
}
""",
    "TF32 tensor cores (mma.h)": r"""
#include <mma.h>
using namespace nvcuda;
extern "C" __global__ void probe(const float* a, const float* b, float* c) {
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    wmma::load_matrix_sync(fa, a, 8);
    wmma::load_matrix_sync(fb, b, 8);
    for (int t = 0; t < fa.num_elements; t++) fa.x[t] = wmma::__float_to_tf32(fa.x[t]);
    for (int t = 0; t < fb.num_elements; t++) fb.x[t] = wmma::__float_to_tf32(fb.x[t]);
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(c, acc, 16, wmma::mem_row_major);
}
""",
    "async copies (cuda/barrier, cooperative_groups)": r"""
#include <cuda/barrier>
#include <cooperative_groups.h>
#include <cooperative_groups/memcpy_async.h>
namespace cg = cooperative_groups;
extern "C" __global__ void probe(const float* in, float* out) {
    __shared__ float tile[256];
    auto block = cg::this_thread_block();
    cg::memcpy_async(block, tile, in + blockIdx.x * 256, sizeof(float) * 256);
    cg::wait(block);
    out[blockIdx.x * 256 + threadIdx.x] = tile[threadIdx.x];
}
""",
}
TENSOR_CORE_CASE = "TF32 tensor cores (mma.h)"


def load_nvrtc():
    for name in NVRTC_NAMES:
        try:
            return name, ctypes.CDLL(name)
        except OSError:
            continue
    return None, None


def mapped(fragment):
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if fragment in line and "/" in line})


def compile_one(lib, source, options):
    """Returns (ok, first error line, PTX text)."""
    program = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"probe.cu", 0, None, None)
    if rc != 0:
        return False, "nvrtcCreateProgram returned %d" % rc, ""
    argv = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
    rc = lib.nvrtcCompileProgram(program, len(options), argv)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(program, log)
    text = log.value.decode(errors="replace")
    ptx = ""
    if rc == 0:
        lib.nvrtcGetPTXSize(program, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(program, buffer)
        ptx = buffer.value.decode(errors="replace")
    lib.nvrtcDestroyProgram(ctypes.byref(program))
    error = next((line.strip() for line in text.splitlines() if "error" in line), text.strip()[:200])
    return rc == 0, error[:200], ptx


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cuda-path", required=True, help="the CUDA_PATH cubecl will use")
    parser.add_argument("--arch", default="sm_90a", help="cubecl passes sm_XXa for compute capability >= 9.0")
    args = parser.parse_args()

    name, lib = load_nvrtc()
    if lib is None:
        print("NVRTC: none of %s loads (LD_LIBRARY_PATH=%s)" % (NVRTC_NAMES, os.environ.get("LD_LIBRARY_PATH", "")))
        print("NVRTC PROBE FAILED: CUDA kernels cannot compile")
        return 1
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    print("NVRTC %d.%d loaded as %s" % (major.value, minor.value, name))

    include = os.path.join(args.cuda_path, "include")
    options = ["--gpu-architecture=" + args.arch, "-lineinfo", "--include-path=" + include]
    if os.path.isdir(os.path.join(include, "cccl")):
        options.append("--include-path=" + os.path.join(include, "cccl"))
    print("options: " + " ".join(options))

    failed = []
    for case, source in KERNELS.items():
        began = time.perf_counter()
        ok, error, ptx = compile_one(lib, source, options)
        note = ""
        if ok and case == TENSOR_CORE_CASE and "mma" not in ptx:
            ok, error = False, "compiled, but the PTX holds no mma instruction"
        if ok:
            target = next((line.split()[1] for line in ptx.splitlines() if line.startswith(".target")), "?")
            note = "(%.2f s, PTX %s)" % (time.perf_counter() - began, target)
        print("  %-48s %s %s" % (case, "ok" if ok else "FAILS:", note if ok else error))
        if not ok:
            failed.append(case)

    # NVRTC opens its builtins library at the first compile: both must come from one place.
    print("mapped: " + ", ".join(mapped("nvrtc")))
    if TENSOR_CORE_CASE in failed:
        print("TENSOR-CORE KERNELS DO NOT COMPILE with CUDA_PATH=%s: burn would fall back to slow kernels" % args.cuda_path)
    if failed:
        print("NVRTC PROBE FAILED: %d of %d kernels" % (len(failed), len(KERNELS)))
        return 1
    print("NVRTC PROBE OK: every kernel family compiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
