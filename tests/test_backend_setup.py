"""Set up backend: the pure pieces (paths, command lines, GPU detection, torch choice, pip's failures),
the backend the extension zip carries, `realcam download` against a hub on loopback, and the real set-up through
real Blender into a user folder with spaces, installing from the package index this machine reaches."""

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest
from helpers import ROOT, SAMPLES, json_events, online_env, run_blender_script, run_download
from local_hub import COMMIT, LocalHub, Repo

# Plain Python, no bpy: runnable on its own, as Blender's Python runs the worker (appended: nothing else is shadowed).
sys.path.append(os.path.join(ROOT, "addon", "backend"))
import setup_worker as w  # noqa: E402

be = w.be  # env.py and the modules beside it, as the worker imports them
command_line = w.sibling("command_line")
pip_failures = w.pip_failures
torch_build = w.torch_build

from realcam.download.plan import select_files  # noqa: E402

# ----------------------------------------------------------------- paths and command lines


def test_env_python_per_platform():
    assert be.env_python(r"C:\Users\Ann Lee\AppData\realcam\env", "Windows") == (
        r"C:\Users\Ann Lee\AppData\realcam\env\Scripts\python.exe"
    )
    assert be.env_python("/home/ann lee/realcam/env", "Linux") == "/home/ann lee/realcam/env/bin/python"
    assert be.env_python("/Users/ann/Library/realcam/env", "Darwin") == "/Users/ann/Library/realcam/env/bin/python"
    argv = be.start_argv(r"C:\A B\env", "Windows")
    assert argv == [r"C:\A B\env\Scripts\python.exe", "-m", "realcam", "serve", "--offline"]


@pytest.mark.parametrize("windows", [False, True])
@pytest.mark.parametrize(
    "argv",
    [
        [r"C:\Program Files\Blender Foundation\realcam env\Scripts\python.exe", "-m", "realcam", "serve"],
        ["/home/ann lee/.config/blender/4.2/extensions/.user/user_default/realcam/env/bin/python", "-m", "realcam"],
        ["prog", 'say "hi"', "trailing\\", "back\\\\slashes", "", "tab\there", 'a\\"b'],
    ],
)
def test_start_command_round_trip(argv, windows):
    """The preference holds one string; what it starts is exactly the argv the set-up wrote."""
    command = command_line.join_command(argv, windows=windows)
    assert command_line.split_command(command, windows=windows) == argv


def test_windows_split_follows_the_c_runtime():
    # The documented CommandLineToArgvW examples.
    assert command_line.split_command('"a b c" d e', windows=True) == ["a b c", "d", "e"]
    assert command_line.split_command(r'"ab\"c" "\\" d', windows=True) == ['ab"c', "\\", "d"]
    assert command_line.split_command(r"a\\\b d" + '"e f"g h', windows=True) == [r"a\\\b", "de fg", "h"]
    assert command_line.split_command(r"a\\\"b c d", windows=True) == [r"a\"b", "c", "d"]
    assert command_line.split_command(r'a\\\\"b c" d e', windows=True) == [r"a\\b c", "d", "e"]
    # A Windows path typed by hand: backslashes stay (shlex would eat them).
    assert command_line.split_command(r"C:\realcam\env\Scripts\python.exe -m realcam serve", windows=True)[0] == (
        r"C:\realcam\env\Scripts\python.exe"
    )


def test_backend_process_uses_the_same_splitting():
    src = open(os.path.join(ROOT, "addon", "backend", "process.py"), encoding="utf-8").read()
    assert "split_command(command)" in src and "shlex" not in src


# ----------------------------------------------------------------- the machine's GPU and the torch build

SMI_QUERY = "NVIDIA GeForce RTX 4090, 570.133.07, 24564\nNVIDIA RTX A4000, 570.133.07, 16376\n"
SMI_HEADER = """
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.133.07             Driver Version: 570.133.07     CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
"""
PROC_VERSION = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)


