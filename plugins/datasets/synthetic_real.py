"""Generator v3 (``dataset.preset=real``): clips that behave like the MEGC2019 composite.

It reuses the faces and the motion machinery of generator v2
(:mod:`merbench_plugins.datasets.synthetic_faces`) and changes what makes real data hard:

* three pretend releases (:mod:`merbench_plugins.datasets.synthetic_domains`) that differ
  in frame rate (how many frames onset → apex spans), face size on the sensor
  (noise after downsampling), crop, lighting flicker and whether the apex is
  annotated (the SMIC-like clips have none: the flow step then uses the middle
  frame, as on real SMIC);
* the composite's class proportions and very uneven clips per subject;
* motion of about half a pixel at 28×28 (rarely above one), with per-clip
  intensity spread;
* more ways to show a negative emotion, two of them close to another class
  (contempt, AU14, beside a one-sided smile; fear, AU1+2+4+5+20, beside
  surprise), and a share of clips whose label does not follow the movement
  (labels from self-report, as SMIC's);
* head motion, blinks at the spontaneous blink rate, illumination change and
  sensor noise.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from merbench_plugins.datasets import synthetic_faces as faces
from merbench_plugins.datasets.synthetic_domains import DomainStyle, step_ms

GENERATOR_VERSION = "3"
CLASSES = faces.CLASSES

# Class -> variants as (region, dx, dy) unit motions (see synthetic_faces.VARIANTS for the conventions).
VARIANTS: dict[str, list[list[tuple[str, float, float]]]] = {
    "negative": [
        *faces.VARIANTS["negative"],
        [("corner_r", 0.9, -0.25)],  # contempt: one lip corner tightened sideways (AU14)
        [("brow_inner_l", 0.3, -0.6), ("brow_inner_r", -0.3, -0.6), ("lid_l", 0.0, -0.6), ("lid_r", 0.0, -0.6),
         ("corner_l", -0.6, 0.1), ("corner_r", 0.6, 0.1)],  # fear: brows up and together, lids up, lips stretched
    ],
    "positive": faces.VARIANTS["positive"],
    "surprise": faces.VARIANTS["surprise"],
}

AMPLITUDE_28 = 0.75  # median apex displacement in pixels at 28x28
BLINKS_PER_MINUTE = 17.0
PREFERRED_SHARE = 0.75  # how often the preferred way is drawn; the rest draw any variant, so it shows in 75 % + 25 %/n
STYLE_ANGLE_SD = 25.0  # spread of the subjects' own turn of each class's movements, degrees
SENSOR_NOISE = 7.0  # grey levels on the camera sensor; per generated pixel it shrinks with face size / frame size


@dataclasses.dataclass(frozen=True)
class Subject:
    """A v2 subject plus its domain and its own preferred way of showing each class."""

    face: faces.Subject
    domain: DomainStyle
    preferred_variant: tuple[int, int, int]
    style_angle: tuple[float, float, float]  # per class, degrees: how this subject's movements turn from the textbook ones


@dataclasses.dataclass(frozen=True)
class Clip:
    """One generated clip: frames (T, H, W) uint8, label, the class it shows, and its timing.

    ``apex_annotated`` is False when the imitated release has no apex annotation;
    ``apex`` is still the true apex, for checks.
    """

    frames: np.ndarray
    label: int
    shown: int
    variant: int
    onset: int
    apex: int
    offset: int
    apex_annotated: bool


def make_subject(seed: int, index: int, domain: DomainStyle) -> Subject:
    """Draw subject ``index`` (its face from generator v2, scaled to the domain's crop)."""
    base = faces.make_subject(seed, index)
    rng = np.random.default_rng([seed, index, 13])
    face = dataclasses.replace(base, radii=(base.radii[0] * domain.face_scale, base.radii[1] * domain.face_scale))
    preferred = tuple(int(rng.integers(len(VARIANTS[name]))) for name in CLASSES)
    angles = tuple(float(a) for a in rng.normal(0.0, STYLE_ANGLE_SD, size=3))
    return Subject(face=face, domain=domain, preferred_variant=preferred, style_angle=angles)


def _timing(rng: np.random.Generator, domain: DomainStyle, frames: int) -> tuple[int, int, int, int]:
    """(n_frames, onset, apex, offset) from onset→apex and apex→offset durations in milliseconds."""
    step = step_ms(domain, frames)
    rise = max(1, round(rng.uniform(60, 260) / step))
    fall = max(1, round(rng.uniform(100, 300) / step))
    if not domain.apex_annotated:  # SMIC-like: the clip is cut from onset to offset
        return rise + fall + 1, 0, rise, rise + fall
    onset = int(rng.integers(1, 3))
    apex = min(frames - 2, onset + rise)
    return frames, onset, apex, min(frames - 1, apex + fall)


def make_clip(subject: Subject, clip_index: int, seed: int, label: int, size: int = 64, frames: int = 16) -> Clip:
    """Generate clip ``clip_index`` of ``subject`` labelled ``label``."""
    domain, face_traits = subject.domain, subject.face
    rng = np.random.default_rng([seed, face_traits.index, clip_index, 12])
    shown = label
    if rng.random() < domain.label_noise:
        shown = int(rng.choice([c for c in range(3) if c != label]))
    variants = VARIANTS[CLASSES[shown]]
    preferred = subject.preferred_variant[shown]
    variant = preferred if rng.random() < PREFERRED_SHARE else int(rng.integers(len(variants)))
    turn = np.deg2rad(subject.style_angle[shown])
    cos_t, sin_t = float(np.cos(turn)), float(np.sin(turn))
    jitter = rng.normal(0, 0.01, size=2)
    to_px = size / 28.0
    n_frames, onset, apex, offset = _timing(rng, domain, frames)

    motion = faces._Motion(face_traits, size, jitter, n_frames)
    amplitude = AMPLITUDE_28 * to_px * face_traits.gain * float(np.clip(rng.lognormal(0.0, 0.45), 0.25, 2.4))
    envelope = faces._envelope(n_frames, onset, apex, offset)
    for region, ux, uy in variants[variant]:
        vx, vy = cos_t * ux - sin_t * uy, sin_t * ux + cos_t * uy
        motion.add_local(region, amplitude * vx, amplitude * vy, envelope)

    if rng.random() < 0.8:  # the subject's habitual movement, at its own time
        h_start = int(rng.integers(0, max(1, n_frames - 3)))
        h_peak = min(n_frames - 1, h_start + int(rng.integers(1, 4)))
        region, hx, hy = face_traits.habit
        habit_env = faces._envelope(n_frames, h_start, h_peak, n_frames - 1)
        motion.add_local(region, 0.5 * to_px * hx, 0.5 * to_px * hy, habit_env, sigma_scale=1.3)
    seconds = n_frames * step_ms(domain, frames) / 1000.0
    if rng.random() < 1.0 - np.exp(-BLINKS_PER_MINUTE / 60.0 * seconds):
        b_peak = int(rng.integers(0, n_frames))
        blink = faces._envelope(n_frames, max(0, b_peak - 1), b_peak, min(n_frames - 1, b_peak + 2))
        for lid in ("lid_l", "lid_r"):
            motion.add_local(lid, 0.0, 0.7 * to_px, blink, sigma_scale=0.6)
    drift = rng.normal(0, 0.35 * to_px, size=2)
    motion.add_global(drift, rotation_deg=float(rng.normal(0, 0.6)))

    face = faces.render_face(face_traits, size, jitter)
    gain = 1.0 + rng.normal(0, 0.06) * np.linspace(0, 1, n_frames) + rng.normal(0, domain.flicker, n_frames)
    light_dir = rng.normal(0, 1, size=2)
    light = (motion.xs - size / 2) * light_dir[0] + (motion.ys - size / 2) * light_dir[1]
    light = light / (np.abs(light).max() + 1e-6)
    light_change = rng.normal(0, 8.0) * np.linspace(0, 1, n_frames)
    noise_sigma = SENSOR_NOISE * rng.uniform(0.7, 1.3) * size / (domain.face_px * domain.face_scale)
    out = np.empty((n_frames, size, size), np.uint8)
    for i in range(n_frames):
        warped = cv2.remap(face, motion.xs - motion.dx[i], motion.ys - motion.dy[i], cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT)
        frame = warped * gain[i] + light * light_change[i] + rng.normal(0, noise_sigma, (size, size))
        out[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return Clip(frames=out, label=label, shown=shown, variant=variant, onset=onset, apex=apex, offset=offset,
                apex_annotated=domain.apex_annotated)
