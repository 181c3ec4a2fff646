"""Where the folds of a run are trained: one after another, in worker processes, batched, or on Ray.

Every executor trains the same ``FoldTask`` list with the same per-fold seed
and torch thread count, so the choice changes the time a protocol takes, not
its predictions:

* ``local.SequentialFolds``: in this process, one fold after another;
* ``local.ProcessFolds``: in worker processes with one torch thread each (the CPU
  path, docs/design.md, "Performance": on a CPU, batched training of several folds
  is slower than spreading folds over cores);
* ``batched.BatchedFolds``: several folds as one ``vmap`` computation (the GPU path,
  ``merbench.fold_batch``);
* ``ray.RayFolds``: folds as Ray tasks on a cluster.

``plan.plan_executor`` turns ``engine.parallel_folds``/``engine.parallel_mode`` and
the ``executor`` section into one of them; ``job`` holds what they share. The
names below are the package's interface.
"""

from merbench.folds.job import DeviceTensors, FoldData, FoldExecutor, FoldJob, FoldTask, ModelRecipe, OnDone, train_task
from merbench.folds.local import KeptWorkerFolds, ProcessFolds, SequentialFolds
from merbench.folds.plan import describe_plan, executor_notes, plan_executor

__all__ = ["DeviceTensors", "FoldData", "FoldExecutor", "FoldJob", "FoldTask", "KeptWorkerFolds", "ModelRecipe", "OnDone",
           "ProcessFolds", "SequentialFolds", "describe_plan", "executor_notes", "plan_executor", "train_task"]
