import json
import os
import zipfile

import numpy as np
import pytest
from helpers import edit_manifest, make_bundle, run_cli
from PIL import Image

from realcam_core.bundle import (
    SCHEMA_VERSION,
    BundleError,
    Limits,
    load_bundle,
    pack_bundle,
    unpack_bundle,
    validate_bundle,
)


def problems_of(folder):
    bundle, problems = validate_bundle(str(folder))
    assert bundle is None
    return [str(p) for p in problems]


def test_valid_bundle_loads(tmp_path):
    made = make_bundle(tmp_path)
    b = load_bundle(str(tmp_path))
    assert b.scene_frames == [1001, 1002, 1003, 1004, 1005]
    assert np.allclose(b.c2ws, made.c2ws)
    assert b.settings.sns.enabled and b.settings.sns.threshold == 0.9
    assert b.frames[2].intrinsics == made.frames[2].intrinsics


def test_missing_and_extra_frames(tmp_path):
    make_bundle(tmp_path)
    os.remove(tmp_path / "preview/0002.png")
    Image.new("RGBA", (64, 48)).save(tmp_path / "preview/0009.png")
    probs = problems_of(tmp_path)
    assert "preview/0002.png: missing preview of frame 2" in probs
    assert "preview/0009.png: extra frame not listed in the manifest" in probs


def test_size_and_format_mismatches(tmp_path):
    make_bundle(tmp_path)
    Image.new("RGBA", (32, 48)).save(tmp_path / "preview/0001.png")
    Image.new("RGB", (64, 48)).save(tmp_path / "preview/0003.png")
    (tmp_path / "preview/0004.png").write_bytes((tmp_path / "preview/0000.png").read_bytes()[:200])
    np.save(tmp_path / "depth.npy", np.zeros((10, 10), np.float32))
    probs = "\n".join(problems_of(tmp_path))
    assert "preview/0001.png: preview of frame 1 is 32x48, the bundle is 64x48" in probs
    assert "preview/0003.png: preview of frame 3 must be an 8-bit rgba PNG, found 8-bit rgb" in probs
    assert "preview/0004.png: preview of frame 4 is truncated" in probs
    assert "depth.npy: depth map has shape (10, 10), expected (48, 64)" in probs


def test_every_manifest_problem_is_reported_with_its_path(tmp_path):
    make_bundle(tmp_path)

    def damage(d):
        d["frames"][1]["c2w"][0][0] = float("nan")
        d["frames"][2]["c2w"][0][0] = 2.0
        d["frames"][3]["intrinsics"]["fx"] = -5
        d["frames"][4]["scene_frame"] = 1002
        d["frames"][0]["preview"] = "../outside.png"
        d["reference_image"] = "/etc/passwd"
        d["settings"]["seed"] = -1
        d["settings"]["sns"]["threshold"] = 3.5
        d["settings"]["colour"] = "red"

    edit_manifest(tmp_path, damage)
    probs = "\n".join(problems_of(tmp_path))
    for expected in [
        "manifest.json: frames[1].c2w: has non-finite values",
        "manifest.json: frames[2].c2w: rotation part is not orthonormal",
        "manifest.json: frames[3].intrinsics: focal lengths fx=-5",
        "manifest.json: frames[4].scene_frame: frame numbers must increase: 1002 follows 1004",
        "manifest.json: frames[0].preview: must not contain '..'",
        "manifest.json: reference_image: must be relative to the bundle folder, not absolute",
        "manifest.json: settings.seed: must be an integer",
        "manifest.json: settings.sns.threshold: must be a noise level in [0, 3]",
        "manifest.json: settings.colour: unknown field",
    ]:
        assert expected in probs


def test_sns_threshold_takes_the_extended_noise_scale_and_old_values(tmp_path):
    make_bundle(tmp_path)
    for value in (0.0, 0.9, 1.0, 1.5, 3.0):  # [0, 1] as before, and above 1 since the scale was extended
        edit_manifest(tmp_path, lambda d, v=value: d["settings"]["sns"].update(threshold=v))
        assert load_bundle(str(tmp_path)).settings.sns.threshold == value
    edit_manifest(tmp_path, lambda d: d["settings"].pop("sns"))  # absent: the default
    assert load_bundle(str(tmp_path)).settings.sns.threshold == 0.9
    for bad in (-0.1, 3.01, "high"):
        edit_manifest(tmp_path, lambda d, v=bad: d["settings"].update(sns={"threshold": v}))
        assert any("settings.sns.threshold: must be a noise level in [0, 3]" in p for p in problems_of(tmp_path))


def test_camera_condition_is_optional_true_by_default_and_boolean(tmp_path):
    make_bundle(tmp_path)
    assert load_bundle(str(tmp_path)).settings.camera_condition is True
    assert json.load(open(tmp_path / "manifest.json"))["settings"]["camera_condition"] is True
    edit_manifest(tmp_path, lambda d: d["settings"].pop("camera_condition"))  # a bundle from before the field
    assert load_bundle(str(tmp_path)).settings.camera_condition is True
    edit_manifest(tmp_path, lambda d: d["settings"].update(camera_condition=False))
    assert load_bundle(str(tmp_path)).settings.camera_condition is False
    edit_manifest(tmp_path, lambda d: d["settings"].update(camera_condition="yes"))
    assert "manifest.json: settings.camera_condition: must be true or false" in problems_of(tmp_path)


