"""`realcam track`: a clip's camera move in metres, proven on Cycles renders with known cameras and depth."""

import json
import os
import shutil

import numpy as np
import pytest
from helpers import run_blender_script, run_cli
from PIL import Image

from realcam.errors import UserError
from realcam.evaluate.accuracy import load_track
from realcam.evaluate.frames import pick, read_frames
from realcam.evaluate.metrics import rotation_angles
from realcam.evaluate.scale import depth_ratios, robust_scale
from realcam.generate.video import write_mp4
from realcam.track import checks, lens
from realcam_core import depth_map
from realcam_core.camera import relative_to_first
from realcam_core.re10k import read_re10k

W, H, N = 256, 192, 20
FOV = 60.0  # textured_moves.py's lens


# ---------------------------------------------------------------- pure pieces


def test_depth_ratios_are_the_protocols_pixel_lookup():
    """The shared lookup gives what `realcam eval` computed point by point before (nearest pixel, any map size)."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 5, (48, 64)).astype(np.float32)
    depth[::7, ::5] = 0  # unknown depth is skipped
    pts = np.column_stack([rng.uniform(-5, 133, 500), rng.uniform(-5, 101, 500), rng.uniform(0.5, 3, 500)])
    expected = []
    for u, v, z in pts:  # the loop evaluate/accuracy.py ran, for an image twice the map's size
        x, y = int(u * 0.5), int(v * 0.5)
        if u >= 0 and v >= 0 and 0 <= x < 64 and 0 <= y < 48 and depth[y, x] > 0:
            expected.append(depth[y, x] / z)
    assert np.allclose(depth_ratios(depth, pts, (128, 96)), expected)


def test_robust_scale_rejects_one_sided_outliers_and_reports_spread():
    rng = np.random.default_rng(1)
    good = 2.0 * np.exp(rng.normal(0, 0.02, 400))  # 2 % spread around 2.0
    bad = rng.uniform(3.0, 6.0, 100)  # e.g. keypoints reading the wall behind an edge
    fit = robust_scale(np.concatenate([good, bad]))
    plain = np.median(np.concatenate([good, bad]))  # pulled towards the outliers
    truth = np.median(good)  # what the scale would be without the outliers
    assert abs(fit.scale - truth) < 0.001 * truth and plain - truth > 5 * abs(fit.scale - truth), (fit, plain)
    assert fit.rejected >= 95 and fit.points <= 405
    assert fit.spread == pytest.approx(0.02, rel=0.15) and fit.uncertainty < 0.003
    assert robust_scale(good[:10]) is None  # too few points: no scale


def test_frame_sampling():
    assert pick(10) == list(range(10))
    assert pick(100, max_frames=48) == list(range(0, 100, 3))
    assert pick(10, stride=4) == [0, 4, 8]
    assert pick(10, stride=4, keep=(5, 99)) == [0, 4, 5, 8]


@pytest.mark.parametrize("ext,codec", [(".mp4", "libx264"), (".mov", "libx264"), (".webm", "libvpx-vp9")])
def test_video_frames_sampled_and_scaled(tmp_path, ext, codec):
    import imageio_ffmpeg

    rgb = np.random.default_rng(2).integers(0, 255, (30, 96, 128, 3), dtype=np.uint8)
    writer = imageio_ffmpeg.write_frames(str(tmp_path / f"c{ext}"), (128, 96), fps=30, codec=codec, macro_block_size=2)
    writer.send(None)
    for f in rgb:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    os.makedirs(tmp_path / "f")
    fr = read_frames(str(tmp_path / f"c{ext}"), str(tmp_path / "f"), max_frames=8, max_side=64, keep=(7,))
    assert fr.total == 30 and fr.source == [0, 4, 7, 8, 12, 16, 20, 24, 28] and fr.fps == pytest.approx(30.0)
    assert fr.native_size == (128, 96) and fr.size == (64, 48)
    assert Image.open(tmp_path / "f" / fr.names[-1]).size == (64, 48)


def test_given_lens():
    K = lens.given(None, 60.0, (512, 384), (256, 192))
    assert K.fx == pytest.approx(0.5 * 256 / np.tan(np.radians(30))) and (K.cx, K.cy) == (128, 96)
    assert lens.given(400.0, None, (512, 384), (256, 192)).fx == pytest.approx(200.0)
    assert lens.given(None, None, (512, 384), (256, 192)) is None
    for bad in ((400.0, 60.0), (-1.0, None), (None, 180.0)):
        with pytest.raises(UserError):
            lens.given(*bad, (512, 384), (256, 192))


def _observations(rho, rng, frames=12, points=300, w=256, h=192):
    """Points moving right at 3 px per frame, seen by a rolling shutter reading rows over rho frames: what
    bundle adjustment leaves unexplained of it, plus 0.3 px of matching noise."""
    start = rng.uniform([0, 0], [w, h], (points, 2))
    obs = {}
    for f in range(frames):
        xy = start + [3.0 * f, 0.0]
        tau = (xy[:, 1] - h / 2) / h
        res = np.column_stack([rho * 3.0 * tau, np.zeros(points)]) + rng.normal(0, 0.3, (points, 2))
        obs[f] = np.column_stack([xy, np.ones(points), res, np.arange(points)])
    return obs


def test_rolling_shutter_check_on_known_residuals():
    rng = np.random.default_rng(3)
    source = {f: 2 * f for f in range(12)}  # every other clip frame: velocity per clip frame is half
    rs = checks.rolling_shutter(_observations(0.1, rng), source, (256, 192))
    assert rs["row_slope"] == pytest.approx(0.2, rel=0.15) and rs["suspected"]
    assert abs(rs["column_z"]) < 4
    still = checks.rolling_shutter(_observations(0.0, rng), source, (256, 192))
    assert not still["suspected"] and abs(still["row_z"]) < 4


def test_bad_inputs_fail_before_any_reconstruction(tmp_path):
    frames = tmp_path / "clip"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(frames / f"{i:04d}.png")
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(tmp_path / "d8.png")
    cases = [
        (("--depth-map", tmp_path / "d8.png"), "16-bit"),
        (("--depth-map", tmp_path / "missing.exr"), "no such depth map"),
        (("--depth-frame", "3", "--depth-map", tmp_path / "ok.npy"), "frames 0 to 2"),
        (("--fov", "60", "--focal-px", "100"), "exclude each other"),
        (("--relative", "--depth-map", tmp_path / "d8.png"), "--relative"),
    ]
    np.save(tmp_path / "wrong.npy", np.ones((10, 10), np.float32))
    np.save(tmp_path / "ok.npy", np.ones((48, 64), np.float32))
    cases.append((("--depth-map", tmp_path / "wrong.npy"), "must match"))
    for extra, message in cases:
        r = run_cli("track", frames, "--out", tmp_path / "o.txt", *extra, timeout=60)
        assert r.returncode == 2 and message in r.stderr, (extra, r.stderr)
        assert "reconstructing" not in r.stderr  # failed before COLMAP ran
    assert not (tmp_path / "o.txt").exists()


# ---------------------------------------------------------------- on true renders


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """Cycles renders of the textured room along four moves, with every frame's true z-depth (multilayer EXR)."""
    out = tmp_path_factory.mktemp("track_renders")
    run_blender_script("textured_moves.py", out, W, H, N, "orbit", "truck", "pan", "dolly_in", "--depth")
    return out


