"""One-line messages for the errors the CLI entry point catches besides
:class:`~gazevos.errors.GazevosError`, and the terminal form of gazevos warnings.

* :func:`describe_error` turns an :class:`OSError` (permissions, a full disk, a path through
  a file, a name over the system's limit, ...) or a :class:`MemoryError` into the text after
  ``gazevos: error: `` -- the path first, like a ``GazevosError``; None for other errors
  (they stay "internal error").
* :func:`warnings_to_stderr` shows the warnings of the library (:class:`GazeWarning` and
  other ``gazevos`` warnings) as one line ``gazevos: warning: ...`` on stderr.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: the longest path shown whole in a message; longer ones keep their start and end
MAX_SHOWN_PATH = 300

#: plain words for the errno values a user can fix (``strerror`` is used for the others)
_WORDS = {
    errno.ENAMETOOLONG: "file name too long (at most 255 bytes per name, {max_path} per path "
                        "on this system)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
    errno.ENOSPC: "no space left on the device",
    errno.EROFS: "the file system is read-only",
    errno.EMFILE: "too many open files",
    errno.ENOTEMPTY: "folder is not empty",
    errno.EXDEV: "cannot move across file systems",
}
if hasattr(errno, "EDQUOT"):
    _WORDS[errno.EDQUOT] = "disk quota exceeded"


def _shown(path: Any) -> str:
    """A path for a message: whole, or its start and end around ``...`` when very long."""
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    text = " ".join(text.split())  # one line whatever the name holds
    if len(text) <= MAX_SHOWN_PATH:
        return text
    keep = (MAX_SHOWN_PATH - 3) // 2
    return f"{text[:keep]}...{text[-keep:]}"


def _max_path() -> str:
    try:
        return str(os.pathconf("/", "PC_PATH_MAX"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not on POSIX
        return "4096"


def describe_os_error(exc: OSError) -> str:
    """One line for an :class:`OSError`: ``PATH: what (ERRNAME)``, or
    ``PATH -> PATH2: ...`` for a rename, or ``what`` alone when no file is named.

    Examples:
        ``/data/out/aaaa...aaaa: file name too long (at most 255 bytes per name, 4096 per path
        on this system) (ENAMETOOLONG)``; ``/data/out: permission denied (EACCES)``.
    """
    code = exc.errno
    if code in _WORDS:
        what = _WORDS[code].format(max_path=_max_path())
    else:
        what = exc.strerror or " ".join(str(exc).split()) or exc.__class__.__name__
        if what[:1].isupper() and not what[1:2].isupper():  # "No such ..." -> "no such ..."
            what = what[:1].lower() + what[1:]
    if code is not None and code in errno.errorcode:
        what += f" ({errno.errorcode[code]})"
    where = ""
    if exc.filename is not None:
        where = _shown(exc.filename)
        if exc.filename2 is not None:
            where += f" -> {_shown(exc.filename2)}"
    return " ".join(f"{where}: {what}".split()) if where else " ".join(what.split())


def describe_memory_error(exc: MemoryError) -> str:
    """One line for a :class:`MemoryError`: ``not enough memory: <what was asked for>``."""
    detail = " ".join(str(exc).split())
    if detail:
        detail = detail[:1].lower() + detail[1:]
        return f"not enough memory: {detail} (try a smaller input or setting)"
    return "not enough memory for this run (try a smaller input or setting)"


def describe_error(exc: BaseException) -> str | None:
    """The one-line message (without ``gazevos: error: ``) of an :class:`OSError` or a
    :class:`MemoryError`; None for any other exception."""
    if isinstance(exc, MemoryError):
        return describe_memory_error(exc)
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return None


def _is_gazevos_warning(category: type[Warning], filename: str) -> bool:
    """A warning of the library: its class or the code that issued it is gazevos'."""
    module = getattr(category, "__module__", "") or ""
    return module.startswith("gazevos") or f"{os.sep}gazevos{os.sep}" in filename


def show_warning(message: Warning | str, category: type[Warning], filename: str,
                 lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    """A ``warnings.showwarning`` that prints gazevos warnings as one line
    ``gazevos: warning: ...`` on stderr (others as Python would)."""
    if _is_gazevos_warning(category, filename):
        text = f"gazevos: warning: {' '.join(str(message).split())}\n"
    else:
        text = warnings.formatwarning(message, category, filename, lineno, line)
    out = file if file is not None else sys.stderr
    try:
        out.write(text)
        out.flush()
    except (OSError, ValueError):  # a closed stderr: nowhere to say it
        pass


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """While inside, gazevos warnings are printed by :func:`show_warning` (each one every
    time it is issued); the previous warning settings come back on exit."""
    from gazevos.gaze.sync import GazeWarning

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        warnings.filterwarnings("always", module=r"gazevos(\.|$)")
        warnings.filterwarnings("always", category=GazeWarning)
        yield
