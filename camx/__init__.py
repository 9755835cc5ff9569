"""camx: class activation maps for CNN classifiers, and whether they survive real-world disturbance.

Library entry points (no printing, no CLI):

- :func:`camx.build_model` — ResNet50 / VGG16 / VGG16-BN / AlexNet with a plain, attention, Dropout or DropKey head;
- :func:`camx.load_pretrained` — a pretrained classifier by name (torchvision's, timm's) with its class names;
- :func:`camx.load_checkpoint` — a trained model and its metadata, loaded without executing code;
- :func:`camx.explain` — class activation maps by any of camx's methods, for any CNN classifier;
- :func:`camx.explain_many` — several methods on the same images, sharing the forward/backward pass.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "build_model", "explain", "explain_many", "load_checkpoint", "load_pretrained"]


def __getattr__(name: str):  # lazy: keep `import camx` (and `camx --help`) free of torch
    if name == "build_model":
        from camx.models import build_model

        return build_model
    if name in ("explain", "explain_many"):
        import camx.cam

        return getattr(camx.cam, name)
    if name == "load_pretrained":
        from camx.models.pretrained import load_pretrained

        return load_pretrained
    if name == "load_checkpoint":
        from camx.checkpoint import load_checkpoint

        return load_checkpoint
    raise AttributeError(name)


def __dir__() -> list[str]:  # the lazy names too, so dir(camx) and tab completion list them
    return sorted({*globals(), *__all__})
