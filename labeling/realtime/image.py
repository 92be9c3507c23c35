"""The labeling websocket, `ws/images/<id>/`: prompts to masks, and mask edits.

The protocol is docs/protocol.md. This consumer parses each frame (`protocol`),
checks access again (`access`: membership, role and the session itself can change
while a socket is open), and hands the work to the services (writes, through
`database`) or to its decode session (`session`). It never lets a client's input
end the connection, except when access is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied

from inference import PromptError
from inference.mask_prompts import check_mask_prompt
from labeling.events import image_group, project_group
from labeling.models import EmbeddingStatus
from labeling.permissions import UNCHANGED, Ability, UnsettableStatus, abilities_for_change
from labeling.realtime import database
from labeling.realtime.access import AccessCheck, Authorized, Forbidden
from labeling.realtime.concept_requests import ConceptRequests
from labeling.realtime.embedding_watch import EmbeddingWatch
from labeling.realtime.guard import AccessGuard
from labeling.realtime.heartbeat import PresenceHeartbeat
from labeling.realtime.image_pushes import ImagePushes
from labeling.realtime.outage import GroupWatch, LayerOutage, quietly
from labeling.realtime.outline_requests import OutlineRequests
from labeling.realtime.protocol import (
    CLOSE_FORBIDDEN,
    MAX_CANDIDATE,
    MAX_CLICKS,
    MAX_ID,
    MAX_SECONDS,
    MAX_SEQ,
    MAX_VERSION,
    Refusal,
    TokenBucket,
    comment_field,
    error_reply,
    int_field,
    key_field,
    number_field,
    parse_frame,
    parse_prompt,
    required_int,
    rle_field,
    source_field,
)
from labeling.realtime.session import DecodeSession
from labeling.realtime.undo_requests import UndoRequests
from labeling.services import presence
from labeling.services.claims import do_touch_claim

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 60  # a claim is refreshed at most this often


class ImageConsumer(
    LayerOutage,
    ImagePushes,
    UndoRequests,
    OutlineRequests,
    ConceptRequests,
    AsyncWebsocketConsumer,
):
    socket_kind = "image"
    image_id: int
    project_id: int
    user_id: int
    session_key: str | None

    async def connect(self) -> None:
        self.closed = True  # until accepted: frames before then are ignored
        self.image_id = int(self.scope["url_route"]["kwargs"]["image_id"])
        user = self.scope.get("user")
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        if user is None or not user.is_authenticated:
            await self.close()  # refused at the handshake, as for a missing image
            return
        state = await database_sync_to_async(database.connect_state)(user, self.image_id)
        if state is None:
            await self.close()
            return
        hello, self.project_id, embedding_error = state
        self.user_id = user.pk
        self.access = AccessCheck(self.session_key, self.user_id, self.image_id)
        state = (hello["image"]["embedding"], embedding_error)
        self.embedding = EmbeddingWatch(self.image_id, state, self.send_json)
        self.bucket = TokenBucket(settings.ANYMASK_WS_RATE, settings.ANYMASK_WS_BURST)
        self.decodes = DecodeSession(self.send_json, self.image_id)
        self.role = hello["user"]["role"]
        self.guard = AccessGuard(self._recheck, self._end_access)
        self.heartbeat = PresenceHeartbeat(
            self.channel_name, self.image_id, self._publish_swept, self._beat_viewers
        )
        groups = [project_group(self.project_id), image_group(self.image_id)]
        self.groups_watch = GroupWatch(
            self.channel_layer, groups, self.channel_name, self.close_for_retry
        )
        self.claim_kept = -math.inf
        self.background: set[asyncio.Future[None]] = set()
        self.groups_joined = True
        await self.channel_layer.group_add(project_group(self.project_id), self.channel_name)
        await self.channel_layer.group_add(image_group(self.image_id), self.channel_name)
        await self.accept()
        self.closed = False
        await self.send_json(hello)
        self.embedding.watch()
        self.guard.start()
        self.groups_watch.start()
        viewers = await database_sync_to_async(presence.do_arrive)(
            self.channel_name, self.image_id, self.user_id
        )
        self.heartbeat.start()
        await self._publish_presence(self.project_id, self.image_id, viewers)

    async def disconnect(self, code: int) -> None:
        await self.left(code)

    async def left(self, code: int) -> None:
        """Let go of everything the socket holds: its tasks, its presence row (at once,
        so the viewers lists drop it) and its groups. Safe to call twice, and during a
        channel-layer outage."""
        self.closed = True
        if not hasattr(self, "decodes"):
            return  # refused at the handshake: it holds nothing
        self.decodes.close()
        await self.concepts_left()
        self.embedding.close()
        self.guard.stop()
        self.heartbeat.stop()
        self.groups_watch.stop()
        viewers = await database_sync_to_async(presence.do_leave)(self.channel_name, self.image_id)
        if self.groups_joined:
            self.groups_joined = False
            await quietly(self._publish_presence(self.project_id, self.image_id, viewers))
            for group in (project_group(self.project_id), image_group(self.image_id)):
                await quietly(self.channel_layer.group_discard(group, self.channel_name))

    async def send_json(self, content: dict[str, Any]) -> None:
        if not self.closed:
            await self.send(text_data=json.dumps(content, separators=(",", ":")))

    async def reply_error(self, seq: int | None, code: str, detail: str) -> None:
        await self.send_json(error_reply(seq, code, detail))

    # ---------------------------------------------------------------- requests
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed:
            return
        if not self.bucket.take():
            await self.reply_error(
                None, "rate_limited", f"Slow down: at most {self.bucket.rate:g} messages a second."
            )
            return
        if text_data is None:
            await self.reply_error(None, "bad_json", "Binary frames are not accepted; send JSON.")
            return
        limit = settings.ANYMASK_WS_MAX_FRAME_BYTES
        # A character is at most 4 bytes: count bytes only when it could matter.
        if len(text_data) * 4 > limit and len(text_data.encode()) > limit:
            await self.reply_error(None, "too_large", f"Messages are limited to {limit} bytes.")
            return
        seq: int | None = None
        try:
            message = parse_frame(text_data)
            seq = required_int(message, "seq", 0, MAX_SEQ)
            kind = message.get("type")
            handler = self.handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise Refusal("unknown_type", f"Unknown message type {str(kind)[:40]!r}.")
            await handler(self, seq, message)
        except Refusal as refusal:
            await self.reply_error(seq, refusal.code, refusal.detail)
        except Forbidden as forbidden:
            await self.refuse(seq, str(forbidden))
        except Exception:
            logger.exception("labeling socket: %s failed on image %s", seq, self.image_id)
            await self.reply_error(seq, "server_error", "Something went wrong; nothing was saved.")

    async def refuse(self, seq: int | None, detail: str) -> None:
        if self.closed:
            return
        await self.reply_error(seq, "forbidden", detail)
        self.closed = True
        await self.close(code=CLOSE_FORBIDDEN)

    async def _recheck(self) -> None:
        """The guard's check: access now (or `Forbidden`). A new role that may still
        view is told to the page, which then offers what the role may do."""
        allowed = await self.authorize([], fresh=False)
        if allowed.access.role != self.role and not self.closed:
            self.role = allowed.access.role
            abilities = allowed.access.abilities
            await self.send_json({"type": "role", "role": self.role, "abilities": abilities})

    async def _end_access(self, detail: str) -> None:
        """The guard (or a push's check) found access gone: close with 4403."""
        await self.refuse(None, detail)

    async def authorize(self, abilities: list[Ability], fresh: bool = True) -> Authorized:
        """Access now, or `Forbidden`. Writes want `fresh` model instances; prompts and
        pings take the one-query fingerprint check (`access`)."""
        allowed = await database_sync_to_async(self.access)(fresh)
        try:
            allowed.access.require(abilities)
        except PermissionDenied as denied:
            raise Forbidden(str(denied)) from None
        return allowed

    async def on_ping(self, seq: int, message: dict[str, Any]) -> None:
        await self.authorize([], fresh=False)
        await self.send_json({"type": "pong", "seq": seq})

    def keep_claim(self) -> None:
        """Work on the image keeps the user's claim on it live (at most a write a
        minute, off the reply's path)."""
        now = time.monotonic()
        if now - self.claim_kept < KEEP_ALIVE_SECONDS:
            return
        self.claim_kept = now
        touch = database_sync_to_async(do_touch_claim)(self.image_id, self.user_id)
        task = asyncio.ensure_future(touch)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def on_prompt(self, seq: int, message: dict[str, Any]) -> None:
        allowed = await self.authorize([Ability.ANNOTATE], fresh=False)
        self.keep_claim()
        image = allowed.image
        request = parse_prompt(
            seq, message, allowed.model, image.sha256, allowed.access.project.category_head
        )
        try:  # checked now, so a bad prompt never supersedes a good one
            request.prompt().check_bounds(image.height, image.width)
            if request.mask is not None:
                check_mask_prompt(request.mask, image.height, image.width)
        except PromptError as error:
            raise Refusal("invalid_prompt", str(error)) from None
        if image.embedding_status == EmbeddingStatus.FAILED:
            # Answered now with the reason: waiting would never end (the worker gave up).
            await self.embedding.changed(image.embedding_status, image.embedding_error)
            reason = image.embedding_error or "the model could not encode it"
            raise Refusal("embedding_failed", f"No masks for this image: {reason}")
        if image.embedding_status != EmbeddingStatus.READY:
            await self.embedding.changed(image.embedding_status, image.embedding_error)
            await self.send_json(
                {"type": "pending", "seq": seq, "embedding": image.embedding_status}
            )
            return
        await self.decodes.submit(request)

    async def on_accept(self, seq: int, message: dict[str, Any]) -> None:
        key = key_field(message)
        index = int_field(message, "candidate", 0, MAX_CANDIDATE, optional=True)
        if (index is None) == ("rle" not in message):
            raise Refusal("invalid", "Give either `candidate` or `rle`.")
        fields: dict[str, Any] = {
            "client_key": key,
            "category_id": int_field(message, "category", 1, MAX_ID, optional=True),
            "clicks": int_field(message, "clicks", 0, MAX_CLICKS, optional=True),
            "edit_seconds": number_field(message, "seconds", 0, MAX_SECONDS),
            "origin": self.channel_name,
        }
        rle: Any = rle_field(message) if index is None else None
        fields["source"] = source_field(message, pixels=index is None)
        allowed = await self.authorize([Ability.ANNOTATE])
        self.keep_claim()
        # A retry (same key, maybe after a reconnect) gets the saved mask back even
        # though this connection never saw the masks its candidate index refers to.
        saved = await database_sync_to_async(database.accepted_reply)(allowed.image, key)
        if saved is None:
            if index is not None:
                rle, score = await self.decodes.full_mask(index, allowed.model)
                fields["score"] = score
            saved = await database_sync_to_async(database.accept)(
                allowed.image, allowed.user, rle=rle, **fields
            )
        await self.send_json({"type": "saved", "seq": seq, "annotation": saved})

    async def on_update(self, seq: int, message: dict[str, Any]) -> None:
        annotation_id = required_int(message, "id", 1, MAX_ID)
        fields: dict[str, Any] = {
            "expected_version": required_int(message, "version", 1, MAX_VERSION)
        }
        if "category" in message:
            fields["category_id"] = int_field(message, "category", 1, MAX_ID, optional=True)
        if "rle" in message:
            fields["rle"] = rle_field(message)
        if "status" in message:
            fields["status"] = message["status"]
        if "review_comment" in message:
            fields["review_comment"] = comment_field(message)
        # Clicks spent on an existing mask (fixing a proposal): added to its count.
        fields["clicks"] = int_field(message, "clicks", 0, MAX_CLICKS, optional=True)
        try:
            needs = abilities_for_change(
                shape="rle" in fields,
                category="category_id" in fields,
                status=fields.get("status", UNCHANGED),
                comment="review_comment" in fields,
            )
        except UnsettableStatus as error:
            raise Refusal("invalid", str(error)) from None
        if not needs:
            raise Refusal(
                "invalid", "Give at least one of `category`, `rle`, `status` or `review_comment`."
            )
        allowed = await self.authorize(needs)
        kind, annotation = await database_sync_to_async(database.update)(
            allowed.image, annotation_id, allowed.user, origin=self.channel_name, **fields
        )
        await self.send_json({"type": kind, "seq": seq, "annotation": annotation})

    async def on_delete(self, seq: int, message: dict[str, Any]) -> None:
        annotation_id = required_int(message, "id", 1, MAX_ID)
        version = required_int(message, "version", 1, MAX_VERSION)
        allowed = await self.authorize([Ability.ANNOTATE])
        current = await database_sync_to_async(database.delete)(
            allowed.image,
            annotation_id,
            allowed.user,
            expected_version=version,
            origin=self.channel_name,
        )
        if current is not None:
            await self.send_json({"type": "conflict", "seq": seq, "annotation": current})
        else:
            await self.send_json({"type": "deleted", "seq": seq, "id": annotation_id})

    handlers = {
        "ping": on_ping,
        "prompt": on_prompt,
        "accept": on_accept,
        "update": on_update,
        "delete": on_delete,
        "revert": UndoRequests.on_revert,
        "restore": UndoRequests.on_restore,
        "outline": OutlineRequests.on_outline,
        "concept": ConceptRequests.on_concept,
    }
