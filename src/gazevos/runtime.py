"""Process-wide performance settings.

:func:`keep_freed_memory` stops glibc from handing large freed blocks back to the kernel.
By default every allocation above 32 MiB is a fresh ``mmap``, so each large temporary
tensor (the MAST search makes several per frame) costs one page fault per 4 KiB page on
first touch; on the 2-core VMs this project is measured on that made a 480p MAST step
2x slower than the arithmetic (BENCHMARKS.md, MAST speed).  With it, freed blocks are
reused: the resident size then stays at its peak instead of falling back between frames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_done: bool | None = None


def keep_freed_memory(mmap_threshold: int = 1 << 30, trim_threshold: int = 2 << 30) -> bool:
    """Serve large allocations from the heap and keep freed memory for reuse (glibc only).

    Idempotent; a no-op (returns False) where the C library is not glibc.

    Args:
        mmap_threshold: allocations at least this large still get their own ``mmap``.
        trim_threshold: free memory at the top of the heap kept before returning it.

    Returns:
        True when the settings are in force.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    return _done
