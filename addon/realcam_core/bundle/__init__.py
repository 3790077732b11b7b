"""The job bundle: what the add-on sends to the backend (contract, version 1).

This module is the one definition of the bundle. A bundle is a folder, or the
same files in one zip archive (for upload):

    manifest.json          the manifest below
    reference.png          the photo as the model sees it: 8-bit RGB or RGBA PNG, width x height
    preview/0000.png ...   one 8-bit RGBA PNG per frame, width x height, alpha = covered by the scene
    depth.npy              optional: float32 (height, width) z-depth of the reference camera, metres
    last.png               optional (a transition): the second photo, 8-bit RGB or RGBA PNG, width x height

manifest.json (schema_version 1)::

    {
      "schema": "realcam.job-bundle",
      "schema_version": 1,
      "width": 832, "height": 480,            generation resolution, pixels
      "intrinsics_convention": "continuous-pixel-centre-at-half",
      "reference_image": "reference.png",
      "depth": "depth.npy" or null,
      "last_image": "last.png",               optional, only when set: the image the take's last frame
                                              arrives at (an in-between: the second shot's photo, seen by
                                              the last frame's camera); not with settings.loop
      "frames": [                             one per video frame, in order
        {
          "scene_frame": 1,                   Blender frame number, strictly increasing
          "preview": "preview/0000.png",
          "intrinsics": {"fx": ..., "fy": ..., "cx": ..., "cy": ...},   pixels of width x height; fx, fy
                                               from 0.001 to 1000 times the long side
          "c2w": [[...], [...], [...], [...]]  4x4 camera-to-world, OpenCV axes, metres,
                                               relative to frame 0 (frame 0 is the identity);
                                               translations at most 10 km
        }, ...
      ],
      "settings": {
        "model": "Wan-AI/Wan2.2-TI2V-5B-Diffusers",   Hugging Face id or a name the backend knows
        "prompt": "", "negative_prompt": "",  at most 8192 bytes each (UTF-8)
        "seed": 0,                            0 <= seed < 2**32
        "steps": null or int,                 null = the model's default
        "guidance": null or number,           null = the model's default
        "fps": 24.0,                          the Blender scene's frame rate, 1 to 240
        "sns": {"enabled": true, "threshold": 0.9},  threshold: noise level in [0, 3] (0.9 = upstream's
                                              t >= 900; above 1 fewer, noisier steps are shaped)
        "evaluate": false,                    optional: also measure camera accuracy (realcam eval)
        "camera_condition": true,             optional (default true): tell a model that has a camera
                                              adapter the cameras (Plücker rays); models without one
                                              ignore it, result.json says whether it was used
        "speed": {                            optional, all off by default (result.json says what was used):
          "step_cache": "off",                "off" or "first-block": reuse the transformer's blocks on
                                              steps whose first block barely changed; never on a step
                                              noise shaping acts on
          "cache_threshold": 0.05,            (0, 1]: the relative change that makes a step run in full
          "compile": false                    torch.compile the repeated transformer blocks
        },
        "camera_scale": null or number,       optional: the model's translation units per metre of the
                                              track (null = its default, realcam_core.camera_scale);
                                              result.json records the scale used
        "sampler": null or "flow-euler" or "unipc"   optional: for models that offer both (null = default)
        "loop": true                          optional, only when set (default false): the take's last frame
                                              leads back into its first (the photo); the cameras should close
                                              the path (last pose = first pose)
      },
      "source": {...}                         optional, free-form: who made it (app, scene, camera)
    }

Any number of frames: a shot longer than the model makes at once is made in windows by the backend
(realcam_core.windows); nothing in the bundle is per window. A loop or a last image is given to a model with
a last-frame input, and held as the last latent frame by the others (result.json says which).

Paths inside the manifest are relative POSIX paths that stay inside the bundle,
at most 255 bytes per part. Numbers are JSON numbers: schema_version is the
integer 1 (not true, not 1.0), matrices and intrinsics are numbers, never
strings or booleans; lists and objects nest at most 32 deep, and the manifest
holds at most 16384 + 64 x max_frames values in 1 MiB + 2 KiB x max_frames
(counted before it is parsed).
Validation never trusts a size: image sizes come from the files' headers, the
depth shape from the .npy header, before anything is decoded.

The archive (archive.py): a zip whose entries are stored or deflated, never
encrypted, links, or both a file and a folder. Before anything is unpacked its
central directory is held to Limits: at most max_frames + 16 entries, no file
larger than an uncompressed PNG or depth map of max_pixels (or the manifest
limit), all of them together at most what max_frames such files make, and past
64 MiB at most 20 times the archive's size. The bytes written are counted, so
an entry holding more than it declares is refused.

Modules: types (the manifest as dataclasses, Limits, BundleError), manifest
(checking a decoded manifest), folder (validating a bundle folder), archive
(zip packing and safe unpacking). Everything is re-exported here, so callers
import from realcam_core.bundle.
"""

from .archive import inspect_archive, pack_bundle, unpack_bundle
from .folder import bundle_files, load_bundle, validate_bundle
from .manifest import parse_manifest, safe_relative_path
from .types import (
    DEFAULT_CACHE_THRESHOLD,
    IDENTITY_TOLERANCE,
    MANIFEST_NAME,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    SNS_THRESHOLD_MAX,
    STEP_CACHES,
    SUPPORTED_SCHEMA_VERSIONS,
    BundleError,
    Frame,
    JobBundle,
    Limits,
    Problem,
    Settings,
    SnsSettings,
    SpeedSettings,
    preview_name,
)

__all__ = [
    "DEFAULT_CACHE_THRESHOLD",
    "IDENTITY_TOLERANCE",
    "MANIFEST_NAME",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "SNS_THRESHOLD_MAX",
    "STEP_CACHES",
    "SUPPORTED_SCHEMA_VERSIONS",
    "BundleError",
    "Frame",
    "JobBundle",
    "Limits",
    "Problem",
    "Settings",
    "SnsSettings",
    "SpeedSettings",
    "bundle_files",
    "inspect_archive",
    "load_bundle",
    "pack_bundle",
    "parse_manifest",
    "preview_name",
    "safe_relative_path",
    "unpack_bundle",
    "validate_bundle",
]
