"""``merbench cache``: its table at 80 columns and in a pipe, and a MERBENCH_CACHE that is not a folder."""

from __future__ import annotations

import json

import pytest

BOX = set("┃│━─┏┓┗┛┡┩└┘╇╋┳┻")
ELLIPSIS = "…"
TINY = ["--set", "dataset.subjects=2", "dataset.clips_per_subject=3", "dataset.size=32", "dataset.frames=8"]


@pytest.fixture
def filled_cache(run_cli, fresh_cache, tmp_path):
    """A cache holding one tiny preprocessed dataset; returns ``cache info``'s JSON row for it."""
    result = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY)
    assert result.code == 0, result.err
    target = tmp_path / "info.json"
    assert run_cli("cache", "info", "--json", str(target)).code == 0
    [row] = json.loads(target.read_text())["chains"]
    assert len(row["params"]) > 60, "the parameters must be longer than their room at 80 columns"
    return row


def test_cache_info_at_80_columns_wraps_the_parameters_and_cuts_nothing(filled_cache, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("--format", "table", "cache", "info")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert ELLIPSIS not in result.out
    assert max(len(line) for line in lines) <= 80
    assert BOX & set(result.out), "expected a Rich table on a terminal"
    rows = [line for line in lines if line.startswith("│")]
    assert rows[0].split("│")[1].strip() == "synthetic" and "6/6" in rows[0]
    parameters = " ".join(line.split("│")[-2] for line in rows)  # the last column, wrapped over lines
    assert "".join(parameters.split()) == "".join(filled_cache["params"].split()), "every character is shown"


@pytest.mark.parametrize("flags", [[], ["--format", "plain"]])
def test_cache_info_in_a_pipe_is_plain_rows_with_whole_parameters(filled_cache, run_cli, monkeypatch, flags):
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli(*flags, "cache", "info")
    assert result.code == 0, result.err
    assert not BOX & set(result.out) and ELLIPSIS not in result.out
    [row] = [line for line in result.out.splitlines() if line.startswith("synthetic ")]
    written = filled_cache["written"][:19].split("T")
    assert row.split()[:7] == ["synthetic", "flow", filled_cache["produces"], "3×16×16", *written, "6/6"]
    assert row.endswith(filled_cache["params"])


def test_cache_info_of_an_empty_cache_says_so(run_cli, fresh_cache):
    result = run_cli("cache", "info")
    assert result.code == 0, result.err
    assert f"No preprocessed inputs in {fresh_cache}." in result.out
    assert not fresh_cache.exists(), "reading the cache creates no folder"


def test_a_generation_killed_midway_leaves_a_folder_that_info_counts_and_clear_removes(filled_cache, run_cli,
                                                                                        fresh_cache, tmp_path):
    """A run killed (SIGKILL) while generating the synthetic data leaves its hidden temporary folder behind."""
    left = fresh_cache / "synthetic" / ".0123456789abcdef.k1ll3d"
    (left / "clips").mkdir(parents=True)
    (left / "clips" / "frame.png").write_bytes(b"x" * 1000)
    (fresh_cache / "preprocess" / ".entry.npy.123.tmp").write_bytes(b"y" * 24)
    target = tmp_path / "info.json"
    info = run_cli("cache", "info", "--json", str(target))
    assert info.code == 0, info.err
    assert "2 temporary files or folders (1.0 KiB, left by interrupted writes; `merbench cache clear --yes` removes " \
           "them)" in " ".join(info.out.split())
    summary = json.loads(target.read_text())
    assert (summary["temporary_files"], summary["temporary_bytes"]) == (2, 1024)
    assert run_cli("cache", "clear", "--yes").code == 0 and not left.exists()


# ------------------------------------------------------------------ MERBENCH_CACHE is not a folder

RUN = ["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store", *TINY]


@pytest.mark.parametrize("command", [["cache", "info"], ["cache", "clear", "--yes"], RUN,
                                     ["preprocess", "--dataset", "synthetic", "--quiet", *TINY]])
@pytest.mark.parametrize("under", [False, True])
def test_a_cache_path_that_is_a_file_is_one_clear_error(command, under, run_cli, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("someone's file\n")
    cache = blocker / "cache" if under else blocker
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    result = run_cli(*command)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err and "FileExistsError" not in result.err
    text = " ".join(result.err.split())
    assert f"MERBENCH_CACHE={cache}" in text and "not a folder" in text
    assert (f"lies under {blocker}, which is a file" if under else "is a file") in text
    assert "point MERBENCH_CACHE at a folder" in text
    assert len(result.err.strip().splitlines()) <= 3, "one message"
    assert blocker.read_text() == "someone's file\n"


@pytest.mark.parametrize("command", [["cache", "info"], ["cache", "clear", "--yes"], RUN,
                                     ["preprocess", "--dataset", "synthetic", "--quiet", *TINY]])
@pytest.mark.parametrize("under", [False, True])
def test_a_cache_path_that_is_a_broken_link_names_the_link_and_its_target(command, under, run_cli, tmp_path,
                                                                          monkeypatch):
    """A cache linked to a drive that is not mounted: once "cannot create the folder (File exists)", and `cache info`
    described it as an empty cache."""
    target = tmp_path / "unmounted" / "cache"
    link = tmp_path / "cachelink"
    link.symlink_to(target)
    cache = link / "merbench" if under else link
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    result = run_cli(*command)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err and "File exists" not in result.err and not result.out
    where = f"lies under {link}, which is" if under else "is"
    assert " ".join(result.err.split()) == (
        f"merbench: error: the cache MERBENCH_CACHE={cache} {where} a broken symbolic link (to {target}, which does "
        "not exist): create that folder (is its drive mounted?), or point MERBENCH_CACHE elsewhere")
    assert not (tmp_path / "unmounted").exists() and link.is_symlink()


def test_a_cache_folder_that_cannot_be_created_is_one_clear_error(monkeypatch):
    from pathlib import Path

    from merbench.cache import cache_root
    from merbench.errors import UsageError

    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, where no folder can be created (even by root)")
    monkeypatch.setenv("MERBENCH_CACHE", "/proc/merbench-no-such/cache")
    assert cache_root(create=False) == Path("/proc/merbench-no-such/cache")
    with pytest.raises(UsageError, match="MERBENCH_CACHE=/proc/merbench-no-such/cache: cannot create the folder .*"
                                         "point MERBENCH_CACHE at a folder"):
        cache_root()


@pytest.mark.parametrize("command", [["run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick",
                                      "--no-store", "--quiet", *TINY],
                                     ["preprocess", "--dataset", "synthetic", "--quiet", *TINY]])
def test_commands_that_fill_a_cache_folder_that_cannot_be_created_say_so(command, run_cli, monkeypatch):
    from pathlib import Path

    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, where no folder can be created (even by root)")
    monkeypatch.setenv("MERBENCH_CACHE", "/proc/merbench-no-such/cache")
    result = run_cli(*command)
    assert result.code == 2 and "Traceback" not in result.err
    assert "MERBENCH_CACHE=/proc/merbench-no-such/cache: cannot create the folder" in " ".join(result.err.split())


# ------------------------------------------------------------------ clear removes merbench's folders only


def test_clear_refuses_a_folder_of_the_users_own_named_like_a_cache_part(run_cli, fresh_cache):
    """MERBENCH_CACHE pointed by mistake at a folder of one's own that has a preprocess/ or synthetic/ folder."""
    notes = fresh_cache / "preprocess" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("my thesis notes")
    faces = fresh_cache / "synthetic" / "faces"
    faces.mkdir(parents=True)
    info = run_cli("cache", "info")
    assert info.code == 0 and "preprocess/: not merbench's: it holds notes.txt" in " ".join(info.out.split())
    for flags in ([], ["--yes"], ["--only", "synthetic", "--yes"]):
        result = run_cli("cache", "clear", *flags)
        assert result.code == 2 and "was not made by merbench" in result.err and "nothing was removed" in result.err
    assert notes.read_text() == "my thesis notes" and faces.is_dir()


def test_clear_of_a_cache_part_that_is_a_link_empties_it_and_keeps_the_link(filled_cache, run_cli, fresh_cache,
                                                                             tmp_path):
    bigger_disk = tmp_path / "disk" / "preprocess"
    bigger_disk.parent.mkdir()
    (fresh_cache / "preprocess").rename(bigger_disk)
    (fresh_cache / "preprocess").symlink_to(bigger_disk)
    assert run_cli("cache", "clear", "--only", "preprocess", "--yes").code == 0
    assert (fresh_cache / "preprocess").is_symlink() and bigger_disk.is_dir() and not any(bigger_disk.iterdir())
    assert not list(fresh_cache.glob(".*deleting*"))


def test_clear_of_a_linked_part_keeps_the_users_hidden_files_there(filled_cache, run_cli, fresh_cache, tmp_path):
    """Any hidden name counted as merbench's, so a user's `.notes` in the linked folder was deleted."""
    bigger_disk = tmp_path / "disk" / "preprocess"
    bigger_disk.parent.mkdir()
    (fresh_cache / "preprocess").rename(bigger_disk)
    (fresh_cache / "preprocess").symlink_to(bigger_disk)
    (bigger_disk / ".notes").write_text("mine")
    result = run_cli("cache", "clear", "--only", "preprocess", "--yes")
    assert result.code == 2 and "was not made by merbench" in result.err and ".notes" in result.err
    assert (bigger_disk / ".notes").read_text() == "mine" and any(bigger_disk.glob("??"))


def test_info_counts_only_the_leftovers_clear_removes(run_cli, fresh_cache):
    """A killed `merbench list` can leave model-facts/.x.tmp: info said clear removes it, and clear did not (it now
    does: model-facts/ is one of the parts clear empties). A user's hidden folder in a part is neither counted nor
    removed."""
    facts = fresh_cache / "model-facts"
    facts.mkdir(parents=True)
    (facts / ".ststnet.json.123.tmp").write_text("x")
    (fresh_cache / "preprocess").mkdir()
    (fresh_cache / "preprocess" / ".entry.npy.456.tmp").write_text("y")
    (fresh_cache / "elsewhere").mkdir()
    (fresh_cache / "elsewhere" / ".kept.tmp").write_text("z")  # outside the parts: neither counted nor removed
    info = " ".join(run_cli("cache", "info").out.split())
    assert "2 temporary files or folders" in info, info
    assert run_cli("cache", "clear", "--yes").code == 0
    assert "0 temporary files or folders" in " ".join(run_cli("cache", "info").out.split())
    assert not facts.exists() and (fresh_cache / "elsewhere" / ".kept.tmp").exists()
    (fresh_cache / "preprocess" / ".mine").mkdir(parents=True)  # the user's: clear refuses it, so info does not count it
    info = " ".join(run_cli("cache", "info").out.split())
    assert "0 temporary files or folders" in info and "not merbench's: it holds .mine" in info, info


def test_clear_that_cannot_remove_says_so_instead_of_removed(filled_cache, run_cli, fresh_cache, monkeypatch):
    import merbench.commands.cache as cache_command

    monkeypatch.setattr(cache_command, "_remove", lambda path: None)  # as on a read-only file system
    result = run_cli("cache", "clear", "--yes")
    assert result.code == 2 and "could not remove" in result.err and "Removed" not in result.out
    assert (fresh_cache / "preprocess").is_dir()


@pytest.mark.parametrize("index", ["[1, 2]", '{"entries": ["ab"], "signature": [{"name": "flow"}]}',
                                   '{"entries": 5}', '{"entries": "abc", "signature": []}',
                                   '{"entries": ["ab"], "signature": [], "shape": 7}'],
                         ids=["list", "no-version", "not-a-list", "text-entries", "number-shape"])
def test_cache_info_passes_over_an_index_it_did_not_write(filled_cache, run_cli, fresh_cache, index):
    """An index file of another shape (damaged, or put there by hand) once ended `cache info` in a traceback."""
    folder = next(fresh_cache.rglob("index"))
    (folder / "odd.json").write_text(index)
    result = run_cli("cache", "info")
    assert result.code == 0 and "Traceback" not in result.err, result.err
    assert [line.split()[0] for line in result.out.splitlines() if line.startswith("synthetic ")] == ["synthetic"]


# ------------------------------------------------------------------ info: the order of rows, copies, no index


def copy_index(folder, source, name: str, **changes) -> None:
    """A copy of the index ``source`` as ``folder/NAME.json`` with ``changes`` (another dataset, copy, time)."""
    meta = json.loads(source.read_text())
    (folder / f"{name}.json").write_text(json.dumps({**meta, **changes}))


def test_cache_info_rows_are_sorted_and_tell_two_copies_of_a_dataset_apart(filled_cache, run_cli, fresh_cache,
                                                                           tmp_path):
    """Rows once followed the index files' hash names, and two copies of one dataset (``--root``) differed only by
    their counts."""
    folder = next(fresh_cache.rglob("index"))
    [source] = folder.glob("*.json")
    entries = json.loads(source.read_text())["entries"]
    copy_index(folder, source, "00aa", dataset="zzz")  # sorts first by name, last by dataset
    copy_index(folder, source, "01bb", entries=entries[:4], written="2020-01-02T03:04:05+0000")  # an older copy
    copy_index(folder, source, "02cc", shape=[3, 8, 8])
    result = run_cli("cache", "info")
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].split() == ["Dataset", "Chain", "Produces", "Written", "Entries", "Size",
                                                  "Parameters"]
    rows = [line.split() for line in result.out.splitlines()[2:6]]
    assert [(row[0], row[3], row[4]) for row in rows] == [
        ("synthetic", "3×8×8", filled_cache["written"][:10]), ("synthetic", "3×16×16", "2020-01-02"),
        ("synthetic", "3×16×16", filled_cache["written"][:10]), ("zzz", "3×16×16", filled_cache["written"][:10])]
    assert (rows[1][5], rows[1][6]) == ("03:04:05", "4/4") and rows[2][6] == "6/6"
    target = tmp_path / "sorted.json"
    assert run_cli("cache", "info", "--json", str(target)).code == 0
    assert [row["index"] for row in json.loads(target.read_text())["chains"]] == [
        "02cc", "01bb", source.stem, "00aa"], "the JSON lists them in the same order"


def test_cache_info_without_an_index_does_not_say_there_are_no_inputs(filled_cache, run_cli, fresh_cache):
    """Once "No preprocessed inputs in ..." above "6 entries in all" when only the index was gone."""
    for index in next(fresh_cache.rglob("index")).iterdir():
        index.unlink()
    result = run_cli("cache", "info")
    assert result.code == 0, result.err
    first, *rest = result.out.splitlines()
    assert first == (f"No complete dataset run indexed in {fresh_cache}: the entries counted below are from "
                     "interrupted runs, or their index is gone.")
    assert "No preprocessed inputs" not in result.out
    assert rest[-1].startswith("6 entries in all, 6 not in any complete dataset run")


def test_cache_info_says_when_a_protocol_made_several_samples_of_each_clip(run_cli, fresh_cache, tmp_path):
    done = run_cli("run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--protocol",
                   "frame-10fold", "--quiet", "--no-store", *TINY, "protocol.n_splits=2")
    assert done.code == 0, done.err
    done = run_cli("preprocess", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY)
    assert done.code == 0, done.err
    target = tmp_path / "info.json"
    listed = run_cli("--format", "plain", "cache", "info", "--json", str(target))
    assert listed.code == 0, listed.err
    rows = {(row["samples"], row["clips"]) for row in json.loads(target.read_text())["chains"]}
    assert rows == {(30, 6), (6, 6)}, rows  # 2 subjects x 3 clips; frame-10fold: 5 frame pairs of each
    [framed] = [line for line in listed.out.splitlines() if "30/30" in line]
    assert "30 samples made from 6 clips by the protocol (frame-level)" in framed
    [clips] = [line for line in listed.out.splitlines() if "6/6" in line]
    assert "made from" not in clips


def test_cache_info_says_why_its_total_is_less_than_its_rows_add_up_to(filled_cache, run_cli):
    """The rows' entries added up to more than `N entries in all`, with nothing saying why: two runs whose inputs
    are alike (here 2 subjects' clips, then 3 subjects' with those 2 among them) share the entries."""
    more = [*TINY[:1], "dataset.subjects=3", *TINY[2:]]
    assert run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *more).code == 0
    result = run_cli("--format", "plain", "cache", "info")
    rows = [line for line in result.out.splitlines() if line.startswith("synthetic ")]
    listed = sum(int(row.split()[6].split("/")[0]) for row in rows)
    total = int(result.out.split(" entries in all")[0].split()[-1])
    assert len(rows) == 2 and listed > total
    assert f"{total} entries in all (the rows count {listed}: an input two rows produce identically is stored " \
        "once and counted in each)" in result.out


