// Websocket close codes the server uses (docs/protocol.md), in one place for every
// page script. The server's side is FORBIDDEN_CLOSE_CODE in labeling/consumers.py
// and labeling/project_socket.py.

/** Access was withdrawn (no longer a member, or the role lost the ability). */
export const CLOSE_FORBIDDEN = 4403;
