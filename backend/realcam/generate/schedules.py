"""How many sampling steps noise shaping acts on, per known model and threshold, before any weights are downloaded.

SHAPED_STEPS is what `realcam models` lists, kept as data so the listing needs
no torch. tests/test_noise_shaping.py recomputes it from the schedulers the
published diffusers repositories ship (Wan: diffusers' convert_wan_to_diffusers.py,
flow_shift 5.0 for TI2V and 3.0 for the 2.1 I2V models; SVD-xt: its
scheduler_config.json; the DMD draft: the sampler it was distilled for, dmd_scheduler.py)
with the engine's own noise levels (and the adapter's own step rule where it has one), and checks that the
engine shapes those steps on tiny models built with the same configurations.
"""

from __future__ import annotations

# Thresholds `realcam models` reports: the default, the top of the reference DDPM range, and above it.
REPORTED_THRESHOLDS = (0.9, 1.0, 1.1, 1.2, 1.3, 1.5, 2.0)
# alias -> (default steps, steps shaped at each of REPORTED_THRESHOLDS); checked against the schedulers by the tests.
_WAN22 = (50, (19, 13, 8, 5, 3, 1, 1))
_WAN21 = (50, (14, 9, 6, 3, 2, 1, 1))
SHAPED_STEPS = {
    "wan2.2-ti2v-5b": _WAN22,
    "wan2.2-fun-5b-camera": _WAN22,
    "wan2.1-i2v-14b-480p": _WAN21,
    "wan2.1-i2v-14b-720p": _WAN21,
    "svd-xt": (25, (14, 13, 11, 10, 8, 4, 0)),
    # DynamiCrafter and its camera models: upstream's rule on its own schedule (t >= 900: t = 999, 959, 919), the
    # zero-SNR 512 model's included.
    **{
        alias: (25, (3, 0, 0, 0, 0, 0, 0))
        for alias in ("dynamicrafter-256", "dynamicrafter-512", "motionctrl-256", "cameractrl-256")
        + ("cami2v-256", "cami2v-512", "realcam-i2v-256", "realcam-i2v-512")
    },
    # Step 1 only at every listed threshold: the levels are 3.0, 0.68, 0.38 (adapters/wan_dmd.py has the rule).
    "fastwan2.2-ti2v-draft": (3, (1, 1, 1, 1, 1, 1, 1)),
}


def shaping_summary(alias: str) -> dict | None:
    """{"steps": N, "shaped": {"0.9": k, ...}} for a known model, from SHAPED_STEPS; None for others."""
    if alias not in SHAPED_STEPS:
        return None
    steps, counts = SHAPED_STEPS[alias]
    return {"steps": steps, "shaped": {f"{t:g}": k for t, k in zip(REPORTED_THRESHOLDS, counts, strict=True)}}
