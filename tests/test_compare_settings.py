"""``merbench compare``, ``report`` and ``grid`` never show a run made with other settings (``--set``, ``--config``,
``--epochs``, another chain) as the model's plain result: its row names what it changed from its profile's
defaults, so that it no longer hides an older default run of the same model, and settings every run changed are
named once, in a note (``merbench.run_settings``)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from merbench.compare import build_comparison, comparison_table
from merbench.config import resolve_config
from merbench.export import to_csv, to_markdown
from merbench.metrics import METRIC_KEYS
from merbench.registry import get_registry
from merbench.run_settings import changed_settings, changed_settings_of, setting_text
from result_samples import minimal_result, store_results

COLUMN = ("synthetic", "subject-10fold")


def _result(run_id: str, model: str, uf1: float, seed: int = 0, protocol: str = "subject-10fold", **sets):
    """A stored-like result of ``model`` on the synthetic data (quick profile) whose recorded configuration is
    what ``merbench run --set`` with ``sets`` resolves."""
    config = resolve_config(get_registry(), model=model, dataset="synthetic", profile="quick", seed=seed,
                            protocol=protocol,
                            sets={key.replace("__", "."): value for key, value in sets.items()}).to_dict()
    scores = {**{key: 0.5 for key in METRIC_KEYS}, "uf1": uf1}
    folds = [{"fold": i, "test_subjects": [f"s{i}"], "n_test": 2, "metrics": scores} for i in range(2)]
    return minimal_result(run_id=run_id, model=model, dataset="synthetic", protocol=protocol, seed=seed,
                          profile="quick", config=config, pooled=scores, fold_mean=scores,
                          fold_std={key: 0.0 for key in scores}, folds=folds)


def test_a_run_with_a_changed_setting_gets_a_row_naming_it_and_no_longer_hides_the_default_run(tmp_path, run_cli):
    default, changed = _result("20250611-000001-000001", "ststnet", 0.45), _result(
        "20250611-000002-000002", "ststnet", 0.60, model__dropout=0.3)
    store = store_results(tmp_path / "runs.sqlite", [default, changed])

    shown = run_cli("compare", "--store", str(store), "--format", "plain")
    assert shown.code == 0, shown.err
    rows = {line.split("  ")[0]: line for line in shown.out.splitlines()}
    assert "ststnet" in rows and "ststnet (model.dropout=0.3)" in rows, shown.out
    assert "45.0" in rows["ststnet"] and "60.0" in rows["ststnet (model.dropout=0.3)"]
    assert "Settings in parentheses after a model: what its run changed from its profile's defaults." in shown.out

    cells = json.loads(run_cli("compare", "--store", str(store), "--json").out)["rows"]
    assert {(c["row"], c["model"], c["run_id"], c["settings"]) for c in cells} == {
        ("ststnet", "ststnet", default.run_id, ""),
        ("ststnet (model.dropout=0.3)", "ststnet", changed.run_id, "model.dropout=0.3")}


def test_settings_every_run_changed_are_named_once_in_the_note_and_in_every_export():
    results = [_result("20250611-000001-000001", "ststnet", 0.45, engine__epochs=2),
               _result("20250611-000002-000002", "offapexnet", 0.30, engine__epochs=2, model__dropout=0.1)]
    comparison = build_comparison(results, settings=changed_settings_of(results, get_registry()))

    assert comparison.models == ["offapexnet (model.dropout=0.1)", "ststnet"]
    assert comparison.common_settings == ("engine.epochs=2",)
    assert "Every run changed from its profile's defaults: engine.epochs=2." in comparison.notes()[-2]
    assert comparison.cells[("ststnet", COLUMN)].best, "a setting of the runs does not stop a column's best"
    assert "engine.epochs=2" in to_markdown(comparison)
    assert "engine.epochs=2" in str(comparison_table(comparison).caption)
    rows = list(csv.DictReader(io.StringIO(to_csv(comparison))))
    assert {row["row"]: row["settings"] for row in rows} == {
        "offapexnet (model.dropout=0.1)": "engine.epochs=2; model.dropout=0.1", "ststnet": "engine.epochs=2"}


def test_how_and_where_the_folds_ran_and_the_seed_are_not_settings():
    result = _result("20250611-000001-000001", "ststnet", 0.5, seed=3, engine__parallel_folds=1, engine__threads=1,
                     engine__preprocess_workers=1, engine__parallel_mode="processes", executor__num_cpus=2)
    assert changed_settings(result, get_registry()) == ()


def test_batched_folds_are_named_since_they_change_a_dropout_models_scores():
    batched = _result("20250611-000001-000001", "ststnet", 0.5, engine__parallel_mode="vmap")
    assert changed_settings(batched, get_registry()) == ("engine.parallel_mode=vmap",)
    plain = _result("20250611-000002-000002", "ststnet", 0.6)
    comparison = build_comparison([plain, batched], settings=changed_settings_of([plain, batched], get_registry()))
    assert comparison.models == ["ststnet", "ststnet (engine.parallel_mode=vmap)"]


def test_no_best_is_marked_between_runs_on_other_samples_or_folds_but_is_between_other_epochs():
    full = _result("20250611-000001-000001", "ststnet", 0.5)
    smaller = _result("20250611-000002-000002", "ststnet", 0.7, dataset__subjects=6, protocol__n_splits=3)
    longer = _result("20250611-000003-000003", "ststnet", 0.6, engine__epochs=6)
    unlike = build_comparison([full, smaller], settings=changed_settings_of([full, smaller], get_registry()))
    assert not any(cell.best for cell in unlike.cells.values()) and unlike.unlike_data == [COLUMN]
    assert ("No best is marked in synthetic · subject-10fold: its runs changed the dataset's or the protocol's "
            "options differently") in " ".join(unlike.notes())
    alike = build_comparison([full, longer], settings=changed_settings_of([full, longer], get_registry()))
    assert [m for (m, _), cell in alike.cells.items() if cell.best] == ["ststnet (engine.epochs=6)"]
    assert alike.data_note() is None


def test_protocol_settings_of_every_run_in_a_column_describe_the_column_and_do_not_split_rows():
    # what `merbench grid --protocols subject-10fold,loso --set protocol.n_splits=5` stores: loso has no n_splits
    results = [_result("20250611-000001-000001", "ststnet", 0.6, protocol__n_splits=5),
               _result("20250611-000002-000002", "ststnet", 0.4, protocol="loso"),
               _result("20250611-000003-000003", "offapexnet", 0.5, protocol__n_splits=5),
               _result("20250611-000004-000004", "offapexnet", 0.3, protocol="loso")]
    comparison = build_comparison(results, settings=changed_settings_of(results, get_registry()))
    assert comparison.models == ["offapexnet", "ststnet"]
    assert comparison.column_settings == {COLUMN: ("protocol.n_splits=5",)}
    assert "Every run in synthetic · subject-10fold changed: protocol.n_splits=5." in " ".join(comparison.notes())
    assert comparison.cells[("ststnet", COLUMN)].best and comparison.cells[("ststnet", ("synthetic", "loso"))].best
    records = {(row["row"], row["protocol"]): row["settings"] for row in comparison.records()}
    assert records[("ststnet", "subject-10fold")] == "protocol.n_splits=5" and records[("ststnet", "loso")] == ""
    # a model run alike in every column keeps one row, named alike, when another model differs in one column only
    alike = [_result("20250611-000011-000011", "ststnet", 0.6, dataset__subjects=4),
             _result("20250611-000012-000012", "ststnet", 0.4, protocol="loso", dataset__subjects=4),
             _result("20250611-000013-000013", "offapexnet", 0.5, dataset__subjects=6)]
    kept = build_comparison(alike, settings=changed_settings_of(alike, get_registry()))
    assert kept.models == ["offapexnet (dataset.subjects=6)", "ststnet (dataset.subjects=4)"]
    # runs of a column alike in their data settings keep its best, whether or not their rows could drop them
    same_data = [_result("20250611-000021-000021", "ststnet", 0.6, dataset__subjects=6),
                 _result("20250611-000022-000022", "offapexnet", 0.5, dataset__subjects=6),
                 _result("20250611-000023-000023", "ststnet", 0.4, protocol="loso", dataset__subjects=6),
                 _result("20250611-000024-000024", "offapexnet", 0.3, protocol="loso")]
    alike_data = build_comparison(same_data, settings=changed_settings_of(same_data, get_registry()))
    assert COLUMN not in alike_data.unlike_data
    assert [model for (model, column), cell in alike_data.cells.items() if column == COLUMN and cell.best] == [
        next(model for model in alike_data.models if model.startswith("ststnet"))]
    # runs of one column that differ still get rows of their own, and no best
    mixed = [*results, _result("20250611-000005-000005", "ststnet", 0.9, protocol__n_splits=3)]
    split = build_comparison(mixed, settings=changed_settings_of(mixed, get_registry()))
    assert "ststnet (protocol.n_splits=3)" in split.models and COLUMN in split.unlike_data


def test_older_runs_of_a_shown_cell_are_named_in_a_note_and_every_export():
    older, newer = _result("20250611-000001-000001", "ststnet", 0.45), _result("20250611-000002-000002", "ststnet", 0.6)
    comparison = build_comparison([older, newer], settings=changed_settings_of([older, newer], get_registry()))
    assert comparison.cells[("ststnet", COLUMN)].run_id == newer.run_id
    note = ("Not shown: 1 run of a cell shown here that finished before the run the cell shows (same model, settings, "
            "dataset and protocol; each cell shows the run that finished last): 20250611-000001-000001. See it with "
            "`merbench show ID`")
    assert note in " ".join(comparison.notes())
    assert "Not shown: 1 run of a cell" in to_markdown(comparison) and older.run_id in to_markdown(comparison)
    alone = build_comparison([older], settings=changed_settings_of([older], get_registry()))
    assert alone.hidden_note() is None


def test_every_older_run_a_note_leaves_out_is_listed_in_the_json():
    """The note names three older runs and counts the rest: the ids of the rest were nowhere to be found."""
    import json

    from merbench.export import to_json

    runs = [_result(f"20250611-0000{i:02d}-0000{i:02d}", "ststnet", 0.3 + i / 100) for i in range(1, 7)]
    comparison = build_comparison(runs, settings=changed_settings_of(runs, get_registry()))
    note = " ".join(comparison.notes())
    assert "(and 2 more: `merbench compare --json` lists every one under hidden_runs)" in note
    assert json.loads(to_json(comparison))["hidden_runs"] == [run.run_id for run in runs[:5]]


def test_float_settings_are_named_as_a_user_types_them():
    from merbench.run_settings import setting_text

    assert [setting_text("engine.lr", value) for value in (1e3, 1e-5, 0.002, 1e30, 1 / 3)] == [
        "engine.lr=1000", "engine.lr=1e-5", "engine.lr=0.002", "engine.lr=1e30", "engine.lr=0.3333333333333333"]
    result = _result("20250611-000001-000001", "ststnet", 0.5, engine__lr=1e3)
    comparison = build_comparison([result], settings=changed_settings_of([result], get_registry()))
    assert comparison.common_settings == ("engine.lr=1000",)


def test_the_chain_epochs_and_list_values_are_named_as_set_takes_them():
    result = _result("20250611-000001-000001", "ststnet", 0.5, preprocess="crop,flow", engine__epochs=2,
                     model__filters=[4, 6, 8], engine__channels_last=False)
    assert changed_settings(result, get_registry()) == (
        "preprocess=crop,flow", "engine.channels_last=false", "engine.epochs=2", "model.filters=[4, 6, 8]")
    assert setting_text("flow.channels", ["u", "v"]) == "flow.channels=[u, v]"


def test_leaky_settings_are_named_by_the_comparison_once_not_twice():
    leaky = _result("20250611-000001-000001", "ststnet", 0.5, engine__select_on="test")
    assert changed_settings(leaky, get_registry()) == ()
    comparison = build_comparison([leaky], settings=changed_settings_of([leaky], get_registry()))
    assert comparison.models == ["ststnet (select_on=test)"]


def test_a_run_whose_plugin_is_gone_is_shown_as_before_and_makes_no_every_run_note():
    known = _result("20250611-000001-000001", "ststnet", 0.5, engine__epochs=2)
    gone = minimal_result(run_id="20250611-000002-000002", model="uninstalled", dataset="synthetic",
                          protocol="subject-10fold", profile="quick",
                          config={"profile": "quick", "options": {"engine": {"epochs": 2}}})
    settings = changed_settings_of([known, gone], get_registry())
    assert settings == [("engine.epochs=2",), None]
    comparison = build_comparison([known, gone], settings=settings)
    assert comparison.common_settings == ()
    assert "ststnet (engine.epochs=2)" in comparison.models and "uninstalled" in comparison.models


def test_settings_must_match_the_results():
    with pytest.raises(ValueError):
        build_comparison([_result("20250611-000001-000001", "ststnet", 0.5)], settings=[])


@pytest.mark.parametrize("command", ["compare", "grid"])
def test_a_real_run_with_set_and_epochs_is_named_by_compare_and_grid(run_cli, tmp_path, command):
    store = str(tmp_path / "real.sqlite")
    if command == "grid":
        shown = run_cli("grid", "--models", "ststnet", "--datasets", "synthetic", "--profile", "quick", "--epochs",
                        "2", "--set", "model.dropout=0.3", "--store", store, "--quiet", "--format", "plain")
    else:
        for extra in ((), ("--epochs", "2", "--set", "model.dropout=0.3")):
            made = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                           "--store", store, *extra)
            assert made.code == 0, made.err
        shown = run_cli("compare", "--store", store, "--format", "plain")
    assert shown.code == 0, shown.err
    if command == "grid":  # one run: what it changed is what every run changed
        assert "Every run changed from its profile's defaults: engine.epochs=2, model.dropout=0.3." in shown.out
    else:
        assert "ststnet (engine.epochs=2, model.dropout=0.3)" in shown.out and "\nststnet " in shown.out


def test_run_and_show_end_with_what_the_run_was(run_cli, tmp_path):
    """A terminal log read later, without the JSON, still says the seed, profile, changed options and software."""
    import merbench

    store = str(tmp_path / "one.sqlite")
    made = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--seed", "3",
                   "--epochs", "2", "--quiet", "--store", store)
    assert made.code == 0, made.err
    line = next(line for line in made.out.splitlines() if line.startswith("Run: "))
    assert line.startswith("Run: seed 3; profile quick, options changed from it: engine.epochs=2; "
                           f"merbench {merbench.__version__}") and "torch " in line
    run_id = made.err.split("Stored as run ")[1].split()[0]
    assert line in run_cli("show", run_id, "--store", store).out.splitlines()


def test_cells_of_runs_with_different_seeds_are_named_in_a_note_and_every_record():
    from merbench.export import to_csv

    results = [_result("20250611-000001-000001", "ststnet", 0.5, seed=0),
               _result("20250611-000002-000002", "offapexnet", 0.6, seed=5)]
    comparison = build_comparison(results, settings=changed_settings_of(results, get_registry()))
    assert comparison.seeds_note() == ("The runs shown used different seeds (seed 0: ststnet; seed 5: offapexnet); "
                                       "run them with one --seed (or the same --seeds N) to compare alike.")
    assert comparison.seeds_note() in comparison.notes()
    assert {record["row"]: record["seeds"] for record in comparison.records()} == {"ststnet": "0", "offapexnet": "5"}
    assert "seeds" in to_csv(comparison).splitlines()[0].split(",")
    alike = build_comparison(results[:1] + [_result("20250611-000003-000003", "offapexnet", 0.6, seed=0)])
    assert alike.seeds_note() == "Every cell: seed 0."


def test_what_a_run_changed_is_kept_for_when_its_plugin_is_gone(run_cli, tmp_path, monkeypatch):
    """Two runs of one model that differ in a setting stay two rows, named, after the model's plugin is uninstalled."""
    from merbench.registry import reset_registry

    store = str(tmp_path / "gone.sqlite")
    for extra in ((), ("--epochs", "2")):
        made = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                       "--store", store, *extra)
        assert made.code == 0, made.err
    run_id = made.err.split("Stored as run ")[1].split()[0]
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "models")  # the plugin that registers ststnet
    reset_registry()
    try:
        rows = json.loads(run_cli("compare", "--store", store, "--json").out)["rows"]
        assert sorted(row["row"] for row in rows) == ["ststnet", "ststnet (engine.epochs=2)"]
        shown = run_cli("show", run_id, "--store", store).out
        assert "profile quick, options changed from it: engine.epochs=2" in shown
    finally:
        monkeypatch.delenv("MERBENCH_DISABLE_PLUGINS")
        reset_registry()


