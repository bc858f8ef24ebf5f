"""gd_compare — gradient descent twice: by hand in NumPy and with PyTorch autograd, proven equal.

>>> import gd_compare
>>> gd_compare.assert_equivalent("simple_step").numpy.values["w"]
2.24

``gd_compare.numpy_backend`` and ``gd_compare.torch_backend`` hold the same functions under the
same names; ``import gd_compare`` does not import torch until the PyTorch backend is used.
"""

from gd_compare.lesson.concepts import CONCEPTS, get_concept
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

__all__ = [
    "CONCEPTS",
    "DEFAULT_TOLERANCE",
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
    "check_concept",
    "check_gradient",
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
