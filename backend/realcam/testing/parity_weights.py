"""Deterministic weights by parameter name, so parity fixtures need not store them.

The parity script (scripts/parity/) fills upstream's modules with these values and freezes only inputs,
outputs and the parameter names and shapes; the tests fill this backend's modules with the same values
(under the same upstream names) and compare. Pure torch, importable from the parity environment.
"""

from __future__ import annotations

import zlib

import torch


def value_for(name: str, shape, dtype=torch.float64) -> torch.Tensor:
    """A tensor that depends only on (name, shape): norms near 1, biases and the rest small and random."""
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    x = torch.randn(tuple(shape), generator=gen, dtype=torch.float64)
    leaf = name.rsplit(".", 1)[-1]
    fan_in = max(1, int(torch.tensor(shape[1:]).prod().item()) if len(shape) > 1 else shape[0] if shape else 1)
    if len(shape) <= 1 and ("norm" in name or "ln_" in name or leaf == "weight"):
        x = 1.0 + 0.1 * x if leaf == "weight" else 0.1 * x
    elif len(shape) <= 1:
        x = 0.1 * x
    else:
        x = x / fan_in**0.5
    return x.to(dtype)


def deterministic_state(names_shapes, dtype=torch.float64) -> dict:
    return {name: value_for(name, shape, dtype) for name, shape in names_shapes}


def fill(module, prefix: str = "", dtype=torch.float64) -> dict:
    """Set every parameter and buffer of module to value_for(prefix + name); returns the state written."""
    state = {k: value_for(prefix + k, v.shape, dtype) for k, v in module.state_dict().items()}
    module.load_state_dict(state)
    return state
