import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam_core.camera import Intrinsics, relative_to_first
from realcam_core.re10k import (
    Re10kError,
    Re10kFile,
    Re10kFrame,
    format_re10k,
    from_track,
    parse_re10k,
    read_re10k,
    write_re10k,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def camera_files(draw):
    n = draw(st.integers(1, 6))
    frames = []
    for _ in range(n):
        vals = draw(st.lists(finite, min_size=16, max_size=16))
        frames.append(Re10kFrame(draw(st.integers(0, 2**53)), *vals[:4], np.array(vals[4:]).reshape(3, 4)))
    source = draw(st.one_of(st.none(), st.just("https://www.youtube.com/watch?v=abc")))
    return Re10kFile(frames, source)


@settings(max_examples=200, deadline=None)
@given(camera_files())
def test_round_trip_is_exact(cams):
    text = format_re10k(cams)
    back = parse_re10k(text)
    assert back.source == cams.source
    assert len(back.frames) == len(cams.frames)
    for a, b in zip(back.frames, cams.frames, strict=True):
        assert a.timestamp == b.timestamp
        assert (a.fx, a.fy, a.cx, a.cy) == (b.fx, b.fy, b.cx, b.cy)
        assert np.array_equal(a.w2c, b.w2c)  # bit for bit
    assert format_re10k(back) == text


def test_file_round_trip_and_track_conversion(tmp_path):
    rng = np.random.default_rng(3)
    poses = []
    for i in range(4):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        R = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = R, rng.normal(size=3) * i
        poses.append(m)
    track = relative_to_first(poses)
    K = Intrinsics(500.0, 510.0, 416.0, 240.0, 832, 480)
    cams = from_track(track, [K] * 4, fps=24)
    write_re10k(tmp_path / "cams.txt", cams)
    back = read_re10k(tmp_path / "cams.txt")
    assert [f.timestamp for f in back.frames] == [0, 41667, 83333, 125000]
    for f, c2w in zip(back.frames, track, strict=True):
        assert np.allclose(f.c2w(), c2w, atol=1e-12)
        # Non-square pixels (fx != fy): the file cannot tell its aspect, so it is read with the one it was made for.
        K2 = f.intrinsics(832, 480, source_aspect=832 / 480)
        assert (K2.fx, K2.fy, K2.cx, K2.cy) == pytest.approx((500.0, 510.0, 416.0, 240.0))


def test_dataset_line_format_is_read():
    line = "45000 0.5 0.8 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0"
    cams = parse_re10k("https://www.youtube.com/watch?v=x\n" + line + "\n")
    assert cams.source.startswith("https://")
    assert cams.frames[0].timestamp == 45000
    assert np.array_equal(cams.frames[0].w2c, np.eye(4)[:3])


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("url\n1 2 3\n", "19 numbers"),
        ("0 a 0 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 0\n", "not a number"),
        ("0 nan 0 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 0\n", "non-finite"),
        ("just-a-url\n", "no camera rows"),
    ],
)
def test_bad_files_name_the_line(text, match):
    with pytest.raises(Re10kError, match=match):
        parse_re10k(text)
