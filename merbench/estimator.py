"""Fitting a scikit-learn style estimator on one fold (models that are not torch modules).

A model factory may return any object with ``fit(X, y)`` and ``predict(X)``
(an SVM, a random forest, a whole ``Pipeline``). Each sample's input array is
flattened to one feature row; a ``StandardScaler`` fitted on the fold's training
rows only is put in front, the estimator is fitted once on the training part
and predicts the test part once. Nothing is selected on test data. When the
estimator takes a ``random_state`` left unset (``None``) it gets the fold's seed,
so runs repeat and seeds differ; one its plugin fixed is kept, and does not follow
the seed (``fixed_seed_warning``).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from merbench.contracts import Fold, FoldOutput
from merbench.errors import MerbenchError, PluginError, RunFailed, error_line
from merbench.wording import TEST_SAMPLES_INCLUDED, model_options_hint

NORMALISATION = "feature mean/std (StandardScaler) fitted on each fold's training samples only"
ALL_NORMALISATION = f"feature mean/std (StandardScaler) fitted on ALL samples, {TEST_SAMPLES_INCLUDED} (leaky)"


def is_estimator(model: Any) -> bool:
    """True for an object with ``fit`` and ``predict`` methods."""
    return callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))


def check_model_kind(model: Any, plugin: str) -> None:
    """Refuse what a model plugin's ``build()`` returned unless it is a torch module or an estimator (``PluginError``
    naming ``plugin``; ``None`` is the usual case: a build function that forgot its ``return``)."""
    if is_estimator(model):
        return
    import torch

    if isinstance(model, torch.nn.Module):
        return
    raise PluginError(
        f"{plugin}: its build() returned {'None' if model is None else f'a {type(model).__name__}'}, which is neither "
        "a torch.nn.Module nor an estimator with fit(X, y) and predict(X); fix the model plugin's build function "
        "(does it end with `return model`?)"
    )


def _random_states(estimator: Any) -> dict[str, Any]:
    """The ``random_state`` parameters of ``estimator`` and of a pipeline's steps (``svc__random_state``)."""
    if not callable(getattr(estimator, "get_params", None)):
        return {}
    return {key: value for key, value in estimator.get_params(deep=True).items() if key.split("__")[-1] == "random_state"}


def seeded(estimator: Any, seed: int) -> Any:
    """Give ``estimator`` (and the steps of a pipeline) ``random_state=seed`` where they take one left unset
    (``None``); one the model plugin fixed is kept (``fixed_random_states``)."""
    state = seed % 2**32  # a fold's seed (run seed * 1000 + fold) may pass scikit-learn's largest random_state
    updates = {key: state for key, value in _random_states(estimator).items() if value is None}
    return estimator.set_params(**updates) if updates else estimator


def fixed_random_states(estimator: Any) -> list[str]:
    """The ``random_state`` parameters ``estimator`` fixes (``random_state=0``): they do not follow the run's seed."""
    return sorted(key for key, value in _random_states(estimator).items() if value is not None)


def fixed_seed_warning(estimator: Any, model: str) -> str | None:
    """The warning for a run of ``model`` whose estimator fixes its ``random_state`` (``None``: it follows the seed)."""
    fixed = fixed_random_states(estimator)
    if not fixed:
        return None
    values = _random_states(estimator)
    return (f"{model}'s estimator fixes {', '.join(f'{key}={values[key]!r}' for key in fixed)}, so --seed does not "
            "change it: runs of other seeds fit the same model (a spread over seeds shows only the data's); its "
            "plugin should leave random_state unset, and merbench gives it each fold's seed")


