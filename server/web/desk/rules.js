// The desk's rules in the browser: the check-in policy (shared/src/policy.rs) and the offline
// pass checks (shared/src/pass.rs). The Rust code is the source of truth; this file must give
// the same answer for every case of shared/conformance/vectors.json, which a Chromium test
// runs over it (tests/tests/desk_web.rs). Pure functions, no DOM: the page and the test
// import the same module.

const KST_MS = 9 * 3600 * 1000;
const DAY_MS = 86400 * 1000;

// ---- Korean time (UTC+9, no daylight saving since 1988) ----

/** The Korean calendar date of an instant (ms since the epoch), as "YYYY-MM-DD". */
export function kstDate(ms) {
  return new Date(ms + KST_MS).toISOString().slice(0, 10);
}

/** Minutes since Korean midnight. */
export function kstMinute(ms) {
  const local = (((ms + KST_MS) % DAY_MS) + DAY_MS) % DAY_MS;
  return Math.floor(local / 60000);
}

/** Days between two "YYYY-MM-DD" dates (b − a). */
function daysBetween(a, b) {
  return Math.round((Date.parse(b + "T00:00:00Z") - Date.parse(a + "T00:00:00Z")) / DAY_MS);
}

// ---- the check-in policy ----

export const EXPIRING_SOON_DAYS = 7;

export const REFUSALS_KO = {
  member_blocked: "이용이 정지된 회원입니다. 데스크에 문의해 주세요.",
  pass_not_started: "이용권 시작일 전입니다.",
  pass_expired: "이용권 기간이 끝났습니다.",
  center_closed: "지금은 센터 운영 시간이 아닙니다.",
  already_checked_in_today: "오늘 이미 이 센터에 입장하셨습니다.",
  no_visits_left: "이번 달 이용 횟수를 모두 사용하셨습니다.",
};

// ---- opening hours (shared/src/hours.rs) ----
// A center's hours are `{schedule: {week: [7 × day], holidays?: day, closures?: [{from, to}]},
// holidays: ["YYYY-MM-DD", …]}`, a day being "06:00-23:00", "24h" or "closed". A visit belongs
// to the center's business day, which starts at the latest closing time past midnight.

const DAY_MINUTES = 1440;

/** A day's hours as `{opens, closes}` in minutes (equal: all day), or null when closed. */
export function parseDay(text) {
  if (text === "closed" || text === "휴무") return null;
  if (text === "24h") return { opens: 0, closes: 0 };
  const m = /^(\d{1,2}):(\d{2})[-~](\d{1,2}):(\d{2})$/.exec(String(text).trim());
  if (!m) return null;
  const minutes = (h, mm) => (Number(h) === 24 && Number(mm) === 0 ? 0 : Number(h) * 60 + Number(mm));
  return { opens: minutes(m[1], m[2]), closes: minutes(m[3], m[4]) };
}

function days(schedule) {
  const all = [...schedule.week];
  if (schedule.holidays) all.push(schedule.holidays);
  return all.map(parseDay).filter((d) => d !== null);
}

/** Minutes after calendar midnight at which the center's business day starts. */
export function dayStart(schedule) {
  let start = 0;
  for (const d of days(schedule)) if (d.closes < d.opens) start = Math.max(start, d.closes);
  return start;
}

/** The business day (YYYY-MM-DD) an instant belongs to. */
export function businessDate(hours, ms) {
  return kstDate(ms - dayStart(hours.schedule) * 60000);
}

/** [start, end) of the business day of `ms`, in ms since the epoch. */
export function dayBounds(hours, ms) {
  const date = businessDate(hours, ms);
  const start = Date.parse(date + "T00:00:00Z") - KST_MS + dayStart(hours.schedule) * 60000;
  return [start, start + DAY_MS];
}

/** One business day's hours: a closure first, then holiday hours, then the weekday's. */
export function hoursOn(schedule, date, holiday) {
  for (const c of schedule.closures || []) if (c.from <= date && date <= c.to) return null;
  if (holiday && schedule.holidays) return parseDay(schedule.holidays);
  const weekday = (new Date(date + "T00:00:00Z").getUTCDay() + 6) % 7;
  return parseDay(schedule.week[weekday]);
}

