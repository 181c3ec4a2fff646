"""Facts about a model plugin for a profile: its input, parameter count and FLOPs per sample.

The input shape comes from the run configuration the model would get on the
``synthetic`` dataset (its default chain and preprocessor options, the
profile's values; ``listing_config``, which needs neither that dataset nor the
default protocol installed): a preprocessor object with ``output_shape()`` answers
exactly, otherwise its ``channels`` and ``size`` options are used. Torch models
are built on the ``meta`` device where possible (no memory, no compute) and
their FLOPs per sample (multiply-adds count 2) are counted with
``torch.utils.flop_counter.FlopCounterMode`` on one sample; estimators that are
not torch modules report declared FLOPs only (``ModelPlugin.flops``). Whatever a
plugin prints while its model is built or run goes to stderr, so that
``--json -`` output stays JSON.

Building models imports torch (seconds), so facts are cached in the cache
directory, keyed by the model's name, profile, provider version, resolved
options, the files that define its factories and the torch/timm versions. Each
entry also records the source files loaded when it was computed that its
factories may have read (``loaded_sources``: a helper module beside the factory's);
an entry whose recorded files changed since is computed again, without importing
anything to find out.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import numbers
import os
import site
import sys
import sysconfig
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from merbench.cache import atomic_write_text, cache_root, content_key
from merbench.config import DEFAULT_PROTOCOL, RunConfig, resolve_config
from merbench.contracts import DatasetPlugin, FamilyFactory, ModelPlugin, ProtocolPlugin, resolve_factory
from merbench.errors import MerbenchError, PluginError, error_line
from merbench.registry import Registry

LIST_CLASSES = 3
"""Class count used for the figures shown by ``merbench list``/``info`` (MEGC2019's 3)."""
# 2: a build that returns neither a module nor an estimator is an error, not a kind; 3: entries list their sources
CACHE_FORMAT = "model-facts-3"
CACHED_FIELDS = ("chain", "shape", "kind", "params", "flops", "flops_declared")
LISTING_DATASET = "synthetic"
"""The dataset whose run configuration the figures describe (generated frames: no folder to give)."""
STAND_INS = {
    ("datasets", LISTING_DATASET): DatasetPlugin(
        LISTING_DATASET, load="", description="stand-in: a dataset of frames", needs_root=False, reads_root=False),
    ("protocols", DEFAULT_PROTOCOL): ProtocolPlugin(
        DEFAULT_PROTOCOL, split="", description="stand-in: a protocol", subject_independent=True),
}
"""What answers for the listing's dataset and protocol where they are not installed (``MERBENCH_DISABLE_PLUGINS``):
neither changes a model's options or input, as long as the dataset gives frames, as ``synthetic`` does."""


@dataclass
class ModelFacts:
    """What ``merbench list models`` and ``merbench info`` show for one model and profile."""

    name: str
    profile: str
    chain: tuple[str, ...]
    shape: tuple[int, int, int] | None
    kind: str = "torch"
    params: int | None = None
    flops: float | None = None
    flops_declared: bool = False
    error: str | None = None
    exception: Exception | None = None
    error_stage: str | None = None
    """Where ``error`` happened: ``"build"`` (the model's build or its configuration) or ``"forward"`` (the model
    was built; its forward pass on one sample, which counts the FLOPs, failed)."""

    @property
    def input_text(self) -> str:
        """``C×H×W`` of the input, or a dash."""
        return "×".join(str(n) for n in self.shape) if self.shape else "—"


def human(number: float | None, unit: str = "") -> str:
    """1234567 → ``1.23M``; None → a dash."""
    if number is None:
        return "—"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(float(f"{number:.3g}")) >= factor:  # rounded first: 999,563 is 1.00M, not 1e+03k
            return f"{number / factor:.3g}{suffix}{unit}"
    return f"{number:.3g}{unit}"


def example_name(spec: ModelPlugin) -> str:
    """The name to build for ``spec``: itself, or a family's first example member."""
    if spec.name.endswith(":"):
        return spec.examples[0] if spec.examples else ""
    return spec.name


class _ListingRegistry:
    """``registry``, with ``STAND_INS`` answering for the listing's dataset and protocol where those are missing."""

    def __init__(self, registry: Registry):
        self._registry = registry

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._registry, attribute)

    def get(self, kind: str, name: str) -> Any:
        """The spec ``registry`` has under ``name``, else its stand-in (``Registry.get``'s error when there is none)."""
        if (kind, name) in STAND_INS and name not in self._registry.names(kind):
            return STAND_INS[kind, name]
        return self._registry.get(kind, name)


