"""Re-checking a leakage summary (``merbench leakage --json``) against the stored runs it lists.

A summary holds numbers a reader quotes (each variant's UF1, UAR, accuracy and
its ΔUF1 interval) and that ``report --leakage`` and the README render as they
are. ``audit_summary`` reads every run the summary lists from the results store
and computes the summary again from them (``leakage_summary.summarise``, with
the summary's own bootstrap settings): a check fails when a run is missing or is
not the run the summary says (model, dataset, protocol, seed), or when a variant's scores,
interval or recorded leaks differ from what its runs give.

What the tables title and caption a study with is checked as well: every run's
profile and recorded settings (``settings_changed`` and its variant's ``settings``,
beyond what its variant sets itself) must be the summary's, every run the
configuration the others share, the summary's protocol, seeds and command flags
those of its runs, every variant that
``merbench leakage`` runs listed (or left out where merbench leaves it out), and each
variant described (what leaks, its protocol and settings) as merbench describes it.
"""

from __future__ import annotations

import json
import math
import shlex
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from merbench.audit import TOLERANCE, Check
from merbench.config import RunConfig, resolve_config
from merbench.errors import MerbenchError
from merbench.leakage import VARIANTS
from merbench.leakage_summary import SCORES, honest_description, summarise
from merbench.registry import get_registry
from merbench.report import leakage_inflation
from merbench.result import RunResult
from merbench.run_settings import setting_text
from merbench.wording import counted, percent, some_of

COMPUTED = ("leaks", "not_occurred", *SCORES, "inflation", "n_samples", "runs")
"""The keys of a variant's entry that ``summarise`` computes from its runs; the others describe the variant."""
NO_VALUE = object()
"""What a run's configuration holds for a setting it lacks."""
MISSING = "(not recorded)"
"""How the audit names the value of a setting a run's configuration lacks."""


def audit_summary(summary: Mapping[str, Any], store: Any) -> list[Check]:
    """The checks of a leakage ``summary`` (as ``load_summary`` read it) against the runs in ``store``."""
    variants = summary["variants"]
    runs, problems = _stored_runs(summary, store)
    if problems:
        return [Check("runs in the store", False, "; ".join(problems))]
    described = _merbench_variants(runs[0][0])
    problems = (_variant_list_problems(summary) + _study_problems(summary, runs)
                + _configuration_problems(summary, runs, described))
    left_out = [str(item["name"]) for item in summary.get("left_out") or []]
    checks = [Check("runs in the store", not problems, "; ".join(problems) or
                    f"{counted(sum(len(each) for each in runs), 'run')} of {counted(variants, 'variant')} (every "
                    f"variant merbench leakage runs{_but(left_out)}), each the model, dataset, protocol, seed, profile "
                    "and settings the summary names")]
    bootstrap = summary.get("bootstrap") or {}
    descriptions = [{key: value for key, value in variant.items() if key not in COMPUTED} for variant in variants[1:]]
    again = summarise({"protocol": summary.get("protocol") or variants[0].get("protocol")}, runs[0],
                      list(zip(descriptions, runs[1:])), resamples=int(bootstrap.get("resamples", 1000)),
                      confidence=float(bootstrap.get("confidence", 0.95)), unit=f"{bootstrap.get('unit', 'subject')}s")
    for stated, computed in zip(variants, again["variants"]):
        differences = _differences(stated, computed) + _description_differences(stated, described.get(stated["name"]))
        interval = "" if computed["inflation"] is None else f", ΔUF1 {leakage_inflation(computed, again)} points"
        checks.append(Check(f"{stated['name']}: scores and leaks", not differences, "; ".join(differences) or
                            f"UF1 {percent(computed['uf1'])} %, UAR {percent(computed['uar'])} %, accuracy "
                            f"{percent(computed['accuracy'])} %{interval} and leaks "
                            f"{', '.join(computed['leaks']) or 'none'}, as its {counted(computed['runs'], 'run')} "
                            f"{'gives' if len(computed['runs']) == 1 else 'give'}"))
    return checks


