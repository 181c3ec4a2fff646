"""A comparison grid: every (model, dataset, protocol) cell run and recorded as one normal run.

``plan_grid`` resolves and validates the configuration of every cell and
``preflight_cells`` checks each as ``merbench run`` would, before anything runs
or is recorded. ``run_grid`` then runs the cells, each with ``n_seeds`` seeds
like ``merbench run --seeds N``, and records each as a run in the results
store, so ``merbench runs``, ``show`` and ``compare`` see them:

* ``executor.name=local``: one cell after another in this process, through
  ``merbench.recording.run_recorded`` (folds follow ``engine.parallel_folds``);
* ``executor.name=ray``: every cell is one Ray task (``RayCells``)
  that runs ``run_cell_detached`` on a worker and sends back the result and
  what it would have stored (``CellReport``); this process writes it into the
  store, so workers need no access to the store.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from merbench import recording, runner  # as modules: tests replace their run functions
from merbench.config import (ROUTED_KINDS, RunConfig, check_seeds, load_config_file, parse_parallel_folds, plugin_options,
                             plugin_options_or_none, resolve_config, resolve_section, sets_for_protocol)
from merbench.contracts import shown_name
from merbench.environment import describe_environment
from merbench.errors import DataError, FoldsLost, MerbenchError, RunFailed, UsageError
from merbench.preflight import check_chain, preflight
from merbench.progress import ProgressSink, SilentProgress
from merbench.ray_cluster import RayOptions, as_completed, failure_text, join_cluster, remote_function
from merbench.registry import get_registry
from merbench.result import FoldRecord, PredictionRow, RunResult
from merbench.run_settings import with_recorded_settings
from merbench.stored_runs import reusable_result
from merbench.wording import counted


@dataclass(frozen=True)
class GridCell:
    """One model on one dataset under one protocol, with its resolved configuration."""

    model: str
    dataset: str
    protocol: str
    config: RunConfig

    @property
    def label(self) -> str:
        """``model × dataset × protocol``."""
        return f"{self.model} × {self.dataset} × {self.protocol}"


def split_names(values: Sequence[str] | None) -> list[str]:
    """Names given as ``a,b`` (possibly repeated), in order, without duplicates or blanks."""
    names: list[str] = []
    for value in values or ():
        for name in str(value).split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def given_names(values: Sequence[str] | None, flag: str, kind: str, registry: Any) -> list[str]:
    """The names ``flag`` gives (``split_names``); ``UsageError`` naming the registered ``kind`` to choose from when it
    was given and names none (``--protocols ''``, ``--models ,``), which would otherwise leave the grid without them
    or, for ``--protocols``, fall back to the default protocol unsaid."""
    names = split_names(values)
    if values is not None and not names:
        raise UsageError(f"{flag} is empty: give one or more of {', '.join(map(shown_name, registry.names(kind)))}, "
                         f"comma-separated (see `merbench list {kind}`)")
    return names


def configured_protocol(sets: Mapping[str, Any], config_file: Path | None) -> str | None:
    """The protocol that ``--set``/``--config`` name (``protocol: NAME`` or ``protocol.name``, read as
    ``resolve_config`` reads them), for a grid without ``--protocols``; ``None`` when they name none (or give
    something that is not a name, which the cells refuse with their own message)."""
    given = {**(load_config_file(config_file, list(sets)) if config_file else {}), **sets}
    name = given.get("protocol.name", given.get("protocol"))
    return name.strip() if isinstance(name, str) and name.strip() else None


def parse_roots(values: Sequence[str] | None, datasets: Sequence[str]) -> dict[str, Path]:
    """``--root NAME=DIR`` per dataset, or one plain ``--root DIR`` when the grid has one dataset."""
    roots: dict[str, Path] = {}
    named = {str(value).partition("=")[0] for value in values or () if "=" in str(value)}
    for value in values or ():
        name, sep, folder = str(value).partition("=")
        if sep and name in datasets:
            key, path = name, folder
        elif sep and (len(datasets) > 1 or not Path(str(value)).expanduser().exists()):  # not a folder named a=b
            raise UsageError(f"--root {value}: '{name}' is not one of the grid's datasets ({', '.join(datasets)}); "
                             f"give --root NAME=DIR for a dataset in --datasets, or drop it")
        elif len(datasets) == 1:
            key, path = datasets[0], str(value)
        else:
            guess = next((dataset for dataset in datasets if dataset not in named), datasets[0])
            raise UsageError(f"--root {value}: the grid has several datasets; say which one the folder holds, "
                             f"e.g. --root {shlex.quote(f'{guess}={value}')}")
        if not path.strip():
            problem = "no folder after '='" if sep else "empty"
            raise UsageError(f"--root {value}: {problem}; give the folder that holds your copy of '{key}', "
                             f"e.g. --root {shlex.quote(f'{key}=/data/{key}')}")
        if key in roots:
            raise UsageError(f"--root given twice for dataset '{key}' ({roots[key]} and {path})")
        roots[key] = Path(path).expanduser()
    return roots


def grid_flags(message: str, dataset: str, root: Path | None = None) -> str:
    """A message written for ``merbench run`` with the flags ``merbench grid`` has instead.

    Checks and plugins name ``--model``, ``--dataset``, ``--protocol`` and
    ``--root DIR``; a grid takes ``--models``, ``--datasets``, ``--protocols``
    and ``--root NAME=DIR``, so ``--root DIR`` and the cell's ``root`` quoted as
    ``--root ROOT`` read ``--root DATASET=...``. Commands quoted in backticks (other commands) are left as they are.
    """
    parts = message.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"--(model|dataset|protocol)(?=[ =])", r"--\1s", parts[i]).replace(
            "--root DIR", f"--root {dataset}=DIR")
        if root is not None:
            parts[i] = re.sub(re.escape(f"--root {root}") + r"(?=[:;,)]|\s|$)",
                              lambda _: f"--root {dataset}={root}", parts[i])
    return "`".join(parts)


def plan_grid(registry: Any, models: Sequence[str], datasets: Sequence[str], protocols: Sequence[str], *,
              roots: Mapping[str, Path] | None = None, profile: str | None = None, seed: int | None = None,
              device: str = "auto", epochs: int | None = None, sets: Mapping[str, Any] | None = None,
              config_file: Path | None = None) -> list[GridCell]:
    """Resolve every cell's configuration (models × datasets × protocols); raises before anything runs.

    The first cell with a bad name, key or value raises its ``UsageError``,
    prefixed with the cell (and, for a value that another plugin of the grid takes, ``shared_option_note``).
    """
    if not models or not datasets or not protocols:
        raise UsageError("a grid needs at least one model, one dataset and one protocol: "
                         "--models a,b --datasets x,y --protocols p,q")
    roots = dict(roots or {})
    for protocol in protocols:  # named here: every cell's settings look at all the grid's protocols
        try:
            registry.get("protocols", protocol)
        except MerbenchError as exc:
            raise type(exc)(f"--protocols {protocol}: {exc}") from None
    for model in models:  # every cell's model.* and dataset.* settings look at all the grid's models and datasets
        for dataset in datasets:
            for kind, name in (("models", model), ("datasets", dataset)):
                try:
                    registry.get(kind, name)
                except MerbenchError as exc:  # as the first cell of that name would say
                    raise type(exc)(f"grid cell {model} × {dataset} × {protocols[0]}: {exc}") from None
    check_routed_settings(registry, {"model": models, "dataset": datasets}, sets or {}, config_file)
    cells = []
    for model in models:
        for dataset in datasets:
            for protocol in protocols:
                try:
                    config = resolve_config(registry, model=model, dataset=dataset, protocol=protocol, profile=profile,
                                            seed=seed, device=device, root=roots.get(dataset), epochs=epochs,
                                            sets=sets_for_protocol(sets or {}, protocol, protocols, registry),
                                            config_file=config_file, sibling_protocols=protocols,
                                            sibling_models=models, sibling_datasets=datasets)
                except MerbenchError as exc:
                    note = shared_option_note(registry, str(exc), {"model": models, "dataset": datasets,
                                                                   "protocol": protocols},
                                              {"model": model, "dataset": dataset, "protocol": protocol},
                                              sets or {}, config_file, profile)
                    raise type(exc)(f"grid cell {model} × {dataset} × {protocol}: "
                                    f"{grid_flags(str(exc), dataset, roots.get(dataset))}"
                                    f"{note}") from None
                cells.append(GridCell(model, dataset, protocol, config))
    return cells


def shared_option_note(registry: Any, message: str, grid: Mapping[str, Sequence[str]], cell: Mapping[str, str],
                       sets: Mapping[str, Any], config_file: Path | None = None, profile: str | None = None) -> str:
    """What to add to a cell's error ``message`` that refuses a routed ``model.*``, ``dataset.*`` or ``protocol.*``
    value which another plugin of the grid takes: the setting goes to every plugin of the grid with an option of
    that name (``config.sets_for_run``), though the name means something else in this cell's (``dataset.frames``:
    CASME II's tree, synthetic's frame count). Says which plugins got it and to run this cell's plugin in a grid
    of its own; ``""`` for any other error, and for a value that none of those plugins takes (a plain mistake).
    """
    try:
        given = {**(load_config_file(config_file, list(sets)) if config_file else {}), **sets}
    except MerbenchError:  # the file itself is what the message is about
        given = dict(sets)
    for key, value in given.items():
        section, dot, option = str(key).partition(".")
        here, names = cell.get(section), list(dict.fromkeys(grid.get(section, ())))
        if not dot or option == "name" or here is None or len(names) < 2:
            continue
        if not (message.startswith(f"{key}=") or f": {key}=" in message):
            continue
        owners = [name for name in names if option in plugin_options_or_none(registry, section, name, profile)]
        takers = [name for name in owners if name != here and _takes(registry, section, name, key, value, profile)]
        if here not in owners or not takers:
            continue
        kind = ROUTED_KINDS[section]
        return (f". In a grid, {key} goes to every {section} of the grid with an option named '{option}' "
                f"({', '.join(owners)}), whatever it means there: {', '.join(takers)} "
                f"{'takes' if len(takers) == 1 else 'take'} this value but {here}'s '{option}' does not. Run {here} "
                f"in a grid of its own (--{kind} {here}), without {key} or with a value it takes, and "
                f"{', '.join(name for name in names if name != here)} in another grid with this {key}")
    return ""


def _takes(registry: Any, section: str, name: str, key: str, value: Any, profile: str | None) -> bool:
    """Whether the ``section`` plugin ``name`` accepts ``value`` for its option ``key`` (``SECTION.OPTION``)."""
    try:
        resolve_section(registry.get(ROUTED_KINDS[section], name), section, profile or "default", {key: value})
    except MerbenchError:
        return False
    return True


def check_routed_settings(registry: Any, plugins: Mapping[str, Sequence[str]], sets: Mapping[str, Any],
                          config_file: Path | None = None) -> None:
    """Refuse a ``model.*``/``dataset.*`` setting that none of a grid's several models or datasets has.

    ``plugins`` holds the grid's names per section (``{"model": [...], "dataset": [...]}``). Each such setting
    goes to the cells whose plugin has the option (``config.sets_for_run``), so one that none has would go
    nowhere. With one model (dataset) the cell's own message names the option's closest valid key. ``config_file``
    is read as ``merbench run --config`` reads it, with the ``--set`` keys given, so a file that every cell would
    refuse (a run result whose recorded manifest file is gone) is refused here, once, in ``run``'s words.
    """
    given = {**(load_config_file(config_file, list(sets)) if config_file else {}), **sets}
    if all(len(names) < 2 for names in plugins.values()):
        return
    for key in given:
        section, dot, option = str(key).partition(".")
        names = plugins.get(section, ())
        if not dot or option == "name" or len(names) < 2:  # SECTION.name names the plugin
            continue
        try:
            options = {name: plugin_options(registry, section, name) for name in names}
        except MerbenchError:  # an unknown name: its cells name it
            continue
        if any(option in owned for owned in options.values()):
            continue
        close = difflib.get_close_matches(option, list(dict.fromkeys(o for owned in options.values() for o in owned)),
                                          n=1, cutoff=0.6)
        hint = f" (did you mean {section}.{close[0]}?)" if close else ""
        where = "" if key in sets else f"--config {config_file}: "
        listing = "; ".join(f"{name}: {', '.join(owned) or 'none'}" for name, owned in options.items())
        kind = ROUTED_KINDS[section]
        raise UsageError(f"{where}unknown setting '{key}'{hint}: none of the grid's {kind} ({', '.join(names)}) has "
                         f"the option '{option}'. In a grid a {section}.* setting goes to the cells whose {section} has "
                         f"it. Options of each: {listing}")


def check_placement(cells: Sequence[GridCell]) -> None:
    """What can be checked here before running: a local grid's ``--root`` folders, GPUs for CUDA cells on Ray.

    On Ray the dataset folders are on the workers' nodes, so they are not
    looked for here. Raises ``DataError`` or ``UsageError``. A local grid's
    device is checked by ``run_grid`` once it knows which cells train.
    """
    for cell in cells:
        executor, root = cell.config.section("executor"), cell.config.root
        if executor["name"] == "local" and root is not None and not root.is_dir():
            what = "is a file, not a folder" if root.exists() else "no such folder"
            raise DataError(f"--root {cell.dataset}={root}: {what}; give the folder that holds your copy of "
                            f"'{cell.dataset}'")
        if executor["name"] == "ray" and cell.config.device.startswith("cuda") and float(executor["num_gpus"]) <= 0:
            raise UsageError(f"--device {cell.config.device} with --executor ray needs a GPU per cell: "
                             "--set executor.num_gpus=1 (or a fraction such as 0.5 to share one GPU between cells); "
                             "to train on the CPU of a cluster without GPUs, give --device auto or cpu instead")


def check_devices(cells: Sequence[GridCell]) -> None:
    """The device of each local cell to train, once per (device, engine.amp): ``--device cuda`` without a GPU or
    ``engine.amp=on`` without bfloat16 is one ``UsageError`` before any cell trains, not a failure per cell."""
    checked: set[tuple[str, str]] = set()
    for cell in cells:
        device = (cell.config.device, str(cell.config.section("engine")["amp"]))
        if device not in checked:
            checked.add(device)
            runner.choose_run_device(cell.config)


def preflight_cells(cells: Sequence[GridCell], registry: Any) -> None:
    """Check every cell as ``merbench run`` checks a run before recording it (``merbench.preflight``).

    A local cell is checked in full: its root, chain, annotations and folds
    (``protocol.n_splits`` above the number of subjects...). A Ray cell's data
    is on the workers' nodes, so only its chain is checked here. Raises the
    first cell's error, prefixed with the cell, before any run is recorded.
    As for ``merbench run``, the fold workers' fork server starts once a cell whose
    folds may train in worker processes passes the cheap checks, so that it imports
    torch while the cells' datasets load (started later, it would still be importing
    when the first cell launches its workers, and Ctrl-C would wait for it).
    """
    for cell in cells:
        try:
            if cell.config.section("executor")["name"] == "local":
                preflight(cell.config, registry, start_workers=True)
            else:
                check_chain(cell.config, registry)
        except MerbenchError as exc:
            raise type(exc)(f"grid cell {cell.label}: {grid_flags(str(exc), cell.dataset, cell.config.root)}") from None


# ------------------------------------------------------------------ one cell on a remote worker


@dataclass
class CellReport:
    """What a cell run elsewhere sends back: its result and the store writes it would have made."""

    result: RunResult | None = None
    inputs: list[tuple[int, dict[str, Any], str]] = field(default_factory=list)
    folds: list[tuple[int, FoldRecord, list[str], list[int], list[PredictionRow]]] = field(default_factory=list)
    worker: str | None = None
    error: MerbenchError | None = None


class MemoryRecorder:
    """A ``merbench.recording.Recorder`` that keeps the store writes of a run in a ``CellReport``."""

    def __init__(self, report: CellReport):
        self.report = report

    def inputs(self, seed: int, preprocess: dict[str, Any]) -> None:
        """Keep the preprocessing record and the inputs' content key."""
        self.report.inputs.append((seed, preprocess, preprocess["inputs_key"]))

    def completed_fold(self, seed: int, fold_index: int, test_ids: Sequence[str],
                       test_labels: Sequence[tuple[int, str]] | None = None) -> None:
        """A detached cell starts afresh: no fold is reused."""
        return None

    def fold_done(self, seed: int, record: FoldRecord, test_ids: Sequence[str], predictions: Sequence[int],
                  sample_rows: Sequence[PredictionRow]) -> None:
        """Keep a completed fold."""
        self.report.folds.append((seed, record, [str(i) for i in test_ids], [int(p) for p in predictions], list(sample_rows)))