def listing_config(registry: Registry, name: str, profile: str) -> RunConfig:
    """The run configuration ``merbench list`` and ``info`` describe model ``name`` by: on ``synthetic`` under the
    default protocol, in ``profile`` with no settings; a stand-in answers for either plugin where it is not installed
    (``STAND_INS``), so that disabling them leaves the models' facts as they were."""
    listing = _ListingRegistry(registry)
    return resolve_config(listing, model=name, dataset=LISTING_DATASET, profile=profile)  # type: ignore[arg-type]


def input_shape(registry: Registry, name: str, profile: str) -> tuple[tuple[str, ...], tuple[int, int, int] | None]:
    """The preprocessing chain and (C, H, W) input a model gets in ``profile``."""
    config = listing_config(registry, name, profile)
    last = config.preprocess[-1]
    options = dict(config.section(last))
    step_spec = registry.get("preprocessors", last)
    try:
        step = resolve_factory(step_spec.build)(dict(options))
    except Exception:  # a preprocessor that cannot be built here still has options to read
        step = None
    return config.preprocess, step_output_shape(step, options, registry.label("preprocessors", last))


def step_output_shape(step: Any, options: Mapping[str, Any],
                      plugin: str = "the chain's last preprocessor") -> tuple[int, int, int] | None:
    """The (C, H, W) a chain's last step gives the model, known without data: its ``output_shape()`` when it has
    one, else from its ``channels`` and ``size`` options; ``None`` when neither tells.

    An ``output_shape()`` that raises, or returns anything but three positive whole numbers (``None`` included:
    a step that cannot tell without data leaves the method out), is a ``PluginError`` naming ``plugin``
    (``preprocessor plugin 'NAME' (DISTRIBUTION VERSION)``).
    """
    if step is not None and callable(getattr(step, "output_shape", None)):
        return _declared_shape(step, plugin)
    if "size" not in options or not isinstance(options["size"], int) or options["size"] <= 0:
        return None  # no size, or 0: "as stored" (image.size), which only the data tells
    channels = options.get("channels", ["u", "v", "strain"])
    channels = len(channels) if isinstance(channels, (list, tuple)) else 3
    return channels, int(options["size"]), int(options["size"])


def chain_output_shape(chain: Any) -> tuple[int, int, int] | None:
    """The (C, H, W) input a built ``merbench.preprocess.Chain`` gives the model, known without data
    (``step_output_shape`` of its last step, named as the chain names it), or ``None``."""
    last = len(chain.steps) - 1
    return step_output_shape(chain.steps[last], chain.sections.get(chain.specs[last].name, {}), chain.label(last))


def _declared_shape(step: Any, plugin: str) -> tuple[int, int, int]:
    """``step.output_shape()``, checked (``step_output_shape``)."""
    fix = ("it must return the (C, H, W) its __call__ gives for these options, or be left out where only the data "
           "tells: fix the preprocessor or report it to the plugin's author")
    try:
        shape = step.output_shape()
    except MerbenchError:
        raise
    except Exception as exc:
        if isinstance(exc, MemoryError):
            raise
        raise PluginError(f"{plugin}: its output_shape() raised {error_line(exc)}; {fix}") from exc
    values = list(shape) if isinstance(shape, (tuple, list)) or type(shape).__name__ == "ndarray" else None
    if (values is None or len(values) != 3
            or not all(isinstance(n, numbers.Real) and not isinstance(n, bool) and n > 0 and n == int(n)
                       for n in values)):
        what = repr(shape) if isinstance(shape, (tuple, list)) or shape is None else f"a {type(shape).__name__}"
        raise PluginError(f"{plugin}: its output_shape() returned {what[:80]}, not three positive whole numbers; "
                          f"{fix}")
    return tuple(int(n) for n in values)  # type: ignore[return-value]


