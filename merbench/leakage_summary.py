"""The summary of a leakage study (``merbench leakage``): scores per variant and the inflation over the honest run.

Given the results of the honest run and of each leaky variant, one per seed,
``summarise`` computes each variant's pooled UF1, UAR and accuracy (mean over
seeds) and its **inflation**: its UF1 minus the honest UF1 of the same seed,
averaged over seeds, with a bootstrap interval. Every score is on the clips
that every run scored: a variant that also tests clips the honest run does not
(a sample-level split of a ``cross-dataset`` study tests every domain) is
scored on the honest run's clips alone, so that its inflation is the
difference of the two UF1s (each run's own pooled scores stay in ``runs``).

The bootstrap is paired: each of ``resamples`` draws picks test **subjects**
with replacement, each with all its clips that every run scored (or, with
``unit="clips"``, those clips one by one), and every run of every variant and
seed is scored on that same draw, each sample weighted by how often its subject
(clip) was drawn. A variant that scores several samples per clip
(``frame-10fold``) is thereby resampled with its clips, so its near-copies never
count as independent evidence. The interval is the percentile interval of the
drawn inflations (``confidence``, 95 % by default); the draws come from a fixed
seed, so a summary repeats.

The summary is a JSON-ready dict (``kind: merbench-leakage``); ``load_summary``
reads one back and checks its shape, for ``merbench report --leakage`` and the
README table (``merbench.rendered_tables``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from merbench.bootstrap_units import unit_indices
from merbench.errors import UsageError
from merbench.leaks import leaks_of_runs, result_leaks
from merbench.metrics import classification_metrics, unweighted_f1_recall
from merbench.result import RunResult

KIND = "merbench-leakage"
VERSION = 1
RESAMPLES = 1000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
SCORES = ("uf1", "uar", "accuracy")


def _rows(result: RunResult, clips: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clip position, label, prediction) of a result's scored samples; clips outside ``clips`` get -1."""
    rows = result.predictions or []
    where = np.array([clips.get(row.clip_id, -1) for row in rows], dtype=np.int64)
    labels = np.array([int(row.label) for row in rows], dtype=np.int64)
    predictions = np.array([int(row.prediction) for row in rows], dtype=np.int64)
    return where, labels, predictions


def weighted_uf1(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, n_classes: int) -> float:
    """UF1 of predictions where each sample counts ``weights`` times (a bootstrap draw)."""
    matrix = np.bincount(labels * n_classes + predictions, weights=weights, minlength=n_classes * n_classes)
    return unweighted_f1_recall(matrix.reshape(n_classes, n_classes))[0]


def common_clips(results: Sequence[RunResult]) -> list[str]:
    """The clips every result scored, in the first result's order."""
    seen = [dict.fromkeys(row.clip_id for row in result.predictions or []) for result in results]
    shared = set(seen[0]).intersection(*seen[1:]) if seen else set()
    return [clip for clip in seen[0] if clip in shared] if seen else []


def draw_units(results: Sequence[RunResult], clips: Sequence[str], unit: str) -> tuple[np.ndarray, str]:
    """For each of ``clips``, the index of the unit a bootstrap draw picks it with, and that unit: its subject
    (``unit="subjects"``; every clip of a drawn subject comes along) or the clip itself. Subjects fall back to
    clips when a result does not record its samples' subjects (an older merbench)."""
    if unit == "subjects":
        subject_of: dict[str, str] = {}
        for result in results:
            for row in result.predictions or []:
                if row.subject is None or not str(row.subject):
                    return np.arange(len(clips)), "clips"
                subject_of.setdefault(row.clip_id, str(row.subject))
        return unit_indices([subject_of[clip] for clip in clips]), "subjects"
    return np.arange(len(clips)), "clips"


