"""Figures of stored runs as PNG (matplotlib, Agg backend: no display needed).

For each run: ``<run>-confusion.png``, the pooled confusion matrix with counts,
and ``<run>-folds.png``, a metric per fold with the fold mean. Files are
written atomically, with the user's umask; an existing symlink is written through.
``confusion_png`` and ``folds_png`` give the same figures as bytes (the HTML
report embeds them). A figure's title names the run by its comparison row (the
model with the profile, settings or leak that set it apart), as the reports do,
so that two runs of one model are told apart in a figure shown on its own.
Class names and model names are drawn literally: ``$`` is never read as
mathematical notation. A character no installed font has (a Chinese class name
with only DejaVu Sans) is drawn as an empty box; one warning names such
characters once, instead of matplotlib's one per character and figure.
"""

from __future__ import annotations

import functools
import io
import math
import re
import warnings
from pathlib import Path
from typing import Sequence

from merbench.compare import METRIC_NAMES, one_line
from merbench.errors import UsageError
from merbench.escaping import printable
from merbench.outputs import check_output_path, result_roots, write_output
from merbench.report import seed_label
from merbench.result import RunResult
from merbench.wording import percent

DPI = 120
FALLBACK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR", "Source Han Sans",
                  "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "Noto Sans", "Noto Sans Symbols",
                  "Noto Sans Symbols2", "Symbola")
"""Fonts that draw a character the default one lacks (Chinese, Japanese, Korean, symbols), those installed used in
this order."""
MISSING_GLYPH = re.compile(r"Glyph (\d+) .*missing from (?:font\(s\) (.+?)|current font)\.?$")
"""matplotlib's warning for a character no font of the figure has (before matplotlib 3.9 it names no font: the
default one)."""
_missing_named: set[str] = set()
"""The characters a warning already named (each is named once per process)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@functools.lru_cache(maxsize=None)
def default_font() -> str:
    """The name of the font matplotlib draws with by default."""
    from matplotlib import font_manager

    return font_manager.FontProperties(fname=font_manager.findfont(font_manager.FontProperties())).get_name()


@functools.lru_cache(maxsize=None)
def font_settings() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The rc setting that draws with the default font and falls back on each installed ``FALLBACK_FONTS`` for a
    character it lacks; none when no fallback font is installed."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    fallbacks = [name for name in FALLBACK_FONTS if name in installed]
    if not fallbacks:
        return ()
    default = default_font()
    return (("font.family", (default, *(name for name in fallbacks if name != default))),)


def _png(draw, *args) -> bytes:
    """Run ``draw(plt, *args)`` (which returns a figure) and give the figure as PNG bytes."""
    plt = _pyplot()
    with plt.rc_context({"text.parse_math": False, **{key: list(value) for key, value in font_settings()}}), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = draw(plt, *args)
        try:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
            data = buffer.getvalue()
        finally:
            plt.close(figure)
    _show(caught)
    return data


def _show(caught: Sequence[warnings.WarningMessage]) -> None:
    """Show the warnings drawing a figure gave: matplotlib's per missing character as one naming those no earlier
    warning named, the others as they came (under the warning filters in force)."""
    missing: dict[str, str] = {}
    for warning in caught:
        found = MISSING_GLYPH.match(str(warning.message))
        if found is not None and issubclass(warning.category, UserWarning):
            missing.setdefault(chr(int(found[1])), found[2] or default_font())
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    new = [character for character in missing if character not in _missing_named]
    if not new:
        return
    _missing_named.update(new)
    fonts = ", ".join(sorted(set(missing[character] for character in new)))
    warnings.warn(f"figures: no glyph for {' '.join(new)} (of a class or model name) in the font {fonts}: the figures "
                  "draw each as an empty box, the tables show the names in full. To draw them, install a font that "
                  "has them (e.g. Noto Sans CJK: apt-get install fonts-noto-cjk) and remove matplotlib's font cache "
                  "(~/.cache/matplotlib)", UserWarning, stacklevel=3)


def _save(data: bytes, path: Path, result: RunResult) -> Path:
    """Write a figure of ``result`` to ``path``, never inside its run's dataset folder (also through a link)."""
    write_output(check_output_path(path, "--figures", roots=result_roots([result])), data)
    return path


def _stem(result: RunResult) -> str:
    name = result.run_id or f"{result.model}-{result.dataset}-{result.protocol}-seed{result.seed or 0}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _title(result: RunResult, row: str | None = None) -> str:
    """The figure's title: the run (by its comparison ``row``, default its model; a row that names settings on a
    line of its own), for a ``--seeds N`` run which seed it draws (its first), and a run that leaks marked † with
    its leak kinds, as the reports mark it (a figure is often shown on its own)."""
    from merbench.leaks import result_leaks

    label = seed_label(result)
    leaks = result_leaks(result)
    name = result.model if row is None else one_line(row)
    where = f"{result.dataset} · {result.protocol}"
    head = f"{name} · {where}" if name == result.model else f"{name}\n{where}"
    return printable(head + (f" · {label}" if label else "") + (f" · † leaks: {', '.join(leaks)}" if leaks else ""))


