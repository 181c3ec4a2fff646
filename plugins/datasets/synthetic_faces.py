"""Procedural grey face clips with micro-expressions, for the ``synthetic`` dataset.

Everything is drawn from a seed, so the same seed gives the same pixels.

* A **subject** has its own face geometry, skin texture, motion gain, its own
  placement of each muscle region, a preferred way (variant) of showing each
  class, and a habitual movement that appears in most of its clips whatever
  the class (a subject signature).
* A **class** is a small local motion in facial regions, AU-like, with three
  variants each: negative (brow lowerer, lip-corner depressor, nose wrinkler),
  positive (lip-corner puller, cheek raiser, one-sided smile), surprise (brow
  raiser, upper-lid raiser, jaw drop). Amplitudes run from sub-pixel to ~2 px.
* Timing follows onset → apex → offset with a smooth rise and fall.
* Distractors: global head drift and a slight rotation, an illumination ramp,
  blinks at random times (also near the apex), and sensor noise.

Subject effects (preferred variants, per-subject class priors, signatures) make
a sample-level protocol easier than a subject-independent one, as in real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GENERATOR_VERSION = "2"
CLASSES = ("negative", "positive", "surprise")
CLASS_PRIOR = np.array([0.45, 0.30, 0.25])

# Region name -> (x, y) in face coordinates: x in [-1, 1] left to right, y in [-1, 1] top to bottom.
REGIONS = {
    "brow_l": (-0.42, -0.42),
    "brow_r": (0.42, -0.42),
    "brow_inner_l": (-0.17, -0.38),
    "brow_inner_r": (0.17, -0.38),
    "lid_l": (-0.40, -0.24),
    "lid_r": (0.40, -0.24),
    "cheek_l": (-0.45, 0.12),
    "cheek_r": (0.45, 0.12),
    "nose_l": (-0.12, 0.08),
    "nose_r": (0.12, 0.08),
    "lip_upper": (0.0, 0.38),
    "corner_l": (-0.30, 0.50),
    "corner_r": (0.30, 0.50),
    "chin": (0.0, 0.78),
}

# Class -> variants; a variant is a list of (region, dx, dy) unit motions.
# dx > 0 moves right, dy > 0 moves down; "in" motions point towards the midline.
VARIANTS: dict[str, list[list[tuple[str, float, float]]]] = {
    "negative": [
        [("brow_inner_l", 0.5, 0.9), ("brow_inner_r", -0.5, 0.9)],
        [("corner_l", -0.2, 1.0), ("corner_r", 0.2, 1.0), ("chin", 0.0, -0.6)],
        [("nose_l", 0.1, -0.8), ("nose_r", -0.1, -0.8), ("lip_upper", 0.0, -0.7)],
    ],
    "positive": [
        [("corner_l", -0.7, -0.7), ("corner_r", 0.7, -0.7)],
        [("cheek_l", 0.0, -0.9), ("cheek_r", 0.0, -0.9), ("corner_l", -0.3, -0.4), ("corner_r", 0.3, -0.4)],
        [("corner_r", 0.8, -0.8), ("cheek_r", 0.0, -0.5)],
    ],
    "surprise": [
        [("brow_l", 0.0, -1.0), ("brow_r", 0.0, -1.0), ("brow_inner_l", 0.0, -0.8), ("brow_inner_r", 0.0, -0.8)],
        [("lid_l", 0.0, -0.8), ("lid_r", 0.0, -0.8), ("brow_inner_l", 0.0, -0.6), ("brow_inner_r", 0.0, -0.6)],
        [("chin", 0.0, 1.0), ("lip_upper", 0.0, 0.3), ("brow_l", 0.0, -0.5), ("brow_r", 0.0, -0.5)],
    ],
}


@dataclass(frozen=True)
class Subject:
    """The fixed traits of one synthetic subject."""

    index: int
    centre: tuple[float, float]
    radii: tuple[float, float]
    eye_y: float
    eye_gap: float
    mouth_y: float
    mouth_width: float
    skin: float
    background: float
    texture_seed: int
    texture_amplitude: float
    gain: float
    preferred_variant: tuple[int, int, int]
    class_prior: tuple[float, float, float]
    habit: tuple[str, float, float]
    region_offsets: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Clip:
    """One generated clip: frames (T, H, W) uint8 and its timing and label."""

    frames: np.ndarray
    label: int
    variant: int
    onset: int
    apex: int
    offset: int


def make_subject(seed: int, index: int) -> Subject:
    """Draw subject ``index`` of the dataset with ``seed``."""
    rng = np.random.default_rng([seed, index, 1])
    prior = rng.dirichlet(CLASS_PRIOR * 6.0)
    habit_region = str(rng.choice(sorted(REGIONS)))
    angle = rng.uniform(0, 2 * np.pi)
    return Subject(
        index=index,
        centre=(0.5 + rng.normal(0, 0.02), 0.5 + rng.normal(0, 0.02)),
        radii=(rng.uniform(0.33, 0.40), rng.uniform(0.40, 0.46)),
        eye_y=rng.uniform(-0.30, -0.18),
        eye_gap=rng.uniform(0.34, 0.46),
        mouth_y=rng.uniform(0.42, 0.55),
        mouth_width=rng.uniform(0.22, 0.34),
        skin=rng.uniform(115, 175),
        background=rng.uniform(25, 80),
        texture_seed=int(rng.integers(2**31)),
        texture_amplitude=rng.uniform(10, 22),
        gain=rng.uniform(0.7, 1.3),
        preferred_variant=tuple(int(v) for v in rng.integers(0, 3, size=3)),
        class_prior=tuple(float(p) for p in prior),
        habit=(habit_region, float(np.cos(angle)), float(np.sin(angle))),
        region_offsets=tuple((float(dx), float(dy)) for dx, dy in rng.normal(0, 0.08, size=(len(REGIONS), 2))),
    )


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    noise = rng.standard_normal((size, size)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    return noise / (noise.std() + 1e-6)


def _soft(distance: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (distance < 0), 0 outside, with a smooth edge of ``edge`` pixels."""
    return 1.0 / (1.0 + np.exp(np.clip(distance / edge, -60.0, 60.0)))


