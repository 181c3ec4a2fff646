"""``lbptop-svm``: the classic hand-crafted MER baseline, LBP-TOP features and an SVM.

The features come from the ``lbptop`` preprocessor (this package); the model is a
scikit-learn ``SVC`` that the engine fits per fold on standardised features
(``merbench.estimator``). ``model.kernel`` (``linear`` as in the MEGC2019
baseline, or ``rbf``), ``model.C`` and ``model.class_weight`` (``none`` or
``balanced``) are options.
"""

from __future__ import annotations

from typing import Any

from merbench.errors import UsageError

KERNELS = ("linear", "rbf", "poly", "sigmoid")
CLASS_WEIGHTS = ("none", "balanced")


def build_model(options: dict[str, Any], in_channels: int, n_classes: int, input_size: int) -> Any:
    """A fresh, unfitted ``sklearn.svm.SVC`` for the resolved ``model.*`` options."""
    from sklearn.svm import SVC

    kernel, weight, c = str(options["kernel"]), str(options["class_weight"]), float(options["C"])
    if kernel not in KERNELS:
        raise UsageError(f"model.kernel={kernel}: choose one of {', '.join(KERNELS)}")
    if weight not in CLASS_WEIGHTS:
        raise UsageError(f"model.class_weight={weight}: choose one of {', '.join(CLASS_WEIGHTS)}")
    if c <= 0:
        raise UsageError(f"model.C={options['C']}: must be above 0")
    return SVC(kernel=kernel, C=c, class_weight=None if weight == "none" else weight)
