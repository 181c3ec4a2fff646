"""Regression checks of scores against a baseline file (``merbench regress``).

A baseline is YAML::

    version: 1
    defaults:                 # apply to every entry unless it says otherwise
      dataset: synthetic
      protocol: subject-10fold
      profile: quick
      seed: 0
      device: cpu
      tolerance: 0.06         # allowed |measured - expected|, fractions 0..1
      metrics: [uf1, uar, accuracy]
      set: {}                 # --set options, e.g. {protocol.n_splits: 5}
    entries:
      - model: convmixer
        metrics:
          uf1: {expected: 0.4321, tolerance: 0.06}
          accuracy: {expected: 0.55, tolerance: 0.06, tolerance_high: 0.1}

An entry whose configuration leaks test information (a protocol that is not
subject-independent such as ``sample-10fold``, ``frame-10fold``,
``engine.select_on=test``, ``engine.normalise_on=all``: docs/leakage.md) is
refused unless it says ``leaky: true``, so a leaky score never passes for an
honest one.

Scores are pooled over folds. A measured value below ``expected - tolerance``
is ``low`` (a regression), one above ``expected + tolerance_high`` (default:
``tolerance``) is ``high`` (suspicious: leakage or a broken metric); either
fails the check, as does ``failed``: the run failed or its score is not a
number. Expected values lie in 0..1, tolerances in 0..1.

``merbench regress --update --seeds N`` derives each band instead of keeping
it: every entry runs with N seeds in each thread layout (``--threads``), the
expected value is the mean of those runs and the tolerance
``min(max(k · std, floor), 1)``; the runs' values, the rule, the data they ran on
(``n_samples``, ``n_subjects``, ``class_counts``), the machine and the date are
written under the entry's ``derived:`` key (docs/results.md). ``--update`` alone
takes each expected value from one run and keeps the tolerances; it removes an
entry's ``derived:`` block, which recorded the runs behind the old values, and a
note says so.

A check holds ``derived:`` to its word: a band edited by hand under it (an
expected value that is not the mean of its values, a tolerance that its k, std
and floor do not give: ``derived_band_edits``) is refused before anything runs,
and a run on other data than the band was derived on (other sample, subject or
class counts: ``other_data``) is not checked against it and fails.

Values are written with 4 decimals (``DIGITS``): an expected value is rounded to
the nearest (with more decimals where four would show another percentage than
the value: 0.538461 is written 0.53846, not 0.5385, which shows as 53.9), a
derived tolerance up, and the check allows half a rounding step
beyond the band (``SLACK``), so a baseline just written by ``--update`` passes on
the runs it was measured from, even with a tolerance of 0.

With ``--stored`` an entry reuses the newest stored run of exactly its
configuration instead of training, or continues its interrupted run from the
finished folds (``ResultStore.interrupted_run``); a reused run trained by other software than
the check runs (merbench version, git commit or torch: ``PROVENANCE_KEYS``) is
named with both versions (``Reuse``), so a log never shows a band held by code
that did not run. That is information, not a failure.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from merbench.config import resolve_config
from merbench.environment import PROVENANCE_KEYS, known_software, other_software, trained_with
from merbench.errors import DataError, RunFailed, UsageError
from merbench.leaks import config_leaks, describe, result_leaks
from merbench.metrics import METRIC_KEYS
from merbench.outputs import ANY_KIND, check_output_path, store_files, write_output
from merbench.report import REPORTED_METRICS, comparability, from_own_paper
from merbench.result import RunResult, document_kind, document_name
from merbench.wording import SCORE_DIGITS, counted, paper_points, percent, plural
from merbench.yaml_files import read_yaml
from merbench.yaml_update import plain_yaml_text, shared_value, updated_yaml_text

DEFAULT_TOLERANCE = 0.06
DEFAULT_METRICS = ("uf1", "uar", "accuracy")
ENTRY_KEYS = {"model", "dataset", "protocol", "profile", "seed", "device", "set", "metrics", "tolerance", "derived",
              "leaky"}
ENTRY_ONLY_KEYS = {"model", "derived"}
"""Entry keys that cannot be defaults (``leaky`` neither: it is refused with its own reason)."""
DEFAULT_K = 3.0
DEFAULT_FLOOR = 0.03
DIGITS = 4
"""Decimals of the expected values and tolerances ``--update`` writes."""
SLACK = 0.5 * 10 ** -DIGITS + 1e-9
"""How far beyond its band a score still passes: half a rounding step of the written precision, so that
a measured 0.302737 written as ``expected: 0.3027`` with ``tolerance: 0`` (std 0 across seeds, ``--floor 0``)
passes against the very run it came from; 1e-9 more absorbs the binary error of the decimals."""
BUILTIN_DEFAULTS: dict[str, Any] = {
    "dataset": "synthetic", "protocol": "subject-10fold", "profile": "quick", "seed": 0, "device": "cpu",
    "tolerance": DEFAULT_TOLERANCE, "metrics": list(DEFAULT_METRICS), "set": {},
}
HEADER = """\
# merbench regression baseline: `merbench regress --baseline THIS_FILE` re-runs each entry and
# fails when a pooled score leaves expected ± tolerance (too low: regression; too high: suspicious).
# Regenerate the expected values and bands with `merbench regress --baseline THIS_FILE --update --seeds 3`.
# Format: docs/results.md.
"""


@dataclass
class Expectation:
    """Expected value of one metric and the band around it."""

    metric: str
    expected: float | None
    tolerance: float
    tolerance_high: float | None = None

    @property
    def above(self) -> float:
        """How far above ``expected`` a score may lie: ``tolerance_high``, else ``tolerance``."""
        return self.tolerance if self.tolerance_high is None else self.tolerance_high


@dataclass
class Entry:
    """One run to check: what to run and the metrics expected of it."""

    model: str
    dataset: str
    protocol: str
    profile: str
    seed: int
    device: str
    sets: dict[str, Any]
    expectations: list[Expectation]
    derived: dict[str, Any] | None = None
    leaky: bool = False
    origin: str = "baseline entry"
    written: dict[str, Any] | None = None
    """The entry's mapping as the file has it (``--update`` rewrites that, keeping what the user wrote); ``None``
    for an entry ``--add-missing`` adds."""
    number: int = 0
    """The entry's place in the baseline file, from 1 (``entry 2`` in ``where`` and in every line about it)."""
    updating: bool = False
    """Read by ``--update``, which measures the entry anew: its ``derived:`` block describes the runs being replaced,
    so neither its band nor its data are held against them (``load_baseline``, ``other_data``)."""

    @property
    def where(self) -> str:
        """The baseline file and entry number with ``model · dataset · protocol``, to prefix an error about it."""
        return f"{self.origin} ({self.model} · {self.dataset} · {self.protocol})"

    @property
    def setting(self) -> str:
        """``dataset · protocol · profile · seed N`` plus the entry's own ``set:`` options."""
        extra = " ".join(f"{key}={value}" for key, value in self.sets.items())
        return f"{self.dataset} · {self.protocol} · {self.profile} · seed {self.seed}" + (f" · {extra}" if extra else "")

    @property
    def label(self) -> str:
        """``model · dataset · protocol`` (plus the profile and seed)."""
        return f"{self.model} · {self.dataset} · {self.protocol} ({self.profile}, seed {self.seed})"

    @property
    def own_sets(self) -> dict[str, Any]:
        """The ``set:`` options the entry itself writes (not those it takes from ``defaults:``): what tells two
        entries of one model, dataset and protocol apart."""
        written = (self.written or {}).get("set") or {}
        return {key: self.sets[key] for key in written if key in self.sets}

    def heading(self, seed: int | None = None) -> str:
        """``entry N: model · dataset · protocol (profile, seed S; KEY=VALUE ...)``, the entry's own ``set:``
        options last: how a progress line names the entry it runs or reuses, so that two entries of one model
        with other settings read apart in a log. ``seed``: a ``--seeds`` run's own seed (default: the entry's)."""
        own = " ".join(f"{key}={value}" for key, value in self.own_sets.items())
        return (f"entry {self.number}: {self.model} · {self.dataset} · {self.protocol} "
                f"({self.profile}, seed {self.seed if seed is None else seed}" + (f"; {own}" if own else "") + ")")