export function isOpen(hours, ms) {
  const date = businessDate(hours, ms);
  const day = hoursOn(hours.schedule, date, (hours.holidays || []).includes(date));
  if (day === null) return false;
  if (day.opens === day.closes) return true;
  const minute = Math.floor((ms - (Date.parse(date + "T00:00:00Z") - KST_MS)) / 60000);
  const closes = day.closes < day.opens ? day.closes + DAY_MINUTES : day.closes;
  return day.opens <= minute && minute < closes;
}

/** What a desk assumes before the server ever told it its center's hours. */
export const ALWAYS_OPEN = { schedule: { week: Array(7).fill("24h") }, holidays: [] };

/** Visits left after `history`, or null for an unlimited plan. */
export function visitsLeft(pass, history) {
  if (pass.visits_per_month === null || pass.visits_per_month === undefined) return null;
  return Math.max(0, pass.visits_per_month - history.visits_this_month);
}

/** "ok" or the refusal code, checked in the order of policy::evaluate. */
export function evaluate(pass, history, hours, ms) {
  const today = kstDate(ms);
  if (pass.blocked) return "member_blocked";
  if (today < pass.valid_from) return "pass_not_started";
  if (today > pass.valid_until) return "pass_expired";
  if (!isOpen(hours, ms)) return "center_closed";
  if (history.visited_this_center_today) return "already_checked_in_today";
  if (visitsLeft(pass, history) === 0) return "no_visits_left";
  return "ok";
}

/** What staff should look at (policy::flags). */
export function flags(firstVisitHere, validUntil, birthday, pending, ms) {
  const today = kstDate(ms);
  const out = [];
  if (firstVisitHere) out.push("first_visit");
  const left = daysBetween(today, validUntil);
  if (left >= 0 && left <= EXPIRING_SOON_DAYS) out.push("expiring_soon");
  if (birthday && birthday.slice(5) === today.slice(5)) out.push("birthday");
  if (pending) out.push("pending_approval");
  return out;
}

// ---- the offline pass ----

export const PREFIX = "GP1.";
export const SHOW_WINDOW_S = 60;
export const MAX_VALIDITY_S = 7 * 86400;
export const MAX_PAYLOAD_CHARS = 2048;
const CERT_CONTEXT = new TextEncoder().encode("gymgate-pass-cert-v1");
const SHOW_CONTEXT = new TextEncoder().encode("gymgate-pass-show-v1");

export const PASS_ERRORS_KO = {
  pass_malformed: "gymgate 패스가 아니거나 덜 읽혔습니다. 다시 스캔해 주세요.",
  pass_unknown_key: "이 데스크가 모르는 서버 키로 서명된 패스입니다. 연결되면 다시 시도하세요.",
  pass_forged: "위조되었거나 변경된 패스입니다.",
  pass_wrong_device: "발급받은 휴대폰이 아닌 곳에서 보여 준 패스입니다.",
  pass_certificate_expired:
    "패스 유효기간이 지났습니다. 회원 휴대폰이 한 번 인터넷에 연결되어야 합니다.",
  pass_stale: "오래된 코드입니다(캡처 화면?). 회원 앱의 지금 화면을 스캔해 주세요.",
  pass_from_the_future: "코드 시각이 맞지 않습니다. 휴대폰이나 PC 시계를 확인하세요.",
  pass_replayed: "이미 사용된 코드입니다.",
  pass_revoked: "사용이 중지된 회원의 패스입니다. 데스크에서 확인해 주세요.",
};

class PassError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/** Base45 (RFC 9285) to bytes, or null. */
export function base45Decode(text) {
  const values = [];
  for (const c of text) {
    const v = BASE45.indexOf(c);
    if (v < 0) return null;
    values.push(v);
  }
  const out = [];
  for (let i = 0; i < values.length; i += 3) {
    const chunk = values.slice(i, i + 3);
    if (chunk.length === 3) {
      const n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45;
      if (n > 0xffff) return null;
      out.push(n >> 8, n & 0xff);
    } else if (chunk.length === 2) {
      const n = chunk[0] + chunk[1] * 45;
      if (n > 0xff) return null;
      out.push(n);
    } else {
      return null;
    }
  }
  return new Uint8Array(out);
}

