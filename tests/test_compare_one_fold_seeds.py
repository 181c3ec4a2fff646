"""``compare --stat fold`` of a run of one fold per seed (cross-dataset with ``--seeds 3``) shows no std, as it does
for one seed: the "std over folds" of three seeds' single folds was their population std over seeds (``33.6 ± 7.6``
beside ``--stat pooled``'s sample std ``33.6 ± 9.3`` of the same three numbers)."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console

from merbench.compare import build_comparison, cell_text, comparison_table
from merbench.export import to_csv, to_json, to_markdown
from merbench.result import RunResult
from merbench.tables import print_table
from result_samples import minimal_dict

SEED_SCORES = (0.25, 0.35, 0.40)


def _one_fold_per_seed(seeds: int) -> RunResult:
    """A cross-dataset run of ``seeds`` seeds (one when 1), each testing one fold with the UF1 of ``SEED_SCORES``."""
    scores = SEED_SCORES[:seeds]
    first = {"accuracy": scores[0], "uf1": scores[0], "uar": scores[0]}
    repeated = {}
    if seeds > 1:
        repeated = {
            "seeds": [{"seed": seed, "pooled": {"accuracy": uf1, "uf1": uf1, "uar": uf1},
                       "fold_mean": {"accuracy": uf1, "uf1": uf1, "uar": uf1},
                       "fold_std": {"accuracy": 0.0, "uf1": 0.0, "uar": 0.0}} for seed, uf1 in enumerate(scores)],
            "across_seeds": {"n": seeds, "mean": {key: sum(scores) / seeds for key in first},
                             "std": {key: 0.0 for key in first}},
        }
    return RunResult.from_dict(minimal_dict(
        run_id=f"20261206-00000{seeds}-00000{seeds}", model=f"m{seeds}", protocol="cross-dataset",
        pooled=first, fold_mean=first, fold_std={key: 0.0 for key in first},
        folds=[{"fold": 0, "test_subjects": ["s0", "s1"], "n_test": 4, "metrics": first}], seed=0, **repeated))


def test_a_run_of_one_fold_per_seed_has_no_std_over_folds_in_any_format():
    repeated, single = _one_fold_per_seed(3), _one_fold_per_seed(1)
    assert repeated.fold_stat("uf1") == (sum(SEED_SCORES) / 3, None)
    assert single.fold_stat("uf1") == (SEED_SCORES[0], None)
    comparison = build_comparison([repeated, single], "uf1", "fold")
    cells = {model: comparison.cells[(model, ("d", "cross-dataset"))] for model in ("m3", "m1")}
    assert cell_text(cells["m3"]) == "33.3" and cell_text(cells["m1"]) == "25.0"  # before: "33.3 ± 6.2" beside "25.0"
    assert [record["std"] for record in comparison.records()] == [None, None]
    assert [row["std"] for row in csv.DictReader(io.StringIO(to_csv(comparison)))] == ["", ""]
    document = json.loads(to_json(comparison))
    assert [row["std"] for row in document["rows"]] == [None, None]
    note = ("No std over folds for m3 on d · cross-dataset (run 20261206-000003-000003): each seed tested one fold, "
            "so there is no spread over folds; --stat pooled shows the std over seeds.")
    assert note in document["notes"] and "did not record each seed's fold std" not in " ".join(document["notes"])
    assert note in to_markdown(comparison)
    console = Console(file=io.StringIO(), width=300, color_system=None)
    print_table(console, comparison_table(comparison))
    assert note in " ".join(console.file.getvalue().split())
    pooled = build_comparison([repeated], "uf1", "pooled").cells[("m3", ("d", "cross-dataset"))]
    assert pooled.std is not None and pooled.std > 0  # the spread over seeds is --stat pooled's
