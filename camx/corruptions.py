"""ImageNet-C's 15 corruptions (Hendrycks & Dietterich, ICLR 2019, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations") at severities 1–5, through the ``imagecorruptions``
package (Michaelis et al. 2019; the reference code, not re-implemented here).

Each corruption is a perturbation kind of :mod:`camx.perturb` whose level is the integer severity
(``+perturb.fog.severity=[1,3]``), and ``perturb=corruptions`` selects them as lists
(``perturb.names=[gaussian_noise,fog] perturb.severities=[1,3,5]``; see :func:`camx.config.perturbation_grid`).
ImageNet-C's ``contrast`` is the kind ``contrast_c`` (camx's own ``contrast`` perturbation has the
name); in ``perturb.names`` either spelling selects it. None moves the object (ImageNet-C has no geometric corruption but the small, local
``elastic_transform``, whose masks camx leaves in place), so masks come back unchanged.

Images go through the package as 8-bit RGB (H×W×3 uint8; at least 32 px a side), and come back as
[0, 1] floats. The package draws from NumPy's global generator; camx seeds it per image from
(seed, key, stream) — as :mod:`camx.perturb` seeds noise — and restores the caller's state, so an
image gets the same pixels alone or in any batch, and the same seed always gives the same pixels.

``imagecorruptions`` 1.1.2 imports ``resource_filename`` from ``pkg_resources``, which setuptools ≥ 81
no longer ships. When that import is missing, :func:`_pkg_resources_shim` registers a one-function
stand-in that resolves the file next to the module (the frost textures are files inside the package), only
for that import. It also calls ``skimage.filters.gaussian(..., multichannel=True)`` (in
``glass_blur``), an argument scikit-image 0.19 renamed to ``channel_axis`` and later removed; when the
installed scikit-image lacks it, :func:`_skimage_shim` gives the package's module (only it) a
``gaussian`` that passes ``multichannel=True`` on as ``channel_axis=-1``; and ``fog``'s plasma fractal
asks for ``np.float_``, which NumPy 2 removed, so under NumPy 2 that module's ``np`` becomes a view
of NumPy that adds ``float_ = float64``. All three shims live here, act only on that package, and
step aside when the installed versions still have what it asks for.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from camx.errors import ConfigError
from camx.options.perturb import CORRUPTIONS, PACKAGE_NAMES

__all__ = ["CORRUPTIONS", "corrupt", "load_package"]

MIN_SIDE = 32  # imagecorruptions refuses smaller images


def _pkg_resources_shim() -> None:
    """Provide ``pkg_resources.resource_filename`` through importlib.resources when setuptools lacks it."""
    try:
        import pkg_resources  # noqa: F401  (setuptools < 81 still has it: use the real one)

        return
    except ImportError:
        pass
    import importlib
    from pathlib import Path

    def resource_filename(module_name: str, resource: str) -> str:
        """The file ``resource`` next to the module (its folder for a package), as pkg_resources gives it."""
        module = importlib.import_module(module_name)
        return str(Path(module.__file__ or "").resolve().parent / resource)

    shim = types.ModuleType("pkg_resources")
    shim.resource_filename = resource_filename  # type: ignore[attr-defined]
    shim.__doc__ = "camx.corruptions' stand-in: resource_filename only, for imagecorruptions 1.1.2"
    sys.modules["pkg_resources"] = shim


def _skimage_shim(module: Any) -> None:
    """Let ``module.gaussian`` accept the removed ``multichannel`` argument (as ``channel_axis=-1``)."""
    import inspect

    original = module.gaussian
    if "multichannel" in inspect.signature(original).parameters:
        return

    def gaussian(image: Any, *args: Any, multichannel: bool | None = None, **kwargs: Any) -> Any:
        if multichannel:
            kwargs.setdefault("channel_axis", -1)
        return original(image, *args, **kwargs)

    module.gaussian = gaussian


class _NumpyFloat(types.ModuleType):
    """NumPy as seen by imagecorruptions' module: every attribute NumPy's, plus the removed ``float_``."""

    def __getattr__(self, name: str) -> Any:
        return np.float64 if name == "float_" else getattr(np, name)


def _numpy_shim(module: Any) -> None:
    if not hasattr(np, "float_"):
        module.np = _NumpyFloat("numpy")


def load_package() -> Any:
    """The ``imagecorruptions`` module (imported once, with the shim when needed), or a ConfigError."""
    if "imagecorruptions" in sys.modules:
        return sys.modules["imagecorruptions"]
    _pkg_resources_shim()
    try:
        import imagecorruptions
        import imagecorruptions.corruptions as functions
    except ImportError as err:
        raise ConfigError(
            f"the ImageNet-C corruptions need the imagecorruptions package ({err}); "
            "install it with: pip install 'camx[corruptions]'"
        ) from err
    _skimage_shim(functions)
    _numpy_shim(functions)
    return imagecorruptions


def _seed32(seed: int, key: int, stream: int) -> int:
    from camx.perturb import _image_seed

    return _image_seed(seed, key, stream) % 2**32


def corrupt(
    images: Tensor,
    name: str,
    severity: float,
    *,
    seed: int = 0,
    keys: Sequence[int] | Tensor | None = None,
    stream: int = 0,
) -> Tensor:
    """ImageNet-C corruption ``name`` at ``severity`` (1–5) of a (B, 3, H, W) batch in [0, 1].

    Every image is quantised to uint8, corrupted by ``imagecorruptions.corrupt`` with NumPy's global
    generator seeded from (seed, key, stream) (the caller's state is restored afterwards), and returned
    as float in [0, 1], same shape, dtype and device.
    """
    if name not in CORRUPTIONS:
        raise ConfigError(f"unknown corruption {name!r}; choose from {', '.join(CORRUPTIONS)}")
    b, _, h, w = images.shape
    if min(h, w) < MIN_SIDE:
        raise ConfigError(
            f"the ImageNet-C corruptions need images of at least {MIN_SIDE} px a side, got {h}×{w}; "
            "raise dataset.image_size"
        )
    keys = (
        list(range(b))
        if keys is None
        else [int(k) for k in (keys.tolist() if isinstance(keys, Tensor) else keys)]
    )
    package = load_package()
    u8 = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty((b, h, w, 3), dtype=np.float32)
    state = np.random.get_state()
    try:
        for i, key in enumerate(keys):
            np.random.seed(_seed32(seed, key, stream))
            corrupted = package.corrupt(
                u8[i], severity=int(round(severity)), corruption_name=PACKAGE_NAMES.get(name, name)
            )
            out[i] = corrupted[:h, :w].astype(np.float32) / 255.0
    finally:
        np.random.set_state(state)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(device=images.device, dtype=images.dtype)
