"""Search spaces of ``merbench tune``: a YAML file of options and the values each may take.

A space file maps ``SECTION.OPTION`` keys (or ``SECTION:`` mappings of
options) to one parameter each::

    engine.lr:     {type: float, low: 0.0005, high: 0.02, log: true}
    model.dropout: {type: float, low: 0.0, high: 0.5}
    model.depth:   {type: int, low: 2, high: 6}
    model:
      attention:   {type: categorical, choices: [cbam, none]}

Sections are ``model``, ``engine`` and the run's preprocessors (``flow``,
``lbptop``...), less the engine options of ``REFUSED_ENGINE`` (how trials
run, and the leaky ``select_on``/``normalise_on``). Every bound and choice is
checked against the option it sets (its type, the plugin's ``option_ranges``
and, through ``check``, the model built with it) before anything runs, so a
space that cannot be searched is one ``UsageError`` naming the file and the
key. A range must be one Optuna searches as written (a ``step`` divides
``high - low``), and a searched option must have two values at least (one
value is ``--set``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping


from merbench.config import coerce
from merbench.errors import UsageError
from merbench.yaml_files import read_yaml
from merbench.wording import plural

TYPES = ("float", "int", "categorical")
FIELDS = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
          "categorical": {"type", "choices"}}
REFUSED_SECTIONS = {
    "dataset": "it changes the data, so trials and folds would not score the same samples",
    "protocol": "it changes the outer folds that the tuned result is scored on",
    "executor": "it changes where trials run, not what they learn; use --executor and --set executor.*",
}
RUN_ENGINE = ("threads", "preprocess_workers", "parallel_folds", "parallel_mode", "compile", "channels_last", "amp")
"""Engine options that change how trials run, not what they learn (left out of a tune's content key)."""
REFUSED_ENGINE: dict[str, str] = {
    **{option: f"changes how trials run, not what they learn; set it with --set engine.{option}=..."
       for option in RUN_ENGINE},
    "select_on": "cannot be searched: engine.select_on=test keeps the epoch that scored best on the fold's own test "
                 "samples, so a test fold would take part in the choice (docs/leakage.md); a tune keeps the default, "
                 "validation",
    "normalise_on": "cannot be searched: engine.normalise_on=all standardises inputs with statistics of the test "
                    "samples too (docs/leakage.md); a tune keeps the default, train",
}
"""Engine options a space may not search, with the reason: how trials run, and the two leaky settings (a tune also
refuses the leaky values when fixed with --set, ``merbench.tuning.refuse_leaks``)."""


@dataclass(frozen=True)
class Param:
    """One searched option: ``key`` (``section.option``), its type and range or choices."""

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    @property
    def section(self) -> str:
        """The configuration section the option belongs to (``model``, ``engine``, ``flow``...)."""
        return self.key.partition(".")[0]

    def suggest(self, trial: Any) -> Any:
        """This parameter's value for an Optuna ``trial`` (a list option's choice comes back as comma text)."""
        if self.type == "float":
            return trial.suggest_float(self.key, float(self.low), float(self.high), log=self.log,
                                       step=None if self.step is None else float(self.step))
        if self.type == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_categorical(self.key, list(self.choices))

    def describe(self) -> str:
        """The range in words: ``float 0.0005..0.02 (log)``, ``one of cbam, none``."""
        if self.type == "categorical":
            return "one of " + ", ".join(str(c) for c in self.choices)
        scale = ", log" if self.log else ""
        step = f", step {self.step}" if self.step is not None else ""
        return f"{self.type} {self.low}..{self.high}{scale}{step}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description."""
        if self.type == "categorical":
            return {"key": self.key, "type": self.type, "choices": list(self.choices)}
        return {"key": self.key, "type": self.type, "low": self.low, "high": self.high, "log": self.log,
                "step": self.step}


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of one space file, in file order."""

    path: Path
    params: tuple[Param, ...]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """``{section.option: value}`` of one trial."""
        return {param.key: param.suggest(trial) for param in self.params}

    def keys(self) -> list[str]:
        """The searched ``section.option`` keys."""
        return [param.key for param in self.params]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (also part of the studies' content key)."""
        return {"file": str(self.path), "params": [param.to_dict() for param in self.params]}

    def key_parts(self) -> list[dict[str, Any]]:
        """What identifies the space for resuming (the parameters, not the file's name)."""
        return [param.to_dict() for param in self.params]


BUILT_IN_SPACES = Path(__file__).resolve().parent.parent / "benchmarks" / "spaces"
"""The search spaces of the built-in models, in the merbench checkout (not part of an installed wheel)."""


def built_in_spaces_hint() -> str:
    """Where the built-in search spaces are, said so that it holds from any working folder."""
    files = sorted(path.name for path in BUILT_IN_SPACES.glob("*.yaml")) if BUILT_IN_SPACES.is_dir() else []
    if not files:
        return ("the built-in spaces come with merbench's source, in its repository's benchmarks/spaces/ folder; or "
                "write one (docs/tuning.md)")
    return f"the built-in spaces are in {BUILT_IN_SPACES} ({', '.join(files)})"


def _read(path: Path) -> dict[str, Any]:
    """The space file as flat ``section.option`` -> parameter mapping (raises ``UsageError``)."""
    where = f"--space {path}"
    data = read_yaml(path, where, kind="YAML search space", example="benchmarks/spaces/ststnet.yaml",
                     when_missing=built_in_spaces_hint())
    empty = (f"{where}: expected a mapping of options to search, e.g. "
             "'engine.lr: {type: float, low: 0.0005, high: 0.02, log: true}'")
    if not isinstance(data, dict) or not data:
        raise UsageError(empty)
    flat: dict[str, Any] = {}

    def put(name: str, spec: Any) -> None:
        if name in flat:
            raise UsageError(f"{where}: {name} is given twice (as '{name}:' and under its section); keep one")
        flat[name] = spec

    for key, value in data.items():
        key = str(key)
        if "." not in key and (value is None or (isinstance(value, dict) and "type" not in value)):
            if not value:
                raise UsageError(f"{where}: section '{key}:' holds no option to search ({value!r}); give its options "
                                 f"under it, e.g. '{key}: {{dropout: {{type: float, low: 0.0, high: 0.5}}}}', or "
                                 f"write them as '{key}.OPTION: {{...}}'")
            for option, spec in value.items():
                put(f"{key}.{option}", spec)
        else:
            put(key, value)
    if not flat:
        raise UsageError(empty)
    return flat


def _number(value: Any, where: str, field: str, integer: bool) -> float | int:
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as text
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float)
                                                                          and not math.isfinite(value)):
        raise UsageError(f"{where}: {field}={value!r} is not a finite number")
    if integer:
        # Only a float can be fractional: float() of an int above 2**53 is another number, no reason to refuse it.
        if isinstance(value, float) and not value.is_integer():
            raise UsageError(f"{where}: {field}={value!r} must be a whole number for type: int")
        return int(value)
    try:
        return float(value)
    except OverflowError:  # an int beyond any float (about 1.8e308)
        raise UsageError(f"{where}: {field}={value!r} is too large for type: float") from None


