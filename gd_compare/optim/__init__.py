"""Optimizers by hand, laid out as ``torch.optim`` is: ``gd_compare.optim.Adam`` is the NumPy
twin of ``torch.optim.Adam`` (:mod:`.optimizer`), ``gd_compare.optim.lr_scheduler.StepLR`` of
``torch.optim.lr_scheduler.StepLR`` (:mod:`.lr_scheduler`). Never imports torch; imports
nothing else of gd_compare (the lowest layer)."""

from gd_compare.optim import lr_scheduler
from gd_compare.optim.optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, lerp_

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lerp_", "lr_scheduler"]
