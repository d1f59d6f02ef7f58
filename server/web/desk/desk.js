// The desk in a browser: what the iced desk's core does (app/core), for a tablet, a phone or
// any PC with a browser. This module holds the desk's state and persistence and talks to the
// link; board.js draws it and hands staff's actions back here.

import * as rules from "./rules.js";
import { Store, KEEP_ACCEPTED_MS, photo, forgetCachedPhotos } from "./store.js";
import { Link } from "./link.js";
import * as board from "./board.js";
import * as presence from "./presence.js";

const LIVE_LOCK = "gymgate-desk-live";
const LOOKUP_RE_NAME_PHONE = /^(.+?)\s*(\d{4})$/;

/** A UUIDv7 (time-ordered), as the server's ids: the outbox's `local_id`. */
function uuid7() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An RFC 3339 UTC time as a key that sorts as the time does. The server writes as many
 *  fraction digits as a time needs (".5Z", ".123Z", ".123456Z"), so the strings themselves
 *  do not sort: ".123Z" came before ".123500Z" but compares after it. */
export function timeKey(at) {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(at || "");
  if (!m) return at || "";
  return `${m[1]}.${(m[2] || "").padEnd(9, "0")}`;
}

/** Check-in cards newest first; two at the same instant by id (UUIDv7, time-ordered). */
export function newestFirst(cards) {
  const keyed = cards.map((card) => [timeKey(card.checkin.at), card]);
  keyed.sort(([a, x], [b, y]) =>
    a !== b ? (a < b ? 1 : -1) : x.checkin.id < y.checkin.id ? 1 : x.checkin.id > y.checkin.id ? -1 : 0,
  );
  return keyed.map(([, card]) => card);
}

/** The in-memory roster index: search by name, last four phone digits or member number. */
export class Roster {
  constructor() {
    this.members = new Map();
    this.list = [];
    this.dirty = true;
  }

  put(member) {
    this.members.set(member.id, member);
    this.dirty = true;
    this.version = (this.version || 0) + 1;
  }

  get(id) {
    return this.members.get(id);
  }

  index() {
    if (!this.dirty) return;
    this.list = [...this.members.values()].map((m) => ({ m, name: m.name.toLowerCase() }));
    // Code point order is 가나다 order for Hangul syllables, and far cheaper than a collator
    // over 100,000 names.
    this.list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.dirty = false;
  }

  /** At most `limit` members for what staff typed. */
  search(text, limit = 20) {
    this.index();
    const q = text.trim().toLowerCase();
    if (!q) return [];
    const out = [];
    const digits = /^\d+$/.test(q);
    const namePhone = LOOKUP_RE_NAME_PHONE.exec(q);
    for (const { m, name } of this.list) {
      let hit;
      if (digits) hit = m.member_no.startsWith(q) || (q.length === 4 && m.phone_last4 === q);
      else if (namePhone && !/^\d+$/.test(namePhone[1].trim()))
        hit = name.includes(namePhone[1].trim()) && m.phone_last4 === namePhone[2];
      else hit = name.includes(q) || m.member_no.toLowerCase().startsWith(q);
      if (hit) {
        out.push(m);
        if (out.length >= limit) break;
      }
    }
    return out;
  }
}

export class Desk {
  constructor(store) {
    this.store = store;
    this.roster = new Roster();
    this.cards = new Map();
    this.notices = new Map();
    this.outbox = new Map();
    this.state = "connecting";
    this.clockOffset = 0;
    this.passKeys = [];
    this.support = null;
    this.hours = rules.ALWAYS_OPEN;
    this.center = null;
    this.ed25519 = false;
    this.link = new Link(this);
    this.shown = null;
    this.refusal = null;
    this.toast = null;
  }

