"""Fuzzing object prompts: ``--box`` / ``--point`` / ``--objects`` / ``--names`` strings,
random text, boxes outside the frame, degenerate boxes, points on tiny frames.

Properties:

* parsing a spec gives a prompt whose numbers are what the text says, or a one-line error;
* :func:`check_prompts` refuses (one line) any frame, box or point outside a video; what it
  accepts, :func:`prompt_mask` turns into an ``(H, W)`` bool mask that is never empty, holds
  the point (point prompts) and stays inside the box (box prompts).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _fuzz import LEVELS, count, fuzz_settings, library_outcome
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gazevos.errors import GazevosError
from gazevos.gaze.prompts import (
    ObjectPrompt,
    build_prompts,
    check_prompts,
    parse_box,
    parse_mask_spec,
    parse_names,
    parse_point,
    prompt_mask,
)
from gazevos.io import write_mask

pytestmark = pytest.mark.timeout(300)

numbers = st.one_of(
    st.integers(-50, 400).map(str),
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "9" * 400, "1e3", "0x10", "", " ", "-0",
                     "+5", "5.", ".5", "1_000", "１２"]))
names = st.one_of(st.sampled_from(["cup", "a b", "", " ", "x:y", "n@1", "é", "a" * 300]),
                  st.text(max_size=10))
frames = st.one_of(st.none(), st.integers(0, 30).map(str),
                   st.sampled_from(["-1", "x", "", "99999999999999999999999", "1.5", " 3"]))


def _spec(name: str, coords: list[str], frame: str | None, sep: str) -> str:
    text = f"{name}:{sep.join(coords)}"
    return text if frame is None else f"{text}@{frame}"


box_specs = st.builds(_spec, names, st.lists(numbers, min_size=3, max_size=5), frames,
                      st.sampled_from([",", ", ", ";", " "]))
point_specs = st.builds(_spec, names, st.lists(numbers, min_size=1, max_size=3), frames,
                        st.sampled_from([",", ", ", ";"]))
any_text = st.text(max_size=40)


@pytest.mark.parametrize("long", LEVELS)
def test_box_and_point_specs_parse_to_their_numbers_or_fail_in_one_line(long: bool) -> None:
    """A parsed box has finite corners x0 < x1, y0 < y1 and a frame >= 0 as written; a parsed
    point has the two numbers written; anything else is a one-line error."""
    @fuzz_settings(long, ci=150)
    @given(spec=box_specs | point_specs | any_text, kind=st.sampled_from(["box", "point"]))
    def check(spec: str, kind: str) -> None:
        count("prompts/parse")
        got = library_outcome(parse_box if kind == "box" else parse_point, spec, 1)
        if isinstance(got, GazevosError):
            return
        assert isinstance(got, ObjectPrompt) and got.kind == kind and got.frame >= 0
        assert got.name and got.name == got.name.strip()
        values = got.box if kind == "box" else got.point
        assert values is not None and len(values) == (4 if kind == "box" else 2)
        if kind == "box":
            x0, y0, x1, y1 = got.box
            assert x0 < x1 and y0 < y1

    check()


@pytest.mark.parametrize("long", LEVELS)
def test_objects_and_names_specs(long: bool) -> None:
    """``--objects MASK@FRAME`` with ``--names`` against a drawn mask: prompts for exactly the
    mask's ids 1..254 with the given names, or a one-line error."""
    @fuzz_settings(long, ci=60)
    @given(labels=hnp.arrays(np.uint8, st.tuples(st.integers(1, 8), st.integers(1, 8)),
                             elements=st.sampled_from([0, 1, 2, 7, 254, 255])),
           frame=frames, names_spec=st.none() | st.sampled_from(
               ["1=cup", "1=cup,2=ball", "2=a,2=b", "x=y", "1=", "=3", "1=a,,2=b", "300=big",
                "1=a=b"]) | any_text,
           boxes=st.lists(box_specs, max_size=2), points=st.lists(point_specs, max_size=2),
           with_mask=st.booleans())
    def check(labels: np.ndarray, frame: str | None, names_spec: str | None,
              boxes: list[str], points: list[str], with_mask: bool) -> None:
        count("prompts/build")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.png"
            write_mask(path, labels)
            objects = None
            if with_mask:
                objects = str(path) if frame is None else f"{path}@{frame}"
            got = library_outcome(build_prompts, objects, names_spec, boxes, points)
        if isinstance(got, GazevosError):
            return
        ids = [p.object_id for p in got]
        assert len(set(ids)) == len(ids) and all(1 <= i <= 254 for i in ids)
        assert len({p.name for p in got}) == len(got)
        mask_ids = sorted(p.object_id for p in got if p.kind == "mask")
        if with_mask:
            assert mask_ids == sorted(int(i) for i in np.unique(labels) if 0 < i < 255)
            given_names = parse_names(names_spec)
            for p in got:
                if p.kind == "mask" and p.object_id in given_names:
                    assert p.name == given_names[p.object_id]
        assert len(got) == len(mask_ids) + len(boxes) + len(points)

    check()


