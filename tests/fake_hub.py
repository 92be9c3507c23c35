"""A local HTTP server that stands in for the Hugging Face Hub (via `HF_ENDPOINT`).

It answers what huggingface_hub asks when it downloads a model repo: the repo's
info, its file tree, a HEAD and a GET of each file, and serves the files of a
checkpoint directory, slowly (`bytes_per_second`) so that a test sees the download
progress. Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 64 * 1024


class FakeHub:
    def __init__(self, repo_id: str, checkpoint: Path, bytes_per_second: float) -> None:
        self.repo_id = repo_id
        self.files = {p.name: p.read_bytes() for p in sorted(checkpoint.iterdir()) if p.is_file()}
        self.bytes_per_second = bytes_per_second
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
                pass

            def do_HEAD(self) -> None:
                hub.serve(self, body=False)

            def do_GET(self) -> None:
                hub.serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def total_bytes(self) -> int:
        return sum(len(data) for data in self.files.values())

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def serve(self, request: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = unquote(urlparse(request.path).path)
        self.requests.append(f"{request.command} {path}")
        api = f"/api/models/{self.repo_id}"
        if path in (api, f"{api}/revision/main", f"{api}/revision/{COMMIT}"):
            siblings = [{"rfilename": name} for name in self.files]
            return self.json(request, {"id": self.repo_id, "sha": COMMIT, "siblings": siblings})
        if path.startswith(f"{api}/tree/"):
            tree = [
                {"type": "file", "path": name, "size": len(data), "oid": etag(data)}
                for name, data in self.files.items()
            ]
            return self.json(request, tree)
        for prefix in (f"/{self.repo_id}/resolve/{COMMIT}/", f"/{self.repo_id}/resolve/main/"):
            if path.startswith(prefix) and path[len(prefix) :] in self.files:
                return self.file(request, self.files[path[len(prefix) :]], body=body)
        request.send_response(404)
        request.send_header("Content-Type", "application/json")
        request.send_header("X-Error-Code", "EntryNotFound")
        request.end_headers()

    def json(self, request: BaseHTTPRequestHandler, content: Any) -> None:
        data = json.dumps(content).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)

    def file(self, request: BaseHTTPRequestHandler, data: bytes, *, body: bool) -> None:
        request.send_response(200)
        request.send_header("Content-Length", str(len(data)))
        request.send_header("ETag", f'"{etag(data)}"')
        request.send_header("X-Repo-Commit", COMMIT)
        request.send_header("Content-Type", "application/octet-stream")
        request.end_headers()
        if not body:
            return
        try:
            for start in range(0, len(data), CHUNK):
                request.wfile.write(data[start : start + CHUNK])
                request.wfile.flush()
                time.sleep(CHUNK / self.bytes_per_second)
        except (BrokenPipeError, ConnectionResetError):
            pass


def etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
