"""Who may drive the app, and what it serves (DESIGN.md: "The app is driven only by its merchant").

Every request to the app passes `Gate`, an ASGI middleware in front of Gradio's routes:

- **Host**: the Host header must name the address the app is bound to, `127.0.0.1:PORT` or
  `localhost:PORT`; anything else (`Host: evil.example:7860`, a web page that rebinds its own
  name to 127.0.0.1) gets 400. A cross-site Origin gets 403.
- **The launch key**: `launch` makes a new random key each time and prints the address
  `http://127.0.0.1:PORT/?key=KEY`. Opening it sets an HttpOnly, SameSite=Strict cookie and
  redirects to the page without the key; every other request must carry that cookie (or
  `Authorization: Bearer KEY`), or gets 401. So a local process or a web page that can reach
  the port can neither read the app nor call any of its events: Gradio's `api_name=False`
  only hides an event from the API page, it does not refuse a call (gradio-app/gradio#13051).
- **Files**: `/gradio_api/file=PATH` serves only the files the app has just produced for
  download (`Downloads`: the latest export, the latest brief (HTML, Markdown: its charts are embedded), the latest
  upload's rejected rows), never the workspace (`approvals.sqlite`, earlier exports) or a
  store's files; Gradio's other ways of fetching a path or a URL (`file/`, `proxy=`) are refused.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

LOCAL_NAMES = ("127.0.0.1", "localhost")
KEY_PARAM = "key"
FILE_PREFIXES = ("/gradio_api/file=", "/file=")
REFUSED_PREFIXES = ("/gradio_api/file/", "/file/", "/gradio_api/proxy=", "/proxy=")
WITHOUT_KEY = ("/gradio_api/startup-events",)
"""Gradio's own call at launch (it starts the queue, once; nothing else)."""

PRIVATE: dict[str, Any] = {"api_name": False}
"""The keywords every event of the app is wired with (`**PRIVATE`): not in Gradio's API page.
(That alone does not refuse a call, gradio-app/gradio#13051: the launch key does.) Typed
`dict[str, Any]` because Gradio's stubs say `api_name: str | None` while Gradio takes False."""


def new_key() -> str:
    return secrets.token_urlsafe(24)


def cookie_name(port: int) -> str:
    """One cookie per port: cookies are shared by every port of a host."""
    return f"retention-key-{int(port)}"


class Downloads:
    """The files the app has just produced for download, by slot ("export", "brief",
    "rejects"): the only files `/gradio_api/file=` serves. Offering new files for a slot
    withdraws that slot's earlier ones. Each file is copied into Gradio's cache folder (the
    copy is what the page links to), so the workspace itself is never a served folder."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, frozenset[str]] = {}

    def offer(self, slot: str, paths):
        """The cached copies of `paths` (a list, or one path; None, and a path that is not a
        file, give None), now served for `slot` in place of what was served for it before."""
        from gradio import processing_utils
        from gradio import utils as gr_utils

        one = not isinstance(paths, (list, tuple))
        items = [paths] if one else list(paths)
        cache = gr_utils.get_upload_folder()
        out = [
            processing_utils.save_file_to_cache(str(p), cache_dir=cache)
            if p is not None and Path(p).is_file()
            else None
            for p in items
        ]
        with self._lock:
            self._slots[slot] = frozenset(_key(p) for p in out if p is not None)
        return out[0] if one else out

    def withdraw(self, slot: str) -> None:
        with self._lock:
            self._slots.pop(slot, None)

    def served(self) -> set[str]:
        with self._lock:
            return set().union(*self._slots.values()) if self._slots else set()

    def allowed(self, path: str) -> bool:
        if not path or "://" in path or path.startswith(("http:", "https:", "data:")):
            return False
        try:
            return _key(path) in self.served()
        except (OSError, ValueError):
            return False


def _key(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


class Gate:
    """ASGI middleware: the Host check, the launch key and the file allowlist (module doc)."""

    def __init__(self, app, *, port: int, key: str, downloads: Downloads) -> None:
        self.app = app
        self.port = int(port)
        self.key = key
        self.downloads = downloads
        self.cookie = cookie_name(port)
        self.hosts = {f"{n}:{self.port}" for n in LOCAL_NAMES}
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = _headers(scope)
        if headers.get("host", "").lower() not in self.hosts:
            return await _refuse(
                scope,
                receive,
                send,
                400,
                "This app answers only to its own address "
                f"(127.0.0.1:{self.port} or localhost:{self.port}).",
            )
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            return await _refuse(
                scope, receive, send, 403, "Requests from other sites are refused."
            )
        path = scope.get("path", "")
        root = scope.get("root_path", "") or ""
        if root and path.startswith(root):
            path = path[len(root) :]
        query = dict(
            parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        )
        if scope["type"] == "http" and KEY_PARAM in query and self._is_key(query[KEY_PARAM]):
            return await self._let_in(scope, send, query)
        if not self._has_key(headers) and not (scope["type"] == "http" and path in WITHOUT_KEY):
            return await _refuse(
                scope,
                receive,
                send,
                401,
                "Open the app from the address it printed when "
                "it started (http://127.0.0.1:PORT/?key=...): it carries this launch's key.",
            )
        if path.startswith(REFUSED_PREFIXES):
            return await _refuse(scope, receive, send, 403, "File not served.")
        for prefix in FILE_PREFIXES:
            if path.startswith(prefix) and not self.downloads.allowed(path[len(prefix) :]):
                return await _refuse(
                    scope,
                    receive,
                    send,
                    403,
                    "File not served: the app serves only the download it has just made.",
                )
        return await self.app(scope, receive, send)

    def _is_key(self, value: str | None) -> bool:
        if not value:
            return False
        return hmac.compare_digest(value.encode(), self.key.encode())

    def _has_key(self, headers: dict) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and self._is_key(auth[7:].strip()):
            return True
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:
            return False
        morsel = jar.get(self.cookie)
        return morsel is not None and self._is_key(morsel.value)

    async def _let_in(self, scope, send, query: dict) -> None:
        """The printed address: set the key's cookie and go to the same page without the key."""
        rest = urlencode({k: v for k, v in query.items() if k != KEY_PARAM})
        target = (
            (scope.get("root_path", "") or "")
            + (scope.get("path") or "/")
            + (f"?{rest}" if rest else "")
        )
        cookie = f"{self.cookie}={self.key}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", target.encode("latin-1")),
                    (b"set-cookie", cookie.encode()),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers") or []:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        out[name] = f"{out[name]}; {value}" if name == "cookie" and name in out else value
    return out


async def _refuse(scope, receive, send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def private_cache_dir() -> str:
    """A folder for Gradio's cache (uploads and the downloads' copies) that only this user can
    read: `<tmp>/retention-gradio-<uid>`, mode 0700, or a fresh private one when that name is
    taken by something that is not a private folder of this user."""
    import tempfile

    uid = getattr(os, "getuid", lambda: None)()
    base = Path(tempfile.gettempdir()) / f"retention-gradio-{uid if uid is not None else 'user'}"
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return tempfile.mkdtemp(prefix="retention-gradio-")
    st = os.lstat(base)
    import stat

    if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid) or st.st_mode & 0o077:
        return tempfile.mkdtemp(prefix="retention-gradio-")
    return str(base)
