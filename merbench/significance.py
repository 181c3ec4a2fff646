"""Is one run better than another? A paired test over folds and a bootstrap interval.

Both results must come from the same dataset and protocol with the same folds
(same test samples in every fold, which the same seed gives). The per-fold
scores, computed from each fold's predictions (not read from the file, whose
stored scores could be edited or damaged), are compared with the Wilcoxon
signed-rank test; the difference of the
pooled score gets a paired bootstrap confidence interval. The bootstrap draws
**subjects** by default, each with all its test samples: clips of one person are
alike, so drawing clips one by one (``resample="clips"``, the choice of many
papers) usually gives a narrower interval than the data support. A run
that leaks test information (``merbench.leaks``) is named with what it leaks.

The test is the two-sided signed-rank test with an exact p-value for any number
of folds: the statistic's distribution over all 2**n sign flips of the n folds
that differ (tied differences get their mean rank), counted by ``signed_rank_test``
(``scipy.stats.wilcoxon`` switches to a normal approximation when differences tie
or are zero above 13 folds, and above 50 folds always, which can give p below
what the folds allow). Folds whose scores agree to ``DECIMALS`` places do not
differ and are left out, so the smallest possible p-value is 2 / 2**n. One fold always gives p = 1 whatever the
scores: the test needs ``MIN_FOLDS`` = 2 folds (p >= 0.5 then), and below that
no p-value is given. p < 0.05 needs at least 6 folds; 10 folds reach about 0.002.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from scipy.stats import rankdata

from merbench.audit import outside_classes, sample_count_problems
from merbench.bootstrap_units import RESAMPLE_UNITS, unit_indices
from merbench.config import options_as_recorded
from merbench.errors import DataError
from merbench.leaks import describe, result_leaks
from merbench.metrics import unweighted_f1_recall
from merbench.result import RunResult
from merbench.wording import some_of

MIN_FOLDS = 2
"""The fewest folds the signed-rank test can use: with one, its p-value is 1 whatever the scores."""

DECIMALS = 12
"""Per-fold differences are rounded to this many decimals before they are tested or counted: two scores that differ
only by floating-point noise (the same per-class F1s summed in another order) tie, and so do two differences that
are equal but for it. A real difference of two fold scores is far larger (at least 1 / the fold's samples squared)."""


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing run A with run B on one metric (B minus A).

    ``wilcoxon_statistic`` and ``p_value`` are ``None`` when the test does not
    apply (fewer than ``MIN_FOLDS`` folds); ``wilcoxon_note`` then says why.
    ``leaks`` holds the leak kinds of run ``"A"`` and run ``"B"`` (empty: honest).
    """

    metric: str
    fold_scores_a: list[float]
    fold_scores_b: list[float]
    wilcoxon_statistic: float | None
    p_value: float | None
    pooled_a: float
    pooled_b: float
    ci_low: float
    ci_high: float
    n_bootstrap: int
    wilcoxon_note: str | None = None
    resampled: str = "clips"
    """What each bootstrap draw picks: ``subjects`` (each with all its test samples) or ``clips``."""
    n_units: int = 0
    """How many subjects (or clips) the draws pick from."""
    leaks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def pooled_difference(self) -> float:
        """Pooled score of B minus that of A."""
        return self.pooled_b - self.pooled_a


def folds_text(n: int) -> str:
    """``1 fold``, ``3 folds``."""
    return f"{n} fold{'' if n == 1 else 's'}"


def fold_differences(fold_a: list[float], fold_b: list[float]) -> np.ndarray:
    """B minus A per fold, rounded to ``DECIMALS`` places: what the test ranks and the caption counts (0: a tie)."""
    return np.round(np.subtract(fold_b, fold_a), DECIMALS)


def _wilcoxon(fold_a: list[float], fold_b: list[float]) -> tuple[float | None, float | None, str | None]:
    """Statistic, p-value and, when the test does not apply, why (both numbers ``None``)."""
    if len(fold_a) < MIN_FOLDS:
        return None, None, (f"not applicable ({folds_text(len(fold_a))}; the signed-rank test needs at least "
                            f"{MIN_FOLDS})")
    differences = fold_differences(fold_a, fold_b)
    if not differences.any():
        return 0.0, 1.0, None
    return (*signed_rank_test(differences), None)


def signed_rank_test(differences: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of ``differences``: (statistic, exact p-value).

    Zero differences are left out. The statistic is the smaller of the rank sums
    of the positive and the negative differences (ranks of the absolute values,
    ties at their mean rank), as ``scipy.stats.wilcoxon`` gives it. The p-value
    is exact with ties too: each difference's sign is flipped with probability
    1/2 under the null hypothesis, so the distribution of the positive rank sum
    is built by adding one (doubled, hence whole) rank at a time.
    """
    differing = np.asarray(differences, dtype=float)
    differing = differing[differing != 0]
    doubled = np.rint(2 * rankdata(np.abs(differing))).astype(int)
    distribution = np.zeros(int(doubled.sum()) + 1)
    distribution[0] = 1.0
    for rank in doubled:
        flipped = np.zeros_like(distribution)
        flipped[rank:] = distribution[:len(distribution) - rank]
        distribution = (distribution + flipped) / 2
    positive = int(doubled[differing > 0].sum())
    p_value = min(1.0, 2 * min(distribution[:positive + 1].sum(), distribution[positive:].sum()))
    return min(positive, int(doubled.sum()) - positive) / 2, float(p_value)


def leak_warning(name: str, model: str, kinds: list[str]) -> str:
    """What run ``name`` (A or B) of ``model`` leaks, in words (``merbench.leaks.LEAKS``)."""
    return (f"run {name} ({model}) leaks ({', '.join(kinds)}): {describe(kinds)}; its scores are inflated "
            "and must not be compared with honest results (docs/leakage.md)")


def _folds(result: RunResult) -> dict[int, tuple[str, ...]]:
    folds: dict[int, list[str]] = {}
    for row in result.predictions or []:
        folds.setdefault(int(row.fold), []).append(str(row.id))
    return {fold: tuple(sorted(ids)) for fold, ids in folds.items()}


def _pooled(metric: str, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
            weights: np.ndarray | None = None) -> float:
    """``metric`` of the pooled predictions, each sample counted ``weights`` times (a bootstrap draw) or once."""
    matrix = np.bincount(y_true * n_classes + y_pred, weights=weights,
                         minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    if metric == "uf1":
        return unweighted_f1_recall(matrix)[0]
    if metric == "uar":
        return unweighted_f1_recall(matrix)[1]
    return float(np.trace(matrix) / matrix.sum())


def _check_classes_in_range(name: str, result: RunResult, n_classes: int) -> None:
    """DataError when a prediction row of run ``name`` has a label or prediction outside 0..n_classes-1."""
    for column in ("label", "prediction"):
        outside = outside_classes(result.predictions or [], n_classes, column)
        if outside:
            raise DataError(
                f"run {name} ({result.model}): sample {outside[0].id} has {column} {getattr(outside[0], column)}, "
                f"outside 0..{n_classes - 1} of its {n_classes} classes; the result file is damaged "
                "(`merbench audit` checks it)")


FOLD_SECTIONS = ("dataset", "protocol")
"""The option sections whose settings decide which samples a run has and how its folds split them."""


def run_name(name: str, result: RunResult, given: str | None = None) -> str:
    """Run ``name`` (A or B) in a message: ``run A (ststnet, a.json)``, with what it was given as (a result file or a
    run id), else its run id when it has one."""
    where = given or result.run_id
    return f"run {name} ({result.model}{f', {where}' if where else ''})"


def _shown(value: Any) -> str:
    return "not set" if value is _UNSET else str(value)


_UNSET = object()


def fold_settings_apart(a: RunResult, b: RunResult) -> list[str] | None:
    """What A and B were made with differently that decides their folds: the seed, the dataset folder and each
    ``dataset.*`` and ``protocol.*`` option of their recorded configurations (``dataset.clips_per_subject=3 vs 6``);
    ``None`` when either records no options."""
    configs = [result.config if isinstance(result.config, Mapping) else {} for result in (a, b)]
    if not all(isinstance(config.get("options"), Mapping) for config in configs):
        return None
    options = [options_as_recorded(config) for config in configs]
    apart = [f"--seed {a.seed} vs {b.seed}"] if a.seed != b.seed else []
    roots = [result.config.get("root") or "none" for result in (a, b)]
    if roots[0] != roots[1]:
        apart.append(f"--root {roots[0]} vs {roots[1]}")
    for section in FOLD_SECTIONS:
        values = [recorded.get(section) if isinstance(recorded.get(section), Mapping) else {} for recorded in options]
        for key in dict.fromkeys([*values[0], *values[1]]):
            value_a, value_b = (value.get(key, _UNSET) for value in values)
            if value_a != value_b:
                apart.append(f"{section}.{key}={_shown(value_a)} vs {_shown(value_b)}")
    return apart


def _check_samples_listed_once(name: str, result: RunResult, given: str | None) -> None:
    """DataError when run ``name``'s predictions do not list each sample it scored once (``merbench audit`` says the
    same): that, not how the runs were made, is then why its folds are not the other run's."""
    problems = sample_count_problems(result)
    if problems:
        raise DataError(f"{run_name(name, result, given)}: {some_of(problems, 2, '; ')}; the result is damaged, so its "
                        "folds cannot be matched with the other run's (`merbench audit` checks a result file)")


SAME_FOLDS, SAME_LABELS = "were not made on the same folds (different test samples)", \
    "give different true labels to the same samples"
"""What two runs ``_not_alike`` names differ in."""


def _not_alike(a: RunResult, b: RunResult, given: tuple[str | None, str | None], differ: str) -> DataError:
    """The error for two runs whose folds test different samples (``differ``: ``SAME_FOLDS``) or label them apart
    (``SAME_LABELS``), naming both and saying what they were made with differently."""
    runs = f"{run_name('A', a, given[0])} and {run_name('B', b, given[1])} {differ}"
    apart = fold_settings_apart(a, b)
    if apart is None:
        return DataError(f"{runs}; one does not record its configuration, so what differs cannot be told: compare "
                         "runs made with the same --seed and settings (e.g. dataset.seed, protocol.n_splits)")
    if not apart:
        return DataError(f"{runs}, though both record seed {a.seed}, the same dataset folder and the same dataset "
                         "and protocol settings (dataset.seed, protocol.n_splits and the rest): the data itself "
                         "differs (another copy or version of the dataset); compare runs made on the same data")
    if a.seed == b.seed:
        fix = "compare runs made with the same settings"
    else:
        fix = "re-run both with the same --seed" + (" and settings" if len(apart) > 1 else "")
    return DataError(f"{runs}: they differ in {some_of(apart, 5, '; ')}; {fix}")


CONFIDENCE, PERCENTILES = 0.95, (2.5, 97.5)
"""The bootstrap interval's coverage, and its ends as percentiles of the resampled differences."""
FEW_SUBJECTS = 5
"""Below this many test subjects a bootstrap over subjects takes few distinct draws: its interval is rough."""


def compare_runs(a: RunResult, b: RunResult, metric: str = "uf1", n_bootstrap: int = 2000, seed: int = 0,
                 resample: str = "subjects", given: tuple[str | None, str | None] = (None, None)) -> Comparison:
    """Compare two results on the same folds; raises DataError when they are not comparable.

    ``resample``: what a bootstrap draw picks, ``subjects`` (each with all its test samples; clips when a result
    does not record its samples' subjects) or ``clips``. ``given``: what A and B were given as (a result file or a
    run id), named in messages.
    """
    if resample not in RESAMPLE_UNITS:
        raise DataError(f"--resample {resample}: choose one of {', '.join(RESAMPLE_UNITS)}")
    if metric not in ("uf1", "uar", "accuracy"):
        raise DataError(f"--metric {metric}: choose uf1, uar or accuracy")
    for key, value_a, value_b in (("dataset", a.dataset, b.dataset), ("protocol", a.protocol, b.protocol)):
        if value_a != value_b:
            raise DataError(f"the runs differ in {key} ({value_a} vs {value_b}); compare runs of one dataset and protocol")
    if list(a.classes) != list(b.classes):
        raise DataError(f"the runs' classes differ: run A ({a.model}) has {list(a.classes)}, run B ({b.model}) "
                        f"{list(b.classes)} (a label number names another class in each); run both with the same "
                        "class names in the same order (dataset.classes)")
    for name, result in (("A", a), ("B", b)):
        if not result.predictions:
            raise DataError(f"run {name} ({result.model}) records no per-sample predictions; re-run it with this merbench")
    n_classes = len(a.classes)
    for name, result in (("A", a), ("B", b)):
        _check_classes_in_range(name, result, n_classes)
    if sorted(_folds(a).values()) != sorted(_folds(b).values()):  # the same test parts, whatever their numbers
        for name, result, as_given in (("A", a, given[0]), ("B", b, given[1])):
            _check_samples_listed_once(name, result, as_given)  # a damaged result, before settings are blamed
        raise _not_alike(a, b, given, SAME_FOLDS)

    rows_a, rows_b = a.predictions or [], {str(row.id): row for row in b.predictions or []}
    ids = [str(row.id) for row in rows_a]
    y_true = np.array([row.label for row in rows_a])
    pred_a = np.array([row.prediction for row in rows_a])
    pred_b = np.array([rows_b[i].prediction for i in ids])
    if not np.array_equal(y_true, [rows_b[i].label for i in ids]):
        raise _not_alike(a, b, given, SAME_LABELS)
    # Each fold's score from its predictions, as the pooled one: a stored per-fold score is not trusted (an edited
    # or damaged file would otherwise give a confident p-value).
    fold_of = np.array([int(row.fold) for row in rows_a])
    in_folds = [fold_of == fold for fold in sorted(set(fold_of.tolist()))]
    fold_a = [_pooled(metric, y_true[mask], pred_a[mask], n_classes) for mask in in_folds]
    fold_b = [_pooled(metric, y_true[mask], pred_b[mask], n_classes) for mask in in_folds]
    statistic, p_value, note = _wilcoxon(fold_a, fold_b)
    if resample == "subjects" and all(row.subject is not None and str(row.subject) for row in rows_a):
        unit_of = unit_indices([str(row.subject) for row in rows_a])
    else:  # a clip's samples (frame-10fold makes several of one clip) are drawn together
        resample, unit_of = "clips", unit_indices([row.clip_id for row in rows_a])
    n_units = int(unit_of.max()) + 1 if unit_of.size else 0
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        weights = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)[unit_of]
        deltas[i] = (_pooled(metric, y_true, pred_b, n_classes, weights)
                     - _pooled(metric, y_true, pred_a, n_classes, weights))
    low, high = np.percentile(deltas, PERCENTILES)
    return Comparison(
        metric=metric,
        fold_scores_a=fold_a,
        fold_scores_b=fold_b,
        wilcoxon_statistic=statistic,
        p_value=p_value,
        pooled_a=_pooled(metric, y_true, pred_a, n_classes),
        pooled_b=_pooled(metric, y_true, pred_b, n_classes),
        ci_low=float(low),
        ci_high=float(high),
        n_bootstrap=n_bootstrap,
        wilcoxon_note=note,
        resampled=resample,
        n_units=n_units,
        leaks={"A": result_leaks(a), "B": result_leaks(b)},
    )

