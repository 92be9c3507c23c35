"""`make topology`: the multi-node set-up, started whole on one machine, under faults.

A Redis of its own (AOF), SeaweedFS, a database of its own on the PostgreSQL that
DATABASE_URL names, two web processes (uvicorn, as docker/compose.yaml runs them), an
embeddings worker and a default worker, on a tiny random SAM so a CPU keeps up.
Then five scenarios, each bounded in time: a push across nodes, a worker SIGKILLed
mid-encode, Redis stopped and started, the database's connections killed, and
concurrent edits of one mask. It prints one JSON line (`"bench": "topology"`) of
counts of lost or duplicated items (every one must be 0) and timings, and exits
non-zero when a count is not 0. README "Production" states what it shows.
"""