@dataclass
class Check:
    """The outcome for one metric of one entry: ``ok``, ``low``, ``high``, ``new`` (no expected value yet) or
    ``failed`` (the run failed: ``measured`` is ``None``; or its score is not a number)."""

    entry: str
    metric: str
    expected: float | None
    measured: float | None
    tolerance: float
    tolerance_high: float
    status: str
    run_id: str | None = None

    @property
    def delta(self) -> float | None:
        """measured − expected."""
        return None if self.expected is None or self.measured is None else self.measured - self.expected

    @property
    def passed(self) -> bool:
        """Within the band."""
        return self.status == "ok"


@dataclass
class Baseline:
    """A parsed baseline file."""

    path: Path
    defaults: dict[str, Any]
    entries: list[Entry] = field(default_factory=list)
    written_defaults: dict[str, Any] = field(default_factory=dict)
    """``defaults:`` as the file has it (``defaults`` adds the built-in ones); ``--update`` writes this back."""
    read_as: str | None = None
    """With ``--update``: the file's ``file_stamp`` when it was read, so that the rewrite does not undo what another
    update or an edit wrote meanwhile (``write_baseline``)."""


def file_stamp(path: Path) -> str:
    """The SHA-256 of ``path``'s bytes; ``""`` when there is no such file."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def _where(path: Path, index: int | None) -> str:
    return f"{path}" if index is None else f"{path}, entry {index + 1}"


E_NOTATION = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")
"""A number such as ``1e-1`` or ``4E-1``, which YAML 1.1 (PyYAML) reads as text: it wants ``1.0e-1``."""


def _number(value: Any, what: str, where: str) -> float:
    """A fraction 0..1: NaN would make every comparison false, so every check pass; a tolerance above 1 too.

    ``1e-1`` written in the file is taken as the number it is, although YAML hands it over as text.
    """
    if isinstance(value, str) and E_NOTATION.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where}: {what} must be a number (fraction 0..1), got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= 1:
        example = "a score of 43.2 % is 0.432" if what.endswith("expected") else "0.06 allows ±6 points"
        raise UsageError(f"{where}: {what} is {value!r}; give a finite fraction 0..1 ({example})")
    return number


NAME_KEYS = ("model", "dataset", "protocol", "profile", "device")
"""The keys whose value is a name: one given without a value is refused, not run as 'None'."""


def _check_names(mapping: dict[str, Any], where: str) -> None:
    for key in NAME_KEYS:
        if key in mapping and (mapping[key] is None or not str(mapping[key]).strip()):
            example = "model: convmixer (`merbench list models`)" if key == "model" else f"{key}: {BUILTIN_DEFAULTS[key]}"
            raise UsageError(f"{where}: '{key}' is empty; give a name, e.g. {example}"
                             + ("" if key == "model" else ", or drop the key for the default"))


def _check_metrics(mapping: dict[str, Any], where: str) -> None:
    """An empty ``metrics:`` (``[]``, ``{}``, no value) is refused: it would check nothing, and falling back on
    some other list would check metrics the file does not name."""
    if "metrics" in mapping and not mapping["metrics"]:
        raise UsageError(f"{where}: 'metrics' is empty; list at least one of {', '.join(METRIC_KEYS)} "
                         "(e.g. metrics: [uf1, uar]), or drop the key to use the defaults' metrics")
    if "metrics" in mapping and not isinstance(mapping["metrics"], (list, dict)):
        raise UsageError(f"{where}: 'metrics' must be a list of names or a mapping name: {{expected, tolerance}}")


def _check_metric_names(metrics: list[Any], where: str) -> None:
    """A ``metrics:`` list holds metric names only: a mapping or list in it is a misplaced expected value."""
    odd = [item for item in metrics if not isinstance(item, str)]
    if odd:
        raise UsageError(f"{where}: 'metrics' lists {odd[0]!r}, not a metric name; a list holds names only "
                         "(metrics: [uf1, uar]), expected values go in a mapping (metrics: {uf1: 0.3})")


def _entry(raw: Any, defaults: dict[str, Any], path: Path, index: int) -> Entry:
    where = _where(path, index)
    if not isinstance(raw, dict) or "model" not in raw:
        raise UsageError(f"{where}: each entry must be a mapping with at least 'model:'")
    unknown = sorted(set(raw) - ENTRY_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown {plural(unknown, 'key')} {', '.join(unknown)}; valid: {', '.join(sorted(ENTRY_KEYS))}")
    _check_names(raw, where)
    _check_metrics(raw, where)
    merged = {**defaults, **raw}
    if not isinstance(raw.get("set") or {}, dict):
        raise UsageError(f"{where}: 'set' must be a mapping of KEY: VALUE, e.g. set: {{engine.epochs: 5}}")
    sets = {**(defaults.get("set") or {}), **(raw.get("set") or {})}
    tolerance = _number(merged.get("tolerance", DEFAULT_TOLERANCE), "tolerance", where)
    metrics = merged["metrics"]
    if isinstance(metrics, list):
        _check_metric_names(metrics, where)
        metrics = {name: {} for name in metrics}
    if not isinstance(metrics, dict):
        raise UsageError(f"{where}: 'metrics' must be a list of names or a mapping name: {{expected, tolerance}}")
    expectations = []
    for name, spec in metrics.items():
        if name not in METRIC_KEYS:
            raise UsageError(f"{where}: unknown metric '{name}'; choose from {', '.join(METRIC_KEYS)}")
        spec = spec if isinstance(spec, dict) else {"expected": spec}
        extra = sorted(set(spec) - {"expected", "tolerance", "tolerance_high"})
        if extra:
            raise UsageError(f"{where}: metric '{name}' has unknown {plural(extra, 'key')} {', '.join(extra)}; use expected, tolerance, tolerance_high")
        expected = spec.get("expected")
        expectations.append(Expectation(
            name,
            None if expected is None else _number(expected, f"{name}.expected", where),
            _number(spec.get("tolerance", tolerance), f"{name}.tolerance", where),
            None if spec.get("tolerance_high") is None else _number(spec["tolerance_high"], f"{name}.tolerance_high", where),
        ))
    seed = merged["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"{where}: seed is {seed!r}; give a whole number ≥ 0 (default 0)")
    derived = raw.get("derived")
    if derived is not None and not isinstance(derived, dict):
        raise UsageError(f"{where}: 'derived' must be a mapping (written by --update --seeds N)")
    leaky = raw.get("leaky", False)
    if not isinstance(leaky, bool):
        raise UsageError(f"{where}: 'leaky' must be true or false, got {leaky!r}")
    return Entry(str(raw["model"]), str(merged["dataset"]), str(merged["protocol"]), str(merged["profile"]), seed,
                 str(merged["device"]), sets, expectations, derived, leaky, where, copy.deepcopy(raw), index + 1)


BASELINE_KEYS = ("version", "defaults", "entries")
"""The top-level keys of a baseline file."""


def load_baseline(path: Path, *, update: bool = False, start_new: bool = False) -> Baseline:
    """Read and validate a baseline file (raises ``UsageError`` naming the file and entry); with ``update``, also
    refuse one that ``--update`` could not rewrite (``refuse_shared_values``), before anything runs.

    With ``start_new`` (``--update --add-missing``) a file that does not exist yet, or has neither defaults nor
    entries (an empty file), is an empty baseline with the built-in defaults but ``profile: default``
    (docs/results.md: a quick-profile band guards nothing), which the update then writes.

    Without ``update``, an entry whose band its ``derived:`` block does not give (``derived_band_edits``) is refused;
    ``--update`` replaces the band (``--seeds N``) or the block (without), so it reads such a file.
    """
    if start_new and not path.exists() and not path.is_symlink():
        baseline = parse_baseline(_new_baseline_document(), path)
        baseline.read_as = ""
        return baseline
    stamp = file_stamp(path) if update else None
    data = read_yaml(path, f"--baseline {path}", kind="baseline file (YAML, format: docs/results.md)",
                     example=path / "baseline.yaml",
                     when_missing=f"create one with `merbench regress --baseline {path} --update --add-missing`")
    if update:
        refuse_shared_values(path, path.read_text(encoding="utf-8"))  # read as YAML just above: it is readable text
    baseline = parse_baseline(data, path)
    if start_new and not baseline.entries and not baseline.written_defaults:  # an empty file starts as a missing one
        baseline = parse_baseline(_new_baseline_document(), path)
    baseline.read_as = stamp
    for entry in baseline.entries:
        entry.updating = update
        edits = [] if update else derived_band_edits(entry)
        if edits:
            raise UsageError(
                f"{entry.where}: {'; '.join(edits)}. The band was edited by hand after `merbench regress --update "
                "--seeds N` derived it, so its derived: block no longer says how it was measured. Derive it again "
                f"(`merbench regress --baseline {path} --update --seeds N`), write the derived value back, or delete "
                "the entry's derived: block to keep a band set by hand")
    return baseline


def _new_baseline_document() -> dict[str, Any]:
    """What ``--update --add-missing`` starts a new baseline from: the built-in defaults, but ``profile: default``."""
    defaults = {**copy.deepcopy(BUILTIN_DEFAULTS), "profile": "default"}  # a quick-profile band guards nothing
    return {"version": 1, "defaults": defaults, "entries": []}


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def derived_band_edits(entry: Entry) -> list[str]:
    """What in the entry's band its ``derived:`` block (written by ``--update --seeds N``) does not give, one phrase per
    metric: an expected value that is not the mean of the block's ``values``, a tolerance that is not
    ``min(max(k · std, floor), 1)`` of its ``k``, ``std`` and ``floor``. Empty without a block, and for what the
    block does not record.

    ``--update`` writes the expected value, each of the values and the std rounded to ``DIGITS`` decimals (to the
    nearest) and the tolerance rounded up: a difference those roundings explain (half a step each, the std's
    times k, the round-up a whole step) is not an edit.
    """
    derived = entry.derived or {}
    values, std, k, floor = derived.get("values"), derived.get("std"), derived.get("k"), derived.get("floor")
    values = values if isinstance(values, dict) else {}
    std = std if isinstance(std, dict) else {}
    step = 10 ** -DIGITS
    edits = []
    for expectation in entry.expectations:
        if expectation.expected is None:
            continue
        metric = expectation.metric
        runs = values.get(metric)
        if isinstance(runs, list) and runs and all(_numeric(v) for v in runs):
            mean = statistics.fmean(runs)
            if abs(expectation.expected - mean) > step + 1e-9:
                edits.append(f"{metric}.expected is {expectation.expected:g}, not the mean of its derived: values "
                             f"({mean:.{DIGITS}f})")
        if _numeric(k) and _numeric(floor) and _numeric(std.get(metric)):
            gives = band_tolerance(std[metric], k, floor)
            if abs(expectation.tolerance - gives) > (k / 2 + 1) * step + 1e-9:
                edits.append(f"{metric}.tolerance is {expectation.tolerance:g}, not the {min(_round_up(gives), 1.0):g} "
                             f"its derived: block gives (min(max(k · std, floor), 1) with k {k:g}, std {std[metric]:g} "
                             f"and floor {floor:g}, rounded up to {DIGITS} decimals)")
    return edits


def refuse_shared_values(path: Path, text: str) -> None:
    """``UsageError`` when the baseline's ``text`` shares a value between places (an anchor, alias or merge key:
    ``yaml_update.shared_value``): ``--update`` would write one place's measured value into the others."""
    shared = shared_value(text)
    if shared is not None:
        what, line = shared
        raise UsageError(f"--baseline {path}: line {line} has the YAML {what}; --update cannot give an alias's uses "
                         "different values. Write each value out in full (no &anchors, *aliases or << merge keys), "
                         "then run --update again; the file is not updated")