  async load() {
    this.pairingInfo = await this.store.meta("pairing");
    this.clockOffset = (await this.store.meta("clock_offset")) || 0;
    this.passKeys = (await this.store.meta("pass_keys")) || [];
    this.support = (await this.store.meta("support")) || null;
    this.hours = (await this.store.meta("hours")) || rules.ALWAYS_OPEN;
    this.center = (await this.store.meta("center")) || null;
    for (const m of await this.store.all("roster")) this.roster.put(m);
    const today = this.businessDay(this.now());
    for (const card of await this.store.all("cards")) {
      if (this.businessDay(Date.parse(card.checkin.at)) === today) this.cards.set(card.checkin.id, card);
    }
    for (const n of await this.store.all("notices")) this.notices.set(n.id, n);
    for (const item of await this.store.all("outbox")) this.outbox.set(item.local_id, item);
    this.ed25519 = await rules.hasEd25519();
    this.presenceKey = this.ed25519 ? await presence.loadKey(this.store, this.pairingInfo) : null;
    await this.prune();
  }

  /** The center's business day of an instant (a visit at 00:30 after a late evening counts
   * with the evening). */
  businessDay(ms) {
    return rules.businessDate(this.hours, ms);
  }

  /** Yesterday's cards, old showings and long-accepted outbox items go. */
  async prune() {
    const now = this.now();
    const today = this.businessDay(now);
    const oldCards = [...(await this.store.all("cards"))].filter(
      (c) => this.businessDay(Date.parse(c.checkin.at)) !== today && !this.outbox.has(c.checkin.id),
    );
    const oldItems = [...this.outbox.values()].filter(
      (i) => i.state !== "pending" && now - Date.parse(i.record.at) > KEEP_ACCEPTED_MS,
    );
    const seen = (await this.store.all("seen")).filter((s) => now - s.at > 2 * 86400 * 1000);
    if (!oldCards.length && !oldItems.length && !seen.length) return;
    await this.store.write(["cards", "outbox", "seen"], (tx) => {
      for (const c of oldCards) tx.objectStore("cards").delete(c.checkin.id);
      for (const i of oldItems) tx.objectStore("outbox").delete(i.local_id);
      for (const s of seen) tx.objectStore("seen").delete(s.fingerprint);
    });
    for (const i of oldItems) this.outbox.delete(i.local_id);
  }

  /** This device's clock corrected by the server's, as learned at the last welcome. */
  now() {
    return Date.now() + this.clockOffset;
  }

  // ---- what the link asks ----

  pairing() {
    return this.pairingInfo;
  }

  async cursor() {
    return (await this.store.meta("cursor")) || { epoch: null, last_seq: 0 };
  }

  async outboxCount() {
    return this.pending().length;
  }

  pending() {
    return [...this.outbox.values()].filter((i) => i.state === "pending");
  }

  async pendingRecords() {
    return this.pending()
      .sort((a, b) => (timeKey(a.record.at) < timeKey(b.record.at) ? -1 : 1))
      .map((i) => ({ type: "record", ...i.record }));
  }

  status(state) {
    this.state = state;
    this.render();
  }

  async welcome(message) {
    this.clockOffset = Date.parse(message.server_time) - Date.now();
    this.passKeys = message.pass_keys || [];
    this.support = message.support || null;
    if (message.hours) this.hours = message.hours;
    await this.store.write(["meta"], (tx) => {
      const meta = tx.objectStore("meta");
      meta.put(this.clockOffset, "clock_offset");
      meta.put(this.passKeys, "pass_keys");
      meta.put(this.support, "support");
      meta.put(this.hours, "hours");
    });
  }

  async snapshot(snapshot, welcome) {
    const cursor = await this.cursor();
    // Another history (a restored backup, a promoted standby): the server may have lost
    // visits it had accepted from this desk; they are sent again (stored once, by local_id).
    const resend =
      cursor.epoch && cursor.epoch !== snapshot.epoch
        ? [...this.outbox.values()].filter((i) => i.state === "accepted")
        : [];
    const keep = new Set(this.pending().map((i) => i.local_id).concat(resend.map((i) => i.local_id)));
    const local = [...this.cards.values()].filter((c) => keep.has(c.checkin.id));
    await this.store.write(["meta", "roster", "cards", "notices", "outbox"], (tx) => {
      const roster = tx.objectStore("roster");
      roster.clear();
      for (const m of snapshot.roster) roster.put(m);
      const cards = tx.objectStore("cards");
      cards.clear();
      for (const c of snapshot.today.concat(local)) cards.put(c);
      const notices = tx.objectStore("notices");
      notices.clear();
      for (const n of snapshot.notices) notices.put(n);
      for (const i of resend) {
        tx.objectStore("outbox").put({ ...i, state: "pending", reason: null, checkin_id: null });
      }
      const meta = tx.objectStore("meta");
      meta.put({ epoch: snapshot.epoch, last_seq: snapshot.head_seq }, "cursor");
      meta.put(snapshot.center, "center");
      meta.put(welcome.desk_id, "desk_id");
    });
    this.roster = new Roster();
    for (const m of snapshot.roster) this.roster.put(m);
    this.cards = new Map();
    for (const c of snapshot.today.concat(local)) this.cards.set(c.checkin.id, c);
    this.notices = new Map(snapshot.notices.map((n) => [n.id, n]));
    for (const i of resend) {
      this.outbox.set(i.local_id, { ...i, state: "pending", reason: null, checkin_id: null });
    }
    this.center = snapshot.center;
    this.epoch = snapshot.epoch;
    this.render();
  }

