"""Checks made before a run exists: what can be refused without preprocessing or training.

``merbench run`` calls ``preflight`` after resolving the configuration and
before it opens the results store, takes a run id or starts a worker process,
so that a usage error leaves nothing behind (no ``failed`` row in
``merbench runs``). It checks, cheapest first: the dataset root, the
preprocessing chain against the model's input, the dataset's annotations
(loaded, never preprocessed) against the chain, and the protocol's folds on
those annotations (``protocol.n_splits`` above the number of subjects...); a
third-party protocol is also split in a second Python process with another
``PYTHONHASHSEED``, so that folds that follow set order are refused.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from merbench.cache import cache_root
from merbench.config import COMPILE_WITH_VMAP, VMAP_TORCH_ONLY, RunConfig, layout_docs, may_train_folds_in_worker_processes, no_root_message
from merbench.contracts import Dataset, Fold, check_family_member, resolve_factory
from merbench.datafiles import check_cache_outside_dataset, root_form_hint
from merbench.errors import MerbenchError, PluginError, UsageError, early_stopping_without_epochs, error_line
from merbench.registry import Registry
from merbench.splits import SPLIT_FIX, check_folds, check_training_classes, protocol_dataset, same_folds
from merbench.wording import some_of
from merbench.workers import start_worker_server

if TYPE_CHECKING:  # imported where it is used: it imports OpenCV
    import numpy as np

    from merbench.preprocess import Chain


def check_root(config: RunConfig, registry: Registry) -> None:
    """Refuse a missing ``--root`` of a dataset that needs one, and a root that is not a folder."""
    spec = registry.get("datasets", config.dataset)
    root = config.root
    if root is None:
        if spec.needs_root:
            raise UsageError(no_root_message(registry, config.dataset))
        return
    root = Path(root)
    if root.is_dir():
        return
    what = "is a file, not a folder" if root.exists() else "no such folder"
    if not root.exists() and root_form_hint(root):
        raise UsageError(f"--root {root}: {what}; {root_form_hint(root)}")
    raise UsageError(
        f"--root {root}: {what}; give the folder that holds your copy of '{config.dataset}' "
        f"(layout in {layout_docs(registry, config.dataset)}; `merbench datasets check {config.dataset} --root DIR` "
        "checks a copy)"
    )


def check_member(config: RunConfig, registry: Registry) -> None:
    """Refuse a name-family member that is none (``timm:resnet1``) through the family's ``check_member``."""
    if config.model:
        check_family_member(registry.get("models", config.model))


def check_engine(config: RunConfig) -> None:
    """Refuse ``engine.*`` settings that cannot go together: ``engine.compile=true`` with batched folds
    (``engine.parallel_mode=vmap``), which run eagerly (``merbench.folds.plan`` refuses it too, later)."""
    engine = config.section("engine")
    if str(engine.get("parallel_mode")) == "vmap" and bool(engine.get("compile")):
        raise UsageError(COMPILE_WITH_VMAP)


def check_cluster(config: RunConfig, join_with: Callable[[str], None] | None = None) -> None:
    """Refuse ``executor.name=ray`` where Ray is not installed, and a Ray cluster address (``executor.address``, or
    ``RAY_ADDRESS`` under ``auto``) where nothing listens (a TCP probe), before a run is recorded.

    With ``join_with`` (``merbench run``, which says Ray's messages with it) the
    cluster is also joined, or a local Ray instance started, and a task request
    no node can meet (``executor.num_cpus=3`` on a 2-CPU machine) is refused, as
    a grid does before its cells are recorded; without it Ray is not imported.
    """
    executor = config.section("executor")
    if executor.get("name") != "ray":
        return
    from merbench.ray_cluster import RAY_MISSING, RayOptions, join_cluster, named_ray_address, probe

    if importlib.util.find_spec("ray") is None:
        raise UsageError(RAY_MISSING)
    address = str(executor.get("address") or "auto").strip()
    if address not in ("", "auto"):
        probe(address)
    elif (named := named_ray_address()) is not None:
        probe(named, "RAY_ADDRESS")
    if join_with is not None:
        join_cluster(RayOptions.from_section(executor), join_with, config.device)