def render_face(subject: Subject, size: int, jitter: np.ndarray) -> np.ndarray:
    """The neutral face of ``subject`` as a float32 (size, size) image."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    cx = (subject.centre[0] + jitter[0]) * size
    cy = (subject.centre[1] + jitter[1]) * size
    rx, ry = subject.radii[0] * size, subject.radii[1] * size
    fx, fy = (xs - cx) / rx, (ys - cy) / ry  # face coordinates
    texture_rng = np.random.default_rng(subject.texture_seed)
    fine = _smooth_noise(texture_rng, size, max(size / 64, 0.6))
    coarse = _smooth_noise(texture_rng, size, size / 12)
    face_mask = _soft((np.sqrt(fx**2 + fy**2) - 1.0) * min(rx, ry), 0.8)
    image = subject.background + 12 * coarse
    skin = subject.skin + subject.texture_amplitude * fine + 8 * coarse - 10 * fx
    image = image * (1 - face_mask) + skin * face_mask
    features = np.zeros_like(image)
    for side in (-1, 1):
        ex = side * subject.eye_gap
        eye = ((fx - ex) / 0.16) ** 2 + ((fy - subject.eye_y) / 0.06) ** 2
        features += 70 * _soft((np.sqrt(eye) - 1) * 3, 0.6)
        brow_y = subject.eye_y - 0.16 + 0.05 * ((fx - ex) / 0.2) ** 2
        brow = ((fx - ex) / 0.22) ** 2 + ((fy - brow_y) / 0.035) ** 2
        features += 55 * _soft((np.sqrt(brow) - 1) * 3, 0.6)
        nostril = ((fx - side * 0.09) / 0.05) ** 2 + ((fy - 0.22) / 0.03) ** 2
        features += 45 * _soft((np.sqrt(nostril) - 1) * 2, 0.6)
    mouth_curve = subject.mouth_y + 0.02 * (fx / subject.mouth_width) ** 2
    mouth = (fx / subject.mouth_width) ** 2 + ((fy - mouth_curve) / 0.045) ** 2
    features += 60 * _soft((np.sqrt(mouth) - 1) * 3, 0.6)
    features += 20 * np.exp(-((fx / 0.05) ** 2) - ((fy - 0.05) / 0.2) ** 2)  # nose ridge shading
    return (image - features * face_mask).astype(np.float32)


def _envelope(n_frames: int, start: int, peak: int, end: int) -> np.ndarray:
    t = np.arange(n_frames, dtype=np.float32)
    rise = np.clip((t - start) / max(peak - start, 1), 0, 1)
    fall = np.clip((end - t) / max(end - peak, 1), 0, 1)
    return np.where(t <= peak, np.sin(rise * np.pi / 2) ** 2, np.sin(fall * np.pi / 2) ** 2).astype(np.float32)


class _Motion:
    """Accumulates local displacement bumps and global motion per frame."""

    def __init__(self, subject: Subject, size: int, jitter: np.ndarray, n_frames: int):
        self.offsets = dict(zip(REGIONS, subject.region_offsets))
        self.size = size
        self.n_frames = n_frames
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        self.xs, self.ys = xs, ys
        self.cx = (subject.centre[0] + jitter[0]) * size
        self.cy = (subject.centre[1] + jitter[1]) * size
        self.rx, self.ry = subject.radii[0] * size, subject.radii[1] * size
        self.dx = np.zeros((n_frames, size, size), np.float32)
        self.dy = np.zeros((n_frames, size, size), np.float32)
        self.sigma = 0.07 * size

    def region_centre(self, region: str) -> tuple[float, float]:
        """Pixel position of a muscle region on this subject's face."""
        rx, ry = REGIONS[region]
        ox, oy = self.offsets[region]  # where this subject's muscles act
        rx, ry = rx + ox, ry + oy
        return self.cx + rx * self.rx, self.cy + ry * self.ry

    def add_local(self, region: str, vx: float, vy: float, envelope: np.ndarray, sigma_scale: float = 1.0) -> None:
        """Add a Gaussian bump of displacement (vx, vy) px at ``region``, scaled per frame by ``envelope``."""
        px, py = self.region_centre(region)
        sigma = self.sigma * sigma_scale
        bump = np.exp(-((self.xs - px) ** 2 + (self.ys - py) ** 2) / (2 * sigma**2))
        self.dx += envelope[:, None, None] * (vx * bump)[None]
        self.dy += envelope[:, None, None] * (vy * bump)[None]

    def add_global(self, drift: np.ndarray, rotation_deg: float) -> None:
        """Add head motion growing linearly over the clip: a translation and a rotation about the face centre."""
        t = np.linspace(0, 1, self.n_frames, dtype=np.float32)
        angle = np.deg2rad(rotation_deg) * t
        rel_x, rel_y = self.xs - self.cx, self.ys - self.cy
        for i in range(self.n_frames):
            c, s = np.cos(angle[i]), np.sin(angle[i])
            self.dx[i] += drift[0] * t[i] + (c - 1) * rel_x - s * rel_y
            self.dy[i] += drift[1] * t[i] + s * rel_x + (c - 1) * rel_y


