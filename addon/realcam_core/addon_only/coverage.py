"""How much of a preview frame the photo's scene covers, and when that is too little to trust.

The preview renders the photo's mesh only, with alpha 0 where nothing was
seen: the fraction of covered pixels of the last frame says how far the camera
left the part of the scene the photo saw. Below the threshold the model has to
invent most of the frame, and the shot usually falls apart there.
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.6
ALPHA_CUTOFF = 0.5  # anti-aliased mesh borders count when at least half covered


def coverage(alpha) -> float:
    """Fraction (0..1) of pixels with alpha >= ALPHA_CUTOFF; alpha in 0..1 (floats) or 0..255 (uint8)."""
    a = np.asarray(alpha)
    if a.size == 0:
        raise ValueError("an empty alpha channel has no coverage")
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    return float((a >= ALPHA_CUTOFF).mean())


def coverage_warning(fraction: float, threshold: float = DEFAULT_THRESHOLD) -> str | None:
    """The panel's warning when the last frame sees too little of the photo's scene; None when enough."""
    if fraction < 0 or threshold <= 0 or fraction >= threshold:
        return None
    return (
        f"the last frame sees only {fraction:.0%} of the photo's scene (below {threshold:.0%}): the model "
        "invents the rest; shorten the move or turn back toward the photo"
    )
