"""Decode untrusted image uploads with Pillow + numpy and prepare them for DINOv2.

Every failure is an ImageInputError (a ValueError) whose message a user can act on. The caller
limits the upload's bytes; this module limits pixels before anything is decoded (decompression
bombs), only lets Pillow use raster decoders that need no outside program (no EPS/Ghostscript),
refuses SVG (a vector format), and turns every other upload into 8-bit RGB:

- animated GIF / APNG / WebP and multi-page TIFF: the first frame;
- EXIF orientation applied (ImageOps.exif_transpose), so sizes and boxes are in upright pixels;
- alpha or a transparent palette colour: composited on white;
- CMYK, greyscale, bilevel, palette, YCbCr: Pillow's conversion to RGB;
- 16-bit greyscale (I;16*, I): divided by 257 (full 16-bit range to 8 bits); 32-bit float (F): min-max scaled.

Geometry (the DINOv2 / ImageNet evaluation convention without the 256 -> 224 margin): scale so the
shorter side becomes `size` (224 by default: 16 x 16 patches of 14 px, 257 tokens), then centre-crop
the longer side to at most `max_aspect * size`, rounded down to a multiple of the patch size. The
default max_aspect = 1 gives a square crop; resizing reads only the crop box of the source, so a
very long thin image never makes a huge intermediate. The PreprocessRecord says which box of the
upright image became the model input, so a client can lay the patch grid over the original
(it and PreprocessedImage are declared in models/contract.py, with ImageInputError).
Normalisation: ImageNet mean and standard deviation, as DINOv2 was trained.
Sizes are (width, height) like Pillow; patch grids elsewhere are (rows, columns).
"""

import io
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from models.contract import ImageInputError, PreprocessedImage, PreprocessRecord

log = logging.getLogger(__name__)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # per RGB channel, pixels in [0, 1]
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_SIZE = 224  # shorter side of the model input: 16 patches of 14 px
MAX_PIXELS = 50_000_000  # largest width x height decoded (a 50 MP photo is ~150 MB as RGB)
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")  # self-contained raster decoders; JPEG opens MPO too
EXIF_ORIENTATION = 0x0112  # EXIF tag: 1 upright, 2-8 mirrored and/or rotated
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Decoded:
    """An upload decoded: the upright RGB image and what was done to reach it."""

    rgb: Image.Image
    format: str
    mode: str
    original_size: tuple[int, int]  # (width, height) as stored, before EXIF orientation
    orientation: int
    multi_frame: bool
    composited: bool


def _looks_like_svg(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<") and b"<svg" in head


def _to_rgb(img: Image.Image) -> tuple[Image.Image, bool]:
    """Any decoded mode -> 8-bit RGB; the flag says whether transparency was composited on white."""
    if img.mode.startswith("I;16") or img.mode == "I":
        levels = np.asarray(img).astype(np.float32)  # (height, width), 16-bit range
        img = Image.fromarray(np.clip(np.rint(levels / 257.0), 0, 255).astype(np.uint8))
    elif img.mode == "F":
        values = np.asarray(img).astype(np.float64)  # (height, width)
        low, high = float(values.min()), float(values.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ImageInputError("The image holds non-finite floating-point pixels. Send an 8-bit PNG or JPEG.")
        span = high - low if high > low else 1.0
        img = Image.fromarray(np.rint((values - low) / span * 255).astype(np.uint8))
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (*WHITE, 255)), rgba).convert("RGB"), True
    return (img if img.mode == "RGB" else img.convert("RGB")), False