def _stored_runs(summary: Mapping[str, Any], store: Any) -> tuple[list[list[RunResult]], list[str]]:
    """Each variant's runs, read from ``store`` (seed order as listed), and what keeps any from being checked."""
    runs: list[list[RunResult]] = []
    problems: list[str] = []
    for variant in summary["variants"]:
        results = []
        if not variant["runs"]:
            problems.append(f"{variant['name']}: no runs listed")
        for run in variant["runs"]:
            where = f"{variant['name']}, seed {run['seed']}"
            if not run.get("run_id"):
                problems.append(f"{where}: no run id (the study ran with --no-store, so its runs cannot be read "
                                "again; run it with a store to audit it)")
                continue
            try:
                result = store.result(str(run["run_id"]))
            except MerbenchError as exc:
                problems.append(f"{where}: {exc}")
                continue
            stated = (summary["model"], summary["dataset"], variant.get("protocol") or result.protocol, run["seed"])
            if (result.model, result.dataset, result.protocol, result.seed) != stated:
                problems.append(f"{where}: run {run['run_id']} is {result.model} on {result.dataset}, "
                                f"{result.protocol}, seed {result.seed}, not {stated[0]} on {stated[1]}, {stated[2]}, "
                                f"seed {stated[3]}")
            results.append(result)
        runs.append(results)
    return runs, problems


def _but(left_out: Sequence[str]) -> str:
    return f" but {', '.join(left_out)}, left out as it says" if left_out else ""


def _merbench_variants(honest: RunResult) -> dict[str, dict[str, Any]]:
    """Each variant as ``merbench leakage`` describes it in a study whose honest run is ``honest`` (name → its
    summary entry's ``name``, ``what``, ``expected_leaks``, ``protocol``, ``sets`` and ``note``, ``None`` for none);
    the note is left out (not compared) when the run's configuration cannot be read back."""
    try:
        config: RunConfig | None = RunConfig.from_dict(honest.config or {})
    except (KeyError, TypeError, ValueError):  # a run stored without its whole configuration
        config = None
    entries = {"honest": {**honest_description(honest.protocol), "note": None}}
    for variant in VARIANTS:
        entry = variant.entry(honest.protocol)
        entries[variant.name] = {**entry, "note": variant.note(config)} if config is not None else entry
    return entries


def _variant_list_problems(summary: Mapping[str, Any]) -> list[str]:
    """What keeps the summary's variants from being those ``merbench leakage`` runs: the honest run first, then
    every leaky variant once, each listed or, where merbench leaves it out (``frame-10fold`` on a dataset of
    images), named in ``left_out``."""
    names = [str(variant["name"]) for variant in summary["variants"]]
    known = ["honest", *(variant.name for variant in VARIANTS)]
    problems = [] if names[0] == "honest" else [f"the first variant is {names[0]}, not honest (the run every other "
                                                "variant is compared with)"]
    problems += [f"{name} is listed {count} times" for name, count in Counter(names).items() if count > 1]
    problems += [f"{name} is not a variant merbench leakage runs ({', '.join(known)})"
                 for name in dict.fromkeys(names) if name not in known]
    left_out = {str(item["name"]): str(item["why"]) for item in summary.get("left_out") or []}
    for variant in VARIANTS:
        if variant.name not in names and variant.name not in left_out:
            problems.append(f"no {variant.name} in the summary, and its left_out does not name it: merbench leakage "
                            "runs every variant and leaves one out only where it cannot apply, saying so there")
    for name, why in left_out.items():
        variant = next((variant for variant in VARIANTS if variant.name == name), None)
        if variant is None:
            problems.append(f"left_out names {name}, which is not a variant merbench leakage runs")
        elif name in names:
            problems.append(f"{name} is in the summary's variants and in its left_out")
        elif variant.protocol != "frame-10fold" or _gives_frames(str(summary["dataset"])):
            problems.append(f"left_out names {name} ({why}), but merbench leakage runs it on dataset "
                            f"'{summary['dataset']}'" + ("" if variant.protocol != "frame-10fold" else
                                                         ", which gives frames, not precomputed images"))
    return problems


