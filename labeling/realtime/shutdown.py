"""On SIGTERM, close every open socket with CLOSE_RESTARTING before the server stops.

uvicorn, told to stop, closes each websocket with 1012 and then waits for the
application's tasks; the pages took 1012 for an unknown close and reconnected with
backoff, and sockets busy in a handler held the process for 16 s or more. Here the
signal first closes our sockets with CLOSE_RESTARTING (4012: the page reconnects at
once, without backoff, through the proxy to whichever node answers), gives their
close frames up to CLOSE_GRACE_SECONDS to leave, then hands the signal on to the
server's own handler, which finds no socket left to wait for.

The handler chains to whatever was installed before. uvicorn installs its own after
it imports the application and before it serves, so ours goes in with the first
accepted socket (on the server's loop, in the main thread): a server without a
handler of its own still stops as it did.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import weakref
from collections.abc import Callable
from contextlib import suppress
from types import FrameType
from typing import Any, Protocol

logger = logging.getLogger(__name__)

CLOSE_GRACE_SECONDS = 1.0


class Restartable(Protocol):
    async def close_for_restart(self) -> None: ...


_open: weakref.WeakSet[Any] = weakref.WeakSet()
_loops: dict[int, asyncio.AbstractEventLoop] = {}
_installed = False


def track(consumer: Restartable) -> None:
    """An accepted socket, to close on shutdown (weakly held: a gone one drops out)."""
    _open.add(consumer)
    with suppress(RuntimeError):
        loop = asyncio.get_running_loop()
        _loops[id(loop)] = loop
    install()


def forget(consumer: Restartable) -> None:
    _open.discard(consumer)


async def close_all() -> int:
    """Close every tracked socket on this loop with CLOSE_RESTARTING; how many."""
    consumers = list(_open)
    _open.clear()
    results = await asyncio.gather(
        *(consumer.close_for_restart() for consumer in consumers), return_exceptions=True
    )
    return sum(1 for result in results if not isinstance(result, BaseException))


def install() -> None:
    """Chain our SIGTERM/SIGINT handler before the server's (main thread only)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        signal.signal(signum, _handler(previous))


def _handler(previous: Any) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        loops = [loop for loop in _loops.values() if loop.is_running()]
        if not loops or not _open:
            _hand_on(previous, signum, frame)
            return
        loop = loops[0]

        async def close_then_hand_on() -> None:
            try:
                closed = await asyncio.wait_for(close_all(), CLOSE_GRACE_SECONDS)
                logger.info("shutting down: closed %d socket(s) with 'restarting'", closed)
                # Let the close frames reach the clients before uvicorn drops the sockets.
                await asyncio.sleep(0.05)
            except Exception:  # never keep the process from stopping
                logger.warning("shutting down: could not close every socket in time")
            _hand_on(previous, signum, frame)

        loop.call_soon_threadsafe(lambda: loop.create_task(close_then_hand_on()))

    return handle


def _hand_on(previous: Any, signum: int, frame: FrameType | None) -> None:
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
