"""The one error type the library raises for bad input.

Library code never calls ``sys.exit``; it raises :class:`GazevosError`, whose
message is a single line naming the file and the problem.  The CLI turns it
into ``gazevos: error: <message>`` and a non-zero exit code.
"""

from __future__ import annotations

from os import PathLike


class GazevosError(Exception):
    """Bad input or an impossible request, with a one-line, user-facing message.

    Args:
        problem: what is wrong, in words a user understands.
        path: the file or folder concerned, if any; it is put first in the message.
    """

    def __init__(self, problem: str, path: str | PathLike[str] | None = None) -> None:
        self.problem = " ".join(str(problem).split())  # force a single line
        self.path = None if path is None else str(path)
        super().__init__(self.problem if self.path is None else f"{self.path}: {self.problem}")
