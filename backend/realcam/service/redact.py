"""Keeping the server's own paths out of what clients read.

Errors, job states, results and headers travel to clients that may be other
machines; a message like "video model folder /home/ana/models/wan could not be
loaded" tells them about this machine. Every text a client reads passes through
a Redactor, which names configured folders by the name the client used and the
server's other folders by what they are.
"""

from __future__ import annotations

import os
import sys
import tempfile


class Redactor:
    def __init__(self, named: dict[str, str], data_dir: str, hub_cache: str | None = None):
        pairs = [(folder, name) for name, folder in named.items()]
        pairs += [(data_dir, "<data folder>"), (hub_cache, "<Hugging Face cache>")]
        pairs += [(tempfile.gettempdir(), "<tmp>"), (sys.prefix, "<python>"), (os.path.expanduser("~"), "~")]
        absolute = [(os.path.abspath(p), label) for p, label in pairs if p and len(os.path.abspath(p)) > 1]
        self._pairs = sorted(absolute, key=lambda pair: -len(pair[0]))  # longest first: nested folders

    def __call__(self, text: str) -> str:
        for path, label in self._pairs:
            if path in text:
                text = text.replace(path, label)
        return text

    def json(self, value):
        """A JSON value with every string redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value
