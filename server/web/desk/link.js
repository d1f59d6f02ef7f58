// The desk's link to its server (docs/protocol.md, "Desk WebSocket"): hello with the cursor,
// replay, an ack only after the event is committed to IndexedDB, gap and duplicate detection
// by seq, the snapshot when the server cannot resume, reconnection with full-jitter backoff.
//
// A browser cannot put an Authorization header on a WebSocket; the desk token goes in the
// Sec-WebSocket-Protocol header as `gymgate.token.<token>` beside `gymgate.desk.v1` (never in
// the URL, which proxies log); the server answers with `gymgate.desk.v1` alone.

export const APP_VERSION = "web-0.1.0";
const PROTOCOL = "gymgate.desk.v1";
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const HEALTH_EVERY_MS = 30000;
const JOURNAL_LINES = 2000;

// What this page did lately (connections, refusals, storage trouble), kept in memory for
// operators who ask the desk for its log; the browser keeps no log file a page can read.
const journal = [];

/** Notes a line in the desk's log (and the browser console). */
export function note(level, text) {
  const line = `${new Date().toISOString()} ${level} ${text}`;
  if (journal.length >= JOURNAL_LINES) journal.shift();
  journal.push(line);
  if (level === "WARN") console.warn(text);
}

export class Link {
  /**
   * `core` gives: pairing() {token}, cursor() {epoch, last_seq}, outboxCount(), pendingRecords(),
   * welcome(msg), snapshot(snapshot, welcome), applyEvents(events, live) → committed,
   * recorded(msg), serverError(msg), status(state), unpaired(code).
   */
  constructor(core) {
    this.core = core;
    this.socket = null;
    this.attempt = 0;
    this.stopped = true;
    this.timer = null;
    this.queue = Promise.resolve();
    this.state = "connecting";
    this.welcomeHead = 0;
    this.lastSent = 0;
    this.healthTimer = null;
    this.lastSync = null;
  }

  /** How the desk is doing: right after the welcome, then every 30 s while online. */
  async sendHealth() {
    try {
      const health = await this.core.health();
      if (this.lastSync) health.last_sync = this.lastSync;
      this.send({ type: "health", ...health, clock: new Date().toISOString() });
    } catch (error) {
      note("WARN", `desk health: ${error}`);
    }
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.healthTimer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }

  /** Reconnect at once (staff pressed "지금 다시 연결", or the browser came back online). */
  retryNow() {
    if (this.stopped || this.state === "online") return;
    clearTimeout(this.timer);
    this.attempt = 0;
    if (!this.socket) this.connect();
  }

  setState(state) {
    this.state = state;
    this.core.status(state);
  }

