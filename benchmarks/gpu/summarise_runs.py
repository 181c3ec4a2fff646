"""Throughput of finished runs from their result JSON files (``merbench run --json``), one line per run.

For each file: the fold executor, preprocessing and training-and-evaluation seconds, training
samples per second (every fold's training samples times epochs trained, over the
training-and-evaluation time), the achieved FLOP/s (3 x the model's forward FLOPs per sample,
counted by ``FlopCounterMode``, x samples/s) and its fraction of ``--peak-tflops`` when given
("FLOPs: n/a" for a model that is not a torch network, such as ``lbptop-svm``), and the pooled scores.
Used by ``benchmarks/gpu/device_checks.sh``; runs on the CPU too::

    python benchmarks/gpu/summarise_runs.py --peak-tflops 989 RUN.json [RUN.json ...]

A file that is missing or is not a run's result JSON is one line on stderr naming it and what is
wrong; the other files are still summarised, and the exit code is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from merbench.argument_types import number_above
from merbench.contracts import resolve_factory
from merbench.errors import MerbenchError
from merbench.modelinfo import count_flops
from merbench.registry import get_registry


def forward_flops(result: dict[str, Any]) -> float | None:
    """FLOPs of one forward pass of one sample of the run's model, built from its recorded options; None for a
    model that is not a torch ``nn.Module`` (an SVM on LBP-TOP features: no forward pass to count)."""
    import torch

    options = result["config"]["options"]
    flow = options.get("flow") or {}
    size = int(flow.get("size", 28))
    channels = len(flow.get("channels", ("u", "v", "magnitude")))
    spec = get_registry().get("models", result["model"])
    model = resolve_factory(spec.build)(dict(options.get("model") or {}), channels, len(result["classes"]), size)
    if not isinstance(model, torch.nn.Module):
        return None
    return count_flops(model, (channels, size, size))


FIX = "give a result file written by `merbench run --json FILE`"


class NotAResult(Exception):
    """A file given on the command line that this script cannot summarise; the message names it and says why."""


def read_result(path: Path) -> dict[str, Any]:
    """The run's result JSON object in ``path``; ``NotAResult`` when it is missing, unreadable or not a result."""
    from merbench.result import RunResult, document_kind

    if not path.exists():
        pattern = any(char in path.name for char in "*?[")  # device_checks.sh's glob when no run finished
        raise NotAResult(f"{path}: no file matches this pattern (no run finished?)" if pattern else
                         f"{path}: no such file; check the path ({FIX})")
    if not path.is_file():
        raise NotAResult(f"{path}: a folder or device, not a file; {FIX}")
    try:
        result = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise NotAResult(f"{path}: cannot be read ({exc.strerror}); {FIX}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotAResult(f"{path}: not a merbench result JSON: not JSON ({exc}); {FIX}") from None
    kind = document_kind(result)
    if kind not in (None, "run"):
        raise NotAResult(f"{path}: not a merbench result JSON: a {kind} summary, not a run's result; {FIX}")
    try:
        RunResult.from_dict(result, str(path))  # names the first missing or malformed key
    except MerbenchError as exc:
        raise NotAResult(f"{exc}".replace(f"{path}:", f"{path}: not a merbench result JSON:", 1)) from None
    if not isinstance(result.get("engine_plan"), dict):
        raise NotAResult(f"{path}: not a merbench result JSON of this version: no 'engine_plan' (how the folds ran); "
                         f"{FIX}")
    return result


def summarise(path: Path, peak_tflops: float | None) -> str:
    """One line describing the run in ``path`` (``NotAResult`` when it holds no run's result)."""
    result = read_result(path)
    try:
        flops = forward_flops(result)
    except MerbenchError as exc:  # e.g. its model is not installed here
        raise NotAResult(f"{path}: cannot build its model '{result['model']}' to count FLOPs: {exc}") from None
    except Exception as exc:  # the model's factory refused the recorded options: not a result of this merbench
        raise NotAResult(f"{path}: cannot build its model '{result['model']}' from the recorded options to count "
                         f"FLOPs ({type(exc).__name__}: {exc}); {FIX} by this merbench") from None
    try:
        return describe(path, result, flops, peak_tflops)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise NotAResult(f"{path}: not a merbench result JSON: {type(exc).__name__} {exc} while reading it; "
                         f"{FIX}") from None


def describe(path: Path, result: dict[str, Any], flops: float | None, peak_tflops: float | None) -> str:
    """The line of ``summarise`` for the checked result object ``result`` whose model's forward pass takes
    ``flops`` per sample (None: not a torch model, "FLOPs: n/a")."""
    seconds = result["seconds"]
    samples = sum(fold["n_train"] * fold["epochs_trained"] for fold in result["folds"])
    rate = samples / seconds["train_eval"]
    pooled = result["pooled"]
    if flops is None:
        throughput = "FLOPs: n/a"
    else:
        achieved = 3 * flops * rate
        fraction = f", {achieved / (peak_tflops * 1e12):.2e} of peak" if peak_tflops else ""
        throughput = f"{achieved / 1e12:.3g} TFLOP/s{fraction}"
    plan = result["engine_plan"]
    return (f"{path.stem}: {result['model']} {result['profile']} {result['protocol']}, {len(result['folds'])} folds, "
            f"{result['n_samples']} clips; {plan['executor']} (group {plan['group_size']}); "
            f"preprocessing {seconds['preprocess']:.1f} s, training and evaluation {seconds['train_eval']:.1f} s; "
            f"{samples} training samples, {rate:,.0f} samples/s, {throughput}; "
            f"pooled UF1 {100 * pooled['uf1']:.1f}, UAR {100 * pooled['uar']:.1f}, Acc {100 * pooled['accuracy']:.1f}; "
            f"device {result['environment']['device']}")


def main() -> int:
    """Print one line per result file given on the command line; a file that is not one is one line on stderr,
    and the exit code is 2 when there was any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="result JSON files written by merbench run --json")
    parser.add_argument("--peak-tflops", type=number_above(0, "the device's peak in TFLOP/s"), default=None,
                        help="the device's peak, for the fraction")
    args = parser.parse_args()
    failed = 0
    for path in args.results:
        try:
            print(summarise(path, args.peak_tflops), flush=True)
        except NotAResult as exc:
            print(f"summarise_runs.py: error: {exc}", file=sys.stderr, flush=True)
            failed += 1
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
