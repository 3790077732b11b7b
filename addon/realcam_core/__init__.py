"""Pure logic of RealCam, without bpy or torch (standard library + numpy): what the add-on and the backend share,
and, in addon_only/, what only the add-on uses.

It lives inside addon/ so the Blender extension ships it (Blender's Python has numpy), and is installed with the
backend's wheel as `realcam_core`.

The contract, read by both sides:
  api         the HTTP API between the add-on (or any client) and the backend: paths, states, limits
  bundle/     the job bundle (versioned): types, manifest checks, bundle folder, zip archive
  camera      camera conventions and Blender <-> pinhole conversions
  models      the video models and their limits (size, frames, frame rate, licence)
  windows     a long shot as the model's windows, and how a take's end (a loop, a transition) is held
  depth_map   depth maps the artist supplies, one rule for both sides (its readers: exr, npy_info, png_info;
              npy_info and png_info also check the bundle's files before decoding them)
  resample    fitting a photo to the generation size
  re10k       RealEstate10K camera files (the add-on's import/export, the backend's evaluation)
  camera_scale  per video model, the camera convention and scale it was trained at (the backend applies it,
              the add-on shows what the model assumes)

The backend's, on the contract's conventions (the add-on never imports them):
  masks       preview coverage -> latent masks for noise shaping
  plucker     cameras -> Plücker ray maps for camera-conditioned models

The contract's client, for the add-on and for pipelines and tests that drive a backend (the backend does not
import it):
  client      HTTP client of the API (blocking; the add-on calls it from worker threads)

addon_only/: the add-on's own pure logic, apart from bpy so tests run it without Blender. The backend never
imports it; the wheel carries it anyway, since leaving one folder of a shipped package out makes setuptools warn
on every install.
"""
