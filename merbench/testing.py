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
registered preprocessor and by the model's own default chain; the chain's last
step gives the (C, H, W) its ``output_shape()`` declares; for each profile
the model builds for the real input of that profile (one tiny synthetic clip
through its chain) and gives (N, n_classes) outputs as a ``torch.Tensor``; it
follows the class count (3 and 5 classes); a forward/backward step gives finite
gradients; the same seed gives the same outputs; in eval mode a sample's
prediction does not depend on the other samples of its batch (no statistics of
the test batch); every tensor it keeps is a parameter or a registered buffer
(batched folds swap those); two different seeds give different initial weights (``build``
draws from the generator the engine seeds, and never seeds it itself); and a
2-fold ``quick`` run on tiny synthetic data completes through
``merbench.runner.run_benchmark``, and for a torch model again with both folds
trained as one batched (``vmap``) computation, as a GPU run does. Estimators that are not torch modules are
fitted and must predict one valid class per sample instead of the gradient
check, and leave ``random_state`` unset so that the fold's seed reaches it. The suite writes its tiny data into a temporary cache of its own, never
into ``MERBENCH_CACHE`` or the user's cache folder.

A dataset plugin has ``assert_dataset_conformant(name, root=DIR)`` (``check_dataset`` for the findings): it loads
as ``merbench datasets check`` loads it, through the checks every run makes of what ``load()`` returns, and it
returns its samples, its classes and each sample's subject, label and domain the same every time, here and in two new
processes with other hash seeds (a loader that returns set order gives each run other folds or classes, so other
scores for the same seed).
"""

from __future__ import annotations

import difflib
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from merbench.cache import cache_root
from merbench.config import resolve_config
from merbench.contracts import REPORTED_METRICS, ReportedScore, resolve_factory
from merbench.dataset_check import SAMPLE_FIELDS, order_facts
from merbench.errors import PluginError
from merbench.estimator import fixed_random_states, is_estimator, seeded
from merbench.preprocess import build_chain, compute_sample
from merbench.registry import distribution_key, get_registry
from merbench.runner import load_dataset, run_benchmark
from merbench.wording import counted, plural, some_of

PROFILES = ("quick", "default", "paper")

TINY_DATA = {
    "dataset.subjects": 4,
    "dataset.clips_per_subject": 6,
    "dataset.size": 32,
    "dataset.frames": 8,
}
"""Synthetic-data options of the conformance checks: 24 clips of 4 subjects, 32×32 pixels."""

IN_PROCESS = {"engine.preprocess_workers": 1, "engine.parallel_folds": 1}
"""The conformance checks start no worker process: 24 tiny clips need none, and a worker started from a script
without an ``if __name__ == "__main__":`` guard would run the script, and the suite, again."""

QUICK_RUN = {**TINY_DATA, **IN_PROCESS, "protocol.n_splits": 2, "engine.epochs": 1}
"""Settings of the conformance run: the tiny data, 2 subject-independent folds, one epoch, in this process."""


@contextmanager
def _variable_at(name: str, path: Path) -> Iterator[Path]:
    """Set the environment variable ``name`` to ``path`` inside the block, then restore it."""
    previous = os.environ.get(name)
    os.environ[name] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def cache_at(folder: Path):
    """Point ``MERBENCH_CACHE`` at ``folder`` inside the block (``with cache_at(folder):``), then restore it."""
    return _variable_at("MERBENCH_CACHE", folder)


def store_at(path: Path):
    """Point ``MERBENCH_STORE`` at the results store ``path`` inside the block, then restore it: the runs made there
    (by merbench in this process and by the commands it starts) are recorded in it, never in the user's store."""
    return _variable_at("MERBENCH_STORE", path)


