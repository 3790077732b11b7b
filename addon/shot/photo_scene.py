"""A scene folder -> a shot: a point-cloud mesh and a camera that sees exactly the photo.

One vertex per pixel (at its centre; the outer ring reaches the frame's edge so
the whole frame is covered), the photo's colours as an unlit colour attribute,
no faces across depth discontinuities (so what the photo never saw renders as
empty), and a camera at the origin looking along +Y with the photo's lens,
sensor, fit and shift. Metric, in the file's units (metres / unit scale).
"""

from __future__ import annotations

import json
import os

import bpy
import numpy as np
from mathutils import Matrix

from .. import paths
from ..compat import fcurve_collection, material_node_tree
from ..realcam_core.addon_only.calibration import with_focal
from ..realcam_core.addon_only.pointcloud import DEFAULT_MAX_DEPTH_RATIO, valid_depth
from ..realcam_core.camera import (
    REFERENCE_C2W_BLENDER_WORLD,
    Intrinsics,
    blender_from_intrinsics,
    blender_from_opencv_c2w,
)
from ..tasks import Background, run_now
from . import photo_mesh, shots
from .photo_mesh import COLOR_ATTRIBUTE

ASPECT_TOLERANCE = 0.005  # relative, as the first frame's lens check


def _material(name: str) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    nt = material_node_tree(mat)
    nt.nodes.clear()
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = COLOR_ATTRIBUTE
    emit = nt.nodes.new("ShaderNodeEmission")
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    attr.location, emit.location, out.location = (-400, 0), (-150, 0), (100, 0)
    nt.links.new(attr.outputs["Color"], emit.inputs["Color"])
    nt.links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def build_mesh(
    name: str, rgb: np.ndarray, depth: np.ndarray, K: Intrinsics, max_depth_ratio: float = DEFAULT_MAX_DEPTH_RATIO
) -> bpy.types.Mesh:
    """The photo's mesh with its material, at once: the import's own steps (photo_mesh), run back to back."""
    parts = photo_mesh.photo_parts(rgb, depth, K, max_depth_ratio)
    mesh = bpy.data.meshes[run_now(photo_mesh.write_mesh(name, parts))]
    mesh.materials.append(_material(name))
    return mesh


def depth_edge_ratio(percent: float) -> float:
    """The shot's "Depth edge" (the largest step, in % of the nearer depth, still joined) as pointcloud's ratio."""
    return 1.0 + percent / 100.0


def rebuild_faces(shot, transform=None) -> int | None:
    """The photo's mesh again under the shot's depth-edge rule: same vertices (or transform(vertices), (N, 3) in the
    mesh's frame: a scene fix), colours and material, faces cut anew. Returns the face count; None when the shot has
    no photo mesh it can rebuild."""
    rc = shot.realcam
    ob = rc.photo_mesh
    old = ob.data if ob is not None and ob.type == "MESH" else None
    attr = old.color_attributes.get(COLOR_ATTRIBUTE) if old is not None else None
    if attr is None or not old.materials:
        return None
    try:
        with open(_intrinsics_file(rc), encoding="utf-8") as fh:
            K = Intrinsics.from_dict(json.load(fh))
    except OSError:  # the scene folder moved away: the grid's size is unknown, the mesh stays as it is
        return None
    n = len(old.vertices)
    if n != K.width * K.height:
        return None
    verts = np.empty(n * 3, np.float32)
    old.attributes["position"].data.foreach_get("vector", verts)
    if transform is not None:
        verts = np.ascontiguousarray(transform(verts.reshape(n, 3)), dtype=np.float32).ravel()
    colors = np.empty(n * 4, np.float32)
    attr.data.foreach_get("color", colors)
    parts = photo_mesh.mesh_parts(verts.reshape(n, 3), colors.reshape(n, 4), K, depth_edge_ratio(rc.depth_edge))
    name, material = old.name, old.materials[0]
    mesh = bpy.data.meshes[run_now(photo_mesh.write_mesh(name, parts))]
    mesh.materials.append(material)
    ob.data = mesh
    if old.users == 0:
        bpy.data.meshes.remove(old)
    mesh.name = name
    shots.mark_edited(shot)  # other faces: the preview is out of date
    return len(mesh.polygons)


def _intrinsics_file(rc) -> str:
    return os.path.join(paths.resolve(rc.scene_folder), "intrinsics.json")


def photo_intrinsics(rc, imported: bool = False) -> Intrinsics:
    """The photo's intrinsics: the scene folder's, with the shot's focal when one was applied after import
    (shot/fixes.py; kept on the shot, so an undo takes it back with the mesh). OSError when the folder is gone."""
    with open(_intrinsics_file(rc), encoding="utf-8") as fh:
        K = Intrinsics.from_dict(json.load(fh))
    if imported or rc.photo_focal_px <= 0:
        return K
    return with_focal(K, rc.photo_focal_px)


