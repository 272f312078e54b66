"""Mixed precision and memory layout of a trial's forward passes: the ``precision`` and
``channels_last`` params of the training workloads (``train_eval``, the NAS search and retrain).

* ``precision``: ``fp32`` (the default: nothing changes, bit for bit), ``bf16`` or ``fp16``. The
  model's forward runs under ``torch.autocast(device_type=device.type, dtype=...)``, entered and
  left by hooks on the model so that every call of it gets it (a DDP replica's, a
  ``torch.func.functional_call`` of the search's virtual or meta weights, scoring), and its output
  is cast to float32: losses, metrics and scores are computed in fp32, and weights, gradients and
  optimizer states stay fp32 (autocast's own rule). bf16 has fp32's exponent range and needs no
  loss scaling; it runs on CPUs and on CUDA GPUs with native bf16 (Ampere and newer). fp16 needs
  a ``torch.amp.GradScaler`` (checkpoints carry its state) and is for CUDA devices only: asked on
  any other device it is refused, naming the param.
* ``channels_last``: the model's 4-D weights and the input batches in NHWC memory layout (what
  cuDNN's tensor-core convolutions prefer); the numbers equal NCHW's up to float rounding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from workloads.params import ParamError

#: The ``precision`` param's values.
PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def as_float(output: Any) -> Any:
    """A forward's output with every floating tensor in it cast to float32."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, (tuple, list)):
        return type(output)(as_float(o) for o in output)
    return output


def scaled_step(
    opt: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    params: Sequence[nn.Parameter] = (),
    clip: float = 0.0,
) -> None:
    """``opt.step()`` on gradients of a loss scaled by ``scaler`` (None: not scaled): unscaled
    first (the step skipped when they overflowed), norm-clipped to ``clip`` if > 0. The scaler's
    ``update()`` follows once per training step (``Precision.update``)."""
    if scaler is not None:
        scaler.unscale_(opt)
    if clip > 0:
        nn.utils.clip_grad_norm_(params, clip)
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)


@dataclass
class Precision:
    """How a trial runs its forward passes on ``device``: under autocast to ``name``'s dtype
    (none for fp32), in channels-last layout or not, with a gradient scaler for fp16."""

    device: torch.device
    name: str = "fp32"
    channels_last: bool = False
    scaler: torch.amp.GradScaler | None = None

    @classmethod
    def of(cls, precision: str, channels_last: bool, device: torch.device) -> Precision:
        """The trial's setting; fp16 on a device other than CUDA is a ``ParamError``."""
        if precision not in PRECISIONS:
            raise ParamError("precision", precision, "one of " + ", ".join(PRECISIONS))
        if precision == "fp16" and device.type != "cuda":
            raise ParamError(
                "precision",
                precision,
                f"fp32 or bf16 on a {device.type} device (fp16 needs a CUDA GPU: give the "
                "trial resources.gpu, or use bf16)",
            )
        scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        return cls(device, precision, bool(channels_last), scaler)

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None: fp32, no autocast)."""
        return _DTYPES.get(self.name)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast region of a forward pass (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` on the device, in the layout, its forward under autocast with a float32
        output (in place; returns ``model``)."""
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.dtype is not None:
            entered: list[contextlib.AbstractContextManager] = []

            def enter(_module: nn.Module, _args: Any) -> None:
                region = self.autocast()
                region.__enter__()
                entered.append(region)

            def leave(_module: nn.Module, _args: Any, output: Any) -> Any:
                if entered:  # always called, also when the forward raised
                    entered.pop().__exit__(None, None, None)
                return as_float(output)

            model.register_forward_pre_hook(enter)
            model.register_forward_hook(leave, always_call=True)
        return model

    def batch(self, tensor: torch.Tensor) -> torch.Tensor:
        """An input batch on the device (a 4-D image batch in the model's layout)."""
        if self.channels_last and tensor.dim() == 4:
            return tensor.to(self.device, memory_format=torch.channels_last)
        return tensor.to(self.device)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to differentiate (scaled for fp16)."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def step(self, opt: torch.optim.Optimizer) -> None:
        """``opt.step()`` on the gradients of a ``scale``d loss (see ``scaled_step``)."""
        scaled_step(opt, self.scaler)

    def update(self) -> None:
        """The end of a training step: fp16's scale adapts to whether gradients overflowed."""
        if self.scaler is not None:
            self.scaler.update()

    def stateful(self) -> dict[str, Any]:
        """What a checkpoint saves of it (the fp16 scaler; None entries are skipped)."""
        return {"scaler": self.scaler}
