"""Test only: make each progress stage of a backend job last a while, as it does with real models, or hold a job
mid-way until the test lets it go.

The tiny random-weight models run a whole job in half a second, faster than a
client polls, so a test of what an artist sees would pass or fail by timing.
A backend started with this folder on PYTHONPATH and REALCAM_TEST_STAGE_SECONDS
set waits that long after each progress event of the engine (inside the
engine's own callback, so the job really takes that long; nothing else of the
job changes). Real models take seconds to minutes per stage.

With REALCAM_TEST_HOLD_DIR set, a job whose bundle has seed N waits after its
first denoising step for as long as the file hold-N exists in that folder (or
until it is cancelled, unless REALCAM_TEST_HOLD_UNCANCELLABLE is set: then it
holds as a model's decode does, which no cancel interrupts): a test waits on
states, never on time, for jobs that must be running together.

With REALCAM_TEST_FULL_DISK naming a file, every os.replace of the process (how
the job store saves a state and the engine puts a finished take in place)
fails with ENOSPC while that file exists: a disk that is full for what the
server writes, toggled by the test.
"""

import errno
import json
import os
import time

_SECONDS = float(os.environ.get("REALCAM_TEST_STAGE_SECONDS") or 0)
_HOLD_DIR = os.environ.get("REALCAM_TEST_HOLD_DIR")
_UNCANCELLABLE = bool(os.environ.get("REALCAM_TEST_HOLD_UNCANCELLABLE"))
_FULL_DISK = os.environ.get("REALCAM_TEST_FULL_DISK")

if _FULL_DISK:
    _replace = os.replace

    def _replace_unless_full(src, dst, *args, **kwargs):
        if os.path.exists(_FULL_DISK):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(dst))
        return _replace(src, dst, *args, **kwargs)

    os.replace = _replace_unless_full

if _SECONDS > 0 or _HOLD_DIR:
    from realcam.generate import engine as _engine

    _run = _engine.Engine.run

    def _hold_file(bundle_dir):
        if not _HOLD_DIR:
            return None
        with open(os.path.join(bundle_dir, "manifest.json"), encoding="utf-8") as fh:
            return os.path.join(_HOLD_DIR, f"hold-{json.load(fh)['settings']['seed']}")

    def _paced_run(self, bundle_dir, out_dir, options=None, on_event=None, cancel=None):
        hold = _hold_file(bundle_dir)

        def paced(event):
            if on_event is not None:
                on_event(event)
            if hold and event.get("stage") == "denoise" and (event.get("step") or 0) >= 1:
                while os.path.exists(hold) and (_UNCANCELLABLE or not (cancel is not None and cancel.is_set())):
                    time.sleep(0.05)
            if _SECONDS > 0 and event.get("stage") != "done":
                time.sleep(_SECONDS)

        return _run(self, bundle_dir, out_dir, options, paced, cancel)

    _engine.Engine.run = _paced_run
