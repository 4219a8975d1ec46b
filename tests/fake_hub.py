"""A tiny stand-in for the Hugging Face Hub's download endpoint, for tests.

`FakeHub` is a threaded HTTP server on 127.0.0.1 that answers HEAD and GET
`/{user}/{name}/resolve/{revision}/{filename}` the way the Hub does for
`huggingface_hub.hf_hub_download` (2.4.0 makes only these calls for a download):

- 200 with `X-Repo-Commit` (the 40-hex commit sha; without it hf_hub_download refuses the
  answer as "not a Hub endpoint"), a quoted `ETag` (git blob sha1; the cache names the blob
  after it), `Content-Length`, and for `*.safetensors` (LFS files on the Hub) `X-Linked-Etag`
  (sha256) and `X-Linked-Size`, which huggingface_hub prefers to ETag/Content-Length;
- 404 with `X-Error-Code` `RepoNotFound`, `RevisionNotFound` or `EntryNotFound` (huggingface_hub
  turns the code into `RepositoryNotFoundError`, `RevisionNotFoundError`,
  `RemoteEntryNotFoundError`); 401/403 with `GatedRepo` for gated repos.

A HEAD answers what a download's first request learns: the commit, the ETag and the size
(`X-Linked-Size` for LFS files, as the real Hub sends with its redirect to the CDN; else
`Content-Length`), which is what `hf_hub_download(..., dry_run=True)` reports as `file_size`.

Per repo it can misbehave (`fail`): any HTTP status, "timeout" (hold the answer, then hang up),
"slow" (hold the answer, then give it), "truncated" (announce the whole file, send half, close
the connection). Held answers go when `heal` or `close` is called, or after `delay` seconds.

`HubEnv` points huggingface_hub at a server and at a temporary cache. huggingface_hub 2.4.0
reads HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE and the timeouts once, at import,
into `huggingface_hub.constants`, so setting the environment variables in a test is not
enough: the constants are patched too. HF_TOKEN is read at each call.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_FILES = ("config.json", "model.safetensors", "README.md", "samples.png")


def commit_sha(*parts: bytes | str) -> str:
    h = hashlib.sha1()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def git_blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Failure:
    mode: int | str  # an HTTP status, "timeout", "slow" or "truncated"
    error_code: str | None = None
    files: tuple[str, ...] | None = None  # None: every file of the repo
    delay: float = 30.0  # "timeout", "slow": how long to hold the answer at most
    released: threading.Event = field(default_factory=threading.Event)  # set by heal() and close()


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None


@dataclass
class _Commit:
    sha: str
    files: dict[str, bytes] = field(default_factory=dict)


class FakeHub:
    """Serve {repo_id: {revision: files}} over HTTP like the Hub's /resolve endpoint."""

    def __init__(self) -> None:
        self._repos: dict[str, dict[str, _Commit]] = {}  # repo -> {branch/tag or sha: commit}
        self._failures: dict[str, Failure] = {}
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-hub", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # --- set up ---------------------------------------------------------------------------------

    def add_repo(self, repo_id: str, folder_or_files: str | Path | dict[str, bytes], revision: str = "main") -> str:
        """Serve a checkpoint folder (its config.json, model.safetensors, README.md, samples.png)
        or a {filename: bytes} dict as `repo_id` at `revision`; returns the commit sha."""
        if isinstance(folder_or_files, dict):
            files = {name: bytes(data) for name, data in folder_or_files.items()}
        else:
            folder = Path(folder_or_files)
            files = {name: (folder / name).read_bytes() for name in REPO_FILES if (folder / name).is_file()}
        sha = commit_sha(repo_id, revision, *(f"{n}:{git_blob_sha(d)}" for n, d in sorted(files.items())))
        commit = _Commit(sha, files)
        with self._lock:
            revisions = self._repos.setdefault(repo_id, {})
            revisions[revision] = commit
            revisions[sha] = commit
        return sha

    def fail(self, repo_id: str, mode: int | str, *, error_code: str | None = None,
             files: tuple[str, ...] | list[str] | None = None, delay: float = 30.0) -> None:
        """Make requests for `repo_id` (only for `files`, if given) misbehave.

        `mode`: an HTTP status (404 -> `X-Error-Code: RepoNotFound`, 401/403 -> `GatedRepo`
        unless `error_code` says otherwise; "" for none), "timeout", "slow" or "truncated".
        """
        if error_code is None and isinstance(mode, int):
            error_code = {404: "RepoNotFound", 401: "GatedRepo", 403: "GatedRepo"}.get(mode)
        with self._lock:
            self._failures[repo_id] = Failure(mode, error_code or None, tuple(files) if files else None, delay)

    def heal(self, repo_id: str) -> None:
        """Serve `repo_id` normally again; answers held for it go now."""
        with self._lock:
            failure = self._failures.pop(repo_id, None)
        if failure is not None:
            failure.released.set()

    def gate(self, repo_id: str, token: str) -> None:
        """Serve `repo_id` only to `Authorization: Bearer <token>` (401 without a token, 403 with another)."""
        with self._lock:
            self._tokens[repo_id] = token

    def close(self) -> None:
        with self._lock:
            failures = list(self._failures.values())
        for failure in failures:  # let held answers go
            failure.released.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- answering ------------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self.requests.append(Request(handler.command, path, handler.headers.get("Authorization")))
        parts = path.lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(handler, head, 404, None, "Not found")
        repo_id = f"{unquote(parts[0])}/{unquote(parts[1])}"
        revision = unquote(parts[3])
        filename = unquote("/".join(parts[4:]))

        with self._lock:
            failure = self._failures.get(repo_id)
            revisions = self._repos.get(repo_id)
            token = self._tokens.get(repo_id)
        if failure is not None and (failure.files is None or filename in failure.files):
            if failure.mode in ("timeout", "slow"):
                failure.released.wait(failure.delay)
            if failure.mode == "timeout":
                handler.close_connection = True
                return None  # the client has given up long ago: say nothing
            if isinstance(failure.mode, int):
                return self._error(handler, head, failure.mode, failure.error_code,
                                   f"fake hub: {repo_id} fails with {failure.mode}")
        if revisions is None:
            return self._error(handler, head, 404, "RepoNotFound", "Repository not found")
        if token is not None:
            auth = handler.headers.get("Authorization")
            if auth != f"Bearer {token}":
                status = 401 if auth is None else 403
                return self._error(handler, head, status, "GatedRepo",
                                   f"Access to model {repo_id} is restricted. You must have access to it "
                                   f"and be authenticated to access it. Please log in.")
        commit = revisions.get(revision)
        if commit is None:
            return self._error(handler, head, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        content = commit.files.get(filename)
        if content is None:
            return self._error(handler, head, 404, "EntryNotFound", f"{filename} does not exist on \"{revision}\"",
                               {"X-Repo-Commit": commit.sha})

        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{git_blob_sha(content)}"',
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        if filename.endswith(".safetensors"):  # an LFS file on the Hub
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(content).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(content))
        status, body = 200, content
        truncated = failure is not None and failure.mode == "truncated" and (
            failure.files is None or filename in failure.files)
        byte_range = handler.headers.get("Range", "")
        if byte_range.startswith("bytes=") and not truncated:
            start_text, _, end_text = byte_range[len("bytes="):].partition("-")
            start = int(start_text or 0)
            end = int(end_text) if end_text else len(content) - 1
            status, body = 206, content[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(content)}"
        headers["Content-Length"] = str(len(body))
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if head:
            return None
        if truncated:
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        handler.wfile.write(body)
        return None

    def _error(self, handler, head: bool, status: int, code: str | None, message: str,
               extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if code:
            handler.send_header("X-Error-Code", code)
        handler.send_header("X-Error-Message", message)
        for name, value in (extra or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(body)


def _make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as huggingface_hub's httpx client expects

        def do_HEAD(self) -> None:
            self._run(head=True)

        def do_GET(self) -> None:
            self._run(head=False)

        def _run(self, head: bool) -> None:
            try:
                hub._answer(self, head)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format, *args) -> None:  # quiet
            pass

    return Handler


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _NoSleep:
    """Stands in for the `time` module inside huggingface_hub so its retry back-off
    (1+2+4+8+8 s after a failed HEAD, 1 s per resumed GET) does not slow tests down."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        pass


class HubEnv:
    """Point huggingface_hub at `url` and a cache under `home` for one test (via monkeypatch)."""

    def __init__(self, monkeypatch, home: Path, url: str) -> None:
        import huggingface_hub.file_download as file_download
        import huggingface_hub.utils._http as hf_http
        from huggingface_hub import constants

        self._mp = monkeypatch
        self._constants = constants
        self._file_download = file_download
        self.home = Path(home)
        self.cache = self.home / "hub"
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                     "HUGGINGFACE_HUB_CACHE", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HF_HOME", str(self.home))
        monkeypatch.setenv("HF_HUB_CACHE", str(self.cache))
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        monkeypatch.setattr(constants, "HF_HOME", str(self.home))
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(self.cache))
        monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(self.cache))
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(self.home / "token"))  # no saved token
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(self.home / "stored_tokens"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", constants.DEFAULT_ETAG_TIMEOUT)
        monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", constants.DEFAULT_DOWNLOAD_TIMEOUT)
        monkeypatch.setattr(hf_http, "time", _NoSleep())
        monkeypatch.setattr(file_download, "time", _NoSleep())
        self.point_at(url)

    def point_at(self, url: str) -> None:
        """Send Hub requests to `url` (what HF_ENDPOINT does when set before the import)."""
        url = url.rstrip("/")
        self._mp.setenv("HF_ENDPOINT", url)
        self._mp.setattr(self._constants, "ENDPOINT", url)
        self._mp.setattr(self._constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                         url + "/{repo_id}/resolve/{revision}/{filename}")

    def offline(self, on: bool = True) -> None:
        """HF_HUB_OFFLINE=1 (huggingface_hub then refuses every request and uses the cache)."""
        if on:
            self._mp.setenv("HF_HUB_OFFLINE", "1")
        else:
            self._mp.delenv("HF_HUB_OFFLINE", raising=False)
        self._mp.setattr(self._constants, "HF_HUB_OFFLINE", on)

    def timeouts(self, seconds: float) -> None:
        """Give up on an unanswered request after `seconds`: the first metadata request
        (HF_HUB_ETAG_TIMEOUT), its retries (a private 60 s constant) and file reads
        (HF_HUB_DOWNLOAD_TIMEOUT)."""
        self._mp.setenv("HF_HUB_ETAG_TIMEOUT", str(max(1, round(seconds))))  # the variable takes whole seconds
        self._mp.setattr(self._constants, "HF_HUB_ETAG_TIMEOUT", seconds)
        self._mp.setattr(self._constants, "HF_HUB_DOWNLOAD_TIMEOUT", seconds)
        self._mp.setattr(self._file_download, "_ETAG_RETRY_TIMEOUT", seconds)