_checking: Path | None = None  # the cache folder of the conformance check now running


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """``MERBENCH_CACHE`` at a new temporary folder inside the block, which removes the folder as it ends, on error
    too (not at process exit, which a worker process leaves without running exit hooks). Inside an outer block,
    the outer block's folder."""
    global _checking
    if _checking is not None:
        yield _checking
        return
    with tempfile.TemporaryDirectory(prefix="merbench-conformance-") as folder, cache_at(Path(folder)) as path:
        _checking = path
        try:
            yield path
        finally:
            _checking = None


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
    merbench entry point installed, when one of its plugins failed to load
    (the error names what failed: an import error, a wrong hook), when one of its model families lists no
    ``examples`` (nothing of it would be checked), or when it registers no model (a test parametrized over no names would pass). A model that
    registered but cannot run (``PluginRecord.problems``: no preprocessor produces
    its declared input) is still named, so that ``assert_conformant`` fails that
    model with the reason and the distribution's other models are checked.
    """
    registry = registry or get_registry()
    if distribution is not None:
        _check_distribution_loaded(registry, distribution)
    names = []
    bare = []  # families without examples: nothing of theirs to build
    for spec in registry.items("models"):
        provider = registry.provider("models", spec.name)
        if distribution is not None and not _same_distribution(provider.distribution, distribution):
            continue
        if spec.name.endswith(":") and not spec.examples:
            bare.append(spec.name)
        names.extend(spec.examples if spec.name.endswith(":") else [spec.name])
    if distribution is not None and bare:
        raise ConformanceError(
            f"model {plural(bare, 'family', 'families')} {', '.join(repr(b) for b in bare)} of the distribution "
            f"'{distribution}' {plural(bare, 'lists', 'list')} no examples=(...) to check; add a few members, e.g. "
            f"ModelPlugin(name='{bare[0]}', ..., examples=('{bare[0]}small', '{bare[0]}large')), which the "
            "conformance suite and `merbench list models` build")
    if distribution is not None and not names:
        raise ConformanceError(
            f"the distribution '{distribution}' registers no model, so there is nothing to check: its "
            "merbench_register_models hook must call register(ModelPlugin(...)) for each model (`merbench plugins` "
            "shows what each plugin registered)")
    return names


def _same_distribution(a: str, b: str) -> bool:
    return distribution_key(a) == distribution_key(b)


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


METADATA_HINTS = {
    "description": "one line for `merbench list models`: what the model is and on what input",
    "citation": "the paper the model comes from, or 'original work'",
    "input": "the representation the model consumes, a preprocessor's produces (`merbench list preprocessors`)",
}


def check_metadata(spec: Any, registry: Any) -> list[str]:
    """Problems with a model spec's declared metadata (empty when complete)."""
    problems = []
    for attribute, hint in METADATA_HINTS.items():
        if not str(getattr(spec, attribute, "") or "").strip():
            problems.append(f"ModelPlugin.{attribute} is empty: declare it ({hint})")
    missing = [p for p in PROFILES if p not in spec.profiles]
    if missing:
        problems.append(f"ModelPlugin.profiles lacks {', '.join(missing)}: give each of quick, default, paper (may be {{}})")
    for profile, values in spec.profiles.items():
        unknown = sorted(set(values) - set(spec.options))
        if unknown:
            problems.append(f"profile '{profile}' sets {', '.join(unknown)}, which are not in ModelPlugin.options")
    for score in spec.reported:
        problems.extend(reported_problems(score, registry))
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


def reported_problems(score: Any, registry: Any) -> list[str]:
    """What is wrong with one ``ReportedScore`` of a model (empty: nothing), each naming the field to fix.

    ``dataset`` and ``protocol`` must be names merbench knows (registered), so that
    a run's measured row can be matched with it; ``value`` is percent as published
    (0..100; a value in 0..1 is taken for a fraction); ``source`` must be given.
    """
    if not isinstance(score, ReportedScore):
        return [f"reported entry {score!r} is not a ReportedScore(dataset, protocol, metric, value, source)"]
    where = f"reported score {score.dataset or '?'}/{score.protocol or '?'} {score.metric}={score.value}"
    problems = []
    for field, kind in (("dataset", "datasets"), ("protocol", "protocols")):
        value = str(getattr(score, field) or "")
        known = registry.names(kind)
        if not value.strip():
            problems.append(f"{where}: its {field} is empty; give the merbench name of the {field} "
                            f"({', '.join(known)})")
        elif value not in known:
            close = difflib.get_close_matches(value.lower(), known, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in sorted(close))}? " if close else ""
            problems.append(f"{where}: its {field} '{value}' is not a merbench {field} name; {hint}known {kind}: "
                            f"{', '.join(known)} (a measured row is matched by these names)")
    if score.metric not in REPORTED_METRICS:
        problems.append(f"{where}: its metric '{score.metric}' is not one of {', '.join(REPORTED_METRICS)}")
    try:
        value = float(score.value)
    except (TypeError, ValueError):
        problems.append(f"{where}: its value {score.value!r} is not a number; give percent (0..100) as published")
    else:
        if not math.isfinite(value) or not 0.0 <= value <= 100.0:
            problems.append(f"{where}: its value {score.value} is not a percentage; give percent (0..100) as published")
        elif 0.0 < value <= 1.0:
            problems.append(f"{where}: its value {value:g} looks like a fraction; give percent, "
                            f"{100 * value:.4g} (as the paper prints it)")
    if not str(score.source or "").strip():
        problems.append(f"{where}: its source is empty; name the paper and the table or page the number comes from")
    return problems


