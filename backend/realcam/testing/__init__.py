"""Tooling for smoke tests, not the product's data flow.

tiny_models   small random-weight models in the published layouts, so the real
              loading and generation code runs on any machine without downloads.
              It ships in the package because `realcam tiny-models` and the
              `--tiny` main job use it on installed backends too. It names every
              builder; each family is built in its own module (tiny_depth,
              tiny_wan, tiny_fun_camera, tiny_svd, tiny_dynamicrafter).
"""
