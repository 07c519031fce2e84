"""Score a folder of DAVIS-layout results with the official semi-supervised protocol.

Layout (DAVIS): ``ROOT/JPEGImages/480p/<seq>/<frame>.jpg``,
``ROOT/Annotations/480p/<seq>/<frame>.png`` and results ``RESULTS/<seq>/<frame>.png``
(palette PNGs whose values are object ids).  As in ``davis2017-evaluation``:

* the objects of a sequence are ids ``1..N``, ``N`` the largest id in its first annotation
  (0/255 DAVIS-2016 masks are read as object 1, 255 in palette masks is void and is not an
  object); an object missing from a result frame is empty there;
* the first and the last annotated frames are not scored;
* J and F are measured per object and frame, summarised per object by
  :func:`~gazevos.eval.metrics.db_statistics`, and the global figures are means over all
  objects of all sequences (J&F-Mean = (J-Mean + F-Mean) / 2).

Void pixels are not excluded (the official semi-supervised evaluation ignores them too);
a 255 in a result mask counts as background.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazevos.errors import GazevosError
from gazevos.eval.metrics import db_eval_boundary, db_eval_iou, db_statistics
from gazevos.io.atomic import atomic_write
from gazevos.io.masks import VOID, read_mask

GLOBAL_CSV = "global_results.csv"
PER_SEQUENCE_CSV = "per-sequence_results.csv"
GLOBAL_COLUMNS = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
PER_OBJECT_COLUMNS = ["Sequence", "J-Mean", "F-Mean", "J-Recall", "J-Decay", "F-Recall",
                      "F-Decay"]
#: keys of :func:`summary` (the JSON line of ``gazevos davis eval``), fractions 0-1
SUMMARY_KEYS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay", "JF_mean")


def _natural_key(name: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_sequences_file(path: str | os.PathLike[str]) -> list[str]:
    """Sequence names from a text file: one per line, blank lines and ``#`` comments skipped."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise GazevosError("sequence list file not found", path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GazevosError(f"cannot read sequence list ({exc.__class__.__name__})", path) from exc
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    names = [n for n in names if n]
    if not names:
        raise GazevosError("sequence list is empty", path)
    return names


def resolve_sequences(root: str | os.PathLike[str], sequences: Sequence[str] | None = None,
                      sequences_file: str | os.PathLike[str] | None = None,
                      resolution: str = "480p") -> list[str]:
    """The sequences to use: given names, else a list file, else ``ImageSets/dev.txt``,
    else every sequence folder in ``JPEGImages/<resolution>``.

    Raises:
        GazevosError: the root is not a DAVIS folder, or both names and a file are given.
    """
    root = Path(root)
    images = root / "JPEGImages" / resolution
    if not images.is_dir():
        raise GazevosError(f"not a DAVIS folder (no JPEGImages/{resolution})", root)
    if sequences and sequences_file is not None:
        raise GazevosError("give either sequence names or a sequence list file, not both")
    if sequences:
        names = list(dict.fromkeys(sequences))
    elif sequences_file is not None:
        names = list(dict.fromkeys(read_sequences_file(sequences_file)))
    elif (root / "ImageSets" / "dev.txt").is_file():
        names = list(dict.fromkeys(read_sequences_file(root / "ImageSets" / "dev.txt")))
    else:
        names = sorted((p.name for p in images.iterdir()
                        if p.is_dir() and not p.name.startswith(".")), key=_natural_key)
        if not names:
            raise GazevosError("holds no sequence folders", images)
    for n in names:
        if not (images / n).is_dir():
            raise GazevosError(f"unknown sequence '{n}' (no frame folder)", images / n)
    return names


def annotation_files(root: str | os.PathLike[str], sequence: str,
                     resolution: str = "480p") -> list[Path]:
    """The annotated frames (PNG) of a sequence, in natural order."""
    folder = Path(root) / "Annotations" / resolution / sequence
    if not folder.is_dir():
        raise GazevosError("annotation folder not found", folder)
    files = sorted((p for p in folder.iterdir()
                    if p.suffix.lower() == ".png" and not p.name.startswith(".")),
                   key=lambda p: _natural_key(p.name))
    if not files:
        raise GazevosError("annotation folder holds no PNG masks", folder)
    return files


