"""Test only: make each progress stage of a backend job last a while, as it does with real models.

The tiny random-weight models run a whole job in half a second, faster than a
client polls, so a test of what an artist sees would pass or fail by timing.
A backend started with this folder on PYTHONPATH and REALCAM_TEST_STAGE_SECONDS
set waits that long after each progress event of the engine (inside the
engine's own callback, so the job really takes that long; nothing else of the
job changes). Real models take seconds to minutes per stage.
"""

import os
import time

_SECONDS = float(os.environ.get("REALCAM_TEST_STAGE_SECONDS") or 0)

if _SECONDS > 0:
    from realcam.generate import engine as _engine

    _run = _engine.Engine.run

    def _paced_run(self, bundle_dir, out_dir, options=None, on_event=None, cancel=None):
        def paced(event):
            if on_event is not None:
                on_event(event)
            if event.get("stage") != "done":
                time.sleep(_SECONDS)

        return _run(self, bundle_dir, out_dir, options, paced, cancel)

    _engine.Engine.run = _paced_run