def bootstrap_inflation(honest: Sequence[RunResult], variants: Sequence[Sequence[RunResult]],
                        n_classes: int, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                        seed: int = BOOTSTRAP_SEED, unit: str = "subjects") -> list[dict[str, Any]]:
    """Each variant's UF1 inflation over the honest runs (same seeds, paired by clip) and its bootstrap interval.

    ``honest[s]`` and ``variants[v][s]`` are the results of seed ``s``. Each draw picks ``unit``: test subjects,
    each with all its clips (clips of one person are alike, so drawing them one by one usually gives a narrower interval
    than the data support), or clips (``draw_units``). Returns, per variant, ``{"uf1": point, "low": ...,
    "high": ..., "clips": n, "unit": "subjects" or "clips"}`` in fractions; the point estimate is on the clips
    every run scored.
    """
    everything = list(honest) + [result for runs in variants for result in runs]
    clips = common_clips(everything)
    if not clips:
        raise UsageError("the honest and leaky runs share no scored clip; their scores cannot be compared")
    position = {clip: i for i, clip in enumerate(clips)}
    honest_rows = [_rows(result, position) for result in honest]
    variant_rows = [[_rows(result, position) for result in runs] for runs in variants]
    unit_of, drawn = draw_units(everything, clips, unit)
    n_units = int(unit_of.max()) + 1
    rng = np.random.default_rng(seed)
    draws = [np.ones(len(clips))] + [np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)[unit_of]
                                     .astype(float) for _ in range(resamples)]

    def score(rows: tuple[np.ndarray, np.ndarray, np.ndarray], counts: np.ndarray) -> float:
        where, labels, predictions = rows
        weights = np.where(where >= 0, counts[np.maximum(where, 0)], 0.0)
        return weighted_uf1(labels, predictions, weights, n_classes)

    summaries = []
    for runs in variant_rows:
        inflations = np.array([np.mean([score(leaky, counts) - score(base, counts) for leaky, base in zip(runs, honest_rows)])
                               for counts in draws])
        tail = (1 - confidence) / 2
        low, high = np.quantile(inflations[1:], [tail, 1 - tail]) if resamples else (np.nan, np.nan)
        summaries.append({"uf1": float(inflations[0]), "low": float(low), "high": float(high), "clips": len(clips),
                          "unit": drawn})
    return summaries


def missed_leaks(result: RunResult, expected: Sequence[str]) -> dict[str, str]:
    """Why each leak a variant was expected to have did not occur in its run (kind → reason in words).

    ``frame-10fold`` with ``protocol.pairs=1`` (or clips too short for more
    pairs) makes one sample per clip, so no clip is on both sides; an estimator
    fitted once has no epoch for ``engine.select_on=test`` to choose.
    """
    leakage = result.leakage
    pairs = (result.dataset_summary or {}).get("frame_pairs") or {}
    reasons = {}
    for kind in [kind for kind in expected if kind not in result_leaks(result)]:
        reason = "not recorded by the run"
        if kind == "clips" and pairs.get("pairs_per_clip") == 1:
            reason = "one sample per clip with protocol.pairs=1"
        elif kind == "clips" and pairs and pairs.get("samples") == pairs.get("clips"):
            reason = "one sample per clip: the clips are too short for more frame pairs"
        elif kind == "clips" and leakage is not None and leakage.clip_overlap_folds == 0:
            reason = "no fold has frames of one clip in training and test"
        elif kind == "subjects" and leakage is not None and leakage.subject_overlap_folds == 0:
            reason = "no fold shares a subject between training and test"
        elif kind == "selection" and leakage is not None and str(leakage.model_selection or "").startswith("none"):
            reason = "the model is fitted once, with no epochs to choose from"
        reasons[kind] = reason
    return reasons


def scores_on(result: RunResult, clips: set[str], n_classes: int) -> dict[str, float]:
    """A result's pooled UF1, UAR and accuracy on its samples of ``clips``: its own pooled scores when it scored
    no other clip, else recomputed from those samples' predictions."""
    rows = [row for row in result.predictions or [] if row.clip_id in clips]
    if len(rows) == len(result.predictions or []):
        return {key: float(result.pooled[key]) for key in SCORES}
    scores = classification_metrics([row.label for row in rows], [row.prediction for row in rows], n_classes)
    return {key: float(scores[key]) for key in SCORES}


def _mean_scores(results: Sequence[RunResult], clips: set[str], n_classes: int) -> dict[str, float]:
    """The mean over seeds of each result's scores on ``clips`` (``scores_on``)."""
    scores = [scores_on(result, clips, n_classes) for result in results]
    return {key: float(np.mean([each[key] for each in scores])) for key in SCORES}


def study_time(summary: Mapping[str, Any]) -> str:
    """How long a study took, as its notes say it: ``95 s`` (the command's wall time), or, when ``--stored`` reused
    runs, the runs' own time with how many were reused (and trained with other software) and the command's time."""
    seconds = float(summary.get("seconds") or 0)
    reused = [entry for entry in summary.get("reused") or [] if isinstance(entry, Mapping)]
    if not reused:
        return f"{seconds:.0f} s"
    total = sum(len(variant.get("runs") or []) for variant in summary.get("variants") or [] if isinstance(variant, Mapping))
    other = sum(bool(entry.get("other_software")) for entry in reused)
    return (f"{float(summary.get('seconds_of_runs') or seconds):.0f} s of runs ({len(reused)} of {total} reused from "
            "the store" + (f", {other} of them trained with other software" if other else "")
            + f"; this command {seconds:.0f} s)")


