// What the socket brings (docs/protocol.md): the hello that (re)starts the page's
// state after every connect, replies to this page's requests, and pushes of other
// people's changes, each handed to the module it belongs to; and the connection's
// ups and downs. Nothing here is sent; a reconnect resends prompts and the outbox.

/**
 * @param {{state: object, root: HTMLElement,
 *   ui: ReturnType<import("./rendering.js").createRendering>,
 *   prompting: ReturnType<import("./prompting.js").createPrompting>,
 *   saving: ReturnType<import("./saving.js").createSaving>,
 *   changelog: {refresh: Function}}} page
 */
export function createMessages({ state, root, ui, prompting, saving, changelog }) {
  const wanted = Number(new URLSearchParams(window.location.search).get("annotation"));
  let linked = Number.isSafeInteger(wanted) && wanted > 0 ? wanted : null;

  function onHello(hello) {
    state.categories = hello.categories;
    state.annotations = new Map(hello.annotations.map((a) => [a.id, a]));
    state.overlays.clear();
    state.requests.clear();
    // What the role may do and the server's bounds come from the server: the page
    // keeps no role table or limit of its own.
    state.canAnnotate = hello.abilities.includes("annotate");
    state.canReview = hello.abilities.includes("review");
    state.limits = hello.limits;
    state.username = hello.user.username;
    ui.setEmbedding(hello.image.embedding);
    // A link to one mask (the Model quality tab's worst instances) selects it on
    // the first hello; a reconnect keeps whatever is selected by then.
    if (linked !== null) {
      if (state.annotations.has(linked)) state.selected = linked;
      linked = null;
    }
    if (state.selected !== null && !state.annotations.has(state.selected)) state.selected = null;
    if (state.hovered !== null && !state.annotations.has(state.hovered)) state.hovered = null;
    if (state.category !== null && !state.categories.some((c) => c.id === state.category)) state.category = null;
    if (state.category === null && state.categories.length) state.category = state.categories[0].id;
    if (state.current) {
      // The new connection has no logits to refine from; recompute from the prompts.
      state.current.fromServer = false;
      if (state.current.target) {
        const ann = state.annotations.get(state.current.target.id);
        if (!ann) state.current.target = null;
      }
      if (!state.current.edited && (state.current.points.length || state.current.box)) prompting.sendPrompt();
    }
    saving.resendOutbox();
    ui.renderCategory();
    ui.renderLayers();
    ui.renderList();
    root.dataset.ready = "true";
  }

  /** An admin changed this user's role while the page is open. */
  function onRole(message) {
    state.canAnnotate = message.abilities.includes("annotate");
    state.canReview = message.abilities.includes("review");
    ui.renderList();
    ui.say(`Your role in this project is now ${message.role}.`, "warn");
  }

  function onMessage(message) {
    if (message.seq !== undefined && message.seq !== null && message.seq === state.hover.seq) {
      prompting.onHoverReply(message); // masks, superseded or an error: never shown as the mask
      return;
    }
    switch (message.type) {
      case "hello": onHello(message); break;
      case "role": onRole(message); break;
      case "masks": prompting.onMasks(message); break;
      case "pending": prompting.onPending(message); break;
      case "superseded": break; // a newer prompt is on its way
      case "saved": saving.onSaved(message); break;
      case "conflict": saving.onConflict(message); break;
      case "deleted": saving.onDeleted(message); break;
      case "error": saving.onError(message); break;
      case "presence": ui.showPresence(message.viewers); break;
      case "embedding":
        ui.setEmbedding(message.status, message.error);
        if (message.status === "ready" && state.awaitingEmbedding) prompting.sendPrompt();
        if (message.status === "failed") prompting.stopWaiting(); // never answered: say why, stop
        break;
      case "annotation.created":
      case "annotation.updated":
        saving.upsert(message.annotation);
        ui.renderList();
        break;
      case "annotation.deleted": saving.forget(message.id); break;
      case "annotation.imported":
        for (const ann of message.annotations) state.annotations.set(ann.id, ann);
        ui.renderLayers(); // once for the batch, not once a mask
        changelog.refresh();
        ui.renderList();
        ui.say(`${message.annotations.length} mask(s) imported by ${message.by || "an import"}.`, "ok");
        break;
      default: break; // pong, and anything newer than this page
    }
  }

  /** The socket's state: "connecting" | "open" | "closed" | "unavailable" | "refused";
   * `wait` ms to a retry. */
  function onConnection(stateName, wait) {
    state.connected = stateName === "open";
    if (!state.connected) {
      state.hover.seq = null; // a request of the closed connection is never answered
      prompting.clearHover();
    }
    ui.showConnection(stateName, wait);
    if (stateName === "unavailable") {
      ui.say("The server's live updates are restarting. Reconnecting… your unsaved work is kept.", "warn");
    } else if (stateName === "closed" && (state.outbox.size || state.current)) {
      ui.say("Connection lost. Your unsaved work is kept and will be sent when it is back.", "warn");
    }
    if (stateName === "refused") ui.say("You no longer have access to this image.", "error");
  }

  return { onMessage, onConnection };
}
