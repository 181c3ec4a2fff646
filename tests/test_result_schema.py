"""The result JSON keeps its schema: the keys and value types of ``merbench run --json`` (docs/design.md, Result schema).

``tests/result_schema.json`` was taken from a run of merbench before its results were
given a type; a change to what ``--json`` writes fails here until the file is
regenerated on purpose (``python tests/test_result_schema.py RESULT.json``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("result_schema.json")
# Echoes of the run's options, environment and dataset: their keys are the plugins' and the machine's, not the schema's.
OPAQUE = {"config", "dataset_summary", "plugins", "per_domain", "preprocess"}
# Scalars whose kind depends on the machine (no git checkout, one core): any scalar will do.
MACHINE = {"git_commit", "workers", "group_size", "threads_per_fold"}
TINY = ["--set", "dataset.subjects=6", "dataset.clips_per_subject=6", "protocol.n_splits=3", "engine.epochs=2"]


def schema_of(value: Any, key: str = "") -> Any:
    """The shape of a JSON value: objects by key, lists by the union of their items, numbers as ``number``."""
    if key in MACHINE and not isinstance(value, (dict, list)):
        return "scalar"
    if isinstance(value, dict):
        if key in OPAQUE:
            return "object"
        return {k: schema_of(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [schema_of(item) for item in value]
        merged: Any = None
        for item in items:
            merged = item if merged is None else _union(merged, item)
        return [merged] if merged is not None else []
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


def _union(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _union(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in sorted(set(a) | set(b))}
    if isinstance(a, list) and isinstance(b, list):
        return [_union(a[0], b[0])] if a and b else a or b
    if a == b:
        return a
    kinds = set(a.split("|") if isinstance(a, str) else [json.dumps(a)]) | set(
        b.split("|") if isinstance(b, str) else [json.dumps(b)])
    return "|".join(sorted(kinds))


def test_run_json_keeps_the_schema_of_the_untyped_result(run_cli, tmp_path):
    target = tmp_path / "result.json"
    result = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--seeds",
                     "2", "--store", str(tmp_path / "results.sqlite"), "--json", str(target), *TINY)
    assert result.code == 0, result.err
    written = json.loads(target.read_text())
    assert schema_of(written) == json.loads(SCHEMA_FILE.read_text())
    shown = tmp_path / "shown.json"
    assert run_cli("show", written["run_id"], "--store", str(tmp_path / "results.sqlite"), "--json", str(shown)).code == 0
    assert json.loads(shown.read_text()) == written


if __name__ == "__main__":
    SCHEMA_FILE.write_text(json.dumps(schema_of(json.loads(Path(sys.argv[1]).read_text())), indent=1, sort_keys=True) + "\n")
