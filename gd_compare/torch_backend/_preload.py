"""Imported once by multiprocessing's fork server for :mod:`gd_compare.torch_backend.distributed`:
torch, the
backends, and the first optimizer's one-time import of ``torch._dynamo`` (seconds), so every
worker forked from the server starts warm instead of paying them again."""

import torch

from gd_compare.torch_backend import distributed  # noqa: F401

torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