def check_early_stopping(config: RunConfig, registry: Registry) -> None:
    """Refuse ``engine.early_stopping`` for a model fitted in one go (a scikit-learn style estimator has no epochs),
    and ``engine.parallel_mode=vmap`` with early stopping or such a model (the batched trainer trains torch models
    for all epochs), before anything runs or is recorded; the model's kind comes from ``merbench.modelinfo``
    (cached)."""
    engine = config.section("engine")
    patience = int(engine.get("early_stopping") or 0)
    batched = str(engine.get("parallel_mode")) == "vmap"
    if patience > 0 and batched:
        raise UsageError(VMAP_TORCH_ONLY)
    if patience <= 0 and not batched:
        return
    from merbench.modelinfo import model_facts  # builds the model once (imports torch), then cached

    facts = model_facts(registry, config.model, config.profile)
    if facts.error is None and facts.kind != "torch":
        raise early_stopping_without_epochs(patience, facts.kind) if patience > 0 else UsageError(VMAP_TORCH_ONLY)


def check_chain(config: RunConfig, registry: Registry) -> Chain:
    """Build the preprocessing chain (its options are checked) and refuse one the model cannot take; returns it."""
    from merbench.preprocess import checked_chain  # imports OpenCV: after the checks that need none

    return checked_chain(config, registry)


def check_model_build(config: RunConfig, registry: Registry, chain: Chain, n_classes: int) -> None:
    """Build the model once for the input the chain will give, so that an option its ``build()`` refuses
    (``model.patch`` larger than the input, more layers than the input size allows, missing local weights) is
    refused before anything is preprocessed or recorded, and so is a ``build()`` that returns neither a torch module
    nor an estimator (``None``). Built on the meta device where the factory allows (no memory, no time). A factory
    string that cannot be imported is refused naming the plugin, even where the chain's output shape only the data
    tells and the build itself is left to the run."""
    if not config.model:
        return
    resolve_factory(registry.get("models", config.model).build, registry.label("models", config.model))
    from merbench.modelinfo import chain_output_shape

    shape = chain_output_shape(chain)
    if shape is None:
        return
    import torch

    from merbench.estimator import check_model_kind
    from merbench.runner import model_recipe  # imports torch, which the run needs anyway

    recipe = model_recipe(config, registry, shape, n_classes)
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's "copying ... to a meta parameter is a no-op"; the run says notes
            model, on_meta = recipe(), True
    except PluginError:  # perhaps only the meta device: the real build says what is wrong, if anything is
        on_meta = False
    if not on_meta:  # built outside the handler: --debug shows the real build's traceback once, not chained to this
        model = recipe()
    check_model_kind(model, recipe.plugin)


def check_protocol(config: RunConfig, registry: Registry, dataset: Dataset) -> None:
    """Split the dataset's annotations as the run will (``UsageError`` when the protocol cannot).

    A ``ValueError`` from merbench's own protocols is scikit-learn's splitter refusing these settings on this
    dataset (a ``UsageError``); any other exception, and any from a third-party protocol, is a ``PluginError``
    naming the plugin, its distribution and the exception (kept as the cause, which ``--debug`` shows).
    """
    spec = registry.get("protocols", config.protocol)
    plugin = registry.label("protocols", config.protocol)
    dataset = protocol_dataset(dataset, spec, config.section("protocol"), plugin)
    split = resolve_factory(spec.split, plugin, "split")
    arguments = (dataset.labels, dataset.subjects, config.seed, dict(config.section("protocol")), dataset.domains)
    provider = registry.provider("protocols", config.protocol)
    elsewhere = None if provider.builtin else split_elsewhere(split, arguments, (provider.target, config.protocol))
    try:
        _check_split(config, registry, dataset, split, plugin, elsewhere)
    finally:
        if elsewhere is not None and elsewhere.poll() is None:  # refused before its folds were read
            elsewhere.kill()
            elsewhere.communicate()


def _check_split(config: RunConfig, registry: Registry, dataset: Dataset, split: Callable, plugin: str,
                 elsewhere: subprocess.Popen | None) -> None:
    """``check_protocol`` once the protocol's dataset and ``split`` are known (``elsewhere``: its split in another
    process, started)."""
    try:
        with warnings.catch_warnings():  # the run splits again and shows them then, once
            warnings.simplefilter("ignore")
            folds = split(dataset.labels, dataset.subjects, config.seed, dict(config.section("protocol")), dataset.domains)
            again = split(dataset.labels, dataset.subjects, config.seed, dict(config.section("protocol")), dataset.domains)
    except UsageError as exc:  # a protocol sees class indices only: say the class's name
        raise UsageError(_class_names(str(exc), dataset.classes)) from None
    except (MerbenchError, MemoryError):
        raise
    except Exception as exc:
        if isinstance(exc, ValueError) and registry.provider("protocols", config.protocol).builtin:
            # scikit-learn's splitters (in merbench's own protocols) refuse impossible splits with it
            raise UsageError(
                f"protocol '{config.protocol}' cannot split dataset '{config.dataset}' ({len(dataset.samples)} "
                f"samples, {len(set(dataset.subjects))} subjects): {exc}; change the protocol.* settings or the "
                "protocol"
            ) from None
        raise PluginError(f"{plugin}: its split() raised {error_line(exc)}; check the protocol.* settings given, or "
                          "report it to the plugin's author") from exc
    check_folds(folds, dataset.subjects, config.protocol, plugin)
    check_training_classes(folds, dataset.labels, list(dataset.classes), config.protocol)
    if not same_folds(folds, again):
        raise PluginError(f"{plugin}: its split() gave other folds when called again with the same data and seed "
                          f"({config.seed}); merbench splits before the run and again in it, and a seed must give "
                          f"one set of folds: draw from np.random.default_rng(seed), never the global random state; "
                          f"{SPLIT_FIX}")
    check_validation_parts(config, folds, dataset.subjects)  # imports torch while the other process splits
    if elsewhere is not None:
        check_same_elsewhere(folds, elsewhere, dataset.subjects, config.seed, plugin)


