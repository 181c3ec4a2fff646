"""Resolving a run's configuration: profile defaults, a YAML file, ``--set`` and flags.

Precedence, lowest first: plugin defaults, the profile's values, the model's
default chain and ``preprocess_options`` (``ModelPlugin``), ``--config``
file, ``--set KEY=VALUE``, then the dedicated flags (``--epochs``, ``--seed``).
Without a ``preprocess`` setting, a dataset that gives images gets the
``image`` chain. Every key is validated against the section that owns it (its
type, and its ``option_ranges`` rule: see ``merbench.contracts.OptionRange``);
an unknown key is an error that suggests the closest one and lists its section's.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence

import yaml

from merbench.contracts import resolve_factory
from merbench.errors import MerbenchError, PluginError, UsageError
from merbench.wording import some_of
from merbench.result import check_schema_version, document_kind, document_name
from merbench.yaml_files import AliasFault, load_value, read_yaml


_OPTIONS_FILES: dict[tuple[str, bytes], Any] = {}
"""``options_file``'s parsed documents, by path and content digest."""


def options_file(path: Path) -> Any:
    """The parsed ``--config`` file ``path`` (``read_yaml``'s messages for a missing, unreadable or malformed file), a
    copy callers may change. Parsed once per process while its bytes stay the same: a command reads its ``--config``
    in several places, and a run's result of thousands of clips takes seconds to parse."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError:  # a folder, a missing or unreadable file: read_yaml says which
        digest = None
    key = (str(path), digest) if digest is not None else None
    if key not in _OPTIONS_FILES:
        data = read_yaml(path, f"--config {path}", kind="YAML file of options", example=path / "run.yaml")
        if key is None:
            return data
        _OPTIONS_FILES[key] = data
    return copy.deepcopy(_OPTIONS_FILES[key])


class Registry(Protocol):
    """What resolving a configuration asks of ``merbench.registry.Registry`` (not imported here: the registry
    checks plugin specs with this module's option rules, so importing it back would make an import loop)."""

    def get(self, kind: str, name: str) -> Any:
        """The spec registered as ``name`` of ``kind``."""

    def names(self, kind: str) -> list[str]:
        """The names registered of ``kind``."""

    def provider(self, kind: str, name: str) -> Any:
        """Where the plugin registering ``name`` comes from (``builtin``, ``distribution``, ``version``)."""


PROFILES = ("quick", "default", "paper")
DEFAULT_PROTOCOL = "subject-10fold"
DEFAULT_CHAIN = ("flow",)

ENGINE_OPTIONS: dict[str, Any] = {
    "epochs": 20,
    "batch_size": 32,
    "lr": 0.002,
    "weight_decay": 0.05,
    "label_smoothing": 0.0,
    "class_weighting": "none",
    "amp": "auto",
    "threads": 0,
    "early_stopping": 0,
    "validation_fraction": 0.2,
    "preprocess_workers": 0,
    "parallel_folds": "auto",
    "parallel_mode": "auto",
    "compile": False,
    "channels_last": True,
    # Leaky variants, never defaults, flagged in every result (docs/leakage.md): the epoch chosen on the
    # test fold (select_on=test) and channel statistics of all samples, test ones included (normalise_on=all).
    "select_on": "validation",
    "normalise_on": "train",
}

# Where folds (and grid cells) run: ``local`` (this machine) or ``ray`` (a Ray cluster).
EXECUTOR_OPTIONS: dict[str, Any] = {
    "name": "local",
    "address": "auto",
    "num_cpus": 1,
    "num_gpus": 0.0,
    "max_retries": 2,
}
EXECUTORS = ("local", "ray")
PARALLEL_MODES = ("auto", "processes", "vmap")

ENGINE_PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"epochs": 3, "batch_size": 32, "lr": 0.005},
    "default": {"epochs": 20, "batch_size": 32, "lr": 0.002},
    "paper": {"epochs": 100, "batch_size": 64, "lr": 0.001},
}

# Accepted values of the engine's and executor's options, in the ``option_ranges`` format of merbench.contracts.
ENGINE_RANGES: dict[str, Any] = {  # upper bounds far above any sensible value: a typo never runs for days
    "epochs": "[1, 100000]",
    "batch_size": "[1, 100000]",
    "lr": ">= 0",  # no cap: a diverging lr is reported as such, naming the value (engine.py)
    "weight_decay": "[0, 10]",
    "label_smoothing": "[0, 1)",
    "class_weighting": ("none", "balanced"),
    "amp": ("auto", "on", "off"),
    "threads": "[0, 4096]",
    "early_stopping": "[0, 100000]",
    "validation_fraction": "(0, 1)",
    "preprocess_workers": "[0, 4096]",
    "parallel_mode": PARALLEL_MODES,
    "select_on": ("validation", "test"),
    "normalise_on": ("train", "all"),
}
EXECUTOR_RANGES: dict[str, Any] = {"name": EXECUTORS, "num_cpus": "[1, 4096]", "num_gpus": "[0, 1024]",
                                    "max_retries": "[0, 100]"}
SEED_RANGE = "[0, 4294967295]"  # what numpy and scikit-learn take as a seed
SEED_MAX = 2**32 - 1


@dataclass
class RunConfig:
    """Everything that determines a run; ``to_dict()`` is stored with its result."""

    model: str
    dataset: str
    protocol: str
    profile: str
    seed: int
    device: str
    root: Path | None
    preprocess: tuple[str, ...]
    sections: dict[str, dict[str, Any]]
    pinned: dict[str, Any] = field(default_factory=dict)
    """A re-run's (``--config result.json``) options set to what the recorded run resolved (``flow.method: tvl1``
    for its ``auto``, a manifest's absolute path), by dotted key, with the values that record gave: the re-run
    computes what the record did, and is named by the settings of that record (``run_settings``)."""

    def section(self, name: str) -> dict[str, Any]:
        """Options of one section (``dataset``, ``model``, ``engine``, a preprocessor...)."""
        return self.sections[name]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of the resolved configuration; the dataset folder as an absolute path (without ``..``,
        links kept), so that a stored run names the folder it read wherever it is resumed or compared from."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "protocol": self.protocol,
            "profile": self.profile,
            "seed": self.seed,
            "device": self.device,
            "root": os.path.abspath(self.root) if self.root else None,
            "preprocess": list(self.preprocess),
            "options": copy.deepcopy(self.sections),
            **({"pinned": dict(self.pinned)} if self.pinned else {}),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> "RunConfig":
        """The configuration ``to_dict()`` wrote (a stored run's); runs stored before an engine or executor
        option existed get its default."""
        sections = copy.deepcopy(dict(stored["options"]))
        sections["executor"] = {**EXECUTOR_OPTIONS, **sections.get("executor", {})}
        sections["engine"] = {**ENGINE_OPTIONS, **sections["engine"]}
        return cls(
            model=stored["model"],
            dataset=stored["dataset"],
            protocol=stored["protocol"],
            profile=stored["profile"],
            seed=int(stored["seed"]),
            device=stored["device"],
            root=Path(stored["root"]) if stored["root"] else None,
            preprocess=tuple(stored["preprocess"]),
            sections=sections,
            pinned=dict(stored.get("pinned") or {}),
        )


COMPILE_WITH_VMAP = ("engine.compile=true is not applied to batched folds (engine.parallel_mode=vmap); drop one of "
                     "them (engine.parallel_mode=auto with engine.compile=true trains the folds one after another, "
                     "compiling the model once)")
"""Why ``engine.compile=true`` with ``engine.parallel_mode=vmap`` is refused (preflight, and the fold plan)."""
VMAP_TORCH_ONLY = ("engine.parallel_mode=vmap trains torch models without early stopping only; "
                   "use engine.parallel_mode=processes (or auto) for this run")
"""Why ``engine.parallel_mode=vmap`` is refused with early stopping or a model fitted in one go (preflight, the plan)."""


def parse_set(items: list[str]) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings (raw values are coerced later, per key); a key given again overrides the earlier
    value (a base list of settings followed by a change, as scripts and aliases write them)."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, for example --set model.depth=8")
        parsed[key] = value
    return parsed


