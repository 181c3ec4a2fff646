"""Figures of stored runs as PNG files (matplotlib, Agg backend: no display needed).

For each run: ``<run>-confusion.png``, the pooled confusion matrix with counts,
and ``<run>-folds.png``, a metric per fold with the fold mean. Files are
written atomically, with the user's umask; an existing symlink is written through.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Sequence

from merbench.errors import UsageError
from merbench.outputs import check_output_path, write_output


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    target = check_output_path(path, "--figures")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    write_output(target, buffer.getvalue())
    return path


def _stem(result: dict[str, Any]) -> str:
    name = result.get("run_id") or f"{result['model']}-{result['dataset']}-{result['protocol']}-seed{result.get('seed', 0)}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def confusion_figure(result: dict[str, Any], path: Path) -> Path:
    """Draw the pooled confusion matrix of ``result`` (rows true, columns predicted) to ``path``."""
    import numpy as np

    plt = _pyplot()
    matrix = np.asarray(result["confusion_matrix"])
    classes = result["classes"]
    figure, axes = plt.subplots(figsize=(1.2 + 0.8 * len(classes), 1.0 + 0.8 * len(classes)))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{result['model']} · {result['dataset']} · {result['protocol']}", fontsize=9)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    figure.colorbar(image, ax=axes, fraction=0.046)
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)


def folds_figure(result: dict[str, Any], path: Path, metric: str = "uf1") -> Path:
    """Draw ``metric`` of each fold of ``result`` as bars with the fold mean as a line, to ``path``."""
    plt = _pyplot()
    folds = result["folds"]
    values = [100 * fold["metrics"][metric] for fold in folds]
    figure, axes = plt.subplots(figsize=(max(4.0, 0.4 * len(folds) + 2), 3.0))
    axes.bar([fold["fold"] + 1 for fold in folds], values, color="#4c72b0")
    mean = 100 * result["fold_mean"][metric]
    axes.axhline(mean, color="#c44e52", linestyle="--", label=f"mean {mean:.1f}")
    axes.set_xlabel("fold")
    axes.set_ylabel(f"{metric} (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"{result['model']} · {result['dataset']} · {result['protocol']}: {metric} per fold", fontsize=9)
    axes.legend(loc="lower right", fontsize=8)
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)


def write_figures(results: Sequence[dict[str, Any]], folder: Path, metric: str = "uf1") -> list[Path]:
    """Confusion-matrix and per-fold PNGs of every result into ``folder``; returns the files written."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--figures {folder}: is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        stem = _stem(result)
        written.append(confusion_figure(result, folder / f"{stem}-confusion.png"))
        written.append(folds_figure(result, folder / f"{stem}-folds.png", metric))
    return written