  /** Stores a run of events and the cursor past them in one transaction; then shows them. */
  async applyEvents(events, live) {
    const cards = [];
    const gone = [];
    const forgetPhotos = [];
    await this.store.write(["meta", "roster", "cards", "notices", "revocations", "outbox"], (tx) => {
      for (const event of events) {
        const data = event.data || {};
        switch (event.kind) {
          case "checkin":
          case "checkin_updated": {
            const card = data;
            if (!card.checkin) break;
            tx.objectStore("roster").put(card.member);
            const old = this.cards.get(card.checkin.id);
            if (!old || (old.checkin.rev || 0) <= card.checkin.rev) {
              tx.objectStore("cards").put(card);
              cards.push(card);
            }
            const local = card.checkin.local_id;
            if (local && local !== card.checkin.id) {
              tx.objectStore("cards").delete(local);
              gone.push([local, card.checkin.id]);
            }
            const item = local && this.outbox.get(local);
            if (item && item.state === "pending") {
              item.state = card.checkin.status === "disputed" ? "conflict" : "accepted";
              item.checkin_id = card.checkin.id;
              tx.objectStore("outbox").put(item);
            }
            break;
          }
          case "member":
            tx.objectStore("roster").put(data);
            this.roster.put(data);
            // Photo taken away, or the member deleted their account: this device's copy goes.
            if (!data.photo_url) forgetPhotos.push(data.id);
            break;
          case "notice":
            if (data.cleared) tx.objectStore("notices").delete(data.id);
            else tx.objectStore("notices").put(data);
            if (data.cleared) this.notices.delete(data.id);
            else this.notices.set(data.id, data);
            break;
          case "revocation":
            tx.objectStore("revocations").put(data);
            break;
          case "support":
            this.support = data;
            tx.objectStore("meta").put(data, "support");
            break;
          case "hours":
            this.hours = data;
            tx.objectStore("meta").put(data, "hours");
            break;
          default:
            // A kind this desk does not know still takes its place in the order.
            break;
        }
      }
      tx.objectStore("meta").put(
        { epoch: this.epoch, last_seq: events[events.length - 1].seq },
        "cursor",
      );
    });
    if (forgetPhotos.length) await forgetCachedPhotos(forgetPhotos);
    for (const [local, id] of gone) {
      this.cards.delete(local);
      // The big card follows its check-in from the desk's own id to the server's.
      if (this.shown === local) this.shown = id;
    }
    let chime = false;
    events.forEach((event, i) => {
      const card = event.data;
      if (!card || !card.checkin || !cards.includes(card)) return;
      this.roster.put(card.member);
      this.cards.set(card.checkin.id, card);
      // A check-in this desk recorded itself chimed when staff made it; its echo does not.
      const own = card.checkin.desk_id === this.pairingInfo.desk_id;
      const arrival =
        event.kind === "checkin" && !own && ["admitted", "pending"].includes(card.checkin.status);
      // The newest live arrival takes the big card; one chime for the run, none on replay.
      if (live[i] && (event.kind === "checkin" || this.shown === card.checkin.id)) {
        this.shown = card.checkin.id;
        this.refusal = null;
      }
      if (live[i] && arrival) chime = true;
    });
    if (chime) board.chime();
    this.render();
  }

