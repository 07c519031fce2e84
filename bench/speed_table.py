"""``annotate`` frames/s and per-stage costs at the cameras' resolutions, as a table.

    python bench/speed_table.py [--resolutions 854x480 1920x1080 1600x1200] [--objects 1 2 3]
                                [--seconds 10] [--json bench/results/speed.json] [--rerun]

One ``bench/speed.py`` run per resolution and object count, each in a fresh process, on the
looped real Tobii footage at 30 frames/s with the default settings.  Prints a Markdown
table: frames/s end to end and of the tracking pass, CPU ms per frame, the share of
tracked frames carried by the optical flow alone (classic's adaptive carrying), the
tracker's stages (ms of wall time per frame, from ``Tracker.seconds``), decoding (a separate
decode-only pass), mask writing (CPU of its thread), the CPU of the fixation detection and
gaze mapping and of the overlay video (their threads run beside the tracker; the overlay's
second decoder's FFmpeg threads are not counted), what was left after tracking (ms per
frame of wall time), the AOI tables and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGES = ("features", "flow", "prior", "classifier", "fusion", "carry", "aggregate",
          "memorize")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolutions", nargs="+", default=["854x480", "1920x1080", "1600x1200"])
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", default=str(HERE / "results" / "speed.json"))
    ap.add_argument("--rerun", action="store_true", help="replace rows already there")
    args = ap.parse_args()
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.rerun and path.is_file():
        path.unlink()

    def find(res: str, k: int) -> dict | None:
        rows = json.loads(path.read_text()) if path.is_file() else []
        hits = [r for r in rows if r["resolution"] == res and r["objects"] == k
                and abs(r["frames"] - 30 * args.seconds) < 2 and r["stride"] == 1]
        return hits[-1] if hits else None

    for res in args.resolutions:
        for k in args.objects:
            if find(res, k) is None:
                subprocess.run([sys.executable, str(HERE / "speed.py"), "--resolution", res,
                                "--seconds", str(args.seconds), "--objects", str(k),
                                "--json", str(path)], check=True)
    head = ("| resolution | objects | frames/s end to end | frames/s tracking pass | CPU ms "
            "per frame | frames carried | " + " | ".join(STAGES) + " | decode | write | "
            "fixations + mapping CPU | overlay CPU | after tracking | AOI | peak RSS MiB | "
            "load |")
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for res in args.resolutions:
        for k in args.objects:
            r = find(res, k)
            if r is None:
                continue
            n = r["frames"]
            st = r["tracker_ms_per_tracked_frame"]
            after = {s: 1000 * v / n for s, v in r["after_tracking_s"].items()}
            cells = [res, str(k), f"{r['fps_end_to_end']:.1f}", f"{r['fps_tracking_pass']:.1f}",
                     f"{r['cpu_ms_per_frame']:.0f}", f"{r.get('carried_fraction', 0.0):.0%}"]
            cells += [f"{st.get(s, 0.0):.1f}" for s in STAGES]
            th = r.get("thread_cpu_ms", {})
            gaze_cpu = th.get("gazevos-gaze", 0.0) + th.get("gazevos-trail-gaze", 0.0)
            overlay_cpu = sum(v for k, v in th.items()
                              if k in ("gazevos-trail-decode", "gazevos-trail-overlay",
                                       "gazevos-trail-encode"))
            tail = after.get("gaze", 0.0) + after.get("outputs", 0.0)
            cells += [f"{r['decode_cpu_ms']:.1f}", f"{r['write_cpu_ms']:.1f}",
                      f"{gaze_cpu:.1f}" if th else "-", f"{overlay_cpu:.1f}" if th else "-",
                      f"{tail:.1f}", f"{after.get('aoi', 0):.1f}", f"{r['peak_rss_mib']:.0f}",
                      f"{r['load_avg']:.1f}"]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