def metric_label(metric: str) -> str:
    """A metric's name as the captions and tables write it (``UF1``, ``macro F1``), for an axis."""
    return METRIC_NAMES.get(metric, metric).split(" (")[0]


def _draw_confusion(plt, result: RunResult, row: str | None = None):
    import numpy as np

    matrix = np.asarray(result.confusion_matrix)
    classes = [printable(str(name)) for name in result.classes]
    figure, axes = plt.subplots(figsize=(1.2 + 0.8 * len(classes), 1.0 + 0.8 * len(classes)))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(_title(result, row), fontsize=9)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (true, predicted), count in np.ndenumerate(matrix):
        axes.text(predicted, true, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    figure.colorbar(image, ax=axes, fraction=0.046)
    return figure


def confusion_png(result: RunResult, row: str | None = None) -> bytes:
    """The pooled confusion matrix of ``result`` (rows true, columns predicted, with counts) as PNG bytes, titled
    with its comparison ``row`` (default: its model)."""
    return _png(_draw_confusion, result, row)


def confusion_figure(result: RunResult, path: Path, row: str | None = None) -> Path:
    """Draw the pooled confusion matrix of ``result`` (rows true, columns predicted) to ``path``."""
    return _save(confusion_png(result, row), path, result)


def _draw_folds(plt, result: RunResult, metric: str, row: str | None = None):
    folds = result.folds
    values = [100 * fold.metrics[metric] for fold in folds]
    figure, axes = plt.subplots(figsize=(max(4.0, 0.4 * len(folds) + 2), 3.0))
    axes.bar([fold.fold + 1 for fold in folds], values, color="#4c72b0")
    mean = result.fold_mean[metric]
    if math.isfinite(mean):  # no score: no mean line and no legend (it would read "mean nan")
        axes.axhline(100 * mean, color="#c44e52", linestyle="--", label=f"mean {percent(mean)}")
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    axes.set_xticks([fold.fold + 1 for fold in folds])  # whole fold numbers, never 1.5
    axes.set_xlabel("fold")
    axes.set_ylabel(f"{metric_label(metric)} (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"{_title(result, row)}: {metric_label(metric)} per fold", fontsize=9)
    return figure


def folds_png(result: RunResult, metric: str = "uf1", row: str | None = None) -> bytes:
    """``metric`` of each fold of ``result`` as bars, with the fold mean as a dashed line, as PNG bytes, titled with
    its comparison ``row`` (default: its model)."""
    return _png(_draw_folds, result, metric, row)


def folds_figure(result: RunResult, path: Path, metric: str = "uf1", row: str | None = None) -> Path:
    """Draw ``metric`` of each fold of ``result`` as bars with the fold mean as a line, to ``path``."""
    return _save(folds_png(result, metric, row), path, result)


def _figure_files(result: RunResult, folder: Path) -> tuple[Path, Path]:
    stem = _stem(result)
    return folder / f"{stem}-confusion.png", folder / f"{stem}-folds.png"


def figure_files(results: Sequence[RunResult], folder: Path) -> list[Path]:
    """The files ``write_figures`` writes for ``results`` into ``folder``."""
    return [path for result in results for path in _figure_files(result, folder)]


def check_figure_files(results: Sequence[RunResult], folder: Path) -> None:
    """Refuse, before anything is written, a figure file of ``results`` in ``folder`` that cannot be written (a
    folder still to be created holds none)."""
    if not folder.is_dir():
        return
    roots = result_roots(results)
    for path in figure_files(results, folder):
        if path.is_dir():
            raise UsageError(f"--figures {folder}: {path.name} is a folder where a figure goes; remove it or give "
                             "another --figures folder")
        if path.exists() and not path.is_file():
            raise UsageError(f"--figures {folder}: {path.name} is not a regular file (a device, FIFO or socket) where "
                             "a figure goes, and will not be replaced; remove it or give another --figures folder")
        check_output_path(path, "--figures", roots=roots)


def write_figures(results: Sequence[RunResult], folder: Path, metric: str = "uf1",
                  rows: Sequence[str] | None = None) -> list[Path]:
    """Confusion-matrix and per-fold PNGs of every result into ``folder``, titled with each result's comparison row
    (``rows``, in the order of ``results``; default: its model); returns the files written."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--figures {folder}: is a file; give a folder")
    folder.mkdir(parents=True, exist_ok=True)
    check_figure_files(results, folder)
    written = []
    for result, row in zip(results, rows if rows is not None else [None] * len(results), strict=True):
        confusion, folds = _figure_files(result, folder)
        written.append(confusion_figure(result, confusion, row))
        written.append(folds_figure(result, folds, metric, row))
    return written
