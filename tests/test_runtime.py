"""gazevos.runtime: glibc keeps large freed blocks for reuse; one place sets threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import torch
from threadpoolctl import ThreadpoolController, threadpool_info

from gazevos.errors import GazevosError
from gazevos.runtime import (
    MAX_THREADS_PER_CORE,
    THREADS_ENV,
    available_cores,
    configure_threads,
    parse_threads,
    thread_settings,
)

SCRIPT = r"""
import resource, sys, time
import torch
sys.path.insert(0, {src!r})
if {on}:
    from gazevos.runtime import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = torch.ones(16 << 20)  # 64 MiB of float32, above glibc's default mmap threshold
    del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_blocks_are_reused_instead_of_faulted_in_again() -> None:
    import gazevos

    src = str(__import__("pathlib").Path(gazevos.__file__).parents[1])

    def faults(on: bool) -> int:
        out = subprocess.run([sys.executable, "-c", SCRIPT.format(src=src, on=on)],
                             capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    off, on = faults(False), faults(True)
    # off: each of the 20 blocks is faulted in again (about 20 x 16384 page faults); on:
    # freed memory is reused (measured here: about 2.5x fewer faults; torch's 64-byte
    # aligned allocations do not always fit the freed block exactly)
    assert off >= 15 * 16384
    assert on * 2 < off


# --- configure_threads: one place sets torch, OpenCV and BLAS / OpenMP threads ---------

_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
        THREADS_ENV)


@pytest.fixture
def restore_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give the test process its thread settings and environment back afterwards."""
    for var in _ENV:  # monkeypatch restores what configure_threads writes
        monkeypatch.setenv(var, os.environ[var]) if var in os.environ else \
            monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    torch_n, cv2_n = torch.get_num_threads(), cv2.getNumThreads()
    pools = {c.filepath: c.num_threads for c in ThreadpoolController().lib_controllers}
    yield
    for c in ThreadpoolController().lib_controllers:
        if c.filepath in pools:
            c.set_num_threads(pools[c.filepath])
    torch.set_num_threads(torch_n)
    cv2.setNumThreads(cv2_n)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("n", [1, 3])
def test_configure_threads_sets_torch_opencv_and_every_pool(n: int) -> None:
    if n > MAX_THREADS_PER_CORE * available_cores():
        pytest.skip("too few cores")
    assert configure_threads(n) == n
    assert torch.get_num_threads() == n
    assert cv2.getNumThreads() == n
    info = threadpool_info()
    assert info and all(p["num_threads"] == n for p in info), info
    assert {"openmp", "blas"} <= {p["user_api"] for p in info}  # torch's libgomp, OpenBLAS
    assert all(os.environ[v] == str(n) for v in _ENV[:3])  # for runtimes loaded later
    s = thread_settings()
    assert s is not None and (s.threads, s.torch, s.opencv) == (n, n, n)
    assert os.environ["OMP_WAIT_POLICY"] == s.wait_policy


@pytest.mark.usefixtures("restore_threads")
def test_default_is_the_available_cores_and_the_environment_overrides_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert configure_threads(None) == available_cores() == torch.get_num_threads()
    if hasattr(os, "sched_getaffinity"):
        assert available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(available_cores()))  # torchrun's workers
    assert configure_threads() == 1 == torch.get_num_threads()
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    monkeypatch.setenv(THREADS_ENV, " 1 ")
    assert configure_threads() == 1 == torch.get_num_threads() == cv2.getNumThreads()
    assert configure_threads(2) == 2 == torch.get_num_threads()  # an explicit count wins


@pytest.mark.parametrize("value", [0, -1, "abc", "", "1.5", 2.0, True, 10000, "10000"])
def test_bad_thread_counts_are_one_line_errors_naming_the_option(value: object) -> None:
    with pytest.raises(GazevosError) as exc:
        parse_threads(value, "--threads")
    msg = str(exc.value)
    assert msg.startswith("--threads: ") and "\n" not in msg


@pytest.mark.usefixtures("restore_threads")
def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv(THREADS_ENV, "lots")
    with pytest.raises(GazevosError, match=f"^{THREADS_ENV}: 'lots' is not a whole number"):
        configure_threads()
    assert torch.get_num_threads() == before  # nothing changed


def test_upper_bound_is_per_available_core() -> None:
    most = MAX_THREADS_PER_CORE * available_cores()
    assert parse_threads(most) == most and parse_threads(f" {most}\n") == most
    assert parse_threads(np.int64(1)) == 1  # a numpy integer is an integer
    with pytest.raises(GazevosError, match=f"use at most {most}$"):
        parse_threads(most + 1)


FRESH = r"""
import json, os, sys
{before}
import gazevos.cli  # sets the OpenMP wait policy before anything loads torch
from gazevos.runtime import configure_threads, thread_settings
configure_threads({n})
import torch
print(json.dumps({{**thread_settings().__dict__, "now": torch.get_num_threads()}}))
"""


def _fresh(n: str, before: str = "", **env: str) -> tuple[dict[str, object], str]:
    """configure_threads(n) in a new process; (its settings, its stderr)."""
    clean = {k: v for k, v in os.environ.items() if k not in _ENV}
    out = subprocess.run([sys.executable, "-c", FRESH.format(n=n, before=before)],
                         capture_output=True, text=True, check=True,
                         env={**clean, "OMP_DISPLAY_ENV": "VERBOSE", **env})
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_fresh_process_gets_interop_1_and_sleeping_openmp_threads() -> None:
    s, err = _fresh("1")
    assert (s["torch"], s["torch_interop"], s["opencv"], s["now"]) == (1, 1, 1, 1)
    assert set(s["pools"].values()) == {1}
    assert s["wait_policy"] == "PASSIVE" and s["wait_policy_applied"] is True
    # libgomp (OMP_DISPLAY_ENV) confirms its threads do not spin: spin count 0 (300000
    # when the policy is not set before torch loads)
    assert "GOMP_SPINCOUNT = '0'" in err, err


def test_a_policy_set_after_torch_loaded_is_reported_as_not_applied() -> None:
    s, err = _fresh("1", before="import torch")
    assert s["wait_policy"] == "PASSIVE" and s["wait_policy_applied"] is False
    assert "GOMP_SPINCOUNT = '300000'" in err, err
    s, err = _fresh("1", before="import torch", OMP_WAIT_POLICY="ACTIVE")  # the user's own
    assert s["wait_policy"] == "ACTIVE" and s["wait_policy_applied"] is True


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or available_cores() < 2,
                    reason="needs CPU affinity and 2 cores")
def test_default_follows_the_cpu_affinity_of_the_process() -> None:
    s, _ = _fresh("None", before="os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})")
    assert (s["threads"], s["torch"], s["opencv"]) == (1, 1, 1)


def test_overlapping_opencv_thread_blocks_restore_what_the_first_found():
    from gazevos.runtime import opencv_threads

    before = cv2.getNumThreads()
    first = opencv_threads(1)
    second = opencv_threads(1)
    assert first.__enter__() == 1
    assert second.__enter__() == 1
    first.__exit__(None, None, None)        # the first one leaves while the second runs
    assert cv2.getNumThreads() == 1
    second.__exit__(None, None, None)
    assert cv2.getNumThreads() == before
    with opencv_threads(3) as n:
        assert n == cv2.getNumThreads() == 3
    assert cv2.getNumThreads() == before