def test_nvidia_smi_and_proc_parsing():
    gpus = torch_build.parse_smi_query(SMI_QUERY)
    assert [(g.name, g.driver, g.memory_mib) for g in gpus] == [
        ("NVIDIA GeForce RTX 4090", "570.133.07", 24564),
        ("NVIDIA RTX A4000", "570.133.07", 16376),
    ]
    assert torch_build.parse_cuda_version(SMI_HEADER) == (12, 8)
    assert torch_build.parse_cuda_version("no header") is None
    assert torch_build.parse_proc_driver(PROC_VERSION) == "550.54.14"
    assert torch_build.parse_proc_driver(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release"
    ) == ("570.86.15")
    assert torch_build.cuda_for_driver("570.133.07", "Linux") == (12, 8)
    assert torch_build.cuda_for_driver("570.40", "Windows") == (12, 6)  # Windows needs 570.65 for 12.8
    assert torch_build.cuda_for_driver("470.82", "Linux") is None


def test_this_machine_has_no_nvidia_gpu():
    gpus, how = torch_build.detect_nvidia()
    assert gpus == [] and "no NVIDIA" in how
    assert torch_build.detect_nvidia("Darwin") == ([], "macOS: no CUDA")


def test_torch_choice():
    rtx = torch_build.parse_smi_query(SMI_QUERY)
    for g in rtx:
        g.cuda = (12, 8)
    c = torch_build.choose_torch("torch==2.13.0", rtx, "Linux")
    assert (c.requirement, c.index_url, c.build, c.constrained) == (
        "torch==2.13.0",
        "https://download.pytorch.org/whl/cu128",
        "cuda",
        True,
    )
    assert "RTX 4090" in c.reason and "12.8" in c.reason
    new = [torch_build.Gpu("RTX 5090", "580.95", 32607, (13, 0))]
    assert torch_build.choose_torch("torch==2.13.0", new, "Windows").index_url.endswith("/cu130")
    old = [torch_build.Gpu("GTX 1080", "470.82", 8192, (11, 4))]
    c = torch_build.choose_torch("torch==2.13.0", old, "Linux")
    assert c.index_url.endswith("/cpu") and "update the NVIDIA driver" in c.reason
    # No NVIDIA GPU: the small CPU build (PyPI's Linux default carries gigabytes of CUDA); PyPI on macOS.
    assert torch_build.choose_torch("torch==2.13.0", [], "Linux", how_found="x").index_url.endswith("/whl/cpu")
    assert torch_build.choose_torch("torch==2.13.0", [], "Windows").index_url.endswith("/whl/cpu")
    mac = torch_build.choose_torch("torch==2.13.0", [], "Darwin")
    assert mac.index_url is None and "macOS" in mac.reason
    # The artist's choices.
    assert torch_build.choose_torch("torch==2.13.0", rtx, "Linux", "CPU").index_url.endswith("/whl/cpu")
    c = torch_build.choose_torch(
        "torch==2.13.0", rtx, "Linux", "CUSTOM", "torch==2.9.1", "https://mirror.example/simple"
    )
    assert (c.requirement, c.index_url, c.constrained) == ("torch==2.9.1", "https://mirror.example/simple", False)
    assert torch_build.choose_torch("torch==2.13.0", [], "Linux", "CUSTOM").index_url is None  # pip's own settings


@pytest.mark.parametrize(
    "output, expect",
    [
        ("OSError: [Errno 28] No space left on device", "is full"),
        (
            "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(...: Failed to "
            "establish a new connection: [Errno -3] Temporary failure in name resolution')'",
            "cannot reach",
        ),
        (
            "ERROR: Could not find a version that satisfies the requirement torch==9.9 (from versions: none)\n"
            "ERROR: No matching distribution found for torch==9.9",
            "no torch build matching",
        ),
        ("ERROR: ResolutionImpossible: for help visit ...", "conflict"),
        ("ERROR: Something odd", "Something odd"),
    ],
)
def test_pip_failures_are_explained(output, expect):
    msg = pip_failures.explain_pip_failure(output, "torch", "torch==9.9", "https://idx/simple", "/x/env", "/x/log")
    assert expect in msg and "/x/log" in msg


