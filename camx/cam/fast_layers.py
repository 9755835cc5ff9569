"""Layers of the inference copy (:mod:`camx.cam.inference`) that compute the same function as the model's
own with fewer passes over memory (on CPU the forwards of small convolutional networks are bound by memory
traffic): :class:`StaticSameConv2d`, timm's TensorFlow-"SAME" convolution without the padded copy of its
input. Measured on EfficientNet-Lite0 at 128 px, batch 16, one thread: its stride-2 depthwise convolutions
2–4× faster, the eval grid of ``benchmarks/bench_eval.py`` on 16 photos 38 → 20 s (another job on the other core).

(A convolution fused with its activation through oneDNN's post-ops, ``torch.ops.mkldnn._convolution_pointwise``,
gave the same outputs but no measurable gain on the whole Lite0 forward, so it is not used.)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camx.cam.protocol import class_path


class StaticSameConv2d(nn.Module):
    """timm's ``Conv2dSame`` without its padded copy of the input: TensorFlow's "SAME" padding puts
    b = ⌊P/2⌋ zeros before and a = P − b after, P = max((⌈i/s⌉ − 1)·s + k − i, 0), on each axis of size i
    (kernel k, stride s, dilation 1). Where a = b + 1 the kernel gets a leading zero tap and the
    convolution pads a on both sides:

        Σ_{j=0..k} w'_j · x_{s·o + j − a} = Σ_{j=0..k−1} w_j · x_{s·o + j − b},   w' = (0, w_0, …, w_{k−1}),

    the same outputs (exactly: the extra tap multiplies a zero or the padding), computed in place by the
    convolution instead of after a copy — 2–4× faster for the depthwise stride-2 convolutions of
    EfficientNet on CPU (oneDNN, channels-last)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self._grown: dict[tuple[Any, ...], Tensor] = {}

    def _weight(self, grow: tuple[int, int]) -> Tensor:
        w = self.conv.weight
        if grow == (0, 0):
            return w
        # the inference copy is frozen: its weights never change in place
        key = (*grow, w.device, w.dtype, w.data_ptr())
        if key not in self._grown:
            layout = torch.channels_last if w.is_contiguous(memory_format=torch.channels_last) else None
            grown = F.pad(w, (grow[1], 0, grow[0], 0))
            self._grown = {key: grown if layout is None else grown.contiguous(memory_format=layout)}
        return self._grown[key]

    def arguments(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """The weight and the symmetric padding that give "SAME" on ``x``'s size."""
        c = self.conv
        pads = [
            max((-(-i // s) - 1) * s + k - i, 0) for i, k, s in zip(x.shape[-2:], c.kernel_size, c.stride)
        ]
        after = (pads[0] - pads[0] // 2, pads[1] - pads[1] // 2)
        return self._weight((after[0] - pads[0] // 2, after[1] - pads[1] // 2)), after

    def forward(self, x: Tensor) -> Tensor:
        weight, padding = self.arguments(x)
        c = self.conv
        return F.conv2d(x, weight, c.bias, c.stride, padding, 1, c.groups)


SAME_CONV = "timm.layers.conv2d_same.Conv2dSame"


def static_same_padding(module: nn.Module) -> None:
    """Replace timm's ``Conv2dSame`` children (dilation 1) by :class:`StaticSameConv2d`, in place."""
    for name, child in list(module._modules.items()):
        if child is None:
            continue
        if class_path(child) == SAME_CONV and tuple(child.dilation) == (1, 1):
            module._modules[name] = StaticSameConv2d(child)
        else:
            static_same_padding(child)