def honest_description(protocol: str) -> dict[str, Any]:
    """The honest run's entry in a summary's variants, before its scores: it leaks nothing."""
    return {"name": "honest", "what": "nothing", "expected_leaks": [], "protocol": protocol, "sets": {}, "settings": []}


def summarise(study: Mapping[str, Any], honest: Sequence[RunResult],
              variants: Sequence[tuple[Mapping[str, Any], Sequence[RunResult]]],
              resamples: int = RESAMPLES, confidence: float = CONFIDENCE, unit: str = "subjects") -> dict[str, Any]:
    """The JSON-ready summary of a study; ``unit``: what a bootstrap draw picks (``bootstrap_inflation``).

    ``study`` holds what was run (``model``, ``dataset``, ``protocol``,
    ``profile``, ``seeds``, ``command``...); ``honest`` the honest results
    (one per seed); ``variants`` pairs each leaky variant's description
    (``name``, ``what``, ``expected_leaks``, ``protocol``, ``sets``, the
    ``settings`` its run changed beyond the honest run's ``settings_changed``,
    and a ``note`` when its run differs from the honest one in more than its
    leak) with its results, seed for seed. Each variant's entry records the leaks
    its run had (``leaks``) and why an expected one did not occur
    (``not_occurred``, ``missed_leaks``).
    """
    n_classes = len(honest[0].classes)
    inflation = bootstrap_inflation(honest, [runs for _, runs in variants], n_classes, resamples, confidence,
                                    unit=unit)
    drawn = inflation[0]["unit"] if inflation else "clips"
    for gain in inflation:
        del gain["unit"]
    clips = set(common_clips([*honest, *(run for _, runs in variants for run in runs)]))

    def entry(description: Mapping[str, Any], runs: Sequence[RunResult], gain: dict[str, float] | None) -> dict[str, Any]:
        return {
            **description,
            "leaks": leaks_of_runs(runs),  # of any seed: one that shared subjects with seed 1 only is not honest
            "not_occurred": missed_leaks(runs[0], description.get("expected_leaks") or []),
            **_mean_scores(runs, clips, n_classes),
            "inflation": gain,
            "n_samples": int(runs[0].n_samples),
            "runs": [{"seed": int(r.seed), "run_id": r.run_id, "n_samples": int(r.n_samples),
                      "seconds": float(r.seconds.total), **{key: float(r.pooled[key]) for key in SCORES}}
                     for r in runs],
        }

    honest_entry = honest_description(study["protocol"])
    return {
        "kind": KIND,
        "version": VERSION,
        **study,
        "classes": list(honest[0].classes),
        "environment": dict(honest[0].environment),
        "bootstrap": {
            "resamples": resamples, "confidence": confidence, "seed": BOOTSTRAP_SEED, "unit": drawn.rstrip("s"),
            "paired": True,
            "method": "percentile interval of the seed-averaged UF1 difference over paired resamples of "
                      + ("the test subjects, each with all its clips that every run scored (each sample weighted by "
                         "how often its subject was drawn)" if drawn == "subjects" else
                         "the clips every run scored (each sample weighted by how often its clip was drawn)"),
        },
        "variants": [entry(honest_entry, honest, None)] + [entry(description, runs, gain)
                                                          for (description, runs), gain in zip(variants, inflation)],
    }


def load_summary(path: Path, what: str = "--leakage") -> dict[str, Any]:
    """Read a leakage summary written by ``merbench leakage --json``; ``UsageError`` naming the file otherwise."""
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: file not found; write one with merbench leakage ... --json {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path}: is a folder; give the JSON file merbench leakage --json wrote") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{what} {path}: not a JSON file ({exc}); give the file merbench leakage --json wrote") from None
    except ValueError as exc:  # an integer of over 4300 digits, which Python does not convert
        raise UsageError(f"{what} {path}: holds a value that cannot be read ({str(exc).split(';')[0]}); give the file "
                         "merbench leakage --json wrote") from None
    except RecursionError:
        raise UsageError(f"{what} {path}: nested too deeply to read (arrays or objects inside each other thousands of "
                         "levels down); give the file merbench leakage --json wrote") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    return checked_summary(summary, path, what)


def checked_summary(summary: Any, path: Path, what: str = "--leakage") -> dict[str, Any]:
    """``summary``, the JSON read from ``path``, when it is a whole leakage summary; ``UsageError`` naming the file
    (after ``what``) and its first missing or mistyped field otherwise."""
    if not isinstance(summary, dict) or summary.get("kind") != KIND:
        raise UsageError(f"{what} {path}: not a leakage summary (no \"kind\": \"{KIND}\"); give the file "
                         "merbench leakage --json wrote (a run's result is shown by merbench show or report)")
    version = summary.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > VERSION
        fix = ("written by a newer merbench: upgrade merbench (pip install -U merbench) to read it" if newer else
               "the file is damaged: write it again with merbench leakage --json")
        raise UsageError(f"{what} {path}: summary version {json.dumps(version)} is not one this merbench reads (it "
                         f"reads version {VERSION}); {fix}")
    problem = summary_problem(summary)
    if problem:
        raise UsageError(f"{what} {path}: {problem}; write it again with merbench leakage --json")
    return summary


