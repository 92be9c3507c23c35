"""A loopback TCP proxy in front of several web processes, as nginx is in production
(docker/nginx.conf): each new connection goes to the first backend that accepts it,
so one that has stopped listening (a node shutting down) is skipped. It forwards
bytes and knows nothing of HTTP, so websockets pass through as they are.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

from tests.live_server import free_port


class TcpProxy:
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        with suppress(OSError):
            # A shutdown wakes the accept() blocked in the thread; a close alone does not.
            self._listener.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in list(self._open):
                with suppress(OSError):
                    sock.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            upstream = self._connect()
            if upstream is None:
                client.close()  # no backend: the browser sees the connection fail
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        for port in self.backends:
            with suppress(OSError):
                return socket.create_connection(("127.0.0.1", port), timeout=2)
        return None

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        """Copy one direction until its end closes, then pass the close on."""
        source.settimeout(None)
        with suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        # The second direction to finish closes both sockets.
        with self._lock:
            self._open.discard(source)
            if target not in self._open:
                for sock in (source, target):
                    with suppress(OSError):
                        sock.close()
