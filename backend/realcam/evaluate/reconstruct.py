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
- Unknown intrinsics (`realcam track` without a focal length): one shared SIMPLE_PINHOLE camera with
  no focal prior; COLMAP's view-graph calibration estimates the focal length from the fundamental
  matrices before the global mapper, whose bundle adjustment then refines it. A clip without
  parallax gets its focal length from the pure-rotation fit instead: the one that explains the
  matches best by a rotation (a rotation seen through the wrong focal length is no rotation).
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
    # frame index -> (M, 6) per observed 3D point: u, v (pixels, as observed), z-depth in that frame's
    # camera (SfM units), u and v reprojection residual (observed - projected, px), 3D point id.
    observations: dict
    model: str = "global_sfm"  # or "rotation_only": no parallax, translations are 0
    reprojection_px: float | None = None  # mean reprojection error of the global model
    rotation_residual_px: float | None = None  # how far the widest pairs are from a pure rotation
    params: list | None = None  # (fx, fy, cx, cy) of every frame as used: estimated when focal_known=False

    @property
    def frame0_points(self) -> np.ndarray:
        """(M, 3): u, v in frame 0 and z-depth in frame 0's camera, SfM units."""
        return self.points(0)

    def points(self, frame: int) -> np.ndarray:
        """(M, 3): u, v and z-depth of the 3D points seen in a frame; empty when it has none."""
        obs = self.observations.get(frame)
        return np.zeros((0, 3)) if obs is None else obs[:, :3]


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


def _build_database(
    frames_dir: str, names: list[str], params: list[tuple], work: str, threads: int, focal_known: bool = True
) -> str:
    import pycolmap

    db = os.path.join(work, "database.db")
    per_image = focal_known and any(p != params[0] for p in params)
    mode = pycolmap.CameraMode.PER_IMAGE if per_image else pycolmap.CameraMode.SINGLE
    reader = pycolmap.ImageReaderOptions()
    if focal_known:
        reader.camera_model = "PINHOLE"
        reader.camera_params = ",".join(repr(v) for v in params[0])  # COLMAP's pixel convention is ours
    else:
        # One square-pixel focal length to find, no prior: matches are verified as fundamental matrices.
        reader.camera_model = "SIMPLE_PINHOLE"
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


def _calibrate(db: str) -> bool:
    """Focal length from the fundamental matrices (view-graph calibration); pairs upgraded to calibrated."""
    import pycolmap

    opts = pycolmap.ViewGraphCalibrationOptions()
    opts.random_seed = SEED
    return bool(pycolmap.calibrate_view_graph(db, opts))


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


def _read_pairs(db: str, names: list[str]) -> list[tuple]:
    """(frame a, frame b, keypoints in a, keypoints in b) of every verified pair with enough inliers."""
    import pycolmap

    with pycolmap.Database.open(db) as d:
        frame_of = {img.image_id: names.index(img.name) for img in d.read_all_images()}
        kps = {i: np.asarray(d.read_keypoints(i))[:, :2] for i in frame_of}
        pair_ids, geoms = d.read_two_view_geometries()
    pairs = []
    for pid, g in zip(pair_ids, geoms, strict=True):
        m = np.asarray(g.inlier_matches)
        if len(m) < MIN_PAIR_INLIERS:
            continue
        i1, i2 = pycolmap.pair_id_to_image_pair(pid)
        pairs.append((frame_of[i1], frame_of[i2], kps[i1][m[:, 0]], kps[i2][m[:, 1]]))
    return pairs


def _rotation_fits(pairs: list[tuple], params: list[tuple]) -> dict:
    """{(f1, f2) with f1 < f2: (R_f2_from_f1, 90th-percentile px residual)} of pure-rotation fits."""
    fits = {}
    for f1, f2, x1, x2 in pairs:
        R, res = _pair_rotation(_bearings(x1, params[f1]), _bearings(x2, params[f2]), params[f2][0])
        if f1 > f2:
            f1, f2, R = f2, f1, R.T
        fits[f1, f2] = (R, float(np.percentile(res, 90)))
    return fits


def _rotation_residual(fits: dict) -> float:
    # Parallax grows with the distance between frames: judge on the widest quarter of the pairs.
    gaps = sorted({f2 - f1 for f1, f2 in fits})
    widest = gaps[int(0.75 * (len(gaps) - 1))]
    return float(np.median([r for (f1, f2), (_, r) in fits.items() if f2 - f1 >= widest]))


def _chain(fits: dict, n: int) -> dict:
    """{frame: c2w with t = 0}: world-to-camera rotations chained from frame 0 over the longest available
    link (fewest hops)."""
    R_w2c = {0: np.eye(3)}
    grown = True
    while grown:
        grown = False
        for f in range(n):
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
    return c2w


def _pixel_residual(pairs: list[tuple], f: float, cx: float, cy: float) -> float:
    """_rotation_residual measured in the image: rotated bearings projected with focal length f.

    An angle times f is no pixel distance away from the centre: with a small f every residual
    would shrink with it, and a dolly would pass for a rotation through a fisheye."""
    p = (f, f, cx, cy)
    fits = {}
    for f1, f2, x1, x2 in pairs:
        R, _ = _pair_rotation(_bearings(x1, p), _bearings(x2, p), f)
        q = _bearings(x1, p) @ R.T
        ok = q[:, 2] > 1e-6
        proj = np.stack([f * q[ok, 0] / q[ok, 2] + cx, f * q[ok, 1] / q[ok, 2] + cy], 1)
        res = np.linalg.norm(proj - x2[ok], axis=1)
        fits[min(f1, f2), max(f1, f2)] = (R, float(np.percentile(res, 90)) if len(res) else np.inf)
    return _rotation_residual(fits)


