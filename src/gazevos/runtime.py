"""Process-wide performance settings: threads, and reuse of freed memory.

:func:`configure_threads` is the one place that decides how many threads torch, OpenCV and
the BLAS / OpenMP pools use (``gazevos --threads N``, ``GAZEVOS_THREADS``, default: the
cores available to the process).  It also makes OpenMP threads sleep instead of spinning
when they wait (``OMP_WAIT_POLICY=PASSIVE``, unless already set): with the default
spinning, ``ranet`` with 2 threads fell from 7.7 to 0.36 frames/s when another job kept
both cores busy (docs/experiments/reliability.md, Threads under load).

:func:`keep_freed_memory` stops glibc from handing large freed blocks back to the kernel.
By default every allocation above 32 MiB is a fresh ``mmap``, so each large temporary
tensor (the MAST search makes several per frame) costs one page fault per 4 KiB page on
first touch; on the 2-core VMs this project is measured on that made a 480p MAST step
2x slower than the arithmetic (docs/experiments/mast.md, Speed).  With it, freed blocks are
reused: the resident size then stays at its peak instead of falling back between frames.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import operator
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from gazevos.errors import GazevosError

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


#: environment variable that sets the default of :func:`configure_threads`
THREADS_ENV = "GAZEVOS_THREADS"
#: at most this many threads per available core (more only oversubscribes the cores)
MAX_THREADS_PER_CORE = 4
#: OpenMP wait policy set when the environment has none; read by each OpenMP runtime
#: (torch's, scikit-learn's libgomp) when it is loaded, so it must be set before ``import
#: torch``.  PASSIVE: a thread waiting at a barrier sleeps instead of spinning.
WAIT_POLICY = "PASSIVE"
#: variables read by OpenMP / BLAS runtimes loaded after :func:`configure_threads`
_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, else all)."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:  # pragma: no cover - affinity unreadable
            pass
    return max(1, os.cpu_count() or 1)


def parse_threads(value: object, name: str = "--threads") -> int:
    """A thread count from a user: a whole number from 1 to :data:`MAX_THREADS_PER_CORE`
    times :func:`available_cores`.

    Args:
        value: an integer (``int``, numpy integer) or the text given (surrounding blanks
            ignored); a ``bool`` or ``float`` is refused.
        name: the option or variable named in the error message.

    Raises:
        GazevosError: one line naming ``name`` when ``value`` is not such a number.
    """
    text = str(value).strip()
    try:
        if isinstance(value, bool):
            raise ValueError
        n = int(text, 10) if isinstance(value, str) else operator.index(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise GazevosError(f"{name}: '{text}' is not a whole number of threads") from None
    most = MAX_THREADS_PER_CORE * available_cores()
    if n < 1:
        raise GazevosError(f"{name}: {n} threads: use at least 1")
    if n > most:
        raise GazevosError(f"{name}: {n} threads is more than {MAX_THREADS_PER_CORE} per core "
                           f"available to this process ({available_cores()} cores): use at "
                           f"most {most}")
    return n


def default_threads() -> int:
    """``GAZEVOS_THREADS`` when set (checked by :func:`parse_threads`), else
    :func:`available_cores` shared by the processes torchrun started on this machine
    (``LOCAL_WORLD_SIZE``; at least 1 each)."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        return parse_threads(env, THREADS_ENV)
    local = os.environ.get("LOCAL_WORLD_SIZE", "1").strip()
    workers = int(local) if local.isdigit() and int(local) > 0 else 1
    return max(1, available_cores() // workers)


@dataclass(frozen=True)
class ThreadSettings:
    """What :func:`configure_threads` put in force (read back from the libraries).

    Attributes:
        threads: the count asked for.
        torch: ``torch.get_num_threads()``.
        torch_interop: ``torch.get_num_interop_threads()`` (settable once per process).
        opencv: ``cv2.getNumThreads()``.
        pools: ``{library file: threads}`` of the BLAS / OpenMP pools threadpoolctl sees.
        wait_policy: ``OMP_WAIT_POLICY`` in the environment.
        wait_policy_applied: False when torch's OpenMP runtime was loaded before the policy
            was set (it reads it only once, when loaded), so its threads may still spin.
    """

    threads: int
    torch: int
    torch_interop: int
    opencv: int
    pools: dict[str, int]
    wait_policy: str
    wait_policy_applied: bool


_settings: ThreadSettings | None = None
_policy_applied: bool | None = None


def prefer_sleeping_openmp_threads() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless the environment has a policy.

    OpenMP runtimes read the policy once, when they are loaded: call this before ``import
    torch`` (``gazevos.cli`` calls it before it imports its commands).  Idempotent.

    Returns:
        whether the environment's policy reaches torch: False when this process had
        imported torch before the first call and the policy was not in the environment.
    """
    global _policy_applied
    if _policy_applied is None:
        _policy_applied = "OMP_WAIT_POLICY" in os.environ or "torch" not in sys.modules
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    return _policy_applied


def configure_threads(n: int | None = None) -> int:
    """Use ``n`` threads in torch, OpenCV and the BLAS / OpenMP pools of this process.

    ``None``: :func:`default_threads` (``GAZEVOS_THREADS``, else the cores available,
    shared among torchrun's local processes).
    Sets ``torch.set_num_threads(n)``, torch's inter-op pool to 1 thread (nothing in
    gazevos runs torch tasks concurrently; a larger pool would run ``n`` intra-op threads
    from each of its threads; it can be set only once per process, before any parallel
    work: later calls keep what is there), ``cv2.setNumThreads(n)``, every pool threadpoolctl
    finds (OpenBLAS, MKL, OpenMP) and ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` /
    ``OPENBLAS_NUM_THREADS`` for runtimes loaded later and for child processes, and calls
    :func:`prefer_sleeping_openmp_threads` (which reaches torch only when called before
    ``import torch``).  Can be called again with another ``n``.

    Returns:
        the thread count now in force.

    Raises:
        GazevosError: ``n`` or ``GAZEVOS_THREADS`` is not a whole number from 1 to
            :data:`MAX_THREADS_PER_CORE` times the available cores.
    """
    global _settings
    n = default_threads() if n is None else parse_threads(n)
    applied = prefer_sleeping_openmp_threads()
    for var in _THREAD_ENV_VARS:
        os.environ[var] = str(n)

    import cv2
    import torch
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()  # the pools loaded now (later ones: the variables)
    controller.limit(limits=n)  # not used as a context: the limits stay
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started: keep it
        pass
    cv2.setNumThreads(n)
    _settings = ThreadSettings(
        threads=n, torch=torch.get_num_threads(),
        torch_interop=torch.get_num_interop_threads(), opencv=cv2.getNumThreads(),
        pools={p.filepath: p.num_threads for p in controller.lib_controllers},
        wait_policy=os.environ["OMP_WAIT_POLICY"], wait_policy_applied=applied)
    return n


def thread_settings() -> ThreadSettings | None:
    """The settings of the last :func:`configure_threads` call (None before the first)."""
    return _settings


def pipeline_opencv_threads() -> int:
    """OpenCV's pool size while a pass runs its own threads beside the tracker (decoding,
    mask writing, the trailing gaze and overlay work; :func:`opencv_threads`).

    1 when this process uses at most 2 threads (:func:`configure_threads`, else
    :func:`default_threads`): there the pass's own threads keep both cores busy, and
    OpenCV splitting each call over its pool only adds CPU (2-3 ms a frame of a 1080p
    ``annotate`` with two objects, session 15, equal masks).  Otherwise that thread count
    (not measured: this project's machine has 2 cores).
    """
    s = thread_settings()
    n = s.threads if s is not None else default_threads()
    return 1 if n <= 2 else n


_cv_lock = threading.Lock()
_cv_users = 0             # blocks inside opencv_threads now
_cv_before = 0            # the pool size before the first of them


@contextlib.contextmanager
def opencv_threads(n: int) -> Iterator[int]:
    """OpenCV's thread pool at ``n`` threads inside the block, as it was after it.

    The pool is the process's: other threads' OpenCV calls see it too.  Blocks may overlap
    (two passes in a server's threads): the last one out restores the size the first one
    found.
    """
    global _cv_users, _cv_before
    import cv2

    with _cv_lock:
        if _cv_users == 0:
            _cv_before = cv2.getNumThreads()
        _cv_users += 1
        cv2.setNumThreads(max(1, int(n)))
        now = cv2.getNumThreads()
    try:
        yield now
    finally:
        with _cv_lock:
            _cv_users -= 1
            if _cv_users == 0:
                cv2.setNumThreads(_cv_before)
