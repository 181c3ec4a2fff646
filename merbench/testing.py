"""Helpers for tests of merbench and of merbench plugins, including the model conformance suite.

A model plugin author checks a model with one call, in a test of their package::

    from merbench.testing import assert_conformant

    def test_my_model_conforms():
        assert_conformant("my-model")

or, for every model their distribution registers::

    @pytest.mark.parametrize("name", conformance_names(distribution="merbench-my-plugin"))
    def test_conforms(name):
        assert_conformant(name)

``check_model`` runs the checks below and returns one ``Finding`` per check;
``assert_conformant`` raises ``ConformanceError`` listing every failed check
with what to fix. The checks: metadata complete (description, citation,
input, the three profiles, valid reported scores with sources, preprocessing
defaults that name real options); the declared input is produced by a
registered preprocessor and by the model's own default chain; for each profile
the model builds for the real input of that profile (one tiny synthetic clip
through its chain) and gives (N, n_classes) outputs; it follows the class count
(3 and 5 classes); a forward/backward step gives finite gradients; the same
seed gives the same outputs; and a 2-fold ``quick`` run on tiny synthetic data
completes through ``merbench.runner.run_benchmark``. Estimators that are not
torch modules are fitted and must predict one valid class per sample instead
of the gradient check.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from merbench.cache import cache_root
from merbench.config import resolve_config
from merbench.contracts import REPORTED_METRICS, ReportedScore, resolve_factory
from merbench.estimator import is_estimator, seeded
from merbench.preprocess import build_chain, compute_sample
from merbench.registry import get_registry
from merbench.runner import load_dataset, run_benchmark
from merbench.wording import counted

PROFILES = ("quick", "default", "paper")

TINY_DATA = {
    "dataset.subjects": 4,
    "dataset.clips_per_subject": 6,
    "dataset.size": 32,
    "dataset.frames": 8,
}
"""Synthetic-data options of the conformance checks: 24 clips of 4 subjects, 32×32 pixels."""

QUICK_RUN = {**TINY_DATA, "protocol.n_splits": 2, "engine.epochs": 1}
"""Settings of the conformance run: the tiny data, 2 subject-independent folds, one epoch."""


@contextmanager
def cache_at(folder: Path) -> Iterator[Path]:
    """Point ``MERBENCH_CACHE`` at ``folder`` inside the block, then restore it."""
    previous = os.environ.get("MERBENCH_CACHE")
    os.environ["MERBENCH_CACHE"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("MERBENCH_CACHE", None)
        else:
            os.environ["MERBENCH_CACHE"] = previous


# ------------------------------------------------------------------ conformance suite


@dataclass
class Finding:
    """The outcome of one conformance check."""

    check: str
    passed: bool
    detail: str = ""


class ConformanceError(AssertionError):
    """A model plugin failed conformance checks; the message lists each failure and its fix."""


def conformance_names(registry: Any = None, distribution: str | None = None) -> list[str]:
    """Model names to check: every registered model (a family by its examples), optionally of one distribution.

    With ``distribution``, a ``ConformanceError`` when that distribution has no
    merbench entry point installed, or when one of its plugins failed to load
    (the error names what failed: an import error, a wrong hook).
    """
    registry = registry or get_registry()
    if distribution is not None:
        _check_distribution_loaded(registry, distribution)
    names = []
    for spec in registry.items("models"):
        provider = registry.provider("models", spec.name)
        if distribution is not None and not _same_distribution(provider.distribution, distribution):
            continue
        names.extend(spec.examples if spec.name.endswith(":") else [spec.name])
    return names


def _same_distribution(a: str, b: str) -> bool:
    return a.lower().replace("_", "-") == b.lower().replace("_", "-")


def _check_distribution_loaded(registry: Any, distribution: str) -> None:
    """Raise ``ConformanceError`` unless ``distribution``'s merbench plugins are installed and loaded cleanly."""
    records = [r for r in registry.records if _same_distribution(r.provider.distribution, distribution)]
    if not records:
        raise ConformanceError(
            f"no merbench plugin of the distribution '{distribution}' is installed (no entry point in the 'merbench' "
            "group): install it, e.g. `pip install -e .` in its folder, and check the name in pyproject.toml")
    errors = [error for record in records for error in record.errors]
    if errors:
        raise ConformanceError("the plugin failed to load, so its models cannot be checked:\n"
                               + "\n".join(f"- {error}" for error in errors)
                               + "\n(`merbench plugins --debug` shows the traceback)")