def test_preprocess_without_a_model_says_a_run_reuses_it_only_with_the_same_chain(run_cli, fresh_cache):
    """`preprocess --dataset synthetic` filled flow-uvs 3×N×N, which convmixer's run (u, v only) never reads."""
    generic = run_cli("preprocess", "--dataset", "synthetic", "--profile", "quick", "--quiet", *TINY)
    assert generic.code == 0, generic.err
    said = " ".join(generic.err.split())
    assert ("Note: without --model this prepared the chain a run picks from the dataset alone (flow, with the options "
            "given); a run reuses these entries only when its model reads the same chain") in said
    assert "give --model NAME to prepare exactly what that model's run reads" in said
    for_model = run_cli("preprocess", "--model", "convmixer", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                        *TINY)
    assert for_model.code == 0 and "without --model" not in for_model.err


def test_model_facts_are_a_part_of_the_cache_that_info_counts_and_clear_removes(run_cli, fresh_cache):
    """`list` caches model sizes in model-facts/: before, `cache info` called it "not managed by `cache clear`"
    and `clear` left it."""
    from merbench.cache import CACHE_PARTS
    from merbench.commands.cache import PARTS

    assert set(PARTS) == set(CACHE_PARTS)
    assert run_cli("list", "models").code == 0
    facts = sorted((fresh_cache / "model-facts").glob("*.json"))
    assert facts, "`list models` caches each model's facts"
    info = run_cli("cache", "info")
    assert info.code == 0 and "not managed" not in info.out, info.out
    assert f"model-facts/: model sizes and FLOPs for `list` and `info`, {len(facts)} files" in " ".join(info.out.split())
    assert run_cli("cache", "clear", "--only", "model-facts", "--yes").code == 0
    assert not (fresh_cache / "model-facts").exists()
    assert run_cli("list", "models").code == 0 and sorted((fresh_cache / "model-facts").glob("*.json"))
    assert run_cli("cache", "clear", "--yes").code == 0
    assert not any((fresh_cache / part).exists() for part in CACHE_PARTS)
