"""Camera poses of video frames by COLMAP (pycolmap, CPU), intrinsics fixed to the requested ones.

SIFT features, sequential matching, incremental mapping seeded with frame 0 and
a frame further on (a pure dolly otherwise often fails to start), with a 2 px
RANSAC threshold and a 0.9 homography ratio so floors do not read as planes
(facts measured on this project's rooms).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from realcam_core.camera import Intrinsics


@dataclass
class SfmResult:
    c2w: dict  # frame index -> 4x4 camera-to-world in the SfM frame (OpenCV axes)
    frame0_points: np.ndarray  # (M, 3): u, v in frame 0 and z-depth in frame 0's camera, SfM units


def _pose(image) -> np.ndarray:
    cfw = image.cam_from_world
    cfw = cfw() if callable(cfw) else cfw
    w2c = np.eye(4)
    w2c[:3, :] = np.asarray(cfw.matrix())
    r = w2c[:3, :3]
    c2w = np.eye(4)
    c2w[:3, :3] = r.T
    c2w[:3, 3] = -r.T @ w2c[:3, 3]
    return c2w


def _registered(image) -> bool:
    for attr in ("has_pose", "registered"):
        v = getattr(image, attr, None)
        if v is not None:
            return bool(v() if callable(v) else v)
    return True


def reconstruct(frames_dir: str, names: list[str], K: Intrinsics, work: str, threads: int = 2) -> SfmResult | None:
    import pycolmap

    db = os.path.join(work, "database.db")
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "PINHOLE"
    reader.camera_params = f"{K.fx},{K.fy},{K.cx},{K.cy}"  # COLMAP's pixel convention is ours
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = threads
    extraction.use_gpu = False
    pycolmap.extract_features(
        db,
        frames_dir,
        image_names=names,
        camera_mode=pycolmap.CameraMode.SINGLE,
        reader_options=reader,
        extraction_options=extraction,
        device=pycolmap.Device.cpu,
    )
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = threads
    matching.use_gpu = False
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = 10
    verify = pycolmap.TwoViewGeometryOptions()
    verify.ransac.max_error = 2.0
    verify.max_H_inlier_ratio = 0.9
    pycolmap.match_sequential(
        db, matching_options=matching, pairing_options=pairing, verification_options=verify, device=pycolmap.Device.cpu
    )
    best = None
    for second in (len(names) // 2 + 1, len(names), None):
        opts = pycolmap.IncrementalPipelineOptions()
        opts.ba_refine_focal_length = False
        opts.ba_refine_principal_point = False
        opts.ba_refine_extra_params = False
        opts.multiple_models = False
        opts.num_threads = threads
        if second is not None and second > 1:
            opts.init_image_id1, opts.init_image_id2 = 1, second
        out = os.path.join(work, f"sparse-{second}")
        os.makedirs(out, exist_ok=True)
        try:
            recs = pycolmap.incremental_mapping(db, frames_dir, out, options=opts)
        except Exception:
            continue
        for rec in recs.values():
            if best is None or rec.num_reg_images() > best.num_reg_images():
                best = rec
        if best is not None and best.num_reg_images() == len(names):
            break
    if best is None:
        return None
    by_name = {img.name: img for img in best.images.values()}
    c2w = {i: _pose(by_name[n]) for i, n in enumerate(names) if n in by_name and _registered(by_name[n])}
    pts = []
    if 0 in c2w:
        img0 = by_name[names[0]]
        w2c0 = np.linalg.inv(c2w[0])
        for p2d in img0.points2D:
            pid = p2d.point3D_id
            if pid in best.points3D:
                xyz = np.asarray(best.points3D[pid].xyz)
                z = (w2c0[:3, :3] @ xyz + w2c0[:3, 3])[2]
                if z > 0:
                    pts.append((p2d.xy[0], p2d.xy[1], z))
    return SfmResult(c2w, np.asarray(pts, dtype=np.float64).reshape(-1, 3))
