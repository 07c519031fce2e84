"""Eye-tracking recordings from several devices, read into one in-memory :class:`Recording`.

Use :func:`read_recording` (format detected from the folder) or a format's own reader.
"""

from gazevos.io.recordings.base import (
    FIXATION_COLUMNS,
    GAZE_COLUMNS,
    CameraIntrinsics,
    Recording,
)
from gazevos.io.recordings.detect import FORMATS, detect_format, read_recording

__all__ = [
    "FIXATION_COLUMNS",
    "FORMATS",
    "GAZE_COLUMNS",
    "CameraIntrinsics",
    "Recording",
    "detect_format",
    "read_recording",
]
