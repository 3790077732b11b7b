"""What `realcam serve` is told (ServerConfig), and where it may listen with it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from realcam_core import api

from ..errors import UserError

MIN_DISTINCT_CHARS = 8  # "aaaaaaaaaaaaaaaa" is 16 characters long and guessed at once
_MAKE_ONE = "Make one with: python -c 'import secrets; print(secrets.token_urlsafe(24))'"


@dataclass
class ServerConfig:
    data_dir: str
    host: str = api.DEFAULT_HOST
    port: int = api.DEFAULT_PORT
    token: str | None = None
    max_upload_bytes: int = 2 * 1024**3
    max_frames: int = 241
    max_pixels: int = 1280 * 720
    device: str | None = None
    offload: str = "auto"
    vae_tiling: bool = False
    dtype: str | None = None
    window_frames: int | None = None  # frames per window of a long shot (None: each model's own count)
    model_folders: dict = field(default_factory=dict)  # name -> local diffusers folder
    depth_model_folders: dict = field(default_factory=dict)
    allow_hosts: list = field(default_factory=list)  # extra names the Host header may carry
    body_timeout: float = 60.0  # seconds an upload may send nothing
    upload_timeout: float = 1800.0  # seconds a whole upload may take
    header_timeout: float = 10.0  # seconds a request's line and headers may take (connections.py)
    cluster: str | None = None  # a Ray cluster's address: jobs run there (cluster.py), not in this process
    # Tracks (POST /v1/tracks): the longest clip, in frames and seconds, and the largest frame it accepts.
    max_track_frames: int = 3000
    max_track_seconds: float = 300.0
    max_track_pixels: int = 3840 * 2160


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_problem(token: str) -> str | None:
    """Why a token cannot be sent as `Authorization: Bearer TOKEN` and matched, or None.

    Header values are bytes: a token of spaces, tabs or no-break spaces is blank once a client or proxy
    trims it, and one with other non-ASCII characters travels differently from client to client."""
    if not token.strip():
        return "it is blank (only spaces, tabs or other white space)"
    if any(not ("!" <= ch <= "~") for ch in token):
        return "it holds white space, control or non-ASCII characters; use letters, digits and punctuation"
    return None


def check_bind(config: ServerConfig) -> None:
    """Refuse a token that cannot work, and to listen beyond loopback without one that cannot be guessed."""
    why = token_problem(config.token) if config.token is not None else None
    if why:
        raise UserError(f"the token (REALCAM_TOKEN or --token) cannot be used: {why}. {_MAKE_ONE}")
    if is_loopback(config.host):
        return
    if not config.token:
        raise UserError(
            f"refusing to listen on {config.host}: other machines could reach this server. Set a token "
            "(REALCAM_TOKEN=... or --token) to bind to a non-loopback address, or keep the default 127.0.0.1"
        )
    if len(config.token) < api.MIN_REMOTE_TOKEN_CHARS:
        raise UserError(
            f"refusing to listen on {config.host} with a token of {len(config.token)} characters: other machines "
            f"could guess it. Use at least {api.MIN_REMOTE_TOKEN_CHARS}. {_MAKE_ONE}"
        )
    if len(set(config.token)) < MIN_DISTINCT_CHARS:
        raise UserError(
            f"refusing to listen on {config.host} with a token of {len(set(config.token))} different characters: "
            f"other machines could guess it. Use at least {MIN_DISTINCT_CHARS} different ones. {_MAKE_ONE}"
        )