def check_input(spec: Any, registry: Any, config: Any) -> list[str]:
    """Problems with the declared input: no preprocessor produces it, or the default chain does not."""
    problem = registry.input_problem(spec.name)
    if problem:
        return [problem]
    producers = [p.name for p in registry.items("preprocessors") if p.produces == spec.input]
    last = registry.get("preprocessors", config.preprocess[-1])
    if last.produces != spec.input:
        return [
            f"the default chain {','.join(config.preprocess)} produces '{last.produces}', not the declared input "
            f"'{spec.input}'; set ModelPlugin.preprocess to a chain ending in one of {', '.join(producers)}"
        ]
    return []


def _tiny_inputs(registry: Any, config: Any, count: int = 4) -> tuple[Any, Any]:
    """The built chain of a resolved config and the real model inputs of its first ``count`` tiny synthetic clips."""
    import numpy as np

    dataset = load_dataset(config, registry, cache_root())
    specs = [registry.get("preprocessors", name) for name in config.preprocess]
    chain = build_chain(specs, config.sections, [registry.label("preprocessors", name) for name in config.preprocess])
    return chain, np.stack([compute_sample(chain, sample, {})[0] for sample in dataset.samples[:count]])


def check_output_shape(chain: Any, inputs: Any) -> Finding | None:
    """The (C, H, W) the chain's last step declares (``output_shape()``) must be that of its real output: ``merbench
    info``, ``list`` and the run's checks before preprocessing take it from there. ``None`` when it declares none."""
    step = chain.steps[-1]
    if not callable(getattr(step, "output_shape", None)):
        return None
    from merbench.modelinfo import chain_output_shape

    try:
        declared = chain_output_shape(chain)
    except PluginError as exc:
        return Finding("preprocessor output shape", False, str(exc))
    real = tuple(int(n) for n in inputs.shape[1:])
    detail = f"{chain.label(len(chain.steps) - 1)} declares output_shape() {declared} and gives {real}"
    if declared != real:
        detail += ("; make output_shape() return the (C, H, W) its __call__ returns for these options (`merbench "
                   "info` and `merbench list` show the declared shape, and a run checks the model against it)")
    return Finding("preprocessor output shape", declared == real, detail)


def _forward(model: Any, x: Any) -> Any:
    """Eval-mode outputs of ``model`` for a copy of ``x``: the engine gives each forward batch of its own, so a
    forward that changes its input in place must not change the input of the next check."""
    import torch

    model.eval()
    with torch.no_grad():
        return model(x.clone())


def _type_name(value: Any) -> str:
    """``numpy.ndarray``, ``tuple``, ``None``: what a wrong value is, as its author would write it."""
    if value is None:
        return "None"
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _a(value: Any) -> str:
    """``None``, ``a numpy.ndarray``: a wrong value named with its article."""
    return "None" if value is None else f"a {_type_name(value)}"


