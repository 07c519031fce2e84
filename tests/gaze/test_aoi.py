"""AOI metrics of gazevos.gaze.aoi against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gazevos.errors import GazevosError
from gazevos.gaze.aoi import (
    AoiConfig,
    gaze_entropy,
    merge_visits,
    object_metrics,
    object_states,
    transition_counts,
    visibility_summary,
)


def _lm(cells: dict[tuple[int, int], int]) -> np.ndarray:
    lm = np.zeros((6, 6), dtype=np.uint8)
    for (r, c), v in cells.items():
        lm[r, c] = v
    return lm


def test_object_states_rule() -> None:
    # object 1 in the middle then gone (lost); object 2 on the left edge then gone (out of
    # frame); object 3 appears on frame 1 (not started before)
    masks = [_lm({(2, 2): 1, (3, 0): 2}), _lm({(2, 3): 3}), _lm({(2, 3): 3})]
    st = object_states(masks, [1, 2, 3], np.array([0.0, 0.1, 0.3]))
    got = st.pivot(index="frame", columns="object_id", values="state")
    assert got[1].tolist() == ["visible", "lost", "lost"]
    assert got[2].tolist() == ["visible", "out_of_frame", "out_of_frame"]
    assert got[3].tolist() == ["not_started", "visible", "visible"]
    # durations 0.1, 0.2 and the median interval 0.15 for the last frame
    summ = visibility_summary(st).set_index("object_id")
    assert summ.loc[1, "visible_time"] == pytest.approx(0.1)
    assert summ.loc[1, "lost_time"] == pytest.approx(0.35)
    assert summ.loc[2, "out_of_frame_time"] == pytest.approx(0.35)
    assert summ.loc[3, "not_started_time"] == pytest.approx(0.1)
    assert summ.loc[3, "visible_time"] == pytest.approx(0.35)
    assert summ.loc[3, "first_visible"] == pytest.approx(0.1)
    assert st.loc[(st.frame == 0) & (st.object_id == 1), "area_px"].item() == 1


def test_object_states_min_area_and_count_check() -> None:
    masks = [_lm({(2, 2): 1, (2, 3): 1}), _lm({(2, 2): 1})]
    st = object_states(masks, [1], np.array([0.0, 0.1]), AoiConfig(min_area=2))
    assert st["state"].tolist() == ["visible", "lost"]
    with pytest.raises(GazevosError):
        object_states(masks, [1], np.array([0.0]))


def test_merge_visits_merges_then_drops() -> None:
    raw = pd.DataFrame({"object_id": [1, 1, 1, 2, 2],
                        "start": [0.0, 0.15, 0.5, 0.2, 1.0],
                        "end": [0.1, 0.3, 0.55, 0.25, 1.2]})
    v = merge_visits(raw, min_gap=0.075, min_duration=0.06)
    # object 1: [0, 0.1] + [0.15, 0.3] (gap 0.05 < 0.075) -> [0, 0.3]; [0.5, 0.55] dropped
    # object 2: [0.2, 0.25] dropped (0.05 < 0.06); [1.0, 1.2] kept
    assert v["object_id"].tolist() == [1, 2]
    assert v["start"].tolist() == pytest.approx([0.0, 1.0])
    assert v["end"].tolist() == pytest.approx([0.3, 1.2])
    assert v["n_merged"].tolist() == [2, 1]
    # gap exactly min_gap is not merged; min_duration 0 keeps everything
    v2 = merge_visits(raw, min_gap=0.05 - 1e-9, min_duration=0.0)
    assert len(v2) == 5


def test_transition_entropies_by_hand() -> None:
    seq = [1, 2, 1, 3, 1, 2]
    tr = transition_counts(seq)
    cells = {(a, b): (c, p) for a, b, c, p in tr.itertuples(index=False)}
    assert cells == {(1, 2): (2, pytest.approx(2 / 3)), (1, 3): (1, pytest.approx(1 / 3)),
                     (2, 1): (1, 1.0), (3, 1): (1, 1.0)}
    e = gaze_entropy(tr)
    pi = [3 / 5, 1 / 5, 1 / 5]  # share of transitions leaving 1, 2, 3
    h_s = -sum(p * math.log2(p) for p in pi)
    h_t = 3 / 5 * -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert e["stationary_entropy"] == pytest.approx(h_s)
    assert e["transition_entropy"] == pytest.approx(h_t)
    assert e["transition_entropy_norm"] == pytest.approx(h_t / math.log2(3))
    assert e["n_transitions"] == 5


def test_transition_background_and_self() -> None:
    seq = [1, 0, 1, 1, 2]
    assert len(transition_counts(seq)) == 3  # 1->0, 0->1, 1->2 (1->1 left out)
    no_bg = transition_counts(seq, include_background=False, include_self=True)
    got = {(a, b): c for a, b, c, _ in no_bg.itertuples(index=False)}
    assert got == {(1, 1): 2, (1, 2): 1}  # 1 (0) 1 1 2 -> 1 1 1 2
    assert math.isnan(gaze_entropy(transition_counts([1]))["stationary_entropy"])


def _scene() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    t = np.round(np.arange(10) * 0.1, 10)
    obj = [0, 1, 1, 1, 0, 0, 2, 2, 1, 1]
    hit = ["none", "inside", "inside", "near", "none", "none", "inside", "inside", "inside",
           "inside"]
    samples = pd.DataFrame({"time": t, "object_id": obj, "hit": hit})
    fixations = pd.DataFrame({"start": [0.1, 0.6, 0.8], "end": [0.35, 0.75, 0.95],
                              "object_id": [1, 2, 1], "hit": ["inside", "inside", "near"]})
    # object 1 visible on all four frames, object 2 from the frame at 0.5 s
    masks = [_lm({(2, 2): 1}), _lm({(2, 2): 1}), _lm({(2, 2): 1, (3, 3): 2}),
             _lm({(2, 2): 1, (3, 3): 2})]
    states = object_states(masks, [1, 2], np.array([0.0, 0.25, 0.5, 0.75]))
    return samples, fixations, states


def test_object_metrics_by_hand() -> None:
    samples, fixations, states = _scene()
    cfg = AoiConfig(max_sample_duration=0.1)
    m = object_metrics(samples, fixations, states, t0=0.0, object_ids=[1, 2], config=cfg)
    val = m.set_index(["object_id", "mode", "metric"])["value"]
    # each sample lasts 0.1 s; object 1: strict samples 1, 2, 8, 9; tolerant adds sample 3
    assert val[1, "strict", "dwell_time"] == pytest.approx(0.4)
    assert val[1, "tolerant", "dwell_time"] == pytest.approx(0.5)
    assert val[1, "strict", "visible_time"] == pytest.approx(1.0)
    assert val[1, "strict", "dwell_share"] == pytest.approx(0.4)
    assert val[2, "strict", "visible_time"] == pytest.approx(0.5)
    assert val[2, "strict", "dwell_share"] == pytest.approx(0.2 / 0.5)
    assert val[2, "strict", "first_visible_s"] == pytest.approx(0.5)
    # fixations: strict object 1 has the first only; tolerant also the third (near)
    assert val[1, "strict", "n_fixations"] == 1
    assert val[1, "tolerant", "n_fixations"] == 2
    assert val[1, "tolerant", "fixation_dwell_time"] == pytest.approx(0.25 + 0.15)
    assert val[1, "tolerant", "fixation_dwell_share"] == pytest.approx(0.4)
    assert val[1, "strict", "time_to_first_fixation"] == pytest.approx(0.1)
    assert val[1, "strict", "first_fixation_duration"] == pytest.approx(0.25)
    # object 2: first fixation at 0.6 s; it became visible at 0.5 s
    assert val[2, "strict", "time_to_first_fixation"] == pytest.approx(0.6)
    assert val[2, "strict", "time_to_first_fixation_visible"] == pytest.approx(0.1)
    # visits: tolerant object 1 = fixation runs [0.1, 0.35] and [0.8, 0.95] -> 2, 1 revisit
    assert val[1, "tolerant", "n_visits"] == 2
    assert val[1, "tolerant", "n_revisits"] == 1
    assert val[1, "tolerant", "visit_duration"] == pytest.approx(0.25 + 0.15)
    assert val[1, "strict", "n_visits"] == 1
    assert val[1, "strict", "n_revisits"] == 0
    # sample visits: tolerant [0.1, 0.4] and [0.8, 1.0]; strict [0.1, 0.3] and [0.8, 1.0]
    assert val[1, "tolerant", "n_sample_visits"] == 2
    assert val[1, "strict", "n_sample_visits"] == 2
    # a large min_gap merges object 1's two fixation visits into one
    m2 = object_metrics(samples, fixations, states, 0.0, [1, 2],
                        AoiConfig(max_sample_duration=0.1, min_gap=0.5))
    v2 = m2.set_index(["object_id", "mode", "metric"])["value"]
    assert v2[1, "tolerant", "n_visits"] == 1
    assert v2[1, "tolerant", "visit_duration"] == pytest.approx(0.95 - 0.1)


def test_object_never_looked_at_and_unsorted_samples() -> None:
    samples, fixations, states = _scene()
    m = object_metrics(samples, fixations, states, 0.0, [1, 2, 7])
    val = m.set_index(["object_id", "mode", "metric"])["value"]
    assert val[7, "tolerant", "dwell_time"] == 0
    assert math.isnan(val[7, "tolerant", "time_to_first_fixation"])
    assert math.isnan(val[7, "tolerant", "dwell_share"])
    with pytest.raises(GazevosError):
        object_metrics(samples.iloc[::-1], fixations, states, 0.0, [1])
    with pytest.raises(GazevosError):
        AoiConfig(min_gap=-1)


@given(st.lists(st.tuples(st.integers(1, 3), st.floats(0, 10), st.floats(0, 1)), max_size=30),
       st.floats(0, 0.5), st.floats(0, 0.5))
def test_merge_visits_invariants(raw: list[tuple[int, float, float]], min_gap: float,
                                 min_duration: float) -> None:
    """Merged visits of one object never overlap, are min_gap apart and min_duration long,
    and every raw visit is in at most one of them."""
    df = pd.DataFrame([(o, a, a + d) for o, a, d in raw], columns=["object_id", "start", "end"])
    v = merge_visits(df, min_gap, min_duration)
    assert (v["duration"] >= min_duration).all()
    assert v["n_merged"].sum() <= len(df)
    for _, g in v.groupby("object_id"):
        g = g.sort_values("start")
        gaps = g["start"].to_numpy()[1:] - g["end"].to_numpy()[:-1]
        assert ((gaps >= min_gap) & (gaps > 0)).all()
    for oid, g in df.groupby("object_id"):
        kept = v[v["object_id"] == oid]
        for a, b in zip(g["start"], g["end"], strict=True):  # inside one kept visit or dropped
            inside = ((kept["start"] <= a) & (kept["end"] >= b)).sum()
            assert inside <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_mask_stats_by_hand(dtype):
    from gazevos.gaze.aoi import mask_stats

    lm = np.zeros((6, 8), dtype=dtype)
    lm[1:3, 2:5] = 1                  # 6 pixels, inside
    lm[4:6, 0:2] = 2                  # 4 pixels, on the left and bottom edges
    lm[0, 7] = 255                    # void, in a corner
    area, touches = mask_stats(lm, [1, 2, 3, 255])
    assert area.tolist() == [6, 4, 0, 1] and area.dtype == np.int64
    assert touches.tolist() == [False, True, False, True]
    area, touches = mask_stats(lm, [1], border_px=2)    # rows/columns 0-1 and 4-5 / 6-7
    assert area.tolist() == [6] and touches.tolist() == [True]
