"""The Ranking Attention Module (RAM) of RANet and the thesis's two modifications.

Notation: the template (first / given) frame's features are pooled to a grid of
``P = th * tw`` pixels; each template pixel ``j`` is correlated with every target pixel,
giving one similarity map per template pixel, ``corr (B, P, h, w)``.  The RAM scores every
template pixel (correlation score ``C``: its best match in the target, plus the learned
ranking score ``R``), and keeps the ``K`` best foreground and ``K`` best background maps
(template mask decides which pixels are which; missing maps are zero).

Modifications (thesis 3.2.3), each optional:

* discriminant score: template pixel ``j`` in the foreground gets
  ``sum(top-k corr with other fg pixels) - sum(top-k corr with bg pixels)`` (and the
  mirror image for background pixels), added with weight 0.5;
* NMS-style boost: scores that are the maximum of their neighbourhood (among the same
  class) are raised by a large constant, so local maxima are ranked first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_NEG = -1e4


def correlate(template: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Correlation of every template pixel with every target pixel.

    Args:
        template: ``(B, D, th, tw)`` template features.
        target: ``(B, D, h, w)`` target features.

    Returns:
        ``(B, th * tw, h, w)``: map ``j`` is ``<template[:, :, j], target>`` (row-major j).
    """
    b, d = template.shape[:2]
    return torch.einsum("bdp,bdq->bpq", template.reshape(b, d, -1),
                        target.reshape(b, d, -1)).view(b, -1, *target.shape[-2:])


def discriminant_score(template: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor,
                       k: int = 8) -> torch.Tensor:
    """Discriminant score of each template pixel (thesis 3.2.3).

    For a foreground pixel: sum of its ``k`` largest correlations with the *other*
    foreground pixels minus the sum of its ``k`` largest correlations with background
    pixels; for a background pixel the roles swap.  Fewer than ``k`` pixels of a class:
    the sum runs over those that exist.  Pixels in neither class score 0.

    Args:
        template: ``(B, D, P)`` template features (flattened grid).
        fg: ``(B, P)`` bool foreground pixels.
        bg: ``(B, P)`` bool background pixels.
        k: number of correlations summed per class.

    Returns:
        ``(B, P)`` scores.
    """
    b, _, p = template.shape
    sim = torch.einsum("bdp,bdq->bpq", template, template)  # (B, P, P)
    eye = torch.eye(p, dtype=torch.bool, device=template.device).unsqueeze(0)

    def topsum(cols: torch.Tensor) -> torch.Tensor:
        ok = cols.unsqueeze(1) & ~eye  # (B, P, P): column q usable for row p
        vals = sim.masked_fill(~ok, float("-inf"))
        kk = min(k, p)
        top = vals.topk(kk, dim=2).values
        return torch.where(torch.isfinite(top), top, torch.zeros_like(top)).sum(2)

    s_fg, s_bg = topsum(fg), topsum(bg)
    zero = torch.zeros_like(s_fg)
    return torch.where(fg, s_fg - s_bg, torch.where(bg, s_bg - s_fg, zero))


def nms_boost(score: torch.Tensor, valid: torch.Tensor, grid: tuple[int, int],
              window: int = 3, boost: float = 100.0) -> torch.Tensor:
    """Raise the scores of local maxima (thesis 3.2.3 "non maximal suppression").

    A valid pixel whose score is the largest among the valid pixels of its
    ``window x window`` neighbourhood gets ``+boost``; other scores are unchanged, so
    non-maxima are still picked once the maxima run out.

    Args:
        score: ``(B, P)`` ranking scores.
        valid: ``(B, P)`` bool, pixels of the class being ranked.
        grid: ``(th, tw)`` with ``th * tw = P``.
        window: odd neighbourhood size.
        boost: added to the maxima.

    Returns:
        ``(B, P)`` boosted scores.
    """
    b = score.shape[0]
    s = score.masked_fill(~valid, _NEG).view(b, 1, *grid)
    local = F.max_pool2d(s, window, stride=1, padding=window // 2).view(b, -1)
    is_max = valid & (score >= local)
    return score + boost * is_max.to(score.dtype)


def select_ranked(corr: torch.Tensor, score: torch.Tensor, valid: torch.Tensor,
                  k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k`` best-scored valid maps, zero-filled when fewer are valid.

    Args:
        corr: ``(B, P, h, w)`` similarity maps.
        score: ``(B, P)`` ranking scores.
        valid: ``(B, P)`` bool.
        k: number of maps kept.

    Returns:
        ``maps (B, k, h, w)`` in decreasing score order and ``index (B, k)`` of the chosen
        template pixels (-1 for zero-filled slots).
    """
    b, p = score.shape
    s = score.masked_fill(~valid, float("-inf"))
    if p < k:
        s = torch.cat([s, s.new_full((b, k - p), float("-inf"))], 1)
    idx = s.topk(k, dim=1).indices  # (B, k)
    ok = torch.isfinite(s.gather(1, idx))
    safe = idx.clamp(max=p - 1)
    maps = corr.gather(1, safe.view(b, k, 1, 1).expand(-1, -1, *corr.shape[-2:]))
    maps = maps * ok.view(b, k, 1, 1).to(maps.dtype)
    return maps, torch.where(ok, idx, torch.full_like(idx, -1))
