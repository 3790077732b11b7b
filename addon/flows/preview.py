"""Read the shot's camera (a frame per tick) and render its preview; the camera's checks before either.

Reading the camera is the first stage of a preview, and also of Generate and of an RE10K export (read_track).
"""

from __future__ import annotations

import os
import shutil

import bpy

from .. import paths
from ..edit import sequencer
from ..extension import prefs
from ..paths import job_root
from ..preview import render
from ..preview.fingerprint import Fingerprint
from ..realcam_core.addon_only import progress
from ..realcam_core.camera import Intrinsics, blender_from_intrinsics
from ..shot import camera_track, moves, photo_scene, shots
from ..tasks import Background, TaskCancelled, WaitFor, a_window, undo_push
from . import FlowError, note

LENS_TOLERANCE = 0.005  # relative focal length difference at the first frame


def read_track(task, context, ref, photo_checks: bool = True):
    """Task generator -> (frames, Ks, relative c2ws, Fingerprint) of the shot's camera.

    photo_checks (preview, generate): the photo is what the camera sees at the
    first frame, so its mesh is placed there first (a rigged camera may start
    anywhere; check_first_frame refuses a lens that differs there)."""
    scene = ref.scene
    try:
        cam = camera_track.check_camera(scene)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    photo_checks = photo_checks and shots.is_shot(scene) and bool(scene.realcam.scene_folder)
    if photo_checks and scene.realcam.photo_mesh is not None:
        start = camera_track.evaluated_matrix(scene, cam, scene.frame_start)
        placed = shots.anchor_photo(scene, start)
        if placed == shots.MOVED:
            raise FlowError(moved_mesh_text(scene))
        if placed == shots.PLACED:
            note(task, progress.PREVIEW, "placing the photo where the camera starts")
            shots.depsgraph(scene)
            yield None
            scene = ref.scene
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    note(task, progress.PREVIEW, f"reading the camera ({len(frames)} frames)")
    fp = Fingerprint(scene, prefs(context).preview_engine, paths.resolve(scene.realcam.scene_folder))
    try:
        Ks, rel = yield from camera_track.read_track(ref, frames, fp.frame)
    except camera_track.CameraError as e:
        raise FlowError(str(e)) from None
    fp.track(Ks, rel)
    return frames, Ks, rel, fp


def moved_mesh_text(scene) -> str:
    return (
        f"you moved the photo's mesh {scene.realcam.photo_mesh.name!r} away from where camera {scene.camera.name!r} "
        f"sees it at frame {scene.frame_start}, and the first frame of a take is the photo: click Put Photo at Camera "
        "(RealCam > Shot) to put it back there, or undo the move. To place the shot elsewhere, move the camera or its "
        "rig: the photo follows the camera's first frame"
    )


def check_first_frame(scene, frames, Ks) -> None:
    """The first frame of a take is the photo: the camera must see what the photo saw there."""
    photo_K, K0 = photo_scene.photo_intrinsics(scene.realcam), Ks[0]
    why = photo_scene.pixel_aspect_problem(scene, photo_K)
    if why:
        raise FlowError(why + "; Render Preview and Generate refuse it until then")
    off = abs(K0.fx / photo_K.fx - 1) > LENS_TOLERANCE  # fy follows fx once the pixel aspect is the photo's
    shifted = max(abs(K0.cx - photo_K.cx), abs(K0.cy - photo_K.cy)) > 0.5
    if off or shifted:
        raise FlowError(
            f"camera {scene.camera.name!r} at frame {frames[0]} does not see what the photo saw (focal "
            f"{K0.fx:.1f} px, centre {K0.cx:.1f}, {K0.cy:.1f} against the photo's {photo_K.fx:.1f} px, "
            f"{photo_K.cx:.1f}, {photo_K.cy:.1f}): the first frame must be the photo. Key its lens back to "
            f"{photo_lens(scene, photo_K):.2f} mm and its shift to 0 there, or use the shot's own camera"
        )


def photo_lens(scene, K: Intrinsics) -> float:

    data = scene.camera.data
    return blender_from_intrinsics(K, data.sensor_fit, data.sensor_width, data.sensor_height).lens


def check_photo(scene) -> str:
    """The shot's scene folder (absolute), once its photo is there and the shot still has its size."""
    rc = scene.realcam
    folder = paths.resolve(rc.scene_folder)
    if not rc.scene_folder or not os.path.isfile(os.path.join(folder, "image.png")):
        raise FlowError(
            f"scene {scene.name!r} has no photo (its folder {folder or '(none)'} is missing): import a photo first "
            "(RealCam > Import Photo), or open the project where its realcam folder is"
        )
    size = camera_track.generation_size(scene)
    ref = photo_scene.photo_intrinsics(scene.realcam)
    if size != (ref.width, ref.height):
        raise FlowError(
            f"the shot's size is {size[0]}x{size[1]} but its photo was imported at {ref.width}x{ref.height}: "
            "set it back (Output properties), or import the photo again at the new size"
        )
    return folder


def render_preview(task, context, ref, track=None, digest=None):
    if track is None:
        track = yield from read_track(task, context, ref)
        check_first_frame(ref.scene, track[0], track[1])
    frames, Ks, rel, fp = track
    if digest is None:
        digest = yield Background(fp.digest)
    scene = ref.scene
    folder = paths.unique_folder(os.path.join(job_root(context), "previews"), f"{shots.label(scene)}-{paths.stamp()}")
    task.report(progress.PREVIEW, message=f"{len(frames)} frames")
    try:
        saved = render.swap_settings(scene, folder, prefs(context).preview_engine)
        try:
            if bpy.app.background:
                bpy.ops.render.render(animation=True, scene=scene.name)
            else:
                with render.RenderWatch() as watch:
                    with bpy.context.temp_override(window=a_window()):
                        bpy.ops.render.render("INVOKE_DEFAULT", animation=True, scene=scene.name)
                    yield WaitFor(lambda: watch.finished, poll=0.2)
                if watch.cancelled:
                    raise TaskCancelled()
        finally:
            render.restore_settings(ref.scene, saved)
        scene = ref.scene
        files = render.frame_files(scene)
        missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            raise FlowError(
                f"the preview render did not write {len(missing)} frames (first: {missing[0]}): see the system "
                "console (Window > Toggle System Console) for the render's error, then Render Preview again"
            )
        sequencer.set_preview(shots.edit_scene(scene), scene, folder, files)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    rc = scene.realcam
    rc.preview_folder = paths.stored(folder)
    rc.preview_signature = digest

    moves.store_extent(scene, rel)  # what the move amounts to, and how much the last frame still sees
    moves.store_coverage(scene, folder, files[-1])
    shots.note_preview(scene)
    return folder


def preview_task(task, context, ref):
    task.stages = progress.plan("preview")
    check_photo(ref.scene)
    folder = yield from render_preview(task, context, ref)
    undo_push("RealCam: preview")
    return folder
