"""Shared by the Blender test scripts: a clean Blender with the built extension installed."""

import ast
import json
import os
import sys
import time
import warnings

import bpy
import numpy as np

# Deprecated Blender API the add-on uses (Blender warns once it plans a removal): each report lists them.
DEPRECATIONS = []


_show = warnings.showwarning


def _record(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, DeprecationWarning) and "/realcam/" in filename.replace(os.sep, "/"):
        DEPRECATIONS.append(f"{os.path.basename(filename)}:{lineno}: {message}")
    _show(message, category, filename, lineno, file, line)


warnings.simplefilter("always", DeprecationWarning)
warnings.showwarning = _record

# bpy 4.2 as a Python module segfaults when the process exits once any registered property has a Python
# callback (update or poll): a bare IntProperty(update=f) on a PropertyGroup does it, even unregistered again;
# 4.5 and 5.0 exit cleanly, and Blender itself uses such callbacks everywhere. Leave before that teardown,
# with the exit status the script earned (an uncaught exception: 1).
if bpy.app.version < (4, 3):
    import atexit

    _failed = []
    _excepthook = sys.excepthook

    def _note_failure(*exc):
        _failed.append(exc)
        _excepthook(*exc)

    sys.excepthook = _note_failure

    @atexit.register  # registered after bpy's own exit handler, so it runs first
    def _leave_before_bpy_teardown():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1 if _failed else 0)


def start(zip_path: str, empty: bool = True) -> str:
    """Factory settings (empty, or the default startup file with its cube, light and camera), then install and
    enable the extension zip as a user would."""
    assert os.environ.get("BLENDER_USER_RESOURCES"), "tests must point Blender's user folders at a temp dir"
    bpy.ops.wm.read_factory_settings(use_empty=empty)
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    pkg = "bl_ext.user_default.realcam"
    assert pkg in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
    return pkg


def prefs(pkg):
    return bpy.context.preferences.addons[pkg].preferences


def module(pkg, name):
    return sys.modules[f"{pkg}.{name}"]


def last_task(pkg):
    tasks = module(pkg, "tasks").RUNNER.tasks
    return tasks[-1] if tasks else None


def pump(pkg, task=None, until=None, timeout=600.0):
    """Drive the add-on's timer the way Blender's event loop does (bpy as a module never fires timers):
    call it without a window in the context, wait the interval it asks for, until the task ends (or until())."""
    tasks = module(pkg, "tasks")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until is not None and until():
            return
        if until is None and (task is None or task.done):
            return
        with bpy.context.temp_override(window=None):
            interval = tasks.timer()
        time.sleep(min(interval, 0.05))
    raise AssertionError(f"timed out waiting for {task.name if task else until}: {task.stage if task else ''}")


def press(pkg, op, watch=None, **kw) -> dict:
    """A button press (gui_op), then the timer until the task it started ends; watch(task), when given, at every
    tick of the wait (to record what the panel shows meanwhile). What happened: result, error (the press's or
    the task's), returned_while_running (the press returned before its task ended: the interactive path), stage
    (where the task ended); a press that starts no task has stage None."""
    before = last_task(pkg)
    res, err = gui_op(op, **kw)
    task = last_task(pkg)
    started = task is not None and task is not before
    returned_running = started and not task.done
    if started:
        pump(pkg, task, until=None if watch is None else lambda: watch(task) or task.done)
    return {
        "result": sorted(res),
        "error": err or (task.error if started else None),
        "returned_while_running": returned_running,
        "stage": task.stage if started else None,
    }


def room_photo(samples, true_depth=True, replace=False, **kw) -> dict:
    """The Import photo operator's arguments for the sample photo samples/room.jpg: with its true depth map and
    focal length (no depth model needed) unless true_depth is False; a new shot at 128x96 and 9 frames for a model
    the add-on knows without a backend, or with replace the active shot again (it keeps its model, size and frames).
    Keywords override or add arguments; one given as None is left out (the operator's default)."""
    args = {"filepath": os.path.join(samples, "room.jpg")}
    if true_depth:
        with open(os.path.join(samples, "room_camera.json")) as fh:
            args.update(depth_map=os.path.join(samples, "room_depth.png"), focal_px=json.load(fh)["fx"])
    if replace:
        args["replace"] = True
    else:
        args.update(model="wan2.2-ti2v-5b", width=128, height=96, frames=9)
    args.update(kw)
    return {k: v for k, v in args.items() if v is not None}


def import_room(samples, call=None, **kw):
    """Import the sample photo (room_photo's arguments; keywords as there) through call: run_op (the default, as
    a script calls it) or gui_op (as the button does); what call returns."""
    return (call or run_op)(bpy.ops.realcam.import_photo, **room_photo(samples, **kw))


