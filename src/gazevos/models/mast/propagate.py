"""MAST's memory read: two-stage key search and affinity-weighted reconstruction.

One code path serves self-supervised training (reconstructing a colour channel or colour
cluster of the query frame) and label propagation (reconstructing object masks):

1. **ROI localisation** (thesis eq. 4.1).  For every query pixel ``p`` and reference frame
   ``r`` at temporal gap ``g``, the query feature is correlated with the reference features
   on a ``w x w`` grid around ``p`` dilated by ``d = ceil(g / dilation_step)``.  A softmax
   over the grid gives weights; the ROI centre is the weighted mean of the grid positions.
2. **Key selection.**  A ``w' x w'`` window (stride 1) around the ROI centre gives the key
   positions; reference features and values there are taken by bilinear sampling
   (differentiable in the centre too; see :func:`window_keys`).
3. **Reconstruction** (eq. 4.2-4.3).  Affinities of the query with all keys of all
   references go through one softmax; the output is the affinity-weighted sum of the key
   values.

All tensors are at feature resolution (1/4 of the encoder input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffinityConfig:
    """How query and key features are compared (a property of the trained model).

    Attributes:
        affinity: ``cosine`` (features L2-normalised) or ``correlation`` (raw dot product).
        temperature: softmax temperature of the key affinities (eq. 4.3).
        roi_temperature: softmax temperature of the ROI localisation (eq. 4.1).
    """

    affinity: str = "cosine"
    temperature: float = 0.1
    roi_temperature: float = 0.1


@dataclass(frozen=True)
class SearchConfig:
    """Window sizes of the two-stage search.

    Attributes:
        roi_window: ``w``, side of the (dilated) grid searched for the ROI centre (odd).
        key_window: ``w'``, side of the key window around the ROI centre (odd).
        dilation_step: a reference ``g`` frames back is searched with dilation
            ``ceil(g / dilation_step)``.
        max_dilation: upper bound of the dilation (0: just enough for the grid to span the
            whole feature map).
        roi_pool: average reference features over each dilated cell before the ROI search,
            so that a dilated grid does not skip what lies between its samples (thesis
            section 4.2, figure 4.3).
    """

    roi_window: int = 13
    key_window: int = 5
    dilation_step: int = 15
    max_dilation: int = 0
    roi_pool: bool = True


def dilation_for_gap(gap: int, cfg: SearchConfig, size: tuple[int, int]) -> int:
    """Dilation of the ROI grid for a reference ``gap`` frames back (>= 1).

    Args:
        gap: temporal distance in frames (>= 1).
        cfg: search settings.
        size: ``(h, w)`` of the feature map (bounds the dilation when ``max_dilation`` is 0).
    """
    d = max(1, math.ceil(gap / cfg.dilation_step))
    cap = cfg.max_dilation or max(1, math.ceil(max(size) / max(cfg.roi_window - 1, 1)))
    return min(d, cap)


def window_offsets(side: int, device: torch.device | None = None) -> torch.Tensor:
    """``(side * side, 2)`` integer ``(dy, dx)`` offsets of a centred square window."""
    r = side // 2
    ys, xs = torch.meshgrid(torch.arange(-r, r + 1, device=device),
                            torch.arange(-r, r + 1, device=device), indexing="ij")
    return torch.stack([ys.reshape(-1), xs.reshape(-1)], dim=1)


def normalise_features(feat: torch.Tensor, affinity: AffinityConfig) -> torch.Tensor:
    """L2-normalise ``(B, D, h, w)`` features over D for cosine affinity, else unchanged."""
    if affinity.affinity == "cosine":
        return F.normalize(feat, dim=1)
    if affinity.affinity == "correlation":
        return feat
    raise ValueError(f"unknown affinity '{affinity.affinity}' (cosine or correlation)")


def roi_centres(query: torch.Tensor, ref: torch.Tensor, dilation: int, cfg: SearchConfig,
                affinity: AffinityConfig) -> torch.Tensor:
    """ROI centre of every query pixel in one reference frame (eq. 4.1).

    Args:
        query: ``(B, D, h, w)`` (already normalised) query features.
        ref: ``(B, D, h, w)`` (already normalised) reference features.
        dilation: grid dilation ``d``.

    Returns:
        ``(B, h, w, 2)`` centres as ``(y, x)`` in feature-pixel coordinates.  Grid points
        outside the frame take no part in the softmax.
    """
    b, _, h, w = ref.shape
    radius = cfg.roi_window // 2
    if cfg.roi_pool and dilation > 1:
        k = 2 * (dilation // 2) + 1
        ref = F.avg_pool2d(ref, k, stride=1, padding=k // 2, count_include_pad=False)
        if affinity.affinity == "cosine":
            ref = F.normalize(ref, dim=1)
    pad = radius * dilation
    ref_p = F.pad(ref, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # (B, h + 2p, w + 2p, D)
    qc = query.permute(0, 2, 3, 1).reshape(b * h, w, -1)  # (B h, w, D)
    # one matrix product per grid row: every query pixel of a row against the whole shifted
    # reference row, then the dilated columns of the grid are picked out (much faster on a
    # CPU than 169 shifted element-wise products)
    steps = torch.arange(-radius, radius + 1, device=ref.device) * dilation
    cols = (torch.arange(w, device=ref.device).view(w, 1) + pad + steps.view(1, -1))
    cols = cols.view(1, w, -1).expand(b * h, w, steps.numel())
    scores = []
    for dy in steps.tolist():
        rows = ref_p[:, pad + dy:pad + dy + h].reshape(b * h, -1, ref_p.shape[-1])
        scores.append(torch.bmm(qc, rows.transpose(1, 2)).gather(2, cols))
    n = steps.numel()
    offsets = window_offsets(cfg.roi_window)
    # (dy, B h, w, dx) -> (B, dy * dx, h, w), dy-major like window_offsets
    stacked = torch.stack(scores, 0).view(n, b, h, w, n).permute(1, 0, 4, 2, 3)
    logits = stacked.reshape(b, n * n, h, w) / affinity.roi_temperature
    ys = torch.arange(h, device=ref.device).view(1, 1, h, 1)
    xs = torch.arange(w, device=ref.device).view(1, 1, 1, w)
    off = offsets.to(ref.device) * dilation
    py, px = ys + off[:, 0].view(1, -1, 1, 1), xs + off[:, 1].view(1, -1, 1, 1)
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)  # (1, n, h, w)
    logits = logits.masked_fill(~inside, float("-inf"))
    weights = torch.softmax(logits, dim=1)
    cy = (weights * py.to(weights.dtype)).sum(1)
    cx = (weights * px.to(weights.dtype)).sum(1)
    return torch.stack([cy, cx], dim=-1).view(b, h, w, 2)


def window_keys(query: torch.Tensor, ref: torch.Tensor, values: torch.Tensor,
                centres: torch.Tensor, key_window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Affinities and values of the ``k x k`` keys around every ROI centre (bilinear).

    The keys sit at ``centre + o`` for the integer offsets ``o`` of a ``k x k`` window;
    all share the fractional part of the centre, so bilinear sampling of a key is the same
    weighted sum of its 4 integer neighbours for every ``o``.  Since the dot product is
    linear, the affinity with a bilinearly sampled key is the same bilinear mix of the
    affinities with the ``(k + 1) x (k + 1)`` integer positions around the window: one
    gather and one small matrix product per query pixel instead of ``k * k`` feature
    interpolations.  Positions outside the frame are clamped to the border.

    Args:
        query: ``(B, D, h, w)`` query features.
        ref: ``(B, D, h, w)`` reference features.
        values: ``(B, C, h, w)`` reference values.
        centres: ``(B, h, w, 2)`` ROI centres ``(y, x)`` in feature pixels.
        key_window: ``k`` (odd).

    Returns:
        ``(B, h * w, k * k)`` dot products and ``(B, C, h * w, k * k)`` values of the keys.
    """
    b, d, h, w = ref.shape
    n, m = h * w, key_window + 1
    base = torch.floor(centres.detach())
    frac = centres - base  # carries the gradient to the centres
    steps = torch.arange(-(key_window // 2), key_window // 2 + 2, device=ref.device)
    ys = (base[..., 0].long().unsqueeze(-1) + steps).clamp(0, h - 1)  # (B, h, w, m)
    xs = (base[..., 1].long().unsqueeze(-1) + steps).clamp(0, w - 1)
    idx = ys.unsqueeze(-1) * w + xs.unsqueeze(-2)  # (B, h, w, m, m)
    idx = idx.view(b, n * m * m) + (torch.arange(b, device=ref.device) * n).view(b, 1)
    flat = idx.view(-1)
    keys = ref.permute(0, 2, 3, 1).reshape(b * n, d)[flat].view(b * n, m * m, d)
    q = query.permute(0, 2, 3, 1).reshape(b * n, d, 1)
    dots = torch.bmm(keys, q).view(b, n, m, m, 1)
    vals = values.permute(0, 2, 3, 1).reshape(b * n, -1)[flat].view(b, n, m, m, -1)
    fy = frac[..., 0].reshape(b, n, 1, 1, 1)
    fx = frac[..., 1].reshape(b, n, 1, 1, 1)

    def mix(t: torch.Tensor) -> torch.Tensor:  # (B, n, m, m, X) -> (B, n, k, k, X)
        top = t[:, :, :-1, :-1] * (1 - fx) + t[:, :, :-1, 1:] * fx
        bottom = t[:, :, 1:, :-1] * (1 - fx) + t[:, :, 1:, 1:] * fx
        return top * (1 - fy) + bottom * fy

    k2 = key_window * key_window
    logits = mix(dots).reshape(b, n, k2)
    sampled = mix(vals).reshape(b, n, k2, -1).permute(0, 3, 1, 2)
    return logits, sampled


def reconstruct(query: torch.Tensor, refs: Sequence[torch.Tensor],
                values: Sequence[torch.Tensor], gaps: Sequence[int], search: SearchConfig,
                affinity: AffinityConfig, valid: torch.Tensor | None = None,
                topk: int = 0) -> torch.Tensor:
    """Reconstruct query values from reference frames (eq. 4.1-4.3).

    Args:
        query: ``(B, D, h, w)`` query features (raw encoder output).
        refs: R tensors ``(B, D, h, w)``: reference features.
        values: R tensors ``(B, C, h, w)``: the values (colour channel, one-hot clusters or
            object probabilities) of the reference frames at feature resolution.
        gaps: R temporal gaps (frames between reference and query, >= 1).
        search, affinity: settings.
        valid: optional ``(R, C)`` bool: channel ``c`` of reference ``r`` takes part in the
            reconstruction of channel ``c``.  Each channel's softmax is then taken over the
            keys of its valid references only (objects added after a memory frame was
            stored ignore that frame).  Default: every reference for every channel, the
            plain softmax of eq. 4.3.
        topk: when > 0, only the ``topk`` keys of highest affinity of each query pixel
            (over all its valid references together) take part in the softmax; the
            others get weight 0 (the top-k restriction of CRW/UVC-style propagation;
            an inference-time option).  0: all keys (eq. 4.3).

    Returns:
        ``(B, C, h, w)`` reconstructed values.  A channel with no valid reference is 0.
    """
    if not refs or len(refs) != len(values) or len(refs) != len(gaps):
        raise ValueError("refs, values and gaps must be non-empty and of equal length")
    b, _, h, w = query.shape
    q = normalise_features(query, affinity)
    logits, samples = [], []
    for ref, val, gap in zip(refs, values, gaps, strict=True):
        r = normalise_features(ref, affinity)
        d = dilation_for_gap(int(gap), search, (h, w))
        centres = roi_centres(q, r, d, search, affinity)
        dots, vals = window_keys(q, r, val, centres, search.key_window)
        logits.append(dots / affinity.temperature)
        samples.append(vals)  # (B, C, N, K)
    top = torch.stack([lg.amax(dim=2) for lg in logits], 0).amax(0).detach()  # (B, N)
    thr = _topk_thresholds(logits, valid, topk) if topk > 0 else None
    num = den = None
    for i, (lg, val) in enumerate(zip(logits, samples, strict=True)):
        wgt = torch.exp(lg - top.unsqueeze(-1))  # (B, N, K)
        if thr is not None:  # per channel: (B, C, N, K) weights, below-threshold keys off
            wgt = wgt.unsqueeze(1) * (lg.unsqueeze(1) >= thr).to(wgt.dtype)
            n_i, d_i = (val * wgt).sum(-1), wgt.sum(-1).expand(-1, val.shape[1], -1)
            if valid is not None:
                m = valid[i].to(n_i.dtype).view(1, -1, 1)
                n_i, d_i = n_i * m, d_i * m
            num = n_i if num is None else num + n_i
            den = d_i if den is None else den + d_i
            continue
        n_i = (val * wgt.unsqueeze(1)).sum(-1)  # (B, C, N)
        d_i = wgt.sum(-1).unsqueeze(1).expand_as(n_i)  # (B, C, N)
        if valid is not None:
            m = valid[i].to(n_i.dtype).view(1, -1, 1)
            n_i, d_i = n_i * m, d_i * m
        num = n_i if num is None else num + n_i
        den = d_i if den is None else den + d_i
    out = num / den.clamp_min(1e-30)
    return out.view(b, -1, h, w)


def _topk_thresholds(logits: Sequence[torch.Tensor], valid: torch.Tensor | None,
                     topk: int) -> torch.Tensor:
    """``(B, C or 1, N, 1)`` affinity of the ``topk``-th best key of every query pixel.

    Args:
        logits: R tensors ``(B, N, K)``: key logits per reference.
        valid: optional ``(R, C)`` bool validity of reference ``r`` for channel ``c``;
            each channel's threshold is taken over its valid references only.
        topk: number of keys kept (all of them when there are fewer).
    """
    every = torch.stack(list(logits), 1).detach()  # (B, R, N, K)
    b, r, n, k = every.shape
    if valid is None or bool(valid.all()):
        flat = every.permute(0, 2, 1, 3).reshape(b, n, r * k)
        kk = min(topk, r * k)
        return flat.topk(kk, dim=2).values[..., -1:].unsqueeze(1)
    out = []
    for c in range(valid.shape[1]):
        sel = valid[:, c].to(every.device)
        if not bool(sel.any()):
            out.append(every.new_full((b, n, 1), float("inf")))
            continue
        part = every[:, sel].permute(0, 2, 1, 3).reshape(b, n, -1)
        out.append(part.topk(min(topk, part.shape[2]), dim=2).values[..., -1:])
    return torch.stack(out, 1)