// The keys of the Korean 2-set (두벌식) layout (pass::from_keyboard).
const LEADS = ["r", "R", "s", "e", "E", "f", "a", "q", "Q", "t", "T", "d", "w", "W", "c", "z", "x", "v", "g"];
const VOWELS = ["k", "o", "i", "O", "j", "p", "u", "P", "h", "hk", "ho", "hl", "y", "n", "nj", "np", "nl", "b", "m", "ml", "l"];
const TAILS = ["", "r", "R", "rt", "s", "sw", "sg", "e", "f", "fr", "fa", "fq", "ft", "fx", "fv", "fg", "a", "q", "qt", "t", "T", "d", "w", "c", "z", "x", "v", "g"];
const JAMO = ["r", "R", "rt", "s", "sw", "sg", "e", "E", "f", "fr", "fa", "fq", "ft", "fx", "fv", "fg", "a", "q", "Q", "qt", "t", "T", "d", "w", "W", "c", "z", "x", "v", "g", "k", "o", "i", "O", "j", "p", "u", "P", "h", "hk", "ho", "hl", "y", "n", "nj", "np", "nl", "b", "m", "ml", "l"];

/**
 * What a keyboard-wedge scanner typed, as the payload it read: with the input method in
 * Hangul mode the key presses arrive as jamo composed into syllables; they are turned back
 * into the keys, then upper-cased (base45 has capitals only).
 */
export function fromKeyboard(text) {
  let out = "";
  for (const c of text.trim()) {
    const code = c.codePointAt(0);
    if (code >= 0xac00 && code <= 0xd7a3) {
      const index = code - 0xac00;
      out += LEADS[Math.floor(index / 588)] + VOWELS[Math.floor((index % 588) / 28)];
      if (index % 28 > 0) out += TAILS[index % 28];
    } else if (code >= 0x3131 && code <= 0x3163) {
      out += JAMO[code - 0x3131];
    } else {
      out += c;
    }
  }
  // ASCII only, as Rust's make_ascii_uppercase.
  return out.replace(/[a-z]/g, (l) => l.toUpperCase());
}