NUMBER, WHOLE, TEXT, LIST, TABLE = "a number", "a whole number", "a text", "a list", "an object"
"""What a field of a summary must hold, in the words of the message that says it does not."""

_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {  # field: (kind, required); an optional field may be null
    "summary": {"model": (TEXT, True), "dataset": (TEXT, True), "variants": (LIST, True), "protocol": (TEXT, False),
                "profile": (TEXT, False), "command": (TEXT, False), "created": (TEXT, False), "seeds": (LIST, False),
                "seconds": (NUMBER, False), "seconds_of_runs": (NUMBER, False), "bootstrap": (TABLE, False),
                "environment": (TABLE, False), "left_out": (LIST, False), "reused": (LIST, False),
                "settings_changed": (LIST, False), "dataset_folders": (LIST, False),
                "files_read": (LIST, False)},
    "variant": {"name": (TEXT, True), "what": (TEXT, True), "uf1": (NUMBER, True), "uar": (NUMBER, True),
                "accuracy": (NUMBER, True), "runs": (LIST, True), "leaks": (LIST, False),
                "expected_leaks": (LIST, False), "not_occurred": (TABLE, False), "note": (TEXT, False),
                "settings": (LIST, False)},
    "inflation": {"uf1": (NUMBER, True), "low": (NUMBER, True), "high": (NUMBER, True)},
    "run": {"seed": (WHOLE, True), "n_samples": (WHOLE, True), "uf1": (NUMBER, True), "uar": (NUMBER, True),
            "accuracy": (NUMBER, True), "seconds": (NUMBER, True)},
    "bootstrap": {"confidence": (NUMBER, False), "resamples": (WHOLE, False), "unit": (TEXT, False)},
    "left_out": {"name": (TEXT, True), "why": (TEXT, True)},
}


def _holds(value: Any, kind: str) -> bool:
    if kind in (NUMBER, WHOLE):
        return isinstance(value, int if kind == WHOLE else (int, float)) and not isinstance(value, bool)
    return isinstance(value, {TEXT: str, LIST: list, TABLE: dict}[kind])


def _field_problem(where: str, record: Any, fields: str) -> str | None:
    """The first field of ``record`` (at ``where``) that ``_FIELDS[fields]`` says is missing or of another kind;
    ``fields`` a kind (``TEXT``): whether ``record`` is of it."""
    if fields not in _FIELDS:
        return None if _holds(record, fields) else f"{where} is not {fields} ({json.dumps(record)[:60]})"
    if not isinstance(record, dict):
        return f"{where} is not {TABLE}"
    for key, (kind, required) in _FIELDS[fields].items():
        place = f"{where}.{key}" if where else key
        if record.get(key) is None:
            if required:
                return f"{place} is missing"
        elif not _holds(record[key], kind):
            return f"{place} is not {kind} ({json.dumps(record[key])[:60]})"
    return None


def summary_problem(summary: dict[str, Any]) -> str | None:
    """What keeps a leakage summary from being shown: the first field that the renderers (terminal, Markdown,
    HTML, README) read and that is missing or of another kind, by its place (``variants[2].runs[0].seed``)."""
    problem = _field_problem("", summary, "summary")
    if problem is not None or not summary["variants"]:
        return problem or "variants is empty"
    checks = [("bootstrap", summary.get("bootstrap") or {}, "bootstrap")]
    checks += [(f"left_out[{i}]", item, "left_out") for i, item in enumerate(summary.get("left_out") or [])]
    for index, variant in enumerate(summary["variants"]):
        checks.append((f"variants[{index}]", variant, "variant"))
        if isinstance(variant, dict):
            if variant.get("inflation") is not None:
                checks.append((f"variants[{index}].inflation", variant["inflation"], "inflation"))
            settings = variant.get("settings") if isinstance(variant.get("settings"), list) else []
            checks += [(f"variants[{index}].settings[{i}]", text, TEXT) for i, text in enumerate(settings)]
            runs = variant.get("runs") if isinstance(variant.get("runs"), list) else []
            checks += [(f"variants[{index}].runs[{i}]", run, "run") for i, run in enumerate(runs)]
    return next(filter(None, (_field_problem(*check) for check in checks)), None)
