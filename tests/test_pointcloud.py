import numpy as np
import pytest
from blender_scripts import before_issue_30
from helpers import project_blender

from realcam_core.addon_only.pointcloud import face_mask, grid_topology, grid_vertices, topology_counts
from realcam_core.camera import Intrinsics


def test_vertices_project_back_to_pixel_centres_and_the_frame_edge():
    K = Intrinsics(300.0, 310.0, 161.0, 118.5, 320, 240)
    depth = np.random.default_rng(0).uniform(0.5, 9.0, (240, 320)).astype(np.float32)
    verts = grid_vertices(depth, K)
    uv = project_blender(verts, K).reshape(240, 320, 2)
    jj, ii = np.mgrid[0:240, 0:320]
    u, v = ii + 0.5, jj + 0.5
    u[:, 0], u[:, -1], v[0], v[-1] = 0.0, 320.0, 0.0, 240.0  # the outer ring reaches the frame's edge
    assert np.allclose(uv[..., 0], u, atol=1e-3)
    assert np.allclose(uv[..., 1], v, atol=1e-3)
    assert np.allclose(verts[:, 1], depth.ravel())  # depth runs along Blender +Y


def test_faces_skip_discontinuities_and_unknown_depth():
    depth = np.full((6, 8), 2.0, np.float32)
    depth[:, 4:] = 4.0  # a step between columns 3 and 4
    depth[0, 0] = 0.0  # unknown
    faces = grid_topology(depth)[0]
    cols = faces[:, 0] % 8
    assert 3 not in cols  # no face bridges the step
    assert 0 not in faces[:, 0]  # nor touches the unknown pixel
    assert len(faces) == 5 * 7 - 5 - 1


def test_faces_face_the_camera_in_blender():
    K = Intrinsics.default_for(4, 4)
    depth = np.full((4, 4), 3.0, np.float32)
    world = grid_vertices(depth, K)
    a, b, c, _ = (world[i] for i in grid_topology(depth)[0][0])
    normal = np.cross(b - a, c - b)
    centre = world.mean(axis=0)
    assert np.dot(normal, -centre) > 0  # points back toward the camera at the origin
    assert np.allclose(world[:, 1], 3.0)  # depth runs along Blender +Y


@pytest.mark.parametrize("seed", range(12))
def test_topology_equals_the_one_before_issue_30(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(2, 60, 2))
    depth = rng.uniform(1.0, 1.12, (h, w)).astype(np.float32)  # about half the blocks cross the 5% rule
    for value, share in ((0.0, 0.05), (np.nan, 0.03), (np.inf, 0.02), (-1.0, 0.02), (9.0, 0.05)):
        depth[rng.random((h, w)) < share] = value
    valid = None if seed % 2 else np.isfinite(depth) & (depth > 0)
    ratio = (1.05, 1.001, 1.5)[seed % 3]
    want = before_issue_30.topology(depth, ratio, valid)
    got = grid_topology(depth, ratio, valid)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == np.int32 and np.array_equal(a, b)
    n_faces, n_edges = topology_counts(face_mask(depth, ratio, valid))
    assert (n_faces, n_edges) == (len(want[0]), len(want[1]))


def test_a_photo_sized_topology_equals_the_one_before_issue_30():
    h, w = 352, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = np.where(yy > h * 0.55, np.minimum(6.0, 1.2 * h / np.maximum(yy - h * 0.5, 1.0)), 6.0)  # floor, wall
    depth[(abs(xx - w * 0.4) < w * 0.12) & (abs(yy - h * 0.6) < h * 0.15)] = 2.5  # a box in front
    depth = depth.astype(np.float32)
    depth[100:120, 200:260] = np.nan  # a hole of unknown depth
    for a, b in zip(grid_topology(depth), before_issue_30.topology(depth), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 2), (3, 4)])
def test_degenerate_grids_match_too(shape):
    for depth in (np.full(shape, 2.0, np.float32), np.zeros(shape, np.float32)):
        got, want = grid_topology(depth), before_issue_30.topology(depth)
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and np.array_equal(a, b)
