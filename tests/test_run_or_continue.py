"""``recording.run_or_continue``, behind ``--stored`` in grid, regress and leakage: an interrupted run is continued;
one that cannot be (another process holds it, its inputs changed) is named and the configuration trained anew."""

from __future__ import annotations

import merbench.recording as recording
from merbench.errors import UsageError


def test_an_interrupted_run_is_continued_or_named_and_trained_anew(monkeypatch):
    calls = []

    def run_recorded(store, config, registry, n_seeds, progress, resume_id=None, announce=None):
        calls.append(resume_id)
        if resume_id == "held":
            raise UsageError("run held is being resumed by process 4242")
        return "result", resume_id or "new-run", 3

    monkeypatch.setattr(recording, "run_recorded", run_recorded)
    said = []
    assert recording.run_or_continue(None, None, None, 1, None, "old", said.append) == ("result", "old", 3)
    assert recording.run_or_continue(None, None, None, 1, None, None, said.append) == ("result", "new-run", None)
    assert said == []
    assert recording.run_or_continue(None, None, None, 1, None, "held", said.append) == ("result", "new-run", None)
    assert said == ["interrupted run held cannot be continued (run held is being resumed by process 4242)"]
    assert calls == ["old", None, "held", None]
