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

Uploads: it also answers what `HfApi.create_repo` and `HfApi.upload_folder` send (2.4.0):

- POST `/api/repos/create` (JSON name, organization, type, sdk, visibility): 200 with the repo's
  `url`, or 409 with the `url` when it exists (what `exist_ok=True` relies on). A new Space gets
  the Hub's first commit: `.gitattributes` and a README.md with `sdk` in its front matter;
- POST `/api/validate-yaml`: 400 with `errors` when README.md's front matter is not YAML, or
  when a Space's names no known `sdk`;
- GET `/api/{type}s/{repo}[/revision/{rev}]` (`repo_info`: id, sha, siblings) and
  `/api/{type}s/{repo}/tree/{rev}[/{path}]` (`list_repo_files`, one page, files only);
- POST `/api/{type}s/{repo}/preupload/{rev}`: each file's `uploadMode` and the `oid` of the file
  already there (sha256 for "lfs", git blob sha1 for "regular"; the client skips a file whose
  oid it computes the same). The mode is "lfs" for a binary sample (a NUL byte, as in every PNG
  and safetensors header) or a file over 10 MB, like the Hub, while `FakeHub.lfs` is True; with
  `lfs = False` every file is "regular";
- POST `/{type}s/{repo}.git/info/lfs/objects/batch`: the "basic" transfer, an upload action
  (PUT `/lfs-upload/{oid}`, checked against the sha256) and a verify action per object not
  stored yet; no actions for one already stored;
- POST `/api/{type}s/{repo}/commit/{rev}`: the NDJSON body (a `header` line, then `file`
  (base64), `lfsFile` (an oid uploaded before), `deletedFile` and `deletedFolder` lines) makes a
  new commit on the branch; `files()` reads back what landed, `pushes` lists the commits made.

Whether the client takes the LFS path depends on it: with hf_xet installed (a dependency of
huggingface_hub on x86_64 and arm64) `upload_folder` streams "lfs" files to Xet storage, which
this server does not have, so a test either answers "regular" for every file (`lfs = False`:
the Xet pipeline then sends everything inline in the commit) or turns Xet off in the client
(`HubEnv.xet(False)`, as without hf_xet: LFS batch, PUT, verify, commit).

