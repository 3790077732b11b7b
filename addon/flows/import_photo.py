"""Import a photo: a new shot for it (or, replacing, that shot's photo), with depth from the backend or the artist's
own depth map. A failed import leaves nothing: no folder, no half-made shot."""

from __future__ import annotations

import os
import shutil

import bpy

from .. import paths
from ..backend.connection import Connection
from ..extension import prefs
from ..paths import job_root
from ..realcam_core.addon_only import advice, photo_file, progress
from ..realcam_core.client import BackendError, BackendUnreachable
from ..realcam_core.models import native_size_for
from ..shot import photo_scene, photo_source, shots
from ..tasks import Background, undo_push
from . import FlowError, size_problems


def import_photo(
    task, context, photo, depth_map, focal_px, model, size, frames, replace=None, depth_model="", undo=True
):
    """A new shot for the photo (or, with replace = a ShotRef, that shot's photo replaced). undo=False: a task that
    imports as part of its own work (fitting a shot to a model) pushes the one undo step itself."""
    task.stages = progress.plan("import", depth_map=bool(depth_map))
    conn = Connection.from_prefs(context)
    origin = context.scene.name  # the scene whose panel options the import was started with
    source = shots.file_settings(context.scene)
    name = model or (replace.scene.realcam.model if replace else "") or shots.model_name(context.scene, context)
    # An empty, cut or renamed file, or a folder, is named before anything is decoded or sent to the backend.
    why = yield Background(photo_file.problem, photo)
    if why:
        raise FlowError(why)
    spec = yield from conn.video_spec(name)
    if replace is not None:
        r = replace.scene.render
        size, frames = (r.resolution_x, r.resolution_y), replace.scene.frame_end - replace.scene.frame_start + 1
    if not size:
        try:
            w, h = photo_source.photo_size(photo)
        except photo_source.PhotoError as e:
            raise FlowError(f"{e}: pick another photo in Import Photo") from None
        size = native_size_for(spec, w / h)
    frames = frames or min(49, spec.max_frames)
    problems = spec.problems(size[0], size[1], frames)
    if problems:
        raise size_problems(problems)
    base = os.path.splitext(os.path.basename(photo))[0] or "photo"
    folder = paths.unique_folder(os.path.join(job_root(context), "scenes"), f"{base}-{paths.stamp()}")
    try:
        if depth_map:
            task.report(progress.DEPTH_MAP, message=os.path.basename(depth_map))
            yield None
            try:
                rgb, depth, K = yield from photo_source.local_scene(photo, depth_map, size, focal_px or None, folder)
            except photo_source.PhotoError as e:
                raise FlowError(f"{e}: pick another photo or depth map in Import Photo") from None
        else:
            task.report(progress.DEPTH, message="connecting to the backend")
            upload = yield from photo_source.photo_for_backend(photo, folder)
            yield from conn.ensure()
            zip_path = os.path.join(folder, "depth.zip")
            depth_model = depth_model or prefs(context).depth_model or None
            yield from conn.require_weights("depth", depth_model)
            sent = progress.megabytes(os.path.getsize(upload))
            task.report(progress.DEPTH, message=f"uploading the photo ({sent}); the backend estimates its depth")
            try:
                yield Background(
                    conn.client().depth, upload, zip_path, f"{size[0]}x{size[1]}", focal_px or None, depth_model
                )
            except BackendError as e:
                if isinstance(e, BackendUnreachable) or not e.status:
                    raise  # no answer is not a refusal: the task's error says so, and what to do
                raise FlowError(advice.explain_backend(e, "the backend refused the photo")) from None
            conn.answered()  # the panel's backend status follows
            yield Background(photo_source.unpack_depth_zip, zip_path, folder)
            os.remove(zip_path)
            rgb, depth, K = yield from photo_source.read_scene_folder(folder)
        task.report(progress.BUILD)
        yield None
        # numpy in worker threads, Blender's part a slice per tick; the shot comes back in its last slice, and
        # is finished here before the next pause (a Python reference to it must not outlive one).
        shot = yield from photo_scene.build_shot(
            source, paths.stored(folder), rgb, depth, K, frames, photo, replace, _build_report(task)
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # a failed or cancelled import leaves nothing behind
        raise
    rc = shot.realcam
    if not rc.model:
        rc.model = name
    shots.mark_edited(shot)  # a re-import makes the preview out of date
    forget_photo_options(origin, depth_map, focal_px)
    shots.edit_scene(shot)
    if replace is None:
        shots.show(context, shot)
    if undo:
        undo_push("RealCam: import photo")
    return {"shot": shot.name, "mesh": rc.photo_mesh.name, "camera": shot.camera.name, "folder": folder}


def _build_report(task):
    def report(step: int, detail: str) -> None:
        task.report(progress.BUILD, step=step, total=photo_scene.BUILD_SLICES, message=detail)

    return report


def forget_photo_options(scene_name: str, depth_map: str, focal_px: float) -> None:
    """Empty the panel's depth map and focal once the photo they were for is imported: the next photo must not get
    them unseen. Size, frames and depth model are the project's and stay."""
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        return
    rc = scene.realcam
    field = rc.import_depth_map
    if depth_map and field and os.path.normpath(bpy.path.abspath(field)) == os.path.normpath(depth_map):
        rc.import_depth_map = ""
    if focal_px and rc.import_focal_px == focal_px:
        rc.import_focal_px = 0.0