def pixel_aspect_problem(scene, photo_K: Intrinsics) -> str:
    """Why the shot's pixel aspect cannot give the photo at the first frame, and what to set; "" when it can.

    The photo's pixels are square (unless its intrinsics say otherwise), video models make square pixels, and a
    take's first frame is the photo. A shot whose Aspect X and Y differ from the photo's sees it stretched, whatever
    the lens: it is named as what it is, with the values to set (the lens stays as it is)."""
    r = scene.render
    need = blender_from_intrinsics(photo_K)
    have, want = r.pixel_aspect_x / r.pixel_aspect_y, need.pixel_aspect_x / need.pixel_aspect_y
    if abs(have / want - 1) <= ASPECT_TOLERANCE:
        return ""
    square = abs(want - 1) <= ASPECT_TOLERANCE
    target = (
        "Aspect X and Y to 1" if square else f"Aspect X to {need.pixel_aspect_x:.4g} and Y to {need.pixel_aspect_y:.4g}"
    )
    pixels = "square pixels, as video models make them" if square else f"pixels of {want:.4g}:1"
    return (
        f"the shot's pixel aspect is {r.pixel_aspect_x:g}:{r.pixel_aspect_y:g} but the photo has {pixels}, and the "
        f"first frame of a take is the photo: set {target} (Output properties > Format) in shot {scene.name!r}; "
        "for an anamorphic delivery, stretch the take in your edit"
    )


def apply_intrinsics(cam_data: bpy.types.Camera, scene: bpy.types.Scene, K: Intrinsics) -> None:
    """Lens, sensor fit and shift for K; the scene's (the shot's) size and pixel aspect to K's, at 100 %."""
    bc = blender_from_intrinsics(K, "AUTO", cam_data.sensor_width or 36.0, cam_data.sensor_height or 24.0)
    cam_data.type = "PERSP"
    cam_data.lens_unit = "MILLIMETERS"
    cam_data.sensor_fit = bc.sensor_fit
    cam_data.lens = bc.lens
    cam_data.shift_x = bc.shift_x
    cam_data.shift_y = bc.shift_y
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = K.width, K.height, 100
    r.pixel_aspect_x, r.pixel_aspect_y = bc.pixel_aspect_x, bc.pixel_aspect_y


def _scaled(depth, metres_per_unit: float, depth_scale: float):
    """(depth in metres, depth in Blender units) of the imported depth under the shot's scale calibration (a
    re-import keeps it: its camera moves are scaled) and unit scale (so the mesh sits among the artist's objects
    at any unit scale; positions are linear in depth, and the depth-edge rule is a ratio)."""
    if depth_scale != 1.0:
        depth = (depth * np.float32(depth_scale)).astype(np.float32)
    return depth, depth if metres_per_unit == 1.0 else (depth / np.float32(metres_per_unit)).astype(np.float32)


def _depth_range(depth) -> tuple[float, float, float]:
    """(nearest, farthest, median) known depth (numpy only: runs in a worker thread)."""
    valid = depth[valid_depth(depth)]
    return float(valid.min()), float(valid.max()), float(np.median(valid))


def _mesh_settings(source: dict, replace) -> tuple[float, float, float]:
    """(metres per unit, depth scale, depth-edge ratio) the photo's mesh is built with: the replaced shot's, or
    what a new shot (shots.create) starts with."""
    if replace is not None:
        rc = replace.realcam
        return rc.metres_per_unit or 1.0, rc.depth_scale, depth_edge_ratio(rc.depth_edge)
    fields = bpy.types.Scene.bl_rna.properties["realcam"].fixed_type.properties
    return source["scale_length"] or 1.0, 1.0, depth_edge_ratio(fields["depth_edge"].default)


BUILD_SLICES = photo_mesh.MESH_SLICES + 1  # build_shot's steps, for progress


def build_shot(
    source: dict, folder: str, rgb, depth, K: Intrinsics, frames: int, photo_name: str, replace=None, report=None
):
    """Task steps: a new shot scene (or, with replace = a ShotRef, that shot with a new photo); returns the shot
    scene, in the same slice as it is complete (hold it no further: a task finds a shot by id after a pause).

    source: the file's settings the shot takes (shots.file_settings). The shot gets the model's size and frame
    count; the artist's scene is not touched. numpy runs in worker threads, the mesh is written a slice at a time
    (photo_mesh) and the shot is put together around it in one last slice. Nothing is left behind when building
    fails or is cancelled. report(k, detail), if given, is called before step k of BUILD_SLICES."""
    say = report or (lambda k, detail: None)
    base = os.path.splitext(os.path.basename(photo_name))[0] or "photo"
    mpu, scale, ratio = _mesh_settings(source, replace.scene if replace is not None else None)
    if (mpu, scale) != (1.0, 1.0):
        depth, depth_bu = yield Background(_scaled, depth, mpu, scale)
    else:
        depth_bu = depth
    # numpy in worker threads from here: faces, points and the depth's range, each waited for where it is needed.
    parts = photo_mesh.photo_parts(rgb, depth_bu, K, ratio)
    depth_range = yield Background(_depth_range, depth)
    mesh_name = yield from photo_mesh.write_mesh(
        f"RealCam {base}", parts, lambda k, detail: say(k, f"writing {detail}")
    )
    say(BUILD_SLICES, "the camera and the shot")
    mesh = bpy.data.meshes[mesh_name]
    try:
        mesh.materials.append(_material(f"RealCam {base}"))
        mesh_ob = bpy.data.objects.new(f"RealCam {base}", mesh)
    except BaseException:
        _remove_mesh(mesh)
        raise
    return _assemble(source, folder, K, frames, photo_name, base, mesh_ob, depth_range, replace)


