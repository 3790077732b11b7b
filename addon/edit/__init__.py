"""The edit: previews and takes as strips of an edit scene per frame rate, and the drift of a take from the camera
asked for.

sequencer  the edit scene's strips: a shot's preview as an image strip, its takes as movie strips; strips of shots
           that are gone
takes      a shot's takes: what made each, loading that back, deleting one (strip, folder, ghost) or a whole shot
drift      a take against its preview (difference, blend, side by side: nothing else plays meanwhile), and its
           ghost camera in the shot
"""
