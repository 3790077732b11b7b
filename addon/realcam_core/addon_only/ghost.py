"""The ghost camera: the camera COLMAP recovered from a take, placed in the artist's Blender world (pure numpy).

`realcam eval` reports the recovered cameras relative to the take's frame 0, in
OpenCV axes and in the reconstruction's own (arbitrary) units. To draw them
next to the camera the artist keyed, they are anchored to the requested
track's first frame and given its scale:

* metres, when the eval knew the metric scale (a frame-0 metric depth);
* otherwise the eval's own normalisation: the recovered track is scaled so
  that its largest camera offset equals the requested track's largest offset
  (what TransErr compares), so the ghost shows the direction of the drift,
  not a size the video cannot tell;
* a rotation-only reconstruction (no parallax) stays where frame 0 is.

Frames COLMAP did not register get no key: the ghost holds its last pose there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import CameraError, blender_from_opencv_c2w, opencv_c2w_from_blender, rigid_problems

# Below this largest offset a track counts as a pure rotation (as the eval's metrics.STILL).
STILL = 1e-5


@dataclass(frozen=True)
class GhostTrack:
    """Per registered frame: its index in the take and the ghost's Blender matrix_world."""

    frames: list[int]
    matrices: np.ndarray  # (N, 4, 4) Blender matrix_world, Blender units
    scale: float  # recovered units -> metres applied
    scaled_by: str  # "metric", "requested track" or "rotation only"


def recovered_poses(accuracy: dict) -> tuple[list[int], np.ndarray]:
    """(registered frame indices, relative OpenCV c2w) from a take's camera_accuracy; clear errors else."""
    if not isinstance(accuracy, dict):
        raise CameraError("this take has no camera accuracy: turn on Measure camera accuracy and generate again")
    if accuracy.get("error"):
        raise CameraError(f"camera accuracy was not measured for this take: {accuracy['error']}")
    poses, frames = accuracy.get("recovered_c2w"), accuracy.get("registered_frames")
    if poses is None or frames is None:
        raise CameraError(
            "this take's camera accuracy has no recovered cameras (made by an older backend): generate it again"
        )
    arr = np.asarray(poses, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (4, 4) or len(arr) != len(frames) or not len(arr):
        raise CameraError(f"recovered cameras have shape {arr.shape} for {len(frames)} registered frames")
    for i, m in enumerate(arr):
        bad = rigid_problems(m, tol=1e-3)
        if bad:
            raise CameraError(
                f"recovered camera {i}: {'; '.join(bad)}: the take's result is damaged; generate the take again"
            )
    return [int(f) for f in frames], arr


def ghost_track(
    accuracy: dict,
    requested_rel: np.ndarray,
    first_matrix_world,
    unit_scale: float = 1.0,
) -> GhostTrack:
    """Blender matrix_world per registered frame for the recovered camera.

    requested_rel: (N, 4, 4) the requested track, relative OpenCV c2w in metres (camera_track.read_track);
    first_matrix_world: the artist camera's matrix_world at the take's first frame;
    unit_scale: the scene's metres per Blender unit."""
    frames, rec = recovered_poses(accuracy)
    req = np.asarray(requested_rel, dtype=np.float64)
    if req.ndim != 3 or req.shape[1:] != (4, 4):
        raise CameraError(f"requested track must be (frames, 4, 4), got {req.shape}")
    if frames[0] != 0 or max(frames) >= len(req):
        raise CameraError(
            f"recovered frames {frames[0]}..{max(frames)} do not fit the requested track of {len(req)} frames "
            "(frame 0 must be among them): the take and the shot no longer match; generate the take again for this "
            "frame range"
        )
    # Relative to the first registered frame (frame 0) again, in case the eval's poses were not.
    rec = np.einsum("ij,njk->nik", np.linalg.inv(rec[0]), rec)
    reach = np.linalg.norm(rec[:, :3, 3], axis=1).max()
    metric = accuracy.get("metric_scale")
    if reach <= STILL or accuracy.get("model") == "rotation_only":
        scale, how = 0.0, "rotation only"
    elif metric is not None and np.isfinite(metric) and metric > 0:
        scale, how = float(metric), "metric"
    else:
        req_reach = np.linalg.norm(req[frames, :3, 3], axis=1).max()
        scale, how = float(req_reach / reach), "requested track"
    rec[:, :3, 3] *= scale
    anchor = opencv_c2w_from_blender(first_matrix_world, unit_scale)
    world = np.einsum("ij,njk->nik", anchor, rec)
    mats = np.stack([blender_from_opencv_c2w(m, unit_scale) for m in world])
    return GhostTrack(frames, mats, scale, how)
