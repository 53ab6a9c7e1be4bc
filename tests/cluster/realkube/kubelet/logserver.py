"""The stand-in kubelet's HTTPS endpoint for container logs (what `kubectl logs` and the pods/log
subresource reach through the API server): /containerLogs/<ns>/<pod>/<container> with
`tailLines`, `limitBytes` and `follow`. Only clients with a certificate from the cluster CA
(the API server's kubelet client certificate) are served."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

# (namespace, pod, container) -> (log file, is the container still running?)
Finder = Callable[[str, str, str], "tuple[Path, Callable[[], bool]] | None"]


def _tail(data: bytes, lines: int) -> bytes:
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:]) if lines >= 0 else data


class LogServer:
    def __init__(self, finder: Finder, cert: Path, key: Path, ca: Path):
        finder_ = finder

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked streaming for follow=true

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(404)
                    return
                found = finder_(parts[1], parts[2], parts[3])
                if found is None:
                    self.send_error(404, "container not found")
                    return
                path, running = found
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                data = path.read_bytes() if path.exists() else b""
                if "tailLines" in query:
                    data = _tail(data, int(query["tailLines"]))
                if "limitBytes" in query:
                    data = data[: int(query["limitBytes"])]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                if query.get("follow") != "true":
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                offset = path.stat().st_size if path.exists() else 0
                self._chunk(data)
                while True:
                    alive = running()
                    size = path.stat().st_size if path.exists() else 0
                    if size > offset:
                        with path.open("rb") as fh:
                            fh.seek(offset)
                            self._chunk(fh.read(size - offset))
                        offset = size
                    if not alive:
                        break
                    time.sleep(0.2)
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, data: bytes) -> None:
                if data:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        context.load_verify_locations(str(ca))
        context.verify_mode = ssl.CERT_REQUIRED
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kubelet-logs", daemon=True)

    def start(self) -> LogServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