def test_report_counts_models_and_rows_apart(run_cli, tmp_path):
    store = store_results(tmp_path / "rows.sqlite", [_result("20250611-000001-000001", "ststnet", 0.5),
                                              _result("20250611-000002-000002", "ststnet", 0.6, engine__epochs=2)])
    written = run_cli("report", "--store", str(store), "--output", str(tmp_path / "r.md"))
    assert written.code == 0, written.err
    assert "1 model in 2 rows × 1 column written to" in " ".join(written.err.split())


def test_the_run_line_names_leaky_engine_options_it_changed(run_cli, tmp_path):
    """engine.select_on=test and engine.normalise_on=all change what is computed: a log read later names them."""
    made = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--epochs", "2",
                   "--set", "engine.select_on=test", "engine.normalise_on=all", "--quiet", "--no-store")
    assert made.code == 0, made.err
    line = next(line for line in made.out.splitlines() if line.startswith("Run: "))
    assert ("profile quick, options changed from it: engine.epochs=2, engine.select_on=test, "
            "engine.normalise_on=all; ") in line, line


def test_the_seeds_note_names_a_dozen_cells_per_seed_and_counts_the_rest():
    """A year's store: 4,264 cells named in one line of 287,000 characters; every record still has its seeds."""
    from merbench.compare import NAMED_CELLS

    results = [_result(f"20250611-0000{n:02d}-0000{n:02d}", "ststnet", 0.5, seed=n % 2, engine__epochs=n + 1)
               for n in range(40)]  # 40 rows: one per setting
    comparison = build_comparison(results, settings=changed_settings_of(results, get_registry()))
    note = comparison.seeds_note()
    assert f"(and {20 - NAMED_CELLS} more)" in note and note.count("ststnet") == 2 * NAMED_CELLS and len(note) < 1200
    assert len({record["row"] for record in comparison.records()}) == 40