  async recorded(message) {
    const item = this.outbox.get(message.local_id);
    if (!item) return;
    const state = {
      accepted: "accepted",
      duplicate: "accepted",
      conflict: "conflict",
      rejected: "rejected",
    }[message.status];
    if (!state) return;
    item.state = state;
    item.reason = message.reason || null;
    item.checkin_id = message.checkin_id || null;
    await this.store.write(["outbox"], (tx) => tx.objectStore("outbox").put(item));
    if (state === "rejected") {
      this.say(`서버가 이 입장을 받지 않았습니다: ${rules.reasonKo(item.reason)}`, "error");
    } else if (state === "conflict") {
      this.say(`확인 필요: ${rules.reasonKo(item.reason)} — 운영팀이 검토합니다.`, "warn");
    }
    this.render();
  }

  serverError(message) {
    const known = {
      unknown_checkin: "이 입장 기록을 서버에서 찾을 수 없습니다.",
      invalid_transition: "이미 다른 데스크나 운영팀이 처리한 입장입니다.",
      storage_unavailable: "서버가 지금 저장하지 못했습니다. 자동으로 다시 보냅니다.",
    };
    this.say(known[message.code] || "서버가 요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.", "error");
  }

  /** How this desk is doing, for the server (docs/protocol.md, `health`). */
  async health() {
    const pending = this.pending();
    const oldest = pending.map((i) => i.record.at).sort()[0] || null;
    let diskFree = null;
    try {
      if (navigator.storage && navigator.storage.estimate) {
        const { quota, usage } = await navigator.storage.estimate();
        if (quota) diskFree = Math.max(0, Math.floor((quota - (usage || 0)) / (1024 * 1024)));
      }
    } catch {
      // Not told: the server gets no figure rather than a wrong one.
    }
    const health = { outbox: pending.length, cache_errors: this.storageErrors || 0 };
    if (oldest) health.outbox_oldest = oldest;
    if (diskFree !== null) health.disk_free_mb = diskFree;
    return health;
  }

  storageError(error) {
    this.storageErrors = (this.storageErrors || 0) + 1;
    const full = error && (error.name === "QuotaExceededError" || /quota/i.test(String(error.message)));
    this.say(
      full
        ? "이 기기의 저장 공간이 부족해 저장하지 못했습니다. 공간을 비운 뒤 다시 시도해 주세요."
        : "이 기기에 저장하지 못했습니다. 페이지를 새로 고쳐 주세요. 계속되면 운영팀에 알려 주세요.",
      "error",
    );
  }

  unpaired(code) {
    this.unpairedCode = code;
    this.render();
  }

  // ---- staff's actions ----

  say(text, kind = "info") {
    this.toast = { text, kind, at: Date.now() };
    this.render();
  }

  visitsOf(memberId, now) {
    const today = this.businessDay(now);
    const month = rules.kstDate(now).slice(0, 7);
    let hereToday = false;
    let unsent = 0;
    for (const card of this.cards.values()) {
      if (card.checkin.member_id !== memberId) continue;
      if (!["admitted", "pending"].includes(card.checkin.status)) continue;
      if (this.businessDay(Date.parse(card.checkin.at)) === today) hereToday = true;
    }
    for (const item of this.pending()) {
      if (item.record.member_id !== memberId) continue;
      const at = Date.parse(item.record.at);
      if (this.businessDay(at) === today) hereToday = true;
      if (rules.kstDate(at).slice(0, 7) === month) unsent += 1;
    }
    return { hereToday, unsent };
  }

