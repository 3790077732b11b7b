"""Fitting a photo to the generation size: one prefiltered rule for the add-on and the backend."""

import numpy as np
import pytest
from helpers import SAMPLES
from PIL import Image

from realcam.depth.estimate import estimate
from realcam_core.resample import cover_crop_box, resize_cover, resize_cover_uint8


def room():
    return np.asarray(Image.open(f"{SAMPLES}/room.jpg").convert("RGB"))


@pytest.mark.parametrize("size", [(384, 224), (96, 64), (1280, 704)])
def test_colour_is_lanczos_with_its_prefilter_as_pillow_computes_it(size):
    # Pillow's LANCZOS (kernel widened by the downscale factor) on a real photo; Pillow rounds to 8 bits between
    # its two passes, we do not, hence a few levels apart at most.
    a = room()
    _, box = cover_crop_box((a.shape[1], a.shape[0]), size)
    pil = np.asarray(Image.fromarray(a).resize(size, Image.Resampling.LANCZOS, box=box)).astype(int)
    ours = resize_cover_uint8(a, size).astype(int)
    assert ours.shape == (size[1], size[0], 3)
    d = np.abs(ours - pil)
    assert d.max() <= 8 and d.mean() < 0.2, (d.max(), d.mean())


def test_fine_texture_does_not_alias_on_a_large_downscale():
    # One-pixel stripes shrunk 7.3x: a prefiltered resize sees their mean (mid grey); sampling a few source pixels
    # per output pixel (2-tap bilinear) turns them into a false pattern of dark and light bands.
    w, h = 1168, 730
    stripes = np.zeros((h, w), np.float32)
    stripes[:, ::2] = 1.0
    out = resize_cover(stripes, (160, 100))
    assert abs(out.mean() - 0.5) < 0.01 and out.std() < 0.02, (out.mean(), out.std())
    xs = (np.arange(160) + 0.5) * w / 160 - 0.5  # what 2-tap bilinear looks at
    x0 = np.floor(xs).astype(int)
    two_tap = stripes[0, x0] * (1 - (xs - x0)) + stripes[0, np.minimum(x0 + 1, w - 1)] * (xs - x0)
    assert two_tap.std() > 0.2  # the aliasing the prefilter removes


def test_depth_is_the_source_pixel_under_each_centre_as_pillow_nearest():
    rng = np.random.default_rng(1)
    for (W, H), size in [((640, 480), (320, 176)), ((333, 250), (512, 320)), ((1000, 700), (64, 48))]:
        d = rng.random((H, W)).astype(np.float32)
        _, box = cover_crop_box((W, H), size)
        pil = np.asarray(Image.fromarray(d).resize(size, Image.Resampling.NEAREST, box=box))
        ours = resize_cover(d, size, nearest=True)
        assert ours.dtype == np.float32 and np.array_equal(ours, pil)
        assert set(np.unique(ours)) <= set(np.unique(d))  # no invented depths


def test_add_on_floats_and_backend_bytes_follow_one_rule(tmp_path):
    # The add-on resizes Blender's floats in [0, 1]; the backend the photo's bytes. Same pixels either way.
    a = room()
    size = (384, 224)
    addon = np.clip(np.round(np.clip(resize_cover(a / 255.0, size), 0, 1) * 255), 0, 255).astype(np.uint8)
    backend = resize_cover_uint8(a, size)
    assert np.abs(addon.astype(int) - backend.astype(int)).max() <= 1
    # And `realcam depth` writes exactly the shared rule's pixels (here with the user's depth map: no model).
    np.save(tmp_path / "d.npy", np.full(a.shape[:2], 2.0, np.float32))
    result = estimate(f"{SAMPLES}/room.jpg", size=size, depth_map=str(tmp_path / "d.npy"))
    assert np.array_equal(result.image, backend)


def test_upscaling_and_grayscale_shapes():
    g = np.linspace(0, 1, 30 * 20, dtype=np.float32).reshape(20, 30)
    up = resize_cover(g, (90, 60))
    assert up.shape == (60, 90) and abs(up.mean() - g.mean()) < 0.01
    assert np.all(np.diff(up[30]) >= -1e-3)  # a ramp stays a ramp (Lanczos rings only at edges)
