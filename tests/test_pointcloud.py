import numpy as np

from realcam_core.addon_only.pointcloud import backproject_depth, blender_world_points, grid_faces
from realcam_core.camera import Intrinsics, project


def test_points_project_back_to_pixel_centres():
    K = Intrinsics(300.0, 310.0, 161.0, 118.5, 320, 240)
    depth = np.random.default_rng(0).uniform(0.5, 9.0, (240, 320)).astype(np.float32)
    pts = backproject_depth(depth, K)
    uv = project(pts.reshape(-1, 3).astype(np.float64), K).reshape(240, 320, 2)
    jj, ii = np.mgrid[0:240, 0:320]
    assert np.allclose(uv[..., 0], ii + 0.5, atol=1e-3)
    assert np.allclose(uv[..., 1], jj + 0.5, atol=1e-3)
    assert np.allclose(pts[..., 2], depth)


def test_faces_skip_discontinuities_and_unknown_depth():
    depth = np.full((6, 8), 2.0, np.float32)
    depth[:, 4:] = 4.0  # a step between columns 3 and 4
    depth[0, 0] = 0.0  # unknown
    faces = grid_faces(depth)
    cols = faces[:, 0] % 8
    assert 3 not in cols  # no face bridges the step
    assert 0 not in faces[:, 0]  # nor touches the unknown pixel
    assert len(faces) == 5 * 7 - 5 - 1


def test_faces_face_the_camera_in_blender():
    K = Intrinsics.default_for(4, 4)
    depth = np.full((4, 4), 3.0, np.float32)
    world = blender_world_points(backproject_depth(depth, K)).reshape(-1, 3)
    a, b, c, _ = (world[i] for i in grid_faces(depth)[0])
    normal = np.cross(b - a, c - b)
    centre = world.mean(axis=0)
    assert np.dot(normal, -centre) > 0  # points back toward the camera at the origin
    assert np.allclose(world[:, 1], 3.0)  # depth runs along Blender +Y