def _truth(renders, move, frames):
    _, gt = load_track(str(renders / move / "cameras.txt"), (W, H))
    return relative_to_first(gt[frames])


def _errors(camera_file, report, truth):
    """Per frame: translation error in metres, rotation error in degrees; and the track's reach in metres."""
    cams = read_re10k(camera_file)
    got = np.stack([f.c2w() for f in cams.frames])
    assert [round(f.timestamp * report["fps"] / 1e6) for f in cams.frames] == report["registered_frames"]
    assert np.allclose(got[0], np.eye(4), atol=1e-9)
    t_err = np.linalg.norm(got[:, :3, 3] - truth[:, :3, 3], axis=1)
    r_err = np.degrees(rotation_angles(truth[:, :3, :3], got[:, :3, :3]))
    return t_err, r_err, np.linalg.norm(truth[:, :3, 3], axis=1).max()


def _track(*args):
    r = run_cli("track", *args, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)  # stdout is the report and nothing else
    camera_file = report["camera_file"]
    with open(os.path.splitext(camera_file)[0] + ".json") as fh:
        assert json.load(fh) == report
    return camera_file, report


@pytest.mark.slow
def test_orbit_in_metres_from_an_exr_depth_map(renders, tmp_path):
    """Lens given, the true depth of frame 0 as the renderer wrote it: the move comes back in metres."""
    move = renders / "orbit"
    camera_file, rep = _track(
        move / "frames", "--out", tmp_path / "orbit.txt", "--fov", FOV, "--depth-map", move / "depth" / "0000.exr"
    )
    assert rep["frames_registered"] == N and rep["model"] == "global_sfm" and rep["metric"], rep
    assert rep["scale"]["status"] == "metric" and rep["scale"]["spread"] < 0.02, rep["scale"]
    assert rep["warnings"] == [] and not rep["rolling_shutter"]["suspected"], rep
    t_err, r_err, reach = _errors(camera_file, rep, _truth(renders, "orbit", rep["registered_frames"]))
    print(
        f"orbit, lens given: reach {reach:.3f} m, translation error max {t_err.max():.4f} m "
        f"({100 * t_err.max() / reach:.2f} %), rotation error max {r_err.max():.3f} deg, "
        f"scale spread {100 * rep['scale']['spread']:.2f} %"
    )
    assert t_err.max() < 0.03 * reach and r_err.max() < 0.3
    assert rep["motion"]["distance"] == pytest.approx(reach, rel=0.03)


