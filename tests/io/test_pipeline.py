"""Decode-ahead and write-behind threads: order, errors and early stops."""

from __future__ import annotations

import threading

import pytest

from gazevos.io.pipeline import Prefetch, WriteBehind


@pytest.mark.parametrize("depth", [0, 1, 4])
def test_prefetch_yields_every_item_in_order(depth: int) -> None:
    with Prefetch(range(50), depth) as p:
        assert list(p) == list(range(50))


def test_prefetch_runs_the_source_in_another_thread() -> None:
    names = []

    def source():
        for i in range(3):
            names.append(threading.current_thread().name)
            yield i

    with Prefetch(source(), 2) as p:
        assert list(p) == [0, 1, 2]
    assert set(names) == {"gazevos-decode"}


def test_prefetch_raises_the_sources_error_after_the_items_before_it() -> None:
    def source():
        yield 1
        yield 2
        raise ValueError("broken frame")

    got = []
    with Prefetch(source(), 4) as p, pytest.raises(ValueError, match="broken frame"):
        for item in p:
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def source():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    with Prefetch(source(), 2) as p:
        for item in p:
            if item == 5:
                break
    assert closed.wait(2.0)
    assert not p._thread.is_alive()


@pytest.mark.parametrize("depth", [0, 3])
def test_write_behind_writes_in_order_and_flush_waits(depth: int) -> None:
    out: list[int] = []
    with WriteBehind(out.append, depth) as w:
        for i in range(20):
            w.put(i)
        w.flush()
        assert out == list(range(20))


def test_a_write_error_reaches_the_caller_and_later_items_are_not_written() -> None:
    out: list[int] = []

    def write(i: int) -> None:
        if i == 3:
            raise OSError("disk full")
        out.append(i)

    w = WriteBehind(write, 2)
    with pytest.raises(OSError, match="disk full"):
        for i in range(10):
            w.put(i)
        w.flush()
    w.close()
    assert out == [0, 1, 2]


def test_background_returns_the_value_or_raises_the_error_of_its_call() -> None:
    from gazevos.io.pipeline import Background

    names = []

    def work(a: int, b: int) -> int:
        names.append(threading.current_thread().name)
        return a + b

    assert Background(work, 2, 3, name="gazevos-test").result() == 5
    assert names == ["gazevos-test"]

    def broken() -> None:
        raise ValueError("bad gaze")

    job = Background(broken)
    with pytest.raises(ValueError, match="bad gaze"):
        job.result()
