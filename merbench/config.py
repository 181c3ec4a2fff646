"""Resolving a run's configuration: profile defaults, a YAML file, ``--set`` and flags.

Precedence, lowest first: plugin defaults, the profile's values, the model's
default chain and ``preprocess_options`` (``ModelPlugin``), ``--config``
file, ``--set KEY=VALUE``, then the dedicated flags (``--epochs``, ``--seed``).
Every key is validated against the plugin that owns it; an unknown key is an
error that lists the valid ones.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from merbench.errors import UsageError
from merbench.registry import Registry

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

ENGINE_CHOICES = {"class_weighting": ("none", "balanced"), "amp": ("auto", "on", "off")}


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

    def section(self, name: str) -> dict[str, Any]:
        """Options of one section (``dataset``, ``model``, ``engine``, a preprocessor...)."""
        return self.sections[name]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of the resolved configuration."""
        return {
            "model": self.model,
            "dataset": self.dataset,
            "protocol": self.protocol,
            "profile": self.profile,
            "seed": self.seed,
            "device": self.device,
            "root": str(self.root) if self.root else None,
            "preprocess": list(self.preprocess),
            "options": copy.deepcopy(self.sections),
        }


def parse_set(items: list[str]) -> dict[str, str]:
    """Parse ``KEY=VALUE`` strings (raw values are coerced later, per key)."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, for example --set model.depth=8")
        parsed[key] = value
    return parsed


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML config into dotted keys; top-level names may be strings or mappings."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--config {path}: file not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--config {path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a mapping of sections (model:, dataset:, engine: ...)")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                flat[f"{key}.{sub_key}"] = sub_value
        else:
            flat[str(key)] = value
    return flat


def coerce(key: str, value: Any, default: Any) -> Any:
    """Convert a ``--set`` or YAML value to the type of the option's default."""
    if isinstance(value, str):
        text = value
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
    else:
        text = str(value)
    expected = type(default)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise UsageError(f"{key}={text}: expected true or false")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UsageError(f"{key}={text}: expected an integer (default {default})")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise UsageError(f"{key}={text}: expected a number (default {default})")
    if isinstance(default, (list, tuple)):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)):
            return list(value)
        raise UsageError(f"{key}={text}: expected a comma-separated list")
    if default is None or expected is str:
        return text if isinstance(value, (int, float, bool)) or value is None else value
    return value


def _defaults(spec: Any, profile: str) -> dict[str, Any]:
    options = dict(spec.options)
    options.update(spec.profiles.get(profile, {}))
    return options


