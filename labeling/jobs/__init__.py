"""The bodies of background work: embedding, export, import and machine proposals.

Each job takes ids, reads its rows itself, tolerates rows that vanished, and is
idempotent (a duplicate delivery finds its row no longer queued). Jobs sit above
the services: they call the engine (`inference`) for model work and the services
for every write, and `labeling.tasks` is only the Celery wrappers over them.
Nothing below (services, models, events) imports this package; services queue jobs
by task name (`labeling.queueing`).
"""
