"""A leakage study (``merbench leakage``): the honest protocol and each leaky variant, same model, data and seeds.

Variants (docs/leakage.md says why each leaks and where published numbers use it):

* ``honest``: the chosen subject-independent protocol (``subject-10fold`` by default);
* ``sample-10fold``: clips of one subject in training and test;
* ``frame-10fold``: several frame pairs of each clip as samples, split without grouping by clip;
* ``select_on=test``: each fold's scored epoch chosen on its own test samples (``engine.select_on=test``);
* ``normalise_on=all``: channel statistics from all samples, test ones included (``engine.normalise_on=all``).

Every run goes to the results store like ``merbench run``'s (one stored run
per variant and seed); ``merbench.leakage_summary`` turns the results into the
summary that is printed, written with ``--json`` and rendered by ``merbench
report --leakage``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from merbench.config import RunConfig, check_seeds, dataset_gives, resolve_config, sets_for_protocol
from merbench.errors import UsageError
from merbench.leakage_summary import summarise
from merbench.leaks import config_leaks, describe
from merbench.outputs import read_files, result_roots, stored_roots
from merbench.preflight import preflight
from merbench.registry import Registry
from merbench.result import RunResult


@dataclass(frozen=True)
class Variant:
    """One leaky variant: its name, what leaks in words, the protocol it uses (``None``: the honest one) and settings."""

    name: str
    what: str
    expected_leaks: tuple[str, ...]
    protocol: str | None = None
    sets: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, honest: RunConfig) -> dict[str, Any]:
        """The variant as the summary records it (``note``: how its run differs from the honest one beyond its leak)."""
        note = self.note(honest)
        described = self.entry(honest.protocol)
        return {**described, "note": note} if note else described

    def entry(self, honest_protocol: str) -> dict[str, Any]:
        """``describe`` without the note, for a study whose honest run used ``honest_protocol``."""
        return {"name": self.name, "what": self.what, "expected_leaks": list(self.expected_leaks),
                "protocol": self.protocol or honest_protocol, "sets": dict(self.sets)}

    def own_settings(self, result: RunResult, honest: RunResult) -> list[str]:
        """What the variant's run ``result`` recorded it changed from its profile (``settings_changed``) beyond the
        honest run's and beyond the variant's own ``sets``: the options of its protocol that the honest protocol
        lacks (``protocol.pairs`` of ``frame-10fold``), which the study's ``settings_changed`` does not name."""
        shared = set(honest.settings_changed or [])
        return [str(text) for text in result.settings_changed or []
                if text not in shared and str(text).partition("=")[0] not in self.sets]

    def note(self, honest: RunConfig) -> str | None:
        """What else differs from the honest run: a variant protocol splits every domain together, while an
        honest protocol with ``protocol.train``/``protocol.test`` domains (``cross-dataset``) trains on one and
        tests on another; the summary scores such a variant on the test domain's clips alone
        (``leakage_summary.summarise``)."""
        options = honest.section("protocol")
        if not self.protocol or not options.get("train") or not options.get("test"):
            return None
        return (f"pools the domains: trains on {options['test']} too (honest: on {options['train']} only); "
                f"scored on the {options['test']} clips only, as the honest run")


VARIANTS = (
    Variant("sample-10fold", "subjects in train and test", ("subjects",), protocol="sample-10fold"),
    Variant("frame-10fold", "frames of a clip in train and test", ("subjects", "clips"), protocol="frame-10fold"),
    Variant("select_on=test", "epoch chosen on the test fold", ("selection",), sets={"engine.select_on": "test"}),
    Variant("normalise_on=all", "test samples in normalisation", ("normalisation",),
            sets={"engine.normalise_on": "all"}),
)


@dataclass
class Study:
    """The resolved configurations of a study: the honest one and one per variant (seed = the first seed)."""

    honest: RunConfig
    variants: list[tuple[Variant, RunConfig]]
    seeds: list[int]
    left_out: list[dict[str, str]] = field(default_factory=list)
    """Variants that cannot apply to the data (``name``, ``why``): ``frame-10fold`` on a dataset of images."""

    def configs(self) -> list[tuple[Variant | None, RunConfig]]:
        """(variant, config) in the order they run; ``None`` is the honest protocol."""
        return [(None, self.honest)] + list(self.variants)


def _sets_for(sets: Mapping[str, Any], protocol: str, honest_protocol: str, registry: Registry) -> dict[str, Any]:
    """The user's settings for a run under ``protocol`` (``config.sets_for_protocol`` over the study's protocols:
    the honest one and the variants'), so that each run gets only the ``protocol.*`` options its protocol has."""
    names = {variant.protocol for variant in VARIANTS if variant.protocol} | {honest_protocol, protocol}
    return sets_for_protocol(sets, protocol, names, registry)


def _variant_sets(sets: Mapping[str, Any], variant: Variant, protocol: str, honest_protocol: str,
                  registry: Registry) -> dict[str, Any]:
    """The settings of ``variant``'s run under ``protocol``: the user's (``_sets_for``) and the variant's own.

    The protocol goes in as ``protocol.name``, which takes the place of a ``protocol``/``protocol.name`` of
    ``--set`` or ``--config``: those name the honest protocol, not the variant's.
    """
    own = {key: value for key, value in _sets_for(sets, protocol, honest_protocol, registry).items()
           if key not in ("protocol", "protocol.name")}
    return {**own, **variant.sets, "protocol.name": protocol}