  /** The shared policy with what this desk knows, then the outbox; online it is sent at once. */
  async admit(member, method, proof = null, print = null, verifiedHere = true) {
    const now = this.now();
    const { hereToday, unsent } = this.visitsOf(member.id, now);
    const allowed = member.visits_per_month;
    const used =
      (allowed === null || allowed === undefined
        ? 0
        : Math.max(0, allowed - (member.visits_left ?? allowed))) + unsent;
    const history = { visits_this_month: used, visited_this_center_today: hereToday };
    const pass = {
      blocked: member.blocked,
      valid_from: member.valid_from,
      valid_until: member.valid_until,
      visits_per_month: allowed ?? null,
    };
    const answer = verifiedHere ? rules.evaluate(pass, history, this.hours, now) : "ok";
    if (answer !== "ok") {
      this.refuse(answer, member.name);
      return null;
    }
    const local_id = uuid7();
    const at = new Date(now).toISOString();
    const record = { local_id, member_id: member.id, at, method, proof };
    const desk = this.pairingInfo.desk_id;
    const shownMember = { ...member };
    if (allowed !== null && allowed !== undefined) {
      shownMember.visits_left = Math.max(0, allowed - (used + 1));
    }
    const card = {
      checkin: {
        id: local_id,
        member_id: member.id,
        center_id: this.pairingInfo.center_id,
        center_name: this.center ? this.center.name : "",
        status: "admitted",
        method,
        at,
        rev: 0,
        local_id,
        desk_id: desk,
        history: [{ at, status: "admitted", by: `desk:${desk}`, reason: "recorded on this desk" }],
      },
      member: shownMember,
      flags: rules.flags(false, member.valid_until, member.birthday, false, now),
    };
    const item = { local_id, record, state: "pending", reason: null };
    try {
      await this.store.write(["outbox", "cards", "seen", "roster"], (tx) => {
        tx.objectStore("outbox").put(item);
        tx.objectStore("cards").put(card);
        tx.objectStore("roster").put(member);
        if (print) tx.objectStore("seen").put({ fingerprint: print, at: now });
      });
    } catch (error) {
      // Not in the outbox: the member is not checked in, and staff are told.
      this.storageError(error);
      return null;
    }
    this.roster.put(member);
    this.outbox.set(local_id, item);
    this.cards.set(local_id, card);
    this.shown = local_id;
    this.refusal = null;
    board.chime();
    this.link.send({ type: "record", ...record });
    this.say(
      this.link.online() ? "서버에 전송되었습니다." : "이 기기에 저장했습니다. 연결되면 자동으로 전송됩니다.",
    );
    return card;
  }

  checkInMember(id) {
    const member = this.roster.get(id);
    if (!member) return this.say("이 데스크의 회원 목록에 없는 회원입니다.", "error");
    return this.admit(member, "roster");
  }

  /** What a scanner typed (or the camera read): an offline pass, checked with public keys alone. */
  async scan(typed) {
    if (!this.ed25519) {
      // Without Ed25519 the code cannot be checked here; online the server checks it.
      if (!this.link.online()) {
        return this.refuse("no_ed25519");
      }
      let shown;
      try {
        shown = rules.parse(rules.fromKeyboard(typed));
      } catch (error) {
        return this.refuse(error.code || "pass_malformed");
      }
      const member = this.roster.get(shown.certificate.member_id) || fromCertificate(shown.certificate);
      return this.admit(member, "pass", rules.fromKeyboard(typed), null, false);
    }
    const answer = await rules.check(
      typed,
      this.passKeys,
      this.now(),
      async (memberId) => {
        const row = await this.store.get("revocations", memberId);
        return row ? Date.parse(row.revoked_at) : null;
      },
      async (print) => Boolean(await this.store.get("seen", print)),
    );
    if (answer.code !== "ok") {
      let name = "";
      try {
        name = rules.parse(rules.fromKeyboard(typed)).certificate.name;
      } catch {
        // Not a pass at all: no name to show.
      }
      return this.refuse(answer.code, name);
    }
    const cert = answer.shown.certificate;
    // What the desk knows of the member is fresher than the certificate.
    const member = this.roster.get(cert.member_id) || fromCertificate(cert);
    return this.admit(member, "pass", rules.fromKeyboard(typed), answer.fingerprint);
  }

  refuse(code, name = "") {
    this.refusal = { code, name, at: Date.now() };
    this.shown = null;
    board.refusedSound();
    this.render();
    return null;
  }

