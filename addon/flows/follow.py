"""Follow a job to its video and bring the take into the edit, surviving a backend that goes away; pick up a job
recorded in the .blend again (Blender closed or crashed while it ran).

The running job is kept in the shot (job_id, job_backend, job_take, job_meta), so a crash or a backend restart loses
nothing; a cancelled or failed take leaves nothing: no folder, no strip, no job on the backend.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import bpy

from .. import paths
from ..backend.connection import Connection
from ..edit import sequencer, takes
from ..realcam_core import api
from ..realcam_core.addon_only import advice, progress
from ..realcam_core.client import BackendError
from ..shot import shots, transition
from ..tasks import RUNNER, Background, Sleep, Task, TaskCancelled, start, undo_push
from . import FlowError

POLL_SECONDS = 0.5

RECONNECT_SECONDS = (1.0, 2.0, 5.0, 10.0)  # waiting for a backend that stopped answering


def _keep_record(scene, record) -> None:
    """The running job in the .blend (an undo in the meantime may have taken it out: put it back)."""
    rc = scene.realcam
    if rc.job_id != record["id"]:
        rc.job_id = record["id"]
        rc.job_backend = record["backend"]
        rc.job_take = paths.stored(record["take"])
        rc.job_meta = json.dumps(record["meta"])


def _clear_record(ref, job_id: str) -> None:
    try:
        rc = ref.scene.realcam
    except shots.ShotGone:
        return
    if rc.job_id == job_id:
        rc.job_id = rc.job_backend = rc.job_take = rc.job_meta = ""


def record_of(scene) -> dict | None:
    rc = scene.realcam
    if not rc.job_id:
        return None
    try:
        meta = json.loads(rc.job_meta) if rc.job_meta else {}
    except ValueError:
        meta = {}
    return {"id": rc.job_id, "backend": rc.job_backend, "take": paths.resolve(rc.job_take), "meta": meta}


def follow_job(task, conn, ref, record, doing: str = ""):
    """Wait for the backend job and bring its video into the edit; survives the backend going away.

    A backend that stops answering is waited for (and restarted, when it is the
    add-on's own): it runs the interrupted job again when it is back. `doing`
    prefixes the waiting message, so the panel still says why it waits."""
    job_id, take = record["id"], record["take"]
    if not task.stages:  # picked up again from the .blend: uploaded before
        task.stages = progress.plan("follow", evaluate=bool(record.get("meta", {}).get("evaluate")))
    local_backend = record["backend"] == conn.url
    client = conn.client(record["backend"])
    started = time.monotonic()
    misses = 0
    keep_job = False  # a damaged job stays on the backend: its folder may still hold what a person can save
    try:
        while True:
            _keep_record(ref.scene, record)
            try:
                job = yield Background(client.job, job_id)
                misses = 0
                if local_backend:
                    conn.answered()  # the panel's backend status follows
            except BackendError as e:
                if e.status == 404:
                    raise FlowError(
                        f"the backend at {client.base} no longer has this take's job ({job_id}): its data folder "
                        "was cleared or it is another backend. Generate the take again"
                    ) from None
                if e.status:
                    raise FlowError(advice.explain_backend(e, "the backend could not report on the job")) from None
                # No answer, or the answer cut off (a backend killed mid-request): wait for it to come back.
                wait = RECONNECT_SECONDS[min(misses, len(RECONNECT_SECONDS) - 1)]
                misses += 1
                task.report(
                    f"{doing}the backend at {client.base} is not answering; waiting for it (the take goes on when it "
                    f"is back), next try in {wait:.0f} s"
                )
                if local_backend:
                    try:
                        yield from conn.ensure()  # the add-on's own backend is started again
                    except BackendError:
                        pass
                yield Sleep(wait)
                continue
            state = job["state"]
            if state in (api.QUEUED, api.RUNNING):
                stage, step, total, eta_s, detail = progress.from_job(job)
                task.report(stage, step, total, eta_s, detail)
            elif state == api.DONE:
                break
            elif state == api.FAILED:
                raise FlowError(
                    f"the backend could not make the video: {job.get('error')}: change what it names (model, size, "
                    "steps in the panel) and Generate again; the backend's log has the details"
                )
            elif state == api.DAMAGED:
                keep_job = True
                raise FlowError(f"the backend cannot read this take's job: {job.get('error')}")
            elif state == api.CANCELLED:
                raise TaskCancelled()
            yield Sleep(POLL_SECONDS)
        task.report(progress.DOWNLOAD, message="the video and its result")
        video = os.path.join(take, "video.mp4")
        os.makedirs(take, exist_ok=True)
        yield Background(client.download, job_id, "video", video)
        yield Background(client.download, job_id, "result", os.path.join(take, "result.json"))
    except (TaskCancelled, FlowError) as e:
        # A cancelled or failed take leaves nothing: no folder, no strip, no job on the backend.
        task.report("cancelling: stopping the backend job" if isinstance(e, TaskCancelled) else "cleaning up")
        _clear_record(ref, job_id)
        shutil.rmtree(take, ignore_errors=True)
        try:
            if not keep_job:
                yield Background(client.delete, job_id)
        except BackendError:
            pass  # gone already, or the backend is away: nothing left to stop
        raise
    with open(os.path.join(take, "result.json"), encoding="utf-8") as fh:
        result = json.load(fh)
    yield None
    scene = ref.scene
    meta = record["meta"]
    frames = meta.get("frames") or [scene.frame_start, scene.frame_end]
    # What made the take: the bundle's own settings (one definition), what the backend
    # resolved (steps, guidance), and where it came from.
    strip_settings = {
        **{k: v for k, v in meta.items() if k not in ("frames", "model_label")},
        "steps": result.get("steps"),
        "guidance": result.get("guidance"),
        "frames": frames,
        "job": job_id,
        "backend": client.base,
        "take": paths.stored(take),
        "seconds": round(time.monotonic() - started, 1),
        "made": time.strftime("%Y-%m-%d %H:%M:%S"),
        "camera_accuracy": result.get("camera_accuracy"),
        "result": takes.from_result(result),  # how it ran: guidance ignored, camera scale, sampler, speed
    }
    name = take_name(scene, meta.get("model_label") or meta.get("model", "take"), meta.get("seed", 0))
    count = frames[1] - frames[0] + 1
    strip = sequencer.add_take(shots.edit_scene(scene), scene, video, frames[0], count, name, strip_settings)
    if transition.is_transition(scene):
        try:
            transition.arrange(scene)  # the shot it goes to follows it in the edit
        except transition.TransitionError:
            pass  # that shot is gone: the take stays where it landed

    item = scene.realcam.takes.add()
    item.name, item.folder, item.settings = strip.name, paths.stored(take), json.dumps(strip_settings)
    _clear_record(ref, job_id)
    undo_push("RealCam: generate")
    task.report("done")
    return {"strip": strip.name, "video": video, "job": job_id}


def take_name(scene, model: str, seed: int) -> str:
    """Readable and unique in the edit: shot, model, seed, time (a suffix when two land in one second)."""
    base = f"{shots.label(scene)} {model} s{seed} {time.strftime('%H:%M:%S')}"
    taken = {s.name for e in shots.edits() for s in sequencer.shot_strips(e, scene.realcam.shot_id)}
    taken |= {t.name for t in scene.realcam.takes}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name


def reattach(task, context, ref):
    """Pick up a take whose job was recorded in the .blend (Blender closed or crashed while it ran)."""
    record = record_of(ref.scene)
    if record is None:
        return None
    doing = f"reattaching to the take's job {record['id'][:8]}"
    task.report(doing)
    return (yield from follow_job(task, Connection.from_prefs(context), ref, record, doing + ": "))


def reattach_all(context) -> list[Task]:
    """Start following every recorded job of the file's shots (after a .blend is opened)."""
    started = []
    for scene in shots.all_shots():
        if scene.realcam.job_id and not RUNNER.active(scene.realcam.shot_id):
            ref = shots.ShotRef(scene)
            started.append(start("generate", ref.id, lambda task, ref=ref: reattach(task, bpy.context, ref)))
    return started
