"""A web node that stops (SIGTERM, as a deploy sends) closes the labeling page's
socket with 4012, and the page reconnects at once to the other node (issue #16).

Real Chromium, two real uvicorn processes on the test database and one media
folder, a real worker for the embedding, and a loopback proxy in front of both
nodes that, like nginx, skips a node that no longer listens.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from labeling.realtime.protocol import CLOSE_RESTARTING
from tests.browser.test_labeling import SLOW, click_image, labeled_project, open_label_page
from tests.live_server import AsgiServer
from tests.tcp_proxy import TcpProxy
from tests.worker_process import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_script_errors")]

# The shortest wait the page's backoff ever takes (static/js/label/socket.js: 500 ms
# less a quarter of jitter). A reconnect sooner than this did not back off.
SHORTEST_BACKOFF_MS = 375

# Records every labeling socket the page opens, when it opens and how it closes
# (the page's own listeners come after these, so a close is logged before the page
# schedules its reconnect).
SOCKET_LOG = """(() => {
  const log = [];
  window.__sockets = log;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes("/ws/images/")) return;
      const note = (event, code) => log.push({ event, code, at: performance.now() });
      note("new");
      this.addEventListener("open", () => note("open"));
      this.addEventListener("close", (e) => note("close", e.code));
    }
  };
})();"""

# Every text the connection pill shows from now on.
WATCH_PILL = """() => {
  const pill = document.getElementById("connection-status");
  window.__pill = [];
  new MutationObserver(() => window.__pill.push(pill.textContent))
    .observe(pill, { childList: true, characterData: true, subtree: true });
}"""


@pytest.fixture
def nodes(server: AsgiServer, shared_media: Path, tmp_path: Path) -> Iterator[list[AsgiServer]]:
    """Two web nodes of their own (the module's `server` only sets the media folder)."""
    started: list[AsgiServer] = []
    try:
        for name in ("a", "b"):
            node = AsgiServer(shared_media, tmp_path / f"{name}.log")
            node.start()
            started.append(node)
        yield started
    finally:
        for node in started:
            node.stop()


@pytest.fixture
def proxy(nodes: list[AsgiServer]) -> Iterator[TcpProxy]:
    front = TcpProxy([node.port for node in nodes])
    front.start()
    yield front
    front.stop()


def test_a_page_on_a_stopping_node_reconnects_at_once_and_keeps_decoding(
    page: Any, nodes: list[AsgiServer], proxy: TcpProxy, worker: Worker, tiny_sam: str
) -> None:
    node_a, node_b = nodes
    project, [image] = labeled_project(tiny_sam, worker)
    page.add_init_script(SOCKET_LOG)
    app = open_label_page(page, proxy, project, image)  # the proxy sends it to node a
    page.evaluate(WATCH_PILL)

    assert node_a.process is not None
    node_a.process.send_signal(signal.SIGTERM)
    node_a.process.wait(20)
    expect(page.locator("#connection-status")).to_have_text("Connected", timeout=15_000)

    log = page.evaluate("() => window.__sockets")
    assert [entry["event"] for entry in log[:3]] == ["new", "open", "close"], log
    assert log[2]["code"] == CLOSE_RESTARTING, log
    assert log[-1]["event"] == "open", log
    # Each attempt after the close came sooner than any backoff would have: the first
    # one, and any that met node a while it still listened (HTTP 500 or 1012 there).
    for closed, attempt in pairwise(log[2:]):
        if closed["event"] == "close":
            assert attempt["event"] == "new", log
            assert attempt["at"] - closed["at"] < SHORTEST_BACKOFF_MS, log
    pill = page.evaluate("() => window.__pill")
    assert not any(text.startswith(("Offline", "Server busy")) for text in pill), pill

    # The new socket is on node b (node a has exited), and it decodes clicks.
    click_image(page, 160, 120)
    # Node b's first decode loads torch and the model into a fresh process.
    expect(app).not_to_have_attribute("data-mask-area", "0", timeout=3 * SLOW)
    expect(page.locator(".candidate")).to_have_count(3)
    assert "Traceback" not in node_b.log_tail(), node_b.log_tail()
