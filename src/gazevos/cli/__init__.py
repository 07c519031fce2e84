"""The ``gazevos`` command line.

Each sub-command lives in its own module of this package and is registered on the root
group here.  Errors from the library (:class:`~gazevos.errors.GazevosError`) become one
line on stderr and exit code 2, and so do an :class:`OSError` (``gazevos: error: PATH:
what (ERRNO)``) and a :class:`MemoryError` (:func:`gazevos.cli.errors.describe_error`); no
traceback is shown unless ``GAZEVOS_DEBUG=1``.  Warnings of the library are one line
``gazevos: warning: ...`` on stderr (:func:`gazevos.cli.errors.warnings_to_stderr`).

``gazevos --threads N COMMAND`` (default: ``GAZEVOS_THREADS``, else the cores available)
sets the threads of torch, OpenCV and the BLAS / OpenMP pools before the command runs
(:func:`gazevos.runtime.configure_threads`).

Signals: SIGTERM and SIGHUP take the path of Ctrl-C while a command runs (a
``KeyboardInterrupt`` is raised in the main thread, so a command's ``finally`` / ``except
KeyboardInterrupt`` clean-up runs), unless they were ignored when ``main`` started (e.g.
under ``nohup``).  The command ends with one line, ``gazevos: interrupted (SIGTERM)``, and
exit code 128 + the signal's number: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, 129 for
SIGHUP.  The previous handlers are restored when ``main`` returns.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from gazevos import __version__
from gazevos.cli.errors import describe_error, warnings_to_stderr
from gazevos.errors import GazevosError
from gazevos.runtime import (
    THREADS_ENV,
    configure_threads,
    keep_freed_memory,
    parse_threads,
    prefer_sleeping_openmp_threads,
)

# OpenMP reads its wait policy once, when loaded, and the command modules registered
# below may import torch: set it first (spinning threads collapse speed on a busy machine)
prefer_sleeping_openmp_threads()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gazevos")
@click.option("--threads", "threads", metavar="N", default=None,
              help=f"Threads of torch, OpenCV and BLAS [default: ${THREADS_ENV}, else the "
                   "cores available to this process].")
def cli(threads: str | None) -> None:
    """gazevos: which object did the wearer look at, in every frame and fixation."""
    configure_threads(None if threads is None else parse_threads(threads, "--threads"))


def _register() -> None:
    from gazevos.cli import davis, track

    cli.add_command(track.propagate)
    cli.add_command(davis.davis)
    from gazevos.cli import gaze_import; cli.add_command(gaze_import.gaze_import)  # noqa: E702, I001
    from gazevos.cli import train; cli.add_command(train.train)  # noqa: E702, I001
    from gazevos.cli import annotate as a; cli.add_command(a.annotate); cli.add_command(a.demo)  # noqa: E501, E702, I001
    from gazevos.cli import adapt as ad, segment as sg; cli.add_command(ad.adapt); cli.add_command(sg.segment); train.train.add_command(ad.train_semseg)  # noqa: E501, E702, I001
    from gazevos.cli import study as st, validate as va; cli.add_command(st.study); cli.add_command(va.validate)  # noqa: E501, E702, I001
    from gazevos.cli import studio as so; cli.add_command(so.studio)  # noqa: E702, I001


_register()


#: signals turned into KeyboardInterrupt while a command runs (those this OS has)
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


class _Received:
    """The last signal a handler of :func:`_signals_interrupt` received (None: none)."""

    signum: int | None = None


@contextmanager
def _signals_interrupt() -> Iterator[_Received]:
    """While inside, SIGTERM / SIGHUP raise ``KeyboardInterrupt`` in the main thread like
    Ctrl-C; signals that were ignored stay ignored, and the previous handlers come back on
    exit.  Outside the main thread (where Python cannot set handlers) nothing changes."""
    received = _Received()

    def handler(signum: int, frame: FrameType | None) -> None:
        received.signum = signum
        raise KeyboardInterrupt

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


def _interrupted(received: _Received, exc: BaseException | None = None) -> int:
    """Print the one line of an interrupted command (with what the command said about
    its kept work, e.g. how to resume); its exit code (128 + signal)."""
    signum = received.signum or signal.SIGINT
    said = " ".join(str(exc).split()) if isinstance(exc, KeyboardInterrupt) else ""
    click.echo(f"gazevos: interrupted ({signal.Signals(signum).name})"
               + (f": {said}" if said else ""), err=True)
    return 128 + int(signum)


def _click_message(exc: click.ClickException) -> str:
    """click's error as one line: the command, the problem and where help is."""
    msg = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return msg
    msg = (msg[:1].lower() + msg[1:] if msg[:2] != msg[:2].upper() else msg).rstrip(".")
    return f"{ctx.command_path}: {msg} (see '{ctx.command_path} --help')"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into one line and an exit code
    (interrupts and signals: see the module's docstring)."""
    debug = os.environ.get("GAZEVOS_DEBUG") == "1"
    keep_freed_memory()
    prefer_sleeping_openmp_threads()
    with _signals_interrupt() as received, warnings_to_stderr():
        try:
            cli.main(args=argv, prog_name="gazevos", standalone_mode=False)
        except click.exceptions.Exit as exc:
            return int(exc.exit_code)
        except click.ClickException as exc:  # usage errors too: one line, like the others
            click.echo(f"gazevos: error: {_click_message(exc)}", err=True)
            return exc.exit_code
        except click.exceptions.Abort as exc:
            # click turns KeyboardInterrupt (and EOF at a prompt) into Abort
            if received.signum is not None or isinstance(exc.__context__, KeyboardInterrupt):
                return _interrupted(received, exc.__context__)
            click.echo("gazevos: aborted", err=True)
            return 130
        except GazevosError as exc:
            if debug:
                raise
            click.echo(f"gazevos: error: {exc}", err=True)
            return 2
        except KeyboardInterrupt as exc:
            return _interrupted(received, exc)
        except (OSError, MemoryError) as exc:  # permissions, full disk, long names, memory
            if debug:
                raise
            click.echo(f"gazevos: error: {describe_error(exc) or exc}", err=True)
            return 2
        except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
            if debug:
                raise
            msg = " ".join(str(exc).split())
            click.echo(f"gazevos: error: internal error: {exc.__class__.__name__}: {msg} "
                       "(set GAZEVOS_DEBUG=1 for a traceback)", err=True)
            return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
