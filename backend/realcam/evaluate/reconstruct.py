"""Camera poses of video frames by COLMAP (pycolmap, CPU), intrinsics fixed to the requested ones.

Why this pipeline (measured on renders of a textured room along known moves, 4 runs each):
- Incremental mapping needs an initial pair, and COLMAP's initialiser rejects a pair whose motion
  is mostly along the viewing axis (init_max_forward_motion): seeded with frame 0 and a far frame
  it still failed on 25-frame forward dollies in 3 runs of 4 (no model at 512x320; RotErr 1.9,
  TransErr 5.9 on add-on previews). The global mapper (GLOMAP: rotation averaging, global
  positioning, bundle adjustment) needs no initial pair and gave the same, right answer in every
  run on dollies in and out, orbit, truck and crane. Trying several initial pairs and keeping the
  lowest reprojection error took 3-6x the time, still varied from run to run and never gets a pan.
- Run-to-run differences came from three places, all pinned here: image ids followed the order in
  which extraction threads finished (images are now imported in frame order first), RANSAC and
  mapper seeds (fixed), and threaded matching (one matching thread, see below).
- A pan, tilt or zoom has no parallax: no camera centre can be recovered, by nature, and a mapper
  then returns an arbitrary translation. Such videos are recognised before mapping (every verified
  pair, the widest apart included, is explained by a pure rotation to within ROTATION_ONLY_PX) and
  scored with rotations chained over the verified pairs and translations exactly 0.
- Each frame has its own camera when the lens changes (a zoom is measured with the right focal
  length in every frame).
- Matching runs on one thread: pycolmap carries its own, statically linked OpenBLAS (an OpenMP
  build, beside numpy's copy), and FAISS calls its sgemm from every matcher thread at once; that
  races in OpenBLAS's buffer table, which then prints "BLAS : Bad memory unallocation!" to stdout
  (OpenBLAS issues #3057, #2444). quiet_stdout() keeps anything a library still writes to fd 1 off
  the JSON stream.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from realcam_core.camera import Intrinsics

SEED = 0
# 90th-percentile residual (px) of a pure-rotation fit on the widest quarter of frame pairs. Measured:
# pans and zooms 0.4-0.8 px (add-on previews with holes the highest), the least parallax of the
# moves (a crane at 256x160) 4.6 px, dollies 7-17 px.
ROTATION_ONLY_PX = 2.0
MIN_PAIR_INLIERS = 30
_FD1 = threading.Lock()  # fd 1 is process-wide: one redirection at a time (the service's worker thread)


@dataclass
class SfmResult:
    c2w: dict  # frame index -> 4x4 camera-to-world in the SfM frame (OpenCV axes)
    frame0_points: np.ndarray  # (M, 3): u, v in frame 0 and z-depth in frame 0's camera, SfM units
    model: str = "global_sfm"  # or "rotation_only": no parallax, translations are 0
    reprojection_px: float | None = None  # mean reprojection error of the global model
    rotation_residual_px: float | None = None  # how far the widest pairs are from a pure rotation


@contextlib.contextmanager
def quiet_stdout():
    """Send what C/C++ libraries write to fd 1 (OpenBLAS, glog, Ceres) to fd 2 for the block.

    C stdio buffers stdout on a pipe, so it is flushed while fd 1 still points at stderr,
    or the libraries' text would reach the real stdout later."""
    import ctypes

    libc = ctypes.CDLL(None)
    with _FD1:
        sys.stdout.flush()
        libc.fflush(None)
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            yield
        finally:
            libc.fflush(None)
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _params(K) -> tuple:
    return (float(K.fx), float(K.fy), float(K.cx), float(K.cy))


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


