"""What a run's section of the HTML report says about the run, as ``merbench show`` says it: every warning the run
kept, that a sample-level run's folds happened to share no subject, and where its time went (all seeds, the folds a
resumed run trained before, the torch threads per fold)."""

from __future__ import annotations

import html
import re

from result_samples import minimal_result

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
SHARED = "clips of the same subject are in training and test"


def _page(results) -> str:
    from merbench.compare import build_comparison
    from merbench.html_report import render_report

    return render_report(build_comparison(results), results, draw=lambda result, metric: (PNG, PNG))


def _run_section(text: str) -> str:
    part = text[text.index('<section id="run-1">'):]
    return part[:part.index("</section>")]


def _warnings(section: str, kind: str = "warning") -> list[str]:
    """The texts of the section's paragraphs of class ``kind`` (``warning``: a leak's; ``warning kept``: what the
    run warned of), as a reader sees them (tags gone, entities read)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", text))
            for text in re.findall(rf'<p class="{kind}">(.*?)</p>', section, re.S)]


def _fact(section: str, name: str) -> str:
    return html.unescape(re.search(rf"<dt>{name}</dt><dd>(.*?)</dd>", section).group(1))


# ------------------------------------------------------------------ 1: the warnings the run kept


def test_the_page_repeats_every_warning_the_run_kept_escaped_as_show_prints_them():
    from merbench.leaks import ENGINE_WARNINGS
    from merbench.report import kept_warnings

    domains = ("subject id 's0' is in 2 domains (A, B) (5 more such ids); the protocol treats it as one person: "
               "give each domain's subjects their own ids if they are different people")
    epochs = ("engine.epochs=1 has no effect on lbptop-svm: it is fitted in one go, without epochs, batches, learning "
              "rate or loss; its own options are model.* (`merbench info lbptop-svm`)")
    markup = "class '<script>alert(1)</script>' & [/] has no sample in fold 2"
    result = minimal_result(run_id="r1", warnings=[domains, epochs, markup, ENGINE_WARNINGS["selection"]])
    assert kept_warnings(result) == [domains, epochs, markup], "the leak's warning is said by the leakage lines"
    section = _run_section(_page([result]))
    shown = _warnings(section, "warning kept")
    assert shown == [f"Warning: {warning}".replace("`", "") for warning in kept_warnings(result)], shown
    assert "<script>alert" not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "(<code>merbench info lbptop-svm</code>)" in section  # a command in backticks is code, as in the notes
    assert section.count("in 2 domains") == 1


def test_a_run_without_kept_warnings_has_no_warning_paragraph():
    section = _run_section(_page([minimal_result(run_id="r1")]))
    assert _warnings(section) == [] and _warnings(section, "warning kept") == []


# ------------------------------------------------------------------ 2: a sample-level run whose folds shared no subject


def _sample_level(overlap: int):
    return minimal_result(run_id="r1", protocol="sample-10fold", subject_independent=False,
                          leakage={"subject_overlap_folds": overlap, "clip_overlap_folds": 0, "leaks": ["subjects"]})


def test_a_sample_level_run_whose_folds_shared_no_subject_says_so_as_compare_and_show_do():
    from merbench.wording import no_subject_shared

    section = _run_section(_page([_sample_level(0)]))
    warning = _warnings(section)[0]
    assert SHARED not in section, "it said the folds shared subjects above an audit that says none did"
    assert warning.startswith("† Not subject-independent by design")
    assert no_subject_shared(2) in warning, warning  # "no fold happened to share a subject (0 of 2 folds) ..."
    assert "no subject is in both training and test of any fold" in section  # the audit, which now agrees


def test_a_sample_level_run_whose_folds_shared_subjects_still_says_they_did():
    from merbench.wording import no_subject_shared

    warning = _warnings(_run_section(_page([_sample_level(2)])))[0]
    assert SHARED in warning and no_subject_shared(2) not in warning, warning


# ------------------------------------------------------------------ 3: where the time went


PLAN = {"description": "one fold after another in this process", "executor": "Sequential", "threads_per_fold": 1}


def _scores(value: float) -> dict[str, float]:
    return {"accuracy": value, "uf1": value, "uar": value}


def test_the_time_of_a_seeds_run_covers_every_seed_and_names_the_threads_per_fold():
    result = minimal_result(
        run_id="r1", seed=0, engine_plan=PLAN, preprocess={"computed": 4, "cached": 0},
        seconds={"preprocess": 0.1, "train_eval": 0.3, "total": 0.4, "total_all_seeds": 0.8},
        seeds=[{"seed": i, "pooled": _scores(0.5), "fold_mean": _scores(0.5), "fold_std": _scores(0.0)} for i in (0, 1)],
        across_seeds={"n": 2, "mean": _scores(0.5), "std": _scores(0.0)})
    section = _run_section(_page([result]))
    assert _fact(section, "time") == ("0.8 s for 2 seeds; seed 0: 0.4 s (preprocessing 0.1 s: 4 computed, 0 from "
                                      "cache; training and evaluation 0.3 s)")
    assert _fact(section, "folds trained") == "one fold after another in this process, 1 torch thread per fold"


def test_the_time_of_a_resumed_run_says_which_folds_it_does_not_count():
    result = minimal_result(run_id="r1", seconds={"preprocess": 1.0, "train_eval": 10.5, "total": 11.5,
                                                  "earlier_folds": 2, "earlier_train": 7.5})
    time = _fact(_run_section(_page([result])), "time")
    assert time.startswith("11.5 s (preprocessing 1.0 s: ? computed, ? from cache; training and evaluation 10.5 s)")
    assert time.endswith("; not counted: 2 folds trained before the run was resumed (7.5 s of training, summed over "
                         "them: folds trained side by side count each)"), time


# ------------------------------------------------------------------ all three on a real run: the page says what show says


def test_the_page_of_a_real_run_says_what_show_says_of_its_warnings_folds_and_time(run_cli, tmp_path):
    from merbench.wording import no_subject_shared

    # One clip per subject: no fold can share a subject, although sample-10fold does not promise it.
    ran = run_cli("run", "--model", "lbptop-svm", "--dataset", "synthetic", "--profile", "quick", "--quiet",
                  "--protocol", "sample-10fold", "--seeds", "2", "--set", "dataset.subjects=15",
                  "dataset.clips_per_subject=1", "protocol.n_splits=3", "engine.epochs=1")
    assert ran.code == 0, ran.err
    run_id = re.search(r"Stored as run (\S+)", ran.out + ran.err).group(1)
    shown = run_cli("show", run_id)
    assert shown.code == 0, shown.err
    out = " ".join(shown.out.split())
    page = tmp_path / "report.html"
    assert run_cli("report", run_id, "--output", str(page)).code == 0
    section = _run_section(page.read_text())
    kept = re.findall(r"Warning: (engine\.epochs=1 has no effect.*?`\))", out)
    shown = _warnings(section, "warning kept")
    assert kept and all(f"Warning: {warning.replace('`', '')}" in shown for warning in kept), shown
    assert SHARED not in section and no_subject_shared(3) in _warnings(section)[0]
    time = re.search(r"Time: (.*?) on cpu", out).group(1)
    assert "for 2 seeds; seed 0: " in time, out
    assert _fact(section, "time") == time, (time, _fact(section, "time"))
    threads = re.search(r"Folds trained (.*?per fold)", out).group(1)
    assert _fact(section, "folds trained") == threads


def test_the_devices_of_a_runs_ray_folds_are_listed_not_shown_as_a_python_list():
    devices = ["node-3: cuda (Tesla T4, mixed precision float16; Ray task)", "node-4: cpu (AMD EPYC, 2 cores)"]
    result = minimal_result(environment={"device": "cuda (NVIDIA H100, mixed precision bfloat16; requested)",
                                         "fold_devices": devices})
    assert _fact(_run_section(_page([result])), "fold_devices") == "; ".join(devices)
