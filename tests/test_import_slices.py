"""The photo import in slices: short timer ticks, the same mesh as before, cancel and undo (real Blender)."""

import json

import numpy as np
import pytest
from helpers import SAMPLES, Server, run_blender_script, save_rgb

pytestmark = pytest.mark.every_blender  # the mesh's memory layout is Blender's own

BULK = ("position", "realcam_photo", ".edge_verts", ".corner_vert", ".corner_edge")


def test_the_import_writes_the_mesh_in_slices_as_before_and_cancel_and_undo_clean_up(
    addon_zip, tiny_models, tmp_path, blender_python
):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    save_rgb(inputs / "noise.png", 300, 200, seed=7)
    depth = np.full((160, 256), 3.0, np.float32)
    depth[:, 128:] = 5.0  # a step: no face may bridge it
    depth[40:80, 30:90] = 1.5  # a box in front
    depth[100:120, 150:200] = 0.0  # unknown depth: a hole
    depth += np.random.default_rng(1).uniform(0, 0.2, depth.shape).astype(np.float32)  # some blocks cross 5 %
    np.save(inputs / "steps.npy", depth)
    srv = Server(tmp_path / "data", tiny_models, "--depth-model-dir", f"tiny-depth={tiny_models['depth-anything']}")
    try:
        run_blender_script(
            "import_slices.py",
            addon_zip,
            srv.url,
            SAMPLES,
            inputs,
            tmp_path,
            tmp_path / "report.json",
            user_dir=tmp_path / "blender-user",
            python=blender_python,
        )
    finally:
        srv.stop()
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["deprecations"] == []
    assert rep["startup"] == ["Camera", "Cube", "Light"]
    assert rep["byte_rule"], "the import's float -> byte rule is not Blender's"

    sample = rep["sample"]
    assert sample["error"] is None and sample["stage"] == "done", sample["error"]
    assert sample["window_scene"] == sample["shot"]
    # The mesh equals the one the code before issue 30 built from the same scene folder, array by array, and
    # the scene folder's image the one it wrote.
    for name in ("sample", "noise", "backend"):
        mesh = rep[name]["mesh"]
        assert rep[name].get("error") is None, (name, rep[name].get("error"))
        assert mesh["unequal"] == [] and mesh["attributes"] == mesh["attributes_before"], (name, mesh)
        assert mesh["valid"] and not mesh["building_mark"] and len(mesh["materials"]) == 1, (name, mesh)
        assert 0 < mesh["faces"] == mesh["faces_before"] < mesh["all_faces"], (name, mesh)  # depth edges cut
    assert sample["mesh"]["vertices"] == 1280 * 704 and sample["mesh"]["image_as_before"]
    assert rep["noise"]["mesh"]["image_as_before"] and rep["noise"]["metres_per_unit"] == pytest.approx(0.01)

    # The slices: the task pauses between bulk writes, each step writes at most one of the mesh's arrays (or
    # makes room for one kind of element), and it takes many steps, spread over many timer ticks.
    steps = sample["steps"]
    writing = [s for s in steps if s["written"]]
    assert len(writing) >= 7, steps
    for s in writing:
        bulk = [w for w in s["written"] if w[0] in BULK]
        room = [w for w in s["written"] if w[0].startswith("allocate")]
        assert len(bulk) + len(room) <= 2 and len(bulk) <= 1, s  # (vertices are added with their positions)
        assert all(w[1] <= 4 * 1280 * 704 for w in s["written"]), s
    assert sum(1 for t in sample["ticks"] if t) >= 7, sample["ticks"]
    written = {w[0] for s in writing for w in s["written"]}
    assert set(BULK) <= written, written
    # numpy ran in worker threads, never on the main thread.
    ran = {name for name, _ in sample["threads"]}
    assert {"face_mask", "grid_faces", "grid_edges", "grid_corner_edges", "grid_vertices", "colors_linear"} <= ran
    assert "_fit_into_folder" in ran and "_scene_from_folder" in {n for n, _ in rep["backend"]["threads"]}
    for name in ("sample", "noise", "backend"):
        on_main = [n for n, main in rep[name]["threads"] if main]
        assert on_main == [], (name, on_main)
    # Progress: each slice of the build says what it writes.
    assert {"writing the points", "writing the colours", "writing the faces", "writing the edges"} <= set(
        rep["build_messages"]
    ), rep["build_messages"]

    # A cancel leaves nothing: no data, no half-written mesh, no scene folder.
    for when, c in rep["cancel"].items():
        assert c["stage"] == "cancelled" and c["error"] is None, (when, c)
        assert c["counts_after"] == c["counts_before"] and c["folders_after"] == c["folders_before"], (when, c)
        assert c["orphan_meshes"] == [] and c["window_scene"] == "Scene", (when, c)
    assert rep["cancel"]["mesh"]["mesh_half_written"], rep["cancel"]["mesh"]
    assert rep["cancel"]["worker"]["stage_at_cancel"] == "depth_map", rep["cancel"]["worker"]

    # One undo takes the whole import away; redo brings it back.
    undo = rep["undo"]
    assert undo["error"] is None and undo["after"] != undo["before"]
    assert undo["undone"]["counts"] == undo["before"] and not undo["undone"]["shot"], undo
    assert undo["undone"]["window_scene"] == "Scene"
    assert undo["redone"]["shot"] and undo["redone"]["counts"] == undo["after"] and undo["redone"]["faces"] > 0
