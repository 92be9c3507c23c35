// Websocket close codes the server uses (docs/protocol.md), in one place for every
// page script. The server's side is labeling/realtime/protocol.py.

/** Access was withdrawn (logged out, no longer a member, or the role lost the ability). */
export const CLOSE_FORBIDDEN = 4403;

/** The server's message service (Redis) is unreachable or restarted: reconnect later. */
export const CLOSE_RETRY = 4503;

/** This server process is stopping (a deploy or restart): reconnect at once, without
 *  backoff; the proxy sends the new socket to whichever node answers. */
export const CLOSE_RESTARTING = 4012;

/** How long to wait before reconnecting after CLOSE_RESTARTING: a spread of a quarter
 *  second, so the pages of a stopped node do not all land in the same instant. */
export function restartingDelay() {
  return Math.round(Math.random() * 250);
}

/** For how long after a CLOSE_RESTARTING a reconnect that fails is tried again at once
 *  too. The stopping node still accepts connections for a moment (until its server
 *  closes the listening socket) and answers them with HTTP 500 or close code 1012; a
 *  proxy may send the page's new socket there. Past this, the usual backoff. */
export const RESTARTING_WINDOW_MS = 3000;