def parse_baseline(data: Any, path: Path) -> Baseline:
    """Validate a baseline document read from ``path`` (or about to be written there, by ``--update``)."""
    data = data or {}
    kind = document_kind(data)
    if kind:
        what = "a run's result (merbench run --json)" if kind == "run" else document_name(kind)
        raise UsageError(f"--baseline {path}: is {what}, not a baseline; give a baseline YAML file "
                         "(format: docs/results.md), e.g. benchmarks/baselines/ci.yaml")
    if not isinstance(data, dict) or not isinstance(data.get("entries", []), list):
        raise UsageError(f"--baseline {path}: expected a mapping with 'defaults:' and a list 'entries:'")
    unknown_keys = sorted(str(key) for key in data if key not in BASELINE_KEYS)
    if unknown_keys:
        raise UsageError(f"--baseline {path}: unknown top-level {plural(unknown_keys, 'key')} {', '.join(unknown_keys)}; valid: "
                         f"{', '.join(BASELINE_KEYS)}")
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version != 1:
        raise UsageError(f"--baseline {path}: version is {version!r}; it must be the number 1 "
                         "(write version: 1, without quotes)")
    if not isinstance(data.get("defaults") or {}, dict):
        raise UsageError(f"--baseline {path}: 'defaults' must be a mapping of entry keys, e.g. defaults: {{profile: quick}}; "
                         f"got {data['defaults']!r}")
    _check_names(data.get("defaults") or {}, f"--baseline {path}: defaults")
    _check_metrics(data.get("defaults") or {}, f"--baseline {path}: defaults")
    if isinstance((data.get("defaults") or {}).get("metrics"), list):
        _check_metric_names(data["defaults"]["metrics"], f"--baseline {path}: defaults")
    defaults = {**BUILTIN_DEFAULTS, **(data.get("defaults") or {})}
    if not isinstance(defaults["set"] or {}, dict):
        raise UsageError(f"--baseline {path}: defaults 'set' must be a mapping of KEY: VALUE, e.g. set: {{engine.epochs: 5}}")
    unknown = sorted(set(defaults) - ENTRY_KEYS)
    if unknown:
        raise UsageError(f"--baseline {path}: unknown {plural(unknown, 'default')} {', '.join(unknown)}")
    _number(defaults["tolerance"], "defaults: tolerance", f"--baseline {path}")
    if "leaky" in defaults:
        raise UsageError(f"--baseline {path}: 'leaky' cannot be a default; write leaky: true on each entry whose "
                         "configuration leaks (docs/leakage.md)")
    own = sorted(set(defaults) & ENTRY_ONLY_KEYS)
    if own:
        raise UsageError(f"--baseline {path}: {', '.join(repr(key) for key in own)} cannot be a default: "
                         f"{'each entry names its own model' if 'model' in own else 'it belongs to one entry'}; "
                         "move it under the entry (or entries) it is meant for")
    baseline = Baseline(path, defaults, written_defaults=copy.deepcopy(data.get("defaults") or {}))
    baseline.entries = [_entry(raw, defaults, path, i) for i, raw in enumerate(data.get("entries") or [])]
    _refuse_repeated_entries(baseline.entries)
    return baseline