def build_for_listing(build: Any, options: dict[str, Any], shape: tuple[int, int, int], n_classes: int) -> tuple[Any, bool]:
    """Build a model for ``shape`` (its lazy layers shaped), on the meta device when it allows; returns (model, on_meta)."""
    import torch

    from merbench.lazy_layers import materialise_lazy_layers

    def built() -> Any:
        return materialise_lazy_layers(build(options, shape[0], n_classes, shape[1]), shape)

    try:
        with torch.device("meta"):
            return built(), True
    except MerbenchError:  # an option or input size the build refuses (timm's too-deep check runs on meta only)
        raise
    except Exception:  # some factories compute on tensors while building: retry for real
        return built(), False


def count_flops(model: Any, shape: tuple[int, int, int], device: str = "cpu") -> float:
    """FLOPs of one forward pass of one sample (multiply-add = 2 FLOPs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    sample = torch.zeros(1, *shape, device=device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(sample)
    return float(counter.get_total_flops())


def _factory_module(factory: Any) -> str:
    """The name of the module that defines ``factory`` (for a family member's, the family's factory)."""
    if isinstance(factory, FamilyFactory):
        factory = factory.build
    if isinstance(factory, str):
        return factory.partition(":")[0]
    return getattr(factory, "__module__", None) or ""


def _file_state(path: str) -> list[Any]:
    """``[path, size, modification time]`` of a file; ``[path]`` when it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return [path]
    return [path, stat.st_size, stat.st_mtime_ns]


def _source_fingerprint(factory: Any) -> list[Any]:
    """Path, size and modification time of the module defining ``factory``, without importing it."""
    module_name = _factory_module(factory)
    origin = getattr(sys.modules.get(module_name), "__file__", None)
    if origin is None:
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            found = None
        origin = found.origin if found is not None else None
    if not origin:
        return [repr(factory)]
    return _file_state(origin)


def _library_folders() -> tuple[str, ...]:
    """The folders of the Python installation: its standard library and its installed distributions (site-packages)."""
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    folders.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        folders.add(site.getusersitepackages())
    return tuple(os.path.join(folder, "") for folder in folders)


def loaded_sources(factories: list[Any]) -> list[list[Any]]:
    """The files the code of ``factories`` may have read, with their size and modification time (``_file_state``).

    Called after the model was built, when the modules its factories import are loaded. It takes every loaded
    module whose file is outside the Python installation's standard library and site-packages (a plugin installed
    with ``pip install -e``, code on ``PYTHONPATH``, merbench's own in a checkout), and any inside the folder of a
    factory's top-level package or, for a factory in a top-level module (``stale_net.py``), the top-level modules
    beside it (``stale_layers.py``). A few unrelated files more only cost a recomputation when they change.
    """
    libraries = _library_folders()
    packages, module_folders = [], []
    for factory in factories:
        top = sys.modules.get(_factory_module(factory).partition(".")[0])
        top_file = getattr(top, "__file__", None)
        if top_file and hasattr(top, "__path__"):
            packages.append(os.path.join(os.path.dirname(top_file), ""))
        elif top_file:
            module_folders.append(os.path.dirname(top_file))
    files = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not os.path.isabs(path):
            continue  # built into the interpreter, a namespace package, or not a module (torch.ops says "_ops.py")
        if (not path.startswith(libraries) or path.startswith(tuple(packages))
                or ("." not in name and os.path.dirname(path) in module_folders)):
            files.add(path)
    return [_file_state(path) for path in sorted(files)]


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def facts_key(registry: Registry, name: str, profile: str) -> str:
    """The cache key of ``model_facts(registry, name, profile)`` (computing it imports no torch)."""
    spec = registry.get("models", name)
    provider = registry.provider("models", name)
    config = listing_config(registry, name, profile)
    steps = {step: dict(config.section(step)) for step in config.preprocess}
    step_factory = registry.get("preprocessors", config.preprocess[-1]).build
    return content_key(
        CACHE_FORMAT, name, profile, LIST_CLASSES, provider.distribution, provider.version,
        dict(config.section("model")), list(config.preprocess), steps, dict(spec.flops),
        _source_fingerprint(spec.build), _source_fingerprint(step_factory), _version("torch"), _version("timm"),
    )


