"""gd_compare — gradient descent twice: by hand in NumPy and with PyTorch autograd, proven equal.

>>> import gd_compare
>>> gd_compare.assert_equivalent("simple_step").numpy.values["w"]
2.24

``gd_compare.numpy_backend`` and ``gd_compare.torch_backend`` hold the same functions under the
same names; ``import gd_compare`` does not import torch until the PyTorch backend is used.
"""

from gd_compare.lesson.concepts import CONCEPTS, LESSON_CONCEPTS, get_concept
from gd_compare.lesson.core import (
    BackpropStep,
    BatchOrder,
    DivergenceError,
    NeuronStep,
    SimpleStep,
    Step,
    Training,
)
from gd_compare.lesson.data import (
    Admissions,
    initial_network_weights,
    initial_weights,
    load_admissions,
    make_synthetic,
)
from gd_compare.proof.gradcheck import GradCheck, check_concept, check_gradient, numerical_gradient
from gd_compare.proof.harness import (
    DEFAULT_TOLERANCE,
    Comparison,
    Mismatch,
    assert_equivalent,
    compare,
    compare_all,
    ulp_distance,
)

__version__ = "0.1.0"


def check(fn, concept=None, **params):
    """Check a learner's function for ``concept`` in lockstep with PyTorch autograd: the first
    wrong step and the mistake named. A thin wrapper that imports the checker (and torch) only
    when called; see :func:`gd_compare.learner.check.check` for the parameters.

    >>> from gd_compare import check
    >>> check(train_nn, "mse_training").passed  # doctest: +SKIP
    True
    """
    from gd_compare.learner.check import check as _check

    return _check(fn, concept, **params)


def check_submission(path, **kwargs):
    """Check every course function a learner's ``.py`` file or ``.ipynb`` notebook defines; see
    :func:`gd_compare.learner.submission.check_submission`."""
    from gd_compare.learner.submission import check_submission as _check_submission

    return _check_submission(path, **kwargs)

__all__ = [
    "CONCEPTS",
    "DEFAULT_TOLERANCE",
    "LESSON_CONCEPTS",
    "Admissions",
    "BackpropStep",
    "BatchOrder",
    "Comparison",
    "DivergenceError",
    "GradCheck",
    "Mismatch",
    "NeuronStep",
    "SimpleStep",
    "Step",
    "Training",
    "__version__",
    "assert_equivalent",
    "check",
    "check_concept",
    "check_gradient",
    "check_submission",
    "compare",
    "compare_all",
    "get_concept",
    "grade",
    "initial_network_weights",
    "initial_weights",
    "load_admissions",
    "make_synthetic",
    "numerical_gradient",
    "ulp_distance",
]


def __getattr__(name: str):
    """``gd_compare.grade`` (:func:`gd_compare.learner.grading.grade`), imported on first use:
    ``import gd_compare`` stays light."""
    if name == "grade":
        from gd_compare.learner.grading.api import grade

        return grade
    raise AttributeError(f"module 'gd_compare' has no attribute {name!r}")
