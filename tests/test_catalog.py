"""The model catalogue as `realcam models` lists it: read without torch or diffusers, which a listing never needs."""

import json
import subprocess
import sys


def test_the_listing_loads_neither_torch_nor_diffusers():
    # A fresh process: whatever this test session imported already does not count.
    code = (
        "import contextlib, io, json, sys\n"
        "from realcam.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['models'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'transformers'))\n"
        "print(json.dumps([heavy, 'wan2.2-ti2v-5b' in out.getvalue()]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [[], True]
