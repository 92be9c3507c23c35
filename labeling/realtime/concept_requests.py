"""The labeling socket's concept queries (SAM 3, docs/protocol.md): `concept` with
`phrases` and/or `exemplars` is queued for a `concepts` worker (never run in the
web process), answered `concept_queued` at once, then `concept_results` with every
instance (rle, box, score, area) or an error. Per socket the latest query wins: a
newer one supersedes the older (the worker skips it or its answer is dropped). A
query unanswered within ANYMASK_CONCEPT_TIMEOUT_SECONDS is told so. A mixin of
`image.ImageConsumer`, which provides the socket itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from labeling.permissions import Ability
from labeling.realtime.protocol import Refusal
from labeling.services import concepts
from labeling.services.errors import ServiceError

if TYPE_CHECKING:
    from labeling.realtime.access import Authorized

POLL_SECONDS = 0.5  # the worker's nudge is the fast path; polling covers a lost one


class ConceptRequests:
    channel_name: str

    # Provided by the consumer.
    async def send_json(self, content: dict[str, Any]) -> None:
        raise NotImplementedError

    async def authorize(self, abilities: list[Ability], fresh: bool = True) -> Authorized:
        raise NotImplementedError

    concept_waiter: asyncio.Task[None] | None = None
    concept_wake: asyncio.Event | None = None

    async def on_concept(self, seq: int, message: dict[str, Any]) -> None:
        allowed = await self.authorize([Ability.ANNOTATE], fresh=False)
        image = allowed.image
        state = await database_sync_to_async(concepts.availability_now)(image.project_id)
        if not state["available"]:
            raise Refusal("concepts_unavailable", state["reason"])
        try:
            params = concepts.check_query(image, message)
        except ServiceError as error:
            raise Refusal("invalid", str(error)) from None
        self.stop_concept_waiter()  # the latest query wins: the older one's answer is dropped
        query_id = await database_sync_to_async(concepts.do_queue_query)(
            image, self.channel_name, seq, params
        )
        await self.send_json({"type": "concept_queued", "seq": seq})
        self.concept_wake = asyncio.Event()
        self.concept_waiter = asyncio.ensure_future(
            self.wait_for_answer(seq, query_id, self.concept_wake)
        )

    async def wait_for_answer(self, seq: int, query_id: int, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.ANYMASK_CONCEPT_TIMEOUT_SECONDS
        while loop.time() < deadline:
            row = await database_sync_to_async(concepts.take_answer)(query_id)
            if row is not None:
                if row.error:
                    await self.send_json(
                        {
                            "type": "error",
                            "seq": seq,
                            "code": "concept_failed",
                            "detail": f"The concept query failed: {row.error}",
                        }
                    )
                else:
                    await self.send_json(
                        {"type": "concept_results", "seq": seq, "instances": row.result}
                    )
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(POLL_SECONDS, deadline - loop.time()))
            wake.clear()
        await database_sync_to_async(concepts.do_supersede)(self.channel_name)
        seconds = settings.ANYMASK_CONCEPT_TIMEOUT_SECONDS
        await self.send_json(
            {
                "type": "error",
                "seq": seq,
                "code": "concept_timeout",
                "detail": (
                    f"No answer within {seconds} s: the concept workers are busy or none "
                    "is running (a worker must serve the `concepts` queue). Try again."
                ),
            }
        )

    async def concept_ready(self, event: dict[str, Any]) -> None:
        """A worker's nudge (channel layer): an answer is in the database."""
        if self.concept_wake is not None:
            self.concept_wake.set()

    def stop_concept_waiter(self) -> None:
        if self.concept_waiter is not None and not self.concept_waiter.done():
            self.concept_waiter.cancel()
        self.concept_waiter = None

    async def concepts_left(self) -> None:
        """The socket is closing: nothing it asked is wanted any more."""
        if self.concept_waiter is not None:
            self.stop_concept_waiter()
            await database_sync_to_async(concepts.do_supersede)(self.channel_name)
