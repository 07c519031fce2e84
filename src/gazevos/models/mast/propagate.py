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

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gazevos.config import setting


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

    roi_window: int = setting(13, ge=1, le=101)
    key_window: int = setting(5, ge=1, le=31)
    dilation_step: int = setting(15, ge=1)
    max_dilation: int = setting(0, ge=0, le=1000)
    roi_pool: bool = True

    def __post_init__(self) -> None:
        """The key window is centred on the ROI centre, so its side must be odd."""
        if self.key_window % 2 == 0:
            raise ValueError(f"key_window must be odd, got {self.key_window}")


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


def local_dots(query: torch.Tensor, ref: torch.Tensor, radius: int, dilation: int = 1,
               tile: int = 10) -> torch.Tensor:
    """Dot products of every query pixel with the reference on a dilated square grid.

    ``out[b, y, x, i] = <query[b, :, y, x], ref[b, :, y + d * oy_i, x + d * ox_i]>`` for
    the offsets ``(oy_i, ox_i)`` of :func:`window_offsets` (``2 * radius + 1`` a side,
    dy-major); grid points outside the frame give 0.  Computed as one batched matrix
    product per ``tile x tile`` block of query pixels against the reference window the
    block can reach (a dilated grid is split into its ``d * d`` residue classes first,
    on which it is an ordinary grid), then the grid's entries are picked out: a few times
    the minimal arithmetic, but far cheaper on a CPU than one element-wise product per
    offset or one matrix product per whole row.

    Args:
        query: ``(B, D, h, w)`` query features.
        ref: ``(B, D, h, w)`` reference features.
        radius: grid half-side in grid steps.
        dilation: grid step ``d`` in pixels.
        tile: side of the query blocks.

    Returns:
        ``(B, h, w, (2 * radius + 1) ** 2)`` dot products.
    """
    b, dim, h, w = query.shape
    n = 2 * radius + 1
    if dilation > 1:
        d = dilation
        h2, w2 = -(-h // d), -(-w // d)

        def classes(t: torch.Tensor) -> torch.Tensor:  # (B, D, h, w) -> (B d d, D, h2, w2)
            t = F.pad(t, (0, w2 * d - w, 0, h2 * d - h))
            t = t.view(b, dim, h2, d, w2, d).permute(0, 3, 5, 1, 2, 4)
            return t.reshape(b * d * d, dim, h2, w2)

        qs, rs = classes(query), classes(ref)
        if (h2 * w2) ** 2 <= _tile_cost(h2, w2, radius, tile):
            out = _dense_grid_dots(qs, rs, radius)
        else:
            out = local_dots(qs, rs, radius, 1, tile)
        out = out.view(b, d, d, h2, w2, n * n).permute(0, 3, 1, 4, 2, 5)
        return out.reshape(b, h2 * d, w2 * d, n * n)[:, :h, :w]
    dots, _, _ = _tile_dots(query, ref, radius, tile)
    idx = _tile_grid_index(tile, n, radius, query.device)
    picked = dots.gather(2, idx.unsqueeze(0).expand(dots.shape[0], -1, -1))
    return _blocks_to_image(picked, b, tile, h, w).view(b, h, w, n * n)


def _query_blocks(query: torch.Tensor, tile: int) -> torch.Tensor:
    """``(B nh nw, t t, D)`` query features in ``tile x tile`` blocks (zero-padded)."""
    b, dim, h, w = query.shape
    nh, nw = -(-h // tile), -(-w // tile)
    qt = F.pad(query, (0, nw * tile - w, 0, nh * tile - h)).view(b, dim, nh, tile, nw, tile)
    return qt.permute(0, 2, 4, 3, 5, 1).reshape(b * nh * nw, tile * tile, dim)


def _reference_windows(ref: torch.Tensor, reach: int, tile: int) -> torch.Tensor:
    """``(B nh nw, s s, D)``: for each query block, the reference window it can reach
    (``s = tile + 2 reach``, row-major, top-left at the block origin minus ``reach``,
    zero outside the frame)."""
    b, dim, h, w = ref.shape
    t, r = tile, reach
    nh, nw = -(-h // t), -(-w // t)
    side = t + 2 * r
    rp = F.pad(ref, (r, nw * t - w + r, r, nh * t - h + r)).permute(0, 2, 3, 1).contiguous()
    sb, sy, sx, sc = rp.stride()  # channels-last: (B, H', W', D)
    win = rp.as_strided((b, nh, nw, side, side, dim), (sb, t * sy, t * sx, sy, sx, sc))
    return win.reshape(b * nh * nw, side * side, dim)  # one copy of the overlapping windows


@functools.lru_cache(maxsize=8)
def _block_coords(b: int, h: int, w: int, tile: int, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B nh nw, t t)`` pixel coordinates ``py``, ``px`` of the block pixels (past the
    frame for the padding of the last blocks)."""
    t = tile
    nh, nw = -(-h // t), -(-w // t)
    ty = torch.arange(t, device=device).repeat_interleave(t)
    tx = torch.arange(t, device=device).repeat(t)
    oy = (torch.arange(nh, device=device) * t).view(nh, 1).expand(nh, nw).reshape(1, -1)
    ox = (torch.arange(nw, device=device) * t).view(1, nw).expand(nh, nw).reshape(1, -1)
    py = oy.expand(b, -1).reshape(-1, 1) + ty.view(1, -1)
    px = ox.expand(b, -1).reshape(-1, 1) + tx.view(1, -1)
    return py, px


def _tile_dots(query: torch.Tensor, ref: torch.Tensor, reach: int, tile: int,
               blocks: torch.Tensor | None = None, windows: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dot products of ``tile x tile`` query blocks with the reference window they reach.

    Args:
        query, ref: ``(B, D, h, w)`` features.
        reach: how far (pixels) from its query pixel a reference pixel may be.
        tile: block side ``t``.
        blocks, windows: :func:`_query_blocks` of ``query`` and
            :func:`_reference_windows` of ``ref`` when already made.

    Returns:
        ``dots (B nh nw, t t, s s)`` with ``s = t + 2 reach`` (block ``(i, j)`` of image
        ``b`` is row ``(b nh + i) nw + j``; windows as in :func:`_reference_windows`) and
        the block pixels' coordinates ``py``, ``px`` (:func:`_block_coords`).
    """
    b, _, h, w = query.shape
    if blocks is None:
        blocks = _query_blocks(query, tile)
    if windows is None:
        windows = _reference_windows(ref, reach, tile)
    dots = torch.bmm(blocks, windows.transpose(1, 2))
    py, px = _block_coords(b, h, w, tile, query.device)
    return dots, py, px


def _tile_cost(h: int, w: int, reach: int, tile: int) -> int:
    """Multiply-adds per feature channel of :func:`_tile_dots` on an ``h x w`` image."""
    return (-(-h // tile)) * (-(-w // tile)) * tile * tile * (tile + 2 * reach) ** 2


def _dense_grid_dots(query: torch.Tensor, ref: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`local_dots` (dilation 1) through all-pairs products: cheaper than blocks when
    the image is not much larger than the grid (the residue classes of a large dilation).

    Returns ``(B, h, w, (2 radius + 1) ** 2)``, 0 for grid points outside the image.
    """
    b, dim, h, w = query.shape
    q = query.flatten(2).transpose(1, 2)  # (B, h w, D)
    dots = torch.bmm(q, ref.flatten(2))  # (B, h w, h w)
    idx, inside = _dense_grid_index(h, w, radius, query.device)
    return (dots.gather(2, idx.expand(b, -1, -1)) * inside).view(b, h, w, -1)


@functools.lru_cache(maxsize=16)
def _dense_grid_index(h: int, w: int, radius: int, device: torch.device
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, h w, n)`` flat index of every grid point (clamped into the image) and the
    ``(h w, n)`` float mask of grid points inside it."""
    off = window_offsets(2 * radius + 1, device)
    gy = torch.arange(h, device=device).view(h, 1, 1) + off[:, 0]
    gx = torch.arange(w, device=device).view(1, w, 1) + off[:, 1]
    inside = ((gy >= 0) & (gy < h) & (gx >= 0) & (gx < w)).view(h * w, -1)
    idx = (gy.clamp(0, h - 1) * w + gx.clamp(0, w - 1)).view(1, h * w, -1)
    return idx, inside.to(torch.float32)


def _tile_grid_index(tile: int, window: int, reach: int, device: torch.device) -> torch.Tensor:
    """``(tile * tile, window ** 2)`` index of grid offset ``i`` (:func:`window_offsets`)
    of block pixel ``p`` in the flattened ``(tile + 2 reach) ** 2`` reference window of
    :func:`_tile_dots` (``reach >= window // 2``)."""
    side = tile + 2 * reach
    ty, tx = torch.meshgrid(torch.arange(tile, device=device),
                            torch.arange(tile, device=device), indexing="ij")
    off = window_offsets(window, device) + reach
    return ((ty.reshape(-1, 1) + off[:, 0]) * side + tx.reshape(-1, 1) + off[:, 1])


@functools.lru_cache(maxsize=8)
def _grid_bias(h: int, w: int, roi_window: int, dilation: int, device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Constant per frame size: the additive mask ``(h, w, n)`` (``-inf`` for dilated grid
    points outside the frame) and the grid offsets ``(n, 2)`` in pixels, as floats."""
    off = window_offsets(roi_window, device) * dilation
    py = torch.arange(h, device=device).view(h, 1, 1) + off[:, 0]
    px = torch.arange(w, device=device).view(1, w, 1) + off[:, 1]
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    bias = torch.zeros(inside.shape, device=device).masked_fill_(~inside, float("-inf"))
    return bias, off.to(torch.float32)


def _centres_from_dots(dots: torch.Tensor, dilation: int, cfg: SearchConfig,
                       affinity: AffinityConfig) -> torch.Tensor:
    """ROI centres ``(B, h, w, 2)`` from the ``(B, h, w, w * w)`` grid dot products:
    the softmax-weighted mean of the grid positions inside the frame."""
    _, h, w, _ = dots.shape
    bias, off = _grid_bias(h, w, cfg.roi_window, dilation, dots.device)
    wgt = torch.softmax(dots / affinity.roi_temperature + bias, dim=-1)
    ys = torch.arange(h, device=dots.device, dtype=wgt.dtype).view(h, 1).expand(h, w)
    xs = torch.arange(w, device=dots.device, dtype=wgt.dtype).view(1, w).expand(h, w)
    return torch.stack([ys, xs], dim=-1) + wgt @ off


def roi_reference(ref: torch.Tensor, dilation: int, cfg: SearchConfig,
                  affinity: AffinityConfig) -> torch.Tensor:
    """Reference features for the ROI search at ``dilation`` (thesis section 4.2).

    With ``roi_pool`` and a dilation above 1, the features are averaged over each dilated
    cell (and re-normalised for cosine affinity), so that the grid does not skip what lies
    between its samples; otherwise ``ref`` itself.  Depends on the reference and the
    dilation only, so a tracker can keep it while the dilation does not change.

    Args:
        ref: ``(B, D, h, w)`` (already normalised) reference features.
    """
    if not (cfg.roi_pool and dilation > 1):
        return ref
    k = 2 * (dilation // 2) + 1
    ref = F.avg_pool2d(ref, k, stride=1, padding=k // 2, count_include_pad=False)
    return F.normalize(ref, dim=1) if affinity.affinity == "cosine" else ref


def roi_centres(query: torch.Tensor, ref: torch.Tensor, dilation: int, cfg: SearchConfig,
                affinity: AffinityConfig, roi_ref: torch.Tensor | None = None
                ) -> torch.Tensor:
    """ROI centre of every query pixel in one reference frame (eq. 4.1).

    Args:
        query: ``(B, D, h, w)`` (already normalised) query features.
        ref: ``(B, D, h, w)`` (already normalised) reference features.
        dilation: grid dilation ``d``.
        roi_ref: :func:`roi_reference` of ``ref`` at ``dilation`` when already computed.

    Returns:
        ``(B, h, w, 2)`` centres as ``(y, x)`` in feature-pixel coordinates.  Grid points
        outside the frame take no part in the softmax.
    """
    if roi_ref is None:
        roi_ref = roi_reference(ref, dilation, cfg, affinity)
    dots = local_dots(query, roi_ref, cfg.roi_window // 2, dilation)
    return _centres_from_dots(dots, dilation, cfg, affinity)


def _key_grid(centres: torch.Tensor, key_window: int, h: int, w: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer positions around the ROI centres for bilinear keys.

    Returns ``ys (B, h, w, m)``, ``xs (B, h, w, m)`` (``m = key_window + 1`` rows and
    columns, clamped to the frame) and ``frac (B, h, w, 2)``, the fractional part of the
    centres (which carries their gradient).
    """
    base = torch.floor(centres.detach())
    frac = centres - base
    steps = torch.arange(-(key_window // 2), key_window // 2 + 2, device=centres.device)
    ys = (base[..., 0].long().unsqueeze(-1) + steps).clamp(0, h - 1)
    xs = (base[..., 1].long().unsqueeze(-1) + steps).clamp(0, w - 1)
    return ys, xs, frac


def _bilinear_keys(dots: torch.Tensor, vals: torch.Tensor, frac: torch.Tensor,
                   key_window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear mix of integer-position ``dots (B, n, m, m)`` and ``vals (B, n, m, m, C)``
    into ``(B, n, k k)`` key dots and ``(B, C, n, k k)`` key values."""
    b, n = dots.shape[:2]
    fy = frac[..., 0].reshape(b, n, 1, 1, 1)
    fx = frac[..., 1].reshape(b, n, 1, 1, 1)

    def mix(t: torch.Tensor) -> torch.Tensor:  # (B, n, m, m, X) -> (B, n, k, k, X)
        along_x = torch.lerp(t[:, :, :, :-1], t[:, :, :, 1:], fx)
        return torch.lerp(along_x[:, :, :-1], along_x[:, :, 1:], fy)

    k2 = key_window * key_window
    logits = mix(dots.unsqueeze(-1)).reshape(b, n, k2)
    sampled = mix(vals).reshape(b, n, k2, -1).permute(0, 3, 1, 2)
    return logits, sampled


def _gather_values(values: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """``(B, N, m, m, C)`` values at the integer key positions ``ys``/``xs (B, ..., m)``
    (``N`` query pixels of image ``b`` in any layout)."""
    b, c, h, w = values.shape
    m = ys.shape[-1]
    idx = ys.unsqueeze(-1) * w + xs.unsqueeze(-2)  # (B, ..., m, m)
    idx = idx.reshape(b, -1) + (torch.arange(b, device=values.device) * h * w).view(b, 1)
    flat = values.permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
    return flat.index_select(0, idx.view(-1)).view(b, -1, m, m, c)


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
    ys, xs, frac = _key_grid(centres, key_window, h, w)
    idx = ys.unsqueeze(-1) * w + xs.unsqueeze(-2)  # (B, h, w, m, m)
    idx = idx.view(b, n * m * m) + (torch.arange(b, device=ref.device) * n).view(b, 1)
    # contiguous rows + index_select: several times faster than advanced indexing of the
    # (strided) channels-last view on a CPU
    rows = ref.permute(0, 2, 3, 1).contiguous().view(b * n, d)
    keys = rows.index_select(0, idx.view(-1)).view(b * n, m * m, d)
    q = query.permute(0, 2, 3, 1).reshape(b * n, d)
    dots = torch.einsum("nkd,nd->nk", keys, q).view(b, n, m, m)
    return _bilinear_keys(dots, _gather_values(values, ys, xs), frac, key_window)


def _blocks_to_image(t: torch.Tensor, b: int, tile: int, h: int, w: int) -> torch.Tensor:
    """``(B nh nw, tile tile, *X)`` block-layout tensor -> ``(B, h w, *X)`` image order."""
    nh, nw = -(-h // tile), -(-w // tile)
    rest = t.shape[2:]
    t = t.view(b, nh, nw, tile, tile, *rest).transpose(2, 3)
    return t.reshape(b, nh * tile, nw * tile, *rest)[:, :h, :w].reshape(b, h * w, *rest)


#: query block side of the undilated search (:func:`_search_near`)
NEAR_TILE = 10


def near_reach(cfg: SearchConfig) -> int:
    """How far from its query pixel an undilated search reads: ROI grid plus key window."""
    return cfg.roi_window // 2 + cfg.key_window // 2 + 1


@functools.lru_cache(maxsize=8)
def _near_grid(h: int, w: int, tile: int, roi_window: int, reach: int, device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Constant per frame size: the index of each ROI grid point in its block's reference
    window ``(P, n)`` (:func:`_tile_grid_index`), the additive mask ``(nh nw, P, n)``
    (``-inf`` for grid points outside the frame; padding pixels past the frame keep all
    theirs, so that their softmax stays finite: they are dropped at the end) and the grid
    offsets ``(n, 2)`` as floats."""
    py, px = _block_coords(1, h, w, tile, device)
    off = window_offsets(roi_window, device)
    gy = py.unsqueeze(-1) + off[:, 0]
    gx = px.unsqueeze(-1) + off[:, 1]
    keep = ((gy >= 0) & (gy < h) & (gx >= 0) & (gx < w)) | ((py >= h) | (px >= w)).unsqueeze(-1)
    bias = torch.zeros(keep.shape, device=device).masked_fill_(~keep, float("-inf"))
    return _tile_grid_index(tile, roi_window, reach, device), bias, off.to(torch.float32)


def _search_near(query: torch.Tensor, ref: torch.Tensor, values: torch.Tensor,
                 cfg: SearchConfig, affinity: AffinityConfig, tile: int = NEAR_TILE,
                 blocks: torch.Tensor | None = None, windows: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Both search stages for an undilated reference from one set of block dot products.

    With dilation 1 every key lies within ``roi_window // 2 + key_window // 2 + 1``
    pixels of its query pixel, so the dot products of :func:`_tile_dots` with that reach
    hold the ROI grid's dot products and every key's: the keys' features are never
    gathered, and all work stays in the block layout up to the small per-key results.
    Same result as :func:`roi_centres` + :func:`window_keys` (returns likewise).
    ``blocks`` / ``windows``: see :func:`_tile_dots` (reach :func:`near_reach`).
    """
    b, _, h, w = ref.shape
    reach = near_reach(cfg)
    side = tile + 2 * reach
    dots, py, px = _tile_dots(query, ref, reach, tile, blocks, windows)  # (T, P, s s), (T, P)
    dev = dots.device
    widx, bias, off = _near_grid(h, w, tile, cfg.roi_window, reach, dev)
    if b > 1:
        bias = bias.repeat(b, 1, 1)
    logits = dots.gather(2, widx.expand(dots.shape[0], -1, -1)) / affinity.roi_temperature
    logits = logits + bias
    wgt = torch.softmax(logits, dim=-1)
    centres = torch.stack([py, px], dim=-1).to(wgt.dtype) + wgt @ off  # (T, P, 2)
    oy0, ox0 = py - py % tile, px - px % tile  # block origins
    ys, xs, frac = _key_grid(centres, cfg.key_window, h, w)  # (T, P, m) absolute, clamped
    m = cfg.key_window + 1
    kidx = ((ys - oy0.unsqueeze(-1) + reach).unsqueeze(-1) * side
            + (xs - ox0.unsqueeze(-1) + reach).unsqueeze(-2)).flatten(2)  # (T, P, m m)
    kdots = dots.gather(2, kidx)
    c = values.shape[1]
    vals = _gather_values(values, ys.view(b, -1, m), xs.view(b, -1, m))  # blocks by image
    vals = vals.view(*kdots.shape, c)
    kdots = _blocks_to_image(kdots, b, tile, h, w).view(b, h * w, m, m)
    vals = _blocks_to_image(vals, b, tile, h, w).view(b, h * w, m, m, c)
    frac = _blocks_to_image(frac, b, tile, h, w)
    return _bilinear_keys(kdots, vals, frac, cfg.key_window)


def reconstruct(query: torch.Tensor, refs: Sequence[torch.Tensor],
                values: Sequence[torch.Tensor], gaps: Sequence[int], search: SearchConfig,
                affinity: AffinityConfig, valid: torch.Tensor | None = None,
                topk: int = 0, normalised: bool = False,
                caches: Sequence[dict[str, Any]] | None = None) -> torch.Tensor:
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
        normalised: the query and reference features went through
            :func:`normalise_features` already (a tracker keeps them so).
        caches: per reference, a dict that the caller keeps with that reference from call
            to call (inference): what depends on the reference alone (its pooled ROI
            features at the current dilation, its block windows) is stored there and
            reused.  ``None``: nothing is kept (training).

    Returns:
        ``(B, C, h, w)`` reconstructed values.  A channel with no valid reference is 0.
    """
    if not refs or len(refs) != len(values) or len(refs) != len(gaps):
        raise ValueError("refs, values and gaps must be non-empty and of equal length")
    b, _, h, w = query.shape
    q = query if normalised else normalise_features(query, affinity)
    blocks = None
    logits, samples = [], []
    for i, (ref, val, gap) in enumerate(zip(refs, values, gaps, strict=True)):
        r = ref if normalised else normalise_features(ref, affinity)
        cache = caches[i] if caches is not None else {}
        d = dilation_for_gap(int(gap), search, (h, w))
        if d == 1:
            if blocks is None:
                blocks = _query_blocks(q, NEAR_TILE)
            key = ("windows", near_reach(search), NEAR_TILE)
            if key not in cache:
                cache[key] = _reference_windows(r, near_reach(search), NEAR_TILE)
            dots, vals = _search_near(q, r, val, search, affinity, NEAR_TILE, blocks,
                                      cache[key])
        else:
            cache.pop(("windows", near_reach(search), NEAR_TILE), None)  # not needed again
            if cache.get("roi", (0,))[0] != d:  # the dilation of a reference grows with t
                cache["roi"] = (d, roi_reference(r, d, search, affinity))
            centres = roi_centres(q, r, d, search, affinity, cache["roi"][1])
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
