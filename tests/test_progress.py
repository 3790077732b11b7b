"""The stages and lines the artist sees (realcam_core.addon_only.progress) and the next step an error names
(realcam_core.addon_only.advice): pure mapping, no Blender."""

import json

import pytest
from helpers import free_port

from realcam_core import api
from realcam_core.addon_only import advice, progress
from realcam_core.client import BackendError, BackendUnreachable, Client


def test_every_backend_stage_of_the_api_has_an_artist_stage():
    # "cancelled" ends the task (the panel says cancelled), every other stage is shown as one of the artist's.
    for stage in api.PROGRESS_STAGES:
        if stage == "cancelled":
            continue
        assert stage in progress.BACKEND_STAGES, stage
        assert progress.BACKEND_STAGES[stage][0] in progress.LABELS


def test_the_generate_plan_is_in_the_order_the_work_happens():
    keys = [k for k, _ in progress.STAGES]
    for op, kw in [("import", {}), ("import", {"depth_map": True}), ("generate", {}), ("generate", {"evaluate": 1})]:
        plan = progress.plan(op, **kw)
        assert [keys.index(k) for k in plan] == sorted(keys.index(k) for k in plan), plan
    assert progress.plan("generate") == ("preview", "upload", "queued", "load", "generate", "decode", "download")
    assert progress.plan("generate", evaluate=True)[-2:] == ("evaluate", "download")
    assert progress.plan("follow") == progress.plan("generate")[2:]
    assert progress.plan("import") == ("depth", "build") and progress.plan("import", depth_map=True)[0] == "depth_map"


def test_a_denoise_step_reads_as_generating_with_steps_and_time_left():
    plan = progress.plan("generate")
    job = {"state": "running", "progress": {"stage": "denoise", "step": 12, "total": 30, "eta_s": 40.2}}
    stage, step, total, eta, detail = progress.from_job(job)
    shown = progress.describe(stage, step, total, eta, detail, plan)
    assert shown.text == "Stage 5 of 7: Generating: step 12 of 30, about 40 s left"
    assert (shown.index, shown.count, shown.label) == (5, 7, "Generating")
    assert shown.fraction == pytest.approx(0.4)
    # Step 0 has no time estimate yet; long ones read in minutes and hours.
    first = progress.describe(*progress.from_job({"state": "running", "progress": {**job["progress"], "step": 0}}))
    assert first.text == "Generating: starting 30 steps, about 40 s left"
    assert progress.eta_text(None) == "" and progress.eta_text(0.2) == "about 1 s left"
    assert progress.eta_text(185) == "about 3 min left" and progress.eta_text(3900) == "about 1 h 05 min left"


@pytest.mark.parametrize(
    "job, text",
    [
        ({"state": "queued", "position": 1}, "Stage 3 of 7: Waiting in the backend's queue: position 2"),
        ({"state": "running", "progress": {"stage": "starting"}}, "Stage 4 of 7: Loading the model: starting the job"),
        ({"state": "running", "progress": {"stage": "load"}}, "Stage 4 of 7: Loading the model"),
        ({"state": "running", "progress": {}}, "Stage 4 of 7: Loading the model: starting the job"),
        (
            {"state": "running", "progress": {"stage": "encode"}},
            "Stage 5 of 7: Generating: encoding the photo and the preview",
        ),
        ({"state": "running", "progress": {"stage": "decode"}}, "Stage 6 of 7: Decoding the video"),
        (
            {"state": "running", "progress": {"stage": "write"}},
            "Stage 6 of 7: Decoding the video: writing the video file",
        ),
    ],
)
def test_backend_stages_read_as_the_artists(job, text):
    assert progress.describe(*progress.from_job(job), progress.plan("generate")).text == text


def test_a_rerun_job_in_the_queue_says_why():
    stage, *_, detail = progress.from_job({"state": "queued", "position": 0, "note": "interrupted"})
    assert stage == "queued" and detail.startswith("position 1, it runs again (the backend stopped")


def test_a_long_shot_says_which_window_it_is_in():
    job = {"state": "running", "progress": {"stage": "denoise", "step": 3, "total": 8, "window": 2, "windows": 20}}
    assert (
        progress.describe(*progress.from_job(job), progress.plan("generate")).text
        == "Stage 5 of 7: Generating: window 2 of 20, step 3 of 8"
    )
    job["progress"] = {"stage": "encode", "window": 20, "windows": 20}
    assert progress.describe(*progress.from_job(job)).text.startswith("Generating: window 20 of 20, encoding the")
    job["progress"] = {"stage": "denoise", "window": 21, "windows": 20}  # nonsense from a backend: not shown
    assert "window" not in progress.describe(*progress.from_job(job)).text


