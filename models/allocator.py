"""Keep large freed blocks in the process instead of handing them back to the kernel (glibc only).

glibc serves every allocation over 32 MiB with a fresh mmap and unmaps it on free, so each detector call at
544 x 704 page-faulted its largest activation (37 MB) back in, thousands of faults per image. Served from the
heap and never trimmed, the same memory is reused call after call: faster detection and training on CPU
(measured by `python -m bench.speedups`: research/results/bench/HISTORY.md, "What made the CPU path faster"). The cost: the process keeps its peak heap, bounded
by the detector's maximum input size.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Serve large allocations from the heap and stop trimming it; False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
