"""`realcam download` against a hostile hub: a real `realcam download` process, a hub on loopback
(tests/local_hub.py) whose answers are changed the way an attacker's would be, and real files around the cache
that must stay as they were. And the other side of it: a real `realcam serve`, not offline, never asks the hub
for anything, whatever model a client names; it runs what `realcam download` put in the cache.

The ordinary downloads (size and licence first, resume, an unreachable hub) are tested in test_backend_setup.py.
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
from helpers import Server, bundle_zip, json_events, run_download, save_rgb, wait_for_job
from local_hub import LocalHub, Repo

from realcam.download.plan import licence_url
from realcam_core.client import BackendError

REPO_ID = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
MODEL = "wan2.2-ti2v-5b"
BIG = "vae/extra.safetensors"


@pytest.fixture
def repos(tmp_path):
    """A small repository in the default model's name (the downloader checks names, not contents)."""
    empty = tmp_path / "empty repo"
    empty.mkdir()
    files = {
        "model_index.json": b'{"_class_name": "WanImageToVideoPipeline"}',
        "vae/config.json": b"{}",
        "vae/diffusion_pytorch_model.safetensors": os.urandom(70_000),
        BIG: os.urandom(2 * 2**20),
    }
    return {REPO_ID: Repo(str(empty), "apache-2.0", files)}


def download(hub_url, home, *args, model=MODEL, extra_env=None, timeout=120):
    return run_download(hub_url, home, model, "--json", *args, extra_env=extra_env, timeout=timeout)


def events(r) -> list[dict]:
    return json_events(r.stdout)


