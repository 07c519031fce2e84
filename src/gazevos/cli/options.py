"""Options shared by several commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from gazevos.track.registry import DEFAULT_TRACKER, TRACKERS

F = TypeVar("F", bound=Callable[..., Any])

# a free string checked by build_tracker: an unknown name is a one-line GazevosError
tracker_option = click.option(
    "--tracker", default=DEFAULT_TRACKER, show_default=True,
    help=f"Tracker that propagates the masks ({', '.join(sorted(TRACKERS))}).")
checkpoint_option = click.option(
    "--checkpoint", type=click.Path(dir_okay=False), default=None,
    help="Model weights for learned trackers (default: the shipped model).")
config_option = click.option(
    "--config", "config", type=click.Path(dir_okay=False), default=None,
    help="YAML preset for the tracker's settings.")
force_option = click.option("--force", is_flag=True, help="Overwrite a non-empty output folder.")


class FiniteFloat(click.FloatRange):
    """A float option that refuses NaN and +-inf (``click.FloatRange`` lets NaN through,
    since every comparison with NaN is false), optionally within a range.

    ``FiniteFloat()`` is any finite float; the range arguments are those of
    :class:`click.FloatRange` (``min_open``/``max_open`` make a bound exclusive).
    """

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        """Parse ``value``; refuse what is not a finite number, then check the range."""
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


def finite_float(min: float | None = None, max: float | None = None,  # noqa: A002
                 min_open: bool = False, max_open: bool = False) -> FiniteFloat:
    """A :class:`FiniteFloat` type: a finite float within ``[min, max]`` (bounds optional;
    ``min_open``/``max_open``: exclusive)."""
    return FiniteFloat(min=min, max=max, min_open=min_open, max_open=max_open)


def out_option(help: str) -> Callable[[F], F]:  # noqa: A002 - click's own name
    """``--out OUT_DIR`` (required output folder) with this help text."""
    return click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
                        help=help)


def stack(*options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``options`` in the order given (first shown first)."""
    def apply(f: F) -> F:
        for o in reversed(options):
            f = o(f)
        return f
    return apply


def semseg_model_options(role: str) -> Callable[[F], F]:
    """``--checkpoint`` (required; ``role`` starts its help) and ``--arch`` for a
    segmentation model given as a gazevos checkpoint or an official HRNet release file."""
    return stack(
        click.option("--checkpoint", required=True, type=click.Path(dir_okay=False),
                     help=f"{role}: a gazevos segmentation checkpoint, or an official HRNet "
                          "release file with --arch."),
        click.option("--arch", default=None,
                     help="CHECKPOINT is an official HRNet release file of this architecture "
                          "(w48, w18-small-v1, w18-small-v2)."))


# a free string checked by gazevos.devices.resolve_device (one line for a bad name or no GPU)
device_option = click.option(
    "--device", default="cpu", show_default=True, metavar="auto|cpu|cuda[:N]",
    help="Where models run: cpu (the default, also on GPU machines), cuda (a CUDA GPU; "
         "an error where there is none), cuda:N, or auto (cuda when available, else cpu).")
amp_option = click.option(
    "--amp/--no-amp", default=None,
    help="Automatic mixed precision (float16 autocast, gradient scaling in training) on "
         "CUDA; on by default there, ignored on the CPU.")
#: ``--device`` and ``--amp/--no-amp`` (for learned trackers, training and segmentation)
device_options = stack(device_option, amp_option)

#: how a training run is chunked, resumed and shown; read back by run_options_kwargs
run_options = stack(
    click.option("--chunk-steps", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Stop after this many steps in this run (0: none); the run stays "
                      "staged beside OUT: continue it with --resume."),
    click.option("--time-limit", type=finite_float(min=0.0, max=1e7), default=0.0,
                 show_default=True,
                 help="Stop after this many minutes (0: none); continue with --resume."),
    click.option("--threads", type=click.IntRange(min=0), default=0,
                 help="Threads per process for torch, OpenCV and BLAS (0: as set)."),
    click.option("--resume", is_flag=True,
                 help="Continue the interrupted or chunked run of the same settings staged "
                      "beside OUT (nothing staged: start from step 0)."),
    click.option("--force", is_flag=True,
                 help="Replace the finished run in OUT (when this one finishes)."),
    click.option("--no-progress", is_flag=True, help="No progress bar."),
    device_options,
)


def run_options_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :class:`gazevos.train.checkpointing.RunOptions` from the values
    of :data:`run_options` (``--time-limit`` is in minutes, ````time_limit`` in seconds).

    Raises:
        GazevosError: ``--device`` names no device, or a GPU this machine lacks (checked
            here, before any data is loaded).
    """
    from gazevos.devices import resolve_device

    resolve_device(kw["device"])
    return {"resume": kw["resume"], "force": kw["force"], "max_steps": kw["chunk_steps"],
            "time_limit": kw["time_limit"] * 60.0, "threads": kw["threads"],
            "progress": not kw["no_progress"], "note": _warn, "device": kw["device"],
            "amp": kw["amp"]}


def _warn(text: str) -> None:
    """A note of the library shown as one ``gazevos: warning:`` line on stderr."""
    click.echo(f"gazevos: warning: {text}", err=True)
