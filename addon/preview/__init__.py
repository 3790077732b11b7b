"""The preview: what the shot's camera sees, rendered in seconds without diffusion; what Generate sends.

render       rendering the shot's frame range unlit at the generation size, borrowing and giving back its settings
effects      the camera's lens and image effects the preview leaves out (and gives back), named in the panel
fingerprint  everything a preview shows, hashed: a preview whose fingerprint differs is out of date; and the quick
             state of what decides it, for the panel after an undo or on opening a file
"""
