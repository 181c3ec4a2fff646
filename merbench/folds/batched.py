"""Several folds trained at once as one batched (``vmap``) computation: the GPU path (``merbench.fold_batch``)."""

from __future__ import annotations

from typing import Sequence

import torch

from merbench.engine import code_failure, torch_threads
from merbench.errors import MerbenchError, RunFailed
from merbench.fold_batch import has_active_dropout, train_folds_batched
from merbench.folds.job import DeviceTensors, FoldData, FoldJob, FoldTask, OnDone
from merbench.progress import ProgressSink
from merbench.wording import counted


def fold_numbers(group: Sequence[FoldTask]) -> str:
    """The run's numbers of the folds in ``group``: "folds 3-4", "fold 3", "folds 1, 3" (a continued run trains
    only the folds left, so its groups need not be consecutive)."""
    numbers = [task.fold.index + 1 for task in group]
    if len(numbers) == 1:
        return f"fold {numbers[0]}"
    if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
        return f"folds {numbers[0]}-{numbers[-1]}"
    return f"folds {', '.join(map(str, numbers))}"


class BatchedFolds:
    """Train ``group_size`` folds at a time as one batched computation (``merbench.fold_batch``)."""

    def __init__(self, group_size: int):
        self.group_size = group_size
        self.description = f"{group_size} folds at a time as one batched (vmap) computation"

    def notes(self, job: FoldJob) -> list[str]:
        """What a result trained this way should say: dropout masks differ from fold-by-fold training."""
        if not has_active_dropout(job.recipe()):
            return []
        return [f"batched folds ({self.group_size} at a time) draw their dropout masks inside one computation, not "
                "as fold-by-fold training does, so predictions can differ from a fold-by-fold run (they are equal "
                "without dropout) and from a run that batches another number of folds; --set "
                "engine.parallel_mode=processes trains folds that predict exactly as fold by fold"]

    def run(self, job: FoldJob, data: FoldData, tasks: Sequence[FoldTask], on_done: OnDone,
            progress: ProgressSink) -> None:
        """Train the tasks in groups of ``group_size``."""
        tensors = DeviceTensors(data, job.choice.device)
        with torch_threads(job.threads):
            for begin in range(0, len(tasks), self.group_size):
                group = list(tasks[begin:begin + self.group_size])
                folds = fold_numbers(group)
                label = f"{folds.capitalize()} of {group[0].of or len(tasks)}, batched steps"

                def on_step(done: int, total: int, label: str = label) -> None:  # called once per global step
                    if done == 1:
                        progress.start("epochs", total, label)
                    progress.advance("epochs", 1)

                try:
                    outputs = train_folds_batched(job.recipe, tensors.inputs, tensors.labels, [t.fold for t in group],
                                                  [t.seed for t in group], job.recipe.n_classes, job.settings,
                                                  job.choice, on_step=on_step)
                except torch.cuda.OutOfMemoryError:
                    torch.cuda.empty_cache()  # what the failed group held, for whatever this process does next
                    raise RunFailed(
                        f"{folds}: ran out of GPU memory ({job.choice.device}) training {counted(group, 'fold')} as "
                        "one batched computation; --set engine.parallel_folds=N with a smaller "
                        "N trains fewer at once (1: one after another)"
                    ) from None
                except (MerbenchError, MemoryError):
                    raise
                except Exception as exc:
                    raise RunFailed(
                        f"{folds}: batched training (engine.parallel_mode=vmap) failed "
                        f"on {job.choice.device}: {code_failure(exc, job.recipe.plugin)}; --set "
                        "engine.parallel_mode=processes trains the folds one after another"
                    ) from exc
                for task, output in zip(group, outputs):
                    on_done(task, output)
