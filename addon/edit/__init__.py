"""The edit: previews and takes as strips of one edit scene, and the drift of a take from the camera asked for.

sequencer  the edit scene's strips: a shot's preview as an image strip, its takes as movie strips
takes      a shot's takes: what made each, loading that back, deleting one (strip, folder, ghost)
drift      a take against its preview (difference, blend, side by side), and its ghost camera in the shot
"""
