import numpy as np
from helpers import project_blender

from realcam_core.addon_only.pointcloud import grid_topology, grid_vertices
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