def _cache_file(key: str) -> Path:
    return cache_root() / "model-facts" / f"{key}.json"


def _read_cached(name: str, profile: str, path: Path) -> ModelFacts | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if [_file_state(state[0]) for state in stored["sources"]] != stored["sources"]:
            return None  # a module the factory imports was edited since: computed again
        facts = ModelFacts(name, profile, tuple(stored["chain"]), tuple(stored["shape"]) if stored["shape"] else None)
        facts.kind, facts.params, facts.flops = str(stored["kind"]), stored["params"], stored["flops"]
        facts.flops_declared = bool(stored["flops_declared"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None  # missing or damaged: computed again
    return facts if _well_typed(facts) else None  # edited by hand: computed again, not shown as text


def _is_count(value: Any, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _well_typed(facts: ModelFacts) -> bool:
    """Whether cached facts hold the kinds the listing formats: whole numbers for the parameters and input shape, a
    number for the FLOPs, text for the chain."""
    return (_is_count(facts.params, int) and _is_count(facts.flops, (int, float))
            and all(isinstance(step, str) for step in facts.chain)
            and (facts.shape is None or all(_is_count(size, int) and size is not None for size in facts.shape)))


def _write_cached(facts: ModelFacts, path: Path, sources: list[list[Any]]) -> None:
    record = {key: value for key, value in asdict(facts).items() if key in CACHED_FIELDS}
    try:
        atomic_write_text(path, json.dumps({**record, "sources": sources}))
    except OSError:
        pass  # a read-only cache only costs speed


def model_facts(registry: Registry, name: str, profile: str = "default") -> ModelFacts:
    """Input, parameter count and FLOPs of model ``name`` in ``profile`` (cached; errors are recorded, not raised)."""
    try:
        path = _cache_file(facts_key(registry, name, profile))
    except Exception:  # the configuration itself fails: computing says why
        return compute_model_facts(registry, name, profile)
    cached = _read_cached(name, profile, path)
    if cached is not None:
        return cached
    facts = compute_model_facts(registry, name, profile)
    if facts.error is None:
        factories = [registry.get("models", name).build]
        if facts.chain:
            factories.append(registry.get("preprocessors", facts.chain[-1]).build)
        _write_cached(facts, path, loaded_sources(factories))
    return facts


def compute_model_facts(registry: Registry, name: str, profile: str = "default") -> ModelFacts:
    """Input, parameter count and FLOPs of model ``name`` in ``profile``, computed now (builds the model).

    What the plugin prints meanwhile goes to stderr: stdout may be holding ``--json -`` output.
    """
    from torch import nn

    spec = registry.get("models", name)
    facts = ModelFacts(name, profile, (), None)
    stage = "build"
    try:
        with contextlib.redirect_stdout(sys.stderr):
            facts.chain, facts.shape = input_shape(registry, name, profile)
            if spec.flops.get(profile) is not None:
                facts.flops, facts.flops_declared = float(spec.flops[profile]), True
            if facts.shape is None:
                return facts
            options = dict(listing_config(registry, name, profile).section("model"))
            model, on_meta = build_for_listing(resolve_factory(spec.build), options, facts.shape, LIST_CLASSES)
            if not isinstance(model, nn.Module):
                if not (callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))):
                    raise TypeError(f"build() returned {'None' if model is None else 'a ' + type(model).__name__}, "
                                    "which is neither a torch.nn.Module nor an estimator with fit(X, y) and predict(X)")
                facts.kind = type(model).__name__
                return facts
            facts.params = sum(p.numel() for p in model.parameters())
            if not facts.flops_declared:
                stage = "forward"
                try:
                    facts.flops = count_flops(model, facts.shape, "meta" if on_meta else "cpu")
                except Exception:
                    if on_meta:  # an op without a meta kernel: count on the CPU instead
                        stage = "build"
                        model = resolve_factory(spec.build)(options, facts.shape[0], LIST_CLASSES, facts.shape[1])
                        stage = "forward"
                        facts.flops = count_flops(model, facts.shape)
                    else:
                        raise
    except Exception as exc:  # a third-party model that cannot be built (or run) is still listed
        facts.error = f"{type(exc).__name__}: {exc}"
        facts.exception = exc
        facts.error_stage = stage
    return facts


SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The folder above the package: a source checkout's root (baseline paths are shown relative to it)."""
SYNTHETIC_BASELINE = SOURCE_ROOT / "benchmarks" / "baselines" / "synthetic-default.yaml"
"""The stored default-profile baseline that ``merbench info`` quotes (present in a source checkout)."""
MEASURED_METRICS = ("uf1", "uar", "accuracy")


@dataclass(frozen=True)
class Measured:
    """What a stored baseline entry says merbench measured for a model under one protocol."""

    protocol: str
    mean: dict[str, float]
    std: dict[str, float]
    runs: int
    seconds_per_run: float | None


@dataclass(frozen=True)
class StoredMeasurements:
    """The synthetic default-profile entries of one model in a baseline file, and where they come from."""

    path: Path
    rows: tuple[Measured, ...]
    date: str | None = None
    machine: str | None = None
    problem: str | None = None


def _entry_measured(raw: dict[str, Any], defaults: dict[str, Any]) -> Measured:
    metrics = raw.get("metrics") or {}
    derived = raw.get("derived") or {}
    mean = {m: float(metrics[m]["expected"]) for m in MEASURED_METRICS
            if isinstance(metrics.get(m), dict) and isinstance(metrics[m].get("expected"), (int, float))}
    std = {m: float(v) for m, v in (derived.get("std") or {}).items() if m in mean and isinstance(v, (int, float))}
    seconds = derived.get("seconds_per_run")
    return Measured(str(raw.get("protocol", defaults.get("protocol", "subject-10fold"))), mean, std,
                    int(derived.get("runs", 1) or 1), float(seconds) if isinstance(seconds, (int, float)) else None)


def synthetic_measurements(model: str, path: Path | None = None) -> StoredMeasurements:
    """The scores a stored baseline records for ``model`` on ``synthetic`` in the default profile, per protocol.

    Only entries without extra ``set:`` options count (the model as it ships).
    Reads YAML only (no torch, no scikit-learn), so ``merbench info`` stays fast.
    A missing or unreadable file is reported in ``problem``, never raised.
    """
    import yaml

    from merbench.yaml_files import AliasFault, load_value

    path = SYNTHETIC_BASELINE if path is None else path
    try:
        document = load_value(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return StoredMeasurements(path, (), problem="not found in this installation")
    except (yaml.YAMLError, AliasFault):
        return StoredMeasurements(path, (), problem="is not valid YAML (`merbench regress --baseline FILE` says where)")
    except UnicodeDecodeError:
        return StoredMeasurements(path, (), problem="is not a text file")
    except OSError as exc:
        return StoredMeasurements(path, (), problem=f"cannot be read ({exc.strerror or exc})")
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        return StoredMeasurements(path, (), problem="is not a baseline file (no 'entries:' list)")
    defaults = document.get("defaults") if isinstance(document.get("defaults"), dict) else {}
    rows, date, machine = [], None, None
    for raw in document["entries"]:
        if not isinstance(raw, dict) or raw.get("model") != model:
            continue
        merged = {**defaults, **raw}
        if merged.get("dataset", "synthetic") != "synthetic" or merged.get("profile", "default") != "default":
            continue
        if raw.get("set") or defaults.get("set"):
            continue
        try:
            measured = _entry_measured(raw, defaults)
        except (TypeError, ValueError, KeyError):
            continue  # a damaged entry is left out; `merbench regress` names it
        if measured.mean:
            rows.append(measured)
            derived = raw.get("derived") if isinstance(raw.get("derived"), dict) else {}
            date, machine = date or derived.get("date"), machine or derived.get("machine")
    return StoredMeasurements(path, tuple(rows), None if date is None else str(date),
                              None if machine is None else str(machine))
