"""The score tables in README.md and docs/ are what their baseline files render (benchmarks/render_tables.py)."""

from __future__ import annotations

import copy
import importlib.util
import re
import shutil
from pathlib import Path

import pytest
import yaml

from merbench.errors import UsageError
from merbench.registry import get_registry
from merbench.rendered_tables import MARKER, render_text, stale_files

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def load_script():
    spec = importlib.util.spec_from_file_location("render_tables", ROOT / "benchmarks" / "render_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_tables_match_their_baselines():
    marked = [path for path in DOCUMENTS if MARKER.search(path.read_text(encoding="utf-8"))]
    assert ROOT / "README.md" in marked and len(marked) >= 3
    assert stale_files(marked, ROOT, get_registry()) == [], "run `python benchmarks/render_tables.py` and commit"


def test_readme_tables_carry_their_provenance():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    kinds = {match["kind"] for match in MARKER.finditer(text)}
    assert {"main", "models", "protocols", "leakage"} <= kinds
    for match in MARKER.finditer(text):
        body = match["body"]
        if match["kind"] == "leakage":
            assert "rendered from `benchmarks/leakage/" in body and " leakage --model " in body
        else:
            assert "Rendered from `benchmarks/baselines/" in body and "merbench regress --baseline" in body
        assert "| `" in body  # a table row with a model name, not an empty marker


@pytest.fixture
def tree(tmp_path):
    """A copy of the synthetic-default baseline and a document whose tables it renders."""
    (tmp_path / "baselines").mkdir()
    shutil.copy(ROOT / "benchmarks" / "baselines" / "synthetic-default.yaml", tmp_path / "baselines" / "b.yaml")
    document = tmp_path / "doc.md"
    document.write_text("# Scores\n\n<!-- merbench:table models baselines/b.yaml -->\n<!-- /merbench:table -->\n\ntext after\n")
    document.write_text(render_text(document.read_text(), tmp_path, get_registry()))
    return tmp_path, document


def _with_first_entry(root, change) -> dict:
    """The tree's baseline with ``change(entry)`` applied to its first entry (written back); returns that entry."""
    baseline = root / "baselines" / "b.yaml"
    data = yaml.safe_load(baseline.read_text())
    change(data["entries"][0])
    baseline.write_text(yaml.safe_dump(data, sort_keys=False))
    return data["entries"][0]


def _rendered(root, kind: str) -> str:
    return render_text(f"<!-- merbench:table {kind} baselines/b.yaml -->\n<!-- /merbench:table -->\n", root,
                       get_registry())


def test_a_changed_baseline_makes_the_committed_table_stale(tree):
    root, document = tree
    assert stale_files([document], root, get_registry()) == []
    baseline = root / "baselines" / "b.yaml"
    data = yaml.safe_load(baseline.read_text())
    data["entries"][1]["metrics"]["uf1"]["expected"] = round(data["entries"][1]["metrics"]["uf1"]["expected"] - 0.1, 4)
    runs = data["entries"][1]["derived"]["values"]
    runs["uf1"] = [round(value - 0.1, 4) for value in runs["uf1"]]  # re-derived: runs and band move together
    baseline.write_text(yaml.safe_dump(data, sort_keys=False))
    assert stale_files([document], root, get_registry()) == [document]
    rendered = render_text(document.read_text(), root, get_registry())
    assert "text after" in rendered and rendered.count("<!-- /merbench:table -->") == 1


def test_hand_edited_numbers_are_noticed(tree):
    root, document = tree
    text = document.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `ststnet`"))
    document.write_text(text.replace(row, row.replace("|", "| 99.9 |", 2).replace("| 99.9 |", "|", 1)))
    assert stale_files([document], root, get_registry()) == [document]


def test_the_script_checks_and_rewrites(tree, capsys):
    root, document = tree
    script = load_script()
    clean = document.read_text()
    document.write_text(clean.replace("| `ststnet` |", "| `ststnet` (edited) |"))
    assert script.main(["--check", "--root", str(root), str(document)]) == 1
    assert "stale" in capsys.readouterr().out
    assert script.main(["--root", str(root), str(document)]) == 0
    assert document.read_text() == clean
    assert script.main(["--check", "--root", str(root), str(document)]) == 0


@pytest.mark.parametrize("marker, message", [
    ("<!-- merbench:table nonsense baselines/b.yaml -->\n<!-- /merbench:table -->", "unknown table kind 'nonsense'"),
    ("<!-- merbench:table models baselines/missing.yaml -->\n<!-- /merbench:table -->", "does not exist"),
])
def test_bad_markers_are_clear_errors(tree, marker, message):
    root, _ = tree
    with pytest.raises(UsageError, match=message):
        render_text(marker, root, get_registry(), "doc.md")


OPEN = "<!-- merbench:table models baselines/b.yaml -->"
CLOSE = "<!-- /merbench:table -->"


@pytest.mark.parametrize("document, message", [
    (f"# Scores\n\n{OPEN}\nold table\n", "line 3: the merbench:table marker is never closed"),
    (f"{OPEN}\n{CLOSE}\n{OPEN}\n", "line 3: the merbench:table marker is never closed"),
    (f"{OPEN}\nold\n{OPEN}\n{CLOSE}\n", "line 1: the merbench:table marker is not closed before the one on line 3"),
    (f"text\n\n{CLOSE}\n", "line 3: <!-- /merbench:table --> closes no table"),
    (f"{OPEN}\n{CLOSE}\n{CLOSE}\n", "line 3: <!-- /merbench:table --> closes no table"),
    ("<!-- merbench:table models -->\n<!-- /merbench:table -->\n", "line 1: malformed merbench:table marker"),
], ids=["unclosed", "unclosed-last", "opened-twice", "stray-close", "closed-twice", "malformed"])
def test_unpaired_markers_are_errors_naming_their_line(tree, document, message):
    root, _ = tree
    with pytest.raises(UsageError, match=f"^doc.md, {re.escape(message)}"):
        render_text(document, root, get_registry(), "doc.md")


def test_a_marker_mentioned_inside_a_sentence_is_not_one(tree):
    root, _ = tree
    text = f"Tables sit between `{OPEN}` and `{CLOSE}` markers.\n"
    assert render_text(text, root, get_registry()) == text


def test_the_check_fails_on_an_unclosed_marker(tree, capsys):
    root, document = tree
    document.write_text(document.read_text().replace(CLOSE, "") + "\n")
    assert load_script().main(["--check", "--root", str(root), str(document)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"render_tables: error: {document}, line 3: ") and "\n" not in err


@pytest.mark.parametrize("name, message", [
    ("missing.md", "missing.md: no such file"),
    ("baselines", "baselines: is a folder"),
    ("latin1.md", "latin1.md: not UTF-8 text (byte 3)"),
], ids=["missing", "folder", "not-utf8"])
def test_unreadable_documents_are_one_line_errors(tree, capsys, name, message):
    root, _ = tree
    (root / "latin1.md").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match=re.escape(message)):
        stale_files([root / name], root, get_registry())
    assert load_script().main(["--check", "--root", str(root), str(root / name)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("render_tables: error: ") and message in err and "\n" not in err


def test_model_names_with_backticks_and_pipes_stay_in_their_code_spans(tree):
    root, _ = tree
    baseline = root / "baselines" / "b.yaml"
    data = yaml.safe_load(baseline.read_text())
    data["entries"][0]["model"] = "net`x|y"
    baseline.write_text(yaml.safe_dump(data, sort_keys=False))
    text = render_text("<!-- merbench:table guard baselines/b.yaml -->\n<!-- /merbench:table -->\n", root, get_registry())
    assert "| ``net`x\\|y`` | `" in text
    markdown_it = pytest.importorskip("markdown_it")
    page = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    assert "<td><code>net`x|y</code></td>" in page
    assert len({row.count("<td") for row in page.split("<tr>")[2:]}) == 1


def test_a_baseline_without_derived_runs_cannot_be_rendered(tree):
    root, _ = tree
    baseline = root / "baselines" / "b.yaml"
    data = yaml.safe_load(baseline.read_text())
    del data["entries"][0]["derived"]
    baseline.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(UsageError, match="--update --seeds 3"):
        render_text("<!-- merbench:table models baselines/b.yaml -->\n<!-- /merbench:table -->", root, get_registry())


@pytest.mark.slow
def test_the_default_profile_baseline_still_holds(run_cli):
    """The README's main table, re-measured (about 13 minutes on a shared 2-core CPU): every entry within its band."""
    result = run_cli("--format", "plain", "regress", "--baseline", str(ROOT / "benchmarks" / "baselines" / "synthetic-default.yaml"),
                     "--quiet", "--no-store")
    assert result.code == 0, result.out


def test_a_checkout_elsewhere_renders_the_same_tables(tmp_path):
    """The provenance line names the baseline as the marker does, not as a path under the installed merbench: a
    clean clone checked with another clone's (or an installed) merbench was said to be stale."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "benchmarks", clone / "benchmarks")
    shutil.copy(ROOT / "README.md", clone / "README.md")
    assert stale_files([clone / "README.md"], clone, get_registry()) == []
    assert str(tmp_path) not in render_text((clone / "README.md").read_text(encoding="utf-8"), clone, get_registry())


def test_a_leaky_entry_is_marked_in_every_table_and_the_main_command_names_its_settings(tree):
    root, _ = tree

    def leaky(entry):
        entry["set"] = {**(entry.get("set") or {}), "engine.select_on": "test"}
        entry["leaky"] = True

    first = _with_first_entry(root, leaky)
    note = "† a leaky entry (not subject-independent, or selection or normalisation on test data)"
    for kind in ("main", "models", "guard"):
        text = _rendered(root, kind)
        first_row = text.splitlines()[4]
        assert "engine.select_on=test" in first_row and "†" in first_row and note in text, (kind, text)
    main = _rendered(root, "main")
    assert f"--set engine.select_on=test` (seed {first.get('seed', 0)}) †" in main, main  # before: a plain command


def test_a_tables_std_is_the_written_one_that_merbench_info_shows(tree):
    root, _ = tree

    def std_unlike_its_values(entry):
        entry["derived"]["values"]["uf1"] = [0.5, 0.5219]  # these give 1.5 points, the std written beside them 1.6:
        entry["derived"]["std"]["uf1"] = 0.0155  # one rule (the written std) for README, docs and info
        entry["metrics"]["uf1"].update(expected=0.5110, tolerance=0.0465)  # the band these runs derive

    first = _with_first_entry(root, std_unlike_its_values)
    row = next(line for line in _rendered(root, "models").splitlines() if line.startswith(f"| `{first['model']}`"))
    assert row.split(" | ")[1].endswith("± 1.6"), row


def test_update_writes_a_std_with_the_digits_that_show_it_as_computed():
    from merbench.regress import Derivation

    derived = Derivation([0, 1], ["auto"], 3.0, 0.03, {"uf1": [0.5, 0.521864]}, 1.0, {}).to_dict()
    assert derived["std"]["uf1"] == pytest.approx(0.01546, abs=5e-6), derived["std"]  # before: 0.0155, shown 1.6


def test_the_main_tables_command_names_a_profile_other_than_the_default(tree):
    root, _ = tree
    first = _with_first_entry(root, lambda entry: entry.update(profile="quick"))
    main = _rendered(root, "main")
    assert f"--dataset {first.get('dataset', 'synthetic')} --profile quick" in main, main


def test_a_model_under_two_subject_independent_protocols_names_each_rows_protocol(tree):
    """Two `ststnet` rows, one per protocol, looked alike (no protocol column), both under the paper's scores."""
    root, _ = tree
    baseline = root / "baselines" / "b.yaml"
    data = yaml.safe_load(baseline.read_text())
    data["entries"].append({**copy.deepcopy(data["entries"][1]), "protocol": "loso"})
    baseline.write_text(yaml.safe_dump(data, sort_keys=False))
    text = _rendered(root, "models")
    assert "| `ststnet` (`subject-10fold`) |" in text and "| `ststnet` (`loso`) |" in text
    assert "| `convmixer` (`subject-10fold`) |" in text


def test_a_marker_naming_a_file_that_is_no_baseline_names_the_document_not_an_option(tree):
    root, _ = tree
    (root / "baselines" / "x.yaml").write_text("- just\n- a list\n")
    with pytest.raises(UsageError) as refused:
        render_text("<!-- merbench:table models baselines/x.yaml -->\n<!-- /merbench:table -->", root, get_registry(),
                    "doc.md")
    assert str(refused.value).startswith(f"doc.md: marker file {root / 'baselines' / 'x.yaml'}")
    assert "--baseline" not in str(refused.value)
