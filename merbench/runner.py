"""One benchmark run: dataset → preprocessing → protocol → engine → metrics → result.

``run_benchmark`` returns the result as a JSON-ready dict (DESIGN.md section 6
plus per-sample predictions and run details), and never looks at test labels
for anything but scoring.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from merbench.cache import cache_root
from merbench.config import RunConfig, parse_parallel_folds
from merbench.contracts import Dataset, Fold, resolve_factory
from merbench.dataset_check import check_dataset_input, check_root_folder
from merbench.errors import DataError, RunFailed, UsageError
from merbench.metrics import METRIC_KEYS, classification_metrics, confusion, mean_std
from merbench.preprocess import build_chain, check_model_input, preprocess_dataset, skips_unreadable
from merbench.progress import ProgressSink, SilentProgress
from merbench.registry import Registry
from merbench.workers import peak_memory, start_worker_server


def _check_cache_outside_root(root: Path | None, cache_dir: Path) -> None:
    if root is None:
        return
    if cache_dir.resolve().is_relative_to(root.resolve()):
        raise UsageError(
            f"the cache {cache_dir} lies inside the dataset root {root}; merbench never writes inside a dataset: "
            "set MERBENCH_CACHE to a folder elsewhere"
        )


def load_dataset(config: RunConfig, registry: Registry, cache_dir: Path) -> Dataset:
    """Load the run's dataset and check it can be used for classification."""
    spec = registry.get("datasets", config.dataset)
    check_root_folder(config.root, config.dataset)
    _check_cache_outside_root(config.root, cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)  # only now: a refused cache inside the root leaves no folder there
    dataset = resolve_factory(spec.load)(config.root, dict(config.section("dataset")), cache_dir)
    if not dataset.samples:
        raise DataError(f"dataset '{config.dataset}' has no samples{f' under {config.root}' if config.root else ''}")
    if len(np.unique(dataset.labels)) < 2:
        raise DataError(f"dataset '{config.dataset}' has samples of only one class; a classifier needs at least two")
    return dataset


def check_folds(folds: list[Fold], subjects: np.ndarray, protocol: str) -> list[list[str]]:
    """Validate folds and return, per fold, the subjects found in both train and test."""
    overlaps = []
    for fold in folds:
        if len(fold.train) == 0 or len(fold.test) == 0:
            raise DataError(f"protocol '{protocol}' produced fold {fold.index} with an empty training or test part")
        if np.intersect1d(fold.train, fold.test).size:
            raise DataError(f"protocol '{protocol}' put the same sample in training and test of fold {fold.index}")
        overlaps.append(sorted(set(subjects[fold.train]) & set(subjects[fold.test])))
    return overlaps


def _per_domain(dataset: Dataset, y_true: np.ndarray, y_pred: np.ndarray, order: np.ndarray) -> dict[str, dict[str, float]]:
    domains = dataset.domains[order]
    result = {}
    for domain in sorted(set(domains)):
        mask = domains == domain
        scores = classification_metrics(y_true[mask], y_pred[mask], len(dataset.classes))
        result[str(domain)] = {key: scores[key] for key in ("uf1", "uar", "accuracy")}
    return result


