"""``merbench datasets check`` on precomputed images of more than one size: a run that keeps the stored sizes
(``image.size=0``) stops at them, so the check is not usable either; ``--set image.size=N`` resizes them, for the check
as for the run. Frames of clips of different sizes are resized by the default chain (flow) and stay usable."""

from __future__ import annotations

import json

import cv2
import numpy as np

import realtrees as rt

CHECK = ["datasets", "check", "manifest", "--set", "dataset.manifest=labels.csv", "--quiet"]


def _picture(height: int, width: int) -> np.ndarray:
    """An image of that size that is not blank (a blank one is a problem of its own)."""
    return np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _odd_image_tree(root):
    rt.build_manifest_images(root)
    odd = root / "images" / "s1" / "img_2.png"
    assert cv2.imwrite(str(odd), _picture(32, 32))
    return odd


def test_an_image_of_another_size_makes_the_tree_unusable_naming_the_size_option(run_cli, tmp_path):
    odd = _odd_image_tree(tmp_path / "m")
    refused = run_cli(*CHECK, "--root", str(tmp_path / "m"), "--json", str(tmp_path / "c.json"))
    said = " ".join(refused.err.split())
    assert refused.code == 2 and "usable:" not in refused.out, refused.out
    first = tmp_path / "m" / "images" / "s0" / "img_0.png"
    assert (f"dataset 'manifest' has 1 image of another size than the most common one, and a run stops at them "
            f"(exit 2, whatever dataset.strict says); first: sample images/s1/img_2.png: {odd} image is 32×32 pixels "
            f"but 11 of the 12 images are 28×28 (first {first}); a run keeps the stored size") in said, said
    assert "--set image.size=N resizes every image to N x N" in said
    record = json.loads((tmp_path / "c.json").read_text())
    assert (record["usable"], record["image_options"]) == (False, {"size": 0, "order": "rgb"})
    problem, = record["problems"]
    assert (problem["file"], problem["stops_run"], problem["clip_left_out"]) == (str(odd), True, False)
    assert record["usable_samples"] == 12, "a run leaves no clip out for its size: it stops"


def test_an_odd_first_image_is_the_one_named_not_every_image_after_it(run_cli, tmp_path):
    """The check compared every image with the first: an odd first image made it list the 11 right ones ("11 images
    of another size") and never name the odd one."""
    rt.build_manifest_images(tmp_path / "m")
    odd = tmp_path / "m" / "images" / "s0" / "img_0.png"
    assert cv2.imwrite(str(odd), _picture(20, 24))
    refused = run_cli(*CHECK, "--root", str(tmp_path / "m"), "--json", str(tmp_path / "c.json"))
    said = " ".join(refused.err.split())
    assert refused.code == 2 and "has 1 image of another size than the most common one" in said, said
    second = tmp_path / "m" / "images" / "s0" / "img_1.png"
    assert (f"{odd} image is 24×20 pixels but 11 of the 12 images are 28×28 (first {second}); a run keeps the stored "
            "size (image.size=0, the default) and needs one size for every image: --set image.size=N") in said, said
    problem, = json.loads((tmp_path / "c.json").read_text())["problems"]
    assert (problem["file"], problem["stops_run"]) == (str(odd), True)


def test_the_size_option_the_check_names_makes_it_usable_as_it_makes_the_run(run_cli, tmp_path):
    _odd_image_tree(tmp_path / "m")
    resized = run_cli(*CHECK, "--root", str(tmp_path / "m"), "--set", "image.size=28")
    assert resized.code == 0 and "usable: 12 samples, 3 subjects" in resized.out, resized.err
    refused = run_cli(*CHECK, "--root", str(tmp_path / "m"), "--set", "image.size=2")
    assert refused.code == 2 and "image.size=2: use 0 (keep the stored size) or at least 4" in refused.err
    unknown = run_cli(*CHECK, "--root", str(tmp_path / "m"), "--set", "image.sise=28")
    assert unknown.code == 2 and "unknown setting 'image.sise'. Valid image settings: image.size, image.order" in unknown.err


def test_a_strict_check_names_the_unusable_image_a_strict_run_stops_at_first(run_cli, tmp_path):
    _odd_image_tree(tmp_path / "m")
    (tmp_path / "m" / "images" / "s2" / "img_3.png").write_bytes(b"")
    strict = run_cli(*CHECK, "--root", str(tmp_path / "m"), "--strict")
    assert strict.code == 2 and "strict check (--strict or dataset.strict=true): 1 file" in strict.err, strict.err
    lenient = run_cli(*CHECK, "--root", str(tmp_path / "m"))
    assert lenient.code == 2 and "1 image of another size" in lenient.err, "a lenient run skips the empty file only"


def test_image_settings_are_refused_for_a_dataset_of_frame_clips(run_cli):
    refused = run_cli("datasets", "check", "synthetic", "--quiet", "--set", "image.size=28")
    assert refused.code == 2 and ("--set image.size: the 'image' preprocessor reads precomputed images"
                                  in " ".join(refused.err.split())), refused.err


def test_clips_of_frames_of_different_sizes_stay_usable_since_the_flow_chain_resizes_them(run_cli, tmp_path):
    rt.build_manifest_frames(tmp_path / "f")
    for name in ("onset.png", "apex.png"):  # a whole clip of another size: its frames agree with each other
        frame = cv2.imread(str(tmp_path / "f" / "clips" / "p1" / "c1" / name), cv2.IMREAD_GRAYSCALE)
        assert cv2.imwrite(str(tmp_path / "f" / "clips" / "p1" / "c1" / name), cv2.resize(frame, (48, 40)))
    checked = run_cli("datasets", "check", "manifest", "--root", str(tmp_path / "f"), "--quiet", "--set",
                      "dataset.manifest=frames.csv")
    assert checked.code == 0 and "usable: 9 samples, 3 subjects" in checked.out, checked.err
