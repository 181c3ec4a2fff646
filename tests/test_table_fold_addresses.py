"""One web address in one plugin's description (``see https://github.com/someone/merbench-protocols``) made the
Description column at least 45 cells wide, so an 80-column terminal's ``merbench list protocols`` dropped Options
and Provider for every protocol. A table now folds file paths and addresses (as its last text column already did)
before it drops a column, and still prefers a layout that breaks nothing when one shows every column."""

from __future__ import annotations

import io

from rich.console import Console

from merbench.tables import TEXT, Column, DataTable, print_table

ADDRESS = "https://github.com/someone/merbench-protocols"


def listing(description: str) -> DataTable:
    table = DataTable("Protocols", [Column("Name", style="bold"), Column("Description", TEXT),
                                    Column("Indep."), Column("Options", TEXT)])
    table.add_row("p6", description, "no", "protocol.n_splits=5")
    table.add_row("subject-10fold", "Stratified 10-fold grouped by subject (subject-independent; merbench's "
                  "standard)", "yes", "protocol.n_splits=10")
    return table


def printed(table: DataTable, width: int = 80) -> str:
    console = Console(width=width, force_terminal=True, color_system=None, file=io.StringIO())
    print_table(console, table)
    return console.file.getvalue()


def column_text(out: str, index: int) -> str:
    return "".join(line.split("│")[index].strip() for line in out.splitlines() if line.startswith("│"))


def test_an_address_in_a_description_folds_instead_of_hiding_the_options():
    out = printed(listing(f"Subjects in groups, see {ADDRESS}"))
    assert "Not shown" not in out and "Options" in out, out
    assert "protocol.n_splits=5" in out and "protocol.n_splits=10" in out
    assert ADDRESS in column_text(out, 2), out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_a_table_whose_every_word_fits_keeps_them_whole():
    out = printed(listing("Subjects in groups"))
    assert "Not shown" not in out and "Stratified 10-fold" in out
    assert all(word in out for word in ("(subject-independent;", "standard)", "protocol.n_splits=10"))


PLUGIN = f'''
from merbench.contracts import ProtocolPlugin
from merbench.hookspecs import hookimpl


def split(labels, subjects, seed, options, domains):
    raise AssertionError("not split here")


@hookimpl
def merbench_register_protocols(register):
    register(ProtocolPlugin(name="p6", split=split, description="Subjects in groups, see {ADDRESS}",
                            subject_independent=True))
'''


def test_merbench_list_protocols_at_80_columns_keeps_the_options_beside_an_address(install_plugin, run_cli, monkeypatch):
    install_plugin("merbench-p6", "p6", "merbench_p6_protocols", PLUGIN)
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", "list", "protocols")
    assert result.code == 0, result.err
    assert "protocol.n_splits=10" in result.out and "Options" in result.out.split("┡")[0], result.out
    assert "Not shown at this width: Provider (" in " ".join(result.out.split()), result.out