def check_metadata(spec: Any, registry: Any) -> list[str]:
    """Problems with a model spec's declared metadata (empty when complete)."""
    problems = []
    for attribute in ("description", "citation", "input"):
        if not str(getattr(spec, attribute, "") or "").strip():
            problems.append(f"ModelPlugin.{attribute} is empty: declare it (the citation names the paper, or 'original work')")
    missing = [p for p in PROFILES if p not in spec.profiles]
    if missing:
        problems.append(f"ModelPlugin.profiles lacks {', '.join(missing)}: give each of quick, default, paper (may be {{}})")
    for profile, values in spec.profiles.items():
        unknown = sorted(set(values) - set(spec.options))
        if unknown:
            problems.append(f"profile '{profile}' sets {', '.join(unknown)}, which are not in ModelPlugin.options")
    for score in spec.reported:
        if not isinstance(score, ReportedScore):
            problems.append(f"reported entry {score!r} is not a ReportedScore")
        elif not score.source.strip() or not score.dataset or not score.protocol or score.metric not in REPORTED_METRICS:
            problems.append(f"reported score {score}: needs dataset, protocol, a metric of {REPORTED_METRICS} and a source")
        elif not 0.0 <= float(score.value) <= 100.0:
            problems.append(f"reported score {score.metric}={score.value}: give percent (0..100) as published")
    for step in spec.preprocess:
        if step not in registry.names("preprocessors"):
            problems.append(f"ModelPlugin.preprocess names '{step}', which no installed plugin registers")
    for section, values in spec.preprocess_options.items():
        if section not in registry.names("preprocessors"):
            problems.append(f"ModelPlugin.preprocess_options names preprocessor '{section}', which is not registered")
            continue
        known = registry.get("preprocessors", section).options
        unknown = sorted(set(values) - set(known))
        if unknown:
            problems.append(f"ModelPlugin.preprocess_options['{section}'] sets {', '.join(unknown)}; valid: {', '.join(known)}")
    return problems


def check_input(spec: Any, registry: Any, config: Any) -> list[str]:
    """Problems with the declared input: no preprocessor produces it, or the default chain does not."""
    producers = [p.name for p in registry.items("preprocessors") if p.produces == spec.input]
    if not producers:
        known = sorted({p.produces for p in registry.items("preprocessors")})
        return [f"input '{spec.input}' is produced by no registered preprocessor; known representations: {', '.join(known)}"]
    last = registry.get("preprocessors", config.preprocess[-1])
    if last.produces != spec.input:
        return [
            f"the default chain {','.join(config.preprocess)} produces '{last.produces}', not the declared input "
            f"'{spec.input}'; set ModelPlugin.preprocess to a chain ending in one of {', '.join(producers)}"
        ]
    return []


def _tiny_inputs(registry: Any, config: Any, count: int = 4) -> Any:
    """The real model inputs of the first ``count`` tiny synthetic clips for a resolved config."""
    import numpy as np

    dataset = load_dataset(config, registry, cache_root())
    specs = [registry.get("preprocessors", name) for name in config.preprocess]
    chain = build_chain(specs, config.sections)
    return np.stack([compute_sample(chain, sample, {})[0] for sample in dataset.samples[:count]])


def _forward(model: Any, x: Any) -> Any:
    import torch

    model.eval()
    with torch.no_grad():
        return model(x)


def _check_torch(name: str, build: Callable[..., Any], options: dict[str, Any], inputs: Any, full: bool) -> list[Finding]:
    import torch

    findings = []
    x = torch.as_tensor(inputs)
    channels, size = int(x.shape[1]), int(x.shape[2])
    torch.manual_seed(0)
    model = build(dict(options), channels, 3, size)
    out = _forward(model, x)
    shape_ok = tuple(out.shape) == (len(x), 3)
    findings.append(Finding("output shape", shape_ok,
                            f"input {tuple(x.shape)} gave {tuple(out.shape)}, expected {(len(x), 3)} logits"))
    if not full:
        return findings
    five = _forward(build(dict(options), channels, 5, size), x)
    findings.append(Finding("class count", tuple(five.shape) == (len(x), 5),
                            f"built for 5 classes it gave {tuple(five.shape)}: the head must use the n_classes argument"))
    model.train()
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), torch.arange(len(x)) % 3)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    finite = math.isfinite(float(loss.detach())) and all(g is None or torch.isfinite(g).all() for g in grads)
    moving = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
    findings.append(Finding("forward/backward", finite and moving and bool(grads),
                            f"loss {float(loss.detach()):.4g}; {len(grads)} trainable tensors; gradients finite: {finite}, non-zero: {moving}"))
    torch.manual_seed(0)
    again = _forward(build(dict(options), channels, 3, size), x)
    same_seed = torch.allclose(out, again, atol=1e-6, rtol=1e-5)
    twice = torch.allclose(_forward(model, x), _forward(model, x), atol=1e-6, rtol=1e-5)
    findings.append(Finding("determinism", same_seed and twice,
                            f"same seed gave the same outputs: {same_seed}; two eval passes agreed: {twice}. Draw all "
                            "randomness from torch (seeded by the engine) and none in eval-mode forward"))
    return findings