def with_executor_flag(sets: dict[str, str], executor: str | None, config_file: Path | None = None) -> dict[str, str]:
    """``sets`` with ``--executor NAME`` as ``executor.name``; a ``--set executor.name`` that disagrees is refused,
    and so is a YAML ``config_file`` (``--config``) whose ``executor: name:`` disagrees, as a model or profile there
    that disagrees with its flag is. A run's recorded configuration given as ``--config`` is not: it ran somewhere,
    and the flag says where to run it again, as ``--device`` does."""
    if not executor:
        return sets
    given = sets.get("executor.name")
    if given is not None and str(given).strip() != executor:
        raise UsageError(f"--executor {executor} and --set executor.name={given} disagree; give the executor once")
    named = _executor_in_options_file(config_file) if config_file is not None else None
    if named is not None and str(named).strip() != executor:
        raise UsageError(f"--executor {executor} and executor.name={named} in --config {config_file} disagree; "
                         "give the executor once")
    return {**sets, "executor.name": executor}


def _executor_in_options_file(path: Path) -> Any:
    """The ``executor.name`` a YAML file of options sets; ``None`` when it sets none or is a run's recorded
    configuration."""
    data = options_file(path)
    if not isinstance(data, dict) or _as_settings(data, path) is not data:
        return None
    return load_config_file(path).get("executor.name")


def written(value: Any) -> str:
    """A value read from a YAML or JSON file as such a file writes it: ``null``, ``5``, ``"abc"``, ``[1, 2]`` (a date
    or another value JSON has no form for as quoted text)."""
    return json.dumps(value, default=str, ensure_ascii=False)


def _as_settings(data: dict[str, Any], path: Path, given: Iterable[str] | None = None) -> dict[str, Any]:
    """A run's recorded configuration (a result JSON, or its ``config`` as ``RunConfig.to_dict`` wrote it) as the
    settings of a config file, so that ``--config result.json`` runs it again; anything else as it is. A summary
    (tune, leakage, grid) or a result without a readable configuration is refused. ``given``: the dotted keys the
    command gives itself (``--set``), which the recorded run's are not pinned for; ``None`` when unknown.

    The device and the dataset's folder are the machine's, not the run's: give them with --device and --root.
    """
    kind = document_kind(data)
    if kind not in (None, "run"):
        raise UsageError(f"--config {path}: {document_name(kind)}, not a configuration; give a YAML file of options "
                         "or a run's result (merbench run --json, merbench show ID --json FILE)")
    if kind == "run":
        check_schema_version(data, f"--config {path}")
    recorded = data.get("config") if kind == "run" else data
    is_recorded = isinstance(recorded, dict) and isinstance(recorded.get("options"), dict) and "model" in recorded
    if kind == "run" and not is_recorded:
        raise UsageError(f"--config {path}: a run's result without a readable recorded configuration ('config' with "
                         "'options'); the file is damaged or too old: give a YAML file of options")
    if not is_recorded:
        return data
    for section, options in recorded["options"].items():
        if not isinstance(options, dict):
            where = "its recorded config.options" if kind == "run" else "options"
            fix = ("the result is damaged: give a YAML file of options" if kind == "run" else
                   f"write the section's options under it as KEY: VALUE (e.g. `{section}: {{KEY: VALUE}}`), or leave "
                   "the section out")
            raise UsageError(f"--config {path}: {where}.{section} is {written(options)}, not a mapping of options; "
                             + fix)
    settings: dict[str, Any] = {section: dict(options) for section, options in recorded["options"].items()}
    for section in ("model", "dataset", "protocol"):  # the name beside the section's options, as `name:`
        settings.setdefault(section, {})["name"] = recorded.get(section)
    settings.update({key: recorded[key] for key in ("profile", "seed", "preprocess") if recorded.get(key) is not None})
    if kind == "run":
        _pin_resolved(settings, data)
        _pin_files(settings, data, path, given)
        _pin_folders(settings, data, path, given)
    return settings