def _same(a: Any, b: Any, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Two output tensors agree (NaN where the other has NaN counts as agreeing: NaN is its own finding)."""
    import torch

    return tuple(a.shape) == tuple(b.shape) and bool(torch.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True))


def _weights(model: Any) -> list[Any]:
    return [t.detach().clone() for t in model.state_dict().values() if getattr(t, "is_floating_point", lambda: False)()]


def _check_torch(name: str, build: Callable[..., Any], options: dict[str, Any], inputs: Any, full: bool) -> list[Finding]:
    import torch

    from merbench.lazy_layers import materialise_lazy_layers

    findings = []
    x = torch.as_tensor(inputs)
    channels, size = int(x.shape[1]), int(x.shape[2])

    def built(n_classes: int) -> Any:  # lazy layers shaped right after build(), as the engine's ModelRecipe does
        return materialise_lazy_layers(build(dict(options), channels, n_classes, size), tuple(x.shape[1:]))

    torch.manual_seed(0)
    model = built(3)
    out = _forward(model, x)
    if not isinstance(out, torch.Tensor):
        findings.append(Finding("output shape", False, f"forward returned {_a(out)}; return a torch.Tensor "
                                f"of shape {(len(x), 3)} (the logits), which the engine trains and scores"))
        return findings
    shape_ok = tuple(out.shape) == (len(x), 3)
    findings.append(Finding("output shape", shape_ok,
                            f"input {tuple(x.shape)} gave {tuple(out.shape)}, expected {(len(x), 3)} logits"))
    if not full or not shape_ok:
        return findings
    findings.append(_state_registered(model))
    five = _forward(built(5), x)
    five_shape = tuple(getattr(five, "shape", ()))
    five_ok = isinstance(five, torch.Tensor) and five_shape == (len(x), 5)
    findings.append(Finding("class count", five_ok, f"built for 5 classes it gave {five_shape}"
                            + ("" if five_ok else ": the head must use the n_classes argument")))
    model.train()
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x.clone()), torch.arange(len(x)) % 3)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    finite = math.isfinite(float(loss.detach())) and all(g is None or torch.isfinite(g).all() for g in grads)
    moving = any(g is not None and bool(g.abs().sum() > 0) for g in grads)
    findings.append(Finding("forward/backward", finite and moving and bool(grads),
                            f"loss {float(loss.detach()):.4g}; {len(grads)} trainable tensors; gradients finite: {finite}, non-zero: {moving}"))
    torch.manual_seed(0)
    fresh = built(3)
    after_seed_0 = torch.rand(8)
    again = _forward(fresh, x)
    same_seed = _same(out, again)
    twice = _same(_forward(model, x), _forward(model, x))
    detail = f"same seed gave the same outputs: {same_seed}; two eval passes agreed: {twice}"
    if not (same_seed and twice):
        detail += ". Draw all randomness from torch (seeded by the engine) and none in eval-mode forward"
    findings.append(Finding("determinism", same_seed and twice, detail))
    if twice:  # with noise in eval-mode forward, any two passes differ: that is the determinism finding
        findings.append(_batch_independence(fresh, x, again))
    torch.manual_seed(1)
    other = built(3)
    after_seed_1 = torch.rand(8)
    findings.append(_seed_followed(fresh, other, again, _forward(other, x), torch.equal(after_seed_0, after_seed_1)))
    return findings


def _state_registered(model: Any) -> Finding:
    """Every tensor a module keeps is a parameter or a registered buffer: batched folds swap each fold's parameters
    and buffers into one copy of the module, so a plain tensor attribute would be one fold's (or the meta device's)."""
    import torch

    plain = [f"{prefix + '.' if prefix else ''}{name}" for prefix, module in model.named_modules()
             for name, value in vars(module).items() if isinstance(value, torch.Tensor)]
    detail = ("every tensor is a parameter or a registered buffer" if not plain else
              f"{some_of(plain, 3)} {'is a plain tensor attribute' if len(plain) == 1 else 'are plain tensor attributes'}"
              "; register it with self.register_buffer(name, tensor) (CONTRIBUTING.md, batched folds)")
    return Finding("state registered", not plain, detail)


def _batch_independence(model: Any, x: Any, batched: Any) -> Finding:
    """Eval-mode predictions of one sample must not change with the other samples of its batch."""
    import torch

    check = "batch independence"
    try:
        alone = [_forward(model, x[i:i + 1]) for i in range(len(x))]
    except Exception as exc:
        return Finding(check, False, f"a batch of one sample failed: {type(exc).__name__}: {exc}; the engine's "
                                     "last batch may hold a single sample")
    shapes = {tuple(getattr(one, "shape", ())) for one in alone}
    if shapes != {(1, int(batched.shape[1]))}:
        return Finding(check, False, f"a batch of one sample gave {_a(alone[0])} of shape "
                                     f"{', '.join(map(str, sorted(shapes)))}, expected {(1, int(batched.shape[1]))}")
    single = torch.cat(alone)
    both = torch.isfinite(batched) & torch.isfinite(single)
    scale = float(batched[both].abs().max()) if bool(both.any()) else 0.0
    agree = _same(batched, single, atol=1e-4 * max(1.0, scale), rtol=1e-3)
    detail = f"eval-mode outputs of {len(x)} samples as one batch and one by one agreed: {agree}"
    if not agree:
        if bool((torch.isfinite(batched) != torch.isfinite(single)).any()):
            gap = "finite in one, NaN or infinite in the other"
        else:
            gap = f"largest difference {float((batched - single)[both].abs().max()):.3g}"
        detail += (f" ({gap}). A sample's prediction depends on the other test samples: no statistics of the "
                   "test batch in eval mode (use running or training statistics; CONTRIBUTING, 'No statistics "
                   "from test data')")
    return Finding(check, agree, detail)


def _seed_followed(first: Any, second: Any, out_first: Any, out_second: Any, generator_reset: bool) -> Finding:
    """Seeds 0 and 1 must give different initial weights, and ``build`` must not reseed torch itself."""
    a, b = _weights(first), _weights(second)
    weights_differ = len(a) != len(b) or any(x.shape != y.shape or not x.equal(y) for x, y in zip(a, b))
    outputs_differ = not _same(out_first, out_second, atol=0.0, rtol=0.0)
    ok = (weights_differ or outputs_differ) and not generator_reset
    if generator_reset:
        detail = ("build() reseeds torch's generator (torch.manual_seed): seeds 0 and 1 left it in the same state, "
                  "so every run and fold gets the same initialisation whatever its seed. Remove the seeding from "
                  "build; the engine seeds torch before it calls build")
    elif not ok:
        detail = ("seeds 0 and 1 gave the same initial weights and outputs: the run's seed does not reach the model. "
                  "Initialise from torch's default generator (which the engine seeds), not a generator or seed of "
                  "the plugin's own")
    else:
        detail = "seeds 0 and 1 gave different initial weights" if weights_differ else \
            "seeds 0 and 1 gave different outputs"
    return Finding("seed", ok, detail)


def _check_estimator(model: Any, build: Callable[..., Any], options: dict[str, Any], inputs: Any) -> list[Finding]:
    import numpy as np

    if not is_estimator(model):
        return [Finding("output shape", False, f"build returned {_a(model)}: neither a torch.nn.Module nor fit/predict")]
    features = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    labels = np.arange(len(features)) % 3
    first = seeded(model, 0).fit(features, labels).predict(features)
    second = seeded(build(dict(options), inputs.shape[1], 3, inputs.shape[2]), 0).fit(features, labels).predict(features)
    valid = np.asarray(first).shape == (len(features),) and set(np.asarray(first).tolist()) <= {0, 1, 2}
    same = bool(np.array_equal(first, second))
    alone = np.concatenate([np.asarray(model.predict(features[i:i + 1])).reshape(-1) for i in range(len(features))])
    independent = bool(np.array_equal(np.asarray(first).reshape(-1), alone))
    return [
        Finding("output shape", valid, f"predict gave {np.asarray(first).shape} with classes {sorted(set(np.asarray(first).tolist()))}"),
        Finding("determinism", same, "two fits with the same seed predicted " + ("the same" if same else "differently")),
        _estimator_seed(build(dict(options), inputs.shape[1], 3, inputs.shape[2])),
        Finding("batch independence", independent,
                f"predictions of {len(features)} samples at once and one by one agreed: {independent}"
                + ("" if independent else ": a sample's prediction depends on the other test samples; use no "
                   "statistics of the samples predict() is given")),
    ]


def _estimator_seed(estimator: Any) -> Finding:
    """An estimator's ``random_state`` must follow the fold's seed: left unset, so that the engine sets it."""
    fixed = fixed_random_states(estimator)
    if fixed:
        values = estimator.get_params(deep=True)
        return Finding("seed", False, f"build() fixes {', '.join(f'{key}={values[key]!r}' for key in fixed)}, so seeds 0 and 1 fit the same model and "
                       "--seed changes nothing; leave random_state unset (None): merbench gives it each fold's seed")
    return Finding("seed", True, "random_state is unset or absent: it follows the fold's seed")


def _quick_run(name: str, registry: Any, **engine: Any) -> Any:
    """The result of the conformance run (``QUICK_RUN``) of model ``name``, with ``engine`` options on top."""
    sets = {**QUICK_RUN, **{f"engine.{key}": value for key, value in engine.items()}}
    config = resolve_config(registry, model=name, dataset="synthetic", profile="quick", sets=sets)
    with scratch_folder():
        return run_benchmark(config, registry)


def check_quick_run(name: str, registry: Any) -> Finding:
    """A 2-fold ``quick`` run on tiny synthetic data through the public runner API."""
    result = _quick_run(name, registry)
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


def check_batched_run(name: str, registry: Any) -> Finding:
    """The 2-fold ``quick`` run with both folds trained as one batched (``vmap``) computation: what a run on a
    CUDA device does by default (CONTRIBUTING.md, "Running under the batched (vmap) GPU path")."""
    check = "batched folds (vmap, the GPU default)"
    try:
        result = _quick_run(name, registry, parallel_mode="vmap", parallel_folds=2)
    except Exception as exc:
        return Finding(check, False, f"{type(exc).__name__}: {exc} — on a GPU every run of this model would fail "
                       "like this; make forward batchable as CONTRIBUTING.md, 'Running under the batched (vmap) GPU "
                       "path', says")
    ok = len(result.folds) == 2 and math.isfinite(result.pooled["uf1"])
    return Finding(check, ok, f"{len(result.folds)} folds trained together, UF1 {result.pooled['uf1']:.3f}")


def check_model(name: str, registry: Any = None, profiles: Sequence[str] = PROFILES, run: bool = True) -> list[Finding]:
    """Run every conformance check on model ``name``; returns the findings (see the module docstring).

    The tiny synthetic data and its preprocessed inputs go into a temporary cache of the call's own
    (``scratch_folder()``), not into ``MERBENCH_CACHE``, removed when it returns. No check starts a worker
    process (``IN_PROCESS``), so a script may call it without an ``if __name__ == "__main__":`` guard.
    """
    registry = registry or get_registry()
    with scratch_folder():
        return _check_model(name, registry, profiles, run)


def _check_model(name: str, registry: Any, profiles: Sequence[str], run: bool) -> list[Finding]:
    import numpy as np
    from torch import nn

    spec = registry.get("models", name)
    problems = check_metadata(spec, registry)
    findings = [Finding("metadata", not problems, "; ".join(problems))]
    torch_module = False  # a torch model (not a fit/predict estimator): it must also train batched
    for profile in profiles:
        label = f"[{profile}] "
        stage = "build"
        try:
            config = resolve_config(registry, model=name, dataset="synthetic", profile=profile, sets={**TINY_DATA, **IN_PROCESS})
            problems = check_input(spec, registry, config)
            findings.append(Finding(label + "declared input", not problems, "; ".join(problems)))
            if problems:
                continue
            chain, inputs = _tiny_inputs(registry, config)
            shape = check_output_shape(chain, inputs)
            if shape is not None:
                findings.append(Finding(label + shape.check, shape.passed, shape.detail))
            build = resolve_factory(spec.build)
            options = dict(config.section("model"))
            model = build(dict(options), int(inputs.shape[1]), 3, int(inputs.shape[2]))
            stage = "forward" if isinstance(model, nn.Module) else "fit"  # built: what fails now is not the build
            full = profile == "quick"
            if isinstance(model, nn.Module):
                torch_module = True
                found = _check_torch(name, build, options, inputs, full)
            else:
                found = _check_estimator(model, build, options, np.asarray(inputs))
            findings.extend(Finding(label + f.check, f.passed, f.detail) for f in found)
        except Exception as exc:
            findings.append(Finding(label + stage, False, f"{type(exc).__name__}: {exc}"))
    if run:
        try:
            findings.append(check_quick_run(name, registry))
        except Exception as exc:
            findings.append(Finding("2-fold quick run", False, f"{type(exc).__name__}: {exc}"))
        if torch_module and findings[-1].passed:  # a failed quick run would fail batched too: said once
            findings.append(check_batched_run(name, registry))
    return findings


def assert_conformant(name: str, registry: Any = None, profiles: Sequence[str] = PROFILES, run: bool = True) -> list[Finding]:
    """``check_model`` that raises ``ConformanceError`` naming every failed check and its detail."""
    return _passed(f"model '{name}'", check_model(name, registry, profiles, run))


def _passed(what: str, findings: list[Finding]) -> list[Finding]:
    """``findings``, or a ``ConformanceError`` naming ``what`` and every failed check with its detail."""
    failed = [f for f in findings if not f.passed]
    if failed:
        lines = "\n".join(f"  - {f.check}: {f.detail}" for f in failed)
        raise ConformanceError(f"{what} failed {counted(failed, 'conformance check')}:\n{lines}")
    return findings


# ------------------------------------------------------------------ dataset plugins

ORDER_HASH_SEEDS = ("1", "2")
"""``PYTHONHASHSEED`` of the two other processes ``check_sample_order`` loads a dataset in: a set of strings (ids,
file names, class names) iterates in another order in each, as it does from one run of merbench to the next."""

_LOAD_ELSEWHERE = """
import json, sys
sys.path[:] = json.loads(sys.argv[1])
from pathlib import Path
from merbench.cache import cache_root
from merbench.dataset_check import load_for_check, order_facts
from merbench.registry import get_registry
name, root, sets, target = sys.argv[2:]
dataset = load_for_check(get_registry(), name, Path(root) if root else None, json.loads(sets), cache_root())[0]
Path(target).write_text(json.dumps(order_facts(dataset)), encoding="utf-8")
"""
"""The program of such a process: with the caller's ``sys.path`` (the plugin under test importable as here), it loads
the dataset as ``_loaded`` does and writes its ``order_facts``, as JSON (not merbench.testing: it imports
scikit-learn and OpenCV)."""

ORDER_FIX = "sort them, e.g. by id; the folds and so the scores depend on the order"
CLASSES_FIX = "give them in a fixed order, e.g. sorted; a label is a place in them, so the scores depend on it"
FIELD_FIX = "derive it from the data alone, not from set or hash order; the folds and so the scores depend on it"


def _loaded(name: str, root: Path | None, sets: dict[str, Any], registry: Any) -> Any:
    """Dataset ``name`` loaded as ``merbench datasets check`` loads it (and checked as a run checks it)."""
    from merbench.dataset_check import load_for_check

    return load_for_check(registry, name, root, sets, cache_root())[0]


def _facts_elsewhere(name: str, root: Path | None, sets: dict[str, Any], hash_seed: str) -> dict[str, Any]:
    """``order_facts`` of dataset ``name`` loaded in a new process with ``PYTHONHASHSEED=hash_seed``; a load that fails
    there raises ``ConformanceError`` with the end of what it said."""
    import json
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="merbench-order-") as folder:
        target = Path(folder) / "facts.json"
        loaded = subprocess.run(
            [sys.executable, "-c", _LOAD_ELSEWHERE, json.dumps(sys.path), name, str(root or ""), json.dumps(sets, default=str),
             str(target)], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        if loaded.returncode != 0 or not target.is_file():
            said = (loaded.stderr.strip().splitlines() or [f"exit code {loaded.returncode}"])[-1]
            raise ConformanceError(f"loading it in another process (PYTHONHASHSEED={hash_seed}) failed: {said}")
        return json.loads(target.read_text(encoding="utf-8"))


def order_difference(first: Sequence[str], second: Sequence[str]) -> str | None:
    """Where the sample ids ``second`` first differ from ``first`` (``None``: nowhere, and as many)."""
    at = next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), None)
    if at is not None:
        return f"at position {at}: {first[at]!r} the first time, {second[at]!r} the second"
    if len(first) != len(second):
        return f"{counted(len(first), 'sample')} the first time, {len(second)} the second"
    return None


def _shown(field: str, value: Any, classes: Sequence[str]) -> str:
    """``value`` of a sample's ``field`` for a message: a label with its class name where it has one."""
    if field == "label" and isinstance(value, int) and 0 <= value < len(classes):
        return f"{value} ({classes[value]!r})"
    return repr(value)


