"""What the model is given from a bundle: the previews noise shaping encodes (over grey, with their mask, the
photo as frame 0) and the cameras, per generated frame (frames past the bundle's hold its last)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from realcam_core.bundle import JobBundle
from realcam_core.masks import shaping_mask

PREVIEW_FILL = 127  # uncovered preview pixels are encoded as mid grey (they are masked out anyway)


def read_previews(folder: str, bundle: JobBundle, count: int):
    """(count, H, W, 3) uint8 RGB over grey and (count, H, W) bool shaping mask.
    Frames past the bundle's repeat its last (the camera holds)."""
    rgb, alpha = [], []
    for f in bundle.frames:
        a = np.asarray(Image.open(os.path.join(folder, f.preview)).convert("RGBA"))
        rgb.append(a[..., :3])
        alpha.append(a[..., 3])
    rgb, alpha = np.stack(rgb), np.stack(alpha)
    if count > len(rgb):
        pad = count - len(rgb)
        rgb = np.concatenate([rgb, np.repeat(rgb[-1:], pad, 0)])
        alpha = np.concatenate([alpha, np.repeat(alpha[-1:], pad, 0)])
    covered = (alpha >= 128)[..., None]
    rgb = np.where(covered, rgb, np.uint8(PREVIEW_FILL))
    return rgb, shaping_mask(alpha)


def scene_video(folder: str, bundle: JobBundle, count: int):
    """What noise shaping encodes: (count, 3, H, W) float in [-1, 1], and the (count, H, W) bool pixel mask.

    Frame 0 is the reference photo, not preview frame 0 (which may have holes), as upstream pastes the
    photo's latent into the scene video: a causal video VAE (Wan) reads frame 0 as context for the next
    latent frames. The reference latent frames are never shaped (the adapters mask them off)."""
    import torch

    rgb, mask = read_previews(folder, bundle, count)
    rgb[0] = np.asarray(Image.open(os.path.join(folder, bundle.reference_image)).convert("RGB"))
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1.0, mask


def cameras_per_frame(bundle: JobBundle, count: int):
    """Per generated frame (F, 4) fx, fy, cx, cy and (F, 4, 4) c2w; frames past the bundle's hold its last."""
    ks = np.array([[f.intrinsics.fx, f.intrinsics.fy, f.intrinsics.cx, f.intrinsics.cy] for f in bundle.frames])
    c2w = bundle.c2ws
    if count > len(ks):
        ks = np.concatenate([ks, np.repeat(ks[-1:], count - len(ks), 0)])
        c2w = np.concatenate([c2w, np.repeat(c2w[-1:], count - len(c2w), 0)])
    return ks[:count], c2w[:count]
