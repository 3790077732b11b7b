"""The import's own PNG writer (realcam_core.addon_only.png_write): what any reader reads back."""

import numpy as np
import pytest
from PIL import Image

from realcam_core.addon_only.png_write import bytes_from_unit_floats, write_png


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (37, 64), (96, 128)])
def test_pillow_reads_back_exactly_what_was_written(tmp_path, shape):
    rgb = np.random.default_rng(shape[0]).integers(0, 256, (*shape, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 1)  # wraps in the Sub filter
    path = tmp_path / "image.png"
    write_png(path, rgb)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (shape[1], shape[0])
        assert np.array_equal(np.asarray(im), rgb)


def test_only_rgb_is_written(tmp_path):
    with pytest.raises(ValueError, match="RGB"):
        write_png(tmp_path / "x.png", np.zeros((4, 4, 4), np.uint8))


def test_floats_become_bytes_by_rounding_half_up_and_clamping():
    v = np.array([-1.0, 0.0, 0.49 / 255, 0.5 / 255, 1.0 - 0.5 / 255, 1.0 - 0.49 / 255, 1.0, 7.0], np.float32)
    assert bytes_from_unit_floats(v).tolist() == [0, 0, 0, 1, 255, 255, 255, 255]
    x = np.random.default_rng(0).random(10000, dtype=np.float32)
    assert np.array_equal(bytes_from_unit_floats(x), np.floor(x.astype(np.float64) * 255 + 0.5).astype(np.uint8))
