"""The operators: what the artist's buttons (and scripts) call, a module per feature of the panel.

An operator checks what it is given, then hands the work to a flow (flows/, as a task) or to the feature's own
logic (shot, camera, takes, scene fixes); Blender classes live only here and in ui/.
"""

from . import backend, camera, drift, ends, fixes, generate, shot, takes

CLASSES = (
    *shot.CLASSES,
    *camera.CLASSES,
    *generate.CLASSES,
    *ends.CLASSES,
    *takes.CLASSES,
    *drift.CLASSES,
    *fixes.CLASSES,
    *backend.CLASSES,
)
