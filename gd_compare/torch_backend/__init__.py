"""Gradient descent with PyTorch: autograd finds every derivative (``loss.backward()``) and
``torch.optim`` takes every step; nothing here writes a derivative.

The lesson's functions (:mod:`.autograd`) and data-parallel SGD on K real processes with
``torch.distributed`` and ``DistributedDataParallel`` (:mod:`.distributed`; under torchrun:
``python -m gd_compare.torch_backend.distributed``). :mod:`gd_compare.numpy_backend` has the
same public names and signatures.
"""

from gd_compare.torch_backend.autograd import *  # noqa: F403
from gd_compare.torch_backend.autograd import __all__ as _lesson
from gd_compare.torch_backend.course import *  # noqa: F403
from gd_compare.torch_backend.course import __all__ as _course
from gd_compare.torch_backend.distributed import (
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
