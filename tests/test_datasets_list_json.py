"""``merbench datasets list --json``: every dataset plugin with whether it needs --root and its options' defaults,
the same records ``merbench list datasets --json`` gives."""

from __future__ import annotations

import json

from piped_rows import piped_rows


def test_datasets_list_json_names_each_dataset_its_root_and_its_option_defaults(run_cli):
    listed = run_cli("datasets", "list", "--json")
    assert listed.code == 0, listed.err
    records = {record["name"]: record for record in json.loads(listed.out)["datasets"]}
    assert records["synthetic"]["needs_root"] is False and records["casme2"]["needs_root"] is True
    assert records["synthetic"]["options"]["preset"] == "real"
    assert records["manifest"]["options"]["manifest"] == ""  # no default: the table's "(unset)"
    table = run_cli("--format", "plain", "datasets", "list")
    for name, record in records.items():  # the table's options are the JSON's
        [row] = [row for row in piped_rows(table.out) if row.startswith(f"{name} ")]
        shown = ", ".join(f"{key}={value if value not in ('', []) else '(unset)'}"
                          for key, value in record["options"].items())
        assert row.endswith(shown), (row, shown)
    assert json.loads(run_cli("list", "datasets", "--json").out)["datasets"] == list(records.values())


def test_an_option_default_json_has_no_type_for_is_written_as_its_text():
    from pathlib import Path

    from merbench.commands.list import listing_json

    assert json.loads(listing_json({"datasets": [{"options": {"root": Path("/data/x")}}]})) == \
        {"datasets": [{"options": {"root": "/data/x"}}]}