def options_as_recorded(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """A stored run's recorded ``options``; a re-run's with each option it pinned to what its record resolved
    (``RunConfig.pinned``: the ``tvl1`` of a recorded ``flow.method=auto``) given back the record's value, so that
    it is named and compared as its record. Assumes ``config["options"]`` is a mapping."""
    options, pinned = config["options"], config.get("pinned")
    if not isinstance(pinned, Mapping) or not pinned:
        return options
    given = {section: dict(values) if isinstance(values, Mapping) else values for section, values in options.items()}
    for dotted, value in pinned.items():
        section, _, key = str(dotted).partition(".")
        if isinstance(given.get(section), dict) and key in given[section]:
            given[section][key] = value
    return given


def recorded_pins(path: Path) -> dict[str, tuple[Any, Any]]:
    """For ``--config`` of a run's result: each dotted option its re-run sets to what the recorded run resolved
    (``_pin_resolved``, ``_pin_files``), as (the value the record gave, the value the re-run runs with); an option
    the record had itself pinned keeps the value its own record gave (``RunConfig.pinned``). Empty for other files."""
    data = options_file(path)
    if not isinstance(data, dict) or document_kind(data) != "run":
        return {}
    recorded = data.get("config") or {}
    unpinned = {section: dict(options) for section, options in (recorded.get("options") or {}).items()
                if isinstance(options, dict)}
    pinned = _as_settings(data, path)
    earlier = recorded.get("pinned") if isinstance(recorded.get("pinned"), dict) else {}
    pins: dict[str, tuple[Any, Any]] = {}
    for section, options in pinned.items():
        for key, value in (options.items() if isinstance(options, dict) else ()):
            dotted, before = f"{section}.{key}", unpinned.get(section, {}).get(key)
            if dotted in earlier or (key in unpinned.get(section, {}) and value != before):
                pins[dotted] = (earlier.get(dotted, before), value)
    return pins


# A step that records what an ``auto`` option resolved to under another key: (step, option) → recorded key.
RESOLVED_AS = {("crop", "detector"): "method"}
# A dataset that records what an ``auto`` option resolved to elsewhere than under the option's name at the top of its
# summary: (dataset, option) → the keys leading to it in the summary.
DATASET_RESOLVED_AS = {("megc2019", "casme2_frames"): ("parts", "casme2", "frames")}


def _pin_resolved(settings: dict[str, Any], result: dict[str, Any]) -> None:
    """Set the values the recorded run resolved on its machine in place of the ``auto`` it was given, so
    that the same command on another machine runs what the record ran, or is refused saying why:

    * a chain step's ``auto`` option as the step resolved it (``flow.method=auto`` ran as ``tvl1``, where another
      OpenCV build would pick ``dis``; ``crop.detector=auto`` ran as ``haar``, where an OpenCV without the cascade
      would crop the centre);
    * a dataset's ``auto`` option as its summary records it (``dataset.frames=auto`` read the ``raw`` tree; a copy
      that has since gained ``Cropped/`` would read that): under the option's name, or where
      ``DATASET_RESOLVED_AS`` says (megc2019's ``dataset.casme2_frames=auto``, as its CASME II part records it);
    * ``engine.threads=0`` of a run on the CPU as the torch threads each fold trained with (``_recorded_threads``):
      2 cores gave 2, where 1 core would give 1 and other last digits of the losses;
    * ``engine.parallel_folds=auto`` of a run on the CPU that batched its folds (``vmap``) as the group it batched
      (``_recorded_group``): the free memory and cores of another machine would choose another group, or fold by
      fold, and batched folds draw their dropout masks together, so each group size trains other models.
    """
    preprocess = result.get("preprocess")
    for step in (preprocess.get("chain") if isinstance(preprocess, dict) else None) or []:
        options = settings.get(step.get("name")) if isinstance(step, dict) else None
        params = step.get("params") if isinstance(step, dict) else None
        if not isinstance(options, dict) or not isinstance(params, dict):
            continue
        for key in options:
            _pin(options, key, params.get(RESOLVED_AS.get((step["name"], key), key)))
    summary, options = result.get("dataset_summary"), settings.get("dataset")
    if isinstance(summary, dict) and isinstance(options, dict):
        for key in list(options):
            _pin(options, key, _recorded(summary, DATASET_RESOLVED_AS.get((options.get("name"), key), (key,))))
    threads = _recorded_threads(result)
    engine = settings.get("engine") or {}
    if threads and str(engine.get("threads", 0)).strip() == "0":
        settings["engine"] = engine = {**engine, "threads": threads}
    group = _recorded_group(result, engine)
    if group and str(engine.get("parallel_folds", "auto")).strip().lower() == "auto":
        settings["engine"] = {**engine, "parallel_folds": str(group)}


def _recorded_group(result: dict[str, Any], engine: dict[str, Any]) -> int | None:
    """The folds a run on the CPU trained as one batched computation: its engine plan's ``group_size``, or 1 where
    ``engine.parallel_mode=vmap`` trained fold by fold (memory held one); ``None`` where it batched nothing, and for
    a run on a GPU, whose arithmetic another GPU does not repeat anyway (and whose group, given to a re-run on the
    CPU, would start that many worker processes)."""
    plan, environment = result.get("engine_plan"), result.get("environment")
    if not isinstance(plan, dict) or not isinstance(environment, dict):
        return None
    if not str(environment.get("device", "")).startswith("cpu"):
        return None
    group = plan.get("group_size")
    if plan.get("executor") == "BatchedFolds" and isinstance(group, int) and not isinstance(group, bool) and group > 1:
        return group
    vmap = str(engine.get("parallel_mode", "")).strip().lower() == "vmap"
    return 1 if vmap and plan.get("executor") == "SequentialFolds" else None


def _recorded_threads(result: dict[str, Any]) -> int | None:
    """The torch threads each fold of a run on the CPU trained with (its engine plan's, else its environment's);
    ``None`` for a run on a GPU or one that recorded none."""
    environment, plan = result.get("environment"), result.get("engine_plan")
    if not isinstance(environment, dict) or not str(environment.get("device", "")).startswith("cpu"):
        return None
    recorded = plan.get("threads_per_fold") if isinstance(plan, dict) else None
    recorded = environment.get("torch_threads") if recorded is None else recorded
    text = str(recorded).strip()
    return int(text) if not isinstance(recorded, bool) and text.isdigit() and int(text) > 0 else None


# A dataset option naming a file that the dataset's summary records as an absolute path: (dataset, option) → the
# summary's key.
RECORDED_FILES = {("manifest", "manifest"): "manifest"}


def recorded_files(dataset: Any, summary: Any) -> dict[str, str | None]:
    """Each option of ``dataset`` that names a file whose path a run records in its dataset summary
    (``RECORDED_FILES``), by option key: the absolute path ``summary`` records, or ``None`` where it records none."""
    summary = summary if isinstance(summary, Mapping) else {}
    found = {}
    for (name, key), recorded_key in RECORDED_FILES.items():
        if name == dataset:
            recorded = summary.get(recorded_key)
            found[key] = recorded if isinstance(recorded, str) and os.path.isabs(recorded) else None
    return found


def _pin_files(settings: dict[str, Any], result: dict[str, Any], path: Path, given: Iterable[str] | None) -> None:
    """Set a dataset option naming a file to the absolute path the recorded run read (``RECORDED_FILES``), unless
    ``given`` holds it: a relative ``dataset.manifest=labels.csv`` is looked for in the working folder first, and
    would read another folder's file. Refused when that file is gone and ``given`` says the command gives no other."""
    options = settings.get("dataset")
    if not isinstance(options, dict):
        return
    for key, recorded in recorded_files(options.get("name"), result.get("dataset_summary")).items():
        if key not in options or f"dataset.{key}" in (given or ()) or recorded is None:
            continue
        if given is not None and not os.path.isfile(recorded):
            raise _recorded_gone(path, f"dataset.{key} {recorded}", key, "file", "rows")
        options[key] = recorded


# A dataset option naming a folder relative to the working folder that the dataset's summary records as an absolute
# path: (dataset, option) → the keys leading to it in the summary.
RECORDED_FOLDERS = {("megc2019", part): ("parts", part, "root") for part in ("smic", "casme2", "samm")}


def _pin_folders(settings: dict[str, Any], result: dict[str, Any], path: Path, given: Iterable[str] | None) -> None:
    """Set a dataset option naming a folder to the absolute folder the recorded run read (``RECORDED_FOLDERS``),
    unless ``given`` holds it: megc2019's ``dataset.smic=megc/SMIC`` of a run without ``--root`` was found in its
    working folder, and would not be found, or would read another copy, from another one. A run with ``--root``
    took a relative folder under it, and its re-run under the ``--root`` it is given (which belongs to the machine).
    Refused when that folder is gone and ``given`` says the command gives no other."""
    options, recorded = settings.get("dataset"), result.get("config")
    if not isinstance(options, dict) or (isinstance(recorded, dict) and recorded.get("root")):
        return
    summary = result.get("dataset_summary") if isinstance(result.get("dataset_summary"), dict) else {}
    for (name, key), keys in RECORDED_FOLDERS.items():
        value, folder = options.get(key), _recorded(summary, keys)
        if name != options.get("name") or f"dataset.{key}" in (given or ()) or not isinstance(value, str) \
                or not value.strip() or not isinstance(folder, str) or not os.path.isabs(folder):
            continue
        if given is not None and not os.path.isdir(folder):
            raise _recorded_gone(path, f"dataset.{key}={value} from {folder}", key, "folder", "files")
        options[key] = folder


def _recorded_gone(path: Path, read: str, key: str, kind: str, content: str) -> UsageError:
    """Why ``--config path`` cannot be run again as recorded: the ``kind`` (file, folder) its run ``read`` is gone."""
    placeholder = "FILE" if kind == "file" else "DIR"
    return UsageError(f"--config {path}: the recorded run read {read}, which is no longer there; put it back, or give "
                      f"the {kind} to read with --set dataset.{key}={placeholder} (the run then differs from the "
                      f"recorded one if its {content} do)")


def _recorded(summary: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value the keys ``path`` lead to in a dataset's summary, ``None`` where they lead nowhere."""
    value: Any = summary
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _pin(options: dict[str, Any], key: str, resolved: Any) -> None:
    """Replace ``options[key]`` when it is ``auto`` and ``resolved`` names what it resolved to."""
    if str(options[key]).lower() == "auto" and isinstance(resolved, str) and resolved.strip() \
            and resolved.lower() != "auto":
        options[key] = resolved


def seeds_recorded_in(path: Path) -> int | None:
    """How many seeds the run whose result ``path`` holds repeated (``--seeds N``; 1 for a single run); ``None`` when
    the file is not a run's result (a YAML file of options)."""
    data = options_file(path)
    if not isinstance(data, dict) or document_kind(data) != "run":
        return None
    across = data.get("across_seeds")
    count = across.get("n") if isinstance(across, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else 1


def load_config_file(path: Path, given: Iterable[str] | None = None) -> dict[str, Any]:
    """Read a YAML config into dotted keys; top-level names may be strings or mappings.

    A run's result JSON (or its recorded ``config``) is read as the settings it ran with (``_as_settings``);
    ``given``: the dotted keys the command sets itself (``--set``), ``None`` when the caller does not say.
    """
    data = options_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a mapping of sections (model:, dataset:, engine: ...)")
    data = _as_settings(data, path, given)
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:  # a section with every option commented out: nothing to set
            continue
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                flat[f"{key}.{sub_key}"] = sub_value
        else:
            flat[str(key)] = value
    return flat


_BOUND = r"([-+]?(?:inf|\d+(?:\.\d*)?(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?))"
_ONE_SIDED = re.compile(rf"^\s*(>=|<=|>|<|≥|≤)\s*{_BOUND}\s*$", re.IGNORECASE)
_INTERVAL = re.compile(rf"^\s*([\[(])\s*{_BOUND}\s*,\s*{_BOUND}\s*([\])])\s*$", re.IGNORECASE)
_SIGNS = {">=": "≥", "<=": "≤", "≥": "≥", "≤": "≤", ">": ">", "<": "<"}


def _bound_text(bound: float) -> str:
    """A range bound as written: a whole number in full (4294967295, not 4.29497e+09), else as ``:g`` shows it."""
    return str(int(bound)) if bound.is_integer() and abs(bound) < 1e15 else f"{bound:g}"


@dataclass(frozen=True)
class Range:
    """A numeric range parsed from an ``option_ranges`` text (``">= 1"``, ``"[0, 1)"``, ...)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> "Range":
        """Parse ``text``; ``ValueError`` when it is not a range."""
        one = _ONE_SIDED.match(text)
        if one:
            sign, bound = _SIGNS[one.group(1)], float(one.group(2))
            if sign in ("≥", ">"):
                return cls(low=bound, low_open=sign == ">", text=f"{sign} {_bound_text(bound)}")
            return cls(high=bound, high_open=sign == "<", text=f"{sign} {_bound_text(bound)}")
        interval = _INTERVAL.match(text)
        if interval:
            opening, low, high, closing = interval.groups()
            if float(low) > float(high):
                raise ValueError(f"{text!r}: the lower bound is above the upper bound")
            return cls(float(low), float(high), opening == "(", closing == ")",
                       f"in {opening}{_bound_text(float(low))}, {_bound_text(float(high))}{closing}")
        raise ValueError(f"{text!r} is not a range; write e.g. '>= 1', '> 0', '[0, 1)' or a tuple of choices")

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


FILE_RULE = "file"
"""The ``option_ranges`` rule of a text option naming a local file (weights): empty, or a file that exists."""


def _not_a_file(key: str, text: str, path: Path, default: Any) -> UsageError:
    """The refusal of a ``FILE_RULE`` option naming ``path``, which is no file: a folder (naming a few of its files)
    or nothing."""
    if not path.is_dir():
        return UsageError(f"{key}={text}: no such file ({path.resolve()}); give the path of an existing local file, or "
                          f"leave it empty (default {_show(default)!r})")
    try:
        inside = sorted(entry.name for entry in path.iterdir() if entry.is_file())
    except OSError:
        inside = []
    files = f" (it holds {some_of(inside, 3)})" if inside else " (it holds no file)"
    return UsageError(f"{key}={text}: {path.resolve()} is a folder, not a file{files}; give the path of the file "
                      f"itself, e.g. {key}={path / (inside[0] if inside else 'FILE')}")


def parse_rule(rule: Any) -> Range | tuple[str, ...] | str | None:
    """An ``option_ranges`` entry as a ``Range``, a tuple of choices, ``FILE_RULE``, or ``None`` (no rule)."""
    if rule is None:
        return None
    if rule == FILE_RULE:
        return FILE_RULE
    if isinstance(rule, str):
        return Range.parse(rule)
    if isinstance(rule, (tuple, list)) and rule:
        return tuple(str(choice) for choice in rule)
    raise ValueError(f"{rule!r} is neither a range text nor a non-empty tuple of choices")


def _scalar(value: Any) -> str:
    """One value as it would be written after ``--set KEY=``: ``true``, ``null``, ``0.001``, ``abc``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"  # YAML's word for it (also `~`), not Python's None
    return str(value)


SHOWN = 200
"""How many characters of a value a message shows (a list of thousands of values is cut, ``…``)."""


def _cut(text: str) -> str:
    """``text``, or its first ``SHOWN`` characters and ``…``."""
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _pieces(value: Any, sep: str, top: bool = True) -> Iterator[str]:
    """``value`` written out piece by piece: a list's items between ``sep``, a list inside it in brackets."""
    if isinstance(value, (list, tuple)):
        yield "" if top else "["
        for i, item in enumerate(value):
            yield sep if i else ""
            yield from _pieces(item, sep, top=False)
        yield "" if top else "]"
    elif isinstance(value, dict):
        yield str(value)
    else:
        yield _scalar(value)


def _show(value: Any, sep: str = ",") -> str:
    """``value`` as it would be written after ``--set KEY=``: ``u,v``, ``true``, ``0.001``; a list inside a list in
    brackets (``[1,2],3``); cut after ``SHOWN`` characters (``_cut``), without writing out the rest."""
    return _cut("".join(itertools.islice(filter(None, _pieces(value, sep)), SHOWN + 1)))


_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False, "null": None, "~": None}


def parse_set_value(text: str) -> Any:
    """The value of ``--set KEY=TEXT``: a decimal integer or number, true/false (yes/no, on/off), null, a
    ``[a, b]`` list, or else the text itself. Unlike YAML 1.1, ``010`` is ten, and ``0x10``, ``1:30``,
    ``1_0`` or a date stay text (the option's type then accepts or refuses them). ``UsageError`` for a list that
    refers to itself through a YAML alias, nests too deeply or expands too far through aliases."""
    stripped = text.strip()
    if not stripped:
        return ""
    if _INTEGER.fullmatch(stripped):
        try:
            return int(stripped)
        except ValueError:  # more digits than Python converts (4300): kept as text, which the option's type refuses
            return stripped
    if _DECIMAL.fullmatch(stripped):
        return float(stripped)
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    if stripped.startswith("["):
        try:
            items = load_value(stripped)
        except (yaml.YAMLError, ValueError):  # ValueError: an integer of over 4300 digits, left to the option's type
            return text
        except AliasFault as exc:
            raise UsageError(f"the value {exc.problem}") from None
        except RecursionError:
            raise UsageError("the value nests lists or mappings thousands of levels deep; give a flatter value") \
                from None
        if isinstance(items, list):  # each item read as a --set value itself (no octal, no dates)
            return [item if isinstance(item, (list, dict)) else parse_set_value(str(item)) for item in items]
    return text


def _parsed(key: str, text: str) -> Any:
    """``parse_set_value(text)``, its refusal naming ``key`` and the text."""
    try:
        return parse_set_value(text)
    except UsageError as exc:
        raise UsageError(f"{key}={_cut(text)}: {exc}") from None


def _expectation(default: Any, rule: Range | tuple[str, ...] | None) -> str:
    """What an option accepts, in words: ``an integer ≥ 1``, ``a finite number in [0, 1)``, ..."""
    if isinstance(rule, tuple):
        return f"one of {', '.join(rule)}"
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (list, tuple)):
        return "a comma-separated list"
    kind = "an integer" if isinstance(default, int) else "a finite number"
    return f"{kind} {rule.text}" if isinstance(rule, Range) else kind


def _refuse(key: str, text: str, default: Any, rule: Range | tuple[str, ...] | None, what: str = "") -> UsageError:
    what = what or ("expected true or false (or yes/no, on/off, 1/0)" if isinstance(default, bool)
                    else f"must be {_expectation(default, rule)}")
    hint = ""
    if isinstance(rule, tuple):
        close = difflib.get_close_matches(text.strip().lower(), [c.lower() for c in rule], n=1, cutoff=0.5)
        what = f"choose one of {', '.join(rule)}"
        hint = f"; did you mean {close[0]}?" if close else ""
    return UsageError(f"{key}={text}: {what}{hint} (default {_show(default) or 'empty'})")


def _number(value: Any) -> Any:
    """``value`` as a float when it is number text YAML 1.1 leaves as a string (``1e-3``, ``inf``, ``nan``)."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def coerce(key: str, value: Any, default: Any, rule: Any = None) -> Any:
    """Convert a ``--set`` or YAML value to the type of the option's default and check it against ``rule``.

    ``rule`` is an ``option_ranges`` entry (see ``merbench.contracts``): a range
    text such as ``">= 1"`` or ``"[0, 1)"``, or a tuple of choices. Floats must be
    finite. Raises ``UsageError`` naming the option, its accepted values and default.
    """
    parsed = parse_rule(rule)
    given = value if isinstance(value, str) else None  # a text option keeps it as typed (a file named 010)
    if isinstance(value, str):
        text = _cut(value)
        value = _parsed(key, value)
    else:
        text = _show(value)
    if isinstance(value, (list, tuple, dict)) and isinstance(default, (bool, int, float)):  # text: said below
        kind = "mapping" if isinstance(value, dict) else "list"
        shown = text if isinstance(value, dict) else f"[{_show(value, ', ')}]"
        raise _refuse(key, shown, default, None, f"expected one value, not a {kind}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _refuse(key, text, default, parsed)
    if isinstance(default, (int, float)):
        value = _number(value) if isinstance(default, float) else value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(key, text, default, parsed)
        if isinstance(default, int):
            if not isinstance(value, int):
                raise _refuse(key, text, default, parsed)
        else:
            try:
                value = float(value)
            except OverflowError:  # a whole number of hundreds of digits: beyond any float
                raise _refuse(key, text, default, parsed) from None
        if (isinstance(value, float) and not math.isfinite(value)) or (isinstance(parsed, Range) and value not in parsed):
            raise _refuse(key, text, default, parsed)
        return value
    if isinstance(default, (list, tuple)):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # one number: a list of one
        if not isinstance(value, (list, tuple)):
            raise _refuse(key, text, default, parsed, "expected a comma-separated list")
        items = list(value)
        element = default[0] if default else None
        numbers = isinstance(element, (int, float)) and not isinstance(element, bool)
        if numbers or (element is None and isinstance(parsed, Range)):  # an empty default's range: numbers
            return [coerce_element(key, text, item, element, default, parsed) for item in items]
        if isinstance(parsed, tuple):
            for item in items:
                if str(item).strip().lower() not in {c.lower() for c in parsed}:
                    raise _refuse(key, _cut(str(item)), default, parsed)
            named = [str(item).strip().lower() for item in items]
            twice = next((item for i, item in enumerate(named) if item in named[:i]), None)
            if twice is not None:  # a list of choices names each once (flow.channels=u,u is a slip)
                raise UsageError(f"{key}={text}: {twice} is given twice; give each once "
                                 f"(default {_show(default)})")
        return items
    if (default is None or default == "") and isinstance(parsed, Range):
        return _unset_number(key, text, value, default, parsed)
    if default is None or isinstance(default, str):
        if value is None and not isinstance(parsed, tuple):  # YAML null (~), --set KEY=null: unset, as its default
            return default
        if isinstance(value, (list, tuple, dict)):
            typed = isinstance(value, dict) or text.lstrip().startswith("[")  # as --set gave it, else YAML's list
            raise _refuse(key, text if typed else f"[{_show(value, ', ')}]", default, parsed,
                          "expected one value (text), not a list or mapping")
        if isinstance(value, bool) and isinstance(parsed, tuple):  # YAML reads `amp: off` as false
            spelled = {True: ("on", "yes", "true"), False: ("off", "no", "false")}[value]
            value = next((choice for choice in parsed if str(choice).lower() in spelled), text)
        if not isinstance(value, str):  # numbers, dates, null: the text as given
            value = given if given is not None else _scalar(value)
        if parsed == FILE_RULE and str(value).strip() and not Path(str(value).strip()).expanduser().is_file():
            raise _not_a_file(key, text, Path(str(value).strip()).expanduser(), default)
        if isinstance(parsed, tuple):
            canonical = {c.lower(): c for c in parsed}.get(str(value).strip().lower())
            if canonical is None:
                raise _refuse(key, text, default, parsed)
            return canonical
        return value
    return value


def _unset_number(key: str, text: str, value: Any, default: Any, rule: Range) -> Any:
    """The value of an option whose default is unset (``None``, ``""``) and whose rule is a number range: a number
    inside the range, kept as given (an integer stays one), or unset again (``null``, an empty value)."""
    if value is None or value == "":
        return default
    if isinstance(value, (list, tuple, dict)):
        raise _refuse(key, text, default, rule, f"expected one value ({_expectation(default, rule)}), not a list "
                                                "or mapping")
    good = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not good or (isinstance(value, float) and not math.isfinite(value)) or value not in rule:
        raise _refuse(key, text, default, rule)
    return value


def coerce_element(key: str, text: str, item: Any, element: Any, default: Any, rule: Range | tuple[str, ...] | None) -> Any:
    """One number of a list option, of the type of the default's elements (``element``; ``None``: an integer or a
    number, as given), inside ``rule``."""
    if isinstance(item, str):
        item = _parsed(key, item)
    item = _number(item) if isinstance(element, float) else item
    good = isinstance(item, (int, float)) and not isinstance(item, bool)
    if good and isinstance(element, int) and not isinstance(element, bool):
        good = isinstance(item, int)
    if good:
        try:
            item = float(item) if isinstance(element, float) else item
        except OverflowError:  # a whole number of hundreds of digits: beyond any float
            good = False
    if good:
        good = (not isinstance(item, float) or math.isfinite(item)) and (not isinstance(rule, Range) or item in rule)
    if not good:
        raise _refuse(key, text, default, rule, f"every value must be {_expectation(element, rule)}")
    return item


def _defaults(spec: Any, profile: str) -> dict[str, Any]:
    options = dict(spec.options)
    options.update(spec.profiles.get(profile, {}))
    return options


NO_FOLDER = "--root {root}: dataset '{name}' is generated and reads no folder; drop --root"
NO_ROOT = (
    "dataset '{name}' reads your own copy of the data, which is licensed and not shipped with merbench: "
    "give its folder with --root DIR (the expected layout is in docs/datasets.md; "
    "`merbench datasets check {name} --root DIR` checks a copy without training)"
)
NO_ROOT_PLUGIN = (
    "dataset '{name}' reads a copy of its data from a folder: give it with --root DIR (the expected layout is in "
    "{docs}, which provides it; `merbench datasets check {name} --root DIR` checks a copy without training)"
)


def layout_docs(registry: Registry, dataset: str) -> str:
    """Where a dataset's folder layout is described: docs/datasets.md for merbench's own, else its distribution's
    documentation (merbench's docs know nothing of a plugin's layout)."""
    provider = registry.provider("datasets", dataset)
    return "docs/datasets.md" if provider.builtin else f"the documentation of {provider.distribution} {provider.version}"


def no_root_message(registry: Registry, dataset: str) -> str:
    """The error for a dataset that reads a folder given no ``--root``: merbench's own licensed corpora say where
    their layout is described here; a plugin's dataset points to its distribution."""
    if registry.provider("datasets", dataset).builtin:
        return NO_ROOT.format(name=dataset)
    return NO_ROOT_PLUGIN.format(name=dataset, docs=layout_docs(registry, dataset))


