"""Uploads a broken or hostile client sends, each refused with a 4xx and a reason, at once and at no cost: zip
bombs, archives built to break the unpacking, manifests with the wrong types, photos over the depth limits,
stalled and trickling bodies.

Real `realcam serve` processes on loopback (limited_server, strict_server: conftest.py), zip bombs built
here byte by byte, real sockets for the slow peers.
"""

import base64
import hashlib
import http.client
import io
import json
import os
import select
import socket
import struct
import threading
import time
import zipfile
import zlib

import pytest
from helpers import (
    BUNDLE_TYPE,
    assert_json_4xx,
    files_under,
    http_call,
    http_post,
    make_bundle,
    read_bytes,
    save_rgb,
)


def _zeros_deflated(mib):
    """A raw deflate stream of mib MiB of zeros (about 1 KiB per MiB), and its CRC, built fast."""
    z = bytes(1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(z) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(z) + comp.flush(zlib.Z_FULL_FLUSH)
    assert again == block  # each flushed MiB of zeros compresses to the same bytes
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(z, crc)
    return block * mib + comp.flush(zlib.Z_FINISH), crc


def raw_zip(entries):
    """A zip written byte by byte: entries are (name, deflated data, crc, declared size, flags)."""
    out, central = io.BytesIO(), []
    for name, data, crc, size, flags in entries:
        offset = out.tell()
        n = name.encode()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, 8, 0, 0x21, crc, len(data), size, len(n), 0))
        out.write(n + data)
        fields = (20, 20, flags, 8, 0, 0x21, crc, len(data), size, len(n), 0, 0, 0, 0, 0, offset)
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", *fields) + n)
    cd_start = out.tell()
    for c in central:
        out.write(c)
    out.write(
        struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), out.tell() - cd_start, cd_start, 0)
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    data, crc = _zeros_deflated(1024)
    honest = raw_zip([(f"preview/{i:04d}.png", data, crc, 1 << 30, 0) for i in range(4)])
    lying = raw_zip([("manifest.json", data, crc, 1000, 0)])  # says 1000 bytes, holds 1 GiB
    return {"honest": honest, "lying": lying}


def test_a_zip_bomb_is_refused_at_once_and_writes_nothing(limited_server, bombs, tmp_path):
    honest = bombs["honest"]
    assert len(honest) < 5 * 2**20  # 4 MiB on the wire, 4 GiB declared
    assert sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(honest)).infolist()) == 4 * 2**30
    data_dir = limited_server.log.name[: -len(".log")]
    before = files_under(data_dir)
    for name in ("honest", "lying"):
        t = time.perf_counter()
        status, data = http_post(limited_server.port, "/v1/jobs", bombs[name])
        took = time.perf_counter() - t
        assert_json_4xx(status, data, 413, 422)
        assert took < 1.0, (name, took)
        assert files_under(data_dir) == before
    # Three at once: all refused, none unpacked.
    results = []

    def one():
        t = time.perf_counter()
        results.append((*http_post(limited_server.port, "/v1/jobs", honest), time.perf_counter() - t))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(results) == 3
    for status, data, took in results:
        assert_json_4xx(status, data, 413, 422)
        assert took < 2.0, took
    assert files_under(data_dir) == before
    assert limited_server.client.health()["status"] == "ok"


def test_unpacking_counts_what_it_writes(bombs, tmp_path):
    from realcam_core.bundle import BundleError, Limits, unpack_bundle

    path = tmp_path / "lying.zip"
    path.write_bytes(bombs["lying"])
    t = time.perf_counter()
    with pytest.raises(BundleError):
        unpack_bundle(str(path), str(tmp_path / "out"), Limits())
    assert time.perf_counter() - t < 1.0
    assert not (tmp_path / "out").exists()
    # The server's ceiling follows from its limits, not a fixed 4 GiB.
    small, big = Limits(max_frames=40, max_pixels=16384), Limits(max_frames=241, max_pixels=1280 * 720)
    assert small.max_unpacked_bytes < 64 * 2**20 < big.max_unpacked_bytes < 2**31


