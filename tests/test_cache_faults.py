"""A cache that cannot take a write (a folder where a file belongs, a read-only folder) is one message and exit 2,
never a traceback; a failed write leaves the entry's data and checksum as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from merbench.cache import make_cache_folder, write_cache_file
from merbench.errors import UsageError

TINY = ["--set", "dataset.subjects=4", "dataset.clips_per_subject=3", "dataset.size=16", "dataset.frames=6",
        "protocol.n_splits=2", "engine.epochs=1"]


def test_a_folder_where_a_cache_file_belongs_is_one_message(tmp_path):
    target = tmp_path / "entry.npy"
    target.mkdir()
    with pytest.raises(UsageError, match=r"cannot write the cache file .*entry.npy .*merbench cache clear"):
        write_cache_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.npy"], "no temporary file is left"


def test_a_damaged_cache_entry_in_a_run_is_exit_2_naming_the_file(run_cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store", *TINY]
    assert run_cli(*command).code == 0
    [index] = [p for p in (cache / "preprocess" / "index").glob("*.json")]
    index.unlink()
    index.mkdir()  # something else now sits where the run writes its index
    result = run_cli(*command)
    assert result.code == 2 and "Traceback" not in result.err
    assert f"cannot write the cache file {index}" in " ".join(result.err.split())


def test_a_read_only_cache_folder_is_refused_before_the_run(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == folder else real_access(path, mode))
    with pytest.raises(UsageError, match="the folder cannot be written .read-only.; point MERBENCH_CACHE"):
        make_cache_folder(folder)


def test_quiet_hides_progress_but_not_a_damaged_cache_warning(run_cli, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", "--quiet", "--no-store", *TINY]
    assert run_cli(*command).code == 0
    bundle = next((cache / "preprocess" / "index").glob("*.npy"))
    bundle.write_bytes(os.urandom(bundle.stat().st_size))
    result = run_cli(*command)
    assert result.code == 0 and "does not match its checksum" in result.err
    assert "Preprocessing" not in result.err and "Folds" not in result.err


@pytest.mark.parametrize("quiet", [["--quiet"], []], ids=["quiet", "progress"])
def test_preprocess_says_a_damaged_cache_entry_was_recomputed_as_run_does(run_cli, tmp_path, monkeypatch, quiet):
    cache = tmp_path / "cache [x]"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["preprocess", "--dataset", "synthetic", "--profile", "quick", *quiet, *TINY]
    assert run_cli(*command).code == 0
    bundle = next((cache / "preprocess" / "index").glob("*.npy"))
    bundle.write_bytes(os.urandom(bundle.stat().st_size))
    result = run_cli(*command)
    assert result.code == 0 and "Warning:" in result.err and "does not match its checksum" in result.err
    assert bundle.name in result.err and "cache [x]" in result.err and "\\[" not in result.err, \
        "the file is named as it is: brackets in its path are not escaped twice"


@pytest.mark.parametrize("quiet", [["--quiet"], []], ids=["quiet", "progress"])
def test_run_names_a_damaged_entry_whose_path_has_brackets_as_it_is(run_cli, tmp_path, monkeypatch, quiet):
    """Warnings go through progress.message, which shows text literally: escaping it first showed a backslash."""
    cache = tmp_path / "cache [x]"
    monkeypatch.setenv("MERBENCH_CACHE", str(cache))
    command = ["run", "--model", "ststnet", "--dataset", "synthetic", "--profile", "quick", *quiet, "--no-store", *TINY]
    assert run_cli(*command).code == 0
    bundle = next((cache / "preprocess" / "index").glob("*.npy"))
    bundle.write_bytes(os.urandom(bundle.stat().st_size))
    result = run_cli(*command)
    assert result.code == 0 and "does not match its checksum" in result.err
    assert "cache [x]" in result.err and "\\[" not in result.err


# ------------------------------------------------------------------ the cache cleared while a command writes it


def test_synthetic_data_whose_folder_is_cleared_while_generated_is_not_kept_half_written(tmp_path, monkeypatch):
    """A `cache clear` during generation left a tree of the last subjects in place (its folder made again by the
    next clip), which every later run then called damaged; the run itself blamed "the dataset tree"."""
    import shutil

    from merbench.errors import DataError
    from merbench_plugins.datasets import synthetic

    written = []
    real_write = synthetic._write_frames

    def write_then_clear(clip_dir, frames):
        real_write(clip_dir, frames)
        written.append(clip_dir)
        if len(written) == 3:  # `merbench cache clear` removes the generator's folder here
            shutil.rmtree(clip_dir.parent.parent)

    monkeypatch.setattr(synthetic, "_write_frames", write_then_clear)
    options = {"preset": "real", "subjects": 4, "clips_per_subject": 3, "size": 16, "frames": 6, "seed": 0,
               "domains": 1}
    with pytest.raises(DataError, match=r"was removed while the synthetic data was being generated .*run the command "
                                        r"again"):
        synthetic.load(None, options, tmp_path)
    assert not [path for path in (tmp_path / "synthetic").iterdir()], "neither a published tree nor a temporary one"
    monkeypatch.setattr(synthetic, "_write_frames", real_write)
    assert len(synthetic.load(None, options, tmp_path).samples) == 12, "the next command generates it whole"


def test_a_generated_frame_gone_from_the_cache_says_run_again_not_check_the_tree(tmp_path, monkeypatch):
    from merbench.contracts import Sample
    from merbench.errors import DataError
    from merbench.preprocess import read_bytes

    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    sample = Sample("s1/c1", "s1", 0, "d", (), 0, None, 0)
    with pytest.raises(DataError, match=r"generated it into its cache, and it is gone .* run the command again"):
        read_bytes(tmp_path / "cache" / "synthetic" / "k" / "s1" / "c1" / "img_000.png", sample)
    with pytest.raises(DataError, match=r"\(No such file or directory\); check the dataset tree"):
        read_bytes(tmp_path / "data" / "img_000.png", sample)


def test_cache_clear_says_a_folder_made_again_meanwhile_was_made_again_not_unremovable(run_cli, tmp_path,
                                                                                         monkeypatch):
    from merbench.commands import cache as cache_command

    root = tmp_path / "cache"
    (root / "preprocess" / "ab").mkdir(parents=True)
    (root / "preprocess" / "ab" / "x.npy").write_bytes(b"x")
    monkeypatch.setenv("MERBENCH_CACHE", str(root))
    real_remove = cache_command._remove

    def remove_while_a_run_writes(path):
        moved = real_remove(path)
        (path / "cd").mkdir(parents=True)  # a run at the same time writes its next entry
        return moved

    monkeypatch.setattr(cache_command, "_remove", remove_while_a_run_writes)
    result = run_cli("cache", "clear", "--yes")
    text = " ".join(result.err.split())
    assert result.code != 0 and "was removed and made again while clearing" in text and "read-only" not in text