SPLIT_ELSEWHERE = """
import importlib, json, os, pickle, sys, warnings
sys.path[:] = json.loads(sys.argv[1])
out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)  # what the plugin prints (on import, in split) goes to stderr, never among the folds
sys.stdout = sys.stderr
split, arguments = pickle.load(sys.stdin.buffer)
if isinstance(split, tuple):  # (entry point target, protocol name): a split that cannot be pickled, found again
    from merbench.contracts import resolve_factory
    target, name = split
    hooks = resolve_factory(target) if ":" in target else importlib.import_module(target)
    found = {}
    hooks.merbench_register_protocols(register=lambda spec: found.setdefault(spec.name, spec))
    split = resolve_factory(found[name].split)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    folds = split(*arguments)
pickle.dump([(fold.index, fold.train, fold.test) for fold in folds], out)
out.flush()
"""
"""The program of the second process ``split_elsewhere`` starts: with the caller's ``sys.path``, it splits as it is
told on its standard input (the split function, pickled by name, or the plugin's entry point and protocol name where
the function cannot be pickled, and its arguments) and writes the folds pickled on its standard output, where
nothing else may write. It imports numpy, the plugin's module and ``merbench.contracts`` only, not merbench's run
(torch, scikit-learn)."""

SET_ORDER_HINT = ("iterating over a set (list(set(subjects))) or over a dict keyed by such things follows Python's "
                  "string hashing, which differs from process to process: sort the subjects first "
                  "(sorted(set(subjects))) and draw only from np.random.default_rng(seed)")


def other_hash_seed() -> str:
    """A ``PYTHONHASHSEED`` other than this process's (``1``, or ``2`` where this one runs with ``1``)."""
    return "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"


