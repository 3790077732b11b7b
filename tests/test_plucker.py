"""Plücker ray maps (realcam_core.plucker) against independent computations for known cameras."""

import numpy as np
import pytest
from helpers import axis_angle, backproject

from realcam_core.camera import Intrinsics
from realcam_core.plucker import (
    group_frames,
    latent_camera_input,
    latent_frame_sources,
    plucker_frame,
    plucker_rays,
)


def pose(rot=None, t=(0, 0, 0)):
    m = np.eye(4)
    m[:3, :3] = np.eye(3) if rot is None else rot
    m[:3, 3] = t
    return m


def test_rays_match_points_backprojected_through_the_pixel_centres():
    """Any point X seen at a pixel lies on that pixel's ray: d = (X - o) / |X - o| and moment = X x d."""
    w, h = 7, 5
    K = Intrinsics(6.0, 5.0, 3.2, 2.6, w, h)
    c2w = pose(axis_angle([0.3, 1.0, -0.2], 0.4), (0.5, -0.2, 1.3))
    rays = plucker_frame((K.fx, K.fy, K.cx, K.cy), c2w, h, w)
    assert rays.shape == (6, h, w) and rays.dtype == np.float32
    rng = np.random.default_rng(0)
    for j in range(h):
        for i in range(w):
            depth = rng.uniform(0.5, 9.0)
            p_cam = backproject(np.array([i + 0.5]), np.array([j + 0.5]), np.array([depth]), K)[0]
            X = c2w[:3, :3] @ p_cam + c2w[:3, 3]
            d = (X - c2w[:3, 3]) / np.linalg.norm(X - c2w[:3, 3])
            assert np.allclose(rays[3:, j, i], d, atol=1e-6)
            assert np.allclose(rays[:3, j, i], np.cross(X, d), atol=1e-5)


def test_pure_dolly_moments_vanish_on_the_optical_axis_and_have_no_z():
    w, h, tz = 5, 3, 0.8
    k = (2.0, 2.0, 2.5, 1.5)  # the centre of pixel (2, 1) is exactly on the optical axis
    rays = plucker_frame(k, pose(t=(0, 0, tz)), h, w)
    moment, d = rays[:3], rays[3:]
    assert np.array_equal(moment[:, 1, 2], np.zeros(3)) and np.allclose(d[:, 1, 2], [0, 0, 1])
    assert np.all(moment[2] == 0)  # (0, 0, tz) x d has no z component
    assert np.allclose(moment[0], -tz * d[1]) and np.allclose(moment[1], tz * d[0])
    # |moment| = tz sin(angle to the axis): grows away from the axis.
    assert np.allclose(np.linalg.norm(moment, axis=0), tz * np.sqrt(1 - d[2] ** 2), atol=1e-6)
    assert np.linalg.norm(moment[:, 0, 0]) > np.linalg.norm(moment[:, 1, 1]) > 0


def test_pure_rotation_has_zero_moments_and_rotated_directions():
    w, h = 6, 4
    k = (5.0, 5.0, 3.0, 2.0)
    rot = axis_angle([0, 1, 0], np.radians(20))
    still, turned = plucker_frame(k, np.eye(4), h, w), plucker_frame(k, pose(rot), h, w)
    assert np.all(still[:3] == 0) and np.all(turned[:3] == 0)
    assert np.allclose(turned[3:], np.einsum("ij,jhw->ihw", rot, still[3:]), atol=1e-6)
    assert np.allclose(np.linalg.norm(turned[3:], axis=0), 1.0, atol=1e-6)


def test_truck_moments():
    tx = -0.3
    rays = plucker_frame((4.0, 4.0, 2.0, 2.0), pose(t=(tx, 0, 0)), 4, 4)
    m, d = rays[:3], rays[3:]
    assert np.allclose(m[0], 0) and np.allclose(m[1], -tx * d[2]) and np.allclose(m[2], tx * d[1])


def test_track_is_made_relative_to_its_first_camera():
    rng = np.random.default_rng(1)
    world = pose(axis_angle(rng.normal(size=3), 0.7), rng.normal(size=3))
    rel = [np.eye(4)] + [pose(axis_angle([0, 0, 1], 0.1 * i), (0.1 * i, 0.0, 0.4 * i)) for i in range(1, 5)]
    k = np.array([[5.0, 5.0, 3.0, 2.0]] * 5)
    for latent in (0, 1):
        a = latent_camera_input(k, rel, 4, 6, latent)
        b = latent_camera_input(k, [world @ m for m in rel], 4, 6, latent)
        assert a.shape == (24, 4, 6) and np.allclose(a, b, atol=1e-5)
    assert np.all(latent_camera_input(k, [world @ m for m in rel], 4, 6, 0)[:12] == 0)  # frame 0 at the origin


def test_latent_frames_group_frame_zero_four_times_then_fours_with_channel_4c_plus_j():
    assert latent_frame_sources(9) == [(0, 0, 0, 0), (1, 2, 3, 4), (5, 6, 7, 8)]
    assert len(latent_frame_sources(121)) == 31 and latent_frame_sources(121)[-1] == (117, 118, 119, 120)
    for bad in (0, 8, 10):
        with pytest.raises(ValueError, match="4k\\+1"):
            latent_frame_sources(bad)
    tagged = np.array([[np.full((2, 3), 100 * c + f) for c in range(6)] for f in (5, 6, 7, 8)])  # (4, 6, 2, 3)
    grouped = group_frames(tagged)
    assert grouped.shape == (24, 2, 3)
    for c in range(6):
        for j in range(4):
            assert grouped[4 * c + j, 0, 0] == 100 * c + (5 + j)


def test_latent_camera_input_is_the_grouped_rays_of_its_frames():
    rng = np.random.default_rng(2)
    n, h, w = 9, 4, 6
    k = np.column_stack([rng.uniform(4, 6, n), rng.uniform(4, 6, n), np.full(n, 3.0), np.full(n, 2.0)])
    c2w = [np.eye(4)] + [pose(axis_angle(rng.normal(size=3), 0.2), rng.normal(size=3)) for _ in range(n - 1)]
    rays = plucker_rays(k, c2w, h, w)
    for latent, frames in enumerate(latent_frame_sources(n)):
        x = latent_camera_input(k, c2w, h, w, latent)
        assert x.shape == (24, h, w)
        assert np.array_equal(x, group_frames(rays[list(frames)]))