def _refuse_repeated_entries(entries: list[Entry]) -> None:
    """``UsageError`` when two entries are the same run (model, dataset, protocol, profile, seed, device and
    ``set:``): both would train, and their expectations could contradict each other."""
    seen: dict[str, Entry] = {}
    for entry in entries:
        key = json.dumps([entry.model, entry.dataset, entry.protocol, entry.profile, entry.seed, entry.device,
                          entry.sets], sort_keys=True, default=str)
        if key in seen:
            raise UsageError(f"{entry.origin}: the same run as {seen[key].origin.rpartition(', ')[2]} ({entry.label}), "
                             "which would train twice against two sets of expectations; keep one entry and merge "
                             "their metrics")
        seen[key] = entry


def entry_config(entry: Entry, registry: Any, root: Path | None = None):
    """The ``RunConfig`` an entry runs with (``root``: the user's copy of the entry's dataset, when it needs one).

    A bad name or value raises an error naming the baseline file and entry (``entry_error``).
    """
    try:
        config = resolve_config(registry, model=entry.model, dataset=entry.dataset, protocol=entry.protocol,
                                profile=entry.profile, seed=entry.seed, device=entry.device, root=root,
                                sets={key: value for key, value in entry.sets.items()})
        check_leaky(entry, config, registry)
    except (UsageError, DataError) as exc:
        raise entry_error(entry, exc) from None
    return config


