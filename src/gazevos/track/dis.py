"""OpenCV's DIS optical flow with gazevos's settings (shared by the ``flow`` and ``classic``
trackers)."""

from __future__ import annotations

import cv2

#: the DIS presets by name
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def dis_flow(preset: str, finest_scale: int = -1, patch_size: int = -1,
             patch_stride: int = -1, descent_iterations: int = -1,
             refine_iterations: int = -1) -> cv2.DISOpticalFlow:
    """A DIS object of ``preset`` (a key of :data:`DIS_PRESETS`) with the given settings;
    a negative value keeps the preset's (``refine_iterations`` 0 turns refinement off).

    DIS keeps no state between calls, so two objects with equal settings give equal flows.
    """
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    if finest_scale >= 0:
        dis.setFinestScale(finest_scale)
    if refine_iterations >= 0:
        dis.setVariationalRefinementIterations(refine_iterations)
    if patch_size > 0:
        dis.setPatchSize(patch_size)
    if patch_stride > 0:
        dis.setPatchStride(patch_stride)
    if descent_iterations > 0:
        dis.setGradientDescentIterations(descent_iterations)
    return dis
