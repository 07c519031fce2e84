"""Agreement between two sets of fixations (a detector against the device's own, say).

Events are matched one-to-one by temporal overlap: the pairing that maximises the total
overlap (Hungarian assignment), keeping only pairs whose overlap is positive and at least
``min_overlap`` of the shorter event (default 0: any overlap).  Precision is
matched / detected, recall matched / reference, F1 their harmonic mean; onset and offset
differences are averaged over the matched pairs (absolute, in seconds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class FixationAgreement:
    """How well ``detected`` fixations agree with ``reference`` ones.

    Attributes:
        n_detected: detected fixations.
        n_reference: reference fixations.
        n_matched: one-to-one matched pairs.
        precision: ``n_matched / n_detected`` (NaN when nothing was detected).
        recall: ``n_matched / n_reference`` (NaN without reference fixations).
        f1: harmonic mean of precision and recall (0 when nothing matched).
        onset_mae: mean ``|onset difference|`` over matched pairs (s, NaN if none).
        offset_mae: mean ``|offset difference|`` over matched pairs (s, NaN if none).
    """

    n_detected: int
    n_reference: int
    n_matched: int
    precision: float
    recall: float
    f1: float
    onset_mae: float
    offset_mae: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for JSON and tables)."""
        return asdict(self)


def match_fixations(detected: pd.DataFrame, reference: pd.DataFrame,
                    min_overlap: float = 0.0) -> list[tuple[int, int]]:
    """One-to-one matched pairs ``(detected row, reference row)`` (positional indices).

    Args:
        detected, reference: tables with ``start`` and ``end`` (s).
        min_overlap: a pair needs a positive overlap of at least this fraction of the shorter
            event.
    """
    if len(detected) == 0 or len(reference) == 0:
        return []
    a0 = detected["start"].to_numpy(float)[:, None]
    a1 = detected["end"].to_numpy(float)[:, None]
    b0 = reference["start"].to_numpy(float)[None, :]
    b1 = reference["end"].to_numpy(float)[None, :]
    overlap = np.minimum(a1, b1) - np.maximum(a0, b0)
    shorter = np.maximum(np.minimum(a1 - a0, b1 - b0), 1e-9)
    score = np.maximum(overlap, 0.0)
    rows, cols = linear_sum_assignment(-score)
    keep = (score[rows, cols] > 0) & (score[rows, cols] / shorter[rows, cols] >= min_overlap)
    return [(int(r), int(c)) for r, c in zip(rows[keep], cols[keep], strict=True)]


def fixation_agreement(detected: pd.DataFrame, reference: pd.DataFrame,
                       min_overlap: float = 0.0) -> FixationAgreement:
    """Matched-event precision, recall, F1 and on/offset errors (see the module docstring)."""
    pairs = match_fixations(detected, reference, min_overlap)
    n_d, n_r, n_m = len(detected), len(reference), len(pairs)
    precision = n_m / n_d if n_d else float("nan")
    recall = n_m / n_r if n_r else float("nan")
    f1 = 2.0 * n_m / (n_d + n_r) if n_m else 0.0
    if pairs:
        i = np.array([p[0] for p in pairs])
        j = np.array([p[1] for p in pairs])
        on = float(np.mean(np.abs(detected["start"].to_numpy(float)[i]
                                  - reference["start"].to_numpy(float)[j])))
        off = float(np.mean(np.abs(detected["end"].to_numpy(float)[i]
                                   - reference["end"].to_numpy(float)[j])))
    else:
        on = off = float("nan")
    return FixationAgreement(n_d, n_r, n_m, precision, recall, f1, on, off)
