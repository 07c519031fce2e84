"""How ``annotate``'s cost grows with the number of objects and with the video's length.

    python bench/scaling.py [--resolution 320x180] [--objects 1 2 4 8] [--minutes 1 10 60]
                            [--plot docs/images/scaling.png]

Each point is one ``bench/speed.py`` run in a fresh process (so its peak RSS is its own) on
the looped real Tobii footage of ``bench/_looped.py`` at 30 frames/s with the default
settings: objects 1, 2, 4, 8 on a ``--base-minutes`` video; lengths 1, 10, 60 minutes with
two objects.  Rows are appended to ``--json`` (reruns reuse the rows already there) and the
plot shows wall seconds and CPU seconds against objects and against minutes of video, with
the straight line through the origin and the first point (linear growth) for reference,
and, inside the longest run, masks written and resident memory against time (sampled every
5 s: a straight line and a flat one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _row(rows: list[dict], res: str, seconds: float, objects: int,
         stride: int) -> dict | None:
    for r in rows:
        if (r["resolution"] == res and r["objects"] == objects and r["stride"] == stride
                and abs(r["frames"] - seconds * 30) < 2):
            return r
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolution", default="320x180")
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    ap.add_argument("--base-minutes", type=float, default=1.0)
    ap.add_argument("--json", default=str(HERE / "results" / "scaling.json"))
    ap.add_argument("--plot", default=None, help="write the plot (PNG) here")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--length-track-rate", type=float, default=0.0,
                    help="--track-rate of the length sweep (0: every frame; a 60-minute "
                         "video tracked on every frame takes hours on 2 cores)")
    args = ap.parse_args()
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = args.length_track_rate
    stride = max(1, int(30 // rate)) if rate > 0 else 1
    todo = [(args.base_minutes, k, 0.0, 1) for k in args.objects]
    todo += [(m, 2, rate, stride) for m in args.minutes]
    for minutes, k, r, st in todo:
        rows = json.loads(path.read_text()) if path.is_file() else []
        if _row(rows, args.resolution, minutes * 60, k, st) is not None:
            continue
        cmd = [sys.executable, str(HERE / "speed.py"), "--resolution", args.resolution,
               "--seconds", str(minutes * 60), "--objects", str(k), "--json", str(path),
               "--track-rate", str(r)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print("+", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
    rows = json.loads(path.read_text())
    by_obj = [(k, _row(rows, args.resolution, args.base_minutes * 60, k, 1))
              for k in args.objects]
    by_len = [(m, _row(rows, args.resolution, m * 60, 2, stride)) for m in args.minutes]
    print(f"\n{args.resolution}, 30 frames/s; wall s / CPU s / peak RSS MiB / frames/s")
    for label, pts in (("objects", by_obj), (f"minutes (stride {stride})", by_len)):
        for x, row in pts:
            if row is not None:
                wall = row["frames"] / row["fps_end_to_end"]
                cpu = row["cpu_ms_per_frame"] * row["frames"] / 1000
                print(f"  {label} {x:g}: {wall:.0f} / {cpu:.0f} / {row['peak_rss_mib']:.0f} / "
                      f"{row['fps_end_to_end']:.1f} (load {row['load_avg']:.1f})")
    if args.plot:
        plot(by_obj, by_len, args, Path(args.plot), stride)


def plot(by_obj: list, by_len: list, args: argparse.Namespace, out: Path,
         stride: int = 1) -> None:
    """Three panels: seconds against objects, seconds against minutes, RSS against minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, pts, xlabel in ((axes[0], by_obj, f"objects ({args.base_minutes:g}-min video)"),
                            (axes[1], by_len, f"video length, minutes (2 objects, "
                                              f"every {stride} frame(s) tracked)")):
        pts = [(x, r) for x, r in pts if r is not None]
        if not pts:
            continue
        xs = [x for x, _ in pts]
        wall = [r["frames"] / r["fps_end_to_end"] for _, r in pts]
        cpu = [r["cpu_ms_per_frame"] * r["frames"] / 1000 for _, r in pts]
        ax.plot(xs, wall, "o-", label="wall s")
        ax.plot(xs, cpu, "s-", label="CPU s")
        ax.plot([0, xs[-1]], [0, cpu[0] / xs[0] * xs[-1]], ":", color="grey",
                label="linear from the first point (CPU)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    longest = max((r for _, r in by_len if r is not None and r.get("timeline")),
                  key=lambda r: r["frames"], default=None)
    if longest is not None:          # inside the longest run: progress and memory over time
        tl = [(t, n, m) for t, n, m in longest["timeline"] if n >= 0]
        ax = axes[2]
        ax.plot([t for t, _, _ in tl], [n for _, n, _ in tl], "-", label="masks written")
        ax.set_xlabel(f"seconds into the {longest['frames'] / 1800:g}-min run")
        ax.set_ylabel("masks written")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax2 = ax.twinx()
        ax2.plot([t for t, _, _ in longest["timeline"]], [m for _, _, m in longest["timeline"]],
                 "-", color="tab:red", label="RSS MiB")
        ax2.set_ylabel("resident memory, MiB", color="tab:red")
        ax2.set_ylim(0, 1.25 * max(m for _, _, m in longest["timeline"]))
    fig.suptitle(f"annotate, default settings, {args.resolution} at 30 frames/s, 2 cores")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
