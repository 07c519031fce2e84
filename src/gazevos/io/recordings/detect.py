"""Read any supported recording: pick the reader from what the folder holds.

Formats, tried in this order by :func:`detect_format`:

=================  ==========================================================================
``pupil_core``     Pupil Player export: ``gaze_positions.csv`` (here or in ``exports/NNN/``)
``neon``           Pupil Cloud Neon/Invisible timeseries: ``gaze.csv`` + ``world_timestamps.csv``
``neon_native``    native Neon folder: ``info.json`` + ``gaze ps1.raw`` (missing parts named in
                   ``Recording.notes``)
``tobii_g3``       Tobii Glasses 3: ``gazedata.gz`` + ``scenevideo.mp4`` / ``recording.g3``
``glassestools``   glassesTools common folder: ``gazeData.tsv`` + ``frameTimestamps.tsv``
``generic``        a ``.csv``/``.tsv`` with ``timestamp, x, y`` (+ one video beside it)
=================  ==========================================================================
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazevos.errors import GazevosError
from gazevos.io.recordings import generic, glassestools, neon, pupil_core, tobii_g3
from gazevos.io.recordings._common import as_path
from gazevos.io.recordings.base import Recording


@dataclass(frozen=True)
class RecordingFormat:
    """One supported format: how to recognise it and how to read it."""

    name: str
    probe: Callable[[Path], Path | None]
    reader: Callable[..., Recording]
    looks_for: str


FORMATS: dict[str, RecordingFormat] = {f.name: f for f in (
    RecordingFormat("pupil_core", pupil_core.probe, pupil_core.read_pupil_core,
                    pupil_core.LOOKS_FOR),
    RecordingFormat("neon", neon.probe, neon.read_neon, neon.LOOKS_FOR),
    RecordingFormat("neon_native", neon.probe_native, neon.read_neon_native,
                    neon.LOOKS_FOR_NATIVE),
    RecordingFormat("tobii_g3", tobii_g3.probe, tobii_g3.read_tobii_g3, tobii_g3.LOOKS_FOR),
    RecordingFormat("glassestools", glassestools.probe, glassestools.read_glassestools,
                    glassestools.LOOKS_FOR),
    RecordingFormat("generic", generic.probe, generic.read_generic, generic.LOOKS_FOR),
)}


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name of the first format in :data:`FORMATS` that recognises ``path``.

    Raises:
        GazevosError: nothing matched; the message lists what was looked for.
    """
    p = as_path(path)
    for fmt in FORMATS.values():
        if fmt.probe(p) is not None:
            return fmt.name
    looked = "; ".join(f.looks_for for f in FORMATS.values())
    raise GazevosError(f"not a recognised eye-tracking recording; looked for: {looked}", p)


def read_recording(path: str | os.PathLike[str], format: str | None = None,  # noqa: A002
                   **options: Any) -> Recording:
    """Read a recording into a :class:`Recording`, detecting the format unless given.

    Args:
        path: a recording folder (or the main gaze file of one).
        format: a key of :data:`FORMATS`, or None to detect it.
        options: reader options (``resolution``, ``video``, ``coords``, ``time_unit``,
            ``time_offset``); options set to None are ignored, others must apply to the
            format's reader.

    Raises:
        GazevosError: unknown format, an option the format does not take, nothing
            recognised, or any reader error.
    """
    p = as_path(path)
    if format is None:
        format = detect_format(p)  # noqa: A001
    if format not in FORMATS:
        raise GazevosError(f"unknown recording format '{format}' (choose from "
                           f"{', '.join(FORMATS)})")
    reader = FORMATS[format].reader
    accepted = set(inspect.signature(reader).parameters) - {"path"}
    given = {k: v for k, v in options.items() if v is not None}
    extra = sorted(set(given) - accepted)
    if extra:
        takes = ", ".join(sorted(accepted)) or "no options"
        raise GazevosError(f"option(s) {', '.join(extra)} do not apply to {format} recordings "
                           f"(it takes: {takes})")
    return reader(p, **given)