def test_an_index_that_does_not_answer_is_named():
    """pip without retries only says 'from versions: none'; the probe after the failure tells why."""
    out = "ERROR: Could not find a version that satisfies the requirement torch==2.13.0 (from versions: none)"
    probe = pip_failures.probe_index("http://127.0.0.1:9/simple", timeout=5)
    msg = pip_failures.explain_pip_failure(
        out, "torch", "torch==2.13.0", "http://127.0.0.1:9/simple", "/e", "/l", probe
    )
    assert msg.startswith("cannot reach the package index http://127.0.0.1:9/simple") and msg.endswith("/l)")
    assert "no torch build" in pip_failures.explain_pip_failure(
        out, "torch", "torch==2.13.0", "https://x", "/e", "/l", None
    )


def test_probe_index_tells_unreachable_from_answering(tmp_path):
    assert "cannot reach the package index" in pip_failures.probe_index("http://127.0.0.1:9/simple", timeout=5)
    assert "does not exist" in pip_failures.probe_index((tmp_path / "nope").as_uri())
    assert pip_failures.probe_index(tmp_path.as_uri()) is None
    with LocalHub({}) as hub:  # answers 404 for everything: reachable, pip says what is missing
        assert pip_failures.probe_index(hub.url + "/simple") is None


# ----------------------------------------------------------------- what the extension zip carries


def test_zip_carries_the_backend_with_pins(addon_zip):
    from importlib.metadata import version

    z = zipfile.ZipFile(addon_zip)
    names = z.namelist()
    info = json.loads(z.read(f"{be.BUNDLE_DIR}/backend.json"))
    import tomllib

    manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    assert info["version"] == manifest["version"]  # the backend always matches the add-on
    assert "wheels" not in manifest  # nothing is installed into Blender's own Python
    wheel = f"{be.BUNDLE_DIR}/{info['wheel']}"
    assert wheel in names and "backend/setup_worker.py" in names
    worker_imports = ("env", "command_line", "torch_build", "pip_failures", "process_tree")
    assert all(f"backend/{m}.py" in names for m in worker_imports)
    import hashlib
    import io

    data = z.read(wheel)
    assert hashlib.sha256(data).hexdigest() == info["wheel_sha256"]
    inner = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "realcam/download/fetch.py" in inner and "realcam_core/bundle/types.py" in inner
    assert info["torch"] == f"torch=={version('torch').split('+')[0]}"
    assert info["api_version"] == 1 and 1 in info["bundle_schema_versions"]
    pins = dict(
        line.split("==")
        for line in z.read(f"{be.BUNDLE_DIR}/constraints.txt").decode().splitlines()
        if line and not line.startswith("#")
    )
    # The tested set: every pin is what this (test) environment runs, torch and CUDA-only packages excepted.
    assert pins["diffusers"] == version("diffusers") and pins["huggingface-hub"] == version("huggingface_hub")
    assert pins["numpy"] == version("numpy") and pins["sympy"] == version("sympy")  # torch's own dependencies too
    assert "torch" not in pins and not any(n.startswith("nvidia-") for n in pins)
    assert "bpy" not in pins and "pytest" not in pins  # test extras are not the backend's


def test_bundle_folder_names_agree():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import backend_bundle

    assert backend_bundle.BUNDLE_DIR == be.BUNDLE_DIR


