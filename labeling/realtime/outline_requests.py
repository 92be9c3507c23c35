"""The labeling socket's `outline` request (docs/protocol.md): a saved mask as
simplified rings, holes kept, for the page's "Edit outline". A mixin of
`image.ImageConsumer`, which provides the socket itself.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from inference.outlines import DEFAULT_TOLERANCE, MAX_TOLERANCE
from labeling.permissions import Ability
from labeling.realtime import database
from labeling.realtime.protocol import MAX_ID, Refusal, number_field, required_int
from labeling.services.errors import ServiceError
from labeling.services.outlines import outline_json

if TYPE_CHECKING:
    from labeling.realtime.access import Authorized


class OutlineRequests:
    # Provided by the consumer.
    async def send_json(self, content: dict[str, Any]) -> None:
        raise NotImplementedError

    async def authorize(self, abilities: list[Ability], fresh: bool = True) -> Authorized:
        raise NotImplementedError

    async def on_outline(self, seq: int, message: dict[str, Any]) -> None:
        annotation_id = required_int(message, "id", 1, MAX_ID)
        asked = number_field(message, "tolerance", 0.1, MAX_TOLERANCE)
        # Asked for to edit it: the same role as any other change to a mask's shape.
        allowed = await self.authorize([Ability.ANNOTATE], fresh=False)
        annotation = await database_sync_to_async(database.outline_source)(
            allowed.image, annotation_id
        )
        tolerance = DEFAULT_TOLERANCE if asked is None else asked
        try:
            # Tracing a large mask takes a while: not on the event loop, nor in the
            # database thread every socket of this process shares.
            outline = await asyncio.to_thread(outline_json, annotation, tolerance)
        except ServiceError as error:
            raise Refusal("too_complex", error.message) from None
        await self.send_json({"type": "outline", "seq": seq, **outline})
