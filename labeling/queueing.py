"""Queueing background work by task name, so nothing below the tasks imports them.

Services decide *that* work is due; `labeling.tasks` (thin wrappers over
`labeling.jobs`) is where it runs. Sending by name keeps that direction one-way: a
service never imports the tasks module, and the tasks module is free to import the
services its jobs call. Every task's queue comes from `settings.ANYMASK_TASK_QUEUES`,
so an operator can point GPU-heavy work at GPU workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# The task names (`labeling.tasks` registers each under exactly this name).
COMPUTE_EMBEDDING = "labeling.tasks.compute_embedding"
AUTO_SEGMENT = "labeling.tasks.auto_segment"
RUN_PROPOSALS = "labeling.tasks.run_proposals"
RUN_EXPORT = "labeling.tasks.run_export"
RUN_IMPORT = "labeling.tasks.run_import"
RUN_EVALUATION = "labeling.tasks.run_evaluation"
CONCEPT_QUERY = "labeling.tasks.concept_query"
RUN_CONCEPTS = "labeling.tasks.run_concepts"
TRAIN_CLASSIFIER = "labeling.tasks.train_classifier"
RUN_TRAINING = "labeling.tasks.run_training"


def queue_of(name: str) -> str:
    """The queue a task runs on; every task must have one in settings."""
    return str(settings.ANYMASK_TASK_QUEUES[name])


def enqueue(name: str, *args: Any) -> None:
    """Send task `name` with `args` (ids: tasks read their rows themselves) now."""
    from labeling.celery_app import app

    app.send_task(name, args=list(args), queue=queue_of(name))


def enqueue_on_commit(
    name: str,
    *args: Any,
    robust: bool = False,
    on_failure: Callable[[], None] | None = None,
) -> None:
    """Send the task once the current transaction commits (at once outside one), so a
    worker never looks for a row that is not committed yet, nor runs work for a
    change that rolled back.

    `robust`: a broker outage must not undo the change (an upload stays stored and
    "pending", and the workers' sweep or `embed_missing` queues it later): the
    failure is logged, `on_failure` records it (say, that nothing was queued), and
    nothing is raised into the code that committed.
    """

    # A named function, not a partial: Django logs a failed robust hook by the
    # function's __qualname__, which a functools.partial does not have (Django 5.2's
    # AttributeError then escaped into the caller's cleanup).
    def send_after_commit() -> None:
        try:
            enqueue(name, *args)
        except Exception as error:
            if not robust:
                raise
            logger.warning("could not queue %s%r (%s); it will be queued later", name, args, error)
            if on_failure is not None:
                on_failure()

    transaction.on_commit(send_after_commit, robust=robust)


def waiting(queue: str) -> int:
    """How many messages wait in a broker queue (not those a worker holds)."""
    from kombu.exceptions import ChannelError

    from labeling.celery_app import app

    with app.connection_for_read() as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:  # Redis deletes an empty queue's list: nothing waits
            return 0
        return int(declared.message_count)


def enqueue_many_on_commit(name: str, arguments: list[tuple[Any, ...]]) -> None:
    """`enqueue_on_commit` for many calls of one task, sent in one hook."""

    def send_all_after_commit() -> None:
        for args in arguments:
            enqueue(name, *args)

    transaction.on_commit(send_all_after_commit)