def resolve_config(
    registry: Registry,
    *,
    model: str | None,
    dataset: str | None,
    protocol: str | None = None,
    profile: str = "default",
    seed: int | None = None,
    device: str = "auto",
    root: Path | None = None,
    epochs: int | None = None,
    sets: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> RunConfig:
    """Build a validated ``RunConfig``; raises ``UsageError`` on any bad name or key."""
    overrides: dict[str, Any] = load_config_file(config_file) if config_file else {}
    overrides.update(sets or {})

    def take_name(section: str, cli_value: str | None) -> str | None:
        from_file = overrides.pop(section, None)
        from_file = overrides.pop(f"{section}.name", from_file)
        return cli_value or from_file

    model = take_name("model", model)
    dataset = take_name("dataset", dataset)
    protocol = take_name("protocol", protocol) or DEFAULT_PROTOCOL
    profile = str(overrides.pop("profile", None) or profile)
    if seed is None:
        seed = int(overrides.pop("seed", 0))
    else:
        overrides.pop("seed", None)
    if not model:
        raise UsageError("no model given: use --model NAME (see `merbench list models`)")
    if not dataset:
        raise UsageError("no dataset given: use --dataset NAME (see `merbench list datasets`)")
    if profile not in PROFILES:
        raise UsageError(f"unknown profile '{profile}': choose one of {', '.join(PROFILES)}")

    model_spec = registry.get("models", model)
    dataset_spec = registry.get("datasets", dataset)
    protocol_spec = registry.get("protocols", protocol)

    chain_value = overrides.pop("preprocess", None)
    model_chain = tuple(getattr(model_spec, "preprocess", ())) or DEFAULT_CHAIN
    chain = tuple(coerce("preprocess", chain_value, [])) if chain_value is not None else model_chain
    if not chain:
        raise UsageError("preprocess: the chain is empty; give at least one preprocessor, e.g. --set preprocess=flow")
    preprocessor_specs = [registry.get("preprocessors", name) for name in chain]

    engine_defaults = dict(ENGINE_OPTIONS)
    engine_defaults.update(ENGINE_PROFILES[profile])
    sections: dict[str, dict[str, Any]] = {
        "dataset": _defaults(dataset_spec, profile),
        "model": _defaults(model_spec, profile),
        "protocol": dict(protocol_spec.options),
        "engine": engine_defaults,
        "executor": dict(EXECUTOR_OPTIONS),
    }
    for spec in preprocessor_specs:
        sections[spec.name] = _defaults(spec, profile)
        # The model's wishes (e.g. STSTNet's 28x28 flow) sit above the profile, below --config/--set.
        for option, value in getattr(model_spec, "preprocess_options", {}).get(spec.name, {}).items():
            if option in sections[spec.name]:
                sections[spec.name][option] = copy.deepcopy(value)

    for key, value in overrides.items():
        section, dot, option = key.partition(".")
        if not dot or section not in sections or option not in sections[section]:
            raise UsageError(f"unknown setting '{key}'. Valid settings: {', '.join(valid_keys(sections))}")
        sections[section][option] = coerce(key, value, sections[section][option])
    if epochs is not None:
        sections["engine"]["epochs"] = epochs

    engine = sections["engine"]
    for option, choices in ENGINE_CHOICES.items():
        if engine[option] not in choices:
            raise UsageError(f"engine.{option}={engine[option]}: choose one of {', '.join(choices)}")
    if engine["early_stopping"] < 0 or not 0.0 < engine["validation_fraction"] < 1.0:
        raise UsageError(
            f"engine.early_stopping={engine['early_stopping']}, engine.validation_fraction={engine['validation_fraction']}: "
            "patience must be 0 (off) or more and the fraction between 0 and 1"
        )
    for option in ("epochs", "batch_size"):
        if engine[option] < 1:
            raise UsageError(f"engine.{option}={engine[option]}: must be at least 1")
    check_parallel_options(engine)
    check_executor_options(sections["executor"])
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise UsageError(f"--device {device}: choose auto, cpu or cuda")
    if dataset_spec.needs_root and root is None:
        raise UsageError(f"dataset '{dataset}' reads your own copy of the data: give its folder with --root DIR")

    return RunConfig(
        model=model,
        dataset=dataset,
        protocol=protocol,
        profile=profile,
        seed=seed,
        device=device,
        root=root,
        preprocess=chain,
        sections=sections,
    )


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


def check_parallel_options(engine: Mapping[str, Any]) -> None:
    """Validate ``engine.parallel_folds`` and ``engine.parallel_mode`` (raises ``UsageError``)."""
    parse_parallel_folds(engine["parallel_folds"])
    if engine["parallel_mode"] not in PARALLEL_MODES:
        raise UsageError(f"engine.parallel_mode={engine['parallel_mode']}: choose one of {', '.join(PARALLEL_MODES)}")


def check_executor_options(executor: Mapping[str, Any]) -> None:
    """Validate the ``executor`` section (raises ``UsageError``)."""
    if executor["name"] not in EXECUTORS:
        raise UsageError(f"executor.name={executor['name']}: choose one of {', '.join(EXECUTORS)} (or --executor)")
    if executor["num_cpus"] < 1 or executor["num_gpus"] < 0 or executor["max_retries"] < 0:
        raise UsageError(
            f"executor.num_cpus={executor['num_cpus']}, executor.num_gpus={executor['num_gpus']}, "
            f"executor.max_retries={executor['max_retries']}: need num_cpus >= 1, num_gpus >= 0 and max_retries >= 0"
        )


def valid_keys(sections: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """All ``section.option`` keys accepted for a run, plus ``preprocess``."""
    keys = ["preprocess"]
    for section, options in sections.items():
        keys.extend(f"{section}.{option}" for option in options)
    return keys