@pytest.mark.slow
def test_orbit_with_the_lens_estimated(renders, tmp_path):
    move = renders / "orbit"
    camera_file, rep = _track(move / "frames", "--out", tmp_path / "o.txt", "--depth-map", move / "depth/0000.exr")
    lens_ = rep["intrinsics"]
    true_fx = 0.5 * W / np.tan(np.radians(FOV / 2))
    assert lens_["source"] == "estimated (self-calibration)" and lens_["reliable"], lens_
    t_err, r_err, reach = _errors(camera_file, rep, _truth(renders, "orbit", rep["registered_frames"]))
    print(
        f"orbit, lens estimated: fx {lens_['fx']:.1f} px (true {true_fx:.1f}), translation error max "
        f"{100 * t_err.max() / reach:.2f} %, rotation error max {r_err.max():.3f} deg"
    )
    assert lens_["fx"] == pytest.approx(true_fx, rel=0.03)
    assert t_err.max() < 0.04 * reach and r_err.max() < 0.5


@pytest.mark.slow
def test_truck_video_sampled_with_a_png_depth_map_of_a_later_frame(renders, tmp_path):
    """A video file, every other frame, depth (16-bit PNG, millimetres) given for frame 5, which the stride
    alone would skip: the sampled frames include it and the scale comes from the points it sees."""
    move = renders / "truck"
    rgb = np.stack([np.asarray(Image.open(move / "frames" / f"{i:04d}.png")) for i in range(N)])
    write_mp4(str(tmp_path / "truck.mp4"), rgb, 25.0, quality=10)
    z = depth_map.read(move / "depth" / "0005.exr", None)
    Image.fromarray(np.round(z * 1000).astype(np.uint16)).save(tmp_path / "d5.png")
    fx = 0.5 * W / np.tan(np.radians(FOV / 2))
    camera_file, rep = _track(
        tmp_path / "truck.mp4", "--out", tmp_path / "truck.txt", "--stride", 2, "--focal-px", fx,
        "--depth-map", tmp_path / "d5.png", "--depth-frame", 5,
    )  # fmt: skip
    assert rep["sampled_frames"] == [0, 2, 4, 5, 6, 8, 10, 12, 14, 16, 18] and rep["fps"] == pytest.approx(25.0)
    assert rep["scale"]["status"] == "metric" and rep["scale"]["depth_frame"] == 5
    assert not rep["rolling_shutter"]["suspected"] and rep["warnings"] == [], rep
    t_err, r_err, reach = _errors(camera_file, rep, _truth(renders, "truck", rep["registered_frames"]))
    print(f"truck video: translation error max {100 * t_err.max() / reach:.2f} %, rotation {r_err.max():.3f} deg")
    assert t_err.max() < 0.03 * reach and r_err.max() < 0.3


@pytest.mark.slow
def test_pan_has_rotations_only_and_its_lens_from_the_rotation_fit(renders, tmp_path):
    camera_file, rep = _track(renders / "pan" / "frames", "--out", tmp_path / "pan.txt", "--relative")
    assert rep["model"] == "rotation_only" and rep["scale"]["status"] == "not needed" and rep["metric"]
    assert [w["code"] for w in rep["warnings"]] == ["no_parallax"] and rep["rolling_shutter"] is None
    true_fx = 0.5 * W / np.tan(np.radians(FOV / 2))
    assert rep["intrinsics"]["fx"] == pytest.approx(true_fx, rel=0.03), rep["intrinsics"]
    t_err, r_err, _ = _errors(camera_file, rep, _truth(renders, "pan", rep["registered_frames"]))
    assert t_err.max() < 1e-6 and r_err.max() < 0.3  # the true track holds Blender's float32 noise, ~5e-8 m
    assert all(not f.w2c[:, 3].any() for f in read_re10k(camera_file).frames)
    assert rep["motion"]["rotation_deg"] == pytest.approx(15.0, abs=0.3)


