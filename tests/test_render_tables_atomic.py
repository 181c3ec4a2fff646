"""benchmarks/render_tables.py renders every document before it writes any: a marker that cannot be rendered
leaves all of them as they were, and the error names the document and the marker's line."""

from __future__ import annotations

import shutil

import pytest
import yaml

from test_rendered_tables import ROOT, load_script

KINDS = ("guard", "main", "models")


@pytest.fixture
def documents(tmp_path):
    """Stale documents rendering ``b.yaml``, and a last one whose 'protocols' table names ``up.yaml`` (one protocol)."""
    shutil.copy(ROOT / "benchmarks" / "baselines" / "synthetic-default.yaml", tmp_path / "b.yaml")
    data = yaml.safe_load((tmp_path / "b.yaml").read_text())
    data["entries"] = [entry for entry in data["entries"] if "protocol" not in entry]
    (tmp_path / "up.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    paths = []
    for kind in KINDS:
        paths.append(tmp_path / f"d_{kind}.md")
        paths[-1].write_text(f"# {kind}\n\n<!-- merbench:table {kind} b.yaml -->\nstale\n<!-- /merbench:table -->\n")
    paths.append(tmp_path / "d_protocols.md")
    paths[-1].write_text("# Protocols\n\ntext\n\n<!-- merbench:table protocols up.yaml -->\nold\n<!-- /merbench:table -->\n")
    return tmp_path, paths


def test_a_failing_document_leaves_every_document_unwritten(documents, capsys):
    root, paths = documents
    before = [path.read_bytes() for path in paths]
    assert load_script().main(["--root", str(root), *map(str, paths)]) == 2
    captured = capsys.readouterr()
    assert [path.read_bytes() for path in paths] == before
    assert "rewritten" not in captured.out
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"render_tables: error: {paths[-1]}, line 5: up.yaml: no model has entries under two "
                          "protocols; a 'protocols' table needs them"), err
    assert err.endswith("; no document was rewritten")


def test_an_error_inside_a_document_names_its_marker_line(documents, capsys):
    root, paths = documents
    paths[1].write_text(paths[1].read_text() + "\n<!-- merbench:table models gone.yaml -->\n<!-- /merbench:table -->\n")
    assert load_script().main(["--check", "--root", str(root), str(paths[1])]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"render_tables: error: {paths[1]}, line 7: the baseline gone.yaml named by a merbench:table "
                   "marker does not exist")


def test_documents_that_all_render_are_all_rewritten(documents, capsys):
    root, paths = documents
    script = load_script()
    assert script.main(["--root", str(root), *map(str, paths[:-1])]) == 0
    assert capsys.readouterr().out.split("\n")[:-1] == [f"rewritten: {path}" for path in paths[:-1]]
    assert all("stale" not in path.read_text() for path in paths[:-1])
    assert script.main(["--check", "--root", str(root), *map(str, paths[:-1])]) == 0