function b64url(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function b64urlDecode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  try {
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function isoDay(days) {
  return new Date(days * DAY_MS).toISOString().slice(0, 10);
}

/** Parses a scanned payload (pass::parse); throws PassError("pass_malformed"). */
export function parse(text) {
  text = text.trim();
  const malformed = () => new PassError("pass_malformed");
  if (text.length > MAX_PAYLOAD_CHARS || !text.startsWith(PREFIX)) throw malformed();
  const bytes = base45Decode(text.slice(PREFIX.length));
  if (!bytes) throw malformed();
  const bodyLen = bytes.length - (64 + 8 + 64);
  if (bodyLen < 0) throw malformed();
  const body = bytes.slice(0, bodyLen);
  const view = new DataView(bytes.buffer);
  const serverSignature = bytes.slice(bodyLen, bodyLen + 64);
  const shownAt = Number(view.getBigInt64(bodyLen + 64));
  const deviceSignature = bytes.slice(bodyLen + 72, bodyLen + 136);
  const certificate = parseBody(body);
  if (!certificate) throw malformed();
  return { certificate, shownAt, body, serverSignature, deviceSignature };
}

function parseBody(body) {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  const take = (n) => {
    if (at + n > body.length) throw new PassError("pass_malformed");
    const part = body.slice(at, at + n);
    at += n;
    return part;
  };
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const text = () => decoder.decode(take(take(1)[0]));
  try {
    if (take(1)[0] !== 1) return null;
    const kid = take(8);
    const member_id = text();
    const name = text();
    const plan = text();
    take(8);
    const valid_from = isoDay(view.getInt32(at - 8));
    const valid_until = isoDay(view.getInt32(at - 4));
    take(2);
    const visits = view.getUint16(at - 2);
    const device_key = take(32);
    take(16);
    const issued_at = Number(view.getBigInt64(at - 16));
    const expires_at = Number(view.getBigInt64(at - 8));
    // Nothing may follow: a longer body is not one the server wrote.
    if (at !== body.length) return null;
    return {
      kid: b64url(kid),
      member_id,
      name,
      plan,
      valid_from,
      valid_until,
      visits_left: visits === 0xffff ? null : visits,
      device_key,
      issued_at,
      expires_at,
    };
  } catch {
    return null;
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Whether this browser verifies Ed25519 in WebCrypto (Chrome 137+, Safari 17+, Firefox 129+). */
export async function hasEd25519() {
  try {
    const key = await crypto.subtle.importKey(
      "raw",
      b64urlDecode("6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"),
      { name: "Ed25519" },
      false,
      ["verify"],
    );
    return key.type === "public";
  } catch {
    return false;
  }
}

async function ed25519Verify(publicKey, signature, message) {
  let key;
  try {
    key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return null;
  }
  try {
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}

/**
 * Everything a desk checks with public keys alone (Presentation::verify) at `nowMs` (the
 * desk's clock corrected by the server's); throws PassError.
 */
export async function verify(shown, keys, nowMs) {
  const cert = shown.certificate;
  const known = keys.find((k) => k.kid === cert.kid);
  const serverKey = known && b64urlDecode(known.public_key);
  if (!serverKey || serverKey.length !== 32) throw new PassError("pass_unknown_key");
  const serverOk = await ed25519Verify(
    serverKey,
    shown.serverSignature,
    concat(CERT_CONTEXT, shown.body),
  );
  if (serverOk === null) throw new PassError("pass_unknown_key");
  if (!serverOk) throw new PassError("pass_forged");
  const shownAt = new Uint8Array(8);
  new DataView(shownAt.buffer).setBigInt64(0, BigInt(shown.shownAt));
  const deviceOk = await ed25519Verify(
    cert.device_key,
    shown.deviceSignature,
    concat(SHOW_CONTEXT, shown.body, shown.serverSignature, shownAt),
  );
  if (!deviceOk) throw new PassError("pass_wrong_device");
  if (nowMs >= cert.expires_at * 1000 || cert.expires_at - cert.issued_at > MAX_VALIDITY_S) {
    throw new PassError("pass_certificate_expired");
  }
  if (shown.shownAt * 1000 > nowMs + SHOW_WINDOW_S * 1000) {
    throw new PassError("pass_from_the_future");
  }
  if (shown.shownAt * 1000 < nowMs - SHOW_WINDOW_S * 1000) throw new PassError("pass_stale");
}

/** Names one showing: the same code scanned twice has the same fingerprint. */
export async function fingerprint(shown) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", shown.deviceSignature));
  return b64url(digest.slice(0, 16));
}

/**
 * What the desk answers for a scanned code, in the desk core's order: the shared checks,
 * then revocation (`revokedAt(memberId)` → ms since the epoch, or null), then replay
 * (`seen(fingerprint)` → bool). Returns {code: "ok", shown, fingerprint} or {code}.
 */
export async function check(typed, keys, nowMs, revokedAt, seen) {
  let shown;
  try {
    shown = parse(fromKeyboard(typed));
    await verify(shown, keys, nowMs);
  } catch (error) {
    if (error instanceof PassError) return { code: error.code };
    throw error;
  }
  const revoked = await revokedAt(shown.certificate.member_id);
  if (revoked !== null && revoked !== undefined && shown.certificate.issued_at * 1000 < revoked) {
    return { code: "pass_revoked" };
  }
  const print = await fingerprint(shown);
  if (await seen(print)) return { code: "pass_replayed" };
  return { code: "ok", shown, fingerprint: print };
}

/** Plain Korean for any refusal, pass or sync reason a desk shows staff. */
export function reasonKo(code) {
  return (
    REFUSALS_KO[code] ||
    PASS_ERRORS_KO[code] ||
    {
      unknown_member: "서버가 모르는 회원입니다.",
      unknown_member_no: "서버에 없는 회원번호입니다.",
      time_out_of_range: "기기 시계가 서버와 너무 달라 받을 수 없었습니다. 기기 시계를 확인하세요.",
      local_id_taken: "같은 번호의 다른 기록이 이미 있습니다.",
      no_ed25519:
        "이 브라우저는 패스 서명(Ed25519)을 확인하지 못합니다. 온라인일 때는 서버가 확인합니다. 지금은 회원을 이름으로 찾아 주세요.",
    }[code] ||
    code ||
    ""
  );
}