@dataclass(frozen=True)
class SequenceScores:
    """Per-frame scores of one sequence.

    Attributes:
        sequence: the sequence name.
        frames: names of the scored frames (first and last annotated frames excluded).
        j: ``(N, T)`` region similarity per object and scored frame.
        f: ``(N, T)`` boundary F-measure per object and scored frame.
    """

    sequence: str
    frames: tuple[str, ...]
    j: np.ndarray
    f: np.ndarray

    @property
    def n_objects(self) -> int:
        """Number of objects N."""
        return int(self.j.shape[0])


def _max_id(labels: np.ndarray) -> int:
    """Largest object id in a uint8 label map, void (255) excluded; 0 when none."""
    counts = np.bincount(labels.reshape(-1), minlength=256)[:VOID]
    present = np.flatnonzero(counts)
    return int(present[-1]) if present.size else 0


def _read_result(path: Path, shape: tuple[int, int], n_objects: int) -> np.ndarray:
    if not path.is_file():
        raise GazevosError("result mask missing", path)
    res = read_mask(path)
    if res.shape != shape:
        raise GazevosError(f"result size {res.shape[1]}x{res.shape[0]} differs from the "
                           f"annotation's {shape[1]}x{shape[0]}", path)
    top = _max_id(res)
    if top > n_objects:
        raise GazevosError(f"object id {top} in result, but the sequence has only "
                           f"{n_objects} object(s)", path)
    return res


def evaluate_sequence(root: str | os.PathLike[str], results: str | os.PathLike[str],
                      sequence: str, resolution: str = "480p",
                      bound_th: float = 0.008) -> SequenceScores:
    """J and F of every object in every scored frame of one sequence.

    Args:
        root: the DAVIS folder.
        results: the results folder (``<results>/<sequence>/<frame>.png``).
        sequence: sequence name.
        resolution: annotation resolution folder.
        bound_th: boundary tolerance (see :func:`~gazevos.eval.metrics.db_eval_boundary`).

    Raises:
        GazevosError: a result frame missing, unreadable, of the wrong size or with an
            object id the sequence does not have; annotations missing or empty.
    """
    files = annotation_files(root, sequence, resolution)
    first = read_mask(files[0])
    n_objects = _max_id(first)
    if n_objects == 0:
        raise GazevosError("first annotation holds no object", files[0])
    res_dir = Path(results) / sequence
    if not res_dir.is_dir():
        raise GazevosError("results folder has no folder for this sequence", res_dir)
    scored = files[1:-1]
    ids = np.arange(1, n_objects + 1, dtype=np.uint8)
    j = np.zeros((n_objects, len(scored)))
    f = np.zeros((n_objects, len(scored)))
    for t, ann_path in enumerate(scored):
        gt = read_mask(ann_path)
        res = _read_result(res_dir / f"{ann_path.stem}.png", gt.shape, n_objects)
        gt_k = gt[None] == ids[:, None, None]
        res_k = res[None] == ids[:, None, None]
        j[:, t] = db_eval_iou(gt_k, res_k)
        f[:, t] = db_eval_boundary(gt_k, res_k, bound_th=bound_th)
    return SequenceScores(sequence, tuple(p.stem for p in scored), j, f)


def _evaluate_one(args: tuple[str, str, str, str, float]) -> SequenceScores:
    root, results, seq, resolution, bound_th = args
    return evaluate_sequence(root, results, seq, resolution, bound_th)


