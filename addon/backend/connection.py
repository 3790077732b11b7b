"""The backend a task talks to: read from the preferences once, when the task starts, then handed along.

A task outlives its operator and runs over many timer ticks. It asks its connection, never the preferences again,
for a client, to have the backend running (the add-on's own one started where that is allowed), whether a model's
weights are there, and the limits of a video model the add-on does not know itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..extension import prefs
from ..paths import job_root
from ..realcam_core.addon_only import advice
from ..realcam_core.client import BackendUnreachable, Client
from ..realcam_core.models import ModelSpec, known_model
from ..tasks import Background
from . import process, status


class NotReady(Exception):
    """What the backend lacks for this (weights not downloaded, a model it does not know), and what to do."""


@dataclass(frozen=True)
class Connection:
    url: str
    token: str | None
    auto_start: bool  # start the add-on's own backend when nothing answers at a local URL
    start_command: str
    log_dir: str  # where a backend the add-on starts writes its log

    @classmethod
    def from_prefs(cls, context=None) -> Connection:
        """The preferences' backend (main thread). The log folder is only named here: made when a backend starts."""
        p = prefs(context)
        logs = os.path.join(job_root(context, create=False), "logs")
        return cls(p.backend_url, p.token or None, p.auto_start, p.start_command, logs)

    @property
    def is_local(self) -> bool:
        return process.is_local(self.url)

    def client(self, url: str | None = None, timeout: float = 120) -> Client:
        """A client of this backend, or of url (the backend a recorded job ran on) with this token."""
        return Client(url or self.url, self.token, timeout=timeout)

    def ensure(self):
        """Task step (yield from) -> health of a compatible backend, the add-on's own started first where allowed
        and needed. The answer (or that none came) is kept for the panel, on the main thread."""
        try:
            health = yield Background(
                process.ensure, self.url, self.token, self.auto_start, self.start_command, self.log_dir
            )
        except BackendUnreachable as e:
            status.unreachable(self.url, advice.explain_backend(e))
            raise
        status.answered(self.url, health=health)
        return health

    def answered(self) -> None:
        """Main thread, after a request to this backend went through (a job submitted, a depth answer)."""
        status.answered(self.url)

    def health(self, start: bool) -> dict:
        """Worker thread: the backend's health; with start (the panel's Start), a local one is started first when
        none answers, whatever auto_start says."""
        if start:
            return process.ensure(self.url, self.token, True, self.start_command, self.log_dir)
        return self.client(timeout=10).check_compatible()

    def require_weights(self, kind: str, name: str | None):
        """Task step: a backend on this computer never fetches weights at generate time; say where to get them.
        The model listing it asks for is kept for the panel (the Model list), also from a remote backend."""
        listing = yield Background(self.client().models)
        status.answered(self.url, models=listing)
        if not self.is_local:
            return
        problem = weights_problem(listing, kind, name)
        if problem:
            raise NotReady(problem)

    def video_spec(self, name: str):
        """Task step -> the video model's limits: a folder the backend runs under that name (as its last check
        found), else known to the add-on, else asked of the backend."""
        configured = status.configured_spec(name)
        if configured is not None:
            return configured
        known = known_model(name)
        if known is not None:
            return known.spec
        yield from self.ensure()
        listing = yield Background(self.client().models)
        status.answered(self.url, models=listing)
        for m in listing["video"]:
            if m["name"] == name and m.get("spec"):
                return ModelSpec.from_dict(m["spec"])
        raise NotReady(
            f"the backend does not know the video model {name!r}: pick one of the panel's Model list "
            "(Test connection there asks the backend what it offers)"
        )


def weights_problem(listing: dict, kind: str, name: str | None) -> str | None:
    """Why a local backend cannot run this model without downloading it first (it never does on its own)."""
    # A folder the server was configured with under a catalogue name is what a job of that name runs: it first.
    entries = sorted(listing.get(kind, []), key=lambda m: not m.get("configured"))
    for m in entries:
        if (name and name in (m.get("name"), m.get("id"))) or (not name and m.get("default")):
            if m.get("cached"):
                return None
            return (
                f"the {kind} model {m['name']} ({m.get('id')}) is not downloaded yet: download it in Edit > "
                "Preferences > Add-ons > RealCam (size and licence shown there), then try again"
            )
    return None
