"""A torch module whose forward pass and input gradients run in the sandbox's child process,
so gradient-based probes (trigger inversion) work on a confined model."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class _Remote(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, box: Any) -> torch.Tensor:  # type: ignore[override]
        ctx.box = box
        ctx.save_for_backward(x)
        scores = box.score(x.detach().cpu().numpy(), torch.get_num_threads())
        return torch.from_numpy(np.array(scores))

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        grad = ctx.box.grad(
            x.detach().cpu().numpy(), grad_out.detach().cpu().numpy(), torch.get_num_threads()
        )
        return torch.from_numpy(np.array(grad)).to(x.dtype), None


class RemoteModule(torch.nn.Module):
    """Calls the sandboxed model; it has no parameters here (they live in the child)."""

    def __init__(self, box: Any) -> None:
        super().__init__()
        self.__dict__["_box"] = box  # not a submodule: nothing to move or to register

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Remote.apply(x, self._box)  # type: ignore[no-any-return]


def remote_module(box: Any) -> RemoteModule:
    return RemoteModule(box)