def confine(config: RunConfig, cores: int, cuda: bool) -> RunConfig:
    """The cell's configuration for a worker granted ``cores`` CPUs: folds run locally, within those cores.

    On the CPU, ``engine.parallel_folds=auto`` becomes ``cores`` and
    ``engine.threads=0`` becomes ``cores // parallel folds``, so a cell never
    uses more cores than Ray gave it (a worker sees every core of its node).
    """
    sections = copy.deepcopy(config.sections)
    sections["executor"]["name"] = "local"
    engine = sections["engine"]
    if not cuda:
        if parse_parallel_folds(engine["parallel_folds"]) is None:
            engine["parallel_folds"] = str(max(1, cores))
        if int(engine["threads"]) == 0:
            engine["threads"] = max(1, cores // parse_parallel_folds(engine["parallel_folds"]))
    return dataclasses.replace(config, sections=sections)


def run_cell_detached(config: RunConfig, n_seeds: int, cores: int, gpus: float) -> CellReport:
    """Run one cell on this (worker) process without a store; merbench's own errors come back in the report.

    ``cores`` and ``gpus`` are what Ray granted the task. Without a GPU,
    ``--device auto`` means the CPU: Ray leaves every GPU of the node visible
    to a task that asked for none, and it must not use them. The device is
    chosen once for the cell, all its seeds train on it.
    """
    import torch

    report = CellReport(worker=socket.gethostname())
    here = dataclasses.replace(config, device="cpu") if gpus <= 0 and config.device == "auto" else config
    cuda = here.device.startswith("cuda") or (here.device == "auto" and torch.cuda.is_available())
    confined = confine(here, cores, cuda)
    try:
        choice = runner.choose_run_device(confined)
        result = runner.run_with_seeds(confined, get_registry(), n_seeds, SilentProgress(), MemoryRecorder(report),
                                       choice)
    except MerbenchError as exc:
        report.error = exc
        return report
    # The configuration as requested (the engine plan records how the worker ran it) and where it ran.
    report.result = dataclasses.replace(result, config=config.to_dict(),
                                        environment={**result.environment, "worker_host": report.worker})
    return report


class RayCells:
    """Runs grid cells (whole runs of one model, dataset and protocol) as Ray tasks."""

    def __init__(self, options: RayOptions):
        self.options = options
        self.description = f"Ray tasks ({options.resources}), cluster {options.address}"

    def run(self, cells: Sequence[Any], n_seeds: int, on_done: Callable[[int, Any], None],
            say: Callable[[str], None] | None = None) -> None:
        """Run ``run_cell_detached`` for each cell; ``on_done(i, report)`` as each finishes.

        ``report`` is a ``CellReport``; a cell whose task failed
        after its retries gives a report with ``error`` set (the other cells go on).
        """
        ray = join_cluster(self.options, say)
        remote, options = remote_function(run_cell_detached), self.options.task_options()
        granted = (self.options.num_cpus, self.options.num_gpus)
        pending = {
            remote.options(**options, name=f"merbench cell {cell.label}").remote(cell.config, n_seeds, *granted): i
            for i, cell in enumerate(cells)
        }
        if say is not None:
            say(f"Ray: {len(cells)} grid cells submitted ({self.options.resources}); "
                f"cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs")
        for ref, i in as_completed(ray, pending):
            try:
                report = ray.get(ref)
            except ray.exceptions.RayError as exc:
                report = CellReport(error=RunFailed(
                    f"failed on Ray after {self.options.max_retries} retries: {failure_text(exc)}"))
            on_done(i, report)


def store_report(store: Any, run_id: str, report: CellReport) -> RunResult:
    """Write a detached cell's folds and result into the store under ``run_id``; returns the result (with ``run_id``)."""
    if report.result is None:
        raise RunFailed(f"run {run_id}: its cell sent back no result; this is a merbench bug, please report it")
    store.claim_run(run_id, report.result.environment)
    for seed, preprocess, key in report.inputs:
        store.record_inputs(run_id, seed, preprocess, key)
    for seed, record, test_ids, predictions, rows in report.folds:
        store.add_fold(run_id, seed, record, test_ids, predictions, rows)
    result = dataclasses.replace(report.result, run_id=run_id)
    store.finish_run(run_id, result)
    return result


# ------------------------------------------------------------------ the grid


@dataclass
class CellOutcome:
    """How one cell ended: its result and run id, or the error that stopped it."""

    cell: GridCell
    result: RunResult | None = None
    run_id: str | None = None
    error: MerbenchError | None = None
    reused: bool = False
    """The run was taken from the store (``--stored``), not trained now."""
    continued_folds: int | None = None
    """The run continued an interrupted run of the cell (``--stored``): how many of its folds were kept."""

    interrupted: bool = False
    """The run stopped around its folds, not by them (a fold worker process died): stored as ``interrupted``, its
    finished folds kept, and continued by ``--stored``."""

    @property
    def status(self) -> str:
        """``complete``, ``interrupted`` or ``failed``, as the store has the cell's run."""
        if self.error is None:
            return "complete"
        return "interrupted" if self.interrupted else "failed"


def run_grid(cells: Sequence[GridCell], registry: Any, n_seeds: int = 1, store: Any = None,
             progress: ProgressSink | None = None, on_cell: Callable[[CellOutcome], None] | None = None,
             reuse_stored: bool = False) -> list[CellOutcome]:
    """Run every cell (``n_seeds`` seeds each) on the cells' executor, recording each in ``store`` (may be ``None``).

    A cell that fails is recorded as failed and the others go on; the outcomes
    come back in the order of ``cells``. ``on_cell`` is called as each ends.
    With ``reuse_stored`` a cell whose exact configuration and seed count has a
    complete run in ``store`` takes that run instead of training again, while the dataset still gives what
    it was tested on (``merbench.stored_runs``), and on the local executor a cell with an interrupted run
    continues it (``merbench run --resume``): after an interruption the finished cells are kept, the
    interrupted one keeps its finished folds, and the rest run. On Ray an interrupted cell starts again from
    its first fold, in its interrupted run (``_ray_run_ids``).
    """
    check_seeds(n_seeds, max((cell.config.seed for cell in cells), default=0))
    progress = progress or SilentProgress()
    outcomes: list[CellOutcome | None] = [None] * len(cells)

    def finished(i: int, outcome: CellOutcome) -> None:
        outcomes[i] = outcome
        ended = "" if outcome.error is None else f" {outcome.status}"
        progress.advance("cells", 1, note=f"{outcome.cell.label}{ended}")
        if on_cell is not None:
            on_cell(outcome)

    progress.start("cells", len(cells), "Grid cells")
    left = []  # positions of the cells to run
    for i, cell in enumerate(cells):
        stored = (reusable_result(store, cell.config, registry, n_seeds,
                                  lambda note: progress.message(f"[yellow]Note:[/] {note}"), progress)
                  if reuse_stored and store is not None else None)
        if stored is None:
            left.append(i)
        else:
            finished(i, CellOutcome(cell, stored, stored.run_id, reused=True))
    todo = [cells[i] for i in left]
    if todo and todo[0].config.section("executor")["name"] == "ray":
        _run_on_ray(todo, n_seeds, store, progress, lambda j, outcome: finished(left[j], outcome), reuse_stored)
    else:
        check_devices(todo)
        _run_here(todo, registry, n_seeds, store, progress, lambda j, outcome: finished(left[j], outcome),
                  [i + 1 for i in left], len(cells), resume=reuse_stored)
    return [outcome for outcome in outcomes if outcome is not None]


def _run_here(cells: Sequence[GridCell], registry: Any, n_seeds: int, store: Any, progress: ProgressSink,
              finished: Callable[[int, CellOutcome], None], numbers: Sequence[int], total: int,
              resume: bool = False) -> None:
    """Run ``cells`` one after another; ``numbers`` are their places in the grid of ``total`` cells. With
    ``resume`` a cell with an interrupted run in ``store`` continues that run."""
    for i, cell in enumerate(cells):
        resume_id = store.interrupted_run(cell.config, n_seeds) if resume and store is not None else None
        continued = f", continuing its interrupted run {resume_id}" if resume_id else ""
        progress.message(f"Cell {numbers[i]}/{total}: {cell.label}{continued}")
        recorded: list[str] = []  # the stored run's id, known once it is recorded: a failed cell names it too

        def anew(reason: str, label: str = cell.label) -> None:
            recorded.clear()
            progress.message(f"[yellow]Note:[/] {label}: {reason}; the cell is trained anew")

        try:
            result, run_id, kept = recording.run_or_continue(store, cell.config, registry, n_seeds, progress,
                                                             resume_id, anew, announce=recorded.append)
        except FoldsLost as exc:  # its run is stored as interrupted, its finished folds kept
            run_id = recorded[0] if recorded else None
            finished(i, CellOutcome(cell, run_id=run_id, error=continue_in_grid(exc, run_id, store),
                                    interrupted=True))
            continue
        except MerbenchError as exc:
            finished(i, CellOutcome(cell, run_id=recorded[0] if recorded else None, error=exc))
            continue
        finished(i, CellOutcome(cell, result, run_id, continued_folds=kept))


def continue_in_grid(exc: FoldsLost, run_id: str | None, store: Any = None) -> FoldsLost:
    """A local cell's run stopped around its folds, with the grid's way to continue it (``continue_with_stored``)."""
    return recording.continue_with_stored(exc, run_id, store, "grid", "cell")


def worker_error(error: MerbenchError, cell: GridCell, worker: str | None) -> MerbenchError:
    """A cell's error sent back by a Ray worker, in the grid's terms: a ``--root DIR`` the worker refused becomes
    ``--root NAME=DIR``, looked for on the worker's node, and flags are the grid's (``grid_flags``)."""
    message, root = str(error), cell.config.root
    prefix = f"--root {root}: "
    if root is not None and message.startswith(prefix):
        node = f"the Ray worker's node {worker}" if worker else "the Ray worker's node"
        message = (f"--root {cell.dataset}={root}: looked for on {node}: {message[len(prefix):]} (with --executor ray "
                   "the folder must exist at that path on every node)")
    message = grid_flags(message, cell.dataset)
    return error if message == str(error) else type(error)(message)


def _ray_run_ids(cells: Sequence[GridCell], n_seeds: int, store: Any, environment: dict[str, Any], resume: bool,
                 say: Callable[[str], None]) -> dict[int, str]:
    """The stored run of each cell, by position: with ``resume`` (``--stored``) a cell's interrupted run that stored no
    fold (a Ray cell's folds come back with its result: one interrupted on Ray has none) starts again under its id,
    claimed for this process, so that interruptions leave no dead runs behind; else a new run. An interrupted run that
    kept folds (interrupted on the local executor) is left for ``merbench run --resume``, which continues it."""
    run_ids: dict[int, str] = {}
    for i, cell in enumerate(cells):
        found = store.interrupted_run(cell.config, n_seeds) if resume else None
        kept = store.folds_stored(found) if found is not None else 0
        note = f"[yellow]Note:[/] cell {cell.label}: its interrupted run {found}"
        if kept:
            say(f"{note} kept {counted(kept, 'fold')}, which a Ray cell cannot continue: it runs anew "
                f"(`{store.resume_command(found)}` continues that run instead)")
        elif found is not None:
            try:
                store.claim_run(found, environment)
            except UsageError:  # held by a live process: a resume in another shell
                found = None
            else:
                run_ids[i] = found
                say(f"{note} starts again (on Ray a cell starts from its first fold)")
                continue
        run_ids[i] = store.begin_run(cell.config.to_dict(), n_seeds, environment)
    return run_ids


def _run_on_ray(cells: Sequence[GridCell], n_seeds: int, store: Any, progress: ProgressSink,
                finished: Callable[[int, CellOutcome], None], resume: bool = False) -> None:
    options = RayOptions.from_section(cells[0].config.section("executor"))
    # a cluster that cannot be joined, or whose nodes are all too small to run a cell, leaves no failed runs behind
    join_cluster(options, progress.message, cells[0].config.device)
    run_ids: dict[int, str] = {}
    if store is not None:
        environment = describe_environment(f"Ray task on cluster {options.address} (not started yet)")
        run_ids = _ray_run_ids(cells, n_seeds, store, environment, resume, progress.message)
    open_ids = dict(run_ids)

    def done(i: int, report: CellReport) -> None:
        cell, run_id = cells[i], open_ids.pop(i, None)
        if report.error is not None:
            error = worker_error(report.error, cell, report.worker)
            if run_id is not None:
                store.mark_stopped(run_id, "failed", str(error))
            finished(i, CellOutcome(cell, run_id=run_id, error=error))
            return
        if report.result is not None:
            report = dataclasses.replace(report, result=with_recorded_settings(report.result, get_registry()))
        result = store_report(store, run_id, report) if run_id is not None else report.result
        finished(i, CellOutcome(cell, result, run_id))

    try:
        RayCells(options).run(cells, n_seeds, done, progress.message)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        for run_id in open_ids.values():
            store.mark_stopped(run_id, status, None if status == "interrupted" else str(exc) or type(exc).__name__)
        raise
