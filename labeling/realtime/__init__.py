"""Real-time delivery: the two websockets and everything only they need.

- `protocol`: frames in (parsed, bounded), replies out, close codes;
- `access`: both sockets' access check (one query while nothing changed);
- `guard`: that check once a second, so idle sockets end when access does;
- `heartbeat`: the labeling socket's presence row, refreshed; stale ones swept;
- `outage`: Redis unreachable or restarted: close with 4503, refuse handshakes;
- `origin`: the Origin check, as Django's CSRF check has it;
- `unknown`: the quiet refusal of a path that is no socket;
- `session`: the decode pool, latest-wins scheduling and the refinement state;
- `embedding_watch`: the image's embedding status, pushed or polled;
- `database`: the socket's calls into the database and the services;
- `image` (with `image_pushes`) and `project`: the consumers, thin: parse, call,
  reply.

It sits above the services (which never import it) and beside the views.
"""