def _zip_of(tmp_path, name, entries):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in entries:
            zf.writestr(n, data)
    return path.read_bytes()


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the archive with a name twice is made on purpose
def test_hostile_uploads_get_a_4xx_with_a_reason(limited_server, tmp_path):
    port = limited_server.port
    good = tmp_path / "good"
    make_bundle(good, w=64, h=64)
    files = {
        os.path.relpath(os.path.join(d, f), good): read_bytes(os.path.join(d, f))
        for d, _, fs in os.walk(good)
        for f in fs
    }
    manifest = files["manifest.json"]
    cases = {
        "deep manifest": [("manifest.json", b"[" * 100_000 + b"]" * 100_000)],
        "deep source": [
            ("manifest.json", manifest.replace(b'"source": {}', b'"source": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000)),
            *[(k, v) for k, v in files.items() if k != "manifest.json"],
        ],
        "file then folder": [*files.items(), ("preview/0000.png/x", b"x")],
        "folder then file": [("preview/0000.png/x", b"x"), *files.items()],
        "the same name twice": [*files.items(), ("manifest.json", manifest)],
        "long name": [*files.items(), ("a" * 300 + ".png", b"x")],
        "truncated npy": [
            *[(k, v) for k, v in files.items() if k != "depth.npy"],
            ("depth.npy", files["depth.npy"][:200]),
        ],
    }
    assert b'"source": {}' in manifest
    for what, entries in cases.items():
        body = _zip_of(tmp_path, "h.zip", entries)
        status, data = http_post(port, "/v1/jobs", body)
        assert_json_4xx(status, data, 400, 413, 422)
        assert str(tmp_path) not in json.dumps(data) and limited_server.log.name[:-4] not in json.dumps(data), (
            what,
            data,
        )
    # An encrypted entry (flag bit 0 set in both headers).
    body = bytearray(_zip_of(tmp_path, "e.zip", list(files.items())))
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = body.find(sig)
        while i >= 0:
            body[i + flag_at] |= 1
            i = body.find(sig, i + 4)
    status, data = http_post(port, "/v1/jobs", bytes(body))
    assert_json_4xx(status, data, 422)
    assert "encrypted" in " ".join(data["problems"])


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: d.update(schema_version=True), "schema_version"),
        (lambda d: d.update(schema_version=1.0), "schema_version"),
        (lambda d: d["frames"][1]["c2w"][0].__setitem__(0, "1.0"), "frames[1].c2w"),
        (lambda d: d["frames"][1]["c2w"][1].__setitem__(1, True), "frames[1].c2w"),
        (lambda d: d["frames"][0]["c2w"].__setitem__(3, [0, 0, 0, "1"]), "frames[0].c2w"),
        (lambda d: d["frames"][1]["intrinsics"].update(fx="60.0"), "frames[1].intrinsics"),
        (lambda d: d["frames"][1]["intrinsics"].update(cx=True), "frames[1].intrinsics"),
    ],
)
def test_manifest_types_are_strict(edit, words, tmp_path):
    from realcam_core.bundle import parse_manifest

    folder = tmp_path / "b"
    make_bundle(folder)
    data = json.loads((folder / "manifest.json").read_text())
    edit(data)
    bundle, problems = parse_manifest(data)
    assert bundle is None and any(words in str(p) for p in problems), problems


def test_depth_obeys_the_servers_limits_and_streams(limited_server, tmp_path):
    photo = read_bytes(save_rgb(tmp_path / "p.jpg", w=320, h=240))
    q = "/v1/depth?model=tiny-depth"
    status, data = http_post(limited_server.port, q + "&size=2048x2048", photo, "image/jpeg")
    assert_json_4xx(status, data, 413, 422)
    assert "--max-pixels" in data["error"] and "16384" in data["error"]
    # Without a size the answer fits the limit too.
    status, _, resp = http_call(limited_server.port, "POST", q, photo, "image/jpeg")
    assert status == 200
    c = limited_server.client
    out = c.depth(str(tmp_path / "p.jpg"), str(tmp_path / "scene.zip"), model="tiny-depth")
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("intrinsics.json"))
    assert meta["width"] * meta["height"] <= 16384, meta
    # The answer comes as a file: its length and digest are declared.
    conn = http.client.HTTPConnection("127.0.0.1", limited_server.port, timeout=60)
    conn.request("POST", q + "&size=96x64", photo, {"Content-Type": "image/jpeg"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200 and int(resp.getheader("Content-Length")) == len(body)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert resp.getheader("Repr-Digest") == f"sha-256=:{digest}:"
    for bad in ("inf", "nan", "-1", "0"):
        status, data = http_post(limited_server.port, q + f"&size=96x64&focal_px={bad}", photo, "image/jpeg")
        assert_json_4xx(status, data, 422)


def _read_answer(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True  # the server closed the connection
            data += chunk
    except TimeoutError:
        return data, False


def test_stalled_and_trickling_uploads_are_cut_off(strict_server):
    s = strict_server
    uploads = os.path.join(s.log.name[: -len(".log")], "uploads")
    head = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\nContent-Type: {BUNDLE_TYPE}\r\n"
        f"Authorization: Bearer a-token-long-enough-1234\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    # Stalled: a few bytes, then nothing.
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(head + b"PK\x03\x04")
        answer, closed = _read_answer(sock, 15)
    took = time.monotonic() - t
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert closed and took < 5, took
    assert b'"error"' in answer
    assert os.listdir(uploads) == []
    # Trickling: a byte every 0.2 s never trips the idle limit, but the whole body has one.
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        sock.sendall(head)
        answer = b""
        while time.monotonic() - t < 15:
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                answer, closed = _read_answer(sock, 5)
                break
            try:
                sock.send(b"x")
            except OSError:
                answer, closed = _read_answer(sock, 5)
                break
    took = time.monotonic() - t
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 2.5 < took < 8, took
    assert os.listdir(uploads) == []
    assert s.client.health()["status"] == "ok"
