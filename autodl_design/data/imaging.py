"""Decoding single images and bringing images to the configured size and channel count.

Decoding happens once at load time, so the per-image Pillow calls here are not in the training
hot path.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from autodl_design.data.errors import DataError, one_line

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)

_MODES = {1: "L", 3: "RGB"}

# Images are brought to a few dozen pixels a side, so a larger one is almost surely a
# decompression bomb (a tiny PNG declaring huge dimensions); 8192 x 8192 RGB decodes to 200 MB.
# Pillow's own guard only warns up to twice its 89.5 megapixel limit, and warnings are silenced
# below, so the size is checked here, from the header, before anything is decoded.
MAX_PIXELS = 8192 * 8192

_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, DecompressionBombError)


def is_image_name(name: str) -> bool:
    """True when ``name`` (a file name or path) has a known image suffix."""
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in IMAGE_SUFFIXES


def decode_image(data: bytes, name: str, image_size: int, channels: int) -> np.ndarray:
    """Decode encoded image bytes to ``(image_size, image_size, channels)`` uint8.

    Any Pillow-readable mode is converted to L (``channels=1``) or RGB (``channels=3``); an
    alpha channel is dropped. Other sizes are resized with bilinear filtering (non-square images
    are stretched). ``name`` only appears in the error message.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns about palette transparency; the alpha is dropped below anyway.
            warnings.simplefilter("ignore")
            with _open(data) as img:
                img.load()
                out = _fit(img, image_size, channels)
    except _DECODE_ERRORS as e:
        raise DataError(f"cannot decode image {name}: {_reason(e, data)}") from None
    return out


def image_mode_shape(data: bytes, name: str) -> tuple[int, int, int]:
    """The stored ``(H, W, C)`` of an encoded image, without resizing or converting."""
    try:
        with _open(data) as img:
            return img.height, img.width, len(img.getbands())
    except _DECODE_ERRORS as e:
        raise DataError(f"cannot decode image {name}: {_reason(e, data)}") from None


def _open(data: bytes) -> Image.Image:
    """Open ``data`` lazily (header only), refusing more than :data:`MAX_PIXELS` pixels."""
    try:
        img = Image.open(io.BytesIO(data))
    except DecompressionBombError:
        # Pillow's own refusal, past twice its limit: the same words as ours below.
        raise DecompressionBombError(_too_large("the image")) from None
    if img.width * img.height > MAX_PIXELS:
        img.close()
        raise DecompressionBombError(_too_large(f"{img.width}x{img.height}"))
    return img


def _too_large(size: str) -> str:
    return f"{size} is more than the {MAX_PIXELS:,} pixels allowed (a decompression bomb?)"


def _reason(error: BaseException, data: bytes) -> str:
    """Why decoding failed, in words: Pillow's own message names the BytesIO, not the file."""
    if not data:
        return "empty file (0 bytes)"
    if isinstance(error, UnidentifiedImageError):
        return "not an image in a format Pillow reads"
    return one_line(error)


def _fit(img: Image.Image, image_size: int, channels: int) -> np.ndarray:
    mode = _MODES[channels]
    if img.mode != mode:
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        img = img.convert(mode)
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr.reshape(image_size, image_size, channels)


def fit_images(x: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """Bring an already decoded ``(N, H, W, C)`` uint8 array to the configured size/channels.

    RGB to grayscale uses Pillow's integer ITU-R 601-2 luma so arrays and files agree; a single
    channel is repeated for ``channels=3``. Returns ``x`` itself when nothing changes.
    """
    if x.shape[3] != channels:
        if channels == 1:
            weights = np.array([19595, 38470, 7471], dtype=np.uint32)
            luma = (x.astype(np.uint32) @ weights + 0x8000) >> 16
            x = luma.astype(np.uint8)[..., None]
        else:
            x = np.repeat(x[..., :1], 3, axis=3)
    if x.shape[1:3] != (image_size, image_size):
        out = np.empty((len(x), image_size, image_size, channels), dtype=np.uint8)
        for i, img in enumerate(x):
            pil = Image.fromarray(img[..., 0] if channels == 1 else img)
            resized = pil.resize((image_size, image_size), Image.Resampling.BILINEAR)
            out[i] = np.asarray(resized).reshape(image_size, image_size, channels)
        x = out
    return x