def entry_error(entry: Entry, exc: UsageError | DataError) -> UsageError | DataError:
    """``exc``, raised for the entry's configuration, prefixed with the baseline file and entry."""
    text = re.sub(r"^--(\w+) ", r"\1 ", str(exc))  # "--device tpu: …" names an option the user never gave
    return type(exc)(f"{entry.where}: {text}")


def run_error_text(exc: BaseException) -> str:
    """Why an entry's run failed, in the baseline's terms: ``--set KEY=VALUE`` (an option the user never typed:
    it came from the entry's ``set:``, its profile or the defaults) reads ``set: {KEY: VALUE}``."""
    return re.sub(r"--set ([\w.]+)=(\S+?)(?=[\s),;]|$)", r"set: {\1: \2}", str(exc) or type(exc).__name__)


def check_leaky(entry: Entry, config: Any, registry: Any) -> None:
    """``UsageError`` when the entry's configuration leaks test information and the entry does not say ``leaky: true``."""
    found = config_leaks(config, registry)
    if found and not entry.leaky and entry.written is None:
        raise UsageError(f"--add-missing would add this entry with the baseline's defaults, which leak "
                         f"({describe(found)}), and 'leaky' cannot be a default. Write the entry by hand with "
                         "'leaky: true', or make the defaults honest (docs/leakage.md)")
    if found and not entry.leaky:
        raise UsageError(f"the entry is leaky ({describe(found)}): its scores are inflated. Add 'leaky: true' to the "
                         "entry to check it anyway, or make it honest (docs/leakage.md)")


def undeclared_leaks(entry: Entry, result: RunResult | None) -> str | None:
    """Why ``result`` cannot be checked against ``entry``: it recorded a leak (a protocol whose folds shared
    subjects, one subject id in two domains) that its configuration did not predict and the entry does not declare
    with ``leaky: true``; or it ran on other data than the entry's band was derived on (``other_data``). ``None``
    when it can."""
    found = result_leaks(result) if result is not None else []
    if not found or entry.leaky:
        return other_data(entry, result)
    return (f"the run recorded a leak ({describe(found)}; its warnings say where): its scores are inflated and "
            "not comparable with the entry's. Fix the data or the protocol, or add 'leaky: true' to the entry to "
            "check it anyway (docs/leakage.md)")


DATA_KEYS = ("n_samples", "n_subjects", "class_counts")
"""What ``derived:`` records of the data its runs had (``measured_data``)."""


def measured_data(result: RunResult) -> dict[str, Any]:
    """The data a run had, as ``derived:`` records it: its samples and subjects, and its test samples per class
    (pooled over the folds: what the scores count)."""
    rows = [int(sum(row)) for row in result.confusion_matrix]
    return {"n_samples": int(result.n_samples), "n_subjects": int(result.n_subjects),
            "class_counts": {str(name): count for name, count in zip(result.classes, rows)}}


def _data_text(data: dict[str, Any]) -> str:
    """``48 samples of 6 subjects (per class negative: 16, positive: 16, surprise: 16)``, of what ``data`` holds."""
    parts = []
    if "n_samples" in data:
        parts.append(counted(data["n_samples"], "sample"))
    if "n_subjects" in data:
        parts.append(("of " if parts else "") + counted(data["n_subjects"], "subject"))
    if isinstance(data.get("class_counts"), dict):
        classes = ", ".join(f"{name}: {count}" for name, count in data["class_counts"].items())
        parts.append(f"(per class {classes})" if parts else f"test samples per class {classes}")
    return " ".join(parts)


def other_data(entry: Entry, result: RunResult | None) -> str | None:
    """Why ``result`` cannot be checked against the entry's band: its ``derived:`` block records other data (sample,
    subject or per-class test counts: ``measured_data``) than the run had, so the band was measured on other data
    (images deleted or added, labels changed). ``None`` when they agree, when the block records none of them (a
    baseline written before it did) and for an entry ``--update`` measures anew."""
    derived = entry.derived or {}
    if result is None or entry.updating:
        return None
    recorded = {key: derived[key] for key in DATA_KEYS
                if isinstance(derived.get(key), dict if key == "class_counts" else int)
                and not isinstance(derived[key], bool)}
    if "class_counts" in recorded:  # a class written as 0: (not '0':) is the class named 0
        recorded["class_counts"] = {str(name): count for name, count in recorded["class_counts"].items()}
    if not recorded:
        return None
    now = {key: value for key, value in measured_data(result).items() if key in recorded}
    if now == recorded:
        return None
    return (f"the run had {_data_text(now)}, but the entry's derived: block says its band was derived on "
            f"{_data_text(recorded)}: the band was measured on other data, so these scores cannot be checked against "
            "it. Restore the data it was derived on, or derive the band on these data with `merbench regress "
            "--update --seeds N`")


def band_verdict(expected: Any, tolerance: Any, tolerance_high: Any, measured: Any, slack: Any) -> str:
    """``ok`` when ``measured`` lies within ``expected - tolerance .. expected + tolerance_high``, ``slack`` (the
    written rounding) beyond either edge included, else ``low`` or ``high``: for floats (``check_entry``) and for the
    ``Decimal`` points a row shows (``merbench regress``'s table), so that both apply one rule."""
    if expected - tolerance - slack <= measured <= expected + tolerance_high + slack:
        return "ok"  # only a comparison that holds passes: NaN anywhere fails
    return "low" if measured < expected else "high"