def facts_difference(here: dict[str, Any], there: dict[str, Any], hash_seed: str) -> str | None:
    """What differs between the ``order_facts`` of a load here and of one in a process with ``PYTHONHASHSEED=hash_seed``,
    and how to fix it (``None``: nothing): the sample order first, then the classes, then a sample's other fields."""
    ids, again = [s[0] for s in here["samples"]], [s[0] for s in there["samples"]]
    difference = order_difference(ids, again)
    if difference is not None:
        what = "its samples in another order" if sorted(ids) == sorted(again) else "other samples"
        return (f"load() returned {what} the second time (in another process, PYTHONHASHSEED={hash_seed}; "
                f"{difference}): {ORDER_FIX}")
    elsewhere = f"in a process with PYTHONHASHSEED={hash_seed}"
    classes = here["classes"]
    if classes != there["classes"]:
        what = "its classes in another order" if sorted(classes) == sorted(there["classes"]) else "other classes"
        return (f"load() returned {what} {elsewhere}: {tuple(classes)} here, {tuple(there['classes'])} there; "
                f"{CLASSES_FIX}")
    for mine, theirs in zip(here["samples"], there["samples"]):
        for field, value, other in zip(SAMPLE_FIELDS[1:], mine[1:], theirs[1:]):
            if value != other:
                return (f"load() gave sample {mine[0]!r} another {field} {elsewhere}: {_shown(field, value, classes)} "
                        f"here, {_shown(field, other, classes)} there; {FIELD_FIX}")
    return None


