"""Design study of the ``convmixer`` reference model (CABM-FMER reconstruction) on development data.

    python benchmarks/convmixer_study.py                  # run what is missing, then print the table
    python benchmarks/convmixer_study.py --table          # print the stored table only
    python benchmarks/convmixer_study.py --table --markdown   # the same as Markdown, for docs/models.md
    python benchmarks/convmixer_study.py --factors attention,patch
    python benchmarks/convmixer_study.py --post-hoc       # also the chosen configuration plus the apex frame

Every factor is varied one at a time against the plugin's current default,
with two training seeds, under ``subject-10fold`` on a *development* copy of
the synthetic data (``dataset.seed=1``: other subjects and clips than the
evaluation data, ``dataset.seed=0``). No run of the study ever sees the
evaluation data, so choosing the default here selects nothing on a test fold.
``protocol.n_splits=5`` (5 subject folds instead of 10) halves the cost.

Selection rule (dev UF1 only): the seed noise ``s`` is the pooled standard
deviation of UF1 between the two seeds over all configurations. A factor's
best level is a candidate when its mean dev UF1 beats the default's by more
than ``s``; the candidates together are run as one ``combined``
configuration; the default changes to the best of (single candidates,
combined) only when it beats the default by more than ``s``. ``model.attention=none``
is measured as the ablation but never chosen: without its convolutional
attention the model would no longer be the CABM-FMER reconstruction. Neither
are ``engine.*`` levels (epochs, learning rate): a model plugin cannot carry
them, and every model of a comparison trains with the profile's engine settings.

Post-hoc rows (``--post-hoc``): the chosen configuration with the apex frame
added to its flow channels (``flow.channels=...,apex``), measured after the
selection, shown as ``post-hoc`` in the table, never eligible and left out of
the seed noise, so running them cannot change what the rule chose.

Results (per configuration and seed: UF1, UAR, accuracy, seconds) go to
``benchmarks/studies/convmixer.json``, rewritten atomically after every run.
The study is resumable: a run whose settings, seed and data are already stored
is skipped. A study file pins the reference configuration it started from
(``defaults``) and every run passes those values explicitly, so the stored
study stays reproducible after the plugin's defaults change; study around a
new default in a new file (``--out``): a ``--set`` of a studied key that differs from
the pinned reference is refused. Runs use ``merbench run --json`` in a subprocess each; export
``OMP_WAIT_POLICY=PASSIVE`` on a shared CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from merbench.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "studies" / "convmixer.json"
MODEL = "convmixer"
PROTOCOL = "subject-10fold"
EVALUATION_DATA_SEED = 0
"""``dataset.seed`` of the evaluation data (the plugin default): the study refuses to run on it."""
FORMAT = "convmixer-study-1"

# factor -> levels; each level sets these keys (values compared with the resolved default).
FACTORS: dict[str, list[dict[str, Any]]] = {
    "attention": [
        {"model.attention": "none", "model.attention_every": 1},
        {"model.attention": "cbam", "model.attention_every": 1},
        {"model.attention": "cbam", "model.attention_every": 2},
        {"model.attention": "channel", "model.attention_every": 1},
        {"model.attention": "spatial", "model.attention_every": 1},
    ],
    "patch": [{"model.patch": 1}, {"model.patch": 2}, {"model.patch": 4}],
    "kernel": [{"model.kernel": 3}, {"model.kernel": 5}, {"model.kernel": 9}],
    "dim": [{"model.dim": 32}, {"model.dim": 64}, {"model.dim": 96}],
    "depth": [{"model.depth": 2}, {"model.depth": 4}, {"model.depth": 6}],
    "input-size": [{"flow.size": 28}, {"flow.size": 32}],
    "input-channels": [{"flow.channels": ["u", "v"]}, {"flow.channels": ["u", "v", "strain"]},
                       {"flow.channels": ["u", "v", "strain", "apex"]}],
    "dropout": [{"model.dropout": 0.0}, {"model.dropout": 0.1}, {"model.dropout": 0.3}],
    "epochs": [{"engine.epochs": 10}, {"engine.epochs": 20}, {"engine.epochs": 40}],
    "lr": [{"engine.lr": 0.001}, {"engine.lr": 0.002}, {"engine.lr": 0.004}],
}
METRICS = ("uf1", "uar", "accuracy")
ABLATION_ONLY = ({"model.attention": "none"},)
"""Levels measured but never chosen as the default: without convolutional attention the model is not CABM-FMER."""

Runner = Callable[[dict[str, Any], int, "Settings"], dict[str, Any]]


@dataclass(frozen=True)
class Settings:
    """What every run of the study shares."""

    dev_seed: int = 1
    splits: int = 5
    profile: str = "default"
    seeds: tuple[int, ...] = (0, 1)
    extra: tuple[tuple[str, Any], ...] = ()
    """Further ``--set`` options for every run (tests shrink the data with them)."""
    reference: tuple[tuple[str, Any], ...] = ()
    """The studied keys' values in the study's reference configuration, passed to every run explicitly (a
    study file pins them, so its runs stay what they were after the plugin's defaults change)."""

    def common_sets(self) -> dict[str, Any]:
        """The ``--set`` options of every run: development data, fold count, extras."""
        return {"dataset.seed": self.dev_seed, "protocol.n_splits": self.splits, **dict(self.extra)}

    def identity(self) -> dict[str, Any]:
        """What a stored run must share with this study to be reused."""
        return {"protocol": PROTOCOL, "profile": self.profile, "sets": _jsonable(self.common_sets())}


def _jsonable(sets: dict[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in sorted(sets.items())}


def set_text(value: Any) -> str:
    """A value as ``--set`` takes it (lists as ``a,b``)."""
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def resolved_defaults(settings: Settings) -> dict[str, Any]:
    """The value of every studied key in the plugin's current default configuration."""
    from merbench.config import resolve_config
    from merbench.registry import get_registry

    config = resolve_config(get_registry(), model=MODEL, dataset="synthetic", protocol=PROTOCOL,
                            profile=settings.profile, sets={k: set_text(v) for k, v in settings.common_sets().items()})
    keys = {key for levels in FACTORS.values() for level in levels for key in level}
    defaults = {}
    for key in sorted(keys):
        section, _, option = key.partition(".")
        defaults[key] = config.section(section)[option]
    return defaults


def changes(level: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``level`` that differ from the default: a configuration's identity ({} is the default)."""
    return _jsonable({key: value for key, value in level.items() if defaults[key] != value})


def config_name(sets: dict[str, Any]) -> str:
    """``reference`` or ``key=value key=value`` (the ``--set`` options that make the configuration)."""
    return " ".join(f"{key}={set_text(value)}" for key, value in sorted(sets.items())) or "reference"


def check_settings(settings: Settings) -> None:
    """Refuse a study that would look at the evaluation data or cannot measure seed noise."""
    from merbench.errors import UsageError

    if settings.dev_seed == EVALUATION_DATA_SEED:
        raise UsageError(f"--dev-seed {settings.dev_seed}: that is the evaluation data (dataset.seed="
                         f"{EVALUATION_DATA_SEED}); the study must choose on development data, e.g. --dev-seed 1")
    if len(set(settings.seeds)) < 2:
        raise UsageError("--seeds: give at least two different training seeds (the rule needs the seed spread)")
    if any(key == "dataset.seed" for key, _ in settings.extra):
        raise UsageError("--set dataset.seed=...: use --dev-seed for the development data")


def check_pinned_extras(path: Path, pinned: dict[str, Any], settings: Settings) -> None:
    """Refuse a ``--set`` of a studied key whose value differs from the reference the study file pins: every run
    passes the pinned value, which would silently win over it while the runs are stored under the ``--set``."""
    factor_of = {key: factor for factor, levels in FACTORS.items() for level in levels for key in level}
    studied = [key for key, _ in settings.extra if key in factor_of and key in pinned]
    if not studied:
        return
    resolved = _jsonable(resolved_defaults(settings))
    for key in studied:
        if resolved[key] != pinned[key]:
            raise UsageError(f"--set {key}={dict(settings.extra)[key]}: {path} varies {key} around its pinned "
                             f"reference {key}={set_text(pinned[key])}, which every run passes; study another "
                             f"reference in a new --out, or measure {key} as a level with --factors "
                             f"{factor_of[key]}")


DESCRIPTIVE_SUMMARY_KEYS = ("folder", "generated_now", "annotation")
"""Keys of the synthetic dataset's summary that say where its data lies or how it was made, not what it is."""


def data_fingerprint(settings: Settings) -> dict[str, Any]:
    """What the development data is (generator version and options), from loading it once (cached)."""
    from merbench.cache import cache_root
    from merbench.config import resolve_config
    from merbench.registry import get_registry
    from merbench.runner import load_dataset

    registry = get_registry()
    config = resolve_config(registry, model=MODEL, dataset="synthetic", protocol=PROTOCOL, profile=settings.profile,
                            sets={k: set_text(v) for k, v in settings.common_sets().items()})
    summary = load_dataset(config, registry, cache_root()).summary
    return {key: value for key, value in sorted(summary.items()) if key not in DESCRIPTIVE_SUMMARY_KEYS}


STUDY_OPTIONS = {"protocol.n_splits": "--splits", "dataset.seed": "--dev-seed"}
"""The study's own options for the ``--set`` keys it passes itself."""


def child_refusal(stderr: str) -> str:
    """The last line of a refused run's stderr without ``merbench: error:``, its ``--set`` advice for the keys the
    study passes itself reworded as the study's options (``--set protocol.n_splits=10`` -> ``--splits 10``)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    message = lines[-1].removeprefix("merbench: error: ") if lines else "merbench run refused the settings"
    for key, option in STUDY_OPTIONS.items():
        message = re.sub(rf"--set {re.escape(key)}=(\S+)", rf"{option} \1", message)
    return message


def cli_runner(sets: dict[str, Any], seed: int, settings: Settings) -> dict[str, Any]:
    """Run one configuration with ``merbench run --json`` in a subprocess; returns the result JSON."""
    all_sets = {**settings.common_sets(), **dict(settings.reference), **sets}
    with tempfile.TemporaryDirectory(prefix="convmixer-study-") as folder:
        target = Path(folder) / "result.json"
        command = [sys.executable, "-m", "merbench", "run", "--model", MODEL, "--dataset", "synthetic",
                   "--protocol", PROTOCOL, "--profile", settings.profile, "--seed", str(seed), "--device", "cpu",
                   "--quiet", "--no-store", "--json", str(target),
                   "--set", *(f"{key}={set_text(value)}" for key, value in all_sets.items())]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 2:  # merbench refused these settings: its message, in the study's own options
            raise UsageError(child_refusal(done.stderr))
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return json.loads(target.read_text(encoding="utf-8"))


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


def load_study(path: Path) -> dict[str, Any]:
    """The stored study, or an empty one."""
    from merbench.errors import UsageError

    if not path.exists():
        return {"format": FORMAT, "runs": []}
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable study file ({exc}); move it away or give another --out") from None
    if not isinstance(study, dict) or study.get("format") != FORMAT or not isinstance(study.get("runs"), list):
        raise UsageError(f"{path}: not a {FORMAT} file; move it away or give another --out")
    return study


def save_study(path: Path, study: dict[str, Any]) -> None:
    """Write the study atomically."""
    from merbench.outputs import write_output

    path.parent.mkdir(parents=True, exist_ok=True)
    write_output(path, json.dumps(study, indent=1, sort_keys=True) + "\n")


def data_difference(stored: dict[str, Any], now: dict[str, Any]) -> str:
    """How the data of a stored run differs from this data, in words (``key stored -> now``)."""
    keys = sorted(set(stored) | set(now), key=str)
    return "; ".join(f"{key}: {stored.get(key, '(not recorded)')} -> {now.get(key, '(not recorded)')}"
                     for key in keys if key not in stored or key not in now or stored[key] != now[key])


def _identity_words(identity: dict[str, Any]) -> dict[str, Any]:
    """A run's identity flattened for ``data_difference``: the profile and each ``--set`` option by name."""
    return {"--profile": identity.get("profile"), **{STUDY_OPTIONS.get(key, f"--set {key}"): value
                                                     for key, value in (identity.get("sets") or {}).items()}}


def check_table_runs(path: Path, study: dict[str, Any], settings: Settings, data: dict[str, Any]) -> None:
    """``--table`` reads stored runs only: raise ``UsageError`` naming the difference when no stored run
    matches this data and these settings (profile, splits, ``--set``), or one of these seeds has none."""
    from merbench.errors import UsageError
    from merbench.wording import plural

    runs = study["runs"]
    fix = "run the study without --table to measure it"
    if not runs:
        raise UsageError(f"{path}: no stored runs yet; {fix}")
    on_data = [run for run in runs if run["data"] == data]
    if not on_data:
        raise UsageError(f"{path}: none of its {len(runs)} stored runs was made on this data "
                         f"({data_difference(runs[0]['data'], data)}); {fix} on this data, "
                         "or check --profile, --dev-seed and --set")
    identity = settings.identity()
    alike = [run for run in on_data if run["identity"] == identity]
    if not alike:
        difference = data_difference(_identity_words(on_data[0]["identity"]), _identity_words(identity))
        raise UsageError(f"{path}: none of its {len(on_data)} stored runs on this data was made with these "
                         f"settings ({difference}); pass the stored runs' options, or {fix} with these")
    stored_seeds = sorted({run["seed"] for run in alike})
    missing = [seed for seed in settings.seeds if seed not in stored_seeds]
    if missing:
        advice = f"pass --seeds {','.join(map(str, stored_seeds))}, or " if len(stored_seeds) > 1 else ""
        raise UsageError(f"{path}: no stored run has training {plural(missing, 'seed')} "
                         f"{', '.join(map(str, missing))} (stored: {', '.join(map(str, stored_seeds))}); "
                         f"{advice}{fix} with these seeds")


def find_run(study: dict[str, Any], sets: dict[str, Any], seed: int, identity: dict[str, Any],
             data: dict[str, Any]) -> dict[str, Any] | None:
    """The stored run of configuration ``sets`` and ``seed`` made with this study's settings and data."""
    for run in study["runs"]:
        if (run["sets"] == sets and run["seed"] == seed and run["identity"] == identity and run["data"] == data):
            return run
    return None


def record(result: dict[str, Any], sets: dict[str, Any], seed: int, identity: dict[str, Any], data: dict[str, Any],
           wall: float) -> dict[str, Any]:
    """The stored facts of one run."""
    return {
        "config": config_name(sets),
        "sets": sets,
        "seed": seed,
        "identity": identity,
        "data": data,
        **{metric: round(float(result["pooled"][metric]), 4) for metric in METRICS},
        "seconds": round(float(result["seconds"]["total"]), 1),
        "train_seconds": round(float(result["seconds"].get("train_eval", result["seconds"]["total"])), 1),
        "wall_seconds": round(wall, 1),
        "n_samples": result.get("n_samples"),
        "n_subjects": result.get("n_subjects"),
        "folds": len(result.get("folds", [])),
        "git_commit": (result.get("environment") or {}).get("git_commit"),
        "date": datetime.date.today().isoformat(),
    }


def ensure_runs(study: dict[str, Any], path: Path, configs: list[dict[str, Any]], settings: Settings,
                data: dict[str, Any], runner: Runner, say: Callable[[str], None]) -> int:
    """Run every (configuration, seed) not stored yet, saving after each; returns how many ran."""
    identity = settings.identity()
    ran = 0
    todo = [(sets, seed) for sets in configs for seed in settings.seeds
            if find_run(study, sets, seed, identity, data) is None]
    for index, (sets, seed) in enumerate(todo, 1):
        start = time.perf_counter()
        result = runner(sets, seed, settings)
        wall = time.perf_counter() - start
        study["runs"].append(record(result, sets, seed, identity, data, wall))
        save_study(path, study)
        ran += 1
        say(f"[{index}/{len(todo)}] {config_name(sets)} seed {seed}: UF1 {result['pooled']['uf1']:.4f} "
            f"({wall:.0f} s)")
    return ran


@dataclass(frozen=True)
class Summary:
    """One configuration's runs: per-seed UF1 and means."""

    sets: dict[str, Any]
    uf1: tuple[float, ...]
    mean: dict[str, float]
    seconds: float
    params: int | None = None
    flops: float | None = None

    @property
    def spread(self) -> float:
        """Standard deviation of UF1 over the seeds (0 for one seed)."""
        return statistics.stdev(self.uf1) if len(self.uf1) > 1 else 0.0


def summarise(study: dict[str, Any], sets: dict[str, Any], settings: Settings, data: dict[str, Any]) -> Summary | None:
    """The stored runs of one configuration under this study's settings and data, or None when there are none."""
    runs = [find_run(study, sets, seed, settings.identity(), data) for seed in settings.seeds]
    runs = [run for run in runs if run is not None]
    if not runs:
        return None
    mean = {metric: statistics.fmean(run[metric] for run in runs) for metric in METRICS}
    params, flops = _cost(json.dumps(sets, sort_keys=True), settings)
    return Summary(sets, tuple(run["uf1"] for run in runs), mean, statistics.fmean(run["seconds"] for run in runs),
                   params, flops)


@functools.lru_cache(maxsize=None)
def _cost(sets_json: str, settings: Settings) -> tuple[int, float]:
    return model_cost(json.loads(sets_json), settings)


def model_cost(sets: dict[str, Any], settings: Settings) -> tuple[int, float]:
    """Parameters and FLOPs per sample (3 classes) of a configuration: its cost, whatever the machine's load."""
    from merbench.config import resolve_config
    from merbench.contracts import resolve_factory
    from merbench.modelinfo import count_flops
    from merbench.registry import get_registry

    registry = get_registry()
    all_sets = {key: set_text(value)
                for key, value in {**settings.common_sets(), **dict(settings.reference), **sets}.items()}
    config = resolve_config(registry, model=MODEL, dataset="synthetic", protocol=PROTOCOL, profile=settings.profile,
                            sets=all_sets)
    flow = config.section("flow")
    shape = (len(flow["channels"]), int(flow["size"]), int(flow["size"]))
    build = resolve_factory(registry.get("models", MODEL).build)
    model = build(dict(config.section("model")), shape[0], 3, shape[1])
    return sum(p.numel() for p in model.parameters()), count_flops(model, shape)


def seed_noise(summaries: list[Summary]) -> float:
    """Pooled standard deviation of UF1 between seeds over all configurations with at least two seeds."""
    variances = [s.spread ** 2 for s in summaries if len(s.uf1) > 1]
    return math.sqrt(statistics.fmean(variances)) if variances else 0.0


def eligible(sets: dict[str, Any]) -> bool:
    """Whether a configuration may become the plugin's default.

    Not ablation-only levels, and not ``engine.*`` settings: a model plugin
    cannot carry them, and every model of a comparison trains with the same
    profile's engine settings.
    """
    if any(key.startswith("engine.") for key in sets):
        return False
    return not any(all(sets.get(key) == value for key, value in level.items()) for level in ABLATION_ONLY)


def select(per_factor: dict[str, list[Summary]], default: Summary, noise: float,
           combined: Summary | None = None) -> dict[str, Any]:
    """Apply the selection rule: candidates per factor, then the chosen configuration (dev UF1 only)."""
    candidates = {}
    for factor, summaries in per_factor.items():
        allowed = [s for s in summaries if eligible(s.sets)]
        best = max(allowed, key=lambda s: s.mean["uf1"]) if allowed else default
        if best.sets != default.sets and best.mean["uf1"] - default.mean["uf1"] > noise:
            candidates[factor] = best
    options = [default, *candidates.values(), *([combined] if combined is not None else [])]
    best = max(options, key=lambda s: s.mean["uf1"])
    chosen = best if best.mean["uf1"] - default.mean["uf1"] > noise else default
    return {
        "noise_uf1": round(noise, 4),
        "default_uf1": round(default.mean["uf1"], 4),
        "candidates": {factor: s.sets for factor, s in candidates.items()},
        "combined": None if combined is None else {"sets": combined.sets, "uf1": round(combined.mean["uf1"], 4)},
        "chosen": chosen.sets,
        "chosen_uf1": round(chosen.mean["uf1"], 4),
        "ablations_not_eligible": [dict(level) for level in ABLATION_ONLY],
        "rule": "a level is a candidate when its mean dev UF1 beats the default's by more than the pooled seed "
                "std; the best of default, candidates and their combination is chosen when it beats the "
                "default by more than that std; ablation-only levels (no attention) and engine.* settings (shared by "
                "every model) are measured, never chosen",
    }


def post_hoc_configs(chosen: dict[str, Any], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """The post-hoc configurations: ``chosen`` with the apex frame added to its flow channels (none if it has it)."""
    channels = list(chosen.get("flow.channels", defaults["flow.channels"]))
    if "apex" in channels:
        return []
    return [changes({**defaults, **chosen, "flow.channels": [*channels, "apex"]}, defaults)]


def combined_sets(candidates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """All candidate changes at once (sorted keys)."""
    merged: dict[str, Any] = {}
    for sets in candidates.values():
        merged.update(sets)
    return dict(sorted(merged.items()))


def factor_configs(factors: list[str], defaults: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per factor, the configurations (``changes`` of each level) in level order."""
    return {factor: [changes(level, defaults) for level in FACTORS[factor]] for factor in factors}


def _mflops(summary: Summary) -> str:
    return "—" if summary.flops is None else f"{summary.flops / 1e6:.1f}"


def study_table(per_factor: dict[str, list[Summary]], settings: Settings, selection: dict[str, Any] | None):
    """The study as a ``merbench.tables.DataTable``."""
    from merbench.tables import TEXT, Column, DataTable

    seeds = "/".join(map(str, settings.seeds))
    table = DataTable(f"ConvMixer design study: dev UF1 % (dataset.seed={settings.dev_seed}, {PROTOCOL}, "
                      f"{settings.splits} folds, seeds {seeds})",
                      [Column("Factor"), Column("Configuration"), Column("UF1 per seed", justify="right"),
                       Column("Mean", justify="right"), Column("UAR", TEXT, justify="right", priority=1),
                       Column("Acc", TEXT, justify="right"), Column("MFLOPs", justify="right"),
                       Column("s/run", justify="right")],
                      caption=None if selection is None else
                      f"Seed noise (pooled std of UF1): {100 * selection['noise_uf1']:.1f} points. Chosen: "
                      f"{config_name(selection['chosen'])} (dev UF1 {100 * selection['chosen_uf1']:.1f}).")
    previous = None
    for factor, summary in _rows(per_factor):
        if factor != previous:
            table.add_section()
            previous = factor
        table.add_row(factor, config_name(summary.sets), " ".join(f"{100 * v:.1f}" for v in summary.uf1),
                      f"{100 * summary.mean['uf1']:.1f}", f"{100 * summary.mean['uar']:.1f}",
                      f"{100 * summary.mean['accuracy']:.1f}", _mflops(summary), f"{summary.seconds:.0f}")
    return table


def _rows(per_factor: dict[str, list[Summary]]) -> list[tuple[str, Summary]]:
    """(factor, summary) rows: the reference once first (that of every factor), then each factor's levels."""
    default = next((s for summaries in per_factor.values() for s in summaries if not s.sets), None)
    rows = [("—", default)] if default is not None else []
    for factor, summaries in per_factor.items():
        rows.extend((factor, summary) for summary in summaries if summary.sets)
    return rows


def markdown_table(per_factor: dict[str, list[Summary]], settings: Settings) -> str:
    """The study as a Markdown table (for docs/models.md): factor, configuration, UF1 per seed, means, seconds."""
    seeds = " / ".join(f"seed {seed}" for seed in settings.seeds)
    lines = [f"| factor | configuration | dev UF1 % ({seeds}) | mean UF1 % | UAR % | accuracy % | params | "
             "MFLOPs/sample | s per run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for factor, summary in _rows(per_factor):
        params = "—" if summary.params is None else f"{summary.params / 1e3:.1f}k"
        lines.append(f"| {factor} | `{config_name(summary.sets)}` | "
                     f"{' / '.join(f'{100 * v:.1f}' for v in summary.uf1)} | {100 * summary.mean['uf1']:.1f} | "
                     f"{100 * summary.mean['uar']:.1f} | {100 * summary.mean['accuracy']:.1f} | {params} | "
                     f"{_mflops(summary)} | {summary.seconds:.0f} |")
    return "\n".join(lines)


def run_study(path: Path, factors: list[str], settings: Settings, runner: Runner = cli_runner,
              data: dict[str, Any] | None = None, table_only: bool = False, confirm: bool = True,
              say: Callable[[str], None] = print, post_hoc: bool = False,
              ) -> tuple[dict[str, Any], dict[str, list[Summary]]]:
    """Run (or, with ``table_only``, only read) the study; returns the stored study and its summaries per factor.

    With ``post_hoc`` the post-hoc configurations are run too; stored ones are
    shown (factor ``post-hoc``) either way, after the selection and outside it.
    """
    check_settings(settings)
    study = load_study(path)
    if study.get("defaults"):
        check_pinned_extras(path, study["defaults"], settings)
    defaults = study.get("defaults") or resolved_defaults(settings)  # a study keeps the reference it started from
    settings = dataclasses.replace(settings, reference=tuple(
        sorted((key, tuple(value) if isinstance(value, list) else value) for key, value in defaults.items())))
    data = data_fingerprint(settings) if data is None else data
    configs = factor_configs(factors, defaults)
    unique = [sets for sets in dict.fromkeys(json.dumps(s, sort_keys=True) for c in configs.values() for s in c)]
    if not table_only:
        ensure_runs(study, path, [json.loads(s) for s in unique], settings, data, runner, say)
    else:
        check_table_runs(path, study, settings, data)
    per_factor = {factor: [s for s in (summarise(study, sets, settings, data) for sets in levels) if s]
                  for factor, levels in configs.items()}
    per_factor = {factor: summaries for factor, summaries in per_factor.items() if summaries}
    default = summarise(study, {}, settings, data)
    selection = None
    if default is not None and per_factor:
        noise = seed_noise([s for summaries in per_factor.values() for s in summaries])
        selection = select(per_factor, default, noise)
        merged = combined_sets(selection["candidates"])
        if confirm and len(selection["candidates"]) > 1:
            if not table_only:
                ensure_runs(study, path, [merged], settings, data, runner, say)
            combined = summarise(study, merged, settings, data)
            if combined is not None:
                per_factor["combined"] = [default, combined]
                selection = select({f: s for f, s in per_factor.items() if f != "combined"}, default, noise, combined)
        study["selection"] = selection
        after = post_hoc_configs(selection["chosen"], defaults)
        if post_hoc and not table_only:
            ensure_runs(study, path, after, settings, data, runner, say)
        rows = [s for s in (summarise(study, sets, settings, data) for sets in after) if s]
        if rows:
            per_factor["post-hoc"] = rows
        study["post_hoc"] = {"configs": after, "note": "the chosen configuration plus the apex frame, measured "
                                                       "after the selection: never eligible, not in the seed noise"}
    study.update(format=FORMAT, model=MODEL, protocol=PROTOCOL, settings=settings.identity(), data=data,
                 defaults_note="the reference configuration of every factor, pinned when the study started; every "
                               "run passes these values explicitly",
                 defaults=_jsonable(defaults), factors={f: configs[f] for f in factors},
                 git_commit=_git_commit() if not table_only else study.get("git_commit"))
    if not table_only:
        save_study(path, study)
    return study, per_factor


def main(argv: list[str] | None = None) -> int:
    """Command line: run the missing runs, store them, print the table; returns the exit code."""
    from merbench.errors import MerbenchError, UsageError
    from merbench.tables import make_console, print_table
    from merbench.wording import counted, plural, some_of

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT, help=f"study file (default: {OUT.relative_to(ROOT)})")
    parser.add_argument("--factors", default=",".join(FACTORS),
                        help=f"comma-separated factors, in the order to run (default: all: {', '.join(FACTORS)})")
    parser.add_argument("--dev-seed", type=int, default=1, help="dataset.seed of the development data (not 0)")
    parser.add_argument("--splits", type=int, default=5, help="protocol.n_splits (default 5)")
    parser.add_argument("--seeds", default="0,1", help="training seeds (default 0,1)")
    parser.add_argument("--profile", default="default", help="profile of every run (default: default)")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                        help="a further option for every run (repeatable)")
    parser.add_argument("--table", action="store_true", help="run nothing; print the stored table")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/models.md)")
    parser.add_argument("--no-combined", action="store_true", help="do not run the combination of candidates")
    parser.add_argument("--post-hoc", action="store_true",
                        help="also run the post-hoc rows (the chosen configuration plus the apex frame; never chosen)")
    args = parser.parse_args(argv)
    out = make_console()
    try:
        factors = [f.strip() for f in args.factors.split(",") if f.strip()]
        unknown = [f for f in factors if f not in FACTORS]
        if unknown:
            raise UsageError(f"--factors: unknown {', '.join(unknown)}; choose from {', '.join(FACTORS)}")
        bad = [item for item in args.extra if "=" not in item]
        if bad:
            raise UsageError(f"--set {bad[0]}: expected KEY=VALUE, e.g. --set dataset.subjects=8")
        try:
            seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
        except ValueError:
            raise UsageError(f"--seeds {args.seeds}: expected integers separated by commas, e.g. 0,1") from None
        extra = tuple(tuple(item.split("=", 1)) for item in args.extra)
        settings = Settings(args.dev_seed, args.splits, args.profile, seeds, extra)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        study, per_factor = run_study(args.out, factors, settings, table_only=args.table,
                                      confirm=not args.no_combined, post_hoc=args.post_hoc)
    except MerbenchError as exc:
        print(f"convmixer_study: error: {exc}", file=sys.stderr)
        return 2
    if args.markdown:
        print(markdown_table(per_factor, settings))
    else:
        print_table(out, study_table(per_factor, settings, study.get("selection")))
    partial = partial_rows(per_factor, settings)
    if partial:
        print(f"convmixer_study: note: {counted(partial, 'row')} {plural(partial, 'has', 'have')} fewer seeds than "
              f"--seeds {','.join(map(str, settings.seeds))} (an interrupted study): {some_of(partial, 5)}; run the "
              "study without --table to complete them", file=sys.stderr)
    return 0


def partial_rows(per_factor: dict[str, list[Summary]], settings: Settings) -> list[str]:
    """The configurations shown with fewer stored seeds than the study's (an interrupted study), by name, once."""
    return list(dict.fromkeys(config_name(summary.sets) for summaries in per_factor.values() for summary in summaries
                              if len(summary.uf1) < len(settings.seeds)))


if __name__ == "__main__":
    sys.exit(main())