def _gives_frames(dataset: str) -> bool:
    """Whether ``dataset`` always gives frames (never one precomputed image per sample); ``False`` when that depends
    on its files (a manifest) or its plugin is not installed here."""
    try:
        spec = get_registry().get("datasets", dataset)
    except MerbenchError:
        return False
    return getattr(spec, "gives", "frames") == "frames"


def _study_problems(summary: Mapping[str, Any], runs: Sequence[Sequence[RunResult]]) -> list[str]:
    """Where the summary's protocol, seeds or command say other than its runs: the honest protocol, each variant's
    seeds, and the ``--model``, ``--dataset``, ``--protocol``, ``--profile``, ``--seed``, ``--seeds`` and
    ``--epochs`` of its command (when the command gives them)."""
    honest = runs[0][0]
    problems = []
    if summary["variants"][0]["name"] == "honest" and summary.get("protocol") not in (None, honest.protocol):
        problems.append(f"the summary's protocol is {summary['protocol']}, its honest run {honest.run_id} ran "
                        f"{honest.protocol}")
    seeds = summary.get("seeds")
    ran = {str(variant["name"]): [result.seed for result in results]
           for variant, results in zip(summary["variants"], runs)}
    odd = {name: each for name, each in ran.items() if seeds is not None and each != list(seeds)}
    if len(odd) == len(ran) > 1 and len({tuple(each) for each in odd.values()}) == 1:
        odd = {"every variant": next(iter(odd.values()))}
    problems += [f"{name} has runs of {_seeds_text(each)}, the summary's seeds are {', '.join(map(str, seeds))}"
                 for name, each in odd.items()]
    epochs = _value(honest, "engine.epochs")
    ran_with = {"--model": honest.model, "--dataset": honest.dataset, "--protocol": honest.protocol,
                "--profile": _profile_of(honest), "--seed": str(honest.seed), "--seeds": str(len(runs[0])),
                "--epochs": None if epochs is NO_VALUE else str(epochs)}
    for flag, given in _command_flags(summary.get("command")):
        if ran_with.get(flag) not in (None, given):
            problems.append(f"the summary's command gives {flag} {given}, its runs were made with {flag} "
                            f"{ran_with[flag]}")
    return problems


def _seeds_text(seeds: Sequence[Any]) -> str:
    return f"seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds)) or 'none'}"


def _command_flags(command: Any) -> Iterator[tuple[str, str]]:
    """Each ``--flag VALUE`` (or ``--flag=VALUE``) of a summary's command, as written; nothing for a command that
    cannot be split into words."""
    try:
        words = shlex.split(command) if isinstance(command, str) else []
    except ValueError:
        return
    for index, word in enumerate(words):
        flag, equals, value = word.partition("=")
        if equals and flag.startswith("--"):
            yield flag, value
        elif word.startswith("--") and index + 1 < len(words):
            yield word, words[index + 1]


def _profile_of(result: RunResult) -> str:
    return str((result.config or {}).get("profile") or result.profile)


