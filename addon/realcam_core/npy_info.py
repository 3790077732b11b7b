"""What a .npy file holds, from its header alone (never trust a size before reading it)."""

from __future__ import annotations

import numpy as np


def npy_header(path) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of a .npy file without loading its data; ValueError/OSError when it is not one."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    return shape, dtype
