"""``settings.device`` of a study file: checked by name when loaded, the CPU by default,
in the task key only when it is not the CPU, and handed to the tracker of each task."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gazevos.errors import GazevosError
from gazevos.study.schema import load_study
from gazevos.study.tasks import task_hash, task_key


def _study(tmp_path: Path, settings: str) -> Path:
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "a" / "gaze.csv").write_text("x")
    path = tmp_path / "study.yaml"
    path.write_text(f"settings: {settings}\n"
                    "recordings:\n  - {path: a, boxes: ['mug:1,2,3,4@0']}\n")
    return path


def test_the_device_defaults_to_the_cpu_and_keeps_the_old_task_key(tmp_path: Path) -> None:
    st = load_study(_study(tmp_path, "{tracker: mast}"))
    assert st.settings.device == "cpu"
    key = task_key(st.recordings[0], st.settings)
    assert "device" not in key["settings"]  # studies from before devices are not redone
    gpu = replace(st.settings, device="cuda")
    assert task_hash(task_key(st.recordings[0], gpu)) != task_hash(key)


@pytest.mark.parametrize(("given", "kept"), [("CUDA:1", "cuda:1"), ("auto", "auto"),
                                             ("cpu", "cpu")])
def test_a_gpu_is_named_without_needing_one_here(tmp_path: Path, given: str, kept: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the scheduler's machine
    assert load_study(_study(tmp_path, f"{{tracker: mast, device: '{given}'}}")
                      ).settings.device == kept


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "1"])
def test_a_bad_device_name_is_one_line_naming_the_file(tmp_path: Path, bad: str) -> None:
    path = _study(tmp_path, f"{{device: '{bad}'}}")
    with pytest.raises(GazevosError) as err:
        load_study(path)
    text = str(err.value)
    assert "settings.device" in text and "is not a device" in text and "\n" not in text
    assert err.value.path is not None and Path(err.value.path) == path