def _configuration_problems(summary: Mapping[str, Any], runs: Sequence[Sequence[RunResult]],
                            described: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Where a run's profile or recorded settings differ from the summary's (``profile``, ``settings_changed`` and
    its variant's ``settings``), and where its configuration differs from the one the study's other runs share,
    beyond what its variant sets itself (its protocol and that protocol's options, ``engine.select_on``...): in
    words, naming the runs, the setting and both values."""
    profile = summary.get("profile")
    stated = list(summary.get("settings_changed") or [])
    honest_protocol = set(_options(runs[0][0]).get("protocol") or {})
    studied = _study_runs(summary["variants"], runs, described)
    differences: dict[tuple[str, str], list[str]] = {}  # (what the run ran with, what the summary says) → runs
    named: set[tuple[str, str]] = set()  # (run id, setting) that a difference names
    problems = []
    for run in studied:
        for key, value in run.sets.items():
            if _value(run.result, key) != value:
                given = _value(run.result, key)
                problems.append(f"{run.where} ran with "
                                f"{_shown_setting(key, MISSING if given is NO_VALUE else json.dumps(given))}, not its "
                                f"variant's {setting_text(key, value)}")
                named.add((run.run_id, key))
        ran = _profile_of(run.result)
        if profile is not None and ran != profile:
            differences.setdefault((f"the {ran} profile", f"the {profile} profile"), []).append(run.where)
            named.add((run.run_id, "profile"))
            continue
        if run.result.settings_changed is None or summary.get("settings_changed") is None:
            continue  # a run, or a summary, written by a merbench before they recorded it: the others are compared
        shared = set(_options(run.result).get("protocol") or {})
        if run.settings is None:  # a summary before variants recorded their own: the honest protocol's options only
            shared &= honest_protocol

        def comparable(key: str) -> bool:
            return key not in run.own and (not key.startswith("protocol.") or key[len("protocol."):] in shared)

        own = _settings(run.settings or [], lambda key: key not in run.own)
        recorded = _settings(run.result.settings_changed, lambda key: comparable(key) or key in own)
        says = {**_settings(stated, comparable), **own}
        for key in sorted(set(recorded) | set(says)):
            if recorded.get(key) != says.get(key):
                value = _value(run.result, key)
                ran_with = recorded.get(key) or (f"{key} {MISSING}" if value is NO_VALUE and key in own else
                                                 _default_text(key, ran, value))
                said = says.get(key) or _default_text(key, ran, _profile_default(run.result, ran, key))
                differences.setdefault((ran_with, said), []).append(run.where)
                named.add((run.run_id, key))
    problems += [f"{_which(where, studied)} ran with {ran_with}, the summary with {said}"
                 for (ran_with, said), where in differences.items()]
    return problems + _placement_problems(stated, studied, named) + _shared_configuration_problems(studied, named)


def _placement_problems(stated: Sequence[Any], studied: Sequence[_StudyRun], named: set[tuple[str, str]]) -> list[str]:
    """Where the summary lists a setting its runs recorded in the wrong place: ``settings_changed`` (``stated``) holds
    what the honest run changed, which every variant ran with and the caption names; a variant's ``settings`` what
    its own run changed beyond that (``Variant.own_settings``), which its row names ("ran with ..."). A setting
    moved from one to the other leaves every run's values as recorded, which ``_configuration_problems`` compares."""
    honest = studied[0]
    shared = honest.result.settings_changed
    if shared is None:
        return []
    problems = []
    for text in (str(text) for text in stated if text not in shared):
        if any(key == text.partition("=")[0] for _, key in named):
            continue  # a value no run had: said already
        owners: dict[str, list[str]] = {}
        for run in studied:
            if text in (run.result.settings_changed or []):
                owners.setdefault(run.name, []).append(run.where)
        problems += [f"{some_of(where, 3)} ran with {text}, a setting of {name} alone (the honest run did not change "
                     f"it), but the summary lists it in settings_changed, what every variant ran with, and not in "
                     f"{name}'s settings, so its row does not say \"ran with {text}\""
                     for name, where in owners.items()]
        if not owners:
            problems.append(f"the summary's settings_changed lists {text}, which the honest run {honest.where} did not "
                            "change")
    listed: dict[str, list[str]] = {}  # a setting the honest run changed that a variant's settings list → variants
    for run in studied:
        for text in (str(text) for text in run.settings or [] if text in shared):
            if run.name not in listed.setdefault(text, []):
                listed[text].append(run.name)
    problems += [f"the settings of {some_of(names, 3)} list {text}, which the honest run changed too ({honest.where}): "
                 "every variant ran with it, and the summary names such a setting in its settings_changed, not in a "
                 "variant's settings" for text, names in listed.items()]
    return problems


class _StudyRun:
    """One run of the study as the checks of its configuration see it."""

    def __init__(self, variant: Mapping[str, Any], result: RunResult, sets: Mapping[str, Any]):
        self.result, self.sets, self.own = result, sets, set(sets)
        self.settings = variant.get("settings")  # beyond the summary's settings_changed; None: not recorded
        self.run_id, self.name = str(result.run_id), str(variant["name"])
        self.where = f"{variant['name']}, seed {result.seed} (run {result.run_id})"
        self.configuration = {(key, scope): value for key, scope, value in _configuration(result) if key not in sets}


def _study_runs(variants: Sequence[Mapping[str, Any]], runs: Sequence[Sequence[RunResult]],
                described: Mapping[str, Mapping[str, Any]]) -> list[_StudyRun]:
    """Every run of the study, each with the settings its variant sets itself (as merbench describes the variant)."""
    return [_StudyRun(variant, result, dict((described.get(variant["name"]) or variant).get("sets") or {}))
            for variant, results in zip(variants, runs) for result in results]


def _which(where: list[str], studied: Sequence[_StudyRun]) -> str:
    return "every run" if len(where) == len(studied) > 1 else some_of(where, 3)


def _options(result: RunResult) -> Mapping[str, Any]:
    options = (result.config or {}).get("options")
    return options if isinstance(options, Mapping) else {}


def _settings(texts: Sequence[Any], comparable: Any) -> dict[str, str]:
    """``section.option=value`` texts by their setting, those ``comparable`` says to compare."""
    return {key: str(text) for text in texts for key in [str(text).partition("=")[0]] if comparable(key)}


def _value(result: RunResult, key: str) -> Any:
    """The value ``result`` ran with for setting ``key`` (``engine.epochs``, ``preprocess``), or ``NO_VALUE``."""
    if key == "preprocess":
        return ",".join((result.config or {}).get("preprocess") or []) or NO_VALUE
    section, _, option = key.partition(".")
    values = _options(result).get(section)
    return values.get(option, NO_VALUE) if isinstance(values, Mapping) else NO_VALUE


def _profile_default(result: RunResult, profile: str, key: str) -> Any:
    """The value ``profile`` gives setting ``key`` for ``result``'s model, dataset and protocol (the plugins
    installed now), or ``NO_VALUE`` when that cannot be told."""
    config = result.config or {}
    chain = config.get("preprocess")
    try:
        defaults = resolve_config(get_registry(), model=result.model, dataset=result.dataset,
                                  protocol=result.protocol, profile=profile, seed=result.seed,
                                  root=Path(config["root"]) if config.get("root") else None,
                                  sets={"preprocess": list(chain)} if chain else None)
    except MerbenchError:
        return NO_VALUE
    section, _, option = key.partition(".")
    return defaults.sections.get(section, {}).get(option, NO_VALUE)


def _default_text(key: str, profile: str, value: Any) -> str:
    """A setting left at ``profile``'s default, with its value where known: ``engine.epochs=3 (the quick
    profile's default)``."""
    shown = key if value is NO_VALUE else setting_text(key, value)
    return f"{shown} (the {profile} profile's default)"


def _shared_configuration_problems(studied: Sequence[_StudyRun], named: set[tuple[str, str]]) -> list[str]:
    """Where a run's resolved configuration differs from the one most of the study's runs share (a protocol's
    options: among the runs of that protocol), beyond its variant's own settings and what ``named`` already says."""
    problems = []
    for key, scope in dict.fromkeys(setting for run in studied for setting in run.configuration):
        sharing = [run for run in studied if key not in run.own and scope in (None, run.result.protocol)]
        values = [run.configuration.get((key, scope), MISSING) for run in sharing]
        counts = Counter(values)
        if len(counts) == 1:
            continue
        common = max(counts, key=lambda value: (counts[value], value == values[0]))  # a tie: the honest run's
        odd: dict[str, list[str]] = {}
        for run, value in zip(sharing, values):
            if value != common and (run.run_id, key) not in named:
                odd.setdefault(value, []).append(run.where)
        others = "the other runs" if scope is None else f"the other {scope} runs"
        problems += [f"{some_of(where, 3)} ran with {_shown_setting(key, value)}, {others} with "
                     f"{_shown_setting(key, common)}" for value, where in odd.items()]
    return problems


def _configuration(result: RunResult) -> Iterator[tuple[str, str | None, str]]:
    """(setting, the protocol it belongs to or ``None``, value as JSON) of everything ``result`` was configured with
    beyond its model, dataset, protocol and seed, which the summary names itself."""
    config = result.config or {}
    for key in ("profile", "device", "root", "preprocess"):
        yield key, None, json.dumps(config.get(key), sort_keys=True)
    for section, values in sorted(_options(result).items()):
        if isinstance(values, Mapping):
            scope = result.protocol if section == "protocol" else None
            for option, value in sorted(values.items()):
                yield f"{section}.{option}", scope, json.dumps(value, sort_keys=True)


def _shown_setting(key: str, value: str) -> str:
    return f"{key} {value}" if value == MISSING else setting_text(key, json.loads(value))


DESCRIPTIONS = {"what": "what leaks", "expected_leaks": "expected leaks", "protocol": "protocol", "sets": "settings",
                "note": "note"}
"""The keys of a variant's entry that describe it, in the words of the audit."""


def _description_differences(stated: Mapping[str, Any], expected: Mapping[str, Any] | None) -> list[str]:
    """How a variant's description in the summary differs from the one merbench gives it (``_merbench_variants``)."""
    if expected is None:  # not a variant merbench runs: the runs check says so
        return []
    return [f"{DESCRIPTIONS[key]} {_description(key, stated.get(key))} in the summary, "
            f"{_description(key, expected[key])} from merbench leakage" for key in DESCRIPTIONS
            if key in expected and _description(key, stated.get(key)) != _description(key, expected[key])]


def _description(key: str, value: Any) -> str:
    """A description field as the audit names it: texts quoted, lists and settings joined, ``none`` for nothing."""
    if not value:
        return "none"
    if key == "sets" and isinstance(value, Mapping):
        return ", ".join(setting_text(str(name), setting) for name, setting in value.items())
    if key == "expected_leaks" and isinstance(value, list):
        return ", ".join(map(str, value))
    return json.dumps(value, ensure_ascii=False) if key in ("what", "note") else str(value)


NAMES = {"uf1": "UF1", "uar": "UAR", "accuracy": "accuracy"}
BOUNDS = {"uf1": "ΔUF1", "low": "ΔUF1 interval low", "high": "ΔUF1 interval high"}


def _differences(stated: Mapping[str, Any], computed: Mapping[str, Any]) -> list[str]:
    """How a variant's entry differs from the one its runs give, in words."""
    found = [f"{NAMES[key]} {_shown(stated.get(key))} in the summary, {_shown(computed[key])} from its runs"
             for key in SCORES if not _close(stated.get(key), computed[key])]
    for said, given in zip(stated["runs"], computed["runs"]):
        found += [f"seed {given['seed']}'s {NAMES[key]} {_shown(said.get(key))} in the summary, "
                  f"{_shown(given[key])} stored" for key in SCORES if not _close(said.get(key), given[key])]
    inflation, again = stated.get("inflation"), computed["inflation"]
    if (inflation is None) != (again is None):
        found.append(f"ΔUF1 {'missing' if inflation is None else 'given'} in the summary, "
                     f"{'none' if again is None else 'one'} from its runs")
    elif again is not None:
        found += [f"{BOUNDS[key]} {_shown(inflation.get(key), ' points')} in the summary, "
                  f"{_shown(again[key], ' points')} from its runs"
                  for key in BOUNDS if not _close(inflation.get(key), again[key])]
    if sorted(stated.get("leaks") or []) != sorted(computed["leaks"]):
        found.append(f"leaks {', '.join(stated.get('leaks') or []) or 'none'} in the summary, "
                     f"{', '.join(computed['leaks']) or 'none'} recorded by its run")
    return found


def _close(value: Any, expected: float) -> bool:
    """Whether a summary's ``value`` is the ``expected`` number (NaN matches NaN)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if math.isnan(expected):
        return math.isnan(value)
    return abs(float(value) - expected) <= TOLERANCE


def _shown(value: Any, unit: str = " %") -> str:
    """A score as the tables write it (``48.7 %``; a difference ``+2.0 points``), or the value as it is."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return repr(value)
    return f"{percent(value)}{unit}" if unit == " %" else f"{100 * value:+.1f}{unit}"