def test_runs_of_one_dataset_read_from_other_folders_are_two_rows_without_a_best(tmp_path, run_cli):
    """Two manifests of one file name in two folders (other data) were one cell: the older run was hidden as "the
    same model, settings, dataset and protocol", and a best was marked across them."""
    import dataclasses

    first, second = (_result(run_id, "ststnet", uf1) for run_id, uf1 in
                     (("20250611-000001-000001", 0.4), ("20250611-000002-000002", 0.7)))
    first = dataclasses.replace(first, config={**first.config, "root": "/data/casme2_flow"})
    second = dataclasses.replace(second, config={**second.config, "root": "/data/samm_flow"})
    other = _result("20250611-000003-000003", "lbptop-svm", 0.5)
    other = dataclasses.replace(other, config={**other.config, "root": "/data/samm_flow"})
    compared = build_comparison([first, second, other], settings=changed_settings_of([first, second, other],
                                                                                     get_registry()))
    assert set(compared.models) == {"ststnet (root=/data/casme2_flow)", "ststnet (root=/data/samm_flow)",
                                    "lbptop-svm (root=/data/samm_flow)"}
    assert compared.hidden == [] and not any(cell.best for cell in compared.cells.values())
    assert "or read the dataset from other folders (root=)" in " ".join(compared.notes())
    one_folder = build_comparison([second, other], settings=changed_settings_of([second, other], get_registry()))
    assert set(one_folder.models) == {"ststnet", "lbptop-svm"}  # one folder: named nowhere


