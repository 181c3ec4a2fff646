"""``merbench compare`` says the seeds behind its cells: a ``--seeds 3`` run hidden by a newer ``--seed 7`` run of
the same model was called "the same" (its note said only "same model, settings, dataset and protocol"), and no
output said the shown cell was one seed, nor, when every cell was a 3-seed run, that its mean was over 3 seeds."""

from __future__ import annotations

import io
import json

from rich.console import Console

from merbench.compare import build_comparison, comparison_table
from merbench.escaping import note_text
from merbench.export import to_html, to_json, to_latex, to_markdown
from merbench.result import RunResult
from merbench.tables import print_table
from result_samples import minimal_dict

REPEATED = "20261206-000001-000001"
SINGLE = "20261206-000002-000002"


def _run(run_id: str, seeds: tuple[int, ...], uf1: float, model: str = "ststnet") -> RunResult:
    """A run of ``model`` on each of ``seeds`` (a ``--seeds N`` run when several), scoring ``uf1`` on each."""
    scores = {"accuracy": uf1, "uf1": uf1, "uar": uf1}
    repeated = {}
    if len(seeds) > 1:
        repeated = {"seeds": [{"seed": seed, "pooled": scores, "fold_mean": scores, "fold_std": scores}
                              for seed in seeds],
                    "across_seeds": {"n": len(seeds), "mean": scores, "std": {key: 0.0 for key in scores}}}
    return RunResult.from_dict(minimal_dict(run_id=run_id, model=model, seed=seeds[0], pooled=scores,
                                            fold_mean=scores, **repeated))


def _terminal(comparison) -> str:
    console = Console(file=io.StringIO(), width=80, color_system=None, force_terminal=True)
    print_table(console, comparison_table(comparison))
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    return " ".join(text.split())


def test_an_older_run_of_other_seeds_is_named_as_such_and_the_shown_cell_as_one_seed():
    comparison = build_comparison([_run(REPEATED, (0, 1, 2), 0.5), _run(SINGLE, (7,), 0.316)], "uf1", "pooled")
    cell = comparison.cells[("ststnet", ("d", "loso"))]
    assert (cell.run_id, cell.seeds) == (SINGLE, (7,))  # still the newest run per cell
    hidden = note_text(comparison.hidden_note())
    assert hidden.startswith("Not shown: 1 run of a cell shown here that finished before the run the cell shows "
                             "(same model, settings, dataset and protocol; some with other seeds; each cell shows the "
                             f"run that finished last): {REPEATED} (ststnet on d · loso: a run that finished earlier, "
                             "with 3 seeds (0, 1, 2); the cell shows the one that finished last, seed 7).")
    assert note_text(comparison.seeds_note()) == "Every cell: seed 7."
    wanted = ["a run that finished earlier, with 3 seeds (0, 1, 2); the cell shows the one that finished last, "
              "seed 7", "Every cell: seed 7."]
    document = json.loads(to_json(comparison))
    for text in (_terminal(comparison), to_markdown(comparison), " ".join(document["notes"]),
                 " ".join(to_latex(comparison).split()), " ".join(to_html(comparison).split())):
        for words in wanted:
            assert words in text, (words, text)


def test_an_older_run_of_the_same_seeds_is_called_the_same():
    comparison = build_comparison([_run(REPEATED, (0, 1, 2), 0.5), _run(SINGLE, (0, 1, 2), 0.4)], "uf1", "pooled")
    hidden = note_text(comparison.hidden_note())
    assert "(same model, settings, dataset and protocol; each cell shows the run that finished last): " \
           f"{REPEATED}. See it" in hidden and "seeds" not in hidden


def test_cells_that_share_their_seeds_say_how_many_once_and_cells_that_differ_say_each():
    alike = build_comparison([_run(REPEATED, (0, 1, 2), 0.5), _run(SINGLE, (0, 1, 2), 0.4, model="offapexnet")],
                             "uf1", "pooled")
    assert note_text(alike.seeds_note()) == "Every cell: 3 seeds (0, 1, 2)."
    assert "Every cell: 3 seeds (0, 1, 2)." in _terminal(alike)
    assert "Every cell: 3 seeds (0, 1, 2)." in to_markdown(alike)
    unlike = build_comparison([_run(REPEATED, (0, 1, 2), 0.5), _run(SINGLE, (7,), 0.4, model="offapexnet")],
                              "uf1", "pooled")
    assert note_text(unlike.seeds_note()).startswith(
        "The runs shown used different seeds (3 seeds (0, 1, 2): ststnet; seed 7: offapexnet)")
    assert "3 seeds (0, 1, 2): ststnet; seed 7: offapexnet" in _terminal(unlike)
