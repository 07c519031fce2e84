"""Instance normalisation computed by the group-norm kernel (same values, faster on CPU).

Instance norm is group norm with one channel per group.  On CPU, torch's group-norm kernel
is 3-7x faster than its instance-norm path (which reshapes to a ``(1, B*C, H, W)`` batch
norm) for the small-batch maps RANet normalises; ``bench/ranet_profile.py`` shows where
this matters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InstanceNorm2d(nn.InstanceNorm2d):
    """:class:`torch.nn.InstanceNorm2d` (same arguments, parameters and state-dict keys)
    evaluated with :func:`torch.nn.functional.group_norm` when it normalises with the
    input's own statistics (``track_running_stats=False``, the default).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.track_running_stats or x.dim() != 4 or x.shape[1] != self.num_features:
            return super().forward(x)
        # contiguous: with channels-last inputs (images permuted from numpy) RANet's
        # training backward crashed in the group-norm kernel (torch 2.13, CPU)
        x = x.contiguous()
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)