def engine_defaults(profile: str) -> dict[str, Any]:
    """The ``engine.*`` options of ``profile`` before any ``--set``."""
    return {**ENGINE_OPTIONS, **ENGINE_PROFILES[profile]}


def dataset_gives(spec: Any, root: Path | None, options: Mapping[str, Any]) -> str:
    """What a dataset's samples are (``"frames"`` or ``"image"``), known before loading it.

    ``DatasetPlugin.gives`` is either that word or a factory ``(root, options) ->
    str`` that reads only what it needs (a manifest's CSV). A factory that
    fails answers ``"frames"``: loading the dataset then reports the problem.
    """
    gives = getattr(spec, "gives", "frames")
    if gives in ("frames", "image"):
        return gives
    try:
        answer = resolve_factory(gives)(root, dict(options))
    except Exception:  # the loader reports a broken tree or manifest with its own message
        return "frames"
    return answer if answer in ("frames", "image") else "frames"


def default_chain(model_spec: Any, gives: str) -> tuple[str, ...]:
    """The chain used when the user names none: images as they are, else the model's (``model_spec`` may be
    ``None``), else ``flow``."""
    if gives == "image":
        return ("image",)
    return tuple(getattr(model_spec, "preprocess", ())) or DEFAULT_CHAIN


def preprocess_options_problems(model: str, spec: Any, registry: Registry, steps: Iterable[str] | None = None
                                ) -> list[str]:
    """Why model ``model``'s ``ModelPlugin.preprocess_options`` cannot be applied (empty: they can): an option a
    registered step does not have, or a value its option refuses, checked as ``--set STEP.OPTION=VALUE`` would be
    (``coerce`` and the step's ``option_ranges``). Each names the model, the key and the fix; the registry reports
    them when the plugins load, and a run refuses those of the steps in its chain (``steps``; ``None``: every step).
    A step no registered preprocessor is is no problem: an optional plugin that is not installed may provide it
    (``preprocess_options_notes`` says when it looks like a typo)."""
    wishes = getattr(spec, "preprocess_options", None) or {}
    where = f"model '{model}'s preprocess_options"
    fix = "fix ModelPlugin.preprocess_options in its plugin, or report it to the plugin's author"
    if not isinstance(wishes, Mapping):
        return [f"{where} is a {type(wishes).__name__}, not a mapping of steps to option values; write e.g. "
                "{'flow': {'size': 28}}"]
    registered = registry.names("preprocessors")
    wanted = None if steps is None else set(steps)
    problems = []
    for step, values in wishes.items():
        if step not in registered or (wanted is not None and step not in wanted):
            continue
        if not isinstance(values, Mapping):
            problems.append(f"{where}['{step}'] is a {type(values).__name__}, not a mapping of option values; write "
                            f"e.g. {{'{step}': {{'OPTION': VALUE}}}}")
            continue
        step_spec = registry.get("preprocessors", step)
        options = dict(step_spec.options)
        rules = dict(getattr(step_spec, "option_ranges", {}) or {})
        for option, value in values.items():
            if option not in options:
                close = difflib.get_close_matches(str(option), list(options), n=1, cutoff=0.6)
                problems.append(f"{where} set {step}.{option}, which is not an option of preprocessor '{step}'"
                                + (f" (did you mean {step}.{close[0]}?)" if close else "")
                                + f"; its options: {', '.join(options) or 'none'}; {fix}")
                continue
            try:
                coerce(f"{step}.{option}", copy.deepcopy(value), options[option], rules.get(option))
            except MerbenchError as exc:
                problems.append(f"{where} set {exc}; {fix}")
    return problems