def _sample_row(dataset: Dataset, i: int, fold: int, labels: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    sample = dataset.samples[i]
    return {"id": sample.id, "subject": sample.subject, "domain": sample.domain, "fold": fold,
            "label": int(labels[i]), "prediction": int(predictions[i])}


def run_benchmark(config: RunConfig, registry: Registry, progress: ProgressSink | None = None,
                  recorder: Any = None) -> dict[str, Any]:
    """Run the configured benchmark end to end and return its result dict.

    ``engine.threads`` (when above 0) sets torch's CPU threads for the run only.
    ``recorder`` (a ``merbench.store.RunRecorder``) persists each fold as it
    completes and hands back folds a resumed run already finished.
    """
    if _may_train_in_worker_processes(config):
        start_worker_server()  # it imports torch in the background while this process prepares the run
    from merbench.engine import torch_threads

    with torch_threads(int(config.section("engine")["threads"])):
        return _run(config, registry, progress, recorder)


def _may_train_in_worker_processes(config: RunConfig) -> bool:
    engine = config.section("engine")
    return (parse_parallel_folds(engine["parallel_folds"]) != 1 and engine["parallel_mode"] != "vmap"
            and config.section("executor")["name"] == "local" and not config.device.startswith("cuda"))


def _plugin_versions(config: RunConfig, registry: Registry) -> dict[str, str]:
    used = [("models", config.model), ("datasets", config.dataset), ("protocols", config.protocol)]
    used += [("preprocessors", name) for name in config.preprocess]
    versions = {}
    for kind, name in used:
        provider = registry.provider(kind, name)
        versions[f"{kind[:-1]}:{name}"] = f"{provider.distribution} {provider.version}"
    return versions


def _plugin_label(registry: Registry, kind: str, name: str) -> str:
    """``model plugin 'NAME' (DISTRIBUTION VERSION)``: who to blame in messages about a plugin's output."""
    provider = registry.provider(kind, name)
    return f"{kind[:-1]} plugin '{name}' ({provider.distribution} {provider.version})"


def check_fold_predictions(fold: Fold, predicted: np.ndarray, n_classes: int, plugin: str) -> None:
    """``RunFailed`` unless a fold has one prediction in 0..n_classes-1 per test sample (checked before it is stored)."""
    predicted = np.asarray(predicted)
    if predicted.shape != (len(fold.test),):
        raise RunFailed(f"fold {fold.index}: {plugin} gave {predicted.shape} predictions for {len(fold.test)} test "
                        "samples; nothing of this fold was stored. Fix the model plugin or report it to its author")
    outside = predicted[(predicted < 0) | (predicted >= n_classes)]
    if outside.size:
        raise RunFailed(f"fold {fold.index}: {plugin} predicted class {int(outside[0])}, outside 0..{n_classes - 1} "
                        f"({n_classes} classes); nothing of this fold was stored. Fix the model plugin or report it to its author")


def check_predictions(predicted: np.ndarray, truth: np.ndarray, n_classes: int, plugin: str) -> np.ndarray:
    """The confusion matrix of all tested samples; ``RunFailed`` when a prediction is outside the class set
    or the matrix does not count every tested sample once."""
    outside = predicted[(predicted < 0) | (predicted >= n_classes)]
    if outside.size:
        raise RunFailed(f"{plugin} predicted class {int(outside[0])} for {outside.size} sample(s), outside "
                        f"0..{n_classes - 1}; the result is not recorded as complete. Fix the model plugin")
    matrix = confusion(truth, predicted, n_classes)
    if int(matrix.sum()) != len(truth):
        raise RunFailed(f"the confusion matrix counts {int(matrix.sum())} of {len(truth)} tested samples; the result "
                        "is not recorded as complete. This is a merbench bug: please report it")
    return matrix


def _normalisation_note(fold_results: list[dict[str, Any]]) -> str:
    """How the folds normalised their inputs (each fit on training samples only), in words."""
    notes = sorted({str(f.get("normalisation", "channel mean/std of the training samples")) for f in fold_results})
    return "; ".join(notes) + " (fitted on each fold's training samples only)"


def _fold_record(fold: Fold, output: Any, subjects: np.ndarray, labels: np.ndarray, overlaps: list[list[str]],
                 n_classes: int) -> dict[str, Any]:
    """The stored and reported facts of one trained fold."""
    return {
        "fold": fold.index,
        "test_subjects": sorted(str(s) for s in set(subjects[fold.test])),
        "train_subjects": sorted(str(s) for s in set(subjects[fold.train])),
        "n_train": int(len(fold.train)),
        "n_test": int(len(fold.test)),
        "subject_overlap": overlaps[fold.index],
        "final_train_loss": output.final_loss,
        "epochs_trained": len(output.epoch_losses),
        "selected_epoch": output.selected_epoch,
        "validation_subjects": (
            sorted(str(s) for s in set(subjects[output.validation])) if output.validation is not None else []
        ),
        "seconds": output.seconds,
        "normalisation": output.normalisation,
        "metrics": classification_metrics(labels[fold.test], output.predictions, n_classes),
    }


def _run(config: RunConfig, registry: Registry, progress: ProgressSink | None, recorder: Any = None) -> dict[str, Any]:
    import torch

    from merbench.engine import FoldOutput, TrainSettings, choose_device
    from merbench.folds import FoldData, FoldJob, FoldTask, ModelRecipe, describe_plan, plan_executor
    from merbench.environment import describe_environment

    progress = progress or SilentProgress()
    started = time.perf_counter()
    model_spec = registry.get("models", config.model)
    protocol_spec = registry.get("protocols", config.protocol)
    preprocessor_specs = [registry.get("preprocessors", name) for name in config.preprocess]
    cache_dir = cache_root(create=False)  # load_dataset creates it once it is known to lie outside the dataset

    chain = build_chain(preprocessor_specs, config.sections)
    check_model_input(config.model, model_spec.input, chain)
    choice = choose_device(config.device, config.section("engine")["amp"])
    settings = TrainSettings.from_options(config.section("engine"))
    progress.message(f"Device: {choice.description}")

    dataset = load_dataset(config, registry, cache_dir)
    check_dataset_input(dataset, config.dataset, config.preprocess)
    progress.start("preprocess", len(dataset.samples), f"Preprocessing {config.dataset} ({','.join(config.preprocess)})")
    prep = preprocess_dataset(dataset, chain, on_progress=lambda n: progress.advance("preprocess", n), cache_dir=cache_dir,
                              workers=int(config.section("engine")["preprocess_workers"]),
                              skip_unreadable=skips_unreadable(config.section("dataset")),
                              on_warning=lambda text: progress.message(f"[bold yellow]Warning:[/] {text}"))
    if "skipped" in prep.details:
        skipped = prep.details["skipped"]
        progress.message(f"[bold yellow]Warning:[/] skipped {skipped['count']} clip(s) with unreadable frames "
                         f"(dataset.strict is off); first: {next(iter(skipped['clips'].values()))}")
    dataset = prep.dataset or dataset  # without clips skipped as unreadable (dataset.strict=false)
    if recorder is not None:
        recorder.inputs(config.seed, {"computed": prep.computed, "cached": prep.cached, **prep.details}, prep.inputs)

    labels, subjects = dataset.labels, dataset.subjects
    split = resolve_factory(protocol_spec.split)
    folds = split(labels, subjects, config.seed, dict(config.section("protocol")), dataset.domains)
    overlaps = check_folds(folds, subjects, config.protocol)
    if protocol_spec.warning:
        progress.message(f"[bold yellow]Warning:[/] {protocol_spec.warning}")

    train_started = time.perf_counter()
    n_classes = len(dataset.classes)
    recipe = ModelRecipe(model_spec.build, dict(config.section("model")), int(prep.inputs.shape[1]), n_classes,
                         int(prep.inputs.shape[2]), plugin=_plugin_label(registry, "models", config.model))
    data = FoldData(prep.inputs, labels, subjects)
    executor, job = plan_executor(config.section("engine"), config.section("executor"),
                                  FoldJob(recipe, settings, choice), data, len(folds))

    progress.start("folds", len(folds), f"Folds ({config.protocol})")
    predictions = np.full(len(labels), -1, dtype=np.int64)
    fold_of = np.full(len(labels), -1, dtype=np.int64)
    fold_results = []
    todo = []
    for fold in folds:
        test_ids = [dataset.samples[i].id for i in fold.test]
        stored = recorder.completed_fold(config.seed, fold.index, test_ids) if recorder is not None else None
        if stored is not None:  # finished before the run was interrupted: reused, not retrained
            predictions[fold.test] = stored.predictions
            fold_of[fold.test] = fold.index
            fold_results.append(stored.record)
            progress.advance("folds", 1)
        else:
            todo.append(FoldTask(fold, config.seed * 1000 + fold.index))

    def fold_done(task: FoldTask, output: FoldOutput) -> None:
        fold = task.fold
        check_fold_predictions(fold, output.predictions, n_classes, recipe.plugin)
        predictions[fold.test] = output.predictions
        fold_of[fold.test] = fold.index
        fold_results.append(_fold_record(fold, output, subjects, labels, overlaps, n_classes))
        if recorder is not None:
            recorder.fold_done(config.seed, fold_results[-1], [dataset.samples[i].id for i in fold.test],
                               output.predictions, [_sample_row(dataset, i, fold.index, labels, predictions) for i in fold.test])
        progress.advance("folds", 1)

    if todo:
        progress.message(f"Folds: {executor.description}, {job.threads or torch.get_num_threads()} torch thread(s) per fold")
        executor.run(job, data, todo, fold_done, progress)
    fold_results.sort(key=lambda record: record["fold"])

    tested = np.flatnonzero(fold_of >= 0)
    matrix = check_predictions(predictions[tested], labels[tested], n_classes, recipe.plugin)
    pooled = classification_metrics(labels[tested], predictions[tested], n_classes)
    fold_mean, fold_std = mean_std([f["metrics"] for f in fold_results])
    finished = time.perf_counter()
    sample_rows = [_sample_row(dataset, i, int(fold_of[i]), labels, predictions) for i in tested]
    return {
        "model": config.model,
        "dataset": config.dataset,
        "protocol": config.protocol,
        "subject_independent": bool(protocol_spec.subject_independent) and not any(overlaps),
        "classes": list(dataset.classes),
        "n_samples": len(dataset.samples),
        "n_subjects": int(len(np.unique(subjects))),
        "pooled": pooled,
        "fold_mean": fold_mean,
        "fold_std": fold_std,
        "metric_notes": {
            "macro_f1": "scikit-learn macro F1 (zero_division=0); pooled over all folds it equals UF1",
            "uf1": "MEGC2019 unweighted F1 on predictions pooled over folds",
            "uar": "MEGC2019 unweighted average recall on pooled predictions",
        },
        "per_domain": _per_domain(dataset, labels[tested], predictions[tested], tested),
        "folds": fold_results,
        "confusion_matrix": matrix.tolist(),
        "seconds": {
            "preprocess": prep.seconds,
            "train_eval": finished - train_started,
            "total": finished - started,
        },
        "memory": peak_memory(),
        "config": config.to_dict(),
        "environment": {**describe_environment(choice.description), "plugins": _plugin_versions(config, registry)},
        "profile": config.profile,
        "seed": config.seed,
        "engine_plan": describe_plan(executor, job),
        "warnings": [protocol_spec.warning] if protocol_spec.warning else [],
        "leakage": {
            "subject_overlap_folds": sum(bool(o) for o in overlaps),
            "normalisation": _normalisation_note(fold_results),
            "model_selection": (
                f"best epoch by validation UF1 on held-out training subjects (patience {settings.early_stopping}); "
                "test folds are used once"
                if settings.early_stopping
                else "none: the model after the last epoch is scored; test folds are used once"
            ),
            "selection_uses_test_data": False,
        },
        "preprocess": {"computed": prep.computed, "cached": prep.cached, **prep.details},
        "dataset_summary": dict(dataset.summary),
        "reported": [
            {"dataset": r.dataset, "protocol": r.protocol, "metric": r.metric, "value": r.value, "source": r.source}
            for r in model_spec.reported
        ],
        "predictions": sample_rows,
        "metric_keys": list(METRIC_KEYS),
    }


def run_with_seeds(config: RunConfig, registry: Registry, n_seeds: int, progress: ProgressSink | None = None,
                   recorder: Any = None) -> dict[str, Any]:
    """Repeat the run with seeds ``config.seed`` .. ``config.seed + n_seeds - 1``.

    ``recorder`` is passed to every seed's ``run_benchmark`` (folds are stored per seed).

    The returned result is the first seed's, plus ``seeds`` (each seed's pooled
    and fold-mean scores) and ``across_seeds`` (mean and population std over
    seeds of the pooled scores).
    """
    if n_seeds < 1:
        raise UsageError(f"--seeds {n_seeds}: must be at least 1")
    runs = [run_benchmark(dataclasses.replace(config, seed=config.seed + i), registry, progress, recorder) for i in range(n_seeds)]
    result = runs[0]
    if n_seeds > 1:
        result["seeds"] = [{"seed": r["seed"], "pooled": r["pooled"], "fold_mean": r["fold_mean"]} for r in runs]
        mean, std = mean_std([r["pooled"] for r in runs])
        result["across_seeds"] = {"n": n_seeds, "mean": mean, "std": std}
        result["seconds"]["total_all_seeds"] = sum(r["seconds"]["total"] for r in runs)
    return result
