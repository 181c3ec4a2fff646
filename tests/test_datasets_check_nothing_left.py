"""``merbench datasets check`` on a tree whose every clip a run would leave out: it says that no sample is left and
names the first file with what is wrong with it, as the run refuses it, instead of "only one class"."""

from __future__ import annotations

import json

import realtrees as rt


def test_a_tree_whose_every_image_is_empty_has_no_usable_sample_left(run_cli, tmp_path):
    root = tmp_path / "m"
    rt.build_manifest_images(root)
    for image in root.glob("images/*/*.png"):
        image.write_bytes(b"")
    checked = run_cli("datasets", "check", "manifest", "--root", str(root), "--quiet", "--set",
                      "dataset.manifest=labels.csv", "--json", str(tmp_path / "c.json"))
    said = " ".join(checked.err.split())
    first = root / "images" / "s0" / "img_0.png"
    assert checked.code == 2 and "only one class" not in said, said
    assert (f"dataset 'manifest' has no usable sample left: each of its 12 clips has a missing or unusable file that "
            f"a run reads first, and a run leaves them out; first: sample images/s0/img_0.png: {first} image "
            "unreadable (the file is empty (0 bytes)); replace the files or remove their samples") in said, said
    record = json.loads((tmp_path / "c.json").read_text())
    assert (record["usable"], record["usable_samples"], record["classes_kept"]) == (False, 0, [])
    assert record["reason"].startswith("dataset 'manifest' has no usable sample left")

    run = run_cli("run", "--model", "ststnet", "--dataset", "manifest", "--root", str(root), "--profile", "quick",
                  "--protocol", "loso", "--no-store", "--quiet", "--set", "dataset.manifest=labels.csv")
    assert run.code == 2 and "no clip of dataset 'manifest' could be preprocessed (12 with unusable frames)" in run.err