def pixels(path, colorspace=None) -> np.ndarray:
    """An image file as Blender reads it: float RGBA, (height, width, 4), top row first; colorspace (e.g.
    "Non-Color") read as the file's colour space. The image is removed from the file again."""
    img = bpy.data.images.load(path, check_existing=False)
    try:
        if colorspace:
            img.colorspace_settings.name = colorspace
        w, h = img.size
        buf = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(buf)
        return buf.reshape(h, w, 4)[::-1].copy()
    finally:
        bpy.data.images.remove(img)


def psnr(a, b, mask=None) -> float:
    """PSNR (dB, on a 0-255 scale) of a's colour against b's over mask: by default where a is opaque (a preview's
    covered pixels)."""
    if mask is None:
        mask = a[..., 3] > 0.99
    mse = float((((a[..., :3] - b[..., :3]) * 255.0) ** 2)[mask].mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def gui_op(op, **kw):
    """An operator as a button runs it: with an undo push when it has the UNDO option."""
    try:
        return op("EXEC_DEFAULT", True, **kw), None
    except RuntimeError as e:
        return {"CANCELLED"}, str(e)


def strips(scene):
    sed = scene.sequence_editor if scene is not None else None
    if sed is None:
        return []
    return list(sed.strips_all if hasattr(sed, "strips_all") else sed.sequences_all)


def run_op(op, **kw):
    """Call an operator; return (result set, the error of the task it ran, if any)."""
    try:
        result = op(**kw)
    except RuntimeError as e:  # operator reported ERROR
        return {"CANCELLED"}, str(e)
    return result, None


def deprecations():
    """Deprecated Blender API the add-on called so far (file:line: Blender's warning)."""
    return sorted(set(DEPRECATIONS))


def dump(path, data):
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, default=str)


class Layout:
    """Stands in for Blender's UI layout (there is none headless): records what a panel would show; with props,
    also each property field ("prop: NAME")."""

    def __init__(self, out, props=False):
        self.out = out
        self.props = props

    def __getattr__(self, name):
        def call(*args, **kw):
            if name in ("label", "progress"):
                self.out.append(f"{name}: " + kw.get("text", ""))
            elif name == "operator":
                self.out.append(f"button: {args[0]} {kw.get('text', '')}".rstrip())
                return ButtonProps(self.out, args[0])
            elif name == "prop" and self.props:
                self.out.append(f"prop: {args[1]}")
            return Layout(self.out, self.props)

        return call


class ButtonProps:
    """An operator button's properties as the panel sets them: recorded as "set: OPERATOR NAME=VALUE"."""

    def __init__(self, out, op):
        object.__setattr__(self, "_out", out)
        object.__setattr__(self, "_op", op)

    def __setattr__(self, name, value):
        self._out.append(f"set: {self._op} {name}={value!r}")


def button_props(lines, op) -> dict:
    """The properties the panel gave the (last drawn) button of operator op."""
    props = {}
    for line in lines:
        if line == f"button: {op}" or line.startswith(f"button: {op} "):
            props = {}
        elif line.startswith(f"set: {op} "):
            name, value = line[len(f"set: {op} ") :].split("=", 1)
            props[name] = ast.literal_eval(value)
    return props


def panel_classes(pkg) -> list:
    """The RealCam panels in the order Blender shows them: the main panel, then its sub-panels."""
    return [c for c in module(pkg, "ui.panels").CLASSES if issubclass(c, bpy.types.Panel)]


def sub_panels(pkg) -> list:
    """[label, parent, starts closed, registered in Blender] of each sub-panel, in order."""
    return [
        [c.bl_label, c.bl_parent_id, "DEFAULT_CLOSED" in getattr(c, "bl_options", set()), c.is_registered]
        for c in panel_classes(pkg)
        if getattr(c, "bl_parent_id", "")
    ]


def panel_lines(pkg, scene) -> list:
    """The labels and buttons of the RealCam panel in the 3D view, drawn for `scene`: the main panel, then every
    sub-panel shown there (its poll passes), open or closed, each after a line "panel: <its label>"."""

    class Context:
        def __getattr__(self, name):
            return scene if name == "scene" else getattr(bpy.context, name)

    out, drawn, context = [], set(), Context()
    for cls in panel_classes(pkg):
        parent = getattr(cls, "bl_parent_id", "")
        if (parent and parent not in drawn) or (hasattr(cls, "poll") and not cls.poll(context)):
            continue

        class Panel:
            layout = Layout(out)

            def __getattr__(self, name, cls=cls):  # the panel's own helper methods (a Blender panel cannot be made)
                attr = getattr(cls, name)
                return attr.__get__(self) if callable(attr) else attr

        if parent:
            out.append(f"panel: {cls.bl_label}")
        cls.draw(Panel(), context)
        drawn.add(getattr(cls, "bl_idname", cls.__name__))
    return out