def error_of(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    (err,) = [e["message"] for e in events(r) if e["event"] == "error"]
    return err


def files_under(root) -> dict[str, bytes | str]:
    """Every file and link under root: a link by its target, a file by its content."""
    out = {}
    for folder, _, names in os.walk(root):
        for n in names:
            p = os.path.join(folder, n)
            out[os.path.relpath(p, root)] = "-> " + os.readlink(p) if os.path.islink(p) else open(p, "rb").read()
    return out


def cache_of(home):
    return home / "hub" / "models--Wan-AI--Wan2.2-TI2V-5B-Diffusers"


# ----------------------------------------------------------------- 1. nothing outside the cache

SIX_UP = "../" * 6  # from snapshots/<commit>/vae/ up to the folder that holds HF_HOME


def _path_attack(hub, repo):
    repo.files["vae/" + SIX_UP + "victim.txt"] = b"written by the hub"


def _renamed(path, new):
    def tamper(e):
        if e["path"] == path:
            e["path"] = new

    return tamper


def _absolute_attack(hub, repo):
    hub.tamper = _renamed("vae/config.json", os.path.join(hub.victim_dir, "victim.txt"))


def _windows_attack(hub, repo):
    hub.tamper = _renamed("vae/config.json", "vae/a\\" + "..\\" * 7 + "victim.txt")  # a path on Windows


def _commit_attack(hub, repo):
    hub.commit = "../../../../victim-commit"  # snapshots/<commit>: four levels up is the folder holding HF_HOME


def _sha256_attack(hub, repo):
    def tamper(e):
        if e["path"] == "vae/diffusion_pytorch_model.safetensors":
            e["lfs"]["oid"] = "../../../../victim"  # blobs/<sha256>(.incomplete)

    hub.tamper = tamper


def _oid_attack(hub, repo):
    def tamper(e):
        if e["path"] == "vae/config.json":
            e["oid"] = "../../../../victim"

    hub.tamper = tamper


ATTACKS = {
    "a path with ..": (_path_attack, "file path"),
    "an absolute path": (_absolute_attack, "file path"),
    "a Windows path": (_windows_attack, "file path"),
    "a commit with ..": (_commit_attack, "commit id"),
    "an LFS sha256 with ..": (_sha256_attack, "LFS sha256"),
    "a git object id with ..": (_oid_attack, "git object id"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_hostile_listing_writes_nothing_outside_the_cache(attack, repos, tmp_path):
    work = tmp_path / "work"  # holds HF_HOME and the files a hostile hub aims at
    home = work / "hf"
    work.mkdir()
    (work / "victim.txt").write_bytes(b"precious")
    (work / "victim").write_bytes(b"precious too")
    (work / "victim.incomplete").write_bytes(b"a partial file bigger than any listing says " * 4000)
    before = files_under(work)
    tamper, named = ATTACKS[attack]
    with LocalHub(repos) as hub:
        hub.victim_dir = str(work)
        tamper(hub, repos[REPO_ID])
        r = download(hub.url, home)
    message = error_of(r)
    assert named in message and "HF_ENDPOINT" in message and "refused" in message, message
    after = files_under(work)
    assert {k: v for k, v in after.items() if not k.startswith("hf" + os.sep)} == before  # nothing changed, or new
    assert not [k for k in after if "victim" in k and k.startswith("hf")]
    assert not [q for q in hub.requests if "/resolve/" in q[1]]  # refused from the listing: no file fetched


def test_the_checks_let_an_honest_repository_through(repos, tmp_path):
    with LocalHub(repos) as hub:
        r = download(hub.url, tmp_path / "hf")
    assert r.returncode == 0, r.stderr
    snap = cache_of(tmp_path / "hf") / "snapshots" / hub.commit
    assert (snap / BIG).read_bytes() == repos[REPO_ID].files[BIG]


# ----------------------------------------------------------------- 15. edge cases


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
def test_a_file_longer_than_listed_is_never_written_past_its_listed_size(with_length, repos, tmp_path):
    listed = 151_000
    big = repos[REPO_ID].files[BIG]

    def tamper(e):
        if e["path"] == BIG:
            e["size"] = e["lfs"]["size"] = listed

    blobs = cache_of(tmp_path / "hf") / "blobs"
    largest = [0]
    stop = threading.Event()

    def watch():  # the size of what is being written, as often as this machine allows
        while not stop.is_set():
            for p in blobs.glob("*") if blobs.is_dir() else []:
                try:
                    largest[0] = max(largest[0], p.stat().st_size)
                except FileNotFoundError:
                    pass
            time.sleep(0.002)

    with LocalHub(repos, bytes_per_second=len(big)) as hub:  # a second for the whole file: long enough to see
        hub.tamper, hub.send_length = tamper, with_length
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            r = download(hub.url, tmp_path / "hf")
        finally:
            stop.set()
            watcher.join()
    message = error_of(r)
    assert BIG in message
    assert ("listing says 151000" in message) if with_length else ("longer than the 151000 bytes listed" in message)
    assert largest[0] <= listed, largest[0]
    assert not list(blobs.glob("*.incomplete"))


def test_an_older_revisions_partial_file_is_removed_unless_another_download_holds_it(repos, tmp_path):
    from huggingface_hub.utils import WeakFileLock

    home = tmp_path / "hf"
    blobs = cache_of(home) / "blobs"
    blobs.mkdir(parents=True)
    orphan = blobs / ("a" * 64 + ".incomplete")  # what a download stopped at an older revision left
    orphan.write_bytes(b"old revision " * 1000)
    busy = blobs / ("b" * 64 + ".incomplete")  # what `hf download` is writing right now
    busy.write_bytes(b"being written")
    lock = home / "hub" / ".locks" / "models--Wan-AI--Wan2.2-TI2V-5B-Diffusers" / ("b" * 64 + ".lock")
    lock.parent.mkdir(parents=True)
    with LocalHub(repos) as hub, WeakFileLock(str(lock)):
        r = download(hub.url, home, "--info")
        assert r.returncode == 0 and orphan.exists()  # --info only looks
        r = download(hub.url, home)
    assert r.returncode == 0, r.stderr
    assert not orphan.exists() and busy.read_bytes() == b"being written"
    assert sorted(p.name for p in blobs.glob("*.incomplete")) == [busy.name]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, trusted by the download process through SSL_CERT_FILE."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: no certificate for an https hub")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True,
        capture_output=True,
    )
    return str(d / "cert.pem"), str(d / "key.pem")


TOKEN = {"HF_TOKEN": "hf_a_token_for_the_https_hub_only"}


def test_an_https_hub_cannot_redirect_a_file_to_plain_http(repos, tls, tmp_path):
    with LocalHub(repos) as plain, LocalHub(repos, tls=tls) as hub:
        hub.redirect = lambda path: plain.url + path if path.endswith(BIG) else None
        r = download(hub.url, tmp_path / "hf", extra_env={**TOKEN, "SSL_CERT_FILE": tls[0]})
        message = error_of(r)
        assert "not followed" in message and plain.url in message, message
        assert plain.requests == []  # nothing asked over plain http, so no token either
        assert hub.authorized  # the token did go where it belongs


def test_redirects_go_to_http_or_https_only_and_the_token_stays_with_its_origin(repos, tmp_path):
    ftp = socket.create_server(("127.0.0.1", 0))
    ftp.settimeout(0.5)
    with ftp, LocalHub(repos) as other, LocalHub(repos) as hub:
        hub.redirect = lambda path: f"ftp://127.0.0.1:{ftp.getsockname()[1]}/x" if path.endswith(BIG) else None
        r = download(hub.url, tmp_path / "hf", extra_env=TOKEN)
        message = error_of(r)
        assert "ftp://" in message and "not followed" in message, message
        with pytest.raises(TimeoutError):
            ftp.accept()  # nobody connected
        # Another origin (same address, another port: another server) is followed, without the token.
        hub.redirect = lambda path: other.url + path if "/resolve/" in path else None
        r = download(hub.url, tmp_path / "hf", extra_env=TOKEN)
        assert r.returncode == 0, r.stderr
        assert [q for q in other.requests if q[1].endswith(BIG)] and other.authorized == []
        assert hub.authorized


def test_only_web_links_pass_as_the_licence_link(repos, tmp_path):
    with LocalHub(repos) as hub:
        hub.card = {"license_link": "file:///etc/passwd"}
        r = download(hub.url, tmp_path / "hf", "--info")
    assert r.returncode == 0, r.stderr
    assert events(r)[0]["licence_url"] == f"{hub.url}/{REPO_ID}"  # the model's page instead
    from huggingface_hub import constants

    page, commit = f"{constants.ENDPOINT}/{REPO_ID}", "0" * 40
    for link, url in [
        ("https://example.org/licence", "https://example.org/licence"),
        ("HTTP://example.org/l", "HTTP://example.org/l"),
        ("LICENSE.txt", f"{page}/blob/{commit}/LICENSE.txt"),
        ("./docs/LICENSE", f"{page}/blob/{commit}/docs/LICENSE"),
        ("/LICENSE", f"{page}/blob/{commit}/LICENSE"),
        ("file:///etc/passwd", page),
        ("javascript:alert(1)", page),
        ("blender://open", page),
        ("https:///no-host", page),
        ("https://example.org/a b", page),
        ("\\\\attacker\\share", page),
        ("C:\\Windows\\win.ini", page),
        ("", page),
        (None, page),
        (["https://example.org"], page),
    ]:
        assert licence_url(link, REPO_ID, commit) == url, link


# ----------------------------------------------------------------- 4. the server never downloads

DEPTH_REPO = "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf"


def _depth(server, photo, model):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request(
            "POST", f"/v1/depth?model={model}&size=64x48", open(photo, "rb").read(), {"Content-Type": "image/jpeg"}
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_the_server_never_downloads_what_a_client_names_and_runs_what_was_downloaded(tiny_models, tmp_path):
    home = tmp_path / "hf"
    wan = Repo(tiny_models["wan22-ti2v"], "apache-2.0")
    depth = Repo(tiny_models["depth-anything"], "apache-2.0")
    repos = {REPO_ID: wan, "stranger/any-model": wan, DEPTH_REPO: depth, "stranger/any-depth": depth}
    photo = save_rgb(tmp_path / "p.jpg", w=96, h=64)
    with LocalHub(repos) as hub:
        # Not --offline, the hub reachable: what a studio's `realcam serve` is.
        server = Server(
            tmp_path / "data", tiny_models, env={"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "0"}
        )
        try:
            c = server.client
            for model, how in [
                ("stranger/any-model", "hf download stranger/any-model"),
                (MODEL, f"realcam download {MODEL}"),
            ]:
                with pytest.raises(BackendError) as e:
                    c.submit(bundle_zip(tmp_path, model.replace("/", "-"), steps=1, model=model))
                assert e.value.status == 422 and how in e.value.message, e.value.message
                assert "never downloads" in e.value.message and str(home) not in e.value.message
            for model, how in [
                ("stranger/any-depth", "hf download stranger/any-depth"),
                ("da2-indoor-large", "realcam download da2-indoor-large"),
            ]:
                status, body = _depth(server, photo, model)
                message = json.loads(body)["error"]
                assert status == 422 and how in message and "never downloads" in message, (status, body)
            assert hub.requests == []  # not one request: no listing, no file, no "is there a newer revision?"

            # Downloaded the way the add-on does it, while the server runs: then it runs, still asking nothing.
            for model in (MODEL, "da2-indoor-large"):
                r = download(hub.url, home, model=model)
                assert r.returncode == 0, r.stderr
            hub.requests.clear()
            job = c.submit(bundle_zip(tmp_path, "downloaded", steps=1, model=MODEL))
            done = wait_for_job(c, job["id"], timeout=300)
            assert done["state"] == "done", done
            status, _ = _depth(server, photo, "da2-indoor-large")
            assert status == 200
            assert hub.requests == []
        finally:
            server.stop()