def check_entry(entry: Entry, result: RunResult) -> list[Check]:
    """Compare an entry's expectations with a result's pooled scores; a score that is not a number ``failed``."""
    checks = []
    for expectation in entry.expectations:
        measured = float(result.pooled[expectation.metric])
        high = expectation.above
        if not math.isfinite(measured):
            status = "failed"
        elif expectation.expected is None:
            status = "new"
        else:
            status = band_verdict(expectation.expected, expectation.tolerance, high, measured, SLACK)
        checks.append(Check(entry.label, expectation.metric, expectation.expected, measured, expectation.tolerance, high,
                            status, result.run_id))
    return checks


@dataclass
class Reuse:
    """A stored run an entry reused (``--stored``) instead of training, with the software it and the check ran with."""

    where: str
    """The entry (``Entry.where``; for a ``--seeds`` run also its seed and thread layout)."""
    run_id: str
    seed: int
    threads: str
    trained_with: dict[str, str | None]
    now: dict[str, str | None]

    @classmethod
    def of(cls, where: str, result: RunResult, seed: int, threads: str, now: dict[str, str | None]) -> Reuse:
        """The reuse of ``result`` (a stored run) by ``where``; ``now``: ``current_software()``."""
        return cls(where, str(result.run_id), seed, threads, trained_with(result.environment or {}), dict(now))

    @property
    def changed(self) -> list[str]:
        """``KEY STORED → NOW`` for each of ``PROVENANCE_KEYS`` that differs (``environment.other_software``); an
        unrecorded value reads ``unknown`` and differs from a known one: the run cannot be shown to be this code's."""
        return other_software(self.trained_with, self.now)

    @property
    def other_software(self) -> list[str]:
        """The ``PROVENANCE_KEYS`` whose stored value is not the check's."""
        stored, now = known_software(self.trained_with), known_software(self.now)
        return [key for key in PROVENANCE_KEYS if stored[key] != now[key]]

    def note(self) -> str | None:
        """A sentence naming the entry and the run, then a line per software that differs (stored → now); ``None``
        when the run was trained with the check's own software."""
        if not self.changed:
            return None
        return (f"{self.where} reused stored run {self.run_id}, trained with other software than this check; its "
                "scores do not measure this code (run without --stored to measure it). Stored → now:"
                + "".join(f"\n  {change}" for change in self.changed))

    def to_dict(self) -> dict[str, Any]:
        """The reuse in ``--json``: ``other_software`` lists the keys that differ (empty: the check's software)."""
        return {"run_id": self.run_id, "seed": self.seed, "threads": self.threads, "trained_with": dict(self.trained_with),
                "now": dict(self.now), "other_software": self.other_software}


def failed_checks(entry: Entry) -> list[Check]:
    """The checks of an entry whose run failed: every metric ``failed``, nothing measured."""
    return [Check(entry.label, e.metric, e.expected, None, e.tolerance, e.above, "failed") for e in entry.expectations]


def missing_entries(baseline: Baseline, models: list[str]) -> list[Entry]:
    """Entries with the baseline's defaults for ``models`` not yet in it."""
    present = {entry.model for entry in baseline.entries}
    added = [_entry({"model": name}, baseline.defaults, baseline.path, len(baseline.entries) + i)
             for i, name in enumerate(m for m in models if m not in present)]
    return [dataclasses.replace(entry, written=None, origin=f"{entry.origin} (added by --add-missing)") for entry in added]


def _round(value: float) -> float:
    """``value`` to the nearest of the written precision (``DIGITS``): off by at most half a step (``SLACK``)."""
    return round(float(value), DIGITS)


def written_value(value: float) -> float:
    """A score (an expected value, a std) as a baseline writes it: ``DIGITS`` decimals, or more where fewer would
    show another percentage than the value itself (0.538461 is 0.5385 at four decimals, shown 53.9 where its run
    shows 53.8)."""
    # At SCORE_DIGITS decimals it always shows as the value does: percent itself rounds there first.
    return next(rounded for digits in range(DIGITS, SCORE_DIGITS + 1)
                if percent(rounded := round(float(value), digits)) == percent(value))


def _round_up(value: float) -> float:
    """``value`` rounded up to the written precision: a derived tolerance never shrinks by being written."""
    rounded = _round(value)
    return rounded if rounded >= float(value) - 1e-12 else round(rounded + 10 ** -DIGITS, DIGITS)


def parse_thread_layouts(text: str) -> list[str]:
    """``--threads auto,2`` as layouts: ``auto`` (the entry as configured) or a number of torch threads per fold."""
    layouts = [part.strip().lower() for part in str(text).split(",") if part.strip()]
    for layout in layouts:
        if layout != "auto" and not (layout.isdigit() and int(layout) >= 1):
            raise UsageError(f"--threads {text}: give 'auto' and/or whole numbers of threads ≥ 1, e.g. --threads auto,2")
    if not layouts:
        raise UsageError("--threads: give at least one layout, e.g. --threads auto,2")
    return list(dict.fromkeys(layouts))


def layout_sets(layout: str) -> dict[str, Any]:
    """The ``--set`` options of a thread layout: ``auto`` adds none; ``N`` trains fold by fold with N threads."""
    return {} if layout == "auto" else {"engine.threads": int(layout), "engine.parallel_folds": 1}


def variants(entry: Entry, seeds: int, layouts: list[str]) -> list[tuple[int, str, Entry]]:
    """(seed, layout, entry) for each run that derives an entry's band: seeds × thread layouts, the entry's own first."""
    runs = []
    for seed in range(entry.seed, entry.seed + seeds):
        for layout in layouts:
            runs.append((seed, layout, dataclasses.replace(entry, seed=seed, sets={**entry.sets, **layout_sets(layout)})))
    return runs


