"""The hooks a merbench plugin can implement: one per plugin kind.

A plugin is a module (or object) with functions decorated by ``hookimpl`` and
listed under the ``merbench`` entry-point group of its distribution. Each hook
receives a ``register`` callback; call it once per thing the plugin provides.
The core validates what is registered and refuses duplicate names. Hooks are
called once, when the registry is first used.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("merbench")
hookimpl = pluggy.HookimplMarker("merbench")


@hookspec
def merbench_register_datasets(register):
    """Register datasets.

    Call ``register(DatasetPlugin(name=..., load=..., description=..., options=...))``
    for each dataset. ``load(root, options, cache_dir)`` must return a
    ``merbench.contracts.Dataset`` and must not write inside ``root``.
    """


@hookspec
def merbench_register_preprocessors(register):
    """Register preprocessors.

    Call ``register(PreprocessorPlugin(name=..., build=..., produces=..., ...))`` for
    each preprocessor. ``build(options)`` returns an object with
    ``cache_params() -> dict``, ``inputs(sample) -> list[Path]`` and
    ``__call__(sample, read_frame, upstream) -> ndarray`` giving a float32
    (C, H, W) array; ``produces`` names that representation.
    """


@hookspec
def merbench_register_models(register):
    """Register models.

    Call ``register(ModelPlugin(name=..., build=..., input=..., profiles=...))`` for
    each model. ``build(options, in_channels, n_classes, input_size)`` returns a
    ``torch.nn.Module`` producing (N, n_classes) logits, or a scikit-learn style
    estimator with ``fit(X, y)`` and ``predict(X)`` (see ``merbench.estimator``).
    Declare ``input`` as the representation a preprocessor ``produces``, and the
    paper's ``reported`` scores. ``merbench.testing`` checks a model plugin.
    """


@hookspec
def merbench_register_protocols(register):
    """Register evaluation protocols.

    Call ``register(ProtocolPlugin(name=..., split=..., subject_independent=...))``.
    ``split(labels, subjects, seed, options, domains)`` gets numpy arrays with one
    entry per sample (``labels`` int64, ``subjects`` and ``domains`` str) and returns
    a list of ``merbench.contracts.Fold``, each with its own int ``index`` from 0 and
    1-D integer position arrays ``train`` and ``test``: neither empty, no position
    repeated or in both parts, no sample in the test part of two folds (checked
    before anything trains). Say honestly whether a subject can be in both train and
    test of one fold: ``subject_independent`` is ``True`` or ``False``, and ``False``
    needs a ``warning`` saying what leaks.
    """