def plan_study(registry: Registry, *, model: str | None, dataset: str | None, protocol: str | None, profile: str | None,
               seed: int | None, seeds: int, device: str, root: Path | None, epochs: int | None,
               sets: Mapping[str, Any], config_file: Path | None = None) -> Study:
    """Resolve the honest configuration and each variant's (all checked before anything runs).

    Refuses an honest configuration that leaks itself (a protocol that is not
    subject-independent, or a leaky ``engine.*`` setting): the study runs the
    leaky variants itself.
    """
    check_seeds(seeds)
    common = dict(model=model, dataset=dataset, profile=profile, seed=seed, device=device, root=root, epochs=epochs,
                  config_file=config_file)
    variant_protocols = [variant.protocol for variant in VARIANTS if variant.protocol]
    honest_protocol = resolve_config(registry, protocol=protocol, sibling_protocols=variant_protocols,
                                     **common).protocol  # --config may name it
    siblings = [*variant_protocols, honest_protocol]  # --config's protocol.* options go where they apply, as --set's
    honest_sets = _sets_for(sets, honest_protocol, honest_protocol, registry)
    honest = resolve_config(registry, protocol=protocol, sets=honest_sets, sibling_protocols=siblings, **common)
    found = config_leaks(honest, registry)
    if found:
        raise UsageError(
            f"the honest run of a leakage study must not leak, but {honest.protocol} with these settings does "
            f"({describe(found)}); give a subject-independent --protocol (subject-10fold, loso, ...) and leave "
            "engine.select_on and engine.normalise_on at their defaults: merbench leakage runs each leaky variant itself"
        )
    variants, left_out = [], []
    gives = dataset_gives(registry.get("datasets", honest.dataset), honest.root, honest.section("dataset"))
    for variant in VARIANTS:
        if variant.protocol == "frame-10fold" and gives == "image":
            left_out.append({"name": variant.name, "why": f"dataset '{honest.dataset}' gives one precomputed image "
                             "per sample, and frame-10fold needs each clip's frames: nothing of this kind can leak"})
            continue
        name = variant.protocol or honest.protocol
        variant_sets = _variant_sets(sets, variant, name, honest.protocol, registry)
        config = resolve_config(registry, protocol=None, sets=variant_sets, sibling_protocols=siblings, **common)
        variants.append((variant, config))
    return Study(honest, variants, list(range(honest.seed, honest.seed + seeds)), left_out)


def preflight_study(study: Study, registry: Registry, join_ray_with: Callable[[str], None] | None = None) -> None:
    """``merbench.preflight`` for every configuration of the study (nothing is recorded or trained yet); with
    ``join_ray_with``, a Ray cluster is joined and checked against each request (``preflight.check_cluster``)."""
    for _, config in study.configs():
        preflight(config, registry, join_ray_with=join_ray_with)


Runner = Callable[[RunConfig, str], RunResult]
"""Runs one configuration (one seed) and returns its result; the text names the variant (for progress)."""


def run_study(study: Study, run: Runner) -> tuple[list[RunResult], list[tuple[Variant, list[RunResult]]], float]:
    """Run the honest configuration and every variant with each seed; returns their results and the wall time."""
    started = time.perf_counter()
    results: dict[int, list[RunResult]] = {}
    for position, (variant, config) in enumerate(study.configs()):
        label = variant.name if variant else f"honest ({config.protocol})"
        results[position] = [run(dataclasses.replace(config, seed=seed), label) for seed in study.seeds]
    honest = results[0]
    leaky = [(variant, results[i + 1]) for i, (variant, _) in enumerate(study.variants)]
    return honest, leaky, time.perf_counter() - started


def study_summary(study: Study, honest: list[RunResult], leaky: list[tuple[Variant, list[RunResult]]],
                  seconds: float, command: str, reused: list[dict[str, Any]] | None = None,
                  resample: str = "subjects") -> dict[str, Any]:
    """The study's summary (``merbench.leakage_summary.summarise``) with what was run and how long it took.

    ``seconds`` is this command's wall time; ``seconds_of_runs`` the runs' own times (``seconds.total``), reused
    ones included; ``reused`` the stored runs taken with ``--stored``, each with ``other_software``: what of the
    software it was trained with is not this study's (``KEY STORED → NOW``). ``settings_changed`` is what the
    honest run changed from its profile, which every variant shares; each variant's ``settings`` what its own run
    changed beyond that (``Variant.own_settings``).
    """
    config = study.honest
    runs = [*honest, *(run for _, results in leaky for run in results)]
    facts = {"model": config.model, "dataset": config.dataset, "protocol": config.protocol, "profile": config.profile,
             "device": config.device, "seeds": study.seeds, "command": command, "seconds": round(seconds, 1),
             "seconds_of_runs": round(sum(float(run.seconds.total) for run in runs), 1), "reused": list(reused or []),
             "left_out": list(study.left_out),
             "settings_changed": list(honest[0].settings_changed or []),  # the options every variant ran with
             "dataset_folders": sorted({str(folder) for folder in stored_roots({"": honest[0].config}).values()}),
             "files_read": sorted(str(path) for path in read_files(result_roots(runs))),  # no output replaces one
             "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    described = [({**variant.describe(config), "settings": variant.own_settings(runs[0], honest[0])}, runs)
                 for variant, runs in leaky]
    return summarise(facts, honest, described, unit=resample)