def make_clip(subject: Subject, clip_index: int, seed: int, size: int = 64, n_frames: int = 16, label: int | None = None) -> Clip:
    """Generate clip ``clip_index`` of ``subject``; the label is drawn from its prior unless given."""
    rng = np.random.default_rng([seed, subject.index, clip_index, 2])
    if label is None:
        label = int(rng.choice(3, p=np.array(subject.class_prior)))
    preferred = subject.preferred_variant[label]
    variant = preferred if rng.random() < 0.8 else int(rng.choice([v for v in range(3) if v != preferred]))
    jitter = rng.normal(0, 0.01, size=2)
    scale = size / 64.0

    onset = int(rng.integers(1, max(2, n_frames // 6) + 1))
    apex = min(n_frames - 3, onset + int(rng.integers(3, max(4, n_frames // 2))))
    offset = min(n_frames - 1, apex + int(rng.integers(2, max(3, n_frames // 2))))

    motion = _Motion(subject, size, jitter, n_frames)
    amplitude = 2.0 * scale * subject.gain * rng.uniform(0.35, 1.0)
    envelope = _envelope(n_frames, onset, apex, offset)
    for region, ux, uy in VARIANTS[CLASSES[label]][variant]:
        motion.add_local(region, amplitude * ux, amplitude * uy, envelope)

    if rng.random() < 0.8:  # the subject's habitual movement, at its own time
        h_start = int(rng.integers(0, n_frames - 3))
        h_peak = min(n_frames - 1, h_start + int(rng.integers(2, 5)))
        region, hx, hy = subject.habit
        habit_env = _envelope(n_frames, h_start, h_peak, n_frames - 1)
        motion.add_local(region, 1.2 * scale * hx, 1.2 * scale * hy, habit_env, sigma_scale=1.3)
    if rng.random() < 0.35:  # a blink
        b_peak = int(rng.integers(1, n_frames - 1))
        blink = _envelope(n_frames, max(0, b_peak - 1), b_peak, min(n_frames - 1, b_peak + 2))
        for lid in ("lid_l", "lid_r"):
            motion.add_local(lid, 0.0, 1.6 * scale, blink, sigma_scale=0.6)
    drift = rng.normal(0, 0.8 * scale, size=2)
    motion.add_global(drift, rotation_deg=float(rng.normal(0, 0.6)))

    face = render_face(subject, size, jitter)
    gain = 1.0 + rng.normal(0, 0.06) * np.linspace(0, 1, n_frames)
    light_dir = rng.normal(0, 1, size=2)
    light = (motion.xs - size / 2) * light_dir[0] + (motion.ys - size / 2) * light_dir[1]
    light = light / (np.abs(light).max() + 1e-6)
    light_change = rng.normal(0, 8.0) * np.linspace(0, 1, n_frames)
    noise_sigma = rng.uniform(1.0, 3.0)
    frames = np.empty((n_frames, size, size), np.uint8)
    for i in range(n_frames):
        map_x = motion.xs - motion.dx[i]
        map_y = motion.ys - motion.dy[i]
        warped = cv2.remap(face, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frame = warped * gain[i] + light * light_change[i] + rng.normal(0, noise_sigma, (size, size))
        frames[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return Clip(frames=frames, label=label, variant=variant, onset=onset, apex=apex, offset=offset)
