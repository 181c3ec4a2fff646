"""What researchers see in a terminal: tables at 80 columns and in pipes, escaping, global flags, progress, speed.

Every table command is rendered at 80 columns with Rich (``--format table``
forces boxes although the test captures stdout) and as plain piped text: names,
run ids and numbers must appear whole, never with an ellipsis.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import pytest
from rich.console import Console

from merbench.cli import build_parser, parse_args
from merbench.progress import PlainProgress, RichProgress, command_progress
from merbench.result import RunResult
from merbench.tables import TEXT, Column, DataTable, print_table
from piped_rows import piped_row, piped_rows

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=6", "dataset.size=32", "dataset.frames=8",
        "protocol.n_splits=3", "engine.epochs=1"]
BOX = set("┃│━─┏┓┗┛┡┩└┘╇╋┳┻")
ELLIPSIS = "…"


def narrow(run_cli, monkeypatch, *args):
    """``merbench --format table ARGS`` on an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", *args)
    assert result.code == 0, result.err
    assert ELLIPSIS not in result.out
    assert max(len(line) for line in result.out.splitlines()) <= 80
    assert BOX & set(result.out), "expected a Rich table"
    return result.out


def assert_plain(text: str) -> None:
    assert not BOX & set(text), "box characters in piped output"
    assert ELLIPSIS not in text


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Two tiny runs in their own store: (store path, [results])."""
    from merbench.cli import main

    folder = tmp_path_factory.mktemp("terminal")
    store = folder / "results.sqlite"
    results = []
    for model in ("ststnet", "lbptop-svm"):
        target = folder / f"{model}.json"
        assert main(["run", "--model", model, "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY,
                     "--store", str(store), "--json", str(target)]) == 0
        results.append(json.loads(target.read_text()))
    return store, results


# ------------------------------------------------------------------ 80 columns


def test_list_models_at_80_columns_shows_every_name_whole(run_cli, monkeypatch):
    out = narrow(run_cli, monkeypatch, "list", "models")
    for name in ("convmixer", "convmixer-256-8", "convmixer-768-32", "dual-inception", "offapexnet", "lbptop-svm",
                 "ststnet", "timm:<name>", "24,371,843", "1,629,899"):
        assert f"│ {name} " in out or f" {name} │" in out, name


def test_list_at_80_columns_keeps_names_and_prints_domain_literally(run_cli, monkeypatch):
    out = narrow(run_cli, monkeypatch, "list")
    for name in ("subject-10fold", "sample-10fold", "cross-dataset", "apex-frame", "synthetic", "manifest"):
        assert f"│ {name} " in out, name
    assert "[domain]" in " ".join(out.split())


def test_runs_at_80_columns_shows_whole_run_ids(stored, run_cli, monkeypatch):
    store, results = stored
    out = narrow(run_cli, monkeypatch, "runs", "--store", str(store))
    for result in results:
        assert f"│ {result['run_id']} │" in out
        assert f"{100 * result['pooled']['uf1']:.1f}" in out
    for name in ("ststnet", "lbptop-svm", "synthetic", "subject-10fold", "complete"):
        assert name in out
    assert "Not shown at this width" not in out, "profile, seed and time were dropped for the width"
    assert "│ quick " in out and " s │" in out


def test_show_at_80_columns_keeps_every_score(stored, run_cli, monkeypatch):
    store, results = stored
    result = results[0]
    out = narrow(run_cli, monkeypatch, "show", result["run_id"], "--store", str(store))
    assert f"{100 * result['pooled']['uf1']:.1f}" in out and "pooled" in out
    for name in result["classes"]:
        assert name in out


def test_compare_at_80_columns_keeps_models_and_cells(stored, run_cli, monkeypatch):
    store, results = stored
    out = narrow(run_cli, monkeypatch, "compare", "--store", str(store))
    for result in results:
        assert f"│ {result['model']} " in out
        assert f"{100 * result['fold_mean']['uf1']:.1f} ± {100 * result['fold_std']['uf1']:.1f}" in out
    assert "subject-10fold" in out


def test_info_plugins_and_datasets_at_80_columns(run_cli, monkeypatch):
    info = narrow(run_cli, monkeypatch, "info", "convmixer")
    assert "attention_every" in info and "sample-10fold" in info and "2×28×28" in info
    assert "Measured by merbench on the synthetic data" in info and "│ subject-10fold │ independent" in info
    plugins = narrow(run_cli, monkeypatch, "plugins")
    assert "merbench_plugins.preprocessors" in plugins
    datasets = narrow(run_cli, monkeypatch, "datasets", "list")
    assert "│ synthetic " in datasets
    assert "clips_per_subject=7" in datasets and "Not shown at this width: Options" not in datasets  # its point


def test_list_protocols_at_80_columns_shows_the_options_its_caption_explains(run_cli, monkeypatch):
    """The caption explained an Options column that the table had dropped for the width, keeping Provider."""
    protocols = " ".join(narrow(run_cli, monkeypatch, "list", "protocols").split())
    assert "protocol.n_splits=10" in protocols and "protocol.pairs=5" in protocols
    assert "Not shown at this width: Provider" in protocols


def test_audit_at_80_columns(stored, run_cli, monkeypatch, tmp_path):
    _, results = stored
    path = tmp_path / "r.json"
    path.write_text(json.dumps(results[0]))
    out = narrow(run_cli, monkeypatch, "audit", str(path))
    assert "pass" in out


def test_wide_confusion_matrix_numbers_its_columns_at_80_columns(stored):
    from merbench.report import print_result

    result = dict(stored[1][0])
    classes = ["happiness", "disgust", "repression", "surprise", "others", "fear", "sadness"]
    result["classes"] = classes
    result["confusion_matrix"] = [[i + j for j in range(7)] for i in range(7)]
    console = Console(width=80, force_terminal=True, color_system=None, file=io.StringIO())
    print_result(console, RunResult.from_dict(result))
    out = console.file.getvalue()
    assert ELLIPSIS not in out and max(len(line) for line in out.splitlines()) <= 80
    for i, name in enumerate(classes):
        assert f"{i + 1} {name}" in out


# ------------------------------------------------------------------ pipes


def test_piped_output_is_plain_and_greppable(stored, run_cli):
    store, results = stored
    models = run_cli("list", "models")
    assert_plain(models.out)
    row = piped_row(models.out, "convmixer-768-32")
    assert "24,371,843" in row and "ConvMixer-768/32 with CBAM" in row
    runs = run_cli("runs", "--store", str(store))
    assert_plain(runs.out)
    for result in results:
        assert any(line.startswith(f"{result['run_id']}  complete  {result['model']} ") for line in runs.out.splitlines())
    for args in (["compare"], ["show", results[0]["run_id"]]):
        shown = run_cli(*args, "--store", str(store))
        assert shown.code == 0, shown.err
        assert_plain(shown.out)


def test_piped_text_does_not_depend_on_the_terminal_width(run_cli, monkeypatch):
    """The same text at any COLUMNS from 80 (a pipe's width; a narrower COLUMNS narrows it)."""
    monkeypatch.setenv("COLUMNS", "80")
    narrow_text = run_cli("list", "protocols").out
    monkeypatch.setenv("COLUMNS", "300")
    assert run_cli("list", "protocols").out == narrow_text
    assert_plain(narrow_text)


def test_format_plain_on_a_terminal_and_json_for_scripts(stored, run_cli):
    store, results = stored
    plain = run_cli("--format", "plain", "list", "protocols")
    assert_plain(plain.out)
    listing = json.loads(run_cli("list", "models", "--json").out)
    convmixer = next(m for m in listing["models"] if m["name"] == "convmixer")
    assert convmixer["params"] > 0 and convmixer["shape"] == [2, 28, 28]
    runs = json.loads(run_cli("runs", "--store", str(store), "--json").out)
    assert {run["id"] for run in runs} == {result["run_id"] for result in results}
    compared = json.loads(run_cli("compare", "--store", str(store), "--json").out)
    assert {cell["run_id"] for cell in compared["rows"]} == {result["run_id"] for result in results}
    plugins = json.loads(run_cli("plugins", "--json").out)
    assert any(p["provider"]["entry_point"] == "protocols" for p in plugins["plugins"])


def test_list_protocols_shows_each_protocols_options_as_set_takes_them(run_cli):
    """A protocol's options were found only from an unknown-setting error; datasets list showed theirs."""
    plain = run_cli("--format", "plain", "list", "protocols").out
    rows = {row.split()[0]: row for row in piped_rows(plain)}
    assert "protocol.n_splits=10" in rows["subject-10fold"] and "protocol.pairs=5" in rows["frame-10fold"]
    listed = {record["name"]: record for record in json.loads(run_cli("list", "protocols", "--json").out)["protocols"]}
    assert listed["subject-10fold"]["options"] == {"n_splits": 10} and listed["loso"]["options"] == {}


# ------------------------------------------------------------------ tables


def test_table_drops_descriptive_columns_before_cutting_a_key():
    table = DataTable("T", [Column("Name"), Column("Description", TEXT), Column("Value", justify="right")])
    table.add_row("a-rather-long-model-name", "words " * 30, "12,345,678")
    console = Console(width=50, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    out = console.file.getvalue()
    assert "│ a-rather-long-model-name │" in out and "12,345,678" in out and "Description" in out
    assert "words" not in out.split("┃")[0] and ELLIPSIS not in out


def test_the_last_text_column_folds_a_long_path_instead_of_being_dropped():
    path = "/home/alice/data/CASME2/a-long-folder-name/CASME2-coding-20140508.xlsx"
    table = DataTable("T", [Column("key"), Column("value", TEXT)], show_header=False)
    table.add_row("annotation", path)
    console = Console(width=50, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    lines = console.file.getvalue().splitlines()
    assert "Not shown" not in "".join(lines) and max(len(line) for line in lines) <= 50
    assert "".join(line.split("│")[2].strip() for line in lines if line.startswith("│")) == path


def test_a_stacked_layout_that_shows_every_column_wins_over_dropping_one():
    table = DataTable("T", [Column("sample"), Column("file", TEXT), Column("problem", TEXT, stack=True)])
    table.add_row("sub01/EP02_01f", "/data/CASME2/CASME2_RAW_selected/sub01/EP02_01f/img44.jpg",
                  "unreadable (the file is not a readable image)")
    console = Console(width=60, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    out = console.file.getvalue()
    cells = " ".join(line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│"))
    assert "Not shown" not in out and "unreadable (the file is not a readable image)" in cells


def test_a_stacked_layout_that_keeps_words_whole_wins_over_breaking_one():
    # `cache info` at 80 columns broke "subtract_median=True)" over two lines, though stacking Chain
    # under Dataset left room for it whole.
    table = DataTable("T", [Column("Dataset"), Column("Chain", stack=True), Column("Produces"),
                            Column("Entries", justify="right"), Column("Size", justify="right"),
                            Column("Parameters", TEXT)])
    table.add_row("synthetic", "flow", "flow-uvs 3×28×28", "60/60", "742.6 KiB",
                  "flow v2(method=tvl1, size=28, channels=['u', 'v'], subtract_median=True)")
    console = Console(width=80, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    out = console.file.getvalue()
    cells = [line.split("│")[-2].strip() for line in out.splitlines() if line.startswith("│")]
    assert "subtract_median=True)" in cells and max(len(line) for line in out.splitlines()) <= 80
    assert "Not shown" not in out and any(line.split("│")[1].strip() == "flow" for line in out.splitlines()
                                          if line.startswith("│"))


@pytest.mark.parametrize("width", [60, 66, 72, 80, 100])
def test_a_column_of_settings_is_dropped_with_a_note_rather_than_broken_inside_a_setting(width):
    # `regress` at 80 columns showed "protocol.n_split" / "s=3" on two lines, which reads as another key.
    settings = "synthetic · subject-10fold · quick · seed 0 · dataset.subjects=6 protocol.n_splits=3"
    table = DataTable("T", [Column("Model"), Column("Metric"), Column("Expected", justify="right"),
                            Column("Measured", justify="right"), Column("Verdict"),
                            Column("Setting", TEXT, breakable=False)])
    table.add_row("ststnet", "accuracy", "36.8", "36.8", "ok", settings)
    console = Console(width=width, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    out = console.file.getvalue()
    if "Not shown at this width: Setting" in " ".join(out.split()):
        assert "n_split" not in out and width < 80
    else:
        assert "protocol.n_splits=3" in out and "dataset.subjects=6" in out
    assert max(len(line) for line in out.splitlines()) <= width


@pytest.mark.parametrize("width", [60, 70, 79, 80, 81, 100])
def test_tables_keep_their_right_border_at_every_width(run_cli, monkeypatch, width):
    # Rich, left to shrink a table itself, made the protocol list 81 wide at 79 and 80 columns (border cropped).
    monkeypatch.setenv("COLUMNS", str(width))
    for kind in ("protocols", "models", "datasets", "preprocessors"):
        out = run_cli("--format", "table", "list", kind).out
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= width, (kind, width)
        assert all(line.endswith("┓") for line in lines if line.startswith("┏")), (kind, width)


def test_keys_wider_than_the_terminal_print_one_block_per_row():
    table = DataTable("T", [Column(f"key{i}") for i in range(4)])
    table.add_row(*(f"identifier-number-{i}-that-is-long" for i in range(4)))
    table.add_row("second-row", "", "x", "y")
    console = Console(width=60, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    out = console.file.getvalue()
    assert_plain(out)
    assert max(len(line) for line in out.splitlines()) <= 60
    assert out.splitlines() == ["T", "key0: identifier-number-0-that-is-long", "  key1: identifier-number-1-that-is-long",
                                "  key2: identifier-number-2-that-is-long", "  key3: identifier-number-3-that-is-long",
                                "key0: second-row", "  key2: x", "  key3: y"]


# ------------------------------------------------------------------ markup in data and plugin text

MARKUP_PLUGIN = '''
from merbench.contracts import ModelPlugin
from merbench.hookspecs import hookimpl


def build(options, in_channels, n_classes, input_size):
    import torch
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * input_size * input_size, n_classes))


@hookimpl
def merbench_register_models(register):
    register(ModelPlugin(name="markup-model", build=build, description="closes [/] nothing and makes [bold]x bold",
                         input="flow-uvs", citation="[red]cited[/red]"))
'''


@pytest.fixture
def markup_plugin(tmp_path, monkeypatch):
    """A third-party plugin whose description and citation look like Rich markup."""
    site = tmp_path / "site"
    info = site / "merbench_markup-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: merbench-markup\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[merbench]\nmarkup = merbench_markup_plugin\n")
    (site / "merbench_markup_plugin.py").write_text(textwrap.dedent(MARKUP_PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("merbench_markup_plugin", None)


@pytest.mark.parametrize("mode", [[], ["--format", "table"]])
def test_plugin_description_with_markup_does_not_break_list(markup_plugin, run_cli, mode):
    result = run_cli(*mode, "list", "models")
    assert result.code == 0, result.err
    assert "closes [/] nothing and makes [bold]x bold" in " ".join(result.out.split())
    assert "markup-model" in result.out
    info = run_cli(*mode, "info", "markup-model")
    assert info.code == 0, info.err
    assert "closes [/] nothing" in info.out and "[red]cited[/red]" in info.out


def test_labels_and_subjects_with_markup_print_literally(stored):
    from merbench.report import print_result

    result = json.loads(json.dumps(stored[1][0]))
    result["classes"] = ["[/]", "[bold]x", "ok"]
    result["folds"][0]["test_subjects"] = ["[/red]s1"]
    for console in (Console(width=200, force_terminal=True, color_system=None, file=io.StringIO()),
                    Console(width=80, file=io.StringIO())):
        print_result(console, RunResult.from_dict(result))
        out = console.file.getvalue()
        assert "[/]" in out and "[bold]x" in out and "[/red]s1" in out


# ------------------------------------------------------------------ global flags


def test_debug_quiet_and_format_are_accepted_before_and_after_the_command():
    parser = build_parser()
    for argv in (["--debug", "run", "--model", "m", "--dataset", "d"], ["run", "--model", "m", "--dataset", "d", "--debug"]):
        assert parse_args(parser, argv).debug is True
    assert parse_args(parser, ["run", "--model", "m", "--dataset", "d"]).debug is False
    assert parse_args(parser, ["--quiet", "run", "--model", "m"]).quiet is True
    assert parse_args(parser, ["run", "--model", "m", "--quiet"]).quiet is True
    assert parse_args(parser, ["run", "--model", "m"]).quiet is False
    assert parse_args(parser, ["runs", "--format", "plain"]).table_format == "plain"
    assert parse_args(parser, ["--format", "plain", "runs"]).table_format == "plain"
    assert parse_args(parser, ["datasets", "check", "smic", "--debug"]).debug is True
    assert parse_args(parser, ["report", "--format", "md"]).format == "md"  # report keeps its own --format


def test_run_debug_after_the_command_shows_the_traceback(run_cli):
    result = run_cli("run", "--model", "convmixr", "--dataset", "synthetic", "--debug")
    assert result.code == 2
    assert "Traceback" in result.err and "Did you mean 'convmixer'" in " ".join(result.err.split())


# ------------------------------------------------------------------ progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_writes_periodic_plain_lines_when_not_a_terminal():
    console = Console(file=io.StringIO(), width=80)
    clock = Clock()
    progress = PlainProgress(console, interval=5, clock=clock)
    progress.start("folds", 10, "Folds (loso)")
    for fold in range(10):
        clock.now += 2
        progress.advance("folds", 1, note=f"fold {fold + 1} [/] done")
    lines = console.file.getvalue().splitlines()
    assert lines[0] == "Folds (loso): 0/10, elapsed 0:00:00"
    assert "Folds (loso): 3/10, elapsed 0:00:06, ETA 0:00:14 (fold 3 [/] done)" in lines
    assert lines[-1] == "Folds (loso): 10/10, elapsed 0:00:20 (fold 10 [/] done)"
    assert len(lines) == 5  # start, every ~5 s (folds 3, 6, 9), end


def test_rich_progress_falls_back_to_plain_lines_and_shows_messages_literally():
    console = Console(file=io.StringIO(), width=80)
    with RichProgress(console) as progress:
        progress.start("epochs", 2, "Fold 1/3 epochs")
        progress.advance("epochs", 2, note="loss 0.5")
        progress.message("[yellow]Note:[/] worker failed ([/] in an error text)")
    text = console.file.getvalue()
    assert "Fold 1/3 epochs: 0/2" in text and "Fold 1/3 epochs: 2/2" in text
    assert "Note: worker failed ([/] in an error text)" in text
    assert_plain(text)


@pytest.mark.parametrize("quiet", [False, True], ids=["bars", "quiet"])
def test_a_command_shows_each_note_and_warning_once_over_its_runs(quiet):
    console = Console(file=io.StringIO(), width=80)
    note = "[yellow]Note:[/] 3 annotation rows left out by the casme2 loader, first row 7"
    with command_progress(console, quiet) as progress:
        for _ in range(5):  # a leakage study's variants, or --seeds 5: one run each
            progress.message(note)
            progress.message("[bold yellow]Warning:[/] skipped 1 clip with unreadable frames")
            progress.message("Device: cpu")
    text = console.file.getvalue()
    assert text.count("3 annotation rows left out by the casme2 loader") == 1
    assert text.count("Warning: skipped 1 clip") == 1
    assert text.count("Device: cpu") == (0 if quiet else 5)  # progress lines are not notices: never merged


def test_cli_run_prints_plain_progress_lines_on_a_non_terminal_stderr(stored, run_cli):
    store, _ = stored
    result = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", *TINY,
                     "--store", str(store))
    assert result.code == 0, result.err
    assert "Folds (subject-10fold): 0/3" in result.err and "Folds (subject-10fold): 3/3" in result.err
    assert "━" not in result.err


# ------------------------------------------------------------------ speed


def test_model_facts_are_cached_and_follow_the_options(monkeypatch):
    from merbench import modelinfo
    from merbench.registry import get_registry

    registry = get_registry()
    first = modelinfo.model_facts(registry, "ststnet", "quick")
    monkeypatch.setattr(modelinfo, "compute_model_facts", lambda *a: pytest.fail("facts rebuilt"))
    again = modelinfo.model_facts(registry, "ststnet", "quick")
    assert (again.params, again.flops, again.shape) == (first.params, first.flops, first.shape)
    assert modelinfo.facts_key(registry, "ststnet", "quick") != modelinfo.facts_key(registry, "ststnet", "default")


def test_warm_listing_imports_no_torch_or_sklearn(run_cli):
    assert run_cli("list").code == 0  # fills the facts cache of this session
    assert run_cli("info", "convmixer").code == 0  # and info's (the test then passes on its own too)
    code = ("import sys; from merbench.cli import main; main(['list']); main(['info', 'convmixer']); "
            "print(sorted(m for m in ('torch', 'sklearn', 'timm') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_info_measured_scores_are_plain_rows_in_a_pipe(run_cli):
    result = run_cli("info", "convmixer")
    assert result.code == 0, result.err
    assert_plain(result.out)
    rows = {line.split()[0]: line.split() for line in result.out.splitlines()
            if line.startswith(("subject-10fold ", "sample-10fold "))}
    assert rows["subject-10fold"][1] == "independent" and rows["sample-10fold"][1] == "shared"
    assert all(len(row) == 12 for row in rows.values())  # protocol, subjects, 3 × (mean ± std), s/run


def test_leakage_warning_is_a_plain_line_in_a_pipe(stored):
    from merbench.report import print_result

    result = dict(stored[1][0], subject_independent=False)
    console = Console(width=80, file=io.StringIO())
    print_result(console, RunResult.from_dict(result))
    text = console.file.getvalue()
    assert "Warning: leakage (subjects): This protocol is NOT subject-independent (it splits clips" in " ".join(text.split())
    assert_plain(text)


def test_subjects_shared_by_the_data_are_not_blamed_on_a_subject_independent_protocol(stored):
    from merbench.report import print_result

    result = dict(stored[1][0], subject_independent=False)
    result["leakage"] = {**result["leakage"], "subject_overlap_folds": 2}
    assert result["protocol"] == "subject-10fold"
    console = Console(width=80, file=io.StringIO())
    print_result(console, RunResult.from_dict(result))
    text = " ".join(console.file.getvalue().split())
    assert "This run is NOT subject-independent: clips of the same subject are in training and test (2 of" in text
    assert "This protocol is NOT" not in text


@pytest.mark.parametrize("terminal", [True, False])
def test_control_characters_in_data_are_shown_not_sent_to_the_terminal(terminal):
    table = DataTable("T", [Column("variant"), Column("what leaks", TEXT)])
    table.add_row("honest\x1b[31m", "bell\x07 and more")
    console = Console(width=80, force_terminal=terminal, color_system=None, file=io.StringIO())
    print_table(console, table)
    out = console.file.getvalue()
    assert "\x1b" not in out and "\x07" not in out
    assert "honest\\x1b[31m" in out and "bell\\x07" in out


@pytest.mark.parametrize("terminal", [True, False])
def test_control_characters_in_titles_headers_captions_and_messages_are_shown_too(terminal):
    """A class name is a column header (`datasets check`), a model name in a title (`audit`), a label in a warning:
    their escape sequences once reached the terminal although the cells' were shown."""
    table = DataTable("Audit of r.json (evil\x1b]0;pwned\x07)", [Column("neg\x1b[31mRED"), Column("n")])
    table.caption = "class \x1b[2J cleared"  # set after the table is made, as some reports do
    table.add_row("1", "2")
    console = Console(width=80, force_terminal=terminal, color_system=None, file=io.StringIO())
    print_table(console, table)
    with RichProgress(console) as progress:
        progress.message("[bold yellow]Warning:[/] class neg\x1b[2Jx has 1 clip")
    out = console.file.getvalue()
    assert not any(raw in out for raw in ("\x1b]0;", "\x07", "\x1b[31m", "\x1b[2J")), "the data's own sequences"
    said = " ".join(out.split())
    for shown in ("evil\\x1b]0;pwned\\x07", "neg\\x1b[31mRED", "class \\x1b[2J cleared", "neg\\x1b[2Jx has 1 clip"):
        assert shown in said, shown


@pytest.mark.parametrize("threads, workers, expected", [
    (1, 1, "this process and 1 worker process (when the folds take long enough), 1 torch thread per fold"),
    (2, 3, "this process and 3 worker processes (when the folds take long enough), 2 torch threads per fold"),
])
def test_run_panel_counts_worker_processes_and_threads_in_words(stored, threads, workers, expected):
    from merbench.folds.local import ProcessFolds
    from merbench.report import print_result

    plan = {"executor": "ProcessFolds", "description": ProcessFolds(workers + 1, adaptive=True).description,
            "threads_per_fold": threads}
    console = Console(width=200, color_system=None, file=io.StringIO())
    print_result(console, RunResult.from_dict({**stored[1][0], "engine_plan": plan}))
    assert expected in console.file.getvalue()


def test_a_long_name_in_a_small_tables_title_or_caption_is_not_cut():
    name = "timm:vit_small_patch16_224.augreg_in21k_ft_in1k"
    run_id = "20261203-225649-72e17f-and-a-long-suffix"
    table = DataTable(f"Options of {name} per profile", [Column("Option"), Column("quick")],
                      caption=f"this table again: merbench compare {run_id}")
    table.add_row("pretrained", "False")
    console = Console(width=80, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    out = console.file.getvalue()
    assert name in out and run_id in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_a_caption_wrapped_under_a_table_starts_each_line_at_the_left_edge():
    from rich.console import Console

    from merbench.tables import Column, DataTable

    table = DataTable("Runs", [Column("ID"), Column("Status")],
                      caption="UF1, Acc: pooled, in % (first seed). Continue an interrupted run with `merbench run "
                              "--resume ID`; see one with `merbench show ID`.")
    table.add_row("20261204-090043-cc1a28", "failed")
    console = Console(width=80, record=True, force_terminal=True)
    console.print(table.for_terminal(80))
    lines = console.export_text().splitlines()
    caption = lines[lines.index(next(line for line in lines if "UF1, Acc" in line)):]
    assert len(caption) > 1 and all(line == line.lstrip() for line in caption if line.strip())


def test_progress_bars_at_80_columns_keep_counts_and_times_whole_with_a_long_description():
    from rich.console import Console

    from merbench.progress import RichProgress

    console = Console(width=80, record=True, force_terminal=True)
    progress = RichProgress(console)
    progress.start("preprocess", 60, "Preprocessing synthetic (crop, apex, magnify, apex-frame)")
    progress.advance("preprocess", 38)
    console.print(progress._progress.get_renderable())
    text = console.export_text()
    assert "…" not in text and "38/60" in text and "0:00:0" in text
    words = text.split()
    assert all(word in words for word in ("(crop,", "apex,", "magnify,", "apex-frame)")), "wrapped between names only"
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_path_an_output_was_written_to_is_never_broken_in_a_narrow_terminal(stored, tmp_path):
    """On a real 40-column terminal (a pseudo-terminal), the "written to PATH" line keeps the path whole, so that it
    can be copied; the terminal, not merbench, wraps it."""
    import os
    import pty
    import subprocess
    import sys

    target = tmp_path / "a-long-folder-name-for-the-reports" / "report-with-a-long-name.html"
    target.parent.mkdir()
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "40", "LINES": "24", "TERM": "xterm"}
    done = subprocess.run([sys.executable, "-m", "merbench", "report", "--store", str(stored[0]), "--output",
                           str(target)], stdin=follower, stdout=follower, stderr=follower, env=env, timeout=120)
    os.close(follower)
    said = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: everything was read
            break
        if not chunk:
            break
        said += chunk
    os.close(leader)
    assert done.returncode == 0, said
    import re

    assert str(target) in re.sub(r"\x1b\[[0-9;]*m", "", said.decode(errors="replace")), said


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_output_in_an_encoding_without_merbenchs_symbols_is_printed_not_a_traceback(encoding):
    # info prints ⚠ and ±: a Windows code page (output redirected to a file) or ascii has neither
    env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "merbench", "info", "convmixer"], capture_output=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode(encoding, "replace")[-2000:]
    text = done.stdout.decode(encoding)  # the chosen encoding, a character it lacks shown as ?
    assert "Reported by the paper" in text and "sample-10fold ?" in text, text[-2000:]


def test_a_file_or_pipe_whose_encoding_lacks_a_character_gets_utf8(monkeypatch):
    from merbench.tables import take_any_text

    monkeypatch.delenv("PYTHONIOENCODING", raising=False)
    written = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(written, encoding="cp1252"))
    take_any_text()
    sys.stdout.write("⚠ 微表情 ± 1.5\n")
    sys.stdout.flush()
    assert written.getvalue().decode("utf-8") == "⚠ 微表情 ± 1.5\n"


def test_an_option_without_a_default_reads_unset_in_info_as_in_datasets_list(run_cli):
    """`info timm:resnet18` showed an empty cell for `weights` in every profile, where datasets list wrote (unset)."""
    plain = run_cli("--format", "plain", "info", "timm:resnet18").out
    assert "weights     (unset)  (unset)  (unset)" in plain


def test_info_prints_a_plugins_text_without_colouring_its_numbers_and_brackets(run_cli, monkeypatch):
    """Rich's highlighter coloured the year, the doi's digits and the brackets of a model's description and citation."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    out = run_cli("--format", "table", "info", "convmixer").out
    head = out.split("Options of convmixer")[0]
    assert "doi:10.1109/ACCESS.2024.3525151" in head and "Talib et al. 2025" in head, head


def test_no_command_colours_numbers_or_brackets_it_did_not_style(run_cli, monkeypatch, fresh_cache):
    """Rich's highlighter, on by default, coloured every number, bracket and quote of plain lines on a terminal."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = run_cli("datasets", "check", "synthetic", "--set", "dataset.subjects=2", "dataset.domains=1",
                  "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8").out
    [line] = [line for line in out.splitlines() if "usable:" in line]
    assert line.endswith("usable:\x1b[0m 6 samples, 2 subjects"), repr(line)  # styled where merbench styles it
