"""The errors merbench reports to users.

Every message says what went wrong, where, and how to fix it. The CLI turns
these into one line on stderr and an exit code, in one place.
"""

from __future__ import annotations

import re
from typing import Iterator


class MerbenchError(Exception):
    """Base class of errors that are reported to the user without a traceback."""

    exit_code = 2


class UsageError(MerbenchError):
    """Bad command-line usage or configuration (unknown name, bad --set key or value)."""


class DataError(MerbenchError):
    """A dataset tree, annotation file or frame is missing or malformed."""


class PluginError(MerbenchError):
    """A plugin could not be loaded or registered."""


class ModelNote(UserWarning):
    """A model plugin's note on how it built the model (pretrained weights adapted to the run's input), warned by its
    build on the meta device: the preflight shows it once, before anything is preprocessed."""


class RunFailed(MerbenchError):
    """A run started but could not finish (for example the loss became NaN)."""

    exit_code = 1


class PredictionFailed(RunFailed):
    """A trained model gave NaN (or tied infinite) scores for test samples. A choice between configurations may
    not turn on it (a tune's refit falls back to the next-best trial only when training failed): that would choose
    by the test part's inputs."""


class FoldsLost(RunFailed):
    """A run stopped by a failure around its folds, not in them (a worker process died, a cluster task failed).

    Its completed folds are worth keeping: the command that ran it says how to
    continue (``merbench.recording.run_recorded`` adds the stored run's id, or
    that the run was not stored).
    """


def raised_over(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and each exception it was raised while handling (``__context__``), latest first: a second Ctrl-C
    that lands while a command cleans up after the first (or after a SIGTERM) raises over it, and what the first
    one carried is found here."""
    while exc is not None:
        yield exc
        exc = exc.__context__


def error_line(exc: BaseException) -> str:
    """``exc`` as one line for a message about someone else's code: ``TypeName: first line of its text``."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else '(no message)'}"


def checkpoint_refusal(text: str) -> str:
    """torch's refusal of a pickled checkpoint, reworded: merbench loads weights only and never turns that off.

    torch's own text advises ``weights_only=False``, which merbench never sets;
    other texts are returned unchanged.
    """
    if "weights_only" not in text and "Weights only load failed" not in text:
        return text
    found = re.search(r"Unsupported (?:globals?:|class)\s*(?:GLOBAL\s+)?([\w.]+)", text)  # "class": torch < 2.6
    needs = f" (it needs {found.group(1).rstrip('.')})" if found else ""
    return (f"the weights file holds pickled Python objects, not only tensors{needs}, and merbench loads tensors only; "
            "save a plain state dict (torch.save(model.state_dict(), FILE)) or a .safetensors file and give that file")


def early_stopping_without_epochs(patience: int, estimator: str) -> UsageError:
    """The refusal of ``engine.early_stopping`` for a model fitted in one go (``estimator``: its type's name)."""
    return UsageError(f"engine.early_stopping={patience}: this model is a {estimator} estimator trained in one fit, "
                      "without epochs to select; use --set engine.early_stopping=0")
