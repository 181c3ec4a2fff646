"""What a stored run changed from its profile's defaults, as ``section.option=value`` texts.

``merbench compare``, ``report`` and ``grid`` name these beside a run's model, so
that a run made with ``--set model.dropout=0.3`` (or ``--config``, ``--epochs``,
another preprocessing chain) is never shown as the model's plain result, and
two runs that differ only in such settings get a row each instead of the newer
hiding the older. The defaults are those of the installed plugins for the
run's model, dataset, protocol and profile, resolved as ``merbench run`` would
without any ``--set`` (what its dataset gives, which sets the default chain, read from the file its dataset summary
records that it read: a relative ``dataset.manifest`` was found in the run's working folder, not this command's);
a setting whose default changed since the run is named
too (the run did not use today's default), and an option of the run's plugins that
its stored configuration lacks (written by a merbench before the option existed) is
named ``section.option=(not recorded)``: nobody can say the run used today's default
(a synthetic run from before ``dataset.preset`` made other data). Settings that only say how the
folds were spread over the machine (``engine.parallel_folds``, ``parallel_mode``,
``threads``, ``preprocess_workers``, ``executor.*``) are left out, except
``engine.parallel_mode=vmap`` with the folds it batched at a time as ``engine.parallel_folds=N``
(batched folds draw a dropout model's masks per group, so the group size changes its scores), and so are the
leaky ``engine.select_on`` / ``engine.normalise_on``, which a comparison names
itself. ``scoring_config`` is a configuration without what only spread the folds: what ``--stored`` matches
a stored run by.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from merbench.config import dataset_gives, default_chain, options_as_recorded, recorded_files, resolve_config
from merbench.errors import MerbenchError
from merbench.registry import Registry
from merbench.result import RunResult
from merbench.wording import number_text

SPREAD_ONLY = {"engine": {"parallel_folds", "parallel_mode", "threads", "preprocess_workers"}}
"""Options that only say how the folds were spread over the machine: they do not change what a run computes (but
see ``NAMED_VALUES`` and ``BATCHED_GROUP``)."""
NOT_SETTINGS = {"engine": SPREAD_ONLY["engine"] | {"select_on", "normalise_on"}}
"""Options never named as settings: ``SPREAD_ONLY``, and the leaks a comparison names itself."""
NOT_SECTIONS = {"executor"}
"""Sections that only say where the folds ran."""
NAMED_VALUES = {("engine", "parallel_mode"): {"vmap"}}
"""Values of ``NOT_SETTINGS`` options that are named all the same: batched folds draw dropout masks per fold, so a
model with dropout scores differently from a fold-by-fold run of the same seed."""
BATCHED_GROUP = ("engine", "parallel_folds")
"""The option that, under ``engine.parallel_mode=vmap``, sets how many folds are batched at a time: the masks are
drawn per group, so runs of other group sizes score differently, and it is named (``batched_group``)."""


def setting_text(key: str, value: Any) -> str:
    """``key=value`` as ``--set`` takes it: ``true``/``false``, numbers as written, lists as ``[3, 5, 8]``."""
    return f"{key}={_value_text(value)}"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(item) for item in value) + "]"
    if isinstance(value, (dict, type(None))):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return number_text(value)
    return str(value)


def changed_settings(result: RunResult, registry: Registry, known: dict | None = None) -> tuple[str, ...] | None:
    """The settings ``result`` ran with that differ from its profile's defaults, sorted; when a plugin of the run is
    not installed now, those it recorded when it ran (``settings_changed``); ``None`` when neither can be told.
    ``known``: a dict one command keeps across its results, holding the defaults resolved so far by what they depend
    on (thousands of stored runs share their model, dataset, protocol, profile, seed and chain)."""
    computed = _changed_now(result, registry, {} if known is None else known)
    if computed is None and result.settings_changed is not None:
        return tuple(result.settings_changed)
    return computed


def with_recorded_settings(result: RunResult, registry: Registry) -> RunResult:
    """``result`` with what it changed from its profile's defaults recorded in it (``settings_changed``)."""
    changed = _changed_now(result, registry)
    return result if changed is None else dataclasses.replace(result, settings_changed=list(changed))


def _changed_now(result: RunResult, registry: Registry, known: dict | None = None) -> tuple[str, ...] | None:
    """``changed_settings`` against the defaults of the plugins installed now; ``None`` when they cannot say."""
    config = result.config or {}
    options = config.get("options")
    if not isinstance(options, Mapping):
        return None
    options = options_as_recorded(config)
    chain = config.get("preprocess")
    root = config.get("root")
    defaults = _defaults(registry, result, config, {} if known is None else known)
    if defaults is None:
        return None
    changed = [setting_text(f"{section}.{key}", value)
               for section, values in sorted(options.items()) if section not in NOT_SECTIONS and isinstance(values, Mapping)
               for key, value in sorted(values.items())
               if (key not in NOT_SETTINGS.get(section, ()) or value in NAMED_VALUES.get((section, key), ()))
               and _differs(value, defaults.sections.get(section, {}).get(key, _MISSING))]
    changed += _group_named(options, getattr(result, "engine_plan", None), defaults.sections)
    changed += [setting_text(f"{section}.{key}", NOT_RECORDED) for section, key in unrecorded_options(options, defaults.sections)
                if section not in NOT_SECTIONS and key not in NOT_SETTINGS.get(section, ())]
    changed.sort(key=lambda text: text.partition("=")[0])
    dataset_options = _as_read(result, {**defaults.sections.get("dataset", {}), **(options.get("dataset") or {})})
    if chain and _default_chain(registry, result, root, dataset_options) not in (None, tuple(chain)):
        changed.insert(0, setting_text("preprocess", ",".join(chain)))
    return tuple(changed)


