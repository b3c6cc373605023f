"""Training-speed switches: plain-convolution double backward and compiled main phases.

- ``gradfix``: R1 and path-length regularisation differentiate every
  convolution twice. With :mod:`synthbio.nn.conv_gradfix` switched on, those
  derivatives run as plain (transposed) convolutions instead of PyTorch's
  ``_convolution_double_backward`` (one slow cuDNN kernel on CUDA). 'auto'
  turns it on for CUDA only: on CPU PyTorch's own path is as fast.
- ``compile``: ``torch.compile`` of G's synthesis and of D for the two main
  phases. On CUDA with mode 'reduce-overhead' (inductor kernels replayed as
  CUDA graphs), which removes most of the ~7,500 kernel launches of a step.
  On CPU there are no launches to save and inductor's C++ build takes many
  minutes on a small machine, so the modules stay eager there: the switch is
  safe to leave on for any device. The regularisation phases always keep the
  eager modules, since a compiled graph has no double backward. Compiled
  numerics may differ from eager ones by float rounding, so an exact-resume
  comparison should keep it off.
"""

from __future__ import annotations

from typing import Any

import torch

from synthbio.errors import InputError

GRADFIX_MODES = ("auto", "on", "off")


def check_gradfix(mode: str) -> None:
    if mode not in GRADFIX_MODES:
        raise InputError(f"--gradfix {mode!r}: use one of {', '.join(GRADFIX_MODES)}")


def use_gradfix(mode: str, device: torch.device) -> bool:
    """Whether the convolution double backward goes through conv_gradfix for this run."""
    check_gradfix(mode)
    return mode == "on" or (mode == "auto" and device.type == "cuda")


def compile_module(module: torch.nn.Module, device: torch.device, *, backend: str | None = None) -> Any:
    """``torch.compile(module)`` for the main phases on CUDA (CUDA graphs); the module itself elsewhere.

    backend: force a dynamo backend on any device (tests use 'eager' to check
    that the modules trace on CPU without a compiler).
    """
    if backend is not None:
        return torch.compile(module, backend=backend, dynamic=False)
    if device.type != "cuda":
        return module
    return torch.compile(module, mode="reduce-overhead", dynamic=False)


def main_phase_modules(G: torch.nn.Module, D: Any, *, compile: bool, device: torch.device) -> tuple[Any, Any]:
    """(G.synthesis, {branch: D}) for the main phases: compiled when asked (see :func:`compile_module`).

    The regularisation phases use G and D themselves: a compiled graph has no double backward.
    """
    if not compile:
        return G.synthesis, D
    return compile_module(G.synthesis, device), {name: compile_module(d, device) for name, d in D.items()}
