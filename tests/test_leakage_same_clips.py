"""Every row of a leakage summary is scored on the clips the honest run scores.

Under an honest ``cross-dataset`` protocol the sample-level variants also test the training domain's clips; their
UF1, UAR and accuracy must still be on the test domain's clips, as their ΔUF1 is, so that ΔUF1 is the difference
of the UF1 column.
"""

from __future__ import annotations

import json
import math

from merbench.leakage_summary import summarise
from merbench.metrics import classification_metrics
from result_samples import minimal_result

LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 2]
HONEST_B = [0, 2, 1, 0, 1, 0, 1, 1, 2]  # the honest run's predictions of the B clips (5 of 9 right)
POOLED_B = [1, 1, 1, 0, 1, 2, 2, 2, 2]  # the pooled-domain variant's predictions of the same clips
POOLED_A = LABELS  # and of the A clips, which only it tests: all right


def _run(parts: list[tuple[str, list[int]]]) -> object:
    """A result that predicts ``LABELS`` of the clips ``PREFIX0..8`` as ``parts`` say, with its true pooled scores."""
    rows = [{"id": f"{prefix}{i}", "subject": prefix, "fold": 0, "label": label, "prediction": prediction}
            for prefix, predictions in parts for i, (label, prediction) in enumerate(zip(LABELS, predictions))]
    scores = classification_metrics([r["label"] for r in rows], [r["prediction"] for r in rows], 3)
    pooled = {key: scores[key] for key in ("accuracy", "uf1", "uar")}
    return minimal_result(predictions=rows, n_samples=len(rows), seed=0, run_id="r", pooled=pooled,
                          leakage={"leaks": ["subjects"]})


def _summary() -> dict:
    honest = _run([("b", HONEST_B)])
    pooled_domains = _run([("a", POOLED_A), ("b", POOLED_B)])
    return summarise({"model": "m", "dataset": "d", "protocol": "cross-dataset", "seeds": [0]}, [honest],
                     [({"name": "sample-10fold", "what": "subjects", "expected_leaks": ["subjects"]},
                       [pooled_domains])], resamples=20)


def test_a_variant_that_tests_more_clips_is_scored_on_the_honest_runs_clips():
    honest, variant = _summary()["variants"]
    on_b = classification_metrics(LABELS, POOLED_B, 3)
    for key in ("uf1", "uar", "accuracy"):
        assert math.isclose(variant[key], on_b[key]), key
        assert math.isclose(honest[key], classification_metrics(LABELS, HONEST_B, 3)[key]), key
    assert math.isclose(variant["inflation"]["uf1"], variant["uf1"] - honest["uf1"])


def test_each_runs_own_pooled_scores_stay_in_its_run_entry():
    variant = _summary()["variants"][1]
    own = classification_metrics(LABELS + LABELS, POOLED_A + POOLED_B, 3)
    assert math.isclose(variant["runs"][0]["uf1"], own["uf1"]) and variant["runs"][0]["uf1"] > variant["uf1"]


def test_a_cross_dataset_study_prints_a_delta_that_is_the_difference_of_its_uf1_column(run_cli, tmp_path):
    target = tmp_path / "cross.json"
    result = run_cli("leakage", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                     "--no-store", "--protocol", "cross-dataset", "--json", str(target), "--set", "dataset.domains=2",
                     "dataset.subjects=6", "dataset.clips_per_subject=6", "protocol.n_splits=3",
                     "protocol.train=synthetic-1", "protocol.test=synthetic-2")
    assert result.code == 0, result.err
    variants = {v["name"]: v for v in json.loads(target.read_text())["variants"]}
    for name in ("sample-10fold", "frame-10fold"):
        gain = variants[name]["inflation"]["uf1"]
        assert math.isclose(gain, variants[name]["uf1"] - variants["honest"]["uf1"], abs_tol=1e-9), name
        assert "scored on the synthetic-2 clips only" in variants[name]["note"]
