"""pip's failures, for the artist: one message that says what went wrong (disk, network, index, no matching build,
conflicting pins) and what to do."""

from __future__ import annotations

import os
import platform
import re

_NETWORK = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "Read timed out",
    "ProxyError",
    "SSLError",
    "CERTIFICATE_VERIFY_FAILED",
)


def probe_index(index_url: str, project: str = "torch", timeout: float = 20.0) -> str | None:
    """Why pip could not use this package index at all, or None. pip's own output (without retries) cannot tell an
    index that does not answer from one that lacks the package, so after a failure ask it once (one small page).
    Only a refused or unresolvable connection counts: certificates and proxies pip knows of may differ from
    Python's, so those failures stay pip's to explain."""
    import ssl
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlparse(index_url)
    if parts.scheme == "file":
        folder = urllib.request.url2pathname(parts.path)
        return None if os.path.isdir(folder) else f"the package index folder {folder} does not exist"
    if parts.scheme not in ("http", "https"):
        return f"{index_url} is not a package index URL (http://, https:// or file://)"
    try:
        with urllib.request.urlopen(index_url.rstrip("/") + f"/{project}/", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answers; whether it has the package is pip's to say
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLError):
            return None
        return (
            f"cannot reach the package index {index_url} ({e.reason}): check the network connection "
            "(or the proxy), or set another index in the preferences, then set up again"
        )
    except (OSError, ValueError) as e:
        return (
            f"cannot reach the package index {index_url} ({getattr(e, 'reason', e)}): check the network connection "
            "(or the proxy), or set another index in the preferences, then set up again"
        )


def explain_pip_failure(
    output: str,
    stage: str,
    requirement: str,
    index_url: str | None,
    env_dir: str,
    log: str,
    unreachable: str | None = None,
) -> str:
    """One message that says what went wrong and what to do, from pip's output (and probe_index's finding)."""
    where = index_url or "the package index in pip's settings (PyPI by default)"
    tail = f" (details in {log})"
    if "No space left on device" in output or "[Errno 28]" in output:
        return f"the disk holding {env_dir} is full: free some space and set up again{tail}"
    if unreachable:
        return unreachable + tail
    if any(marker in output for marker in _NETWORK):
        return (
            f"pip cannot reach {where}: check the network connection (or the proxy), or set another package "
            f"index in the preferences, then set up again{tail}"
        )
    if re.search(r"(HTTP error|Client Error|Server Error)\s*:?\s*\d{3}|\b40[134]\b.*for url", output):
        return f"{where} refused pip's requests: check the index URL in the preferences{tail}"
    missing = re.search(r"No matching distribution found for ([^\s]+)", output)
    if stage == "torch" and (missing or "Could not find a version" in output):
        return (
            f"no torch build matching '{requirement}' for Python {platform.python_version()} on "
            f"{platform.system()} {platform.machine()} at {where}: choose another torch build, requirement or index "
            f"in the preferences (the CPU build installs everywhere){tail}"
        )
    if "ResolutionImpossible" in output or "conflicting dependencies" in output:
        return (
            f"the packages conflict: the torch requirement '{requirement}' does not fit the backend's tested "
            f"dependencies; clear the torch requirement in the preferences to use the tested one{tail}"
        )
    if missing:
        return (
            f"{where} has no {missing.group(1)} for Python {platform.python_version()} on {platform.system()} "
            f"{platform.machine()}: set a package index that has it in the preferences{tail}"
        )
    errors = [ln.strip() for ln in output.splitlines() if ln.startswith("ERROR")]
    return f"pip failed installing {stage}: {errors[-1] if errors else 'see the log'}{tail}"