def _focal_for_rotation(pairs: list[tuple], params: list[tuple]) -> float:
    """The shared focal length under which the widest pairs look most like pure rotations: a coarse
    log-spaced search over 25-120 degrees of horizontal view, then golden-section refinement."""
    _, _, cx, cy = params[0]
    gaps = sorted({abs(b - a) for a, b, _, _ in pairs})
    widest = gaps[int(0.75 * (len(gaps) - 1))]
    pairs = [p for p in pairs if abs(p[1] - p[0]) >= widest]  # all _rotation_residual looks at

    def residual(f):
        return _pixel_residual(pairs, f, cx, cy)

    grid = cx / np.tan(np.radians(np.geomspace(120.0, 25.0, 13)) / 2)
    i = int(np.argmin([residual(f) for f in grid]))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    ra, rb = residual(np.exp(a)), residual(np.exp(b))
    for _ in range(12):
        if ra < rb:
            hi, b, rb = b, a, ra
            a = hi - g * (hi - lo)
            ra = residual(np.exp(a))
        else:
            lo, a, ra = a, b, rb
            b = lo + g * (hi - lo)
            rb = residual(np.exp(b))
    return float(np.exp((lo + hi) / 2))


def _rotation_only(db: str, names: list[str], params: list[tuple], focal_known: bool = True):
    """(90th-percentile px residual of pure-rotation fits on the widest pairs, {frame: c2w} with t = 0,
    params used: with focal_known=False the focal length that makes the matches most rotation-like)."""
    pairs = _read_pairs(db, names)
    if not pairs:
        return None, {}, params
    if not focal_known:
        f = _focal_for_rotation(pairs, params)
        params = [(f, f, p[2], p[3]) for p in params]
    fits = _rotation_fits(pairs, params)
    return _rotation_residual(fits), _chain(fits, len(names)), params


def _global_sfm(db: str, frames_dir: str, work: str, threads: int, refine_focal: bool = False):
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
    ba.refine_focal_length = refine_focal
    ba.refine_principal_point = False
    ba.refine_extra_params = False
    ba.ceres.use_gpu = False
    recs = pycolmap.global_mapping(db, frames_dir, out, opts)
    return max(recs.values(), key=lambda r: r.num_reg_images(), default=None)


def _camera_params(camera) -> tuple:
    """(fx, fy, cx, cy) of a PINHOLE or SIMPLE_PINHOLE COLMAP camera."""
    p = [float(v) for v in camera.params]
    return (p[0], p[0], p[1], p[2]) if len(p) == 3 else tuple(p[:4])


def _observations(rec, image, c2w: np.ndarray) -> np.ndarray:
    """(M, 6) u, v, z, du, dv, point id of the 3D points an image sees in front of it (SfmResult)."""
    fx, fy, cx, cy = _camera_params(rec.cameras[image.camera_id])
    w2c = np.linalg.inv(c2w)
    rows = []
    for p2d in image.points2D:
        pid = p2d.point3D_id
        if pid in rec.points3D:
            x, y, z = w2c[:3, :3] @ np.asarray(rec.points3D[pid].xyz) + w2c[:3, 3]
            if z > 0:
                u, v = p2d.xy[0], p2d.xy[1]
                rows.append((u, v, z, u - (fx * x / z + cx), v - (fy * y / z + cy), pid))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


def reconstruct(
    frames_dir: str, names: list[str], Ks: list[Intrinsics], work: str, threads: int = 2, focal_known: bool = True
) -> SfmResult | None:
    """Ks: the requested intrinsics of every frame; with focal_known=False only their principal point is
    used and one focal length is estimated for the whole clip (module doc). Everything printed by the
    libraries goes to stderr."""
    import pycolmap

    pycolmap.logging.minloglevel = 2  # no glog INFO/WARNING lines
    pycolmap.set_random_seed(SEED)
    params = [_params(K) for K in Ks]
    with quiet_stdout():
        db = _build_database(frames_dir, names, params, work, threads, focal_known)
        residual, rot_c2w, rot_params = _rotation_only(db, names, params, focal_known)
        if residual is not None and residual < ROTATION_ONLY_PX:
            return SfmResult(rot_c2w, {}, "rotation_only", None, residual, rot_params)
        try:
            if not focal_known:
                _calibrate(db)
            rec = _global_sfm(db, frames_dir, work, threads, refine_focal=not focal_known)
        except Exception:  # noqa: BLE001 - the caller reports "too few frames registered"
            rec = None
    if rec is None:
        return None
    by_name = {img.name: img for img in rec.images.values()}
    c2w, obs, used = {}, {}, list(params)
    for i, n in enumerate(names):
        img = by_name.get(n)
        if img is not None and img.has_pose:
            c2w[i] = _pose(img)
            obs[i] = _observations(rec, img, c2w[i])
            used[i] = _camera_params(rec.cameras[img.camera_id])
    return SfmResult(c2w, obs, "global_sfm", float(rec.compute_mean_reprojection_error()), residual, used)
