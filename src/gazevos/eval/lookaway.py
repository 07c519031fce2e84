"""Look-away scoring: does a tracker report an object absent while the camera looks
elsewhere, and take it up again when the camera comes back?

A head camera leaves the tracked objects whenever the wearer looks away.  The look-away
benchmark (``bench/lookaway.py``) splices ``m`` frames of another video into a DAVIS
sequence after its frame ``k``: the tracker is given the object on frame 0, must answer
"absent" on the spliced frames and find the object again on the frames after them.  The
functions here are I/O-free: they build the frame schedule and score label maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gazevos.eval.metrics import db_eval_iou


def lookaway_schedule(n_frames: int, away_after: int, away_frames: int,
                      replace: bool = False) -> list[tuple[str, int]]:
    """The spliced video's frames, in order: ``("seq", i)`` or ``("away", j)``.

    Args:
        n_frames: frames of the sequence.
        away_after: the look-away starts after the sequence's frame ``away_after``.
        away_frames: how many frames of the other video are spliced in (>= 1).
        replace: the away frames take the place of the sequence's next ``away_frames``
            frames (the scene goes on while the camera looks away) instead of being
            inserted between frames ``away_after`` and ``away_after + 1``.

    Raises:
        ValueError: a look-away that leaves no sequence frame before or after it.
    """
    resume = away_after + 1 + (away_frames if replace else 0)
    if not 0 <= away_after or resume > n_frames - 1:
        raise ValueError(f"a look-away of {away_frames} frames after frame {away_after} does "
                         f"not fit in {n_frames} frames")
    if away_frames < 1:
        raise ValueError(f"away_frames must be at least 1, got {away_frames}")
    return ([("seq", i) for i in range(away_after + 1)]
            + [("away", j) for j in range(away_frames)]
            + [("seq", i) for i in range(resume, n_frames)])


@dataclass(frozen=True)
class LookawayScores:
    """Scores of one sequence's look-away run (J: region IoU of all objects as one mask).

    Attributes:
        j_before: mean J on the sequence frames before the look-away (frame 0 excluded).
        false_area: mean area predicted on the away frames, as a fraction of the mean
            true object area (0: correctly absent).
        false_frames: fraction of away frames where the predicted area exceeds
            ``absent_fraction`` of the mean true area.
        j_after: mean J on the sequence frames after the look-away (last frame excluded,
            as DAVIS does).
        recovery_frames: frames after the return until J first reaches ``recovered_j``
            (None: never).
    """

    j_before: float
    false_area: float
    false_frames: float
    j_after: float
    recovery_frames: int | None


def lookaway_scores(truth: Sequence[np.ndarray], pred_seq: Sequence[np.ndarray | None],
                    pred_away: Sequence[np.ndarray], away_after: int,
                    absent_fraction: float = 0.1, recovered_j: float = 0.5,
                    resume_at: int | None = None) -> LookawayScores:
    """Score one look-away run.

    Args:
        truth: the sequence's ``(H, W)`` label maps (0 background, 255 void, else object).
        pred_seq: the predicted label maps of the sequence frames, same order and length
            (None for frames the look-away replaced: not scored).
        pred_away: the predicted label maps of the away frames (any size).
        away_after: the last sequence frame before the look-away.
        resume_at: the first sequence frame after it (default ``away_after + 1``).
        absent_fraction: an away frame counts as a false detection when the predicted
            area exceeds this fraction of the mean true area.
        recovered_j: J that counts as found again.

    Raises:
        ValueError: lengths that do not match, or no frame after the look-away to score.
    """
    n = len(truth)
    resume = away_after + 1 if resume_at is None else resume_at
    if len(pred_seq) != n:
        raise ValueError(f"{len(pred_seq)} predicted frames for {n} true ones")
    if not 0 <= away_after < resume < n - 1:
        raise ValueError(f"no frame to score after the look-away (away_after {away_after}, "
                         f"resume_at {resume}, {n} frames)")
    scored = list(range(1, away_after + 1)) + list(range(resume, n - 1))
    if any(pred_seq[i] is None for i in scored):
        raise ValueError("a scored sequence frame has no prediction")
    gt = np.stack([(truth[i] > 0) & (truth[i] < 255) for i in scored])
    void = np.stack([truth[i] == 255 for i in scored])
    pr = np.stack([(pred_seq[i] > 0) & (pred_seq[i] < 255) for i in scored])  # type: ignore[operator]
    j = db_eval_iou(gt, pr, void)
    before = j[:away_after]
    after = j[away_after:]
    mean_area = float(np.mean([((t > 0) & (t < 255)).sum() for t in truth]))
    areas = np.array([float(((p > 0) & (p < 255)).sum()) for p in pred_away])
    rel = areas / max(mean_area, 1.0)
    hit = np.flatnonzero(after >= recovered_j)
    return LookawayScores(
        j_before=float(before.mean()) if before.size else float("nan"),
        false_area=float(rel.mean()) if rel.size else 0.0,
        false_frames=float((rel > absent_fraction).mean()) if rel.size else 0.0,
        j_after=float(after.mean()),
        recovery_frames=int(hit[0]) if hit.size else None)
