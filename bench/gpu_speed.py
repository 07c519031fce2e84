"""Bench: frames/s of the learned trackers and steps/s of their training, CPU against CUDA.

For each device (default: ``cpu``, and ``cuda`` when ``torch.cuda.is_available()``):

* ``mast`` and ``ranet`` tracking one object through the first ``--frames`` frames of a
  DAVIS dev sequence (480p): the first step (for ``ranet`` it holds the per-video online
  adaptation of ``--online-steps`` steps) and frames/s over the remaining frames;
* ``train mast`` (shipped ``mast`` preset) and ``train ranet`` (default settings, no
  validation) for ``--train-steps`` steps on that sequence: steps/s between the first and
  the last step (from ``log.csv``; loading the data is not counted).

CUDA runs use automatic mixed precision unless ``--no-amp``.  Prints one table row per
measurement.  Needs the DAVIS dev frames (``../shared/data/davis2016-dev`` beside the
repository, or ``--davis``); without them it says so and exits 0.

    python bench/gpu_speed.py                                  # cpu and, if present, cuda
    python bench/gpu_speed.py --devices cpu --frames 3 --train-steps 2 --online-steps 1
                                                               # smoke check on a CPU machine
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis2016-dev"


@dataclasses.dataclass
class Row:
    """One measurement: what ran, where, and its rate."""

    what: str
    device: str
    rate: float
    unit: str
    note: str = ""


def track_rows(davis: Path, sequence: str, device: str, amp: bool | None, frames: int,
               online_steps: int) -> list[Row]:
    """``mast`` and ``ranet`` frames/s on ``device`` (the first step timed apart)."""
    import torch

    from gazevos.devices import describe, resolve_device
    from gazevos.io import open_frames, read_mask
    from gazevos.track import build_tracker

    images = [f.image for _, f in zip(range(frames),
                                      open_frames(davis / "JPEGImages" / "480p" / sequence),
                                      strict=False)]
    first = (read_mask(davis / "Annotations" / "480p" / sequence / "00000.png") > 0).astype(
        "uint8")
    dev = resolve_device(device)
    rows = []
    for name, settings in (("mast", {}), ("ranet", {"online_steps": online_steps})):
        torch.manual_seed(0)
        trk = build_tracker(name, device=dev, amp=amp, **settings)
        where = describe(dev, trk.amp)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        trk.step(images[0], mask=first)
        first_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        for img in images[1:]:
            trk.step(img)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        rest = time.perf_counter() - t1
        rate = (len(images) - 1) / rest if len(images) > 1 else float("nan")
        extra = f", {online_steps} adaptation steps" if name == "ranet" else ""
        rows.append(Row(f"track {name}", where, rate, "frames/s",
                        f"first step {first_s:.2f} s{extra}; {len(images)} frames"))
    return rows


def _steps_per_second(log: Path) -> float:
    """Steps/s between the first and the last row of a training ``log.csv``."""
    rows = [r.split(",") for r in log.read_text().splitlines()[1:] if r]
    if len(rows) < 2:
        return float("nan")
    (s0, t0), (s1, t1) = (int(rows[0][0]), float(rows[0][-1])), (int(rows[-1][0]),
                                                                 float(rows[-1][-1]))
    return (s1 - s0) / max(t1 - t0, 1e-9)


def train_rows(davis: Path, sequence: str, device: str, amp: bool | None, steps: int,
               frames: int) -> list[Row]:
    """``train mast`` and ``train ranet`` steps/s on ``device``."""
    from gazevos.config import load_config
    from gazevos.devices import amp_enabled, describe, resolve_device
    from gazevos.train.checkpointing import RunOptions
    from gazevos.train.mast import MastTrainConfig, train_mast
    from gazevos.train.ranet import RanetTrainConfig, train_ranet

    dev = resolve_device(device)
    where = describe(dev, amp_enabled(dev, amp))
    opts = RunOptions(progress=False, device=device, amp=amp)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mcfg = dataclasses.replace(load_config(MastTrainConfig, "mast"), steps=steps,
                                   max_frames_per_video=max(frames, 8))
        train_mast([davis / "JPEGImages" / "480p" / sequence], Path(tmp) / "mast", mcfg, opts)
        rows.append(Row("train mast", where, _steps_per_second(Path(tmp) / "mast" / "log.csv"),
                        "steps/s", f"preset 'mast', batch {mcfg.batch_size}, "
                                   f"crop {mcfg.crop_size}"))
        rcfg = dataclasses.replace(RanetTrainConfig(), steps=steps, val_every=0)
        train_ranet(davis, [sequence], [], Path(tmp) / "ranet", rcfg, opts)
        rows.append(Row("train ranet", where,
                        _steps_per_second(Path(tmp) / "ranet" / "log.csv"), "steps/s",
                        f"defaults, batch {rcfg.batch_size}, {rcfg.pairs.size[0]}x"
                        f"{rcfg.pairs.size[1]}"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", nargs="*", default=None,
                    help="devices to compare (default: cpu, and cuda when available)")
    ap.add_argument("--davis", type=Path, default=DAVIS, help="DAVIS-2016 dev folder")
    ap.add_argument("--sequence", default="dog")
    ap.add_argument("--frames", type=int, default=30, help="frames tracked per tracker")
    ap.add_argument("--online-steps", type=int, default=50,
                    help="ranet's online adaptation steps (its default: 50)")
    ap.add_argument("--train-steps", type=int, default=20, help="0: no training rows")
    ap.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                    help="mixed precision on CUDA (default: on)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    args = ap.parse_args()
    if not (args.davis / "JPEGImages" / "480p" / args.sequence).is_dir():
        print(f"skip: no DAVIS dev frames at {args.davis / 'JPEGImages' / '480p' / args.sequence}")
        return 0
    from gazevos.runtime import configure_threads

    threads = configure_threads(args.threads)
    import torch

    devices = args.devices or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    rows: list[Row] = []
    for device in devices:
        rows += track_rows(args.davis, args.sequence, device, args.amp, args.frames,
                           args.online_steps)
        if args.train_steps > 0:
            rows += train_rows(args.davis, args.sequence, device, args.amp, args.train_steps,
                               args.frames)
    print(f"\nsequence {args.sequence}, {threads} CPU threads, torch {torch.__version__}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'what':<12} {'device':<40} {'rate':>9}  unit      note")
    for r in rows:
        print(f"{r.what:<12} {r.device:<40} {r.rate:>9.2f}  {r.unit:<9} {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
