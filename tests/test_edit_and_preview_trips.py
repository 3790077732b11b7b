"""What an artist trips over in the preview and the edit (issue 25, items 3, 4, 6, 7 and a deleted shot), in real
Blender from the default startup file (bpy 4.5, and 4.2 and 5.0 where set up): the preview leaves the camera's lens
effects out, Compare shows exactly the chosen take, an undone Delete brings the take's files back, a shot plays at
its own rate in the edit, a deleted shot takes its strips with it."""

import json

import pytest
from helpers import SAMPLES, run_blender_script


def test_the_preview_leaves_lens_and_look_effects_out(addon_zip, tmp_path, blender_python):
    run_blender_script(
        "preview_trips.py",
        addon_zip,
        SAMPLES,
        tmp_path / "report.json",
        tmp_path,
        user_dir=tmp_path / "blender-user",
        python=blender_python,
    )
    rep = json.loads((tmp_path / "report.json").read_text())
    print(json.dumps({k: v for k, v in rep.items() if not k.startswith("panel")}, indent=1))
    assert rep["deprecations"] == []
    clean = rep["clean"]
    assert clean["error"] is None and clean["psnr"] >= 30.0 and clean["covered"] > 0.9, clean
    # Depth of field (f/1.2 and f/0.5 at 1 m), and then every effect at once: the same preview, pixel for pixel.
    for case in ("dof_f1.2", "dof_f0.5", "all_effects"):
        got = rep[case]
        assert got["error"] is None, (case, got)
        assert got["psnr"] == pytest.approx(clean["psnr"], abs=0.01), (case, got, clean)
        assert got["covered"] == clean["covered"], (case, got, clean)
        assert got["max_diff_to_clean"] == 0.0, (case, got)
    # The artist's look is back as it was: camera, render, colour management, world (and no world left over).
    assert rep["look_after"] == rep["look_before"], (rep["look_before"], rep["look_after"])
    assert rep["look_before"]["world_volume_linked"] and rep["look_before"]["world"] == "Foggy"
    # The panel says what the preview leaves out, and that renders keep it.
    lines = [ln for ln in rep["panel_effects_on"] if ln.startswith("label: ")]
    said = " ".join(ln[len("label: ") :] for ln in lines)
    assert "The preview leaves out" in said and "your renders keep" in said, lines
    for effect in ("depth of field", "motion blur", "burn-in stamp", "Freestyle", "render region", "world volume"):
        assert effect in said, (effect, lines)
    # Workbench: its depth of field, cavity, outline and shadows stay out too.
    wb, wb_clean = rep["workbench_effects"], rep["workbench_clean"]
    assert wb_clean["error"] is None and wb["error"] is None and wb_clean["psnr"] >= 30.0, wb_clean
    assert wb["max_diff_to_clean"] == 0.0 and wb["covered"] == wb_clean["covered"], (wb, wb_clean)
