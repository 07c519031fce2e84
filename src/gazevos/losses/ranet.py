"""Segmentation losses of RANet training (thesis 3.2.3).

All take logits ``(B, K, H, W)`` (K objects, one channel each), binary targets of the same
shape and an optional ``valid`` mask ``(B, 1 or K, H, W)`` (0 where void).

* ``bce``: mean binary cross-entropy over valid pixels;
* ``iou``: soft IoU loss ``1 - I / U`` per object, ``I = sum(sig(x) * M)``,
  ``U = sum(sig(x)) + sum(M) - I`` (thesis eq. 3.1-3.3), mean over objects;
* ``log_iou``: ``-log(I / U)`` per object (the log variant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("bce", "iou", "log_iou")
_EPS = 1.0


def soft_iou(logits: torch.Tensor, target: torch.Tensor,
             valid: torch.Tensor | None = None, eps: float = _EPS) -> torch.Tensor:
    """Soft IoU ``(I + eps) / (U + eps)`` per image and object: ``(B, K)``.

    ``eps`` (one pixel) keeps empty objects defined: an empty target predicted empty
    scores 1.
    """
    p = torch.sigmoid(logits)
    t = target.to(p.dtype)
    if valid is not None:
        v = valid.to(p.dtype)
        p, t = p * v, t * v
    inter = (p * t).sum((2, 3))
    union = p.sum((2, 3)) + t.sum((2, 3)) - inter
    return (inter + eps) / (union + eps)


def soft_iou_loss(logits: torch.Tensor, target: torch.Tensor,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """``mean(1 - I/U)`` over images and objects (scalar)."""
    return (1.0 - soft_iou(logits, target, valid)).mean()


def log_iou_loss(logits: torch.Tensor, target: torch.Tensor,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
    """``mean(-log(I/U))`` over images and objects (scalar)."""
    return (-torch.log(soft_iou(logits, target, valid))).mean()


def bce_loss(logits: torch.Tensor, target: torch.Tensor,
             valid: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy averaged over valid pixels (scalar)."""
    t = target.to(logits.dtype)
    per = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    if valid is None:
        return per.mean()
    v = valid.to(per.dtype).expand_as(per)
    return (per * v).sum() / v.sum().clamp(min=1.0)


def segmentation_loss(name: str, logits: torch.Tensor, target: torch.Tensor,
                      valid: torch.Tensor | None = None) -> torch.Tensor:
    """The loss ``name`` (one of :data:`LOSSES`)."""
    if name == "bce":
        return bce_loss(logits, target, valid)
    if name == "iou":
        return soft_iou_loss(logits, target, valid)
    if name == "log_iou":
        return log_iou_loss(logits, target, valid)
    raise ValueError(f"unknown loss {name!r} (choose from {', '.join(LOSSES)})")
