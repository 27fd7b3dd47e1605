"""The C allocator's settings for a process that handles photos: freed image buffers are kept for the next one.

glibc serves every allocation over its mmap threshold (128 KB at first) with fresh pages from the kernel
and gives them back on free, so each megapixel-sized array of a request (a dozen of them) pays for its
page faults again: 20 ms of a 95 ms 1-megapixel request (docs/PERFORMANCE.md). Raising the mmap and trim
thresholds keeps freed buffers of up to 32 MB (a 1-megapixel request's, and most of a 12-megapixel one's)
in the heap for the next request; larger ones still get their own pages. Measured against 256 MB and
512 MB: the same speed at 1 MP, and a worker (with TensorFlow loaded) that settles at 1.54 GB instead of 1.85 GB over a soak of
varied photos (python -m bench.soak --requests 600). The same settings as glibc's
MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ environment variables, which take precedence where set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (glibc malloc.h)
MMAP_THRESHOLD = 32 * 1024 * 1024  # allocations above this still get their own pages (glibc's dynamic maximum)
TRIM_THRESHOLD = 64 * 1024 * 1024  # free memory at the heap's top kept up to this


def keep_freed_buffers() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where there is no glibc or the
    environment already sets them."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): nothing to set
        return False
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    log.debug("malloc thresholds raised: %s", done)
    return done