  /** A member not in the cache, on staff's judgement: the server finds them by number. */
  async manual(memberNo, note) {
    memberNo = memberNo.trim().slice(0, 20);
    note = note.trim().slice(0, 200);
    if (!memberNo || !note) return this.say("회원번호와 확인한 내용을 모두 적어 주세요.", "error");
    const now = this.now();
    const local_id = uuid7();
    const at = new Date(now).toISOString();
    const record = {
      local_id,
      member_id: "",
      at,
      method: "manual",
      proof: null,
      manual: { member_no: memberNo, note },
    };
    const desk = this.pairingInfo.desk_id;
    const card = {
      checkin: {
        id: local_id,
        member_id: "",
        center_id: this.pairingInfo.center_id,
        center_name: "",
        status: "admitted",
        method: "manual",
        at,
        rev: 0,
        local_id,
        desk_id: desk,
        history: [{ at, status: "admitted", by: `desk:${desk}`, reason: `staff judgement: ${note}` }],
      },
      member: {
        id: "",
        member_no: memberNo,
        name: "",
        phone_last4: "",
        plan: "",
        valid_from: rules.kstDate(now),
        valid_until: rules.kstDate(now),
        visits_per_month: null,
        visits_left: null,
        blocked: false,
      },
      flags: [],
    };
    const item = { local_id, record, state: "pending", reason: null };
    try {
      await this.store.write(["outbox", "cards"], (tx) => {
        tx.objectStore("outbox").put(item);
        tx.objectStore("cards").put(card);
      });
    } catch (error) {
      this.storageError(error);
      return;
    }
    this.outbox.set(local_id, item);
    this.cards.set(local_id, card);
    this.shown = local_id;
    this.refusal = null;
    board.chime();
    this.link.send({ type: "record", ...record });
    this.say("직원 판단으로 입장 처리했습니다. 서버가 회원번호로 확인합니다.");
  }

  /** Approve, deny or void the big card's check-in (online only: the server decides). */
  decide(checkinId, decision, reason) {
    if (!this.link.online()) {
      return this.say("오프라인에서는 승인·거절·취소를 할 수 없습니다. 연결되면 다시 해 주세요.", "error");
    }
    if (this.outbox.has(checkinId) && this.outbox.get(checkinId).state === "pending") {
      return this.say("아직 서버에 전송되지 않은 입장입니다. 전송된 뒤 처리해 주세요.", "error");
    }
    const message = { type: "decide", checkin_id: checkinId, decision };
    if (reason) message.reason = reason;
    this.link.send(message);
  }

  /** Members the server knows (new to this center): 30 a minute, 300 a day per desk. */
  async lookup(text) {
    const q = text.trim();
    const m = LOOKUP_RE_NAME_PHONE.exec(q);
    let query;
    if (m && !/^\d+$/.test(m[1].trim())) {
      query = `name=${encodeURIComponent(m[1].trim())}&phone_last4=${m[2]}`;
    } else if (/^[A-Za-z0-9-]{1,20}$/.test(q) && /\d/.test(q)) {
      query = `member_no=${encodeURIComponent(q)}`;
    } else {
      return { error: "이름과 전화번호 끝 4자리(예: 김민준 1234) 또는 회원번호로 찾을 수 있습니다." };
    }
    try {
      const response = await fetch(`/api/v1/desk/lookup?${query}`, {
        headers: { Authorization: `Bearer ${this.pairingInfo.token}` },
      });
      if (response.status === 429) {
        const body = await response.json().catch(() => ({}));
        return {
          error:
            body.error && body.error.code === "lookup_daily_limit"
              ? "오늘 이 데스크의 회원 조회 한도를 다 썼습니다. 회원의 패스(QR)를 스캔해 주세요."
              : "서버 검색이 너무 잦습니다. 잠시 후 다시 해 주세요.",
        };
      }
      if (!response.ok) return { error: "서버에서 찾지 못했습니다. 잠시 후 다시 해 주세요." };
      return { found: await response.json() };
    } catch {
      return { error: "서버에 연결할 수 없어 이 기기에 있는 회원만 보여 줍니다. 패스(QR)를 스캔할 수 있습니다." };
    }
  }

  async checkInFound(found) {
    return this.admit(found.member, "roster");
  }

  async photoUrl(member) {
    if (!member || !member.photo_url) return null;
    return photo(new URL(member.photo_url, location.origin).href, this.pairingInfo.token);
  }

  /** Cards of today, newest first. */
  today() {
    return newestFirst([...this.cards.values()]);
  }

  needsReview() {
    return [...this.outbox.values()].filter((i) => i.state === "conflict" || i.state === "rejected");
  }

  render() {
    if (this.onRender) this.onRender();
  }
}

