"""Never lose data: atomic file writes and output folders that refuse to overwrite."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gazevos.errors import GazevosError


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read once; setting it back at once keeps it unchanged)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so that writers that pick a
    format from the extension (PIL, OpenCV, pandas) still work.  If the block raises, the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix or path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give it the usual permissions of a new file
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def prepare_output_dir(path: str | os.PathLike[str], force: bool = False,
                       resume: bool = False) -> Path:
    """Create an output folder, refusing to write into a non-empty one.

    Args:
        path: the folder.
        force: allow writing into a non-empty folder (existing files may be overwritten).
        resume: allow a non-empty folder because the caller will skip finished work.

    Raises:
        GazevosError: the folder is not empty and neither ``force`` nor ``resume`` is set,
            or ``path`` is an existing file.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GazevosError("output path exists and is not a folder", path)
    if path.is_dir() and any(path.iterdir()) and not (force or resume):
        raise GazevosError("output folder is not empty; pass --force to overwrite", path)
    path.mkdir(parents=True, exist_ok=True)
    return path