def test_mask_spec_frame_is_the_text_after_the_last_at() -> None:
    """Sanity of the spec split the fuzz test above relies on."""
    assert parse_mask_spec("a@b.png@3") == (Path("a@b.png"), 3)
    assert parse_mask_spec("m.png") == (Path("m.png"), 0)
    assert isinstance(library_outcome(parse_mask_spec, "m.png@x"), GazevosError)


coords = st.floats(-20, 80, allow_nan=False) | st.sampled_from([math.nan, math.inf, -math.inf,
                                                                1e300, -0.0])


@pytest.mark.parametrize("long", LEVELS)
def test_checked_prompts_give_a_mask_inside_the_frame(long: bool) -> None:
    """Boxes and points drawn in and around small frames (down to 1x1, flat or noisy):
    check_prompts refuses what lies outside; an accepted box gives a non-empty mask inside
    the box, an accepted point a mask that holds the point."""
    @fuzz_settings(long, ci=60)
    @given(size=st.tuples(st.integers(1, 48), st.integers(1, 48)),
           kind=st.sampled_from(["box", "point"]),
           values=st.lists(coords, min_size=4, max_size=4),
           frame=st.integers(-2, 3), n_frames=st.integers(0, 3),
           noisy=st.booleans(), data=st.data())
    def check(size: tuple[int, int], kind: str, values: list[float], frame: int,
              n_frames: int, noisy: bool, data: st.DataObject) -> None:
        count(f"prompts/mask ({kind})")
        w, h = size
        if kind == "box":
            prompt = ObjectPrompt(1, "o", frame, "box", box=tuple(values))  # type: ignore[arg-type]
        else:
            prompt = ObjectPrompt(1, "o", frame, "point", point=(values[0], values[1]))
        checked = library_outcome(check_prompts, [prompt], (w, h), n_frames)
        if isinstance(checked, GazevosError):
            return
        assert 0 <= frame < n_frames
        if kind == "box":
            x0, y0, x1, y1 = values
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        else:
            assert 0 <= values[0] < w and 0 <= values[1] < h
        assume(all(math.isfinite(v) for v in values))
        if noisy:
            image = data.draw(hnp.arrays(np.uint8, (h, w, 3)), label="image")
        else:
            image = np.zeros((h, w, 3), np.uint8)
            image[h // 3: 2 * h // 3 + 1, w // 3: 2 * w // 3 + 1] = (200, 30, 30)
        mask = library_outcome(prompt_mask, prompt, image)
        assert not isinstance(mask, GazevosError), mask
        assert mask.shape == (h, w) and mask.dtype == np.bool_ and mask.any()
        if kind == "box":
            x0, y0, x1, y1 = values
            ys, xs = np.nonzero(mask)
            assert xs.min() >= math.floor(x0) and xs.max() < math.ceil(x1)
            assert ys.min() >= math.floor(y0) and ys.max() < math.ceil(y1)
        else:
            assert mask[min(h - 1, int(round(values[1]))), min(w - 1, int(round(values[0])))]

    check()


def test_nan_box_is_refused() -> None:
    """Found by the long fuzz run: size (32, 32), box [0, 0, nan, nan] on 1 frame (accepted
    by check_prompts until commit f920f84)."""
    prompt = ObjectPrompt(1, "o", 0, "box", box=(0.0, 0.0, math.nan, math.nan))
    assert isinstance(library_outcome(check_prompts, [prompt], (32, 32), 1), GazevosError)


def test_nan_point_is_refused() -> None:
    """The point check is written so that NaN fails it (kept, as the box check was not)."""
    prompt = ObjectPrompt(1, "o", 0, "point", point=(math.nan, 5.0))
    assert isinstance(library_outcome(check_prompts, [prompt], (32, 32), 1), GazevosError)