@pytest.mark.slow
def test_no_depth_model_gives_the_move_at_relative_scale(renders, tmp_path):
    """The depth model cannot be loaded (offline, no weights): the track is still written, in units of the first
    frame's median scene depth, and the report says why."""
    (tmp_path / "empty").mkdir()  # a model folder without a model in it
    camera_file, rep = _track(
        renders / "dolly_in" / "frames", "--out", tmp_path / "d.txt", "--fov", FOV, "--depth-model", tmp_path / "empty"
    )
    assert (
        rep["scale"]["status"] == "relative" and not rep["metric"] and "could not be loaded" in rep["scale"]["reason"]
    )
    assert rep["unit"] == "median depth of the first frame's scene"
    assert [w["code"] for w in rep["warnings"]] == ["relative_scale"]
    truth = _truth(renders, "dolly_in", rep["registered_frames"])
    got = np.stack([f.c2w() for f in read_re10k(camera_file).frames])
    z0 = depth_map.read(renders / "dolly_in" / "depth" / "0000.exr", None)
    # In the unit of the first frame's median depth, the true move is the metric one over that depth.
    expected = truth[:, :3, 3] / np.median(z0[z0 > 0])
    assert np.linalg.norm(got[:, :3, 3] - expected, axis=1).max() < 0.1 * np.linalg.norm(expected, axis=1).max()


@pytest.mark.slow
def test_rolling_shutter_is_flagged_on_a_rolling_shutter_render(tmp_path):
    """The same truck as above, rendered by Cycles' rolling shutter reading rows over 0.8 frame: flagged (the
    global-shutter renders above are not), and the move still within a few percent."""
    run_blender_script("textured_moves.py", tmp_path, W, H, N, "truck", "--depth", "--rolling-shutter=0.8")
    move = tmp_path / "truck"
    camera_file, rep = _track(
        move / "frames", "--out", tmp_path / "t.txt", "--fov", FOV, "--depth-map", move / "depth" / "0000.exr"
    )
    rs = rep["rolling_shutter"]
    assert rs["suspected"] and rs["row_slope"] > checks.ROLLING_SLOPE and rs["row_z"] > checks.ROLLING_Z, rs
    assert [w["code"] for w in rep["warnings"]] == ["rolling_shutter"]
    _, gt = load_track(str(move / "cameras.txt"), (W, H))
    t_err, r_err, reach = _errors(camera_file, rep, relative_to_first(gt[rep["registered_frames"]]))
    print(f"truck, rolling shutter 0.8: {rs}, translation error max {100 * t_err.max() / reach:.2f} %")
    assert t_err.max() < 0.03 * reach


@pytest.mark.slow
def test_data_mode_parallel_resumable_and_one_failure_stops_nothing(renders, tmp_path, tiny_models):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copytree(renders / "orbit" / "frames", clips / "orbit")
    rgb = np.stack([np.asarray(Image.open(renders / "truck" / "frames" / f"{i:04d}.png")) for i in range(N)])
    write_mp4(str(clips / "truck.mp4"), rgb, 24.0, quality=10)
    noise = np.random.default_rng(0).integers(0, 255, (8, H, W, 3), dtype=np.uint8)
    write_mp4(str(clips / "noise.mp4"), noise, 24.0)
    out = tmp_path / "poses"
    args = ("track", clips, "--out", out, "--fov", FOV, "--depth-model", tiny_models["depth-anything"], "--workers", 2)
    r = run_cli(*args, timeout=900)
    assert r.returncode == 1, r.stderr[-3000:]  # one clip failed
    summary = json.loads(r.stdout)
    assert summary["tracked"] == 2 and summary["skipped"] == 0 and list(summary["failed"]) == ["noise"], summary
    assert "frames could be placed" in summary["failed"]["noise"]
    progress = [ln for ln in r.stderr.splitlines() if ln.startswith("realcam track: [")]
    assert len(progress) == 3 and any("orbit: 20/20 frames" in ln for ln in progress), r.stderr
    for name in ("orbit", "truck"):
        rep = json.loads((out / f"{name}.json").read_text())
        assert rep["frames_registered"] >= N - 2 and rep["scale"]["status"] == "metric"  # a random model's metres
        assert len(read_re10k(out / f"{name}.txt").frames) == rep["frames_registered"]
    assert not (out / "noise.json").exists()
    before = (out / "orbit.json").stat().st_mtime_ns
    r = run_cli(*args, timeout=900)
    summary = json.loads(r.stdout)
    assert summary["skipped"] == 2 and summary["tracked"] == 0 and list(summary["failed"]) == ["noise"], summary
    assert (out / "orbit.json").stat().st_mtime_ns == before
