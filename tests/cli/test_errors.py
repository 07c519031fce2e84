"""One-line messages for OS and memory errors, and gazevos warnings on stderr
(gazevos.cli.errors)."""

from __future__ import annotations

import errno
import io
import os
import warnings

import numpy as np
import pytest

from gazevos.cli.errors import (
    MAX_SHOWN_PATH,
    describe_error,
    describe_memory_error,
    describe_os_error,
    show_warning,
    warnings_to_stderr,
)
from gazevos.gaze.sync import GazeWarning


def test_a_name_over_the_system_limit_names_the_path(tmp_path):
    name = "n" * 300
    with pytest.raises(OSError) as err:
        (tmp_path / name / "report.html").write_text("x")
    text = describe_error(err.value)
    assert text is not None and "\n" not in text
    assert text.startswith(str(tmp_path) + "/nnnn")
    assert text.endswith(": file name too long (at most 255 bytes per name, "
                         f"{os.pathconf('/', 'PC_PATH_MAX')} per path on this system) "
                         "(ENAMETOOLONG)")


def test_very_long_paths_keep_their_start_and_end():
    path = "/data/" + "x" * 1000 + "/end.png"
    text = describe_os_error(OSError(errno.ENAMETOOLONG, "File name too long", path))
    shown = text.split(": file name too long")[0]
    assert len(shown) == MAX_SHOWN_PATH - 1  # 148 + "..." + 148
    assert shown.startswith("/data/xxx") and shown.endswith("xxx/end.png") and "..." in shown


def test_a_folder_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as err:
        (tmp_path / "file" / "out").mkdir()
    assert describe_error(err.value) == (f"{tmp_path}/file/out: a part of the path is a file, "
                                         "not a folder (ENOTDIR)")


@pytest.mark.parametrize(("exc", "text"), [
    (PermissionError(errno.EACCES, "Permission denied", "/data/out"),
     "/data/out: permission denied (EACCES)"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/out/x.png"),
     "/data/out/x.png: no space left on the device (ENOSPC)"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/ro"),
     "/mnt/ro: the file system is read-only (EROFS)"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/a", None, "/b"),
     "/a -> /b: no such file or folder (ENOENT)"),
    (OSError(errno.EIO, "Input/output error"), "input/output error (EIO)"),
    (OSError(errno.EBADF, "Bad file descriptor", "f"), "f: bad file descriptor (EBADF)"),
    (OSError("something\nodd"), "something odd"),
    (OSError(), "OSError"),
    (OSError(errno.ENOENT, "No such file or directory", b"/bytes/name"),
     "/bytes/name: no such file or folder (ENOENT)"),
    (OSError(errno.ENOENT, "No such file or directory", "two\nlines"),
     "two lines: no such file or folder (ENOENT)"),
])
def test_os_errors(exc, text):
    assert describe_error(exc) == text


def test_memory_errors():
    exc = MemoryError("Unable to allocate 27.9 TiB for an array with shape (100000, 100000, 3) "
                      "and data type uint8")
    assert describe_memory_error(exc) == (
        "not enough memory: unable to allocate 27.9 TiB for an array with shape (100000, "
        "100000, 3) and data type uint8 (try a smaller input or setting)")
    assert describe_error(MemoryError()) == ("not enough memory for this run (try a smaller "
                                             "input or setting)")
    try:
        np.ones((2**40, 2**20), np.uint8)  # 1 PiB: numpy refuses it at once
    except MemoryError as real:
        assert describe_error(real).startswith("not enough memory: unable to allocate 1")


def test_other_errors_are_not_described():
    assert describe_error(ValueError("x")) is None
    assert describe_error(KeyError("x")) is None


def test_gazevos_warnings_are_one_line_on_stderr(capsys):
    with warnings_to_stderr():
        for _ in range(2):  # shown every time, not once per place
            warnings.warn("g.csv: only 4 of 10\ngaze samples", GazeWarning, stacklevel=1)
    assert capsys.readouterr().err == "gazevos: warning: g.csv: only 4 of 10 gaze samples\n" * 2
    with warnings.catch_warnings():  # settings come back afterwards
        warnings.simplefilter("error")
        with pytest.raises(GazeWarning):
            warnings.warn("x", GazeWarning, stacklevel=1)


def test_other_warnings_keep_pythons_format():
    out = io.StringIO()
    show_warning("plain", UserWarning, "/usr/lib/python3/x.py", 3, file=out)
    assert out.getvalue().startswith("/usr/lib/python3/x.py:3: UserWarning: plain")
    out = io.StringIO()
    show_warning("from us", UserWarning, "/site-packages/gazevos/gaze/sync.py", 9, file=out)
    assert out.getvalue() == "gazevos: warning: from us\n"
