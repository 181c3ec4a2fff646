"""Stopping a merbench command in-process once it has stored K folds, as Ctrl-C or SIGTERM would stop it there:
the tests of continuing interrupted grids, checks and studies with ``--stored`` use it."""

from __future__ import annotations


def stopped_after_folds(run_cli, monkeypatch, args: list[str], after_folds: int, signal=KeyboardInterrupt):
    """Run ``merbench ARGS`` (``run_cli``), raising ``signal`` (``KeyboardInterrupt``, or ``cli.Terminated`` for
    SIGTERM) right after the ``after_folds``-th fold is stored: (its result, the run id of each stored fold)."""
    import merbench.recording as recording

    stored_folds: list[str] = []
    original = recording.RunRecorder.fold_done

    def stop(self, *fold_args, **kwargs):
        original(self, *fold_args, **kwargs)
        stored_folds.append(self.run_id)
        if len(stored_folds) == after_folds:
            raise signal()

    with monkeypatch.context() as patch:
        patch.setattr(recording.RunRecorder, "fold_done", stop)
        stopped = run_cli(*args)
    return stopped, stored_folds
