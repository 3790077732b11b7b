"""Fitting a shot to a video model (realcam_core.addon_only.model_fit): size, frames and the lens a model assumes."""

import pytest

from realcam_core.addon_only.model_fit import assumed_focal, frames_for, longest, plan_fit
from realcam_core.camera_scale import upstream_inference_intrinsics
from realcam_core.models import (
    CAMI2V_512,
    MOTIONCTRL_256,
    REALCAM_I2V_256,
    SVD_XT,
    WAN22_FUN_5B_CAMERA,
    WAN22_TI2V_5B,
)

PHOTO = (832, 480)  # the sample room's photo


def test_a_dynamicrafter_model_makes_the_shot_16_frames_at_its_size():
    plan = plan_fit("realcam-i2v-256", REALCAM_I2V_256, size=(128, 96), frames=9, photo_size=PHOTO, imported_fx=95.0)
    assert plan.size == (256, 256) and plan.frames == 16 and plan.reimport
    assert plan.focal_px is None  # told the lens through its rays: the photo keeps its own
    assert plan.photo_focal_px == pytest.approx(95.0 / (96 / 480))  # the photo's focal in its own pixels
    assert plan.summary(1001, 24.0) == "realcam-i2v-256: 256x256, 16 frames (1001-1016) at 24 fps"
    assert any("frames 9 -> 16" in n for n in plan.notes)


def test_a_shot_longer_than_the_model_makes_is_cut_to_what_it_makes():
    plan = plan_fit("cami2v-512", CAMI2V_512, size=(512, 320), frames=49, photo_size=PHOTO, imported_fx=300.0)
    assert plan.size == (512, 320) and not plan.reimport and plan.frames == 16
    assert any("keys past the new last frame" in n for n in plan.notes)
    # Wan: 4k+1 counts up to 121; a count it makes stays (the camera's timing), one past it becomes the longest.
    assert frames_for(WAN22_TI2V_5B, 50, (1280, 704)) == 50
    assert frames_for(WAN22_TI2V_5B, 200, (1280, 704)) == longest(WAN22_TI2V_5B) == 121
    assert frames_for(SVD_XT, 30, (1024, 576)) == 25


def test_the_same_rule_for_every_model_native_size_by_the_photos_aspect():
    plan = plan_fit("svd-xt", SVD_XT, size=(256, 256), frames=16, photo_size=(480, 832), imported_fx=200.0)
    assert plan.size == (576, 1024) and plan.reimport and plan.frames == 16
    plan = plan_fit("wan", WAN22_TI2V_5B, size=(1280, 704), frames=49, photo_size=PHOTO, imported_fx=900.0)
    assert not plan.reimport and plan.frames == 49 and plan.focal_px is None and not plan.notes


def test_motionctrl_gets_the_lens_it_assumes_upstreams_rule_on_the_photo():
    plan = plan_fit("motionctrl-256", MOTIONCTRL_256, size=(128, 96), frames=9, photo_size=PHOTO, imported_fx=95.0)
    # Upstream: the photo resized to cover 256x256 (443x256), fx = fy = half its long side: 90 deg across it.
    expected = upstream_inference_intrinsics(256, 256, PHOTO).fx
    assert expected == pytest.approx(0.5 * 443)
    assert plan.focal_px == pytest.approx(expected) and plan.reimport
    assert assumed_focal(REALCAM_I2V_256, (256, 256), PHOTO) is None
    assert assumed_focal(WAN22_FUN_5B_CAMERA, (1280, 704), PHOTO) is None  # told the lens through its rays


def test_leaving_motionctrl_goes_back_to_the_photos_own_lens_but_keeps_the_artists():
    own = 95.0 * 256 / 96  # the imported focal, at 256x256
    mc = assumed_focal(MOTIONCTRL_256, (256, 256), PHOTO)
    back = plan_fit(
        "realcam-i2v-256",
        REALCAM_I2V_256,
        size=(256, 256),
        frames=16,
        photo_size=PHOTO,
        imported_fx=own,
        applied_fx=mc,
        previous=MOTIONCTRL_256,
    )
    assert not back.reimport and back.focal_px == pytest.approx(own)
    # A focal the artist applied (not the one the previous model assumed) stays, scaled with the photo.
    kept = plan_fit(
        "realcam-i2v-256",
        REALCAM_I2V_256,
        size=(128, 96),
        frames=9,
        photo_size=PHOTO,
        imported_fx=95.0,
        applied_fx=120.0,
        previous=MOTIONCTRL_256,
    )
    assert kept.reimport and kept.focal_px == pytest.approx(120.0 * 256 / 96)
