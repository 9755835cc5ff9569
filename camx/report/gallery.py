"""The map gallery of a report: a few test images per (run, method, condition), each map overlaid on
its (perturbed) image with the ground-truth mask outlined in white where the dataset has one.

Tiles are small PNGs in ``RUN_DIR/gallery/`` with an ``index.json``; the eval report and the sweep
report (which gathers its jobs' galleries) read the same index.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camx.atomic import atomic_write_bytes, atomic_write_text
from camx.figures import overlay

TILE_SIDE = 160  #: tiles are upscaled (nearest) or downscaled to this longest side
IMAGES_PER_CELL = 3


@dataclass(frozen=True)
class Tile:
    """One image of the gallery: which run, method and condition, which test image, its caption."""

    run: str
    method: str
    condition: str
    image: int
    caption: str
    file: str  #: relative to the gallery folder
    name: str = ""  #: the image's file (``class_folder/file``) where the eval knows it, else ""


def mask_outline(mask: Any) -> np.ndarray:
    """(H, W) bool: mask pixels with a 4-neighbour outside the mask (its one-pixel boundary)."""
    m = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask).reshape(mask.shape[-2:]) > 0.5
    pad = np.pad(m, 1, constant_values=False)
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return m & ~inner


def tile_png(image: Any, cam: Any, mask: Any | None = None, side: int = TILE_SIDE) -> bytes:
    """PNG bytes of the jet overlay of ``cam`` on ``image`` (50%), the mask's outline in white."""
    from PIL import Image

    rgb = overlay(image, cam)
    if mask is not None:
        rgb[mask_outline(mask)] = 1.0
    h, w = rgb.shape[:2]
    if max(h, w) < side:  # small inputs (shapes at 32 px): whole-pixel upscaling keeps them crisp
        k = max(1, side // max(h, w))
        rgb = rgb.repeat(k, 0).repeat(k, 1)
    pil = Image.fromarray((rgb * 255).round().astype(np.uint8))
    if max(pil.size) > side:
        pil.thumbnail((side, side))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def condition_name(name: str, level: Any) -> str:
    """``clean``, ``noise 0.6``, ``rotation 30``."""
    if name == "none":
        return "clean"
    return f"{name} {level:g}" if isinstance(level, (int, float)) else f"{name} {level}"


def write_gallery(
    examples: Mapping[tuple[str, str, str, Any], Sequence[Any]],
    folder: Path,
    caption: Any,
    per_cell: int = IMAGES_PER_CELL,
    names: Mapping[int, str] | None = None,
) -> list[Tile]:
    """Write the tiles of ``examples[(run, method, condition, level)] = [x, maps, probs, labels, masks,
    keys]`` into ``folder`` with ``index.json``; ``caption(probs_row, label)`` titles each tile, ``names``
    (image number in the split → file) names its row."""
    tiles: list[Tile] = []
    for (run, method, cond, level), item in examples.items():
        if not method:  # the images-only entries
            continue
        x, maps, probs, labels = item[:4]
        masks = item[4] if len(item) > 4 else None
        keys = item[5] if len(item) > 5 else list(range(len(x)))
        for i in range(min(per_cell, len(x))):
            name = f"{len(tiles):04d}.png"
            png = tile_png(x[i], maps[i], None if masks is None else masks[i])
            atomic_write_bytes(folder / name, lambda fh, data=png: fh.write(data))
            text = caption(probs[i], int(labels[i]))
            file = (names or {}).get(int(keys[i]), "")
            tiles.append(Tile(run, method, condition_name(cond, level), int(keys[i]), text, name, file))
    atomic_write_text(folder / "index.json", json.dumps([asdict(t) for t in tiles], indent=1) + "\n")
    return tiles


def read_gallery(folder: Path, run_prefix: str = "") -> list[tuple[Tile, Path]]:
    """The tiles of a gallery folder (empty when it has none), with the path of each PNG."""
    index = Path(folder) / "index.json"
    if not index.is_file():
        return []
    out = []
    for d in json.loads(index.read_text()):
        tile = Tile(**d)
        if run_prefix:
            tile = Tile(**{**asdict(tile), "run": f"{run_prefix}{tile.run}"})
        out.append((tile, Path(folder) / tile.file))
    return out


def galleries(folders: Iterable[Path], limit: int = 240) -> list[tuple[Tile, Path]]:
    """Tiles of several galleries (a sweep's jobs), each run prefixed by its job folder, at most ``limit``."""
    out: list[tuple[Tile, Path]] = []
    folders = list(folders)
    for folder in folders:
        prefix = f"{folder.parent.name}/" if len(folders) > 1 else ""
        out += read_gallery(folder, prefix)
    return out[:limit]