def split_elsewhere(split: Callable, arguments: tuple, found_as: tuple[str, str] | None = None
                    ) -> subprocess.Popen | None:
    """Start ``split(*arguments)`` in a new Python process with another ``PYTHONHASHSEED`` (``other_hash_seed``);
    returns the process, whose folds ``folds_elsewhere`` reads. A split that cannot be pickled by name (a lambda, a
    nested function) is found there again through ``found_as``: its plugin's entry point target and the protocol's
    name. ``None`` where neither works (one defined in ``__main__``, no ``found_as``): split in this process only."""
    if getattr(split, "__module__", None) == "__main__":
        return None
    try:
        sent = pickle.dumps((split, arguments))
    except (pickle.PicklingError, AttributeError, TypeError):
        if found_as is None or found_as[0].partition(":")[0] == "__main__":
            return None
        try:
            sent = pickle.dumps((found_as, arguments))
        except (pickle.PicklingError, AttributeError, TypeError):
            return None
    with tempfile.TemporaryFile() as given:  # a file, not a pipe: a large dataset never waits on the child's start
        given.write(sent)
        given.seek(0)
        return subprocess.Popen([sys.executable, "-c", SPLIT_ELSEWHERE, json.dumps(sys.path)], stdin=given,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONHASHSEED": other_hash_seed()})


def folds_elsewhere(process: subprocess.Popen, plugin: str) -> list[Fold]:
    """The folds of the split ``split_elsewhere`` started, once it ends; a ``PluginError`` naming ``plugin`` where it
    failed there."""
    out, err = process.communicate()
    try:
        if process.returncode == 0:
            return [Fold(*fold) for fold in pickle.loads(out)]
    except Exception:  # noqa: BLE001 - what it wrote is not folds: said below as a failure
        pass
    said = (err.decode(errors="replace").strip().splitlines() or [f"exit code {process.returncode}"])[-1]
    if process.returncode == 0:
        said = "it returned something other than a list of Fold"
    raise PluginError(f"{plugin}: its split() failed in a second Python process (PYTHONHASHSEED={other_hash_seed()}) "
                      f"given the same data and seed, where it worked in this one: {said}; {SET_ORDER_HINT}; "
                      f"{SPLIT_FIX}")


def check_same_elsewhere(folds: list[Fold], process: subprocess.Popen, subjects: np.ndarray, seed: int,
                         plugin: str) -> None:
    """Refuse a protocol whose split in another process (``split_elsewhere``) gave other folds than ``folds``, naming
    ``plugin``, the first fold that differs and the likely cause (set order)."""
    other = folds_elsewhere(process, plugin)
    if same_folds(folds, other):
        return
    raise PluginError(f"{plugin}: its split() gave other folds in two Python processes with the same data and seed "
                      f"({seed}), so two runs of one --seed train and score other folds: "
                      f"{_first_difference(folds, other, subjects)}; {SET_ORDER_HINT}; {SPLIT_FIX}")


def _first_difference(folds: list[Fold], other: list[Fold], subjects: np.ndarray) -> str:
    """The first fold whose test part differs between ``folds`` (this process) and ``other``, by its test subjects."""
    if len(folds) != len(other):
        return f"{len(folds)} folds here, {len(other)} in the other process"
    for number, (fold, again) in enumerate(zip(folds, other), 1):
        if not same_folds([fold], [again]):
            here, there = (some_of(sorted(set(subjects[part.test].tolist())), 6) for part in (fold, again))
            if here != there:
                return f"fold {number} tests subjects {here} here, {there} in the other process"
            return f"fold {number} has other sample positions in the other process"
    return "the folds differ"


def check_validation_parts(config: RunConfig, folds: list, subjects) -> None:
    """With early stopping on held-out training subjects, refuse a fold that cannot give any up for validation
    (``engine.validation_fraction`` too large, or one training subject), as its training would, before the run."""
    import numpy as np

    from merbench.engine import TrainSettings, check_validation_holdout  # imports torch, which the run needs anyway

    settings = TrainSettings.from_options(dict(config.section("engine")))
    if settings.early_stopping <= 0 or settings.selects_on_test:  # as merbench.engine.train_fold decides
        return
    for fold in folds:
        check_validation_holdout(fold.index, np.asarray(subjects)[fold.train], settings.validation_fraction)


def _class_names(text: str, classes: list[str]) -> str:
    """``text`` with each ``class N`` (a class index, as a protocol plugin sees labels) as ``class 'NAME'``."""
    def named(match: re.Match) -> str:
        index = int(match.group(1))
        return f"class '{classes[index]}'" if 0 <= index < len(classes) else match.group(0)

    return re.sub(r"\bclass (\d+)\b", named, text)


def preflight(config: RunConfig, registry: Registry, cache_dir: Path | None = None,
              start_workers: bool = False, join_ray_with: Callable[[str], None] | None = None) -> Dataset:
    """Check ``config`` as far as possible without preprocessing; returns the dataset as loaded.

    Raises ``UsageError`` (or ``DataError`` for a tree the loader cannot use)
    with the fix in its message. Loading reads annotations only, never writes
    inside the dataset root, and is cheap beside the run. ``start_workers``
    (``merbench run``): once the cheap checks pass, start the fold workers' fork
    server when the folds may train in worker processes, so that it imports torch
    while this process imports scikit-learn and loads and preprocesses the dataset.
    ``join_ray_with``: join the Ray cluster now and check the request against it
    (``check_cluster``), saying Ray's messages with it.
    """
    check_root(config, registry)
    # before the model's facts are measured (check_early_stopping): they are kept in the cache too
    check_cache_outside_dataset(config.root, config.section("dataset"), registry.get("datasets", config.dataset).options,
                                cache_dir if cache_dir is not None else cache_root(create=False))
    check_member(config, registry)
    chain = check_chain(config, registry)
    check_engine(config)
    check_early_stopping(config, registry)
    check_cluster(config, join_ray_with)
    if start_workers and may_train_folds_in_worker_processes(config):
        start_worker_server()
    from merbench.runner import load_dataset  # imports scikit-learn: after the checks that need none

    dataset = load_dataset(config, registry, cache_dir if cache_dir is not None else cache_root(create=False),
                           keep_for_run=True)
    check_protocol(config, registry, dataset)
    check_model_build(config, registry, chain, len(dataset.classes))
    return dataset
