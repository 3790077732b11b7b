import json
import os
import struct
import zlib

import numpy as np
import OpenEXR
import pytest
from helpers import SAMPLES, run_cli, run_cli_offline, save_rgb
from PIL import Image

from realcam.cli import main


def png_header_only(path, w, h):
    """A PNG that claims w x h pixels but holds almost no data (a decompression bomb's header)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )
    return path


def bad_inputs(tmp):
    """(file, expected words in the message) for each kind of bad photo."""
    out = []
    p = tmp / "empty.jpg"
    p.write_bytes(b"")
    out.append((p, "empty"))
    good = tmp / "good.jpg"
    save_rgb(good, 200, 150)
    p = tmp / "truncated.jpg"
    p.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    out.append((p, "truncated"))
    p = tmp / "notes.png"
    p.write_text("these are my notes, not a picture")
    out.append((p, "not an image"))
    p = tmp / "deep.png"
    Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)).save(p)
    out.append((p, "16-bit"))
    p = tmp / "gray.png"
    Image.new("L", (64, 48), 90).save(p)
    out.append((p, "grayscale"))
    p = tmp / "print.jpg"
    Image.new("CMYK", (64, 48), (10, 20, 30, 0)).save(p)
    out.append((p, "CMYK"))
    p = tmp / "cutout.png"
    Image.new("RGBA", (64, 48), (200, 10, 10, 128)).save(p)
    out.append((p, "alpha channel"))
    out.append((png_header_only(tmp / "huge.png", 12000, 10000), "120 megapixels"))
    return out


def test_bad_photos_get_one_line_naming_file_and_problem(tmp_path):
    for path, words in bad_inputs(tmp_path):
        out = tmp_path / f"out-{path.stem}"
        r = run_cli("depth", path, "--out", out, "--depth-map", "unused.npy")
        msg = r.stderr.strip()
        assert r.returncode == 2, (path, r.stderr)
        assert "\n" not in msg, msg
        assert str(path) in msg and words in msg, msg
        assert not out.exists(), f"partial output left for {path.name}"
        assert not [n for n in os.listdir(tmp_path) if n.startswith(".realcam-depth-")]


def test_huge_photo_is_refused_before_decoding(tmp_path):
    path = png_header_only(tmp_path / "huge.png", 30000, 20000)  # 600 MP: 1.8 GB if decoded
    code = (
        "import sys\nfrom realcam.cli import main\n"
        f"rc = main(['depth', {str(path)!r}, '--out', {str(tmp_path / 'o')!r}])\n"
        # VmHWM: this process's own peak (ru_maxrss would include the forking pytest's).
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1]\n"
        "print(hwm); sys.exit(rc)"
    )
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2 and "600 megapixels" in r.stderr
    assert int(r.stdout.strip()) < 400_000  # KiB: nothing near the decoded size


def test_convert_flag_accepts_grayscale(tmp_path, capsys):
    Image.new("L", (64, 48), 90).save(tmp_path / "gray.png")
    np.save(tmp_path / "d.npy", np.full((48, 64), 2.0, np.float32))
    assert (
        main(
            [
                "depth",
                str(tmp_path / "gray.png"),
                "--out",
                str(tmp_path / "o"),
                "--depth-map",
                str(tmp_path / "d.npy"),
                "--convert",
            ]
        )
        == 0
    )
    assert "converted from L" in capsys.readouterr().out
    img = Image.open(tmp_path / "o/image.png")
    assert img.mode == "RGB" and img.getpixel((3, 3)) == (90, 90, 90)


def test_exif_rotated_photo_is_rotated_and_its_focal_used(tmp_path, capsys):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    arr[:10, :10] = 255  # a white corner to follow
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif.get_ifd(0x8769)[0xA405] = 28  # 35 mm equivalent focal length
    Image.fromarray(arr).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    np.save(tmp_path / "d.npy", np.full((80, 60), 2.0, np.float32))
    assert (
        main(
            ["depth", str(tmp_path / "phone.jpg"), "--out", str(tmp_path / "o"), "--depth-map", str(tmp_path / "d.npy")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "rotated per EXIF" in out and "from exif" in out
    img = np.asarray(Image.open(tmp_path / "o/image.png"))
    assert img.shape == (80, 60, 3)
    assert img[:8, -8:].mean() > 230  # the white corner moved to the top right
    K = json.loads((tmp_path / "o/intrinsics.json").read_text())
    assert K["focal_source"] == "exif"
    assert K["fx"] == pytest.approx(28 * np.hypot(60, 80) / np.hypot(36, 24))


def test_size_resizes_to_cover_and_crops_the_centre(tmp_path):
    save_rgb(tmp_path / "p.png", 400, 300)
    np.save(tmp_path / "d.npy", np.full((300, 400), 2.0, np.float32))
    assert (
        main(
            [
                "depth",
                str(tmp_path / "p.png"),
                "--out",
                str(tmp_path / "o"),
                "--depth-map",
                str(tmp_path / "d.npy"),
                "--size",
                "160x64",
                "--focal-px",
                "500",
            ]
        )
        == 0
    )
    K = json.loads((tmp_path / "o/intrinsics.json").read_text())
    # 400x300 scaled by 0.4 -> 160x120, then 28 rows cropped from the top.
    assert (K["width"], K["height"], K["focal_source"]) == (160, 64, "user")
    assert K["fx"] == pytest.approx(200.0) and (K["cx"], K["cy"]) == (80.0, 32.0)
    assert np.load(tmp_path / "o/depth.npy").shape == (64, 160)


def test_depth_map_formats_agree(tmp_path):
    save_rgb(tmp_path / "p.png", 64, 48)
    metres = np.random.default_rng(1).uniform(0.5, 9.0, (48, 64)).astype(np.float32)
    metres[0, 0] = 0.0  # unknown
    np.save(tmp_path / "d.npy", metres)
    Image.fromarray(np.round(metres * 1000).astype(np.uint16)).save(tmp_path / "d.png")
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": metres}).write(str(tmp_path / "d.exr"))
    results = {}
    for ext in ("npy", "png", "exr"):
        assert (
            main(
                [
                    "depth",
                    str(tmp_path / "p.png"),
                    "--out",
                    str(tmp_path / ext),
                    "--depth-map",
                    str(tmp_path / f"d.{ext}"),
                ]
            )
            == 0
        )
        results[ext] = np.load(tmp_path / ext / "depth.npy")
    assert np.array_equal(results["npy"], metres) and np.array_equal(results["exr"], metres)
    assert np.allclose(results["png"], metres, atol=0.0006)


@pytest.mark.parametrize(
    "kind, words",
    [
        ("size", "depth map is 32x24 but must match the photo: 64x48"),
        ("nan", "NaN"),
        ("negative", "negative"),
        ("8bit", "16-bit"),
    ],
)
def test_bad_depth_maps(tmp_path, kind, words):
    save_rgb(tmp_path / "p.png", 64, 48)
    d = np.full((48, 64), 2.0, np.float32)
    name = "d.npy"
    if kind == "size":
        d = d[:24, :32]
    elif kind == "nan":
        d[5, 5] = np.nan
    elif kind == "negative":
        d[5, 5] = -1
    if kind == "8bit":
        name = "d.png"
        Image.new("L", (64, 48), 3).save(tmp_path / name)
    else:
        np.save(tmp_path / name, d)
    r = run_cli("depth", tmp_path / "p.png", "--out", tmp_path / "o", "--depth-map", tmp_path / name)
    assert r.returncode == 2 and words in r.stderr and str(tmp_path / name) in r.stderr
    assert "\n" not in r.stderr.strip()
    assert not (tmp_path / "o").exists()


def test_tiny_depth_anything_through_the_users_path(tmp_path, tiny_models, capsys):
    save_rgb(tmp_path / "p.jpg", 120, 90)
    assert (
        main(
            [
                "depth",
                str(tmp_path / "p.jpg"),
                "--out",
                str(tmp_path / "o"),
                "--model",
                tiny_models["depth-anything"],
                "--size",
                "64x48",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "from default" in out and tiny_models["depth-anything"] in out
    depth = np.load(tmp_path / "o/depth.npy")
    assert depth.shape == (48, 64) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and (depth > 0).all() and (depth <= 20).all()  # metric head, max 20 m
    K = json.loads((tmp_path / "o/intrinsics.json").read_text())
    assert K["fx"] == 32.0 and K["convention"] == "continuous-pixel-centre-at-half"


def test_tiny_depth_pro_focal_order(tmp_path, tiny_models):
    save_rgb(tmp_path / "p.jpg", 64, 48)
    assert (
        main(["depth", str(tmp_path / "p.jpg"), "--out", str(tmp_path / "a"), "--model", tiny_models["depth-pro"]]) == 0
    )
    K = json.loads((tmp_path / "a/intrinsics.json").read_text())
    assert K["focal_source"] in ("depth-pro", "default")  # random weights may predict a useless FOV
    d_auto = np.load(tmp_path / "a/depth.npy")
    # A focal from the user wins, and scales Depth Pro's metric depth with it.
    assert (
        main(
            [
                "depth",
                str(tmp_path / "p.jpg"),
                "--out",
                str(tmp_path / "b"),
                "--model",
                tiny_models["depth-pro"],
                "--focal-px",
                "100",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "depth",
                str(tmp_path / "p.jpg"),
                "--out",
                str(tmp_path / "c"),
                "--model",
                tiny_models["depth-pro"],
                "--focal-px",
                "200",
            ]
        )
        == 0
    )
    Kb = json.loads((tmp_path / "b/intrinsics.json").read_text())
    assert Kb["focal_source"] == "user" and Kb["fx"] == 100.0
    db, dc = np.load(tmp_path / "b/depth.npy"), np.load(tmp_path / "c/depth.npy")
    inner = (db > 1e-3) & (db < 1e3) & (dc < 1e3)
    assert np.allclose(dc[inner], 2 * db[inner], rtol=1e-4)
    assert d_auto.shape == (48, 64)


@pytest.mark.slow
def test_unavailable_model_names_model_folder_and_fix(tmp_path):
    save_rgb(tmp_path / "p.jpg", 64, 48)
    r = run_cli_offline(
        "depth", tmp_path / "p.jpg", "--out", tmp_path / "o", "--model", "da2-indoor-small", hf_home=tmp_path / "hf"
    )
    msg = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2
    assert "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf" in msg
    assert str(tmp_path / "hf") in msg and "hf download" in msg and "--depth-map" in msg
    assert not (tmp_path / "o").exists()


def test_sample_scene_round_trip(tmp_path):
    """The shipped sample: true depth and focal in, the same scene out."""
    cam = json.loads(open(os.path.join(SAMPLES, "room_camera.json")).read())
    r = run_cli(
        "depth",
        os.path.join(SAMPLES, "room.jpg"),
        "--depth-map",
        os.path.join(SAMPLES, "room_depth.png"),
        "--focal-px",
        cam["fx"],
        "--out",
        tmp_path / "scene",
    )
    assert r.returncode == 0, r.stderr
    assert "832x480" in r.stdout and "from user" in r.stdout
    depth = np.load(tmp_path / "scene/depth.npy")
    assert 2.0 < depth.min() and depth.max() < 8.1


def _depth_map_files(folder):
    """Depth maps as artists export them, good and broken, all 64x48."""
    rng = np.random.default_rng(7)
    metres = rng.uniform(0.5, 9.0, (48, 64)).astype(np.float32)
    metres[0, 0] = 0.0
    np.save(folder / "metres.npy", metres)
    np.save(folder / "channel.npy", metres[..., None])
    np.save(folder / "ints.npy", np.round(metres).astype(np.int32))
    Image.fromarray(np.round(metres * 1000).astype(np.uint16)).save(folder / "mm16.png")
    Image.fromarray(np.round(metres * 20).astype(np.uint8)).save(folder / "eight_bit.png")
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(folder / "rgb.png")
    scan = {"type": OpenEXR.scanlineimage}
    OpenEXR.File({**scan, "compression": OpenEXR.ZIP_COMPRESSION}, {"Z": metres}).write(str(folder / "z.exr"))
    sky = metres.copy()
    sky[:10] = 1e10  # a renderer's "nothing here"
    OpenEXR.File(
        {**scan, "compression": OpenEXR.ZIPS_COMPRESSION},
        {"ViewLayer.Depth.Z": sky, "ViewLayer.Combined.R": metres * 0 + 0.5},
    ).write(str(folder / "multilayer.exr"))
    OpenEXR.File(scan, {"Y": metres.astype(np.float16)}).write(str(folder / "half_y.exr"))
    OpenEXR.File({**scan, "compression": OpenEXR.PIZ_COMPRESSION}, {"Z": metres}).write(str(folder / "piz.exr"))
    OpenEXR.File(scan, {"N.x": metres}).write(str(folder / "normals.exr"))
    bad = metres.copy()
    bad[3, 3] = np.nan
    np.save(folder / "nan.npy", bad)
    np.save(folder / "negative.npy", -metres)
    np.save(folder / "zeros.npy", np.zeros((48, 64), np.float32))
    np.save(folder / "strings.npy", np.array([["a"] * 64] * 48))
    (folder / "empty.npy").write_bytes(b"")
    (folder / "depth.tif").write_bytes(b"II*\x00")
    return metres


@pytest.mark.every_blender
def test_addon_and_backend_read_depth_maps_by_one_rule(tmp_path, addon_zip, blender_python):
    """The same files through the backend's reader and the add-on's in real Blender: same verdicts, same depth."""
    from helpers import run_blender_script

    from realcam.depth.maps import read_depth_map
    from realcam.errors import UserError

    files, out = tmp_path / "maps", tmp_path / "addon"
    files.mkdir()
    out.mkdir()
    metres = _depth_map_files(files)
    run_blender_script(
        "depth_maps.py", addon_zip, files, out, user_dir=tmp_path / "blender-user", python=blender_python
    )
    addon = json.loads((out / "report.json").read_text())
    assert set(addon) == {p.name for p in files.iterdir()}
    for name, addon_error in addon.items():
        try:
            backend = read_depth_map(files / name)
            backend_error = None
        except UserError as e:
            backend_error = str(e)
        assert backend_error == addon_error, name
        if backend_error is None:
            assert np.array_equal(np.load(out / f"{name}.npy"), backend), name
    accepted = sorted(n for n, e in addon.items() if e is None)
    assert accepted == sorted(
        ["metres.npy", "channel.npy", "ints.npy", "mm16.png", "z.exr", "multilayer.exr", "half_y.exr"]
    )
    assert np.array_equal(np.load(out / "z.exr.npy"), metres)
    assert np.allclose(np.load(out / "mm16.png.npy"), metres, atol=0.0006)
    sky = np.load(out / "multilayer.exr.npy")
    assert (sky[:10] == 0).all() and np.array_equal(sky[10:], metres[10:])  # background is unknown depth
    expected_words = {
        "eight_bit.png": "16-bit grayscale",
        "rgb.png": "16-bit grayscale",
        "piz.exr": "compression PIZ",
        "normals.exr": "no depth channel",
        "nan.npy": "NaN",
        "negative.npy": "negative",
        "zeros.npy": "holds no depth",
        "strings.npy": "must hold numbers",
        "empty.npy": "empty",
        "depth.tif": "unknown depth map format",
    }
    for name, words in expected_words.items():
        assert words in addon[name] and name in addon[name], (name, addon[name])


@pytest.mark.parametrize("compression", ["NO_COMPRESSION", "RLE_COMPRESSION", "ZIPS_COMPRESSION", "ZIP_COMPRESSION"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_exr_reader_matches_openexr(tmp_path, compression, dtype):
    from realcam_core import exr

    rng = np.random.default_rng(3)
    noisy = rng.uniform(0.1, 50.0, (37, 53)).astype(dtype)  # 37 rows: a partial last ZIP block
    smooth = np.tile(np.linspace(1, 2, 53), (37, 1)).astype(dtype)  # what RLE actually compresses
    header = {"type": OpenEXR.scanlineimage, "compression": getattr(OpenEXR, compression)}
    OpenEXR.File(header, {"A": smooth, "L.Depth.Z": noisy, "Y": smooth}).write(str(tmp_path / "t.exr"))
    assert exr.channel_names(tmp_path / "t.exr") == ["A", "L.Depth.Z", "Y"]
    assert np.array_equal(exr.read_channel(tmp_path / "t.exr", "L.Depth.Z"), noisy.astype(np.float32))
    assert np.array_equal(exr.read_channel(tmp_path / "t.exr", "Y"), smooth.astype(np.float32))
    data = (tmp_path / "t.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) - 40])
    with pytest.raises(exr.ExrError, match="truncated|damaged"):
        exr.read_channel(tmp_path / "cut.exr", "Y")
