"""Real-time delivery: the two websockets and everything only they need.

- `protocol`: frames in (parsed, bounded), replies out, close codes;
- `access`: the labeling socket's per-message access check;
- `session`: the decode pool, latest-wins scheduling and the refinement state;
- `embedding_watch`: the image's embedding status, pushed or polled;
- `database`: the socket's calls into the database and the services;
- `image` and `project`: the consumers, thin: parse, call, reply.

It sits above the services (which never import it) and beside the views.
"""
