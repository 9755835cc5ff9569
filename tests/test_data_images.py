"""Tests for camx.data.images: every file is built here in tmp_path (no binaries, no network)."""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from camx.data import images as im_mod
from camx.data.images import MAX_PIXELS, MIN_SIDE, load_image, load_image_tensor, load_images
from camx.data.inputs import IMAGE_EXTENSIONS, ImageFailure, collect_images
from camx.errors import ConfigError, DataError

RED = (255, 0, 0)
WHITE = (255, 255, 255)


def _save(img: Image.Image, path: Path, fmt: str | None = None, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **kwargs)
    return path


def _rgb(
    path: Path, size: tuple[int, int] = (16, 12), color: tuple[int, int, int] = RED, fmt: str = "PNG"
) -> Path:
    return _save(Image.new("RGB", size, color), path, fmt)


def _noise_jpeg_bytes(size: tuple[int, int] = (64, 64)) -> bytes:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _pixel(img: Image.Image, xy: tuple[int, int] = (0, 0)) -> tuple[int, ...]:
    value = img.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def _load_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        load_image(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, "messages are one line"
    assert message.startswith(str(path)), "messages start with the path"
    return message


# --------------------------------------------------------------------------- constants


def test_constants() -> None:
    assert set(IMAGE_EXTENSIONS) == {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
    assert MIN_SIDE == 8
    assert MAX_PIXELS == 64_000_000
    failure = ImageFailure("a.jpg", "why")
    with pytest.raises(dataclasses.FrozenInstanceError):
        failure.reason = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- content vs extension


def test_png_named_jpg_loads(tmp_path: Path) -> None:
    path = _rgb(tmp_path / "liar.jpg", fmt="PNG")
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (16, 12) and _pixel(img) == RED


def test_text_named_png_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, I am not a picture\n")
    assert "not an image (cannot identify image file)" in _load_error(path)


def test_empty_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert "not an image" in _load_error(path)


# --------------------------------------------------------------------------- corrupt files


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = _noise_jpeg_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated image" in _load_error(path)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # never switched on globally


def test_truncated_png(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated image" in _load_error(path)


def test_corrupt_png_data(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zero out part of the compressed pixel data
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    assert "corrupt or truncated image" in _load_error(path)


def test_corrupt_jpeg_header(tmp_path: Path) -> None:
    path = tmp_path / "header.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # JPEG magic, then garbage
    message = _load_error(path)
    assert "corrupt or truncated image" in message or "not an image" in message


# --------------------------------------------------------------------------- modes


def test_grayscale(tmp_path: Path) -> None:
    img = load_image(_save(Image.new("L", (10, 10), 77), tmp_path / "g.png"))
    assert img.mode == "RGB" and _pixel(img) == (77, 77, 77)


def test_la_composited_on_white(tmp_path: Path) -> None:
    src = Image.new("LA", (10, 10), (0, 0))  # black, fully transparent
    src.putpixel((1, 1), (0, 255))  # black, opaque
    img = load_image(_save(src, tmp_path / "la.png"))
    assert _pixel(img) == WHITE and _pixel(img, (1, 1)) == (0, 0, 0)


def test_rgba_composited_on_white(tmp_path: Path) -> None:
    src = Image.new("RGBA", (10, 10), (0, 0, 0, 0))  # transparent black → white
    src.putpixel((1, 1), (255, 0, 0, 255))  # opaque red stays red
    src.putpixel((2, 2), (0, 0, 0, 128))  # half-transparent black → mid grey
    img = load_image(_save(src, tmp_path / "rgba.png"))
    assert img.mode == "RGB"
    assert _pixel(img) == WHITE
    assert _pixel(img, (1, 1)) == RED
    assert all(120 <= c <= 135 for c in _pixel(img, (2, 2)))


def test_palette_without_transparency(tmp_path: Path) -> None:
    src = Image.new("RGB", (10, 10), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert src.mode == "P"
    img = load_image(_save(src, tmp_path / "p.png"))
    assert img.mode == "RGB" and _pixel(img) == (0, 128, 255)


def test_palette_with_transparency(tmp_path: Path) -> None:
    src = Image.new("P", (10, 10), 0)
    src.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    src.putpixel((1, 1), 1)
    src.info["transparency"] = 0  # index 0 (black) is transparent
    path = _save(src, tmp_path / "pt.png", transparency=0)
    assert "transparency" in Image.open(path).info
    img = load_image(path)
    assert _pixel(img) == WHITE and _pixel(img, (1, 1)) == RED


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", "JPEG", quality=95)
    assert Image.open(path).mode == "CMYK"
    img = load_image(path)
    r, g, b = _pixel(img, (8, 8))
    assert img.mode == "RGB" and r > 230 and g < 25 and b < 25


def test_16bit_png_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.zeros((10, 10), dtype=np.uint16)
    arr[0, 0], arr[0, 1], arr[0, 2] = 65535, 257 * 100, 0
    path = _save(Image.fromarray(arr), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    img = load_image(path)
    assert _pixel(img, (0, 0)) == (255, 255, 255)
    assert _pixel(img, (1, 0)) == (100, 100, 100)
    assert _pixel(img, (2, 0)) == (0, 0, 0)


def test_32bit_int_tiff(tmp_path: Path) -> None:
    arr = np.zeros((10, 10), dtype=np.int32)
    arr[0, 0], arr[0, 1] = 1_000_000, 500_000  # beyond 16 bit → stretched over [min, max]
    path = _save(Image.fromarray(arr), tmp_path / "int.tif")
    assert Image.open(path).mode == "I"
    img = load_image(path)
    assert (
        _pixel(img, (0, 0))[0] == 255 and _pixel(img, (1, 0))[0] in (127, 128) and _pixel(img, (2, 0))[0] == 0
    )


def test_32bit_int_with_8bit_values_kept(tmp_path: Path) -> None:
    arr = np.full((10, 10), 42, dtype=np.int32)
    img = load_image(_save(Image.fromarray(arr), tmp_path / "small_int.tif"))
    assert _pixel(img) == (42, 42, 42)


def test_float_tiff_unit_range(tmp_path: Path) -> None:
    arr = np.zeros((10, 10), dtype=np.float32)
    arr[0, 0], arr[0, 1] = 1.0, 0.5
    path = _save(Image.fromarray(arr), tmp_path / "float.tif")
    assert Image.open(path).mode == "F"
    img = load_image(path)
    assert _pixel(img, (0, 0))[0] == 255 and _pixel(img, (1, 0))[0] == 128 and _pixel(img, (2, 0))[0] == 0


def test_float_tiff_wide_range_and_nan(tmp_path: Path) -> None:
    arr = np.linspace(-1000.0, 3000.0, 100, dtype=np.float32).reshape(10, 10)
    arr[5, 5] = np.nan
    img = load_image(_save(Image.fromarray(arr), tmp_path / "wide.tif"))
    values = np.asarray(img)
    assert values.dtype == np.uint8 and values[0, 0, 0] == 0 and values[9, 9, 0] == 255


def test_one_bit(tmp_path: Path) -> None:
    src = Image.new("1", (10, 10), 0)
    src.putpixel((1, 1), 1)
    img = load_image(_save(src, tmp_path / "bw.png"))
    assert img.mode == "RGB" and _pixel(img) == (0, 0, 0) and _pixel(img, (1, 1)) == WHITE


def test_bmp_and_webp(tmp_path: Path) -> None:
    assert _pixel(load_image(_rgb(tmp_path / "a.bmp", fmt="BMP"))) == RED
    r, g, b = _pixel(load_image(_rgb(tmp_path / "a.webp", fmt="WEBP")))
    assert r > 230 and g < 25 and b < 25


@given(st.lists(st.integers(0, 65535), min_size=1, max_size=64))
@settings(max_examples=30, deadline=None)
def test_16bit_scaling_property(values: list[int]) -> None:
    arr = np.array(values, dtype=np.uint16).reshape(1, -1)
    out = im_mod._scale_to_uint8(arr, "I;16")
    expected = np.rint(np.array(values) / 257.0).astype(np.uint8)
    assert np.array_equal(out[0], expected)


# --------------------------------------------------------------------------- frames and orientation


def test_multiframe_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (12, 12), c) for c in (RED, (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 3
    img = load_image(path)
    assert img.size == (12, 12) and _pixel(img) == RED


def test_multiframe_tiff_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (12, 10), RED), Image.new("RGB", (20, 20), (0, 0, 255))]
    path = tmp_path / "pages.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert Image.open(path).n_frames == 2
    img = load_image(path)
    assert img.size == (12, 10) and _pixel(img) == RED


def test_exif_orientation_honoured(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = _save(Image.new("RGB", (40, 20), RED), tmp_path / "rotated.jpg", "JPEG", exif=exif)
    assert Image.open(path).size == (40, 20)
    img = load_image(path)
    assert img.size == (20, 40) and img.mode == "RGB"


def test_loaded_image_outlives_file_handle(tmp_path: Path) -> None:
    img = load_image(_rgb(tmp_path / "a.png"))
    assert img.copy().getpixel((0, 0)) == RED  # usable after load_image closed the file


# --------------------------------------------------------------------------- size guards


@pytest.mark.parametrize("size", [(7, 20), (20, 7), (1, 1)])
def test_tiny_image(tmp_path: Path, size: tuple[int, int]) -> None:
    path = _rgb(tmp_path / "tiny.png", size=size)
    w, h = size
    assert f"image is {w}×{h} px; camx needs at least 8 px per side" in _load_error(path)


def test_minimum_size_is_accepted(tmp_path: Path) -> None:
    assert load_image(_rgb(tmp_path / "ok.png", size=(8, 8))).size == (8, 8)


def test_too_many_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _rgb(tmp_path / "big.png", size=(100, 100))

    def fail_load(self: Image.Image) -> None:  # the guard must fire before decoding
        raise AssertionError("decoded before the size check")

    with monkeypatch.context() as m:
        m.setattr(Image.Image, "load", fail_load)
        message = _load_error(path, max_pixels=5000)
    assert "image has 10000 pixels, more than the limit 5000 (decompression-bomb guard)" in message
    assert "raise max_pixels" in message
    assert load_image(path, max_pixels=10_000).size == (100, 100)


def test_pillow_bomb_warning_becomes_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _rgb(tmp_path / "big.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # Pillow warns above 6000, errors above 12000
    assert "more than the limit 5000" in _load_error(path, max_pixels=5000)


def test_pillow_bomb_error_becomes_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _rgb(tmp_path / "big.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # Pillow refuses above 4000
    message = _load_error(path, max_pixels=10**9)
    assert "image has 10000 pixels" in message and "MAX_IMAGE_PIXELS" in message


def test_raised_max_pixels_silences_pillow_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _rgb(tmp_path / "big.png", size=(100, 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(path, max_pixels=20_000).size == (100, 100)


def test_invalid_max_pixels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_image(_rgb(tmp_path / "a.png"), max_pixels=0)


# --------------------------------------------------------------------------- paths


def test_missing_path(tmp_path: Path) -> None:
    assert "no such file or directory" in _load_error(tmp_path / "nope.jpg")


def test_directory_passed(tmp_path: Path) -> None:
    (tmp_path / "folder.jpg").mkdir()
    assert "is a folder" in _load_error(tmp_path / "folder.jpg")


# --------------------------------------------------------------------------- tensors


def test_load_image_tensor(tmp_path: Path) -> None:
    arr = np.random.default_rng(3).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    path = _save(Image.fromarray(arr), tmp_path / "noise.png")
    full = load_image_tensor(path)
    assert full.dtype == torch.float32 and full.shape == (3, 30, 50)
    assert torch.allclose(full, torch.from_numpy(arr).permute(2, 0, 1).float() / 255)
    for size, expected in [(24, (3, 24, 24)), ((16, 40), (3, 16, 40)), ((60, 90), (3, 60, 90))]:
        t = load_image_tensor(path, size)
        assert t.dtype == torch.float32 and tuple(t.shape) == expected
        assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


@pytest.mark.parametrize("size", [0, -3, (10,), (10, 0), 2.5, "224", True])
def test_load_image_tensor_bad_size(tmp_path: Path, size: object) -> None:
    with pytest.raises(ConfigError):
        load_image_tensor(_rgb(tmp_path / "a.png"), size)  # type: ignore[arg-type]


def test_load_images_keeps_good_reports_bad(tmp_path: Path) -> None:
    good1 = _rgb(tmp_path / "a.png", size=(20, 10))
    bad = tmp_path / "b.png"
    bad.write_text("not an image")
    tiny = _rgb(tmp_path / "c.png", size=(4, 4))
    good2 = _rgb(tmp_path / "d.jpg", size=(30, 30), fmt="JPEG")
    missing = tmp_path / "e.png"
    loaded, batch, failures = load_images([good1, bad, tiny, good2, missing], 16)
    assert loaded == [good1, good2]
    assert batch is not None and batch.shape == (2, 3, 16, 16) and batch.dtype == torch.float32
    assert [f.path for f in failures] == [str(bad), str(tiny), str(missing)]
    assert "not an image" in failures[0].reason and "8 px per side" in failures[1].reason
    assert "no such file" in failures[2].reason
    assert all("\n" not in f.reason and not f.reason.startswith(str(tmp_path)) for f in failures)


def test_load_images_none_readable(tmp_path: Path) -> None:
    loaded, batch, failures = load_images([tmp_path / "missing.png"], 16)
    assert loaded == [] and batch is None and len(failures) == 1
    assert load_images([], 16) == ([], None, [])


def test_load_images_without_size_needs_equal_sizes(tmp_path: Path) -> None:
    a = _rgb(tmp_path / "a.png", size=(20, 10))
    b = _rgb(tmp_path / "b.png", size=(10, 20))
    c = _rgb(tmp_path / "c.png", size=(20, 10))
    loaded, batch, failures = load_images([a, b, c], None)
    assert loaded == [a, c] and batch is not None and batch.shape == (2, 3, 10, 20)
    assert [f.path for f in failures] == [str(b)] and "pass a size" in failures[0].reason


# --------------------------------------------------------------------------- collect_images


def _tree(root: Path) -> dict[str, Path]:
    files = {
        "a": _rgb(root / "photos" / "a.jpg", fmt="JPEG"),
        "B": _rgb(root / "photos" / "B.PNG"),
        "c": _rgb(root / "photos" / "sub" / "c.webp", fmt="WEBP"),
        "d": _rgb(root / "photos" / "sub" / "deeper" / "d.TIFF", fmt="TIFF"),
    }
    (root / "photos" / "readme.txt").write_text("not an image")
    (root / "photos" / ".DS_Store").write_bytes(b"\0")
    _rgb(root / "photos" / "._a.jpg")  # macOS resource-fork junk
    _rgb(root / "photos" / ".hidden" / "x.png")
    return files


def test_collect_folder_recursive_sorted(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    paths, failures = collect_images([tmp_path / "photos"])
    assert failures == []
    assert paths == sorted([files["a"], files["B"], files["c"], files["d"]])


def test_collect_file_any_extension(tmp_path: Path) -> None:
    odd = _rgb(tmp_path / "scan.dat")
    paths, failures = collect_images([str(odd)])
    assert paths == [odd] and failures == []


def test_collect_glob(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    paths, failures = collect_images([str(tmp_path / "photos" / "*.jpg")])
    assert paths == [files["a"]] and failures == []
    paths, failures = collect_images([str(tmp_path / "photos" / "**" / "*.*")])
    assert set(paths) == set(files.values()) and failures == []
    assert paths == sorted(paths, key=str)
    paths, _ = collect_images([str(tmp_path / "photos" / "[ab]*")])
    assert paths == [files["a"]]


def test_collect_glob_matches_nothing(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.jpg")
    assert collect_images([pattern]) == ([], [ImageFailure(pattern, "pattern matched no files")])


def test_collect_glob_matches_only_non_images(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    paths, failures = collect_images([str(tmp_path / "*.txt")])
    assert paths == [] and len(failures) == 1 and "no images" in failures[0].reason


def test_collect_missing_and_empty_folder(tmp_path: Path) -> None:
    good = _rgb(tmp_path / "ok.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    missing = tmp_path / "missing.jpg"
    paths, failures = collect_images([missing, empty, good, ""])
    assert paths == [good]
    assert failures[0] == ImageFailure(str(missing), "no such file or directory")
    assert failures[1].path == str(empty)
    assert failures[1].reason.startswith("folder contains no images (looked for .jpg, .jpeg, .png")
    assert failures[2].path == "" and "empty path" in failures[2].reason
    assert all("\n" not in f.reason for f in failures)


def test_collect_removes_duplicates_keeping_order(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    folder = tmp_path / "photos"
    paths, failures = collect_images(
        [files["c"], str(folder), str(folder / "." / "sub" / "c.webp"), str(folder / "*.jpg")]
    )
    assert failures == []
    assert paths[0] == files["c"]
    assert len(paths) == 4 and len({p.resolve() for p in paths}) == 4
    assert paths[1:] == sorted([files["a"], files["B"], files["d"]])


def test_collect_literal_path_with_glob_characters(tmp_path: Path) -> None:
    odd = _rgb(tmp_path / "img[1].png")
    paths, failures = collect_images([str(odd)])
    assert paths == [odd] and failures == []


def test_collect_then_load_end_to_end(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"junk" * 10)
    paths, failures = collect_images([tmp_path / "photos", tmp_path / "absent"])
    loaded, batch, load_failures = load_images(paths, 32)
    assert len(failures) == 1 and len(load_failures) == 1
    assert batch is not None and batch.shape == (4, 3, 32, 32) and len(loaded) == 4
