"""What an error shown to the artist says to do next.

The add-on's own errors (FlowError and the like) are written with their next
step. A backend's error is one line from the server or the client (client.py)
that names the problem; here it gets the action that fits its kind, in the
add-on's words (where the button or setting is). No bpy here.
"""

from __future__ import annotations

from ..client import BackendError, BackendUnreachable

START = "start the backend (RealCam panel > Backend > Start) or check Preferences > Backend URL"
TEST = "Test connection (RealCam panel > Backend), then try again"
VERSIONS = "install matching versions of the add-on and the backend (Preferences > Add-ons > RealCam > Update)"

_BY_STATUS = {
    400: VERSIONS,
    401: "set Preferences > Token to the token the backend was started with",
    403: "set Preferences > Backend URL to the address the backend runs at (or start it with --allow-host NAME)",
    404: "the backend no longer has it (its data folder was cleared, or it is another backend): try again",
    408: "the upload stalled: check the network to the backend, then try again",
    409: "wait until the job has finished, then try again",
    413: "lower the size or the frame count, or start the backend with a higher --max-upload-mb",
    415: VERSIONS,
    422: "change what it names, then try again",
    503: "the backend cannot run jobs: quit it, start it again (RealCam panel > Backend > Start) and see its log",
    507: "free disk space on the backend's computer, then try again",
}


def backend_action(e: BackendError) -> str:
    """The next step for a backend error, by its kind."""
    if isinstance(e, BackendUnreachable):
        return START
    if e.status in _BY_STATUS:
        return _BY_STATUS[e.status]
    if e.status >= 500:
        return "the backend failed: see its log, then try again"
    text = e.message
    if "did not answer within" in text:
        return "the backend is busy or stuck: " + TEST
    if "was cut" in text:
        return "the backend may have stopped: " + START
    if "install matching versions" in text:
        return ""  # the message says it already
    return "check Preferences > Backend URL, then " + TEST[0].lower() + TEST[1:]


def explain_backend(e: BackendError, what: str = "") -> str:
    """'<what>: <problem> (<first problem>): <next step>' for an error from the backend or the client."""
    text = e.message
    if e.problems and e.problems[0] not in text:
        text += f" ({e.problems[0]})"
    action = backend_action(e)
    line = f"{what}: {text}" if what else text
    return f"{line}: {action}" if action and action not in text else line


def explain(e: BaseException) -> str:
    """The panel's line for an error that ended a task: the problem and what to do next."""
    if isinstance(e, BackendError):
        return explain_backend(e)
    if isinstance(e, OSError) and e.strerror:
        where = f" ({e.filename})" if e.filename else ""
        return (
            f"{e.strerror[:1].lower()}{e.strerror[1:]}{where}: check that folder (Preferences > Job folder) and "
            "the free disk space, then try again"
        )
    return str(e) or type(e).__name__
