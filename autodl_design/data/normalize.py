"""Pixel scaling and per-image standardisation, shared by training and inference."""

from __future__ import annotations

import numpy as np


def to_float_nchw(x: np.ndarray) -> np.ndarray:
    """``(N, H, W, C)`` uint8 -> C-contiguous ``(N, C, H, W)`` float32 in ``[0, 1]``."""
    out = x.transpose(0, 3, 1, 2).astype(np.float32, order="C")
    out *= np.float32(1.0 / 255.0)
    return out


def standardize(batch: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Per-image standardisation, as TensorFlow's ``per_image_standardization``.

    Each image (all axes but the first) gets its mean subtracted and is divided by
    ``max(std, 1 / sqrt(num_values))``, the floor keeping flat images finite. ``batch`` is a
    float array ``(N, ...)`` (the pipeline passes ``[0, 1]`` values, which sets the floor's
    scale); the result has its shape and dtype. ``inplace=True`` overwrites ``batch``, which
    must then be C-contiguous.
    """
    if inplace and not batch.flags.c_contiguous:
        raise ValueError("standardize(inplace=True) needs a C-contiguous batch")
    out = batch if inplace else batch.copy()
    flat = out.reshape(len(out), -1)
    flat -= flat.mean(axis=1, keepdims=True)
    var = np.einsum("ij,ij->i", flat, flat) / flat.shape[1]
    scale = np.maximum(np.sqrt(var), 1.0 / np.sqrt(flat.shape[1])).astype(flat.dtype)
    flat /= scale[:, None]
    return out


def preprocess(x: np.ndarray) -> np.ndarray:
    """Network input for uint8 ``(N, H, W, C)`` images: standardised ``(N, C, H, W)`` float32."""
    return standardize(to_float_nchw(x), inplace=True)
