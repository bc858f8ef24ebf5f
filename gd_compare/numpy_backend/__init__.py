"""Gradient descent by hand: every derivative written out in NumPy, never importing torch.

The lesson's functions (:mod:`.by_hand`), data-parallel SGD with the all-reduce written out
(:mod:`.distributed`) and the performance kernels kept apart from the lesson's code
(:mod:`.kernels`). :mod:`gd_compare.torch_backend` has the same public names and signatures.
"""

from gd_compare.numpy_backend.by_hand import *  # noqa: F403
from gd_compare.numpy_backend.by_hand import __all__ as _lesson
from gd_compare.numpy_backend.course import *  # noqa: F403
from gd_compare.numpy_backend.course import __all__ as _course
from gd_compare.numpy_backend.distributed import (
    data_parallel,
    data_parallel_accuracy,
    data_parallel_bce,
    data_parallel_forward,
    data_parallel_gradient,
    data_parallel_mse,
    data_parallel_sse,
    iter_data_parallel,
)

__all__ = [*_lesson, *_course, "data_parallel", "data_parallel_accuracy", "data_parallel_bce",
           "data_parallel_forward", "data_parallel_gradient", "data_parallel_mse",
           "data_parallel_sse", "iter_data_parallel"]
