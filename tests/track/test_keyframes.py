"""Keyframes in both directions: affected ranges, locality of corrections, fusion by hand."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from gazevos.errors import GazevosError
from gazevos.io.frame_reader import ArrayFrameReader, VideoFrameReader
from gazevos.io.video import iter_video
from gazevos.track import keyframes as kf
from gazevos.track.base import Prediction, Tracker, object_confidence
from gazevos.track.baselines import FlowTracker
from gazevos.track.keyframes import (
    FrameReader,
    affected_range,
    fuse,
    fusion_weights,
    track_keyframes,
    track_range,
)
from gazevos.track.registry import build_tracker

H, W, N = 48, 80, 24


def _square_video(n: int = N, step: int = 2) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured red square moving right on a textured background; frames and true masks."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 90, (H, W + 4 * n, 3), dtype=np.uint8)
    tex = rng.integers(150, 255, (14, 14, 1), dtype=np.uint8)
    frames, masks = [], []
    for t in range(n):
        f = bg[:, t: t + W].copy()  # the background pans a little too
        x = 6 + step * t
        f[16:30, x: x + 14] = np.concatenate([tex, tex // 4, tex // 4], axis=2)
        m = np.zeros((H, W), np.uint8)
        m[16:30, x: x + 14] = 1
        frames.append(f)
        masks.append(m)
    return frames, masks


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _run(frames: list[np.ndarray], keys: dict[int, np.ndarray], n: int = N,
         factory: Callable[[], Tracker] = FlowTracker, **kw: object
         ) -> dict[int, tuple[np.ndarray, dict[int, float]]]:
    out: dict[int, tuple[np.ndarray, dict[int, float]]] = {}

    def write(t: int, labels: np.ndarray, conf: dict[int, float]) -> None:
        assert t not in out, f"frame {t} written twice"
        out[t] = (labels.copy(), conf)

    track_keyframes(ArrayFrameReader(frames), keys, factory, n, write=write, **kw)
    return out


def test_affected_range_by_hand() -> None:
    assert affected_range([0, 10, 19], 10, 20) == (1, 19)   # changed keyframe
    assert affected_range([0, 10, 19], 5, 20) == (1, 10)    # added between two
    assert affected_range([0, 10, 19], 0, 20) == (0, 10)    # the first
    assert affected_range([0, 10, 19], 19, 20) == (11, 20)  # the last
    assert affected_range([10], 10, 20) == (0, 20)          # the only one
    assert affected_range([], 7, 20) == (0, 20)             # the first ever
    assert affected_range([3, 12], 15, 20) == (13, 20)      # added after the last
    assert affected_range([3, 12], 1, 20) == (0, 3)         # added before the first
    with pytest.raises(GazevosError, match="outside"):
        affected_range([0], 20, 20)


def test_keyframes_get_exactly_their_masks() -> None:
    frames, masks = _square_video()
    given = {0: masks[0], 9: masks[9].copy(), 23: masks[23]}
    given[9][0:3, 0:3] = 2  # a second object only there
    out = _run(frames, given)
    assert sorted(out) == list(range(N))
    for k, m in given.items():
        assert out[k][0].dtype == np.uint8
        assert np.array_equal(out[k][0], m)
        assert out[k][1] == {i: 1.0 for i in np.unique(m) if i}


def test_correction_changes_only_the_affected_range() -> None:
    frames, masks = _square_video()
    keys = {0: masks[0], 10: masks[10], 20: masks[20]}
    before = _run(frames, keys)
    again = _run(frames, keys)
    for t in range(N):  # deterministic
        assert np.array_equal(before[t][0], again[t][0])
    wrong = np.zeros_like(masks[10])
    wrong[30:44, 50:64] = 1  # the correction puts the object somewhere else
    for change, new_keys in [
        ("changed", {**keys, 10: wrong}),
        ("added", {**keys, 5: wrong}),
        ("removed", {0: masks[0], 20: masks[20]}),
        ("added last", {**keys, 22: wrong}),
    ]:
        k = {"changed": 10, "added": 5, "removed": 10, "added last": 22}[change]
        start, stop = affected_range(sorted(keys), k, N)
        after = _run(frames, new_keys)
        inside = [t for t in range(start, stop)
                  if not np.array_equal(before[t][0], after[t][0])]
        assert inside, f"{change}: nothing changed inside {start}..{stop}"
        for t in [*range(0, start), *range(stop, N)]:
            assert before[t][0].tobytes() == after[t][0].tobytes(), (change, t)
            assert before[t][1] == after[t][1], (change, t)
        # re-tracking only the span gives what a full run gives there (the studio's path)
        part = _run(frames, new_keys, span=(start, stop))
        assert sorted(part) == list(range(start, stop))
        for t in range(start, stop):
            assert part[t][0].tobytes() == after[t][0].tobytes(), (change, t)


def test_backward_pass_recovers_a_moving_square() -> None:
    frames, masks = _square_video()
    # before_first="backward" (default): the tracker runs from the last frame to the first
    # every band pixel classified (band_stride 1): on this 14-px square the default coarse
    # band grid costs about 0.02 IoU at the edges, which is not what this test is about
    out = _run(frames, {N - 1: masks[N - 1]},
               factory=lambda: build_tracker("classic", band_stride=1))
    ious = [_iou(out[t][0] == 1, masks[t] == 1) for t in range(N)]
    assert min(ious) > 0.9, np.round(ious, 2)
    assert all(out[t][1][1] > 0.5 for t in range(N))
    bg = _run(frames, {N - 1: masks[N - 1]}, before_first="background")
    assert all(not bg[t][0].any() and bg[t][1] == {} for t in range(N - 1))
    # the square's position at frame 0 is far from where it is at the keyframe
    assert _iou(masks[0] == 1, masks[N - 1] == 1) == 0.0


@pytest.mark.parametrize("fusion", ["distance", "product"])
def test_both_directions_beat_forward_only_between_keyframes(fusion: str) -> None:
    # flow drifts on this video (0.53 IoU at the last frame) and is sure of itself all the
    # while (confidence ~0.98), so "confidence" fusion alone gives ~equal weights there
    frames, masks = _square_video()
    fwd = _run(frames, {0: masks[0]})
    both = _run(frames, {0: masks[0], N - 1: masks[N - 1]}, fusion=fusion)
    i_f = np.mean([_iou(fwd[t][0] == 1, masks[t] == 1) for t in range(1, N - 1)])
    i_b = np.mean([_iou(both[t][0] == 1, masks[t] == 1) for t in range(1, N - 1)])
    assert i_b > i_f + 0.05 and i_b > 0.8, (i_f, i_b)


def test_fusion_weights_by_hand() -> None:
    assert fusion_weights("distance", 3, 0, 10, 0.9, 0.1) == pytest.approx((0.7, 0.3))
    wf = 0.9 + 1e-3 * 0.7
    wb = 0.1 + 1e-3 * 0.3
    assert fusion_weights("confidence", 3, 0, 10, 0.9, 0.1) == pytest.approx(
        (wf / (wf + wb), wb / (wf + wb)))
    # both lost: by distance; one direction lacks the object: by distance
    assert fusion_weights("confidence", 8, 0, 10, 0.0, 0.0) == pytest.approx((0.2, 0.8))
    assert fusion_weights("confidence", 8, 0, 10, None, 0.7) == pytest.approx((0.2, 0.8))
    # product: confidence times distance, normalised
    assert fusion_weights("product", 2, 0, 10, 0.5, 1.0) == pytest.approx(
        (0.4 / (0.4 + 0.2), 0.2 / (0.4 + 0.2)))
    assert fusion_weights("product", 2, 0, 10, 0.0, 0.0) == pytest.approx((0.8, 0.2))
    with pytest.raises(GazevosError, match="unknown fusion"):
        fusion_weights("mean", 1, 0, 2, 1.0, 1.0)


def test_fuse_tiny_arrays_by_hand() -> None:
    # 1 x 2 pixels; forward tracks object 1, backward tracks objects 1 and 2
    f = Prediction(np.array([[[0.2, 0.6]], [[0.8, 0.4]]], np.float32), (1,))
    b = Prediction(np.array([[[0.5, 0.1]], [[0.1, 0.1]], [[0.4, 0.8]]], np.float32), (1, 2))
    out = fuse(f, b, 2, 0, 8, "distance")  # weights (0.75, 0.25) for every object
    want = np.array([[[0.75 * 0.2 + 0.25 * 0.5, 0.75 * 0.6 + 0.25 * 0.1]],
                     [[0.75 * 0.8 + 0.25 * 0.1, 0.75 * 0.4 + 0.25 * 0.1]],
                     [[0.25 * 0.4, 0.25 * 0.8]]])
    want /= want.sum(axis=0, keepdims=True)
    assert out.object_ids == (1, 2)
    np.testing.assert_allclose(out.probs, want, rtol=1e-6)
    assert out.labels.tolist() == [[1, 0]]  # 0.475 background against 0.325 and 0.2
    # by confidence: object 1 is 0.8 sure forward and 0.1 backward
    out = fuse(f, b, 2, 0, 8, "confidence", {1: 0.8}, {1: 0.1, 2: 0.8})
    w1f, w1b = fusion_weights("confidence", 2, 0, 8, 0.8, 0.1)
    w2f, w2b = 0.75, 0.25  # object 2 is not tracked forward: distance
    p1 = w1f * f.probs[1] + w1b * b.probs[1]
    p2 = w2b * b.probs[2]
    p0 = np.mean([w1f, w2f]) * f.probs[0] + np.mean([w1b, w2b]) * b.probs[0]
    want = np.stack([p0, p1, p2])
    want /= want.sum(axis=0, keepdims=True)
    np.testing.assert_allclose(out.probs, want, rtol=1e-6)


def test_object_confidence_by_hand() -> None:
    probs = np.zeros((3, 4, 8), np.float32)
    probs[0] = 1.0
    probs[:, :, :5] = np.array([0.1, 0.9, 0.0])[:, None, None]   # object 1: 20 px at 0.9
    probs[:, 0, 5:7] = np.array([0.4, 0.0, 0.6])[:, None]        # object 2: 2 px at 0.6
    pred = Prediction(probs, (1, 2))
    conf = object_confidence(pred)
    assert conf[1] == pytest.approx(0.9)
    assert conf[2] == pytest.approx(0.6 * 2 / 16)
    assert pred.confidence == conf
    empty = Prediction(np.stack([np.ones((4, 8)), np.zeros((4, 8))]).astype(np.float32), (3,))
    assert object_confidence(empty) == {3: 0.0}


def test_progress_and_spans() -> None:
    frames, masks = _square_video()
    calls: list[tuple[int, int]] = []
    out = _run(frames, {4: masks[4], 15: masks[15]}, progress=lambda d, t: calls.append((d, t)))
    total = calls[-1][1]
    assert [d for d, _ in calls] == list(range(1, total + 1))
    assert {t for _, t in calls} == {total}
    # 4 backward before the first, 10 + 10 between, 8 after, 2 keyframes
    assert total == 4 + 20 + 8 + 2
    assert sorted(out) == list(range(N))
    for span in [(6, 18), (0, 3), (16, 24), (5, 15)]:
        calls.clear()
        part = _run(frames, {4: masks[4], 15: masks[15]}, span=span,
                    progress=lambda d, t: calls.append((d, t)))
        assert sorted(part) == list(range(*span))
        assert [d for d, _ in calls] == list(range(1, calls[-1][1] + 1)), span
    assert _run(frames, {4: masks[4]}, span=(7, 7)) == {}
    assert sorted(_run(frames, {}, span=(3, 6))) == [3, 4, 5]


def test_long_stretch_spills_to_disk_with_equal_results(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    frames, masks = _square_video()
    keys = {0: masks[0], N - 1: masks[N - 1]}
    in_memory = _run(frames, keys)
    monkeypatch.setattr(kf, "_IN_MEMORY_BYTES", 0)
    on_disk = _run(frames, keys)
    for t in range(N):
        assert np.array_equal(in_memory[t][0], on_disk[t][0])


def test_bad_input_is_one_line_error() -> None:
    frames, masks = _square_video(n=4)
    reader = ArrayFrameReader(frames)
    assert isinstance(reader, FrameReader)

    def run(keys: dict[int, np.ndarray], n: int = 4, **kw: object) -> None:
        track_keyframes(reader, keys, FlowTracker, n, write=lambda *a: None, **kw)

    void = masks[0].copy()
    void[0, 0] = 255
    for keys, kw, msg in [
        ({0: masks[0]}, {"fusion": "max"}, "unknown fusion"),
        ({0: masks[0]}, {"before_first": "copy"}, "unknown before_first"),
        ({5: masks[0]}, {}, "outside"),
        ({0: void}, {}, "void"),
        ({0: masks[0][:10]}, {}, "mask must be"),
        ({0: masks[0].astype(np.int32)}, {}, "mask must be"),
        ({0: masks[0]}, {"span": (2, 9)}, "span"),
        ({0: masks[0]}, {"n": 9}, "n_frames"),
    ]:
        n = kw.pop("n", 4)
        with pytest.raises(GazevosError, match=msg) as err:
            run(keys, n, **kw)
        assert "\n" not in str(err.value)


def test_track_range_runs_either_way() -> None:
    frames, masks = _square_video()
    reader = ArrayFrameReader(frames)
    seen: list[int] = []
    track_range(reader, FlowTracker(), 10, masks[10], 3,
                lambda t, p: seen.append(t) or None)
    assert seen == [9, 8, 7, 6, 5, 4]
    seen.clear()
    track_range(reader, FlowTracker(), 10, masks[10], 14, lambda t, p: seen.append(t) or None)
    assert seen == [11, 12, 13]
    got: dict[int, np.ndarray] = {}
    track_range(reader, FlowTracker(), 10, masks[10], -1,
                lambda t, p: got.__setitem__(t, p.labels))
    assert sorted(got) == list(range(10))
    assert _iou(got[9] == 1, masks[9] == 1) > 0.8  # one step back: still on the square


def test_video_reader_gives_what_decoded_frames_give(tmp_path: Path) -> None:
    """Backward passes read a video through seeks and chunks: same labels as from frames
    decoded in order."""
    frames, masks = _square_video()
    path = tmp_path / "square.mp4"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"g": "5", "bf": "2", "sc_threshold": "0"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    decoded = [f for f, _ in iter_video(path)]
    keys = {3: masks[3], 12: masks[12], 20: masks[20]}
    want = _run(decoded, keys)
    got: dict[int, np.ndarray] = {}
    reader = VideoFrameReader(path, back_chunk=4, cache_bytes=8 * H * W * 3)
    track_keyframes(reader, keys, FlowTracker, N,
                    write=lambda t, labels, conf: got.__setitem__(t, labels.copy()))
    assert sorted(got) == list(range(N))
    for t in range(N):
        assert np.array_equal(got[t], want[t][0]), t
    assert reader.stats["seeks"] > 3  # it did seek (backward passes and new stretches)