  connect() {
    if (this.stopped) return;
    this.setState(this.state === "online" ? "connecting" : this.state);
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/desk`;
    const token = this.core.pairing().token;
    let socket;
    try {
      socket = new WebSocket(url, [PROTOCOL, `gymgate.token.${token}`]);
    } catch {
      this.retry(false);
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = async () => {
      opened = true;
      note("INFO", "connected; saying hello");
      const cursor = await this.core.cursor();
      this.send({
        type: "hello",
        protocol: 1,
        epoch: cursor.epoch,
        last_seq: cursor.last_seq,
        app_version: APP_VERSION,
        outbox: await this.core.outboxCount(),
        clock: new Date().toISOString(),
        presence_key: this.core.presenceKey ? this.core.presenceKey.public_key : undefined,
      });
    };
    socket.onmessage = (message) => {
      // One message at a time, in order: an event is committed before the next is looked at.
      this.queue = this.queue
        .then(() => this.handle(socket, message.data))
        .catch((error) => {
          // Not stored (a full disk, a closed database): nothing was acked; say so, and
          // resume from the cursor on a new connection.
          note("WARN", `desk link: ${error}`);
          if (!error.network) this.core.storageError(error);
          if (this.socket === socket) socket.close(4000);
        });
    };
    socket.onclose = (closed) => {
      if (this.socket !== socket) return;
      note("INFO", `connection closed (${closed.code}${closed.reason ? `: ${closed.reason}` : ""})`);
      clearInterval(this.healthTimer);
      this.socket = null;
      this.retry(opened);
    };
  }

  async retry(opened) {
    if (this.stopped) return;
    this.setState("offline");
    if (!opened) {
      // The browser does not say why an upgrade failed: ask whether the token still works.
      try {
        const response = await fetch("/api/v1/desk/me", {
          headers: { Authorization: `Bearer ${this.core.pairing().token}` },
        });
        if (response.status === 401) {
          const body = await response.json().catch(() => ({}));
          this.stopped = true;
          this.core.unpaired(body.error ? body.error.code : "invalid_token");
          return;
        }
      } catch {
        // The server is down: just retry.
      }
    }
    // Full jitter: desks that lost the same server do not come back in step.
    const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), Math.random() * cap);
  }

  /** Sends on the open session; anything but `hello` waits until the server said welcome. */
  send(message) {
    if (message.type !== "hello" && this.state !== "online") return false;
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  online() {
    return this.state === "online";
  }

  async handle(socket, data) {
    if (this.socket !== socket) return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    switch (message.type) {
      case "welcome": {
        this.welcomeHead = message.head_seq;
        this.lastSent = 0;
        await this.core.welcome(message);
        if (!message.resumed) {
          let snapshot;
          try {
            const response = await fetch("/api/v1/desk/snapshot", {
              headers: { Authorization: `Bearer ${this.core.pairing().token}` },
            });
            if (!response.ok) throw new Error(`snapshot: ${response.status}`);
            snapshot = await response.json();
          } catch (error) {
            throw Object.assign(new Error(`no snapshot: ${error.message}`), { network: true });
          }
          await this.core.snapshot(snapshot, message);
        }
        this.attempt = 0;
        this.setState("online");
        for (const record of await this.core.pendingRecords()) this.send(record);
        this.lastSync = new Date().toISOString();
        await this.sendHealth();
        clearInterval(this.healthTimer);
        this.healthTimer = setInterval(() => this.sendHealth(), HEALTH_EVERY_MS);
        break;
      }
      case "event":
        await this.events(socket, [message]);
        break;
      case "recorded":
        await this.core.recorded(message);
        break;
      case "error":
        note("WARN", `the server refused: ${message.code}`);
        this.core.serverError(message);
        break;
      case "log_request":
        this.sendLog(message);
        break;
      default:
        break;
    }
  }

  /** Operators asked for this desk's log: the newest lines of the journal, within the size. */
  async sendLog(request) {
    const max = Math.min(request.max_bytes || 0, 1024 * 1024);
    const encoder = new TextEncoder();
    const lines = [];
    let size = 0;
    for (let i = journal.length - 1; i >= 0; i -= 1) {
      const bytes = encoder.encode(journal[i]).length + 1;
      if (size + bytes > max) break;
      size += bytes;
      lines.push(journal[i]);
    }
    lines.reverse();
    const text = `${APP_VERSION} ${navigator.userAgent}\n${lines.join("\n")}\n`;
    try {
      const response = await fetch(`/api/v1/desk/logs/${encodeURIComponent(request.request_id)}`, {
        method: "PUT",
        headers: {
          Authorization: `Bearer ${this.core.pairing().token}`,
          "Content-Type": "text/plain; charset=utf-8",
        },
        body: text,
      });
      note("INFO", `log sent as operators asked (${response.status})`);
    } catch (error) {
      note("WARN", `cannot send the log operators asked for: ${error}`);
    }
  }

  async events(socket, events) {
    const cursor = await this.core.cursor();
    let next = cursor.last_seq;
    const fresh = [];
    for (const event of events) {
      this.lastSent = Math.max(this.lastSent, event.seq);
      // A repeat (after a snapshot, or a replay overlapping the live stream) is skipped.
      if (event.seq <= next) continue;
      if (event.seq !== next + 1) {
        // A gap: something was lost. Resume from the cursor on a new connection.
        note("WARN", `gap after ${next}, got ${event.seq}; resuming`);
        socket.close(4000);
        return;
      }
      fresh.push(event);
      next = event.seq;
    }
    if (fresh.length === 0) return;
    // Replayed events (up to the head the server had at welcome) are not chimed.
    const live = fresh.map((event) => event.seq > this.welcomeHead);
    await this.core.applyEvents(fresh, live);
    this.lastSync = new Date().toISOString();
    // Committed: now the server may forget them for this desk.
    if (next <= this.lastSent) this.send({ type: "ack", seq: next });
  }
}