def _assemble(source, folder, K: Intrinsics, frames, photo_name, base, mesh_ob, depth_range, replace):
    """The shot around its finished mesh object: scene, camera, lens and the shot's fields."""
    try:
        replace = replace.scene if replace is not None else None  # ShotGone when it was deleted meanwhile
        shot = replace if replace is not None else shots.create(source, base)
    except BaseException:
        _remove_object(mesh_ob)
        raise
    rc = shot.realcam
    old_mesh = rc.photo_mesh
    near, far, median = depth_range
    try:
        mpu = rc.metres_per_unit or 1.0
        rc.photo_collection.objects.link(mesh_ob)
        cam_ob = shot.camera if replace is not None else None
        if cam_ob is None:
            cam_data = bpy.data.cameras.new(f"RealCam {base}")
            cam_ob = bpy.data.objects.new(f"RealCam Camera {base}", cam_data)
            rc.photo_collection.objects.link(cam_ob)
            cam_ob.matrix_world = Matrix(blender_from_opencv_c2w(REFERENCE_C2W_BLENDER_WORLD, mpu).tolist())
            cam_ob.rotation_mode = "XYZ"
            shot.camera = cam_ob
        cam_ob.data.clip_start = max(0.001, near * 0.05) / mpu
        cam_ob.data.clip_end = max(far * 20.0, 100.0) / mpu
        apply_intrinsics(cam_ob.data, shot, K)
        _lens_keys_start_at(cam_ob.data, shot.frame_start, cam_ob.data.lens)
        if replace is None:
            shot.frame_end = shot.frame_start + frames - 1
        else:
            mesh_ob.matrix_world = old_mesh.matrix_world.copy() if old_mesh is not None else mesh_ob.matrix_world
    except BaseException:
        _remove_object(mesh_ob)
        if replace is None:
            shots.delete(shot)
        raise
    if old_mesh is not None:
        _remove_object(old_mesh)
    rc.photo_mesh = mesh_ob
    if replace is None:
        shots.record_placement(shot)  # a replaced photo's mesh takes the old one's place, and its record
    rc.scene_folder = folder
    rc.photo = photo_name
    rc.photo_focal_px = 0.0  # the new photo comes with its own intrinsics
    rc.focal_input = K.fx  # the panel's focal field starts at the photo's focal
    rc.scale_a_set = rc.scale_b_set = False  # calibration points were picked on the old mesh: not on this one
    rc.median_depth = median
    return shot


def scale_keys(owner, path: str, s: float, frame: float | None = None) -> int:
    """Scale owner's F-curves at `path` (keys and handles) about their value at `frame` (None: about 0); the number
    of keys changed."""
    n = 0
    for fc in fcurve_collection(owner) or ():
        if fc.data_path != path:
            continue
        pivot = fc.evaluate(frame) if frame is not None else 0.0
        for k in fc.keyframe_points:
            k.co[1] = pivot + (k.co[1] - pivot) * s
            k.handle_left[1] = pivot + (k.handle_left[1] - pivot) * s
            k.handle_right[1] = pivot + (k.handle_right[1] - pivot) * s
            n += 1
        fc.update()
    return n


def _lens_keys_start_at(cam_data, frame: int, lens: float) -> None:
    """Scale the lens keys (a zoom) so they give `lens` at the first frame: a shot's camera that keeps its zoom
    through a re-import must still see the new photo there (else Preview and Generate refuse the first frame),
    and the zoom keeps its factor."""
    fc = next((f for f in fcurve_collection(cam_data) or () if f.data_path == "lens"), None)
    at_start = fc.evaluate(frame) if fc is not None else 0.0
    if at_start > 0.0:
        scale_keys(cam_data, "lens", lens / at_start)


def _remove_object(ob) -> None:
    mesh = ob.data
    bpy.data.objects.remove(ob)
    if mesh is not None and mesh.users == 0:
        _remove_mesh(mesh)


def _remove_mesh(mesh) -> None:
    for mat in list(mesh.materials):
        if mat is not None and mat.users <= 1:
            bpy.data.materials.remove(mat)
    bpy.data.meshes.remove(mesh)