def test_the_papers_score_is_not_shown_beside_a_run_on_other_folds_or_part_of_the_official_list():
    """compare put the paper's score beside a run that show calls "measured*" / "measured on 14/442 ... not
    comparable", in every format, with no mark."""
    import dataclasses

    from merbench.export import to_markdown
    from merbench.result import ReportedScore

    paper = [ReportedScore("synthetic", "subject-10fold", "uf1", 70.0, "A paper")]
    alike = dataclasses.replace(_result("20250611-000001-000001", "ststnet", 0.5), reported=paper, settings_changed=[])
    folds = dataclasses.replace(alike, run_id="20250611-000002-000002", settings_changed=["protocol.n_splits=2"])
    part = dataclasses.replace(alike, run_id="20250611-000003-000003",
                               dataset_summary={"official_list": {"found": 14, "listed": 442}})
    assert build_comparison([alike]).cells[("ststnet", COLUMN)].reported == 0.7
    for result, why in ((folds, "measured with protocol.n_splits=2"),
                        (part, "measured on 14 of the 442 samples of the official list")):
        comparison = build_comparison([result])
        cell = comparison.cells[("ststnet", COLUMN)]
        assert cell.reported is None and cell.reported_withheld.startswith(why)
        note = (f"The paper's score is not shown beside ststnet on synthetic · subject-10fold ({why}")
        assert note in " ".join(comparison.notes()) and note in " ".join(to_markdown(comparison).split())


def test_one_folder_reached_through_a_link_is_one_folder(tmp_path):
    """The same copy read through its path and through a symbolic link made two rows and no best."""
    import dataclasses

    (tmp_path / "samm").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "samm")
    first, second = (_result(run_id, "ststnet", uf1) for run_id, uf1 in
                     (("20250611-000001-000001", 0.4), ("20250611-000002-000002", 0.7)))
    first = dataclasses.replace(first, config={**first.config, "root": str(tmp_path / "samm")})
    second = dataclasses.replace(second, config={**second.config, "root": str(tmp_path / "link")},
                                 run_id="20250611-000002-000002")
    compared = build_comparison([first, second], settings=changed_settings_of([first, second], get_registry()))
    assert compared.models == ["ststnet"] and compared.hidden == ["20250611-000001-000001"]