def test_a_stage_a_newer_backend_adds_is_shown_by_its_name():
    job = {"state": "running", "progress": {"stage": "upscale_frames", "step": 3, "total": 10, "eta_s": 5}}
    shown = progress.describe(*progress.from_job(job), progress.plan("generate"))
    assert shown.text == "On the backend: upscale frames: step 3 of 10, about 5 s left"
    assert shown.index == 0 and shown.fraction == pytest.approx(0.3)
    # Malformed numbers from a backend are ignored, not raised.
    odd = {"state": "running", "progress": {"stage": "denoise", "step": "x", "total": None, "eta_s": "soon"}}
    assert progress.describe(*progress.from_job(odd)).text == "Generating"
    # Infinity and NaN (Python's json reads both) and booleans are not numbers of steps or seconds either.
    odd = json.loads(
        '{"state": "running", "progress": {"stage": "denoise", "step": Infinity, "total": 30, "eta_s": Infinity}}'
    )
    assert progress.describe(*progress.from_job(odd)).text == "Generating: starting 30 steps"
    odd["progress"].update(step=float("nan"), total=float("inf"), eta_s=float("nan"))
    assert progress.describe(*progress.from_job(odd)).text == "Generating"
    assert progress.eta_text(float("inf")) == progress.eta_text(float("nan")) == ""
    assert progress.describe("generate", 3, 30, float("inf")).text == "Generating: step 3 of 30"
    assert progress.from_job({"state": "queued", "position": True})[4] == ""
    assert progress.from_job({"state": "running", "progress": {"stage": ["denoise"]}})[0].startswith("backend:")


def test_uploads_and_tasks_that_are_not_stages():
    plan = progress.plan("generate")
    assert (
        progress.describe("upload", message="(2.1 MB)", stages=plan).text == "Stage 2 of 7: Uploading the job (2.1 MB)"
    )
    assert progress.megabytes(2_130_000) == "2.1 MB" and progress.megabytes(345_000_000) == "345 MB"
    # A one-stage operation has no "Stage 1 of 1"; any other text is shown as written (capitalised).
    assert (
        progress.describe("preview", message="9 frames", stages=("preview",)).text == "Rendering the preview: 9 frames"
    )
    assert progress.describe("asking the backend").text == "Asking the backend"


def test_connection_refused_names_the_problem_and_the_next_step_not_an_errno():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendUnreachable) as info:
        Client(url, timeout=5).health()
    text = advice.explain(info.value)
    assert text.startswith(f"no backend answers at {url} (nothing is listening on port ")
    assert text.endswith(advice.START) and "Errno" not in text and "refused" not in text.lower()


def test_an_unknown_host_and_a_bad_address_say_what_to_check():
    with pytest.raises(BackendUnreachable) as info:
        Client("http://no-such-host.invalid:8765", timeout=5).health()
    assert "the host name no-such-host.invalid is not known" in advice.explain(info.value)
    with pytest.raises(BackendUnreachable) as info:
        Client("localhost:8765").health()
    assert advice.explain(info.value).endswith("check Preferences > Backend URL")


@pytest.mark.parametrize(
    "status, words",
    [
        (401, "Preferences > Token"),
        (403, "Preferences > Backend URL"),
        (413, "--max-upload-mb"),
        (415, "install matching versions"),
        (422, "change what it names"),
        (503, "start it again"),
        (507, "free disk space"),
        (500, "see its log"),
    ],
)
def test_each_kind_of_backend_error_gets_its_next_step(status, words):
    e = BackendError(status, "the backend said no", ["settings.steps: too many"])
    text = advice.explain_backend(e, "the backend refused the job")
    assert text.startswith("the backend refused the job: the backend said no (settings.steps: too many): ")
    assert words in text


def test_a_timeout_and_a_cut_connection_say_what_to_do():
    slow = BackendError(0, "the backend at http://x did not answer within 30 s")
    assert "Test connection" in advice.explain(slow)
    cut = BackendError(0, "the connection to the backend at http://x was cut (ConnectionResetError: boom)")
    assert advice.explain(cut).endswith(advice.START)


def test_a_disk_error_is_worded_with_the_folder():
    e = OSError(28, "No space left on device", "/jobs/take")
    assert advice.explain(e) == (
        "no space left on device (/jobs/take): check that folder (Preferences > Job folder) and the free disk "
        "space, then try again"
    )