@contextmanager
def decoded(data: bytes, max_pixels: int = MAX_PIXELS) -> Iterator[Decoded]:
    """Untrusted image bytes -> the upright 8-bit RGB image (valid inside the with block) and what was done to it.
    Raises ImageInputError for anything that is not a usable raster image."""
    if not data:
        raise ImageInputError("The upload is empty. Send a PNG, JPEG, GIF, WebP, BMP or TIFF image.")
    if _looks_like_svg(data):
        raise ImageInputError("SVG is a vector format, not a raster image. Export it as PNG and upload that.")
    Image.init()  # registers every plugin (MPO and WEBP are not in Pillow's preinit set); a no-op after the first call
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as err:
        raise ImageInputError(f"The image has too many pixels ({err}). Send a smaller image.") from err
    except Exception as err:  # UnidentifiedImageError mostly; a hostile header may raise anything
        raise ImageInputError(
            "The upload is not an image this service can read. Send a PNG, JPEG, GIF, WebP, BMP or TIFF file."
        ) from err
    with img:
        width, height = img.size
        if width <= 0 or height <= 0:
            raise ImageInputError(f"The image is {width}x{height} pixels: it has no pixels to show.")
        if width * height > max_pixels:
            raise ImageInputError(
                f"The image is {width}x{height} = {width * height:,} pixels; at most {max_pixels:,} are accepted. "
                "Send a smaller image."
            )
        fmt, mode = img.format or "unknown", img.mode
        multi_frame = bool(getattr(img, "is_animated", False))
        try:
            img.load()  # the first frame; truncated or corrupt data fails here
        except Exception as err:  # decoders of hostile bytes raise all sorts: OSError, SyntaxError, struct.error...
            raise ImageInputError(
                f"The {fmt} file is truncated or corrupt and cannot be decoded. Upload the complete file."
            ) from err
        try:
            orientation = int(img.getexif().get(EXIF_ORIENTATION, 1))
            upright = ImageOps.exif_transpose(img) if orientation in range(2, 9) else img
        except Exception:  # a broken EXIF block should not cost the user the image
            log.warning("ignoring unreadable EXIF data in a %s upload", fmt, exc_info=True)
            orientation, upright = 1, img
        try:
            rgb_img, composited = _to_rgb(upright)
        except ImageInputError:
            raise
        except Exception as err:
            raise ImageInputError(f"Pixels of mode {mode} cannot be turned into RGB. Send an RGB image.") from err
        yield Decoded(rgb_img, fmt, mode, (width, height), orientation, multi_frame, composited)


def clean_copy(data: bytes, max_pixels: int = MAX_PIXELS) -> bytes:
    """The upload as it is shown: upright RGB (transparency on white), re-encoded as JPEG (quality 92) with no
    metadata at all (EXIF, GPS, ICC, comments are not copied). Same checks and errors as preprocess_image."""
    with decoded(data, max_pixels) as image:
        out = io.BytesIO()
        image.rgb.save(out, format="JPEG", quality=92)
    return out.getvalue()


def preprocess_image(
    data: bytes,
    size: int = DEFAULT_SIZE,
    multiple: int = 14,
    max_aspect: float = 1.0,
    max_pixels: int = MAX_PIXELS,
) -> PreprocessedImage:
    """Image file bytes -> normalised RGB model input plus a record of the geometry.

    size: shorter side of the model input (a multiple of `multiple`, the patch size).
    max_aspect: longest allowed long side as a multiple of `size`; 1 = square centre crop.
    max_pixels: width x height above which the file is refused before decoding.
    Raises ImageInputError for anything that is not a usable raster image.
    """
    if size <= 0 or size % multiple:
        raise ValueError(f"size {size} is not a positive multiple of {multiple}")
    if max_aspect < 1:
        raise ValueError(f"max_aspect {max_aspect} must be at least 1")
    with decoded(data, max_pixels) as image:
        rgb_img, fmt, mode, (width, height) = image.rgb, image.format, image.mode, image.original_size
        orientation, multi_frame, composited = image.orientation, image.multi_frame, image.composited
        # Geometry inside the with block: rgb_img may be the file's own image, which closes on exit.
        up_w, up_h = rgb_img.size
        scale = size / min(up_w, up_h)
        long_limit = int(max_aspect * size) // multiple * multiple
        out_w = size if up_w <= up_h else max(size, min(long_limit, int(up_w * scale) // multiple * multiple))
        out_h = size if up_h < up_w else max(size, min(long_limit, int(up_h * scale) // multiple * multiple))
        box_w, box_h = out_w * min(up_w, up_h) / size, out_h * min(up_w, up_h) / size  # exact for the short side
        left, top = (up_w - box_w) / 2, (up_h - box_h) / 2
        crop_box = (left, top, left + box_w, top + box_h)
        resized = rgb_img.resize((out_w, out_h), Image.Resampling.BICUBIC, box=crop_box)
        rgb = np.asarray(resized, dtype=np.uint8)  # (height, width, 3)

    pixels = ((rgb.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)  # (3, height, width)
    record = PreprocessRecord(
        format=fmt,
        mode=mode,
        original_size=(width, height),
        exif_orientation=orientation,
        upright_size=(up_w, up_h),
        multi_frame=multi_frame,
        alpha_composited=composited,
        crop_box=crop_box,
        scale=scale,
        final_size=(out_w, out_h),
    )
    return PreprocessedImage(pixels=np.ascontiguousarray(pixels), rgb=rgb, record=record)