def _choice(value: Any, where: str) -> Any:
    """A categorical choice as Optuna stores it: a list becomes comma text (``3,5,8``)."""
    if isinstance(value, (list, tuple)):
        if not value or any(isinstance(v, (list, tuple, dict)) for v in value):
            raise UsageError(f"{where}: choice {value!r} must be a non-empty flat list")
        return ",".join(str(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise UsageError(f"{where}: choice {value!r} must be a number, text, true/false or a list")


def _param(key: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict):
        raise UsageError(f"{where}: expected a mapping such as {{type: float, low: 0.0, high: 0.5}}, got {spec!r}")
    if "type" not in spec:
        spelt = [str(name) for name in spec if str(name).strip().lower() == "type"]
        hint = f"'{spelt[0]}' is not a field (fields are lower case): write type" if spelt else "no type given"
        raise UsageError(f"{where}: {hint}; every entry needs type: {', '.join(TYPES[:-1])} or {TYPES[-1]}")
    kind = str(spec.get("type", "")).strip().lower()
    if kind not in TYPES:
        raise UsageError(f"{where}: type {spec.get('type')!r} is not one of {', '.join(TYPES)}")
    unknown = sorted(set(map(str, spec)) - FIELDS[kind])
    if unknown:
        raise UsageError(f"{where}: unknown {plural(unknown, 'field')} {', '.join(unknown)} for type {kind}; "
                         f"allowed: {', '.join(sorted(FIELDS[kind]))}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UsageError(f"{where}: categorical needs 'choices', a non-empty list")
        values = tuple(_choice(choice, where) for choice in choices)
        if len(set(map(json.dumps, values))) != len(values):
            raise UsageError(f"{where}: choices repeat a value; list each once")
        if len(values) == 1:
            raise UsageError(f"{where}: one choice ({values[0]!r}) leaves nothing to search; to fix an option, "
                             "use --set instead")
        return Param(key, kind, choices=values)
    for field in ("low", "high"):
        if field not in spec:
            raise UsageError(f"{where}: type {kind} needs 'low' and 'high'")
    integer = kind == "int"
    low, high = _number(spec["low"], where, "low", integer), _number(spec["high"], where, "high", integer)
    if not low < high:
        fix = ("to fix an option at one value, use --set instead" if low == high
               else "swap them (low is the smaller bound)")
        raise UsageError(f"{where}: low ({low}) must be below high ({high}); {fix}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(f"{where}: log={log!r} must be true or false")
    if log and low <= 0:
        raise UsageError(f"{where}: log: true needs low above 0 (low is {low})")
    step = spec.get("step")
    if step is not None:
        step = _number(step, where, "step", integer)
        if step <= 0:
            raise UsageError(f"{where}: step={step} must be above 0")
        if log:
            raise UsageError(f"{where}: step and log: true cannot be combined (Optuna samples a log scale without steps)")
        _check_step(low, high, step, where)
    return Param(key, kind, low, high, log, step)


def _check_step(low: float | int, high: float | int, step: float | int, where: str) -> None:
    """Refuse a ``step`` that does not divide ``high - low`` (Optuna would silently search a narrower range)."""
    steps = (high - low) / step
    if math.isclose(steps, round(steps), rel_tol=1e-9, abs_tol=1e-9):
        return
    below, above = low + math.floor(steps) * step, low + math.ceil(steps) * step
    if isinstance(step, float):
        below, above = float(f"{below:.12g}"), float(f"{above:.12g}")
    span = float(f"{high - low:.12g}") if isinstance(step, float) else high - low
    fix = (f"use high: {below} or high: {above}" if below > low  # high: low is refused (low must be below high)
           else f"use high: {above}, or step: {span} (the step is wider than the range)")
    raise UsageError(f"{where}: step {step} does not divide high - low ({high} - {low}), so the values from low in "
                     f"steps of {step} stop at {below}, not at high; {fix}")



def _check_against_option(param: Param, default: Any, where: str, check: Callable[..., Any],
                          others: tuple[Param, ...]) -> list[Any]:
    """Refuse a type the option cannot take, and any bound or choice its own checks refuse; what ``check`` returned
    for each bound or choice."""
    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
    if param.type != "categorical" and not numeric:
        shown = "true/false" if isinstance(default, bool) else "a list" if isinstance(default, (list, tuple)) else "text"
        raise UsageError(f"{where}: the option takes {shown} (default {default!r}); use type: categorical with choices")
    if param.type == "float" and isinstance(default, int):
        raise UsageError(f"{where}: the option takes whole numbers (default {default}); use type: int")
    return check_bounds(param, where, check, others)


def _check_distinct_settings(param: Param, default: Any, where: str, resolved: list[Any]) -> None:
    """Refuse choices that are one setting of the option once read as its type (``0.1`` and ``"0.1"``, ``true`` and
    ``"true"``) or as the run resolves it (``rbf`` and ``RBF``; ``resolved``: each choice's resolved value, ``None``
    where not known): the search would weigh that setting twice and report it as two."""
    if param.type != "categorical":
        return
    seen: dict[str, Any] = {}
    for choice, value in zip(param.choices, resolved):
        value = coerce(param.key, choice, default) if value is None else value
        setting = json.dumps(value, sort_keys=True, default=str)
        if setting in seen:
            raise UsageError(f"{where}: choices {seen[setting]!r} and {choice!r} are one setting of the option; "
                             "list each once")
        seen[setting] = choice


def values_of(param: Param) -> list[Any]:
    """The bounds of a range or the choices of a categorical parameter: the values a space's checks try."""
    return list(param.choices) if param.type == "categorical" else [param.low, param.high]


def _with_others(param: Param, value: Any, check: Callable[..., Any], others: tuple[Param, ...]) -> Any:
    """``check(key, value)``; when refused, ``check(key, value, {OTHER: V})`` with each bound or choice V of each
    other searched option, so a value refused only beside another option's setting (model.attention_every=3 with
    a model.depth of 2, where the space searches model.depth up to 6) is accepted; its trials fail when sampled
    together. The first refusal is raised when no other setting allows the value."""
    try:
        return check(param.key, value)
    except UsageError as refused:
        for other in others:
            for candidate in values_of(other):
                try:
                    return check(param.key, value, {other.key: candidate})
                except UsageError:
                    continue
        raise refused from None


def check_bounds(param: Param, where: str, check: Callable[..., Any], others: tuple[Param, ...] = ()) -> list[Any]:
    """Call ``check(key, value)`` for each bound or choice of ``param``, returning what it returned for each; a
    refusal (``UsageError``) is raised again after ``where`` (``--space FILE: KEY``), naming the value and the key
    once. With ``others`` (the other searched options), ``check`` also takes their settings (``_with_others``)."""
    returned = []
    for value in values_of(param):
        try:
            returned.append(_with_others(param, value, check, others))
        except UsageError as exc:
            message = str(exc)  # "KEY=VALUE: why" names the key already: say it once
            raise UsageError(f"{where}{message[len(param.key):]}" if message.startswith(f"{param.key}=")
                             else f"{where}={value}: {message}") from None
    return returned


def load_space(path: Path, sections: Mapping[str, Mapping[str, Any]], check: Callable[..., Any],
               fixed: Mapping[str, Any] = ()) -> SearchSpace:
    """Read and validate the space file at ``path`` against a resolved configuration.

    ``sections`` are the run's resolved sections (option -> default); ``check(key,
    value)`` raises ``UsageError`` when the run would refuse ``key=value``
    (``merbench.config.resolve_config`` with that setting) and may return the
    value the run resolves it to (choices resolved alike are refused); a value it
    refuses is tried again as ``check(key, value, {OTHER: V})`` with the other
    searched options' bounds and choices; ``fixed`` are the
    keys the user set with ``--set``/``--config``, which a space may not search too.
    """
    params = []
    for key, spec in _read(path).items():
        where = f"--space {path}: {key}"
        section, dot, option = key.partition(".")
        if not dot or not option:
            raise UsageError(f"{where}: keys are SECTION.OPTION, e.g. model.dropout or engine.lr")
        if section in REFUSED_SECTIONS:
            raise UsageError(f"{where}: the {section} section cannot be tuned: {REFUSED_SECTIONS[section]}")
        if section not in sections:
            tunable = [name for name in sections if name not in REFUSED_SECTIONS]
            raise UsageError(f"{where}: unknown section '{section}'; this run's tunable sections are "
                             f"{', '.join(tunable)} (a preprocessor's section exists only when it is in the chain)")
        if option not in sections[section]:
            known = ", ".join(f"{section}.{name}" for name in sections[section]) or "none"
            raise UsageError(f"{where}: '{option}' is not an option of {section}; its options: {known}")
        if section == "engine" and option in REFUSED_ENGINE:
            raise UsageError(f"{where}: {REFUSED_ENGINE[option]}")
        if key in fixed:
            raise UsageError(f"{where}: also set with --set/--config/--epochs; a searched option cannot be fixed too (drop one)")
        params.append(_param(key, spec, where))
    for param in params:  # each against the option it sets, once every searched option is known
        default, where = sections[param.section][param.key.partition(".")[2]], f"--space {path}: {param.key}"
        others = tuple(other for other in params if other is not param)
        resolved = _check_against_option(param, default, where, check, others)
        _check_distinct_settings(param, default, where, resolved)
    return SearchSpace(path, tuple(params))
