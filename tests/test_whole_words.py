"""Names, ids and class labels are never broken inside a word at any terminal width: wide (CJK) characters are
measured as the two cells they take, a narrow text column folds file paths only, a column a table needs prints as a
block per row rather than broken, a block's long value continues on indented lines, and the progress bars give a
stage's description its longest word."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from merbench.progress import RichProgress
from merbench.tables import TEXT, Column, DataTable, hanging_lines, print_item, print_table

SUBJECTS = [f"参与者编号s{number:02d}" for number in range(1, 11)]


def terminal(width: int) -> Console:
    return Console(width=width, force_terminal=True, color_system=None, file=io.StringIO())


def shown(table: DataTable, width: int) -> str:
    console = terminal(width)
    print_table(console, table)
    return console.file.getvalue()


def subject_table() -> DataTable:
    table = DataTable("Samples per subject", [Column("subject"), Column("惊讶 surprise", justify="right"),
                                              Column("高兴", justify="right"), Column("total", justify="right")])
    for number, subject in enumerate(SUBJECTS):
        table.add_row(subject, str(number), "1", str(number + 1))
    return table


@pytest.mark.parametrize("width", [60, 80, 120])
def test_wide_characters_are_measured_as_the_cells_they_take(width):
    out = shown(subject_table(), width)
    for subject in SUBJECTS:  # each id whole on its own row: before, every row read 参与者编
        assert sum(subject in line for line in out.splitlines()) == 1, out
    assert "惊讶 surprise" in out and "高兴" in out


def test_plain_rows_of_wide_characters_line_up_by_display_width():
    from rich.cells import cell_len

    lines = subject_table().plain_lines()[1:]
    header, rows = lines[0], lines[1:]
    assert {cell_len(line) for line in [header, *rows]} == {cell_len(header)}, lines  # numbers end under headers
    assert header.endswith("total") and rows[0].endswith(" 1")


@pytest.mark.parametrize("width", [50, 60, 80])
def test_a_narrow_text_column_is_dropped_rather_than_break_a_name(width):
    name = "my-very-long-experimental-convmixer-variant-v2"
    table = DataTable("Plugins", [Column("Entry point"), Column("Status"), Column("Registers", TEXT)])
    table.add_row("a-third-party-plugin-entry-point", "ok", f"models: {name}, convmixer")
    out = shown(table, width)
    cells = [line.strip("│ ") for line in out.splitlines()]
    assert name in out or "Not shown at this width: Registers" in " ".join(out.split()), out
    assert not any(line.endswith("my-very-long-experimental-con") for line in cells)


@pytest.mark.parametrize("width", [50, 60, 80])
def test_a_column_the_table_needs_prints_as_blocks_rather_than_broken_or_dropped(width):
    name = "my-very-long-experimental-convmixer-variant-v2"
    table = DataTable("Plugins", [Column("Entry point"), Column("Status"), Column("Registers", TEXT, keep=True)])
    table.add_row("a-third-party-plugin-entry-point", "ok", f"models: {name}, convmixer")
    out = shown(table, width)
    assert name in out.split() or f"{name}," in out.split(), out
    assert "Not shown" not in out and max(len(line) for line in out.splitlines()) <= width


def test_a_long_path_still_folds_but_a_sample_id_with_a_slash_does_not():
    path = "/home/alice/data/CASME2/a-long-folder-name/CASME2-coding-20140508.xlsx"
    table = DataTable("T", [Column("key"), Column("value", TEXT)], show_header=False)
    table.add_row("annotation", path)
    assert "Not shown" not in shown(table, 50)
    ids = DataTable("T", [Column("key-column-that-is-wide-enough"), Column("value", TEXT)], show_header=False)
    ids.add_row("the clip that was skipped", "participant-[bold]s01[/]-recorded-at-second-site")
    assert "participant-[bold]s01[/]-recorded-at-second-site" in shown(ids, 100)
    narrow = shown(ids, 60)
    assert "Not shown at this width" in " ".join(narrow.split()) and "participant" not in narrow


def test_a_blocks_long_value_continues_on_indented_lines():
    lines = hanging_lines("  Setting: manifest · subject-10fold · quick · seed 0 · dataset.manifest=labels.csv", 40)
    assert lines[0].startswith("  Setting:") and all(line.startswith("      ") for line in lines[1:])
    assert " ".join(" ".join(lines).split()) == "Setting: manifest · subject-10fold · quick · seed 0 · " \
                                                "dataset.manifest=labels.csv"
    assert max(len(line) for line in lines) <= 40
    assert hanging_lines("short", 40) == ["short"]


def test_a_block_per_row_names_its_first_column_so_a_number_is_not_taken_for_a_name():
    table = DataTable("Outer folds", [Column("Fold", justify="right"), Column("a-long-identifier-of-a-column"),
                                      Column("another-long-identifier-of-a-column")])
    table.add_row("1", "configuration-that-was-chosen-in-fold-one", "x")
    out = shown(table, 40).splitlines()
    assert "Fold: 1" in out and "1" not in [line.strip() for line in out]


def bar_lines(width: int, stages: list[tuple[str, int, str | None]]) -> list[str]:
    console = Console(width=width, record=True, force_terminal=True, color_system=None, file=io.StringIO())
    progress = RichProgress(console)
    for name, total, note in stages:
        progress.start(name, total, name)
        progress.advance(name, 1, note=note)
    console.print(progress._progress.get_renderable())
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [60, 70, 80])
def test_progress_bars_keep_dataset_and_protocol_names_whole(width):
    lines = bar_lines(width, [("Preprocessing synthetic (flow)", 60, None), ("Folds (subject-10fold)", 10, None),
                              ("Fold 10/10 epochs", 3, "loss 0.821")])
    words = " ".join(lines).split()
    assert {"Preprocessing", "synthetic", "(flow)", "(subject-10fold)"} <= set(words), lines
    assert max(len(line) for line in lines) <= width
    assert all("0:00:00" in line for line in lines if "━" in line), lines  # counts and times never cropped


def test_a_note_gives_way_to_a_long_name_rather_than_crop_the_times():
    name = "Preprocessing my-very-long-micro-expression-corpus-v3 (flow)"
    lines = bar_lines(80, [(name, 60, None), ("Fold 10/10 epochs", 3, "loss 0.821")])
    assert "my-very-long-micro-expression-corpus-v3" in " ".join(lines).split(), lines
    assert all(line.rstrip().endswith(("0:00:00", "-:--:--")) for line in lines if "━" in line), lines
    wide = bar_lines(120, [(name, 60, None), ("Fold 10/10 epochs", 3, "loss 0.821")])
    assert any("loss 0.821" in line for line in wide), wide


def test_a_listed_items_continuation_is_indented_under_it_on_a_terminal_and_one_line_in_a_pipe():
    """`merbench regress`'s paper-reported scores: a wrapped item continued at column 0 read as an item of its own."""
    note = "  ststnet uf1: measured 34.9 %, paper 73.53 % (megc2019 · megc2019; different data and protocol [red]x[/])"
    console = terminal(60)
    print_item(console, note)
    lines = console.file.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("  ststnet") and lines[1].startswith("      megc2019;")
    assert " ".join(" ".join(lines).split()) == " ".join(note.split())  # every word whole, markup as written
    piped = Console(width=60, force_terminal=False, soft_wrap=True, color_system=None, file=io.StringIO())
    print_item(piped, note)
    assert piped.file.getvalue() == note + "\n"


def test_a_title_wider_than_its_table_is_one_line_above_it_not_split_over_the_tables_width():
    """`info convmixer` at 80 columns: "Options of convmixer per profile (--set" / "model.KEY=VALUE)" over a narrow
    table, an option's name split from its form, and captions squeezed into blocks as narrow as the table."""
    table = DataTable("Options of convmixer per profile (--set model.KEY=VALUE)", [Column("Option"), Column("quick")],
                      caption="Source: a caption a good deal wider than this two-column table of options.")
    table.add_row("dim", "16")
    lines = shown(table, 80).splitlines()
    assert lines[0].strip() == "Options of convmixer per profile (--set model.KEY=VALUE)"
    assert lines[-1].strip() == "Source: a caption a good deal wider than this two-column table of options."
    assert any("│ dim" in line for line in lines)
