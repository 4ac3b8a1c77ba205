import multiprocessing
import platform
import resource

import pytest
import torch
from torch.nn import functional as F

from models.allocator import keep_freed_memory


def faults_per_conv(reuse: bool, calls: int = 6) -> list[int]:
    """Minor page faults of each of `calls` convolutions with a 37 MB output, the size of the detector's largest
    activation at 544 x 704 (over glibc's 32 MiB mmap ceiling)."""
    if reuse:
        assert keep_freed_memory()
    x = torch.rand(1, 16, 272, 352).contiguous(memory_format=torch.channels_last)
    w = torch.rand(96, 16, 1, 1)
    faults = []
    with torch.inference_mode():
        for _ in range(calls):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            F.conv2d(x, w).clamp_(0, 6)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return faults


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_large_activations_are_reused_instead_of_faulted_in_again():
    # one fresh process, default first: the setting is process-wide and other tests' pipelines turn it on
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        default, reused = pool.map(faults_per_conv, [False, True], chunksize=1)
    assert min(default) > 4000  # glibc's default: a fresh mmap per call, ~9,000 pages
    assert min(reused) < 500
