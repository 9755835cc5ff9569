"""Classifiers camx trains and explains: a torchvision backbone with a plain or attention head.

Every model is a :class:`CamxNet`, an ``nn.Sequential`` whose children keep torchvision's names, so
the usual dotted target layers work: ``layer4`` for ResNet50, ``features.29`` for VGG16,
``features.42`` for VGG16-BN (``vgg16_bn``: VGG16 with BatchNorm after every conv, Simonyan & Zisserman's
configuration D as torchvision builds it) and ``features.11`` for AlexNet (the last ReLU of the last
conv block, before its pooling).

Heads (Sensors 2023 §2.2–2.3, Fig. 1):

- ``plain``: the architecture's own classifier (global average pooling + fc for ResNet; pooling
  and the fully connected stack for VGG16/AlexNet). With ``classifier="gap"`` VGG16(-BN) and
  AlexNet get the CAM paper's "-GAP" head instead (Zhou et al., "Learning Deep Features for Discriminative
  Localization", CVPR 2016, Sec. 3): the last max-pool and the fully connected stack are removed and
  the logits are ``fc(mean_ij A_ij)`` of the last conv block's ReLU A, so CAM is defined for them
  and the 25,088 × 4,096 (VGG16) or 9,216 × 4,096 (AlexNet) first layer of the full classifier, the
  bulk of their parameters, is not trained. With ``classifier="gap"`` the attention heads read the
  same map (the backbone ends at that ReLU for every head). ResNet50's plain head is already of this form;
- ``attention``: :class:`~camx.models.attention.AttentionHead` with no drop (an ablation the paper lacks);
- ``dropout``: the attention head with Dropout on the attention weights after softmax;
- ``dropkey``: the attention head with DropKey on the logits before softmax.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn
from torchvision import models as tvm

from camx.cam.protocol import layer_names, resolve_layer
from camx.errors import ConfigError
from camx.models.attention import AttentionHead
from camx.options.model import DEFAULT_TARGET_LAYER, MIN_SIDE, validate_model_options

_FEATURE_CHANNELS = {"resnet50": 2048, "vgg16": 512, "vgg16_bn": 512, "alexnet": 256}


class CamxNet(nn.Sequential):
    """A classifier ``backbone → head`` that returns logits, with what camx needs to explain it
    (the optional attributes of :mod:`camx.cam.protocol`: ``cam_target_layer``, ``min_side``, ``arch``)."""

    def __init__(
        self,
        modules: OrderedDict[str, nn.Module],
        *,
        arch: str,
        head: str,
        target_layer: str,
        output_stride: int = 32,
        min_side: int = 1,
    ) -> None:
        super().__init__(modules)
        self.arch = arch
        self.head_kind = head
        self.cam_target_layer = target_layer
        self.output_stride = output_stride
        #: the smallest input side the network can classify (:data:`camx.options.model.MIN_SIDE`; 1: no limit known)
        self.min_side = min_side


def _torchvision(arch: str, weights: str, output_stride: int) -> nn.Module:
    kwargs: dict[str, Any] = {}
    if arch == "resnet50" and output_stride == 16:
        kwargs["replace_stride_with_dilation"] = [False, False, True]
    if weights == "none":
        if arch == "resnet50":  # each residual block starts as the identity: trains much faster from scratch
            kwargs["zero_init_residual"] = True
        return getattr(tvm, arch)(weights=None, **kwargs)
    from camx.models.pretrained import imagenet_state_dict, load_state_file

    net = getattr(tvm, arch)(weights=None, **kwargs)
    if weights == "imagenet":
        net.load_state_dict(imagenet_state_dict(arch, arch))
    else:  # a torchvision-format state-dict file
        load_state_file(net, weights, f"torchvision/{arch}")
    return net


def _body_and_plain_head(
    net: nn.Module, arch: str, classifier: str, weights: str, num_classes: int
) -> tuple[list[tuple[str, nn.Module]], nn.Sequential]:
    """The torchvision network cut into its feature layers (named as the model exposes them) and its
    plain classifier head for ``num_classes`` (the pretrained last layer kept when the classes match)."""
    if arch == "resnet50":
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        body = [(n, getattr(net, n)) for n in names]
        plain = nn.Sequential(
            OrderedDict(avgpool=net.avgpool, flatten=nn.Flatten(1), fc=nn.Linear(2048, num_classes))
        )
        if weights != "none" and num_classes == net.fc.out_features:
            plain.fc = net.fc
    elif classifier == "gap":
        # the CAM paper's -GAP network: features up to the last conv block's ReLU (Sequential slicing
        # keeps the indices, so features.29 / features.42 / features.11 still name it), then mean → fc; an attention
        # head reads the same map (the final max-pool would leave it 1×1 at the small sizes GAP is for)
        body = [("features", net.features[:-1])]
        plain = nn.Sequential(
            OrderedDict(
                avgpool=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(1),
                fc=nn.Linear(_FEATURE_CHANNELS[arch], num_classes),
            )
        )
    else:
        body = [("features", net.features)]
        stack = net.classifier
        last = stack[-1]
        if not (weights != "none" and num_classes == last.out_features):
            stack[-1] = nn.Linear(last.in_features, num_classes)
        plain = nn.Sequential(OrderedDict(avgpool=net.avgpool, flatten=nn.Flatten(1), classifier=stack))
    return body, plain


def build_model(
    arch: str = "resnet50",
    head: str = "plain",
    num_classes: int = 8,
    *,
    weights: str = "none",
    output_stride: int = 32,
    target_layer: str | None = None,
    dim: int = 256,
    num_heads: int = 4,
    depth: int = 1,
    mask_ratio: float = 0.1,
    classifier: str = "full",
    **_: Any,
) -> CamxNet:
    """Build ``arch`` with ``head`` for ``num_classes`` classes (see the module docstring)."""
    validate_model_options(
        arch, head, weights, output_stride, dim, num_heads, depth, mask_ratio, classifier=classifier
    )
    if int(num_classes) < 2:
        raise ConfigError(f"num_classes={num_classes} is out of range; a classifier needs at least 2 classes")

    net = _torchvision(arch, weights, output_stride)
    body, plain = _body_and_plain_head(net, arch, classifier, weights, num_classes)
    if head == "plain":
        head_module: nn.Module = plain
    else:
        head_module = AttentionHead(
            _FEATURE_CHANNELS[arch],
            num_classes,
            dim=int(dim),
            num_heads=int(num_heads),
            depth=int(depth),
            drop={"attention": "none"}.get(head, head),
            mask_ratio=float(mask_ratio),
        )
    model = CamxNet(
        OrderedDict([*body, ("head", head_module)]),
        arch=arch,
        head=head,
        target_layer=target_layer or DEFAULT_TARGET_LAYER[arch],
        output_stride=int(output_stride),
        min_side=MIN_SIDE.get((arch, classifier), 1),
    )
    resolve_layer(model, model.cam_target_layer)  # fail early on a bad path
    return model


__all__ = [
    "CamxNet",
    "build_model",
    "layer_names",
    "resolve_layer",
]