def _build_database(frames_dir: str, names: list[str], params: list[tuple], work: str, threads: int) -> str:
    import pycolmap

    db = os.path.join(work, "database.db")
    per_image = any(p != params[0] for p in params)
    mode = pycolmap.CameraMode.PER_IMAGE if per_image else pycolmap.CameraMode.SINGLE
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "PINHOLE"
    reader.camera_params = ",".join(repr(v) for v in params[0])  # COLMAP's pixel convention is ours
    with pycolmap.Database.open(db):
        pass
    # Imported in frame order before extraction: image id = frame + 1 in every run (threaded
    # extraction otherwise numbers images in the order its threads finish).
    pycolmap.import_images(db, frames_dir, mode, names, reader)
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = threads
    extraction.use_gpu = False
    pycolmap.extract_features(
        db,
        frames_dir,
        image_names=names,
        camera_mode=mode,
        reader_options=reader,
        extraction_options=extraction,
        device=pycolmap.Device.cpu,
    )
    if per_image:
        with pycolmap.Database.open(db) as d:
            for img in d.read_all_images():
                cam = d.read_camera(img.camera_id)
                cam.params = list(params[names.index(img.name)])
                cam.has_prior_focal_length = True
                d.update_camera(cam)
    matching = pycolmap.FeatureMatchingOptions()
    matching.num_threads = 1  # concurrent FAISS sgemm calls race in pycolmap's OpenBLAS (module doc)
    matching.use_gpu = False
    pairing = pycolmap.SequentialPairingOptions()
    pairing.overlap = 10
    pairing.quadratic_overlap = True  # frame 0 also meets 16, 32, ...: wide baselines for the mapper
    verify = pycolmap.TwoViewGeometryOptions()
    verify.ransac.max_error = 2.0  # with the 0.9 ratio, floors do not read as planes
    verify.ransac.random_seed = SEED
    verify.max_H_inlier_ratio = 0.9
    pycolmap.match_sequential(
        db, matching_options=matching, pairing_options=pairing, verification_options=verify, device=pycolmap.Device.cpu
    )
    return db


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """R minimising sum ||b - R a||^2 over unit vectors (rows)."""
    U, _, Vt = np.linalg.svd(a.T @ b)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    return Vt.T @ D @ U.T


