"""The labeling socket's undo requests (docs/protocol.md): `revert` undoes the change
that made a version (and, of an undo, redoes it), `restore` brings a deleted mask
back. Both are ordinary versioned writes through `labeling.services.undo`, answered
like `update`: `saved`, or `conflict` with the current mask. A mixin of
`image.ImageConsumer`, which provides the socket itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from labeling.permissions import Ability
from labeling.realtime import database
from labeling.realtime.protocol import MAX_ID, MAX_VERSION, required_int

if TYPE_CHECKING:
    from labeling.realtime.access import Authorized


class UndoRequests:
    channel_name: str

    # Provided by the consumer.
    async def send_json(self, content: dict[str, Any]) -> None:
        raise NotImplementedError

    async def authorize(self, abilities: list[Ability], fresh: bool = True) -> Authorized:
        raise NotImplementedError

    async def on_revert(self, seq: int, message: dict[str, Any]) -> None:
        """Undo (or, of an undo, redo) the change that made `version`."""
        annotation_id = required_int(message, "id", 1, MAX_ID)
        version = required_int(message, "version", 1, MAX_VERSION)
        allowed = await self.authorize([], fresh=False)
        needs = await database_sync_to_async(database.revert_needs)(
            allowed.image, annotation_id, version
        )
        allowed = await self.authorize(needs)
        kind, annotation = await database_sync_to_async(database.revert)(
            allowed.image,
            annotation_id,
            allowed.user,
            expected_version=version,
            origin=self.channel_name,
        )
        await self.send_json({"type": kind, "seq": seq, "annotation": annotation})

    async def on_restore(self, seq: int, message: dict[str, Any]) -> None:
        """Undo the delete of mask `id`, deleted at `version`."""
        annotation_id = required_int(message, "id", 1, MAX_ID)
        version = required_int(message, "version", 1, MAX_VERSION)
        allowed = await self.authorize([Ability.ANNOTATE])
        kind, annotation = await database_sync_to_async(database.restore)(
            allowed.image,
            annotation_id,
            allowed.user,
            expected_version=version,
            origin=self.channel_name,
        )
        await self.send_json({"type": kind, "seq": seq, "annotation": annotation})
