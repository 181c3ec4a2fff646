"""Textured test images and known motions of them, shared by the flow and preprocessor tests."""

from __future__ import annotations

import cv2
import numpy as np


def texture(size: int = 64, seed: int = 0) -> np.ndarray:
    """Smoothed random noise, stretched to 0..255 uint8: plenty of texture for optical flow."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min())
    return (img * 255).astype(np.uint8)


def shifted(img: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """``img`` with its content moved by (dx, dy) pixels (x right, y down)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, matrix, (img.shape[1], img.shape[0]), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def stretched(img: np.ndarray, amount: float = 0.25, sigma: float = 8.0) -> np.ndarray:
    """``img`` locally expanded around its centre by up to ``amount`` (a Gaussian bump of outward motion)."""
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    map_x = (xx - amount * (xx - cx) * bump).astype(np.float32)
    map_y = (yy - amount * (yy - cy) * bump).astype(np.float32)
    return cv2.remap(img, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
