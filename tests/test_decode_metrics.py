"""Each decode on a labeling socket is timed into `anymask_decode_duration_seconds`
and the socket counted in `anymask_open_sockets` (real consumer, tiny SAM model)."""

from __future__ import annotations

import pytest

from labeling import metrics
from labeling.models import Image
from tests.conftest import Personas
from tests.test_consumer import (  # noqa: F401 - fixtures
    LoopThread,
    click,
    image,
    masks_for,
    open_socket,
    project,
    runner,
    shared_media,
    tiny_sam,
)
from tests.test_operations_endpoints import sample

pytestmark = pytest.mark.django_db(transaction=True)


def scraped(name: str, **labels: str) -> float:
    return sample(metrics.exposition().decode(), name, **labels) or 0.0


def test_decodes_are_timed_and_the_socket_counted(
    runner: LoopThread,  # noqa: F811
    personas: Personas,
    image: Image,  # noqa: F811
) -> None:
    decodes = scraped("anymask_decode_duration_seconds_count")
    sockets = scraped("anymask_open_sockets", kind="image")
    socket, _ = open_socket(runner, personas.annotator, image)
    assert scraped("anymask_open_sockets", kind="image") == sockets + 1
    masks_for(socket, click(1, 100, 80))
    masks_for(socket, click(2, 40, 30))
    assert scraped("anymask_decode_duration_seconds_count") == decodes + 2
    assert scraped("anymask_decode_duration_seconds_sum") > 0
    socket.disconnect()