Writes need `Authorization: Bearer <token>` for a user added with `add_user` (401 "Invalid
credentials in Authorization header" for an unknown token, 401 without one, 403 for another
user's namespace). `fail(repo_id, status, repo_type=...)` makes these endpoints answer `status`
too.
"""

from __future__ import annotations

import base64
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
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}  # a repo's place in Hub URLs
SPACE_SDKS = ("gradio", "docker", "static", "streamlit")
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores larger files with LFS, text or not
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.png filter=lfs diff=lfs merge=lfs -text\n"


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
class Push:
    """A commit made through the commit endpoint."""
    repo: str  # "spaces/user/name" for a Space, "user/name" for a model
    revision: str
    summary: str
    sha: str
    paths: tuple[str, ...]  # added, changed or deleted


@dataclass
class _Commit:
    sha: str
    files: dict[str, bytes] = field(default_factory=dict)


def repo_key(repo_id: str, repo_type: str | None = None) -> str:
    """Where a repo lives in this server (and in Hub URLs): "user/name" for a model,
    "spaces/user/name" for a Space, "datasets/user/name" for a dataset."""
    return URL_PREFIXES[repo_type or "model"] + repo_id


class FakeHub:
    """Serve {repo_id: {revision: files}} over HTTP like the Hub's /resolve endpoint, and take
    uploads like its API (see the module's docstring)."""

    def __init__(self) -> None:
        self._repos: dict[str, dict[str, _Commit]] = {}  # repo -> {branch/tag or sha: commit}
        self._failures: dict[str, Failure] = {}
        self._tokens: dict[str, str] = {}
        self._writers: dict[str, str] = {}  # token -> the user it writes as
        self._settings: dict[str, dict] = {}  # repo key -> what create_repo was given (type, sdk, private)
        self._lfs_objects: dict[str, bytes] = {}  # sha256 -> content, from PUT /lfs-upload/{oid}
        self._lock = threading.Lock()
        self.lfs = True  # preupload: "lfs" for binary or large files (False: "regular" for all)
        self.requests: list[Request] = []
        self.pushes: list[Push] = []
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
        return self._store(repo_id, revision, files)

    def fail(self, repo_id: str, mode: int | str, *, error_code: str | None = None,
             files: tuple[str, ...] | list[str] | None = None, delay: float = 30.0,
             repo_type: str | None = None) -> None:
        """Make requests for `repo_id` (only for `files`, if given) misbehave.

        `mode`: an HTTP status (404 -> `X-Error-Code: RepoNotFound`, 401/403 -> `GatedRepo`
        unless `error_code` says otherwise; "" for none), "timeout", "slow" or "truncated".
        The upload endpoints (see the module's docstring) honour an HTTP status only.
        """
        if error_code is None and isinstance(mode, int):
            error_code = {404: "RepoNotFound", 401: "GatedRepo", 403: "GatedRepo"}.get(mode)
        with self._lock:
            self._failures[repo_key(repo_id, repo_type)] = Failure(mode, error_code or None,
                                                                    tuple(files) if files else None, delay)

    def heal(self, repo_id: str, repo_type: str | None = None) -> None:
        """Serve `repo_id` normally again; answers held for it go now."""
        with self._lock:
            failure = self._failures.pop(repo_key(repo_id, repo_type), None)
        if failure is not None:
            failure.released.set()

    def gate(self, repo_id: str, token: str) -> None:
        """Serve `repo_id` only to `Authorization: Bearer <token>` (401 without a token, 403 with another)."""
        with self._lock:
            self._tokens[repo_id] = token

    def add_user(self, name: str, token: str) -> None:
        """Let `Authorization: Bearer <token>` create and write repos under `name/`."""
        with self._lock:
            self._writers[token] = name

    def files(self, repo_id: str, repo_type: str | None = None, revision: str = "main") -> dict[str, bytes]:
        """{path: content} of `repo_id` at `revision` (what uploads landed); KeyError if none."""
        with self._lock:
            return dict(self._repos[repo_key(repo_id, repo_type)][revision].files)

    def settings(self, repo_id: str, repo_type: str | None = None) -> dict:
        """What create_repo asked for: {"type", "sdk", "private"} (KeyError if it was not created so)."""
        with self._lock:
            return dict(self._settings[repo_key(repo_id, repo_type)])

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
        body = _read_body(handler)  # read before answering, errors included, to keep the connection usable
        if handler.command not in ("GET", "HEAD") or path.startswith("/api/"):
            return self._answer_upload(handler, path, body)
        parts = path.lstrip("/").split("/")
        prefix = f"{parts[0]}/" if parts[0] in ("spaces", "datasets") else ""
        parts = parts[1:] if prefix else parts
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(handler, head, 404, None, "Not found")
        repo_id = f"{prefix}{unquote(parts[0])}/{unquote(parts[1])}"
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

    # --- answering uploads ----------------------------------------------------------------------

    def _answer_upload(self, handler: BaseHTTPRequestHandler, path: str, body: bytes) -> None:
        """create_repo, validate-yaml, repo info, tree, preupload, LFS batch / PUT / verify, commit."""
        method = handler.command
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and parts == ["api", "repos", "create"]:
            return self._create_repo(handler, json.loads(body))
        if method == "POST" and parts == ["api", "validate-yaml"]:
            return self._validate_yaml(handler, json.loads(body))
        if method == "PUT" and len(parts) == 2 and parts[0] == "lfs-upload":
            return self._lfs_put(handler, parts[1], body)
        if method == "POST" and ".git" in path:  # /{prefix}{repo}.git/info/lfs/objects/{batch,verify}
            repo, _, action = path.strip("/").partition(".git/info/lfs/objects/")
            key = unquote(repo)
            if action == "batch":
                return self._guarded(handler, key, True, self._lfs_batch, json.loads(body))
            if action == "verify":
                return self._guarded(handler, key, True, self._lfs_verify, json.loads(body))
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in ("models", "datasets", "spaces"):
            repo_type = parts[1][:-1]
            key = repo_key(f"{parts[2]}/{parts[3]}", repo_type)
            action, rest = (parts[4], parts[5:]) if len(parts) > 4 else (None, [])
            if method == "GET" and (action is None or (action == "revision" and len(rest) == 1)):
                return self._guarded(handler, key, False, self._repo_info, rest[0] if rest else "main")
            if method == "GET" and action == "tree" and rest:
                return self._guarded(handler, key, False, self._tree, rest[0], "/".join(rest[1:]))
            if method == "POST" and action == "preupload" and len(rest) == 1:
                return self._guarded(handler, key, True, self._preupload, rest[0], json.loads(body))
            if method == "POST" and action == "commit" and len(rest) == 1:
                return self._guarded(handler, key, True, self._commit, rest[0], body)
        return self._error(handler, False, 404, None, f"fake hub: no endpoint {method} {path}")

    def _writer(self, handler) -> tuple[str | None, tuple[int, str] | None]:
        """The user a request writes as, or the (status, message) refusing it."""
        auth = handler.headers.get("Authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        with self._lock:
            user = self._writers.get(token) if token else None
        if token is None:
            return None, (401, "You must be authenticated to write to the Hub")
        if user is None:
            return None, (401, "Invalid credentials in Authorization header")
        return user, None

    def _guarded(self, handler, key: str, write: bool, answer, *args) -> None:
        """Answer for an existing repo `key`: its failure if set, 401/403 for a write without the
        right token, 404 RepoNotFound if it does not exist; else `answer(handler, key, *args)`."""
        with self._lock:
            failure = self._failures.get(key)
            exists = key in self._repos
        if failure is not None and isinstance(failure.mode, int):
            return self._error(handler, False, failure.mode, failure.error_code,
                               f"fake hub: {key} fails with {failure.mode}")
        if write:
            user, refusal = self._writer(handler)
            if refusal is not None:
                return self._error(handler, False, refusal[0], None, refusal[1])
            if key.split("/")[-2] != user:
                return self._error(handler, False, 403, None, f"You don't have the rights to write to {key}")
        if not exists:
            return self._error(handler, False, 404, "RepoNotFound", "Repository not found")
        return answer(handler, key, *args)

    def _create_repo(self, handler, payload: dict) -> None:
        user, refusal = self._writer(handler)
        if refusal is not None:
            return self._error(handler, False, refusal[0], None, refusal[1])
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or user
        repo_id = f"{namespace}/{payload['name']}"
        key = repo_key(repo_id, repo_type)
        url = f"{self.url}/{key}"
        with self._lock:
            failure = self._failures.get(key)
        if failure is not None and isinstance(failure.mode, int):
            return self._error(handler, False, failure.mode, failure.error_code, f"fake hub: {key} fails")
        if namespace != user:
            return self._error(handler, False, 403, None,
                               f"You don't have the rights to create a {repo_type} under the namespace "
                               f"\"{namespace}\"")
        if repo_type == "space" and payload.get("sdk") not in SPACE_SDKS:
            return self._error(handler, False, 400, None, f"sdk must be one of {', '.join(SPACE_SDKS)}")
        with self._lock:
            exists = key in self._repos
        if exists:
            return self._json(handler, 409, {"error": f"You already created this {repo_type} repo", "url": url})
        first = {".gitattributes": GITATTRIBUTES}
        if repo_type == "space":  # what the Hub's first commit of a Space holds
            first["README.md"] = (f"---\ntitle: {payload['name']}\nsdk: {payload['sdk']}\n---\n\n"
                                  f"Check out the configuration reference at "
                                  f"https://huggingface.co/docs/hub/spaces-config-reference\n").encode()
        self._store(key, "main", first, "initial commit")
        with self._lock:
            self._settings[key] = {"type": repo_type, "sdk": payload.get("sdk"),
                                   "private": payload.get("visibility") == "private"}
        return self._json(handler, 200, {"url": url, "name": repo_id, "id": repo_id})

    def _store(self, key: str, revision: str, files: dict[str, bytes], *about: str) -> str:
        """Make `files` the commit at `revision` of repo `key`; returns its sha (made of the repo,
        revision, `about` (a summary, the parent) and the files)."""
        sha = commit_sha(key, revision, *about, *(f"{n}:{git_blob_sha(d)}" for n, d in sorted(files.items())))
        commit = _Commit(sha, files)
        with self._lock:
            revisions = self._repos.setdefault(key, {})
            revisions[revision] = commit
            revisions[sha] = commit
        return sha

    def _validate_yaml(self, handler, payload: dict) -> None:
        import yaml

        content, errors = payload.get("content", ""), []
        if content.startswith("---"):
            front, _, _ = content[3:].partition("\n---")
            try:
                meta = yaml.safe_load(front) or {}
            except yaml.YAMLError as e:
                meta, errors = {}, [f"Invalid YAML in README.md front matter: {e}"]
            if not isinstance(meta, dict):
                meta, errors = {}, ["README.md front matter is not a mapping"]
            if not errors and payload.get("repoType") == "space" and meta.get("sdk") not in SPACE_SDKS:
                errors = [f"\"sdk\" must be one of {', '.join(SPACE_SDKS)}"]
        return self._json(handler, 400 if errors else 200,
                          {"errors": [{"message": m} for m in errors], "warnings": []})

    def _commit_at(self, handler, key: str, revision: str) -> _Commit | None:
        with self._lock:
            commit = self._repos[key].get(revision)
        if commit is None:
            self._error(handler, False, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    def _repo_info(self, handler, key: str, revision: str) -> None:
        commit = self._commit_at(handler, key, revision)
        if commit is not None:
            with self._lock:
                settings = self._settings.get(key, {})
            repo_id = key.split("/", 1)[1] if key.count("/") == 2 else key
            self._json(handler, 200, {"id": repo_id, "sha": commit.sha,
                                      "private": settings.get("private", False), "sdk": settings.get("sdk"),
                                      "siblings": [{"rfilename": name} for name in sorted(commit.files)]})

    def _tree(self, handler, key: str, revision: str, folder: str) -> None:
        commit = self._commit_at(handler, key, revision)
        if commit is not None:
            under = f"{folder.strip('/')}/" if folder else ""
            self._json(handler, 200, [{"type": "file", "path": name, "size": len(data), "oid": git_blob_sha(data)}
                                      for name, data in sorted(commit.files.items()) if name.startswith(under)])

    def _upload_mode(self, size: int, sample: bytes) -> str:
        return "lfs" if self.lfs and (size > LFS_THRESHOLD or b"\0" in sample) else "regular"

    def _preupload(self, handler, key: str, revision: str, payload: dict) -> None:
        commit = self._commit_at(handler, key, revision)
        if commit is None:
            return None
        answers = []
        for item in payload["files"]:
            mode = self._upload_mode(item["size"], base64.b64decode(item["sample"]))
            there = commit.files.get(item["path"])
            oid = None if there is None else (hashlib.sha256(there).hexdigest() if mode == "lfs"
                                              else git_blob_sha(there))
            answers.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return self._json(handler, 200, {"files": answers, "commitOid": commit.sha})

    def _lfs_batch(self, handler, key: str, payload: dict) -> None:
        objects = []
        for item in payload["objects"]:
            oid, size = item["oid"], item["size"]
            with self._lock:
                stored = oid in self._lfs_objects
            answer = {"oid": oid, "size": size, "authenticated": True}
            if not stored:
                answer["actions"] = {"upload": {"href": f"{self.url}/lfs-upload/{oid}", "header": {}},
                                     "verify": {"href": f"{self.url}/{key}.git/info/lfs/objects/verify",
                                                "header": {}}}
            objects.append(answer)
        return self._json(handler, 200, {"transfer": "basic", "objects": objects},
                          content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, handler, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(handler, False, 400, None, f"content does not match the sha256 {oid}")
        with self._lock:
            self._lfs_objects[oid] = body
        return self._json(handler, 200, {})

    def _lfs_verify(self, handler, key: str, payload: dict) -> None:
        with self._lock:
            content = self._lfs_objects.get(payload["oid"])
        if content is None or len(content) != payload["size"]:
            return self._error(handler, False, 404, None, f"LFS object {payload['oid']} was not uploaded")
        return self._json(handler, 200, {"message": "Object verified"})

    def _commit(self, handler, key: str, revision: str, body: bytes) -> None:
        commit = self._commit_at(handler, key, revision)
        if commit is None:
            return None
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return self._error(handler, False, 400, None, "the commit's first NDJSON line must be its header")
        files, paths = dict(commit.files), []
        for line in lines[1:]:
            value = line["value"]
            path = value["path"]
            if line["key"] == "file":
                files[path] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile":
                with self._lock:
                    content = self._lfs_objects.get(value["oid"])
                if content is None:
                    return self._error(handler, False, 400, None, f"LFS file {path} ({value['oid']}) was not uploaded")
                files[path] = content
            elif line["key"] == "deletedFile":
                if files.pop(path, None) is None:
                    return self._error(handler, False, 404, "EntryNotFound",
                                       f"A file with this name doesn't exist: {path}")
            elif line["key"] == "deletedFolder":
                files = {n: d for n, d in files.items() if not n.startswith(path.rstrip("/") + "/")}
            else:
                return self._error(handler, False, 400, None, f"unknown commit operation {line['key']!r}")
            paths.append(path)
        summary = lines[0]["value"].get("summary", "")
        sha = self._store(key, revision, files, summary, commit.sha)
        with self._lock:
            self.pushes.append(Push(key, revision, summary, sha, tuple(paths)))
        return self._json(handler, 200, {"commitUrl": f"{self.url}/{key}/commit/{sha}", "commitOid": sha,
                                         "pullRequestUrl": None})

    def _json(self, handler, status: int, payload, content_type: str = "application/json") -> None:
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

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

        do_POST = do_PUT = do_GET

        def _run(self, head: bool) -> None:
            try:
                hub._answer(self, head)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def log_message(self, format, *args) -> None:  # quiet
            pass

    return Handler


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body, sent with Content-Length or chunked (as httpx sends a file object)."""
    if handler.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    chunks = []
    while (size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline()  # the CRLF after each chunk
    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers, then the last CRLF
        pass
    return b"".join(chunks)


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

    def xet(self, on: bool) -> None:
        """Let huggingface_hub use hf_xet (HF_HUB_DISABLE_XET unset) or not, as if it were not
        installed: uploads then take the LFS path (see the module's docstring)."""
        if on:
            self._mp.delenv("HF_HUB_DISABLE_XET", raising=False)
        else:
            self._mp.setenv("HF_HUB_DISABLE_XET", "1")
        self._mp.setattr(self._constants, "HF_HUB_DISABLE_XET", not on)

    def timeouts(self, seconds: float) -> None:
        """Give up on an unanswered request after `seconds`: the first metadata request
        (HF_HUB_ETAG_TIMEOUT), its retries (a private 60 s constant) and file reads
        (HF_HUB_DOWNLOAD_TIMEOUT)."""
        self._mp.setenv("HF_HUB_ETAG_TIMEOUT", str(max(1, round(seconds))))  # the variable takes whole seconds
        self._mp.setattr(self._constants, "HF_HUB_ETAG_TIMEOUT", seconds)
        self._mp.setattr(self._constants, "HF_HUB_DOWNLOAD_TIMEOUT", seconds)
        self._mp.setattr(self._file_download, "_ETAG_RETRY_TIMEOUT", seconds)
