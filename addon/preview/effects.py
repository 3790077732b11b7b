"""What of the artist's look the preview leaves out, and saying so.

The preview is geometry for the video model (what the camera sees of the photo, alpha = covered), not a beauty
render: every lens or image effect that changes its pixels would be followed by the model as if it were the scene
(a depth of field at f/1.2 focused at 1 m takes the unmoved frame from 54 dB to 34 dB off the photo, and eats into
what counts as covered). So the preview renders without them and gives them back afterwards; the artist's own
renders keep them, and the panel names the ones that are on (left_out).

The render settings among them (motion blur, stamp, Freestyle, region, curves, white balance, the output's own
colour management, overscan, Workbench's cavity/outline/shadows) are swapped with the rest of the preview's
settings (render.py). Here is what lives outside the scene's render settings: the camera's depth of field (on
the camera, maybe keyed or driven) and the world's volume (a fog over everything). Both are found again by name
when given back, since the render may span timer ticks.
"""

from __future__ import annotations

import bpy

from ..compat import compositor_in_use, fcurve_collection

DOF_PATH = "dof.use_dof"


def _cameras(scene) -> list:
    """The camera data the render may look through: the scene's camera and those bound to markers."""
    obs = [scene.camera, *(m.camera for m in scene.timeline_markers)]
    out = []
    for ob in obs:
        if ob is not None and ob.type == "CAMERA" and ob.data not in out:
            out.append(ob.data)
    return out


def _curves(owner, path: str) -> list:
    """Keyframe F-curves and drivers of owner on path."""
    found = []
    fcurves = fcurve_collection(owner)
    if fcurves is not None:
        found += [fc for fc in fcurves if fc.data_path == path]
    ad = owner.animation_data
    if ad is not None:
        found += [fc for fc in ad.drivers if fc.data_path == path]
    return found


def _volume_links(world) -> list:
    """The links into the world's output Volume sockets that are in use."""
    if world is None or world.node_tree is None:
        return []
    return [
        link
        for node in world.node_tree.nodes
        if node.type == "OUTPUT_WORLD"
        for link in node.inputs["Volume"].links
        if not link.is_muted
    ]


def switch_off(scene) -> dict:
    """Depth of field off on the cameras (keys and drivers of the switch muted), the world's volume unlinked;
    returns what give_back needs."""
    saved = {"cameras": [], "world": None, "links": []}
    for cam in _cameras(scene):
        muted = []
        for fc in _curves(cam, DOF_PATH):
            if not fc.mute:
                fc.mute = True
                muted.append(fc.array_index)
        saved["cameras"].append((cam.name, cam.dof.use_dof, bool(muted)))
        if cam.dof.use_dof:  # only what is on: every write tags the camera as edited
            cam.dof.use_dof = False
    links = _volume_links(scene.world)
    if links:
        saved["world"] = scene.world.name
        for link in links:
            saved["links"].append((link.from_node.name, link.from_socket.identifier, link.to_node.name))
            link.is_muted = True
    return saved


def give_back(saved: dict | None) -> None:
    """Undo switch_off. What was removed meanwhile (an undo while the render ran) is left as it is."""
    if not saved:
        return
    for name, use_dof, muted in saved["cameras"]:
        cam = bpy.data.cameras.get(name)
        if cam is None:
            continue
        if cam.dof.use_dof != use_dof:
            cam.dof.use_dof = use_dof
        if muted:
            for fc in _curves(cam, DOF_PATH):
                fc.mute = False
    world = bpy.data.worlds.get(saved["world"]) if saved["world"] else None
    if world is not None and world.node_tree is not None:
        for from_node, from_socket, to_node in saved["links"]:
            for link in world.node_tree.links:
                if (link.from_node.name, link.from_socket.identifier, link.to_node.name) == (
                    from_node,
                    from_socket,
                    to_node,
                ):
                    link.is_muted = False


def left_out(scene, engine: str = "EEVEE") -> list[str]:
    """The artist's effects that are on in this shot and that the preview renders without, as the panel names them."""
    r, vs = scene.render, scene.view_settings
    names = []
    if any(cam.dof.use_dof or _curves(cam, DOF_PATH) for cam in _cameras(scene)):
        names.append("depth of field")
    if r.use_motion_blur:
        names.append("motion blur")
    if r.use_stamp:
        names.append("burn-in stamp")
    if r.use_freestyle:
        names.append("Freestyle lines")
    if r.use_border:
        names.append("render region")
    if r.use_multiview:
        names.append("stereo 3D")
    if r.use_compositing and compositor_in_use(scene):
        names.append("compositor")
    if vs.look not in ("None", "NONE", ""):
        names.append(f"look {vs.look}")
    if vs.exposure != 0.0 or vs.gamma != 1.0:
        names.append("exposure and gamma")
    if vs.use_curve_mapping:
        names.append("RGB curves")
    if getattr(vs, "use_white_balance", False):
        names.append("white balance")
    if r.image_settings.color_management == "OVERRIDE":
        names.append("the output's own colour management")
    if engine == "EEVEE" and scene.eevee.use_overscan:
        names.append("overscan")
    if _volume_links(scene.world):
        names.append("world volume")
    return names


def left_out_line(scene, engine: str = "EEVEE") -> str:
    """The panel's line on what the preview leaves out, or "" when nothing is on."""
    names = left_out(scene, engine)
    if not names:
        return ""
    them = "it" if len(names) == 1 else "them"
    return (
        f"The preview leaves out {', '.join(names)}: the model follows the preview's pixels as the scene; "
        f"your renders keep {them}"
    )