def test_constraints_leave_out_what_the_chosen_torch_installed(tmp_path):
    src = tmp_path / "c.txt"
    src.write_text("# pins\nfilelock==4.2.12\nSympy==1.14.0\ndiffusers==0.42.1\n")
    w._constraints_without(str(src), str(tmp_path / "out.txt"), {"sympy", "filelock"})
    assert (tmp_path / "out.txt").read_text() == "# pins\ndiffusers==0.42.1\n"


# ----------------------------------------------------------------- model files and `realcam download`

WAN22_REPO = [
    ".gitattributes",
    "README.md",
    "LICENSE.txt",
    "assets/comp_effic.png",
    "examples/i2v_input.JPG",
    "model_index.json",
    "scheduler/scheduler_config.json",
    "text_encoder/config.json",
    "text_encoder/model-00001-of-00003.safetensors",
    "text_encoder/model-00002-of-00003.safetensors",
    "text_encoder/model-00003-of-00003.safetensors",
    "text_encoder/model.safetensors.index.json",
    "tokenizer/special_tokens_map.json",
    "tokenizer/spiece.model",
    "tokenizer/tokenizer.json",
    "tokenizer/tokenizer_config.json",
    "transformer/config.json",
    "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
    "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
    "transformer/diffusion_pytorch_model.safetensors.index.json",
    "transformer/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
    "transformer/diffusion_pytorch_model.safetensors.index.fp16.json",
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.bin",
    "Wan2.2_VAE.pth",
    "diffusion_pytorch_model.safetensors",
]


