"""What leaks between training and test under a run's configuration, in words (docs/leakage.md).

Four kinds of leak, each named by a short key used in results
(``result.leakage.leaks``), baselines and ``merbench leakage``:

* ``subjects``: clips of one subject in training and test (a protocol that is
  not subject-independent, e.g. ``sample-10fold``);
* ``clips``: several samples made from one clip in training and test
  (``frame-10fold``);
* ``selection``: each fold's scored epoch chosen on its own test samples
  (``engine.select_on=test``);
* ``normalisation``: normalisation statistics computed with the test samples
  (``engine.normalise_on=all``).

A configuration is known to leak before it runs (``config_leaks``); a result
records what its run actually did (``merbench.runner.leakage_record``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from merbench.result import RunResult

LEAKS: dict[str, str] = {
    "subjects": "clips of one subject in training and test",
    "clips": "frames of one clip in training and test",
    "selection": "best epoch chosen on the test fold",
    "normalisation": "normalisation statistics include test samples",
}

ENGINE_WARNINGS: dict[str, str] = {
    "selection": "engine.select_on=test keeps, for every fold, the epoch that scored best on that fold's own test "
    "samples: the test folds choose the model, so its scores are inflated (docs/leakage.md)",
    "normalisation": "engine.normalise_on=all standardises inputs with statistics of every sample, test samples "
    "included: scores are not those of a model that never saw its test data (docs/leakage.md)",
}


SELECTION_WITHOUT_EPOCHS = ("engine.select_on=test has no effect on this model: it is fitted once, with no epoch to "
                            "choose, so nothing is selected on test data")


LEAKY_SETTINGS = {"selection": "select_on=test", "normalisation": "normalise_on=all"}
"""The ``engine`` option behind each leak kind an engine section can ask for."""


def engine_leaks(engine: Mapping[str, Any]) -> list[str]:
    """The leak kinds an ``engine`` section asks for (``selection``, ``normalisation``)."""
    found = []
    if str(engine.get("select_on", "validation")) == "test":
        found.append("selection")
    if str(engine.get("normalise_on", "train")) == "all":
        found.append("normalisation")
    return found


def stored_engine_leaks(config: Mapping[str, Any]) -> list[str]:
    """The leak kinds the engine section of a stored configuration asks for (``RunConfig.to_dict()``, as a
    result's ``config`` and the store keep it: sections under ``options``)."""
    engine = (config.get("options") or {}).get("engine") if isinstance(config, Mapping) else None
    return engine_leaks(engine) if isinstance(engine, Mapping) else []


def configured_leaks(result: Any) -> list[str]:
    """The leak kinds a result's own recorded configuration asks for (``stored_engine_leaks``), whatever its
    leakage section says, so that an edited one cannot hide them. Selection counts only where a fold trained more
    than one epoch: an estimator fitted once (recorded as one epoch) has none to choose from. ``result``: a
    ``RunResult``, or any object with its ``config`` and ``folds`` (none: nothing recorded)."""
    kinds = stored_engine_leaks(getattr(result, "config", None) or {})
    folds = getattr(result, "folds", None)
    if "selection" in kinds and folds and all(fold.epochs_trained is not None and fold.epochs_trained <= 1
                                              for fold in folds):
        kinds.remove("selection")
    return kinds


def protocol_leaks(protocol_spec: Any) -> list[str]:
    """The leak kinds a protocol plugin declares: ``subjects`` when it is not subject-independent, ``clips``
    when it makes several samples of one clip (``expand``)."""
    found = []
    if not protocol_spec.subject_independent:
        found.append("subjects")
    if getattr(protocol_spec, "expand", None) is not None:
        found.append("clips")
    return found


def config_leaks(config: Any, registry: Any) -> list[str]:
    """Every leak kind a resolved ``RunConfig`` will have, known before it runs."""
    return protocol_leaks(registry.get("protocols", config.protocol)) + engine_leaks(config.section("engine"))


def describe(kinds: list[str]) -> str:
    """The leak kinds in words, ``nothing`` when there are none."""
    return "; ".join(LEAKS.get(kind, kind) for kind in kinds) or "nothing"


def result_leaks(result: RunResult) -> list[str]:
    """The leak kinds a result records, in ``LEAKS`` order.

    Its ``leakage.leaks`` list, plus what its other flags say (results stored
    before that list existed have only those): ``subject_independent`` false,
    ``selection_uses_test_data``, ``normalisation_uses_test_data``; plus what
    its recorded configuration asks for (``configured_leaks``, as the audit
    reads it), which an edited leakage section cannot hide.
    """
    found = set(configured_leaks(result))
    if result.leakage is not None:
        leakage = result.leakage
        found |= {str(kind) for kind in leakage.leaks or []}
        if leakage.selection_uses_test_data:
            found.add("selection")
        if leakage.normalisation_uses_test_data:
            found.add("normalisation")
    if not result.subject_independent:
        found.add("subjects")
    return in_leaks_order(found)


def in_leaks_order(kinds: Iterable[str]) -> list[str]:
    """Leak kinds once each, in ``LEAKS`` order (kinds it does not know last, sorted)."""
    found = set(kinds)
    return [kind for kind in LEAKS if kind in found] + sorted(found - set(LEAKS))


def leaks_of_runs(results: Iterable[RunResult]) -> list[str]:
    """What any of ``results`` (the seeds of one setting) leaked, in ``LEAKS`` order."""
    return in_leaks_order(kind for result in results for kind in result_leaks(result))