def preprocess_options_notes(model: str, spec: Any, registry: Registry) -> list[str]:
    """Steps of model ``model``'s ``preprocess_options`` that no registered preprocessor is but whose name is close to
    one that is (``flwo``: did you mean ``flow``?), for ``merbench plugins``; a run never applies them."""
    wishes = getattr(spec, "preprocess_options", None) or {}
    registered = registry.names("preprocessors")
    notes = []
    for step in wishes if isinstance(wishes, Mapping) else ():
        close = difflib.get_close_matches(str(step), registered, n=1, cutoff=0.6)
        if step not in registered and close:
            notes.append(f"model '{model}'s preprocess_options name step '{step}', which no registered preprocessor "
                         f"is (did you mean '{close[0]}'?), so a run applies them to no step; if it is a typo, fix "
                         "ModelPlugin.preprocess_options in its plugin, or report it to the plugin's author")
    return notes


def _plugin_rules(kind: str, spec: Any) -> dict[str, Any]:
    """A plugin's ``option_ranges``, each checked to be a valid rule (a bad one is the plugin's error)."""
    rules = dict(getattr(spec, "option_ranges", {}) or {})
    for option, rule in rules.items():
        try:
            if option not in spec.options:
                raise ValueError(f"'{option}' is not one of its options ({', '.join(spec.options) or 'none'})")
            parse_rule(rule)
        except ValueError as exc:
            raise PluginError(f"{kind} '{spec.name}' declares option_ranges[{option!r}]: {exc}") from None
    return rules