def _check_estimator(model: Any, build: Callable[..., Any], options: dict[str, Any], inputs: Any) -> list[Finding]:
    import numpy as np

    if not is_estimator(model):
        return [Finding("output shape", False, f"build returned a {type(model).__name__}: neither a torch.nn.Module nor fit/predict")]
    features = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    labels = np.arange(len(features)) % 3
    first = seeded(model, 0).fit(features, labels).predict(features)
    second = seeded(build(dict(options), inputs.shape[1], 3, inputs.shape[2]), 0).fit(features, labels).predict(features)
    valid = first.shape == (len(features),) and set(np.asarray(first).tolist()) <= {0, 1, 2}
    return [
        Finding("output shape", valid, f"predict gave {np.asarray(first).shape} with classes {sorted(set(np.asarray(first).tolist()))}"),
        Finding("determinism", bool(np.array_equal(first, second)), "two fits with the same seed predicted differently"),
    ]


def check_quick_run(name: str, registry: Any) -> Finding:
    """A 2-fold ``quick`` run on tiny synthetic data through the public runner API."""
    config = resolve_config(registry, model=name, dataset="synthetic", profile="quick", sets=dict(QUICK_RUN))
    result = run_benchmark(config, registry)
    n_classes = len(result.classes)
    predicted = [row.prediction for row in result.predictions or []]
    ok = (
        len(result.folds) == 2
        and len(predicted) == result.n_samples
        and all(0 <= p < n_classes for p in predicted)
        and math.isfinite(result.pooled["uf1"])
    )
    return Finding("2-fold quick run", ok, f"{len(result.folds)} folds, {len(predicted)}/{result.n_samples} predictions, "
                   f"UF1 {result.pooled['uf1']:.3f}, {result.seconds.total:.1f} s")


def check_model(name: str, registry: Any = None, profiles: Sequence[str] = PROFILES, run: bool = True) -> list[Finding]:
    """Run every conformance check on model ``name``; returns the findings (see the module docstring)."""
    import numpy as np
    from torch import nn

    registry = registry or get_registry()
    spec = registry.get("models", name)
    problems = check_metadata(spec, registry)
    findings = [Finding("metadata", not problems, "; ".join(problems))]
    for profile in profiles:
        label = f"[{profile}] "
        try:
            config = resolve_config(registry, model=name, dataset="synthetic", profile=profile, sets=dict(TINY_DATA))
            problems = check_input(spec, registry, config)
            findings.append(Finding(label + "declared input", not problems, "; ".join(problems)))
            if problems:
                continue
            inputs = _tiny_inputs(registry, config)
            build = resolve_factory(spec.build)
            options = dict(config.section("model"))
            model = build(dict(options), int(inputs.shape[1]), 3, int(inputs.shape[2]))
            full = profile == "quick"
            if isinstance(model, nn.Module):
                found = _check_torch(name, build, options, inputs, full)
            else:
                found = _check_estimator(model, build, options, np.asarray(inputs))
            findings.extend(Finding(label + f.check, f.passed, f.detail) for f in found)
        except Exception as exc:
            findings.append(Finding(label + "build", False, f"{type(exc).__name__}: {exc}"))
    if run:
        try:
            findings.append(check_quick_run(name, registry))
        except Exception as exc:
            findings.append(Finding("2-fold quick run", False, f"{type(exc).__name__}: {exc}"))
    return findings


def assert_conformant(name: str, registry: Any = None, profiles: Sequence[str] = PROFILES, run: bool = True) -> list[Finding]:
    """``check_model`` that raises ``ConformanceError`` naming every failed check and its detail."""
    findings = check_model(name, registry, profiles, run)
    failed = [f for f in findings if not f.passed]
    if failed:
        lines = "\n".join(f"  - {f.check}: {f.detail}" for f in failed)
        raise ConformanceError(f"model '{name}' failed {counted(failed, 'conformance check')}:\n{lines}")
    return findings