def fit_predict_fold(
    estimator: Any,
    inputs: Any,
    labels: Any,
    fold: Fold,
    seed: int,
    started: float | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    n_classes: int | None = None,
    plugin: str = "the model plugin",
    normalise_on: str = "train",
):
    """Fit ``estimator`` on ``fold.train`` and predict ``fold.test``; returns a ``FoldOutput``.

    ``inputs`` (N, ...) and ``labels`` (N,) are tensors or arrays. The reported
    "loss" is the training error rate (1 − training accuracy), the closest thing
    an estimator without epochs has to a final training loss. With ``n_classes``
    the predictions must be one class index in 0..n_classes-1 per test sample,
    else ``PluginError`` naming ``plugin``. ``normalise_on="all"`` (leaky,
    ``engine.normalise_on``) fits the scaler on every row, test rows included.
    """
    from sklearn.preprocessing import StandardScaler

    check_model_kind(estimator, plugin)
    start = time.perf_counter() if started is None else started
    features = _as_numpy(inputs).reshape(len(inputs), -1).astype(np.float64, copy=False)
    targets = _as_numpy(labels).astype(np.int64, copy=False)
    if not np.isfinite(features[fold.train]).all():
        raise RunFailed(f"fold {fold.index + 1}: the training features contain NaN or infinity; check the preprocessing output")
    scaler = StandardScaler().fit(features if normalise_on == "all" else features[fold.train])
    train, test = scaler.transform(features[fold.train]), scaler.transform(features[fold.test])
    model = seeded(estimator, seed)
    _plugin_call(model.fit, "fit()", plugin, fold.index, train, targets[fold.train])
    train_predictions = check_predictions(_plugin_call(model.predict, "predict()", plugin, fold.index, train),
                                          len(fold.train), n_classes, plugin, fold.index)
    train_error = float(np.mean(train_predictions != targets[fold.train]))
    if on_epoch:
        on_epoch(0, train_error)
    predictions = check_predictions(_plugin_call(model.predict, "predict()", plugin, fold.index, test),
                                    len(fold.test), n_classes, plugin, fold.index)
    return FoldOutput(
        predictions=predictions,
        final_loss=train_error,
        seconds=time.perf_counter() - start,
        normalisation=NORMALISATION if normalise_on != "all" else ALL_NORMALISATION,
        epoch_losses=[train_error],
    )


def _plugin_call(method: Callable[..., Any], name: str, plugin: str, fold_index: int, *args: Any) -> Any:
    """``method(*args)`` of an estimator; an exception it raises (a hyper-parameter the estimator refuses, say) is
    one ``PluginError`` naming the plugin, the method and the fold."""
    try:
        return method(*args)
    except MerbenchError:
        raise
    except Exception as exc:  # the plugin's own code: any failure is the plugin's
        raise PluginError(f"fold {fold_index + 1}: {plugin}'s {name} raised {error_line(exc)}; check "
                          f"the model options given ({model_options_hint(plugin)}), or report it to the plugin's "
                          "author") from exc


def check_predictions(predicted: Any, rows: int, n_classes: int | None, plugin: str, fold_index: int) -> np.ndarray:
    """``predicted`` as int64 class indices, or ``PluginError`` when it is not ``rows`` indices in 0..n_classes-1."""
    values = np.asarray(predicted)
    where = f"fold {fold_index + 1}: {plugin}'s predict()"
    if values.shape != (rows,):
        scores = (" (a score per class? predict() must return the class itself, e.g. the argmax of those scores)"
                  if values.ndim == 2 and values.shape[0] == rows and values.shape[1] > 1 else "")
        raise PluginError(f"{where} returned shape {values.shape} for {rows} samples; expected ({rows},), one class "
                          f"index per sample{scores}. Fix the estimator or report it to the plugin's author")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        if not (np.issubdtype(values.dtype, np.number) and np.isfinite(values).all() and (values == np.round(values)).all()):
            raise PluginError(f"{where} returned {values.dtype} values such as {values.flat[0]!r}; expected class "
                              "indices (integers). Fix the estimator or report it to the plugin's author")
    values = values.astype(np.int64)
    if n_classes is not None and values.size and (values.min() < 0 or values.max() >= n_classes):
        bad = int(values[(values < 0) | (values >= n_classes)][0])
        raise PluginError(f"{where} returned class {bad}, outside 0..{n_classes - 1} ({n_classes} classes). "
                          "Fix the estimator or report it to the plugin's author")
    return values


def _as_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        return values.detach().cpu().numpy()
    return np.asarray(values)
