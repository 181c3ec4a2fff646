"""Reusing a stored run (``--stored``) only while the dataset still gives what the run was tested on.

``ResultStore.identical_result`` finds a complete run made with exactly the same
configuration and seed. The configuration names the dataset and its folder, not
what is in it: a coding sheet whose emotions were corrected keeps every clip id,
and a stored run's predictions would then be scored against labels it never saw.
``reusable_result`` loads the dataset's annotations now (no preprocessing) and
reuses a stored run only when its classes, its test samples and their labels are
the ones the dataset gives; otherwise it says why and the run is trained anew.
"""

from __future__ import annotations

from typing import Any, Callable

from merbench.cache import cache_root
from merbench.config import RunConfig
from merbench.registry import Registry
from merbench.result import RunResult
from merbench.runner import load_dataset
from merbench.splits import protocol_dataset
from merbench.wording import counted


def labels_now(config: RunConfig, registry: Registry) -> tuple[list[str], dict[str, str]]:
    """The dataset's classes and each sample's class name, as a run of ``config`` would test them (after the
    protocol expanded the samples), from its annotations alone."""
    dataset = load_dataset(config, registry, cache_root(create=False))
    dataset = protocol_dataset(dataset, registry.get("protocols", config.protocol), config.section("protocol"))
    return list(dataset.classes), {str(sample.id): dataset.classes[sample.label] for sample in dataset.samples}


def data_change(result: RunResult, classes: list[str], labels: dict[str, str]) -> str | None:
    """How the samples and labels the stored ``result`` was tested on differ from ``classes`` and ``labels`` now;
    ``None`` when they are the same."""
    if list(result.classes) != classes:
        return f"its classes were {', '.join(result.classes)}; the dataset now gives {', '.join(classes)}"
    stored = {str(row.id): result.classes[int(row.label)] for row in result.predictions or []}
    if not stored:
        return "it kept no per-sample predictions to compare with the dataset"
    gone = [sample for sample in stored if sample not in labels]
    if gone:
        return f"{counted(gone, 'sample')} it tested {'is' if len(gone) == 1 else 'are'} gone, first {gone[0]}"
    relabelled = [sample for sample, label in stored.items() if labels[sample] != label]
    if relabelled:
        first = relabelled[0]
        return (f"{counted(relabelled, 'sample')} now {'has' if len(relabelled) == 1 else 'have'} another label, "
                f"first {first}: {stored[first]} then, {labels[first]} now")
    added = len(labels) - len(stored)
    if added > 0 and result.n_samples == len(stored):
        return f"the dataset now gives {counted(added, 'more sample')} than it tested"
    return None


def reusable_result(store: Any, config: RunConfig, registry: Registry, n_seeds: int = 1,
                    on_note: Callable[[str], None] | None = None) -> RunResult | None:
    """The newest stored complete run of exactly ``config`` (``n_seeds`` seeds) whose test samples and labels are
    still what the dataset gives, else ``None``; ``on_note`` hears why a stored run was not reused."""
    result = store.identical_result(config, n_seeds)
    if result is None:
        return None
    classes, labels = labels_now(config, registry)
    change = data_change(result, classes, labels)
    if change is None:
        return result
    if on_note is not None:
        on_note(f"stored run {result.run_id} of {config.model} · {config.dataset} · {config.protocol} (seed "
                f"{config.seed}) is not reused: the dataset changed since it ran ({change}); it is trained again")
    return None