def _bearings(xy: np.ndarray, p: tuple) -> np.ndarray:
    fx, fy, cx, cy = p
    v = np.stack([(xy[:, 0] - cx) / fx, (xy[:, 1] - cy) / fy, np.ones(len(xy))], 1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _angles(a: np.ndarray, b: np.ndarray, R: np.ndarray) -> np.ndarray:
    ra = a @ R.T
    return np.arctan2(np.linalg.norm(np.cross(ra, b), axis=1), np.einsum("ij,ij->i", ra, b))


def _pair_rotation(a: np.ndarray, b: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray]:
    """Pure-rotation fit of matched bearings, trimmed in steps: (R_b_from_a, residuals of all matches in px)."""
    R = _kabsch(a, b)
    for thr in (4.0, 2.0, 1.0):
        keep = _angles(a, b, R) * f < thr
        if keep.sum() >= 8:
            R = _kabsch(a[keep], b[keep])
    return R, _angles(a, b, R) * f


def _rotation_only(db: str, names: list[str], params: list[tuple]) -> tuple[float | None, dict]:
    """(90th-percentile px residual of pure-rotation fits on the widest pairs, {frame: c2w} with t = 0)."""
    import pycolmap

    with pycolmap.Database.open(db) as d:
        frame_of = {img.image_id: names.index(img.name) for img in d.read_all_images()}
        kps = {i: np.asarray(d.read_keypoints(i))[:, :2] for i in frame_of}
        pair_ids, geoms = d.read_two_view_geometries()
    fits = {}
    for pid, g in zip(pair_ids, geoms, strict=True):
        m = np.asarray(g.inlier_matches)
        if len(m) < MIN_PAIR_INLIERS:
            continue
        i1, i2 = pycolmap.pair_id_to_image_pair(pid)
        f1, f2 = frame_of[i1], frame_of[i2]
        a = _bearings(kps[i1][m[:, 0]], params[f1])
        b = _bearings(kps[i2][m[:, 1]], params[f2])
        R, res = _pair_rotation(a, b, params[f2][0])
        if f1 > f2:
            f1, f2, R = f2, f1, R.T
        fits[f1, f2] = (R, float(np.percentile(res, 90)))
    if not fits:
        return None, {}
    # Parallax grows with the distance between frames: judge on the widest quarter of the pairs.
    gaps = sorted({f2 - f1 for f1, f2 in fits})
    widest = gaps[int(0.75 * (len(gaps) - 1))]
    residual = float(np.median([r for (f1, f2), (_, r) in fits.items() if f2 - f1 >= widest]))
    # Chain world-to-camera rotations from frame 0, over the longest available link (fewest hops).
    R_w2c = {0: np.eye(3)}
    grown = True
    while grown:
        grown = False
        for f in range(len(names)):
            if f in R_w2c:
                continue
            links = [(f - f1, f1, R) for (f1, f2), (R, _) in fits.items() if f2 == f and f1 in R_w2c]
            links += [(f2 - f, f2, R.T) for (f1, f2), (R, _) in fits.items() if f1 == f and f2 in R_w2c]
            if links:
                _, src, R = max(links, key=lambda x: x[0])
                R_w2c[f] = R @ R_w2c[src]
                grown = True
    c2w = {}
    for f, R in R_w2c.items():
        c2w[f] = np.eye(4)
        c2w[f][:3, :3] = R.T
    return residual, c2w


def _global_sfm(db: str, frames_dir: str, work: str, threads: int):
    import pycolmap

    out = os.path.join(work, "sparse")
    os.makedirs(out, exist_ok=True)
    opts = pycolmap.GlobalPipelineOptions()
    opts.num_threads = threads
    opts.random_seed = SEED
    m = opts.mapper
    m.num_threads = threads
    m.random_seed = SEED
    m.rotation_averaging.random_seed = SEED
    m.global_positioning.random_seed = SEED
    m.global_positioning.use_gpu = False
    m.retriangulation.random_seed = SEED
    ba = m.bundle_adjustment
    ba.refine_focal_length = False
    ba.refine_principal_point = False
    ba.refine_extra_params = False
    ba.ceres.use_gpu = False
    recs = pycolmap.global_mapping(db, frames_dir, out, opts)
    return max(recs.values(), key=lambda r: r.num_reg_images(), default=None)


def _frame0_points(rec, name0: str, c2w0: np.ndarray) -> np.ndarray:
    img0 = next((im for im in rec.images.values() if im.name == name0), None)
    pts = []
    if img0 is not None:
        w2c0 = np.linalg.inv(c2w0)
        for p2d in img0.points2D:
            pid = p2d.point3D_id
            if pid in rec.points3D:
                z = (w2c0[:3, :3] @ np.asarray(rec.points3D[pid].xyz) + w2c0[:3, 3])[2]
                if z > 0:
                    pts.append((p2d.xy[0], p2d.xy[1], z))
    return np.asarray(pts, dtype=np.float64).reshape(-1, 3)


def reconstruct(
    frames_dir: str, names: list[str], Ks: list[Intrinsics], work: str, threads: int = 2
) -> SfmResult | None:
    """Ks: the requested intrinsics of every frame. Everything printed by the libraries goes to stderr."""
    import pycolmap

    pycolmap.logging.minloglevel = 2  # no glog INFO/WARNING lines
    pycolmap.set_random_seed(SEED)
    params = [_params(K) for K in Ks]
    with quiet_stdout():
        db = _build_database(frames_dir, names, params, work, threads)
        residual, rot_c2w = _rotation_only(db, names, params)
        if residual is not None and residual < ROTATION_ONLY_PX:
            return SfmResult(rot_c2w, np.zeros((0, 3)), "rotation_only", None, residual)
        try:
            rec = _global_sfm(db, frames_dir, work, threads)
        except Exception:  # noqa: BLE001 - the caller reports "too few frames registered"
            rec = None
    if rec is None:
        return None
    by_name = {img.name: img for img in rec.images.values()}
    c2w = {i: _pose(by_name[n]) for i, n in enumerate(names) if n in by_name and by_name[n].has_pose}
    pts = _frame0_points(rec, names[0], c2w[0]) if 0 in c2w else np.zeros((0, 3))
    return SfmResult(c2w, pts, "global_sfm", float(rec.compute_mean_reprojection_error()), residual)
