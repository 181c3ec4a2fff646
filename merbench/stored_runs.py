"""Reusing a stored run (``--stored``) only while the dataset still gives what the run was tested on.

``ResultStore.identical_result`` finds a complete run made with exactly the same
configuration and seed. The configuration names the dataset and its folder, not
what is in it: a coding sheet whose emotions were corrected keeps every clip id,
and a stored run's predictions would then be scored against labels it never saw.
Frames replaced under the same names keep the labels too. ``reusable_result``
loads and preprocesses the dataset now (from the cache where it can) and reuses a
stored run only when its classes, its test samples and their labels are the ones
the dataset gives, and the model inputs are the ones it recorded
(``preprocess.inputs_key``); otherwise it says why and the run is trained anew.
"""

from __future__ import annotations

from typing import Any, Callable

from merbench.config import RunConfig
from merbench.environment import EARLIER_SOFTWARE_KEY, changed_plugins, third_party_plugins
from merbench.preprocess import checked_chain
from merbench.progress import ProgressSink, SilentProgress
from merbench.registry import Registry
from merbench.result import RunResult
from merbench.runner import RunInputs, plugin_versions, prepare_inputs
from merbench.wording import counted


def inputs_now(config: RunConfig, registry: Registry, progress: ProgressSink | None = None) -> RunInputs:
    """The samples a run of ``config`` would test (after the protocol expanded them and unusable clips were left
    out) and their model inputs, preprocessed now (from the cache where it can)."""
    return prepare_inputs(config, registry, checked_chain(config, registry), progress or SilentProgress())


def labels_of(inputs: RunInputs) -> tuple[list[str], dict[str, str]]:
    """The dataset's classes and each sample's class name."""
    dataset = inputs.dataset
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


def inputs_change(result: RunResult, inputs: RunInputs) -> str | None:
    """How the model inputs now differ from those the stored ``result`` recorded; ``None`` when they are the same
    or the result recorded none (written before merbench kept ``inputs_key``)."""
    recorded = (result.preprocess or {}).get("inputs_key")
    if not recorded or recorded == inputs.prep.key:
        return None
    return (f"its model inputs were {recorded[:12]}, the frames and preprocessing now give {inputs.prep.key[:12]}: "
            "frames were replaced or the preprocessing changed")


def reusable_result(store: Any, config: RunConfig, registry: Registry, n_seeds: int = 1,
                    on_note: Callable[[str], None] | None = None,
                    progress: ProgressSink | None = None) -> RunResult | None:
    """The stored complete run of ``config`` (``n_seeds`` seeds; how its folds were spread aside, as
    ``run_settings.scoring_config`` says) that finished last, whose test samples, labels and
    model inputs are still what the dataset gives, else ``None``; ``on_note`` hears why a stored run was not
    reused, ``progress`` the preprocessing that tells."""
    result = store.identical_result(config, n_seeds)
    if result is None:
        return None
    reason = plugins_change(result, plugin_versions(config, registry))
    if reason is None:  # the same code: is it the same data?
        inputs = inputs_now(config, registry, progress)
        change = data_change(result, *labels_of(inputs)) or inputs_change(result, inputs)
        if change is None:
            return result
        reason = f"the dataset changed since it ran ({change})"
    if on_note is not None:
        on_note(f"stored run {result.run_id} of {config.model} · {config.dataset} · {config.protocol} (seed "
                f"{config.seed}) is not reused: {reason}; it is trained again")
    return None


def plugins_change(result: RunResult, now: dict[str, str]) -> str | None:
    """How the third-party plugins ``now`` (``KIND:NAME`` → ``DISTRIBUTION VERSION``) differ from those the stored
    ``result`` ran with; ``None`` when they are the same. merbench's own plugins go with merbench's version and
    commit, which the reuse names as other software (``merbench.environment.other_software``)."""
    environment = result.environment or {}
    third_party = third_party_plugins(now)
    records = [environment.get("plugins")]
    earlier = environment.get(EARLIER_SOFTWARE_KEY)
    if isinstance(earlier, dict) and "plugins" in earlier:  # a resumed run's folds of before the resume
        records.append(earlier["plugins"])
    changed: list[str] = []
    for recorded in records:
        for line in changed_plugins(recorded if isinstance(recorded, dict) else {}, third_party):
            if line not in changed:
                changed.append(line)
    if not changed:
        return None
    return f"it ran with other plugin code ({'; '.join(changed)})"
