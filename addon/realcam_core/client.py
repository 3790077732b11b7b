"""A small HTTP client for the backend API (standard library only; runs inside Blender).

Every call blocks: in Blender, call it from a worker thread, never the main thread.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request

from . import api


class BackendError(Exception):
    """The backend answered with an error; .problems lists details (e.g. every bundle problem)."""

    def __init__(self, status: int, message: str, problems=None):
        self.status = status
        self.message = message
        self.problems = list(problems or [])
        super().__init__(f"{message} (HTTP {status})" if status else message)


class BackendUnreachable(BackendError):
    def __init__(self, url: str, reason: str):
        super().__init__(0, f"no backend answers at {url} ({reason})")
        self.url = url


class Client:
    def __init__(
        self,
        base_url: str = f"http://{api.DEFAULT_HOST}:{api.DEFAULT_PORT}",
        token: str | None = None,
        timeout: float = 30.0,
    ):
        self.base = base_url.rstrip("/")
        self.token = token or None
        self.timeout = timeout

    # -- plumbing -------------------------------------------------------------
    def _request(self, method: str, path: str, body=None, headers=None, query=None):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=body, method=method, headers=h)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            try:
                data = json.loads(e.read().decode("utf-8"))
                raise BackendError(e.code, data.get("error", str(e)), data.get("problems")) from None
            except (ValueError, AttributeError):
                raise BackendError(e.code, f"{e.reason}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise BackendUnreachable(self.base, str(reason)) from None

    def _json(self, method: str, path: str, **kw):
        with self._request(method, path, **kw) as resp:
            raw = resp.read()
            return json.loads(raw.decode("utf-8")) if raw else None

    def _upload(self, method: str, path: str, file_path: str, content_type: str, query=None):
        size = os.path.getsize(file_path)
        with open(file_path, "rb") as fh:
            headers = {"Content-Type": content_type, "Content-Length": str(size)}
            return self._request(method, path, body=fh, headers=headers, query=query)

    # -- API ------------------------------------------------------------------
    def health(self) -> dict:
        return self._json("GET", f"{api.PREFIX}/health")

    def check_compatible(self) -> dict:
        """Health, or BackendError when the backend speaks another API or bundle version."""
        from .bundle import SCHEMA_VERSION

        h = self.health()
        if h.get("api_version") != api.API_VERSION or SCHEMA_VERSION not in h.get("bundle_schema_versions", []):
            raise BackendError(
                0,
                f"the backend at {self.base} speaks API {h.get('api_version')} / bundle schema "
                f"{h.get('bundle_schema_versions')}, this add-on API {api.API_VERSION} / schema {SCHEMA_VERSION}: "
                "install matching versions of the add-on and the backend",
            )
        return h

    def models(self) -> dict:
        return self._json("GET", f"{api.PREFIX}/models")

    def submit(self, archive_path: str) -> dict:
        limit = (self.health().get("limits") or {}).get("max_upload_bytes")
        size = os.path.getsize(archive_path)
        if limit and size > limit:
            raise BackendError(
                413,
                f"the job is {size / 2**20:.0f} MiB, over this backend's upload limit of "
                f"{limit / 2**20:.0f} MiB (realcam serve --max-upload-mb)",
            )
        with self._upload("POST", f"{api.PREFIX}/jobs", archive_path, "application/zip") as resp:
            return json.loads(resp.read().decode("utf-8"))

    def job(self, job_id: str) -> dict:
        return self._json("GET", api.job_path(job_id))

    def jobs(self) -> list:
        return self._json("GET", f"{api.PREFIX}/jobs")["jobs"]

    def cancel(self, job_id: str) -> dict:
        return self._json("POST", api.job_path(job_id, "cancel"))

    def delete(self, job_id: str) -> None:
        self._request("DELETE", api.job_path(job_id)).close()

    def download(self, job_id: str, what: str, dest: str) -> str:
        """Save the job's video, frames (zip) or result to dest, whole or not at all."""
        tmp = dest + ".part"
        with self._request("GET", api.job_path(job_id, what)) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out, 1 << 20)
        os.replace(tmp, dest)
        return dest

    def depth(self, image_path: str, dest_zip: str, size=None, focal_px=None, model=None) -> str:
        query = {"size": size, "focal_px": focal_px, "model": model}
        tmp = dest_zip + ".part"
        with (
            self._upload("POST", f"{api.PREFIX}/depth", image_path, "application/octet-stream", query) as resp,
            open(tmp, "wb") as out,
        ):
            shutil.copyfileobj(resp, out, 1 << 20)
        os.replace(tmp, dest_zip)
        return dest_zip