/** A member known only by their pass certificate (new to this center, scanned offline). */
function fromCertificate(cert) {
  return {
    id: cert.member_id,
    member_no: "",
    name: cert.name,
    phone_last4: "",
    plan: cert.plan,
    valid_from: cert.valid_from,
    valid_until: cert.valid_until,
    // Only what was left at issue is known: taken as the whole allowance.
    visits_per_month: cert.visits_left === null ? null : Math.max(cert.visits_left, 1),
    visits_left: cert.visits_left,
    blocked: false,
  };
}

// ---- start ----

/** Pairs this browser with a center: what was here before (another pairing) is wiped first. */
export async function pair(code, name) {
  const response = await fetch("/api/v1/desks/pair", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code, name }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const known = {
      invalid_pairing_code: "페어링 코드가 맞지 않거나, 이미 쓰였거나, 만료되었습니다. 운영팀에 새 코드를 받아 주세요.",
      invalid_name: "데스크 이름을 적어 주세요 (예: 1층 데스크).",
      rate_limited: "시도가 너무 많습니다. 1분 뒤에 다시 해 주세요.",
    };
    throw new Error((body.error && known[body.error.code]) || "연결하지 못했습니다. 잠시 후 다시 해 주세요.");
  }
  await Store.wipe(window.gymgateDesk && window.gymgateDesk.store);
  const store = await Store.open();
  await store.setMeta("pairing", { ...body, name });
  return store;
}

export async function unpair(desk) {
  desk.link.stop();
  await Store.wipe(desk.store);
}

async function main() {
  board.init();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/desk/sw.js", { scope: "/desk/" }).catch(() => {});
  }
  if (!navigator.locks) return run();
  // One live desk per browser profile (Web Locks): a second tab says the desk is open
  // elsewhere and offers to take over; the tab it was taken from stops and says so.
  const hold = (options) =>
    navigator.locks.request(LIVE_LOCK, options, async (lock) => {
      if (!lock) return "busy";
      await run();
    });
  const lost = () => {
    if (window.gymgateDesk) window.gymgateDesk.link.stop();
    window.gymgateDesk = null;
    board.elsewhere(takeOver, true);
  };
  const takeOver = () => hold({ steal: true }).catch(lost);
  // Busy may only mean a page of this desk that was just closed or reloaded, or one kept in
  // the back-forward cache: those let go when asked, a live tab does not. So wait in line a
  // moment before saying the desk is open elsewhere.
  hold({ ifAvailable: true }).then((result) => {
    if (result !== "busy") return;
    const controller = new AbortController();
    let granted = false;
    const timer = setTimeout(() => controller.abort(), 2000);
    navigator.locks
      .request(LIVE_LOCK, { signal: controller.signal }, async () => {
        granted = true;
        clearTimeout(timer);
        await run();
      })
      .catch(() => (granted ? lost() : board.elsewhere(takeOver, false)));
  }, lost);
}

/** Runs the desk; the promise never ends (the live lock is held as long as the tab lives). */
async function run() {
  let store = await Store.open();
  const start = async () => {
    const pairing = await store.meta("pairing");
    if (!pairing) {
      board.pairing(async (code, name) => {
        store = await pair(code, name);
        await start();
      });
      return;
    }
    const desk = new Desk(store);
    window.gymgateDesk = desk;
    await desk.load();
    desk.epoch = (await desk.cursor()).epoch;
    desk.onRender = () => board.render(desk);
    desk.link.start();
    board.render(desk);
    // When the board is usable with the whole cache loaded (docs/benchmarks.md reads it).
    performance.mark("gymgate-desk-ready");
    desk.afterUnpair = async () => {
      await unpair(desk);
      window.gymgateDesk = null;
      store = await Store.open();
      await start();
    };
    requestPersistence(desk);
  };
  await start();
  // A page put in the back-forward cache is frozen: it could not store or ack what its
  // socket receives, so the socket closes with it and opens again if the page comes back.
  window.addEventListener("pagehide", () => window.gymgateDesk && window.gymgateDesk.link.stop());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && window.gymgateDesk) window.gymgateDesk.link.start();
  });
  return new Promise(() => {});
}

async function requestPersistence(desk) {
  if (!navigator.storage) return;
  try {
    desk.persisted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
  } catch {
    desk.persisted = false;
  }
  desk.render();
}

if (typeof document !== "undefined" && document.getElementById("desk-root")) main();
