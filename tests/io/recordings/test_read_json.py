"""read_json, shared by the Neon and Tobii Glasses 3 readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gazevos.errors import GazevosError
from gazevos.io.recordings._common import read_json


def test_read_json_object_and_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "info.json"
    path.write_text('{"a": [1, 2], "b": "x"}', encoding="utf-8")
    assert read_json(path) == {"a": [1, 2], "b": "x"}
    path.write_text("[1, 2]")
    with pytest.raises(GazevosError, match="info.json: expected a JSON object$"):
        read_json(path)
    path.write_text('{"a": ')
    with pytest.raises(GazevosError, match=r"info.json: cannot read JSON \(JSONDecodeError\)$"):
        read_json(path)
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(GazevosError, match=r"cannot read JSON \(UnicodeDecodeError\)$"):
        read_json(path)
    with pytest.raises(GazevosError, match=r"cannot read JSON \(FileNotFoundError\)$"):
        read_json(tmp_path / "missing.json")
