"""The three pretend releases of the ``real`` synthetic preset, and how clips are shared out.

Each :class:`DomainStyle` holds what differs between SMIC-HS, CASME II and SAMM
as published (frame rate, face size on the sensor, whether the apex is
annotated, how labels were made, the MEGC2019 composite's class counts, subjects
and clips), plus the few rendering choices derived from them. The facts and
their sources are listed in docs/datasets.md ("The synthetic dataset").

:func:`plan` shares a number of subjects and clips among the domains in the
composite's proportions, gives subjects very uneven clip counts (several hold
one or two clips, as in the real releases) and assigns labels per domain by the
composite's class counts, with each subject leaning towards its own classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DomainStyle:
    """What one imitated release looks like to the generator."""

    name: str
    fps: int  # camera frame rate (frames per second)
    face_px: int  # face width on the camera sensor, in pixels
    apex_annotated: bool
    class_counts: tuple[int, int, int]  # negative, positive, surprise in the MEGC2019 composite
    real_subjects: int
    face_scale: float  # face size in the crop relative to the easy preset (a rendering choice)
    flicker: float  # frame-to-frame brightness jitter, relative (a rendering choice)
    label_noise: float  # share of clips whose label does not follow the movement shown
    subject_clips: tuple[int, ...]  # clips per subject in the MEGC2019 composite, sorted

    @property
    def real_clips(self) -> int:
        """Clips of this release in the MEGC2019 composite."""
        return sum(self.class_counts)


DOMAINS: tuple[DomainStyle, ...] = (
    DomainStyle("smic-like", fps=100, face_px=190, apex_annotated=False, class_counts=(70, 51, 43), real_subjects=16,
                face_scale=0.86, flicker=0.012, label_noise=0.12,
                subject_clips=(2, 2, 4, 4, 4, 6, 6, 7, 7, 9, 10, 10, 13, 19, 22, 39)),
    DomainStyle("casme2-like", fps=200, face_px=280, apex_annotated=True, class_counts=(88, 32, 25), real_subjects=24,
                face_scale=1.0, flicker=0.0, label_noise=0.06,
                subject_clips=(1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 5, 5, 5, 6, 8, 9, 10, 11, 11, 11, 31)),
    DomainStyle("samm-like", fps=200, face_px=400, apex_annotated=True, class_counts=(92, 26, 15), real_subjects=28,
                face_scale=0.94, flicker=0.0, label_noise=0.06,
                subject_clips=(1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 6, 8, 8, 9, 10, 11, 20)),
)
DOMAIN_NAMES = tuple(domain.name for domain in DOMAINS)

WINDOW_MS = 400.0  # a 200 fps clip of ``frames`` generated frames spans this long (25 ms a frame at 16 frames)


def step_ms(domain: DomainStyle, frames: int) -> float:
    """Milliseconds between two generated frames of ``domain``: twice as long at 100 fps as at 200 fps."""
    return WINDOW_MS / frames * (200.0 / domain.fps)


@dataclass(frozen=True)
class SubjectPlan:
    """One subject of the plan: its global index, domain and the labels of its clips in order."""

    index: int
    domain: DomainStyle
    labels: tuple[int, ...]


def largest_remainder(total: int, weights, minimum: int = 0) -> list[int]:
    """Split ``total`` into integers proportional to ``weights``, each at least ``minimum``."""
    weights = np.asarray(weights, dtype=float)
    free = total - minimum * len(weights)
    if free < 0:
        raise ValueError(f"cannot give {len(weights)} parts at least {minimum} each out of {total}")
    exact = free * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: free - counts.sum()]] += 1
    return [int(c) + minimum for c in counts]


def domains_for(n_domains: int) -> tuple[DomainStyle, ...]:
    """The first ``n_domains`` imitated releases (1 to 3)."""
    return DOMAINS[:n_domains]


def plan(seed: int, n_subjects: int, n_clips: int, n_domains: int) -> list[SubjectPlan]:
    """Share ``n_clips`` among ``n_subjects`` of ``n_domains`` domains, with labels; deterministic by ``seed``."""
    rng = np.random.default_rng([seed, 31])
    domains = domains_for(n_domains)
    subjects_per_domain = largest_remainder(n_subjects, [d.real_subjects for d in domains], minimum=1)
    clip_weights = [d.real_clips for d in domains]
    clips_per_domain = largest_remainder(n_clips - n_subjects, clip_weights)
    plans: list[SubjectPlan] = []
    for domain, n_sub, extra in zip(domains, subjects_per_domain, clips_per_domain):
        n_dom = n_sub + extra
        # subject shares drawn from the release's own clips-per-subject counts: a few subjects hold
        # many clips, several hold one or two
        shares = rng.choice(domain.subject_clips, size=n_sub, replace=n_sub > len(domain.subject_clips))
        counts = largest_remainder(n_dom - n_sub, shares.astype(float) - 0.999, minimum=0)
        counts = [c + 1 for c in counts]
        remaining = np.array(largest_remainder(n_dom, domain.class_counts), dtype=float)
        proportions = np.array(domain.class_counts, dtype=float) / domain.real_clips
        labels_of: dict[int, list[int]] = {}
        for position in rng.permutation(n_sub):
            lean = rng.dirichlet(proportions * 4.0)
            labels = []
            for _ in range(counts[position]):
                weights = remaining * (lean + 0.05)
                label = int(rng.choice(3, p=weights / weights.sum()))
                remaining[label] -= 1
                labels.append(label)
            labels_of[int(position)] = labels
        first = len(plans)
        plans.extend(SubjectPlan(first + i, domain, tuple(labels_of[i])) for i in range(n_sub))
    return plans