def check_sample_order(name: str, dataset: Any, root: Path | None = None,
                       sets: dict[str, Any] | None = None) -> Finding:
    """A load of dataset ``name`` in each of two new processes, whose hash seeds differ (``ORDER_HASH_SEEDS``), must
    give what ``dataset`` (its load in this process) has: the samples in the same order, the classes in the same order,
    and each sample's subject, label and domain. A loader that returns set or hash order, shuffles without a fixed
    seed, or numbers classes or subjects by their place in a set gives each run other folds or other classes, and so
    other scores for the same seed."""
    check = "sample order"
    here = order_facts(dataset)
    for hash_seed in ORDER_HASH_SEEDS:
        try:
            there = _facts_elsewhere(name, root, dict(sets or {}), hash_seed)
        except ConformanceError as exc:
            return Finding(check, False, str(exc))
        difference = facts_difference(here, there, hash_seed)
        if difference is not None:
            return Finding(check, False, difference)
    return Finding(check, True, f"{counted(len(here['samples']), 'sample')} in the same order in "
                                f"{1 + len(ORDER_HASH_SEEDS)} processes, with the same classes, subjects, labels and "
                                f"domains")


def check_dataset(name: str, root: Path | str | None = None, sets: dict[str, Any] | None = None,
                  registry: Any = None) -> list[Finding]:
    """Run the conformance checks of dataset plugin ``name`` (``root``: its ``--root``; ``sets``: ``{"dataset.KEY":
    value}`` as ``--set`` gives them); returns one ``Finding`` per check.

    ``load``: it loads as ``merbench datasets check`` loads it, and passes the
    checks every run makes of what ``load()`` returns (a ``Dataset``, unique
    ids, labels, frame indices, frames inside ``root``). ``sample order``: it
    returns its samples in the same order, its classes in the same order, and
    each sample's subject, label and domain alike in this process and in two
    others with other hash seeds (``check_sample_order``). What it writes goes into a
    temporary cache of the call's own (``scratch_folder()``).
    """
    registry = registry or get_registry()
    root = Path(root).expanduser() if root is not None else None
    with scratch_folder():
        try:
            dataset = _loaded(name, root, dict(sets or {}), registry)
        except Exception as exc:
            return [Finding("load", False, f"{type(exc).__name__}: {exc}")]
        counts = f"{counted(len(dataset.samples), 'sample')} of {counted(len(dataset.classes), 'class')}"
        findings = [Finding("load", True, counts), check_sample_order(name, dataset, root, sets)]
    return findings


def assert_dataset_conformant(name: str, root: Path | str | None = None, sets: dict[str, Any] | None = None,
                              registry: Any = None) -> list[Finding]:
    """``check_dataset`` that raises ``ConformanceError`` naming every failed check and its detail."""
    return _passed(f"dataset '{name}'", check_dataset(name, root, sets, registry))