def _group_named(options: Mapping[str, Any], plan: Any, defaults: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``["engine.parallel_folds=N"]``, the group a run under ``engine.parallel_mode=vmap`` batched (``batched_group``);
    empty without vmap, and where the group is not known (``auto`` with no plan recorded: the default)."""
    group, (section, key) = batched_group(options, plan), BATCHED_GROUP
    if group is None or not _differs(group, defaults.get(section, {}).get(key, _MISSING)):
        return []
    return [setting_text(f"{section}.{key}", group)]


def batched_group(options: Mapping[str, Any], plan: Mapping[str, Any] | None) -> Any:
    """Under ``engine.parallel_mode=vmap`` (in ``options``, a run's stored sections), how many folds the run batched
    at a time: its engine plan's ``group_size`` (``parallel_folds=auto`` chose it by the machine's memory and
    cores), 1 where the plan trained fold by fold, else ``engine.parallel_folds`` as given; ``None`` without vmap."""
    section, key = BATCHED_GROUP
    engine = options.get(section)
    if not isinstance(engine, Mapping) or str(engine.get("parallel_mode", "")).strip().lower() != "vmap":
        return None
    plan = plan if isinstance(plan, Mapping) else {}
    group = plan.get("group_size")
    if isinstance(group, int) and not isinstance(group, bool) and group > 0:
        return group
    return 1 if plan.get("executor") == "SequentialFolds" else engine.get(key, "auto")


def scoring_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's configuration (``RunConfig.to_dict()``, as stored) without what only spread its folds over the
    machine (``NOT_SECTIONS``, ``SPREAD_ONLY``): two runs alike in it compute the same, so ``--stored`` reuses or
    continues one for the other. Kept: ``engine.parallel_mode=vmap`` and with it ``engine.parallel_folds``, the
    batched group whose dropout masks change the scores (``NAMED_VALUES``, ``BATCHED_GROUP``)."""
    kept = dict(config)
    options = config.get("options")
    if not isinstance(options, Mapping):
        return kept
    batched = batched_group(options, None) is not None
    kept["options"] = {section: values if not isinstance(values, Mapping) else {
        key: value for key, value in values.items()
        if key not in SPREAD_ONLY.get(section, ()) or value in NAMED_VALUES.get((section, key), ())
        or (batched and (section, key) == BATCHED_GROUP)}
        for section, values in options.items() if section not in NOT_SECTIONS}
    return kept


def unrecorded_options(stored: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(section, option)`` of each option in ``defaults`` (resolved now) that a stored configuration's ``stored``
    sections lack, in a section they have: a merbench before the option existed stored it."""
    return [(section, key) for section, values in sorted(defaults.items()) if isinstance(stored.get(section), Mapping)
            for key in sorted(values) if key not in stored[section]]


def changed_settings_of(results: Sequence[RunResult], registry: Registry) -> list[tuple[str, ...] | None]:
    """``changed_settings`` of each result, in order."""
    known: dict = {}
    return [changed_settings(result, registry, known) for result in results]


_MISSING = object()
NOT_RECORDED = "(not recorded)"
"""The value named for an option a stored run's configuration lacks."""


def _differs(value: Any, default: Any) -> bool:
    if default is _MISSING:
        return True
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value) != list(default)
    return bool(value != default)


def _defaults(registry: Registry, result: RunResult, config: Mapping[str, Any], known: dict) -> Any:
    """The configuration ``result``'s run would have had with none of its options set (``resolve_config``), from
    ``known`` where it was resolved for another result; ``None`` when it cannot be resolved now."""
    chain, root = config.get("preprocess"), config.get("root")
    profile = config.get("profile") or result.profile or "default"
    key = (result.model, result.dataset, result.protocol, str(profile), result.seed, str(root or ""),
           json.dumps(chain, sort_keys=True, default=str))
    if key not in known:
        try:
            known[key] = resolve_config(
                registry, model=result.model, dataset=result.dataset, protocol=result.protocol, profile=profile,
                seed=result.seed, root=Path(root) if root else None, sets={"preprocess": list(chain)} if chain else None)
        except MerbenchError:
            known[key] = None
    return known[key]


def _as_read(result: RunResult, dataset_options: Mapping[str, Any]) -> dict[str, Any]:
    """``dataset_options`` with each option naming a file set to the absolute path the run's dataset summary records
    it read (``config.RECORDED_FILES``): a relative ``dataset.manifest=labels.csv`` was found in the working folder
    of the run, not in the one this command runs in."""
    pinned = dict(dataset_options)
    pinned.update({key: recorded for key, recorded in recorded_files(result.dataset, result.dataset_summary).items()
                   if key in pinned and recorded is not None})
    return pinned


def _default_chain(registry: Registry, result: RunResult, root: str | None,
                   dataset_options: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The chain the run would have had without a ``preprocess`` setting; ``None`` when that depends on a dataset
    folder or a recorded file (``_as_read``) that is not there any more (what a manifest gives is read from its
    files)."""
    spec = registry.get("datasets", result.dataset)
    if getattr(spec, "gives", "frames") not in ("frames", "image") and not (
            root and Path(root).is_dir() and _recorded_files_exist(result, dataset_options)):
        return None
    model_spec = registry.get("models", result.model) if result.model else None
    return default_chain(model_spec, dataset_gives(spec, Path(root) if root else None, dataset_options))


def _recorded_files_exist(result: RunResult, dataset_options: Mapping[str, Any]) -> bool:
    """Whether each file option of ``result``'s dataset that names an absolute path (``_as_read``) names a file."""
    values = [dataset_options.get(key) for key in recorded_files(result.dataset, None)]
    return all(os.path.isfile(value) for value in values if isinstance(value, str) and os.path.isabs(value))
