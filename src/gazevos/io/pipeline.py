"""Decoding ahead and writing behind the tracker, in threads.

A tracking pass has three stages per frame: decode the next frame, step the tracker, write
the label map.  Decoding (PyAV / FFmpeg) and PNG encoding (zlib) release the GIL, so on a
machine with two or more cores they run beside the tracker instead of before and after it.

* :class:`Prefetch` iterates a frame source in a thread, ``depth`` frames ahead.
* :class:`WriteBehind` calls a writer in a thread, at most ``depth`` calls behind; its
  :meth:`~WriteBehind.flush` waits until everything handed over is written (a resumable
  pass flushes before it saves its state: the state then never runs ahead of the disk).
* :class:`Background` runs one call in a thread; :meth:`~Background.result` waits for it.

Errors raised in a thread are raised again in the caller at its next call.  Each stage
adds up the CPU time of its own thread (``cpu_seconds``), which is what the speed
benchmark reports per stage.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_END = object()


class Background(Generic[R]):
    """``fn(*args)`` in a daemon thread; :meth:`result` waits for it and returns its value
    or raises its error.  A daemon thread, not a pool: an interrupted run does not wait
    for it to finish."""

    def __init__(self, fn: Callable[..., R], *args: object, name: str = "gazevos-bg") -> None:
        self._result: R | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, *args), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., R], *args: object) -> None:
        try:
            self._result = fn(*args)
        except BaseException as err:  # noqa: BLE001 - raised by result()
            self._error = err

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: until done); whether the call is done."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> R:
        """The call's value (raises its error)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class Prefetch(Generic[T]):
    """Iterate ``source`` in a background thread, up to ``depth`` items ahead.

    Use as a context manager (or call :meth:`close`): leaving stops the thread and closes
    the source.  With ``depth`` 0 nothing runs in a thread (plain iteration).
    """

    def __init__(self, source: Iterable[T], depth: int = 4, name: str = "gazevos-decode"
                 ) -> None:
        self._source = source
        self._name = name
        self.depth = depth
        self.cpu_seconds = 0.0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        it = iter(self._source)
        t0 = time.thread_time()
        try:
            for item in it:
                if not self._offer(item):
                    break
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            self._error = err
        finally:
            close = getattr(it, "close", None)
            if callable(close):
                close()
            self.cpu_seconds += time.thread_time() - t0
            self._offer(_END)

    def _offer(self, item: object) -> bool:
        """Queue ``item`` unless the consumer stopped first (False then)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        if self.depth <= 0:
            t = time.perf_counter()
            for item in self._source:
                self.cpu_seconds += time.perf_counter() - t
                yield item
                t = time.perf_counter()
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name,
                                            daemon=True)
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the thread (the source is closed by it)."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:               # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.05)

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WriteBehind(Generic[T]):
    """Call ``write(item)`` in a background thread, at most ``depth`` items behind.

    After a write fails, later items are dropped (the error is raised in the caller by the
    next :meth:`put` or :meth:`flush`).  With ``depth`` 0 every call writes at once in the
    caller's thread.
    """

    def __init__(self, write: Callable[[T], None], depth: int = 4, name: str = "gazevos-write"
                 ) -> None:
        self._write = write
        self._name = name
        self.depth = depth
        self.cpu_seconds = 0.0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._failed = False          # after an error nothing more is written
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _END:
                    return
                if not self._failed:
                    t0 = time.thread_time()
                    try:
                        self._write(item)  # type: ignore[arg-type]
                    except BaseException as err:  # noqa: BLE001 - raised in the caller
                        self._error, self._failed = err, True
                    self.cpu_seconds += time.thread_time() - t0
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def put(self, item: T) -> None:
        """Hand over one item (raises an error of an earlier write)."""
        self._raise()
        if self.depth <= 0:
            t0 = time.thread_time()
            self._write(item)
            self.cpu_seconds += time.thread_time() - t0
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name,
                                            daemon=True)
            self._thread.start()
        self._queue.put(item)

    def flush(self) -> None:
        """Wait until every item handed over is written; raise an error of any of them."""
        if self._thread is not None:
            self._queue.join()
        self._raise()

    def close(self) -> None:
        """Write what is pending and stop the thread (errors are raised by :meth:`flush`)."""
        if self._thread is not None:
            self._queue.put(_END)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