def test_frame_zero_must_be_the_reference_camera(tmp_path):
    make_bundle(tmp_path)
    edit_manifest(tmp_path, lambda d: d["frames"][0]["c2w"][2].__setitem__(3, 0.5))
    assert any("frame 0 must be the identity" in p for p in problems_of(tmp_path))


def test_unknown_schema_version_is_refused_clearly(tmp_path):
    make_bundle(tmp_path)
    edit_manifest(tmp_path, lambda d: d.__setitem__("schema_version", SCHEMA_VERSION + 1))
    (p,) = problems_of(tmp_path)
    assert "unknown schema version 2" in p and "same release" in p


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    folder = tmp_path / "b"
    make_bundle(folder)
    secret = tmp_path / "secret.png"
    Image.new("RGBA", (64, 48)).save(secret)
    os.remove(folder / "preview/0001.png")
    os.symlink(secret, folder / "preview/0001.png")
    assert any("resolves outside the bundle folder" in p for p in problems_of(folder))


def test_limits_refuse_too_many_frames_and_pixels(tmp_path):
    make_bundle(tmp_path, n=5)
    _, probs = validate_bundle(str(tmp_path), Limits(max_frames=4))
    assert any("5 frames is more than allowed (4)" in str(p) for p in probs)
    _, probs = validate_bundle(str(tmp_path), Limits(max_pixels=1000))
    assert any("larger than allowed" in str(p) for p in probs)


def test_pack_unpack_round_trip(tmp_path):
    make_bundle(tmp_path / "src")
    pack_bundle(tmp_path / "src", tmp_path / "job.zip")
    unpack_bundle(tmp_path / "job.zip", tmp_path / "dst")
    a, b = load_bundle(str(tmp_path / "src")), load_bundle(str(tmp_path / "dst"))
    assert a.to_dict() == b.to_dict()
    assert (tmp_path / "src/preview/0003.png").read_bytes() == (tmp_path / "dst/preview/0003.png").read_bytes()


def test_the_same_bundle_packs_to_the_same_bytes(tmp_path):
    """The server knows a job by its archive's digest: a bundle written again later is the same upload."""
    make_bundle(tmp_path / "src")
    first = pack_bundle(tmp_path / "src", tmp_path / "a.zip")
    for name in os.listdir(tmp_path / "src/preview"):  # written again, two seconds later (zip's resolution)
        os.utime(tmp_path / "src/preview" / name, (1e9, 1e9))
    os.chmod(tmp_path / "src/preview/0001.png", 0o600)
    second = pack_bundle(tmp_path / "src", tmp_path / "b.zip")
    assert open(first, "rb").read() == open(second, "rb").read()
    with open(tmp_path / "src/preview/0001.png", "ab") as f:  # and a changed bundle is a new upload
        f.write(b"\0")
    assert open(pack_bundle(tmp_path / "src", tmp_path / "c.zip"), "rb").read() != open(first, "rb").read()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt", "a\\..\\evil.txt"])
def test_unpack_refuses_escaping_entries(tmp_path, name):
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("manifest.json", "{}")
        zf.writestr(name, "x")
    with pytest.raises(BundleError) as e:
        unpack_bundle(tmp_path / "bad.zip", tmp_path / "dst")
    assert repr(name) in str(e.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "dst").exists()


def test_unpack_refuses_links_bombs_and_non_archives(tmp_path):
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        info = zipfile.ZipInfo("preview/0000.png")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match="symbolic links"):
        unpack_bundle(tmp_path / "link.zip", tmp_path / "d1")
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * 5_000_000)
    with pytest.raises(BundleError, match="unpacks to more than"):
        unpack_bundle(tmp_path / "bomb.zip", tmp_path / "d2", Limits(max_unpacked_bytes=1_000_000))
    assert not (tmp_path / "d2").exists()
    (tmp_path / "not.zip").write_text("hello")
    with pytest.raises(BundleError, match="not a zip archive"):
        unpack_bundle(tmp_path / "not.zip", tmp_path / "d3")


def test_cli_validate_reports_and_exits(tmp_path):
    make_bundle(tmp_path / "ok")
    r = run_cli("bundle", "validate", tmp_path / "ok")
    assert r.returncode == 0 and "valid job bundle, 5 frames at 64x48" in r.stdout
    make_bundle(tmp_path / "bad")
    os.remove(tmp_path / "bad/preview/0000.png")
    edit_manifest(tmp_path / "bad", lambda d: d["settings"].__setitem__("fps", 0))
    r = run_cli("bundle", "validate", tmp_path / "bad")
    assert r.returncode == 1
    assert "bad/preview/0000.png: missing preview of frame 0" in r.stderr
    assert "settings.fps: must be a frame rate" in r.stderr
    assert "2 problem(s)" in r.stderr
