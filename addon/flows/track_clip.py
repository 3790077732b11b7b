"""Camera move from clip: a reference clip tracked on the backend (/v1/tracks), its move keyed on the shot's camera.

Upload (the video as it is, or an archive of the clip's frames and a depth map of one of them), follow the track's
stages, download its move and report into the job folder (tracks/<shot>-<clip>-<time>/move.txt, move.json), then,
in one main-thread step, key the move on the camera on top of its rig (shot/clip_move.py) and push one undo step.
Network and files are worker-thread work. Cancelled or failed: the backend's track is deleted, the folder
removed, and the camera never touched (nothing is keyed before everything needed is in hand).
"""

from __future__ import annotations

import os
import shutil

from .. import paths
from ..backend.connection import Connection
from ..paths import job_root
from ..realcam_core import api
from ..realcam_core.addon_only import advice, progress
from ..realcam_core.addon_only.clip_move import ClipMoveError, load
from ..realcam_core.client import BackendError, BackendUnreachable
from ..realcam_core.client_tracks import pack_clip
from ..shot import camera_track, clip_move, moves, shots
from ..tasks import Background, Sleep, TaskCancelled, undo_push
from . import FlowError

POLL_SECONDS = 0.5
MOVE, REPORT = "move.txt", "move.json"


def clip_label(clip: str) -> str:
    """The clip's name as the panel and the folder show it: a video's file name, or a frames folder's name."""
    return os.path.basename(os.path.normpath(clip)) or "clip"


def _upload_file(clip: str, depth_map: str | None, folder: str) -> str:
    """Worker thread: what to send. A video alone goes as it is; frames, or a depth map with the clip, as an
    archive in the take's folder."""
    if not depth_map and os.path.isfile(clip):
        return clip
    try:
        return pack_clip(clip, os.path.join(folder, "clip.zip"), depth_map)
    except ValueError as e:
        raise FlowError(f"{e}: pick a video file, or an image of a folder of frames") from None


def _submit(client, upload: str, options: dict, box: dict) -> None:
    """Worker thread: the track's submission, kept in box even when the task is cancelled meanwhile (so the
    track it made on the backend can be deleted)."""
    box["track"] = client.submit_track(upload, **options)


def _refused(e: BackendError, client) -> FlowError:
    if e.status in (404, 405):  # a backend from before tracks
        return FlowError(
            f"the backend at {client.base} does not track clips (it is older than this add-on): update it "
            "(Preferences > Add-ons > RealCam > Update), or use `realcam track` and Import RE10K"
        )
    return FlowError(advice.explain_backend(e, "the backend refused the clip"))


def _follow(task, client, track_id: str):
    """Poll the track until it is done; FlowError when it failed, TaskCancelled when cancelled there."""
    while True:
        job = yield Background(client.track, track_id)
        state = job["state"]
        if state == api.DONE:
            return job
        if state == api.FAILED:
            raise FlowError(
                f"the backend could not track the clip: {job.get('error')}: try another clip, or give its lens "
                "(Focal or Field of view) and a depth map of one of its frames"
            )
        if state == api.CANCELLED:
            raise TaskCancelled()
        stage, step, total, eta_s, detail = progress.from_job(job)
        task.report(stage, step, total, eta_s, detail)
        yield Sleep(POLL_SECONDS)


def track_task(task, context, ref, clip: str, options: dict, depth_map: str | None = None, timing: str = "CLIP"):
    """Task generator: track clip on the backend and key its move on the shot's camera. options: api.TRACK_OPTIONS
    (None: not given). Returns what the panel records (clip_move.summary with the holder and folder)."""
    task.stages = progress.plan("track")
    scene = ref.scene
    try:
        cam_name = camera_track.check_camera(scene).name
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    conn = Connection.from_prefs(context)
    name = clip_label(clip)
    folder = paths.unique_folder(os.path.join(job_root(context), "tracks"), f"{shots.label(scene)}-{paths.stamp()}")
    box, client = {}, None
    try:
        task.report(progress.UPLOAD_CLIP, message="packing the clip" if depth_map or os.path.isdir(clip) else "")
        upload = yield Background(_upload_file, clip, depth_map, folder)
        task.report(progress.UPLOAD_CLIP, message="connecting to the backend")
        yield from conn.ensure()
        client = conn.client()
        task.report(progress.UPLOAD_CLIP, message=f"({progress.megabytes(os.path.getsize(upload))})")
        try:
            yield Background(_submit, client, upload, options, box)
        except BackendError as e:
            if isinstance(e, BackendUnreachable) or not e.status:
                raise  # no answer is not a refusal: the task's error says so, and what to do
            raise _refused(e, client) from None
        if upload != clip:
            yield Background(os.remove, upload)
        track_id = box["track"]["id"]
        yield from _follow(task, client, track_id)
        task.report(progress.DOWNLOAD_MOVE)
        yield Background(client.download_track, track_id, "move", os.path.join(folder, MOVE))
        yield Background(client.download_track, track_id, "report", os.path.join(folder, REPORT))
        move = yield Background(load, os.path.join(folder, MOVE), os.path.join(folder, REPORT))
    except Exception:  # a failure or a cancel (not GeneratorExit: a detached task yields nothing more)
        shutil.rmtree(folder, ignore_errors=True)
        if "track" in box:  # made on the backend: nothing of it stays there either
            try:
                yield Background(client.delete_track, box["track"]["id"])
            except BackendError:
                pass  # gone already, or the backend is away
        raise
    try:
        yield Background(client.delete_track, track_id)  # the move is here now; the clip need not stay there
    except BackendError:
        pass
    task.report(progress.KEY)
    scene = ref.scene
    cam = scene.camera
    if cam is None or cam.name != cam_name:
        shutil.rmtree(folder, ignore_errors=True)
        raise FlowError(
            f"the shot's active camera changed from {cam_name!r} while the clip was tracked: set it back "
            "(Scene properties > Camera) and run Camera move from clip again"
        )
    try:
        deltas, info = clip_move.deltas_for(scene, move, timing)
    except ClipMoveError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise FlowError(str(e)) from None
    keyed = clip_move.key(scene, cam, deltas)
    info.update(clip=name, holder=keyed["holder"], folder=paths.stored(folder))
    clip_move.record(scene, info)
    shots.mark_edited(scene)
    moves.measure(scene)
    undo_push("RealCam: camera move from clip")
    task.report("done", message=f"{name}: {info['lines'][0]}, keyed on {keyed['holder']}")
    return info