def derive_band(values: list[float], k: float, floor: float) -> tuple[float, float, float]:
    """(mean, std, tolerance) of a metric's values: tolerance = min(max(k · std, floor), 1); std is the sample std.

    A tolerance is a fraction 0..1 and one of 1 already admits every score, so a large ``k`` gives 1, never a
    value the baseline file would refuse.
    """
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std, band_tolerance(std, k, floor)


def band_tolerance(std: float, k: float, floor: float) -> float:
    """The tolerance of a derived band: ``min(max(k · std, floor), 1)``."""
    return min(max(k * std, floor), 1.0)


@dataclass
class Derivation:
    """How ``--update --seeds N`` measured an entry: the runs and the band rule, written under ``derived:``."""

    seeds: list[int]
    threads: list[str]
    k: float
    floor: float
    values: dict[str, list[float]]
    seconds: float
    context: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    """The data the runs had (``measured_data``); ``updated_document`` fills it from the checked run."""

    def band(self, metric: str) -> tuple[float, float, float]:
        """(mean, std, tolerance) of ``metric`` over the runs."""
        return derive_band(self.values[metric], self.k, self.floor)

    def to_dict(self) -> dict[str, Any]:
        """The ``derived:`` mapping stored in the baseline file."""
        return {
            "rule": "expected = mean of the runs; tolerance = min(max(k * std, floor), 1), std over seeds and thread layouts",
            "k": self.k, "floor": self.floor, "seeds": list(self.seeds), "threads": list(self.threads),
            "runs": len(next(iter(self.values.values()), [])),
            **copy.deepcopy(self.data),
            "std": {metric: written_value(self.band(metric)[1]) for metric in self.values},  # shown as computed
            "values": {metric: [_round(v) for v in values] for metric, values in self.values.items()},
            "seconds_per_run": round(self.seconds, 1),
            **copy.deepcopy(self.context),
        }


def updated_document(baseline: Baseline, results: list[tuple[Entry, RunResult, Derivation | None]],
                     notes: list[str] | None = None) -> dict[str, Any]:
    """The baseline document with every entry's expected values set from its measurement.

    Without a derivation the expected value is the one run's score and the
    tolerances are kept, and an entry's ``derived:`` block (the runs of an
    earlier ``--seeds`` update) is removed, with a line in ``notes``: it would
    contradict the new expected values. With one, expected and tolerance come
    from its runs, and ``derived:`` records them.
    Everything else stays as the file has it: ``defaults:`` (no built-in added),
    each entry's keys (``seed: 0``, an entry's ``tolerance:``), a metric written as
    ``uf1: 0.3`` stays one number unless a band is derived for it. A hand-set
    ``tolerance_high`` narrower than a derived tolerance is widened to it, with a
    line in ``notes`` (a baseline must pass on the runs it was derived from).
    """
    entries = []
    for entry, result, derivation in results:
        raw = copy.deepcopy(entry.written) if entry.written is not None else _added_entry(entry, baseline.defaults)
        written = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
        metrics = {}
        for expectation in entry.expectations:
            value = result.pooled[expectation.metric] if derivation is None else derivation.band(expectation.metric)[0]
            if not math.isfinite(value):
                raise RunFailed(f"{entry.where}: measured {expectation.metric} is {value}, not a score; "
                                f"the baseline {baseline.path} is not updated")
            old = written.get(expectation.metric)
            if derivation is None:
                if isinstance(old, dict):
                    spec: Any = {**old, "expected": written_value(value)}
                elif expectation.metric in written:  # ``uf1: 0.3``: the band stays the inherited one
                    spec = written_value(value)
                else:  # from a list of names or the defaults: the band it had, written out on the entry
                    spec = {"expected": written_value(value), "tolerance": expectation.tolerance}
                    if expectation.tolerance_high is not None:
                        spec["tolerance_high"] = expectation.tolerance_high
            else:
                mean, _, tolerance = derivation.band(expectation.metric)
                spec = {"expected": written_value(mean), "tolerance": min(_round_up(tolerance), 1.0)}
                high = expectation.tolerance_high
                if high is not None:  # set by hand, on the entry or in the defaults
                    spec["tolerance_high"] = max(high, spec["tolerance"])
                    if high < spec["tolerance"] and notes is not None:
                        notes.append(f"{entry.where}: {expectation.metric}.tolerance_high {high:g} is narrower than "
                                     f"the derived tolerance {spec['tolerance']:g}; widened to it")
            metrics[expectation.metric] = spec
        raw["metrics"] = metrics
        if derivation is not None:
            raw["derived"] = dataclasses.replace(derivation, data=derivation.data or measured_data(result)).to_dict()
        elif "derived" in raw:  # it described the runs behind the old expected values, not this one
            stale = raw.pop("derived")
            if notes is not None:
                notes.append(stale_derivation_note(entry, stale))
        entries.append(raw)
    return {"version": 1, "defaults": copy.deepcopy(baseline.written_defaults), "entries": entries}


def stale_derivation_note(entry: Entry, derived: Any) -> str:
    """The note ``--update`` without ``--seeds`` prints for an entry whose ``derived:`` block it removed: that block
    recorded the runs of an earlier ``--update --seeds N`` (their values, date, versions and command), and the
    expected values now come from one run, so it would contradict them; says how to derive the band again."""
    derived = derived if isinstance(derived, dict) else {}
    runs, date = derived.get("runs"), derived.get("date")
    what = (f"the {runs} runs" if isinstance(runs, int) and not isinstance(runs, bool) else "the runs") + (
        f" of {date}" if date else "")
    return (f"{entry.where}: its derived: block, which recorded {what} behind the old expected values, is removed "
            "(the expected values are now one run's, the tolerances kept); `merbench regress --update --seeds N` "
            "derives the band and writes derived: again")


def _added_entry(entry: Entry, defaults: dict[str, Any]) -> dict[str, Any]:
    """The mapping of an entry ``--add-missing`` added: its model and what differs from the defaults."""
    raw: dict[str, Any] = {"model": entry.model}
    for key in ("dataset", "protocol", "profile", "seed", "device"):
        if getattr(entry, key) != defaults.get(key):
            raw[key] = getattr(entry, key)
    extra_sets = {k: v for k, v in entry.sets.items() if (defaults.get("set") or {}).get(k) != v}
    if extra_sets:
        raw["set"] = extra_sets
    if entry.leaky:
        raw["leaky"] = True
    return raw