def test_select_files_keeps_what_the_backend_loads():
    got = select_files(WAN22_REPO)
    assert got[-1] == "model_index.json"  # last: the model is whole once it is there
    # Everything but dot files, pictures, variant (fp16) weights, .bin beside safetensors, and a pipeline's
    # top-level files other than model_index.json, README and licence (other formats).
    left_out = {
        ".gitattributes",
        "assets/comp_effic.png",
        "examples/i2v_input.JPG",
        "transformer/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.fp16.json",
        "vae/diffusion_pytorch_model.bin",
        "Wan2.2_VAE.pth",
        "diffusion_pytorch_model.safetensors",
    }
    assert set(got) == set(WAN22_REPO) - left_out
    depth = ["config.json", "model.safetensors", "pytorch_model.bin", "preprocessor_config.json", "README.md"]
    assert set(select_files(depth)) == {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"}
    assert "pytorch_model.bin" in select_files(["config.json", "pytorch_model.bin"])  # no safetensors: .bin it is


@pytest.fixture(scope="module")
def hub_repo(tiny_models, tmp_path_factory):
    """The tiny Wan 2.2 served as the default model, with what a real repository also holds beside it."""
    big = os.urandom(3 * 2**20)  # large enough to stop half way at the throttled speed
    extra = {
        "transformer/diffusion_pytorch_model.fp16.safetensors": b"0" * 5000,
        "diffusion_pytorch_model.safetensors": b"1" * 7000,
        "assets/teaser.png": b"png",
        "vae/diffusion_pytorch_model.bin": big,
    }
    repo = Repo(tiny_models["wan22-ti2v"], "apache-2.0", extra)
    # A large text encoder shard, so a download can be stopped inside one file.
    repo.files["text_encoder/model.safetensors"] = repo.files["text_encoder/model.safetensors"]
    repo.files["text_encoder/zzz-extra.safetensors.index.json"] = b"{}"
    return {"Wan-AI/Wan2.2-TI2V-5B-Diffusers": repo}


def test_download_size_licence_then_files_into_the_cache(hub_repo, tmp_path):
    with LocalHub(hub_repo) as hub:
        r = run_download(hub.url, tmp_path / "hf", "wan2.2-ti2v-5b", "--info", "--json")
        assert r.returncode == 0, r.stderr
        (plan,) = json_events(r.stdout)
        assert plan["event"] == "plan" and plan["commit"] == COMMIT
        assert plan["licence"] == "Apache-2.0" and plan["card_licence"] == "apache-2.0"
        assert plan["to_download"] == plan["total_bytes"] > 0 and plan["partial_bytes"] == 0
        assert not any(p.startswith("assets/") or ".fp16." in p for p in (f["path"] for f in plan["files"]))
        assert not [q for q in hub.requests if "/resolve/" in q[1]]  # --info downloads nothing

        r = run_download(hub.url, tmp_path / "hf", "wan2.2-ti2v-5b", "--json")
        assert r.returncode == 0, r.stderr
        events = json_events(r.stdout)
        assert events[-1]["event"] == "done" and events[-2]["done"] == events[-2]["total"] == plan["total_bytes"]
        fetched = {q[1].split(f"/resolve/{COMMIT}/")[1] for q in hub.requests if "/resolve/" in q[1]}
        assert fetched == {f["path"] for f in plan["files"]}
        assert "vae/diffusion_pytorch_model.bin" not in fetched and "diffusion_pytorch_model.safetensors" not in fetched
        # Again: nothing left to fetch.
        r = run_download(hub.url, tmp_path / "hf", "wan2.2-ti2v-5b", "--info", "--json")
        assert json_events(r.stdout)[0]["to_download"] == 0

    # huggingface_hub finds it where the backend looks, offline.
    code = (
        "from huggingface_hub import try_to_load_from_cache as t; "
        "print(t('Wan-AI/Wan2.2-TI2V-5B-Diffusers', 'transformer/config.json'))"
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    assert out.strip().endswith("transformer/config.json") and COMMIT in out
    from realcam.catalog import is_cached  # noqa: F401  (same lookup as /v1/models)

    out = subprocess.run(
        [sys.executable, "-c", "from realcam.catalog import video_models; print(video_models()[0]['cached'])"],
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == "True"


def test_download_continues_where_it_stopped(hub_repo, tmp_path):
    repo = hub_repo["Wan-AI/Wan2.2-TI2V-5B-Diffusers"]
    big_path = "text_encoder/huge.safetensors"
    repo.files[big_path] = os.urandom(4 * 2**20)
    try:
        with LocalHub(hub_repo, bytes_per_second=2 * 2**20) as hub:
            p = subprocess.Popen(
                [sys.executable, "-m", "realcam", "download", "wan2.2-ti2v-5b", "--json"],
                env=online_env(hub.url, tmp_path / "hf"),
                stdout=subprocess.PIPE,
                text=True,
            )
            partial = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                blobs = tmp_path / "hf" / "hub" / "models--Wan-AI--Wan2.2-TI2V-5B-Diffusers" / "blobs"
                parts = list(blobs.glob("*.incomplete")) if blobs.is_dir() else []
                if parts and parts[0].stat().st_size > 2**20:
                    partial = parts[0]
                    break
                time.sleep(0.05)
            p.kill()  # like a closed laptop: no chance to clean up
            p.wait()
            assert partial is not None and partial.exists()
            have = partial.stat().st_size
            r = run_download(hub.url, tmp_path / "hf", "wan2.2-ti2v-5b", "--info", "--json")
            assert json_events(r.stdout)[0]["partial_bytes"] >= have
            hub.bytes_per_second = None
            r = run_download(hub.url, tmp_path / "hf", "wan2.2-ti2v-5b", "--json")
            assert r.returncode == 0, r.stderr
        ranges = [q[2] for q in hub.requests if q[1].endswith(big_path) and q[2]]
        assert ranges and int(ranges[-1].split("=")[1].rstrip("-")) >= have
        snap = tmp_path / "hf" / "hub" / "models--Wan-AI--Wan2.2-TI2V-5B-Diffusers" / "snapshots" / COMMIT
        assert (snap / big_path).read_bytes() == repo.files[big_path]  # checked, whole, in the cache
        assert not list(partial.parent.glob("*.incomplete"))
    finally:
        del repo.files[big_path]


def test_download_unreachable_hub_says_so(tmp_path):
    r = run_download("http://127.0.0.1:9", tmp_path / "hf", "wan2.2-ti2v-5b", "--json", timeout=120)
    assert r.returncode == 2
    (err,) = [e for e in json_events(r.stdout) if e["event"] == "error"]
    assert "cannot reach the Hugging Face hub at http://127.0.0.1:9" in err["message"]
    assert not (tmp_path / "hf" / "hub").exists() or not any((tmp_path / "hf" / "hub").iterdir())
    r = run_download("http://127.0.0.1:9", tmp_path / "hf", "no-such-model")
    assert r.returncode == 2 and "realcam models" in r.stderr


# ----------------------------------------------------------------- the real set-up, through Blender


@pytest.fixture(scope="module")
def real_setup(addon_zip, tmp_path_factory):
    """One full set-up per run, shared by the tests below (minutes: pip installs torch and the backend)."""
    work = tmp_path_factory.mktemp("backend setup")
    started = time.monotonic()
    run_blender_script(
        "backend_setup.py",
        addon_zip,
        SAMPLES,
        work / "report.json",
        work,
        user_dir=work / "blender user",  # spaces in every path below it
        timeout=1800,
    )
    rep = json.loads((work / "report.json").read_text())
    rep["wall_s"] = round(time.monotonic() - started, 1)
    print(
        f"\nbackend set-up test: {rep['wall_s']} s wall, set-up {rep['setup']['seconds']} s: {rep['setup']['stages']}"
    )
    return rep


def test_preferences_show_each_state(real_setup):
    before = real_setup["shown_before"]
    assert "button: realcam.backend_setup" in before and "prop: torch_source" in before  # Set up + options
    assert not any("Update" in line for line in before)
    assert any(line.startswith("progress: torch") for line in real_setup["shown_running"])
    assert "button: realcam.backend_cancel" in real_setup["shown_running"]
    after = real_setup["setup"]["shown"]
    assert "button: realcam.backend_setup Update" in after and "button: realcam.backend_check" in after
    assert any("CPU only" in line for line in after) and any("very slow" in line for line in after)
    assert any("realcam.model_download Download model" in line for line in after)  # per model, before sizes
    plan_shown = real_setup["download_info"]["shown"]
    assert any("Accept licence and download" in line for line in plan_shown)
    assert any("Licence: Apache-2.0" in line for line in plan_shown)
    assert any("click Update" in line for line in real_setup["needs_update"]["shown"])


def test_bad_index_fails_clearly_and_leaves_nothing(real_setup):
    bad = real_setup["bad_index"]
    assert bad["stage"] == "failed"
    assert "cannot reach the package index http://127.0.0.1:9/simple" in bad["error"]
    assert "set another index in the preferences" in bad["error"]
    assert bad["left"] == [] and bad["start_command"] == real_setup["default_start_command"]


def test_cancel_leaves_nothing_behind(real_setup):
    c = real_setup["cancel"]
    assert c["cancelled_in"] == "torch" and c["stage"] == "cancelled" and c["error"] is None
    assert c["left"] == [] and c["processes"] == []
    assert c["start_command"] == real_setup["default_start_command"]


def test_setup_makes_an_environment_the_add_on_starts(real_setup):
    s = real_setup["setup"]
    assert s["error"] is None and s["stage"] == "done", s
    assert [st for st, _ in s["stages"] if st in be.STAGES] == list(be.STAGES)  # each stage reported, in order
    assert s["left"] == sorted([be.ENV_DIR, be.STATUS_FILE])  # nothing half-made beside it
    assert s["start_argv"] == [s["env_python"], "-m", "realcam", "serve", "--offline"]
    assert " " in s["env_python"]  # the user folder has spaces; the command still splits right
    status = s["status"]
    assert status["ok"] and status["version"] == "0.1.0" and status["needs_update"] is False
    assert status["device"]["device"] == "cpu" and status["device"]["torch"].startswith("2.13.0")
    assert any("very slow" in w for w in status["warnings"])
    assert [m["name"] for m in status["models"]][:1] == ["wan2.2-ti2v-5b"]  # the default model first
    assert "CPU only" in s["summary"] and s["needs_update"] is None and s["processes"] == []
    assert s["record"]["torch"]["requirement"] == "torch==2.13.0"
    assert real_setup["check"]["status"]["ok"] and real_setup["check"]["stage"] == "done"


def test_generate_waits_for_the_model_then_runs_through_the_setup_backend(real_setup):
    assert real_setup["import_with_depth_map"] is None
    refused = real_setup["generate_not_downloaded"]
    assert "is not downloaded yet" in refused["error"] and "Preferences" in refused["error"]
    assert refused["backend_started"]  # the add-on started the set-up's backend to ask
    assert "size and licence" in real_setup["download_unasked"]
    result, err = real_setup["open_licence_file"]
    assert "CANCELLED" in str(result) and "not a web address" in str(err), real_setup["open_licence_file"]
    info = real_setup["download_info"]
    assert info["error"] is None and info["plan"]["licence"] == "Apache-2.0" and info["plan"]["to_download"] > 0
    assert real_setup["download"]["error"] is None and real_setup["download"]["stage"] == "done"
    assert real_setup["download_depth"] == [None, None]
    cached = {m["name"]: m["cached"] for m in real_setup["models_after_download"]}
    assert cached["wan2.2-ti2v-5b"] and cached["da2-indoor-large"] and not cached["svd-xt"]
    gen = real_setup["generate"]
    assert gen["error"] is None, gen
    (movie,) = gen["movies"]
    assert movie["duration"] == 5 and json.loads(movie["realcam"])["model"] == "wan2.2-ti2v-5b"
    assert real_setup["import_with_backend_depth"]["error"] is None
    assert "cannot reach the Hugging Face hub" in real_setup["download_unreachable"]


def test_update_and_remove(real_setup):
    assert "click Update" in real_setup["needs_update"]["message"]
    rm = real_setup["remove"]
    assert rm["error"] is None and rm["left"] == [] and not rm["installed"]
    assert rm["start_command"] == real_setup["default_start_command"]


def _tiny_env(path, with_realcam=True):
    """A real virtual environment (no pip: seconds) that can import this checkout's realcam, or not."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    py = be.env_python(str(path))
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    if with_realcam:
        with open(os.path.join(site, "checkout.pth"), "w") as fh:
            fh.write(os.path.join(ROOT, "backend") + "\n" + os.path.join(ROOT, "addon") + "\n")
    return py


def test_update_swaps_environments_only_when_the_new_one_runs(tmp_path):
    """The move into place, as an update does it: the old environment goes once the new one runs from its final
    folder; a new one that does not run puts the old one back."""
    user = tmp_path / "user folder"
    user.mkdir()
    log = w.Log(str(user / "logs" / "setup.log"))
    first = user / "env.partial-1"
    _tiny_env(first)
    final = w._swap(str(user), str(first), log)
    assert final == str(user / be.ENV_DIR) and sorted(os.listdir(user)) == ["env", "logs"]
    (user / "env" / "marker-old").write_text("old")

    second = user / "env.partial-2"
    _tiny_env(second)
    w._swap(str(user), str(second), log)
    assert sorted(os.listdir(user)) == ["env", "logs"] and not (user / "env" / "marker-old").exists()

    (user / "env" / "marker-old").write_text("old")
    broken = user / "env.partial-3"
    _tiny_env(broken, with_realcam=False)
    with pytest.raises(be.SetupError, match="does not run after moving"):
        w._swap(str(user), str(broken), log)
    assert (user / "env" / "marker-old").exists()  # the old one is back in place, still usable
    assert be.leftovers(str(user)) == [str(broken)]  # the caller (setup) removes it
