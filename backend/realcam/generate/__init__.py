"""Job bundle -> video: `realcam generate`.

engine          runs a bundle through a model and writes the take (video, frames, result.json)
adapters/       one file per image-to-video pipeline family: loading, latent layout, noising
dynamicrafter/  DynamiCrafter and the RealCam-I2V paper's camera models on it (not in diffusers)
noise_shaping   scene-constrained noise shaping (RealCam-I2V), model-independent
noise_level     one noise scale for every scheduler, so a threshold means the same everywhere
schedules       the steps shaped per known model and threshold (for `realcam models`)
video           H.264 writing and probing
"""