@dataclass(frozen=True)
class DavisScores:
    """Evaluation of a results folder.

    Attributes:
        global_table: one row, columns :data:`GLOBAL_COLUMNS`.
        per_object: one row per object (``Sequence`` = ``<seq>_<id>``), columns
            :data:`PER_OBJECT_COLUMNS`.
        sequences: the per-frame scores of every sequence.
    """

    global_table: pd.DataFrame
    per_object: pd.DataFrame
    sequences: tuple[SequenceScores, ...]

    def summary(self) -> dict[str, float]:
        """Global figures as ``{J_mean, J_recall, J_decay, F_mean, F_recall, F_decay,
        JF_mean}`` (fractions 0-1)."""
        row = self.global_table.iloc[0]
        cols = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay", "J&F-Mean")
        return {k: float(row[c]) for k, c in zip(SUMMARY_KEYS, cols, strict=True)}

    def per_sequence(self) -> pd.DataFrame:
        """Per-sequence means over objects: columns ``Sequence, J&F-Mean, J-Mean, F-Mean``."""
        rows = []
        for s in self.sequences:
            jm = float(np.mean([db_statistics(v)[0] for v in s.j]))
            fm = float(np.mean([db_statistics(v)[0] for v in s.f]))
            rows.append((s.sequence, (jm + fm) / 2, jm, fm))
        return pd.DataFrame(rows, columns=["Sequence", "J&F-Mean", "J-Mean", "F-Mean"])


def summarise(scores: Sequence[SequenceScores]) -> DavisScores:
    """Per-object statistics and global means (the official tables) from per-frame scores."""
    rows = []
    for s in scores:
        for k in range(s.n_objects):
            jm, jr, jd = db_statistics(s.j[k])
            fm, fr, fd = db_statistics(s.f[k])
            rows.append((f"{s.sequence}_{k + 1}", jm, fm, jr, jd, fr, fd))
    per_object = pd.DataFrame(rows, columns=PER_OBJECT_COLUMNS)
    means = per_object[PER_OBJECT_COLUMNS[1:]].mean(axis=0)
    g = {"J&F-Mean": (means["J-Mean"] + means["F-Mean"]) / 2.0,
         **{c: means[c] for c in GLOBAL_COLUMNS[1:]}}
    global_table = pd.DataFrame([[float(g[c]) for c in GLOBAL_COLUMNS]], columns=GLOBAL_COLUMNS)
    return DavisScores(global_table, per_object, tuple(scores))


def evaluate_results(root: str | os.PathLike[str], results: str | os.PathLike[str],
                     sequences: Sequence[str] | None = None,
                     sequences_file: str | os.PathLike[str] | None = None,
                     resolution: str = "480p", bound_th: float = 0.008,
                     workers: int | None = None) -> DavisScores:
    """Evaluate a results folder against a DAVIS folder (semi-supervised protocol).

    Args:
        root: the DAVIS folder.
        results: folder with ``<seq>/<frame>.png`` result masks.
        sequences, sequences_file: which sequences (default as :func:`resolve_sequences`).
        resolution: image resolution folder name.
        bound_th: boundary tolerance.
        workers: processes scoring sequences in parallel (default: CPU count; 1: in-process).

    Returns:
        The :class:`DavisScores` (global table, per-object table, per-frame scores).
    """
    results = Path(results)
    if not results.is_dir():
        raise GazevosError("results folder not found", results)
    names = resolve_sequences(root, sequences, sequences_file, resolution)
    jobs = [(str(root), str(results), n, resolution, bound_th) for n in names]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        scores = [_evaluate_one(job) for job in jobs]
    else:
        # longest sequences first balances the pool
        order = sorted(range(len(jobs)), key=lambda i: -len(
            annotation_files(root, names[i], resolution)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            done = dict(zip(order, pool.map(_evaluate_one, [jobs[i] for i in order]),
                            strict=True))
        scores = [done[i] for i in range(len(jobs))]
    return summarise(scores)


def write_tables(scores: DavisScores, folder: str | os.PathLike[str],
                 force: bool = False) -> tuple[Path, Path]:
    """Write ``global_results.csv`` and ``per-sequence_results.csv`` into ``folder``, atomically.

    Raises:
        GazevosError: a table already exists and ``force`` is not set.
    """
    folder = Path(folder)
    paths = (folder / GLOBAL_CSV, folder / PER_SEQUENCE_CSV)
    if not force:
        for p in paths:
            if p.exists():
                raise GazevosError("evaluation table exists; pass --force to overwrite it", p)
    for table, p in zip((scores.global_table, scores.per_object), paths, strict=True):
        with atomic_write(p) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6f")
    return paths
