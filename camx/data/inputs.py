"""Which files the user meant: files, folders and glob patterns expanded into image paths.

:func:`collect_images` looks only at names and the file system; nothing is opened or decoded, so
it needs neither torch nor Pillow, and ``camx explain`` reports an input that does not exist
before torch is imported. Reading the files is :mod:`camx.data.images`.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camx.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "ImageFailure", "collect_images", "require_images"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
"""File extensions (compared case-insensitively) picked up when scanning folders and globs."""

_GLOB_CHARS = ("*", "?", "[")
_LOOKED_FOR = ", ".join(IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class ImageFailure:
    """An input that could not be used: the path as given and a one-line reason."""

    path: str
    reason: str


def _has_image_extension(path: Path) -> bool:
    """Whether ``path`` ends in one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _is_hidden(name: str) -> bool:
    """Whether a file or folder name is hidden (starts with a dot)."""
    # Covers .DS_Store, macOS "._photo.jpg" AppleDouble files, .ipynb_checkpoints, .git …
    return name.startswith(".")


def _scan_folder(folder: Path) -> tuple[list[Path], list[ImageFailure]]:
    """Image files under ``folder`` (recursive, hidden entries skipped, sorted)."""
    found: list[Path] = []
    failures: list[ImageFailure] = []

    def on_error(err: OSError) -> None:
        where = err.filename if err.filename is not None else str(folder)
        failures.append(
            ImageFailure(str(where), f"cannot read folder ({err.strerror or err}); check its permissions")
        )

    for root, dirs, files in os.walk(folder, onerror=on_error):
        dirs[:] = [d for d in dirs if not _is_hidden(d)]
        for name in files:
            if _is_hidden(name):
                continue
            p = Path(root, name)
            if _has_image_extension(p):
                found.append(p)
    return sorted(found), failures


def _expand_glob(pattern: str) -> tuple[list[Path], list[ImageFailure]]:
    """Image files matched by ``pattern`` (matched folders scanned as by :func:`_scan_folder`), sorted."""
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        return [], [ImageFailure(pattern, "pattern matched no files")]
    found: list[Path] = []
    failures: list[ImageFailure] = []
    for m in matches:
        p = Path(m)
        if p.is_dir():
            sub, sub_failures = _scan_folder(p)
            found.extend(sub)
            failures.extend(sub_failures)
        elif p.is_file() and _has_image_extension(p):
            found.append(p)
    if not found and not failures:
        failures.append(
            ImageFailure(
                pattern, f"pattern matched {len(matches)} file(s) but no images (looked for {_LOOKED_FOR})"
            )
        )
    return found, failures


def collect_images(inputs: Sequence[str | Path]) -> tuple[list[Path], list[ImageFailure]]:
    """Expand files, folders and glob patterns into a list of image paths.

    Each input is one of:

    * an existing file: taken as is, whatever its extension (files are opened by content);
    * an existing folder: scanned recursively for files whose extension is in
      :data:`IMAGE_EXTENSIONS` (case-insensitive), sorted; hidden files and folders
      (name starting with ``.``) are skipped;
    * a glob pattern (contains ``*``, ``?`` or ``[``, and is not an existing path):
      expanded with ``glob.glob(recursive=True)`` and sorted; matched folders are
      scanned as above and matched files are kept if they have an image extension.

    ``~`` is expanded. Duplicates (same absolute path) are removed, keeping the first
    occurrence. Nothing is opened or decoded here.

    Returns:
        ``(paths, failures)``; a failure is recorded for a missing path ("no such file
        or directory"), a folder without images and a pattern that matched nothing.
        Never raises for these.
    """
    paths: list[Path] = []
    failures: list[ImageFailure] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            paths.append(p)

    for raw in inputs:
        text = str(raw)
        if not text.strip():
            failures.append(ImageFailure(text, "empty path; give a file, folder or glob pattern"))
            continue
        expanded = os.path.expanduser(text)
        p = Path(expanded)
        if p.is_dir():
            found, scan_failures = _scan_folder(p)
            failures.extend(scan_failures)
            if not found and not scan_failures:
                failures.append(ImageFailure(text, f"folder contains no images (looked for {_LOOKED_FOR})"))
            for f in found:
                add(f)
        elif p.exists():
            add(p)
        elif any(c in expanded for c in _GLOB_CHARS):
            found, glob_failures = _expand_glob(expanded)
            failures.extend(glob_failures)
            for f in found:
                add(f)
        else:
            failures.append(ImageFailure(text, "no such file or directory"))
    return paths, failures


def require_images(inputs: Sequence[str | Path]) -> tuple[list[Path], list[ImageFailure]]:
    """:func:`collect_images`, but with no image path at all one DataError naming the first three failures."""
    paths, failures = collect_images(inputs)
    if not paths:
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in failures[:3])
        raise DataError(f"no readable image among the inputs ({reasons})")
    return paths, failures