def reported_notes(entry: Entry, registry: Any, checks: list[Check], result: RunResult | None = None) -> list[str]:
    """One line per reported score of the entry's model, beside the measured value of that metric.

    Both are in % as the check's table shows scores: the measured one with one
    decimal (``wording.percent``), the reported one with two, as published and as
    ``merbench info`` prints it (99.00, not 99; "ststnet uf1: measured 41.0 %,
    paper 73.53 % (megc2019 · megc2019; different data and protocol), from SOURCE"). A score whose source is not
    the model's own paper (``report.from_own_paper``: the organisers of a challenge, say) is "published 58.82 %", as
    ``info`` and ``show`` word it. The score's dataset and protocol are named, and "different
    data" or "different protocol" says when they are not the entry's, and "not comparable" when they are but the
    run (``result``) measured on part of an official list, a derived list, another class set or other folds
    (``report.comparability``, as ``run``, ``compare`` and ``report`` judge it); the source comes last, on one line,
    so that two sources of one setting are told apart (a terminal wraps the note at spaces, ``tables.print_item``).
    """
    try:
        spec = registry.get("models", entry.model)
        reported, citation = spec.reported, getattr(spec, "citation", "")
    except Exception:  # an entry whose model is gone has already been refused; notes are decoration
        return []
    measured = {check.metric: check.measured for check in checks if check.measured is not None}
    notes = []
    for score in reported:
        metric = score.metric.lower()
        key = REPORTED_METRICS.get(metric, metric)  # a paper's "f1" is the macro F1 merbench measures
        differs = [what for what, same in (("data", score.dataset == entry.dataset), ("protocol", score.protocol == entry.protocol))
                   if not same]
        unlike = comparability(result)[1] if result is not None and not differs else ""
        why = (f"different {' and '.join(differs)}" if differs else
               f"same data and protocol, not comparable: {unlike}" if unlike else "same data and protocol")
        here = f"measured {percent(measured[key])} %{' ⚠' if entry.leaky else ''}, " if key in measured else ""
        source = " ".join(str(score.source).split()).rstrip(".")
        by = "paper" if from_own_paper([score], citation) else "published"
        notes.append(f"{entry.model} {metric}: {here}{by} {paper_points(score.value)} % "
                     f"({score.dataset} · {score.protocol}; {why}){f', from {source}' if source else ''}")
    return notes


def _reads_back(text: str, document: dict[str, Any]) -> bool:
    """Whether ``text`` reads back as exactly ``document`` (as its plain rewrite would)."""
    import yaml

    try:
        return yaml.safe_load(text) == yaml.safe_load(plain_yaml_text(document))
    except yaml.YAMLError:
        return False


def _rewritten(original: str, document: dict[str, Any]) -> tuple[str, str | None]:
    """The text ``--update`` writes for ``document`` over a file that held ``original``, and why the file's comments
    and layout are not kept in it (None when they are, or when it had none)."""
    if not original.strip():
        return HEADER + plain_yaml_text(document), None
    text = updated_yaml_text(original, document)
    if text is not None and _reads_back(text, document):
        return text, None
    why = ("ruamel.yaml, which keeps them, cannot read the file as a mapping" if text is None
           else "the rewrite that kept them did not read back as the new values")  # e.g. a comment where YAML has none
    return HEADER + plain_yaml_text(document), why


def write_baseline(path: Path, document: dict[str, Any], read_as: str | None = None,
                   notes: list[str] | None = None) -> None:
    """Write a baseline document atomically (temporary file, then rename); the old file survives a failure.

    ``read_as``: the file's ``file_stamp`` when the update read it. When the file has changed since (another
    ``--update`` finished first, or a hand edit), it is left as it is and the update goes to a file beside it
    (``NAME.updated.yaml``), and a ``UsageError`` says so: an update of hours never silently undoes another.

    An existing file keeps its comments and layout where its keys stay (``merbench.yaml_update``); a new one
    starts with a header saying how it is used. When an existing file's comments and layout cannot be kept, it is
    written plainly and ``notes`` gets a line saying so.

    The path is checked as every output path is (``merbench.outputs``): a
    symlinked baseline is written through to its target and stays a link, and
    the file keeps its mode.
    """
    target = check_output_path(path, "--baseline", store_files(None), example="baseline.yaml", writes=ANY_KIND)
    if target is None:
        raise UsageError(f"--baseline {path}: --update needs a baseline file to rewrite, not standard output")
    try:
        original = target.read_text(encoding="utf-8") if target.is_file() else ""
    except (OSError, UnicodeDecodeError):
        original = ""
    refuse_shared_values(path, original)  # refused before the runs too (load_baseline); the file may have changed
    text, why = _rewritten(original, document)
    if why is not None and notes is not None:
        notes.append(f"--baseline {path}: its comments and layout could not be kept ({why}), so it is written plainly "
                     "under the standard header; copy back any comment you need from an earlier copy of the file")
    if original and b"\r\n" in target.read_bytes():  # a file kept with Windows line ends keeps them
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if read_as is not None and file_stamp(target) != read_as:
        side = target.with_name(f"{target.stem}.updated{target.suffix or '.yaml'}")
        try:
            write_output(side, text)
        except UsageError as exc:
            raise UsageError(f"--baseline {path}: changed while this update ran (another `merbench regress --update` "
                             f"finished first, or an edit), and the update could not be written beside it ({exc})") \
                from None
        raise UsageError(f"--baseline {path}: changed while this update ran (another `merbench regress --update` "
                         f"finished first, or an edit); it is left as it is now, and this update is in {side}: "
                         "compare the two and keep one")
    try:
        write_output(target, text)
    except UsageError as exc:
        raise UsageError(f"--baseline {path}: could not write the updated baseline ({exc}); the file is unchanged") from None