def resolve_section(spec: Any, kind: str, profile: str = "default", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One plugin's options without a whole run: its defaults, its profile's, then ``KIND.KEY=VALUE`` overrides.

    Each override is coerced to its default's type and checked against the plugin's
    ``option_ranges`` exactly as ``resolve_config`` does; then a key that is not one
    of the plugin's options is refused, listing the valid ones (raises ``UsageError``).
    ``merbench datasets check`` resolves its dataset this way.
    """
    options, rules = _defaults(spec, profile), _plugin_rules(kind, spec)
    overrides = overrides or {}
    for key, value in overrides.items():
        section, _, option = str(key).partition(".")
        if section == kind and option in options:
            options[option] = coerce(key, value, options[option], rules.get(option))
    for key in overrides:
        section, _, option = str(key).partition(".")
        if section != kind or option not in options:
            valid = ", ".join(f"{kind}.{o}" for o in options) or "none"
            raise UsageError(f"unknown setting '{key}' for {kind} '{spec.name}'. Valid settings: {valid}")
    return options


def _seed(flag: int | None, from_settings: Any, source: str | None = None) -> int:
    """The run's seed from ``--seed`` or ``seed=`` in --set/--config (both must agree): a whole number 0..2**32-1.

    ``source`` names where ``seed=`` came from (``--config FILE``), put before its error and in the refusal of a
    ``--seed`` that disagrees (``disagreement``).
    """
    try:
        settled = None if from_settings is None else coerce("seed", from_settings, 0, SEED_RANGE)
    except UsageError as exc:
        raise _with_source(exc, {"seed": source} if source else None, "seed") from None
    if flag is None:
        return 0 if settled is None else settled
    if not 0 <= flag <= SEED_MAX:
        raise UsageError(f"--seed {flag}: must be an integer {Range.parse(SEED_RANGE).text} (default 0)")
    if settled is not None and settled != flag:
        raise disagreement(f"--seed {flag}", "seed", settled, flag, source)
    return flag


def disagreement(flag: str, key: str, value: Any, wanted: Any, source: str | None = None) -> UsageError:
    """The refusal of ``flag`` (``--seed 5``) beside ``key=value`` from ``--set`` or ``--config`` (``source``: the
    ``--config FILE`` it came from, ``None`` for ``--set``). A flag never silently overrides a setting: given both
    with ``--set``, the user is told to give it once; beside a ``--config`` file, the user gave it once, and is told
    how to run that file's configuration with another value: ``--set key=wanted``, which overrides the file."""
    what = key.rpartition(".")[2]
    if source is None:
        return UsageError(f"{flag} and {key}={value} (in --set/--config) disagree; give the {what} once")
    config = source.removeprefix("--config ").strip()
    recorded = "the recorded configuration" if _is_result(Path(config)) else "its configuration"
    noun = {"epochs": "number of epochs"}.get(what, what)
    return UsageError(f"{flag} and {key}={value} in {source} disagree; to run {recorded} with another {noun}, use "
                      f"--set {key}={wanted} (or drop {key} from the --config file)")


def _is_result(path: Path) -> bool:
    """Whether the ``--config`` file ``path`` holds a run's result (``False`` where it cannot be read)."""
    try:
        return document_kind(options_file(path)) == "run"
    except MerbenchError:
        return False


def sets_for_protocol(sets: Mapping[str, Any], protocol: str, protocols: Iterable[str], registry: Registry) -> dict[str, Any]:
    """The user's settings for a run under ``protocol``, one of several ``protocols`` run with the same settings.

    A ``protocol.*`` option that only another of the protocols has (e.g.
    ``protocol.n_splits`` of ``subject-10fold`` beside ``loso``) is left out;
    one that none of them has stays, so that resolving the configuration names it.
    """
    return sets_for_run(sets, registry, {"protocol": protocol}, {"protocol": protocols})


ROUTED_KINDS = {"model": "models", "dataset": "datasets", "protocol": "protocols"}
"""The sections whose options belong to a named plugin, with the plugin's kind: a grid routes their settings."""


def plugin_options(registry: Registry, section: str, name: str, profile: str | None = None) -> list[str]:
    """The options the ``section`` plugin ``name`` has, in its order (with its ``profile``'s; without one, every
    profile's)."""
    spec = registry.get(ROUTED_KINDS[section], name)
    profiles = getattr(spec, "profiles", None) or {}
    chosen = [profiles.get(profile, {})] if profile is not None else list(profiles.values())
    return list(dict.fromkeys([*spec.options, *(option for options in chosen for option in options)]))


def sets_for_run(sets: Mapping[str, Any], registry: Registry, names: Mapping[str, str],
                 siblings: Mapping[str, Iterable[str]], profile: str | None = None) -> dict[str, Any]:
    """The user's settings for one of several runs given the same settings (a grid's cells, a leakage study's runs).

    ``names`` holds this run's plugin per section (``{"model": "ststnet", ...}``), ``siblings`` the plugins the
    other runs have in those sections. A ``model.*``, ``dataset.*`` or ``protocol.*`` option that this run's
    plugin lacks but a sibling has (``model.C`` of ``lbptop-svm`` beside ``ststnet``; ``protocol.n_splits`` of
    ``subject-10fold`` beside ``loso``) is left out; one that none of them has stays, so that resolving the
    configuration names it.
    """
    kept: dict[str, Any] = {}
    for key, value in sets.items():
        section, dot, option = str(key).partition(".")
        name = names.get(section)
        if dot and name and option not in plugin_options(registry, section, name, profile):
            others = {other for other in siblings.get(section, ()) if other != name}
            if any(option in plugin_options_or_none(registry, section, other, profile) for other in others):
                continue
        kept[key] = value
    return kept


def plugin_options_or_none(registry: Registry, section: str, name: str, profile: str | None) -> list[str]:
    """``plugin_options``; none for a name that is not registered (the run or cell of that name says so, not the
    caller)."""
    try:
        return plugin_options(registry, section, name, profile)
    except MerbenchError:
        return []


def resolve_config(
    registry: Registry,
    *,
    model: str | None,
    dataset: str | None,
    protocol: str | None = None,
    profile: str | None = None,
    seed: int | None = None,
    device: str = "auto",
    root: Path | None = None,
    epochs: int | None = None,
    sets: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    model_optional: bool = False,
    sibling_protocols: Sequence[str] = (),
    sibling_models: Sequence[str] = (),
    sibling_datasets: Sequence[str] = (),
) -> RunConfig:
    """Build a validated ``RunConfig``; raises ``UsageError`` on any bad name, key or value.

    Every value given by the user is checked for its type and against the
    ``option_ranges`` of the section that owns it. Without a ``preprocess``
    setting the chain follows what the dataset gives (``image`` for
    precomputed images), then the model's default chain, then ``flow``.
    With ``model_optional`` (``merbench preprocess`` without ``--model``) no
    model is needed: the model section is empty and the chain follows the
    dataset alone.

    ``sibling_protocols``, ``sibling_models``, ``sibling_datasets``: the other
    protocols, models and datasets run with the same ``--set`` and ``--config``
    (a grid, a leakage study); a ``protocol.*``, ``model.*`` or ``dataset.*``
    option that only they have is left out of this run (``sets_for_run``), from either.
    """
    overrides: dict[str, Any] = load_config_file(config_file, list(sets or {})) if config_file else {}
    from_file = {key: f"--config {config_file}" for key in overrides if key not in (sets or {})}
    overrides.update(sets or {})

    def take_name(section: str, cli_value: str | None, default: str | None = None) -> str | None:
        """The name of ``section`` from its flag or from ``--set``/``--config``; both must agree when both are given."""
        key = f"{section}.name" if f"{section}.name" in overrides else section
        given = overrides.pop(section, None)
        given = overrides.pop(f"{section}.name", given)
        if given is not None and not isinstance(given, str):
            shown = written(given)
            where = from_file.get(key)
            raise UsageError(f"{where}: {key}: {shown} is not a name; write the name, e.g. {section}: NAME" if where
                             else f"--set {key}={shown}: not a name; give e.g. --set {section}=NAME")
        if cli_value and given and cli_value != default and cli_value != given:
            # A file's profile or protocol can be overridden with --set; a grid's --protocols names several.
            source = from_file.get(key) if section == "profile" or (section == "protocol" and not sibling_protocols) \
                else None
            if source is None:
                raise UsageError(f"--{section} {cli_value} and {section}={given} (in --set/--config) disagree; "
                                 "give the name once")
            raise disagreement(f"--{section} {cli_value}", section, given, cli_value, source)
        value = given if cli_value in (None, "", default) and given else cli_value
        return str(value) if value is not None and value != "" else None

    model = take_name("model", model)
    dataset = take_name("dataset", dataset)
    protocol = take_name("protocol", protocol) or DEFAULT_PROTOCOL
    profile_source = None if profile else from_file.get("profile.name" if "profile.name" in overrides else "profile")
    profile = take_name("profile", profile) or "default"
    seed = _seed(seed, overrides.pop("seed", None), from_file.get("seed"))
    if not model and not model_optional and not dataset:
        raise UsageError("no model and no dataset given: use --model NAME --dataset NAME (see `merbench list models` "
                         "and `merbench list datasets`), or --config FILE naming them")
    if not model and not model_optional:
        raise UsageError("no model given: use --model NAME (see `merbench list models`)")
    if not dataset:
        raise UsageError("no dataset given: use --dataset NAME (see `merbench list datasets`)")
    if profile not in PROFILES:
        close = difflib.get_close_matches(profile, PROFILES, n=1)
        where = f"{profile_source}: " if profile_source else ""
        raise UsageError(f"{where}unknown profile '{profile}': choose one of {', '.join(PROFILES)}"
                         + (f" (did you mean {close[0]}?)" if close else ""))
    if device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", device):
        meant = device.strip().lower()
        hint = f" (did you mean {meant}?)" if meant in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", meant) else ""
        raise UsageError(f"--device {device}: choose auto, cpu, cuda or cuda:N (N: a GPU number, e.g. cuda:0){hint}")

    model_spec = registry.get("models", model) if model else None
    if model and model.endswith(":"):
        examples = ", ".join(getattr(model_spec, "examples", ())[:3]) or f"{model}NAME"
        raise UsageError(f"'{model}' is a family of models: name one member, e.g. {examples} "
                         f"(`merbench info {model}` describes the family)")
    dataset_spec = registry.get("datasets", dataset)
    protocol_spec = registry.get("protocols", protocol)
    if sibling_protocols or sibling_models or sibling_datasets:
        overrides = sets_for_run(overrides, registry, {"model": model or "", "dataset": dataset, "protocol": protocol},
                                 {"model": sibling_models, "dataset": sibling_datasets, "protocol": sibling_protocols},
                                 profile)
    if dataset_spec.needs_root and root is None:
        raise UsageError(no_root_message(registry, dataset))
    if root is not None and not dataset_spec.reads_root:
        raise UsageError(NO_FOLDER.format(name=dataset, root=root))

    sections: dict[str, dict[str, Any]] = {
        "dataset": _defaults(dataset_spec, profile),
        "model": _defaults(model_spec, profile) if model_spec else {},
        "protocol": dict(protocol_spec.options),
        "engine": engine_defaults(profile),
        "executor": dict(EXECUTOR_OPTIONS),
    }
    rules: dict[str, dict[str, Any]] = {
        "dataset": _plugin_rules("dataset", dataset_spec),
        "model": _plugin_rules("model", model_spec) if model_spec else {},
        "protocol": _plugin_rules("protocol", protocol_spec),
        "engine": ENGINE_RANGES,
        "executor": EXECUTOR_RANGES,
    }
    chain_value = overrides.pop("preprocess", None)
    epochs_given = "engine.epochs" in overrides
    # Sections that do not depend on the chain first: the dataset's options say what it gives.
    later = _apply(overrides, sections, rules, only=set(sections), sources=from_file)

    if chain_value is not None:
        chain = tuple(coerce("preprocess", chain_value, []))
    else:
        chain = default_chain(model_spec, dataset_gives(dataset_spec, root, sections["dataset"]))
    if not chain:
        raise UsageError("preprocess: the chain is empty; give at least one preprocessor, e.g. --set preprocess=flow")
    if model_spec is not None:
        wrong = preprocess_options_problems(model, model_spec, registry, chain)
        if wrong:  # the plugin's mistake, said as `merbench plugins` says it
            raise PluginError(f"{wrong[0]} (from {registry.provider('models', model)})")
    for spec in [registry.get("preprocessors", name) for name in chain]:
        sections[spec.name] = _defaults(spec, profile)
        rules[spec.name] = _plugin_rules("preprocessor", spec)
        # The model's wishes (e.g. STSTNet's 28x28 flow) sit above the profile, below --config/--set; checked above.
        for option, value in getattr(model_spec, "preprocess_options", {}).get(spec.name, {}).items():
            sections[spec.name][option] = coerce(f"{spec.name}.{option}", copy.deepcopy(value),
                                                 sections[spec.name][option], rules[spec.name].get(option))
    owners = {"model": model or "", "dataset": dataset, "protocol": protocol}
    _apply(later, sections, rules, registry=registry, chain=chain, sources=from_file, owners=owners)

    if epochs is not None:
        if epochs not in Range.parse(ENGINE_RANGES["epochs"]):
            raise UsageError(f"--epochs {epochs}: must be an integer {Range.parse(ENGINE_RANGES['epochs']).text}")
        if epochs_given and sections["engine"]["epochs"] != epochs:
            raise disagreement(f"--epochs {epochs}", "engine.epochs", sections["engine"]["epochs"], epochs,
                               from_file.get("engine.epochs"))
        sections["engine"]["epochs"] = epochs
    check_parallel_options(sections["engine"], sources=from_file)
    check_executor_options(sections["executor"])
    pins = recorded_pins(config_file) if config_file else {}

    return RunConfig(
        model=model or "",
        dataset=dataset,
        protocol=protocol,
        profile=profile,
        seed=seed,
        device=device,
        root=root,
        preprocess=chain,
        sections=sections,
        pinned={dotted: given for dotted, (given, ran) in pins.items()  # not where --set gave another value
                if sections.get(dotted.partition(".")[0], {}).get(dotted.partition(".")[2]) == ran},
    )


def _apply(overrides: Mapping[str, Any], sections: dict[str, dict[str, Any]], rules: Mapping[str, Mapping[str, Any]],
           only: set[str] | None = None, registry: Registry | None = None, chain: tuple[str, ...] = (),
           sources: Mapping[str, str] | None = None, owners: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Set each ``section.option`` value (coerced and checked against its rule); returns the keys left over.

    With ``only``, keys that are not options of those sections are handed back
    untouched (for a later call); without it every key must be a known option,
    else a ``UsageError`` suggests the closest valid key. ``sources`` names where a
    key came from (``--config FILE``), put before its error; ``owners`` the plugin
    whose options a section holds (``{"model": "ststnet", ...}``), named in it.
    """
    left: dict[str, Any] = {}
    for key, value in overrides.items():
        section, dot, option = str(key).partition(".")
        if only is not None and (section not in only or option not in sections[section]):
            left[key] = value
            continue
        try:
            if not dot or section not in sections or option not in sections[section]:
                raise unknown_setting(str(key), sections, registry, chain, owners)
            sections[section][option] = coerce(key, value, sections[section][option], rules.get(section, {}).get(option))
        except UsageError as exc:
            raise _with_source(exc, sources, key) from None
    return left


def _with_source(error: UsageError, sources: Mapping[str, str] | None, key: str) -> UsageError:
    """``error`` about ``key``, with where ``sources`` says the key came from (``--config FILE: ...``) before it."""
    where = (sources or {}).get(key)
    return error if where is None else UsageError(f"{where}: {error}")


def unknown_setting(key: str, sections: Mapping[str, Mapping[str, Any]], registry: Registry | None = None,
                    chain: tuple[str, ...] = (), owners: Mapping[str, str] | None = None) -> UsageError:
    """The error for an unknown ``--set``/``--config`` key: the closest valid key and a short list of valid ones.

    ``owners`` names the plugin of the ``model``, ``dataset`` and ``protocol`` sections, so that the
    message says whose options they are (``Valid settings of model 'ststnet': ...``).
    """
    section, dot, option = key.partition(".")
    if not dot and section in sections:  # `engine: 5` in a --config file, --set engine=5
        first = next(iter(sections[section]), "OPTION")
        return UsageError(f"'{key}' is a section, not a setting: give its options as a mapping ({key}: {{{first}: "
                          f"VALUE}}) or as {key}.{first}=VALUE; its options: "
                          f"{', '.join(f'{key}.{name}' for name in sections[section]) or 'none'}")
    if dot and section in sections:  # the option's own name decides: "model." alone made model.attention ~ batchnorm
        close = [f"{section}.{name}" for name in difflib.get_close_matches(option, list(sections[section]), n=1,
                                                                           cutoff=0.6)]
        close = close or [f"{other}.{option}" for other in sections if option in sections[other]]
    else:  # a misspelt section: its closest section, then the option there
        near = difflib.get_close_matches(section, list(sections), n=1, cutoff=0.6) if dot else []
        options = list(sections[near[0]]) if near else []
        close = ([f"{near[0]}.{name}" for name in difflib.get_close_matches(option, options, n=1, cutoff=0.6)] if near
                 else difflib.get_close_matches(key, valid_keys(sections) + ["seed", "profile"], n=1, cutoff=0.6))
    hint = f" (did you mean {close[0]}?)" if close else ""
    if dot and section in sections:
        options = ", ".join(f"{section}.{option}" for option in sections[section]) or "none"
        others = ", ".join(name for name in sections if name != section)
        owner = (owners or {}).get(section)
        whose = f"settings of {section} '{owner}'" if owner else f"{section} settings"
        listing = f"Valid {whose}: {options}; other sections: {others}; and preprocess, seed, profile"
    else:
        listing = (f"Settings are SECTION.OPTION with SECTION one of {', '.join(sections)}; "
                   "and preprocess, seed, profile")
        if dot and registry is not None and section in registry.names("preprocessors"):
            listing = (f"'{section}' is not in the preprocessing chain ({','.join(chain)}); "
                       f"add it with --set preprocess=... to set its options. " + listing)
    model = (owners or {}).get("model")
    if section == "model" and model:
        listing += f" (`merbench info {model}` lists its options)"
    elif section == "model" or section not in sections:
        listing += " (`merbench info MODEL` lists a model's options)"
    return UsageError(f"unknown setting '{key}'{hint}. {listing}")


def check_seeds(n_seeds: int, first_seed: int = 0) -> None:
    """``UsageError`` unless a run repeats at least once (``--seeds N``) with seeds that stay within ``SEED_RANGE``."""
    if n_seeds < 1:
        raise UsageError(f"--seeds {n_seeds}: must be at least 1")
    if first_seed + n_seeds - 1 > SEED_MAX:
        raise UsageError(f"--seeds {n_seeds} from seed {first_seed} reaches seed {first_seed + n_seeds - 1}, above the "
                         f"largest seed {SEED_MAX}; use a smaller seed or fewer seeds")


def parse_parallel_folds(value: Any) -> int | None:
    """``engine.parallel_folds`` as a number of folds, or ``None`` for ``auto``."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise UsageError(f"engine.parallel_folds={value}: use auto or a whole number of folds at least 1 (1 = fold by fold)")
    return number


def check_parallel_options(engine: dict[str, Any], sources: Mapping[str, str] | None = None) -> None:
    """Validate ``engine.parallel_folds`` and ``engine.parallel_mode`` (raises ``UsageError``), and write
    ``parallel_folds`` in one spelling (``AUTO`` → ``auto``, ``02`` → ``2``), so that spellings of one setting record,
    and are reused by ``--stored``, as one.

    ``sources`` names where a key came from (``--config FILE``), put before its error.
    """
    try:
        folds = parse_parallel_folds(engine["parallel_folds"])
    except UsageError as exc:
        raise _with_source(exc, sources, "engine.parallel_folds") from None
    engine["parallel_folds"] = "auto" if folds is None else str(folds)
    coerce("engine.parallel_mode", engine["parallel_mode"], ENGINE_OPTIONS["parallel_mode"], PARALLEL_MODES)


def may_train_folds_in_worker_processes(config: "RunConfig") -> bool:
    """Whether ``config``'s folds may train in local worker processes (the CPU's fold-parallel path).

    Then the run starts the workers' fork server early (``workers.start_worker_server``),
    so that its imports overlap with this process's work before training.
    """
    engine = config.section("engine")
    return (parse_parallel_folds(engine["parallel_folds"]) != 1 and engine["parallel_mode"] != "vmap"
            and config.section("executor")["name"] == "local" and not config.device.startswith("cuda"))


def check_executor_options(executor: Mapping[str, Any]) -> None:
    """Validate the ``executor`` section (raises ``UsageError``)."""
    for option, rule in EXECUTOR_RANGES.items():
        coerce(f"executor.{option}", executor[option], EXECUTOR_OPTIONS[option], rule)


def valid_keys(sections: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """All ``section.option`` keys accepted for a run, plus ``preprocess``."""
    keys = ["preprocess"]
    for section, options in sections.items():
        keys.extend(f"{section}.{option}" for option in options)
    return keys
