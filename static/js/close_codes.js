// Websocket close codes the server uses (docs/protocol.md), in one place for every
// page script. The server's side is labeling/realtime/protocol.py.

/** Access was withdrawn (logged out, no longer a member, or the role lost the ability). */
export const CLOSE_FORBIDDEN = 4403;

/** The server's message service (Redis) is unreachable or restarted: reconnect later. */
export const CLOSE_RETRY = 4503;
