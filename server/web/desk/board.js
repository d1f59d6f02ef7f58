// The web desk's screens: pairing, the live board (big card, today's list, notices, the
// offline banner, search and scan), the reason to deny or void, staff's judgement, the camera,
// settings. It draws the Desk (desk.js) and hands staff's actions back to it.

import { APP_VERSION } from "./link.js";
import * as rules from "./rules.js";
import * as kiosk from "./kiosk.js";
import { reasonKo } from "./rules.js";

let root;
let mounted = null;
let audio = null;
let overlay = null;

const STATUS_KO = {
  admitted: "입장 완료",
  pending: "승인 대기",
  denied: "거절됨",
  voided: "취소됨",
  expired: "시간 초과",
  disputed: "운영팀 검토 중",
};
const FLAGS_KO = {
  first_visit: "첫 방문",
  expiring_soon: "이용권 만료 임박",
  birthday: "생일",
  pending_approval: "승인 대기",
};
const VOID_REASONS = ["잘못 눌렀음", "다른 회원으로 처리됨", "회원이 입장하지 않음", "같은 방문이 두 번 처리됨"];
const DENY_REASONS = ["본인 확인 불가", "이용권 확인 불가", "센터 이용 규정 위반", "운영 시간 외 방문"];
const MANUAL_NOTES = ["신분증 확인 · 휴대폰 방전", "신분증 확인 · 앱 오류", "회원카드 확인"];
const NEXT_STEP = {
  pass_replayed: "회원에게 앱의 패스 화면을 다시 열어 달라고 한 뒤 새 코드를 스캔하세요 (캡처 화면은 쓸 수 없습니다).",
  pass_stale: "캡처 화면일 수 있습니다. 회원에게 앱의 패스 화면을 지금 다시 열어 달라고 한 뒤 스캔하세요. 계속되면 이 기기의 시계를 확인하세요.",
  pass_from_the_future: "회원 휴대폰이나 이 기기의 시계를 확인해 주세요.",
  pass_revoked: "입장시키지 말고, 회원에게 고객센터에 문의하도록 안내하세요.",
  member_blocked: "입장시키지 말고, 회원에게 고객센터에 문의하도록 안내하세요.",
  pass_certificate_expired: "회원 휴대폰의 패스가 오래되었습니다. 휴대폰을 인터넷에 한 번 연결하면 새로 받습니다. 급하면 회원번호로 검색하세요.",
  pass_forged: "gymgate 패스가 아니거나 위조·변조된 코드입니다. 입장시키지 말고, 회원번호로 검색해 본인을 확인하세요.",
  pass_wrong_device: "gymgate 패스가 아니거나 위조·변조된 코드입니다. 입장시키지 말고, 회원번호로 검색해 본인을 확인하세요.",
  pass_unknown_key: "연결되면 다시 스캔하거나, 회원번호로 검색하세요.",
  pass_malformed: "다시 스캔하거나, 회원번호로 검색하세요.",
  no_ed25519: "회원을 이름이나 회원번호로 찾아 체크인하세요.",
};

/** `h("div#id.card", {onclick}, child…)`: a small element builder. */
function h(spec, attrs = {}, ...children) {
  const [tag] = spec.split(/[.#]/, 1);
  const el = document.createElement(tag);
  const classes = [];
  for (const [, kind, name] of spec.slice(tag.length).matchAll(/([.#])([^.#]+)/g)) {
    if (kind === "#") el.id = name;
    else classes.push(name);
  }
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function kstTime(iso) {
  return new Date(Date.parse(iso) + 9 * 3600 * 1000).toISOString().slice(11, 16);
}

export function init() {
  root = document.getElementById("desk-root");
  document.addEventListener("keydown", onKey);
  // Browsers start sound only after a gesture: the first touch or key press allows it.
  const unlock = () => {
    ensureAudio();
    if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  };
  document.addEventListener("pointerdown", unlock);
  document.addEventListener("keydown", unlock);
  window.addEventListener("online", () => window.gymgateDesk && window.gymgateDesk.link.retryNow());
}

function ensureAudio() {
  if (!audio && (window.AudioContext || window.webkitAudioContext)) {
    audio = new (window.AudioContext || window.webkitAudioContext)();
  }
  return audio;
}

function tone(notes, type) {
  const ctx = ensureAudio();
  if (!ctx || ctx.state !== "running") return;
  let at = ctx.currentTime;
  for (const [freq, length] of notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = type;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + length);
    at += length * 0.8;
  }
}

/** One chime per arrival (never for a replay: the desk calls this for live ones only). */
export function chime() {
  window.gymgateChimes = (window.gymgateChimes || 0) + 1;
  tone([[880, 0.18], [1320, 0.3]], "sine");
}

function chimeTest() {
  tone([[880, 0.18], [1320, 0.3]], "sine");
}

export function refusedSound() {
  window.gymgateRefusals = (window.gymgateRefusals || 0) + 1;
  tone([[330, 0.25], [220, 0.4]], "square");
}

function screen(...children) {
  mounted = null;
  overlay = null;
  root.replaceChildren(...children);
}

export function pairing(onSubmit) {
  const error = h("p.error", { role: "alert" });
  const code = h("input#pair-code", {
    autocomplete: "off",
    autocapitalize: "characters",
    placeholder: "ABCDE-12345",
    required: true,
  });
  const name = h("input#pair-name", { value: "데스크", required: true, maxlength: "100" });
  const button = h("button#pair-submit.primary", { type: "submit" }, "연결하기");
  const form = h(
    "form.pairing",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        button.textContent = "연결하는 중…";
        error.textContent = "";
        try {
          await onSubmit(code.value.trim(), name.value.trim());
        } catch (e) {
          error.textContent = e.message;
          button.disabled = false;
          button.textContent = "연결하기";
        }
      },
    },
    h("h1", {}, "이 기기를 센터 데스크로 연결합니다"),
    h("p.en", {}, "Pair this device as a front desk"),
    h("p", {}, "운영팀에서 받은 페어링 코드를 입력하세요. 코드는 한 번만 쓸 수 있습니다."),
    h("label", { for: "pair-code" }, "페어링 코드 · Pairing code"),
    code,
    h("label", { for: "pair-name" }, "데스크 이름 · Desk name"),
    name,
    error,
    button,
  );
  screen(h("main.center-screen", {}, form));
  code.focus();
}

/** Another tab of this browser runs the desk (or just took it from this one). */
export function elsewhere(takeOver, taken) {
  screen(
    h(
      "main.center-screen",
      {},
      h(
        "section.elsewhere",
        {},
        h("h1", {}, taken ? "다른 탭으로 데스크가 옮겨졌습니다" : "데스크가 다른 탭에서 열려 있습니다"),
        h("p.en", {}, taken ? "The desk moved to another tab" : "The desk is open in another tab"),
        h(
          "p",
          {},
          "한 브라우저에서는 데스크를 하나만 열 수 있습니다. 같은 입장을 두 번 다루지 않도록 하기 위해서입니다.",
        ),
        h("button#take-over.primary", { onclick: () => takeOver() }, "여기서 열기"),
      ),
    ),
  );
}

function mount(desk) {
  const search = h("input#scan", {
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    enterkeyhint: "go",
    placeholder: "이름 · 전화 끝 4자리 · 회원번호 · 패스 스캔",
    "aria-label": "회원 검색 또는 패스 스캔",
  });
  const m = {
    desk,
    search,
    status: h("span#status.pill"),
    title: h("span.title"),
    banner: h("div#offline-banner.banner", { role: "status" }),
    notices: h("div#notices.notices"),
    big: h("section#big-card.big", { "aria-live": "polite" }),
    results: h("div#results.results"),
    list: h("ol#today.today"),
    count: h("span.count"),
    review: h("section#review.review"),
    toast: h("div#toast.toast", { role: "status" }),
    query: "",
    remote: null,
  };
  search.addEventListener("input", () => {
    m.query = search.value;
    m.remote = null;
    renderResults(m);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const text = search.value;
    if (rules.fromKeyboard(text).startsWith(rules.PREFIX)) {
      search.value = "";
      m.query = "";
      renderResults(m);
      desk.scan(text);
    } else if (text.trim() && desk.roster.search(text).length === 0) {
      remoteLookup(m, text);
    }
  });
  const header = h(
    "header.bar",
    {},
    m.title,
    m.status,
    h("button#sound.ghost", { onclick: () => ensureAudio() && audio.resume().then(chimeTest) }, "소리"),
    h("button#open-settings.ghost", { onclick: () => settings(desk) }, "설정"),
  );
  const tools = h(
    "div.tools",
    {},
    search,
    h("button#camera.secondary", { onclick: () => camera(desk) }, "카메라로 스캔"),
    h("button#manual.secondary", { onclick: () => manual(desk) }, "직원 판단 입장 (F6)"),
    h("button#kiosk-open.secondary", { onclick: () => showKiosk(desk) }, "입구 QR"),
  );
  const layout = h(
    "main.board",
    {},
    h("div.main-col", {}, m.notices, tools, m.results, m.big, m.review),
    h("aside.side-col", {}, h("h2", {}, "오늘 입장 ", m.count, h("span.en", {}, " Today")), m.list),
  );
  root.replaceChildren(header, m.banner, layout, m.toast);
  mounted = m;
  search.focus();
  return m;
}

/** The entrance QR fills the screen; the board comes back, up to date, when staff close it. */
let kioskOn = false;
function showKiosk(desk) {
  kioskOn = true;
  mounted = null;
  kiosk.show(root, desk, () => {
    kioskOn = false;
    render(desk);
  });
}

export function render(desk) {
  if (!root || kioskOn) return;
  if (desk.unpairedCode) return unpairedScreen(desk);
  const m = mounted && mounted.desk === desk ? mounted : mount(desk);
  const center = desk.center ? desk.center.name : "";
  m.title.textContent = `${center} · ${desk.pairingInfo.name}`;
  const waiting = desk.pending().length;
  const label = { online: "온라인", connecting: "연결 중…", offline: "오프라인" }[desk.state];
  m.status.textContent = waiting ? `${label} · 대기 ${waiting}건` : label;
  m.status.dataset.state = desk.state;
  document.body.dataset.link = desk.state;
  // The offline banner: calm, with what is waiting and whom to call.
  if (desk.state === "online") {
    m.banner.hidden = true;
  } else {
    m.banner.hidden = false;
    const support = desk.support && desk.support.phone ? ` · 고객센터 ${desk.support.phone}` : "";
    m.banner.replaceChildren(
      h(
        "span",
        {},
        `서버와 연결되지 않았습니다. 입장은 이 기기에 저장되고, 연결되면 자동으로 전송됩니다. 전송 대기 `,
        h("b#waiting", {}, String(waiting)),
        `건${support}`,
      ),
      h("button.secondary", { onclick: () => desk.link.retryNow() }, "지금 다시 연결"),
    );
  }
  m.notices.replaceChildren(
    ...[...desk.notices.values()].map((n) =>
      h(`div.notice.${n.severity}`, {}, h("b", {}, "공지 "), n.text_ko, h("span.en", {}, ` ${n.text_en || ""}`)),
    ),
  );
  renderBig(m, desk);
  renderList(m, desk);
  renderReview(m, desk);
  renderResults(m);
  if (desk.toast && Date.now() - desk.toast.at < 6000) {
    m.toast.textContent = desk.toast.text;
    m.toast.dataset.kind = desk.toast.kind;
    m.toast.hidden = false;
    clearTimeout(m.toastTimer);
    m.toastTimer = setTimeout(() => (m.toast.hidden = true), 6000 - (Date.now() - desk.toast.at));
  } else {
    m.toast.hidden = true;
  }
}

function initial(name) {
  return h("div.initial", { "aria-hidden": "true" }, (name || "?").slice(0, 1));
}

function renderBig(m, desk) {
  if (desk.refusal) {
    const r = desk.refusal;
    m.bigId = null;
    m.big.className = "big refused";
    m.big.replaceChildren(
      h("h2", {}, "입장 불가 ", h("span.en", {}, "Refused")),
      r.name ? h("p.name", {}, r.name) : null,
      h("p.reason#refusal-reason", { "data-code": r.code }, reasonKo(r.code)),
      h("p.next", {}, NEXT_STEP[r.code] || "규칙상 지금은 입장할 수 없습니다. 회원에게 이유를 알려 주세요."),
      h("button.secondary", { onclick: () => ((desk.refusal = null), desk.render()) }, "확인 (Esc)"),
    );
    return;
  }
  const card = desk.shown ? desk.cards.get(desk.shown) : desk.today()[0];
  if (!card) {
    m.bigId = null;
    m.big.className = "big empty";
    m.big.replaceChildren(h("p", {}, "회원이 입장하면 여기에 크게 표시됩니다."));
    return;
  }
  const c = card.checkin;
  const item = desk.outbox.get(c.id) || (c.local_id && desk.outbox.get(c.local_id));
  const member = card.member;
  const photoBox = h("div.photo", {}, initial(member.name || member.member_no));
  if (m.bigId !== c.id || m.bigRev !== c.rev || m.bigStatus !== c.status || m.bigItem !== (item && item.state)) {
    m.bigId = c.id;
    m.bigRev = c.rev;
    m.bigStatus = c.status;
    m.bigItem = item && item.state;
    desk.photoUrl(member).then((url) => {
      if (url && m.bigId === c.id) photoBox.replaceChildren(h("img", { src: url, alt: "" }));
    });
  } else {
    return;
  }
  const chips = card.flags.map((f) => h(`span.chip.flag-${f}`, {}, FLAGS_KO[f] || f));
  if (member.blocked) chips.push(h("span.chip.bad", {}, "이용 정지"));
  const actions = [];
  if (c.status === "pending") {
    actions.push(h("button#admit.primary", { onclick: () => desk.decide(c.id, "admit") }, "승인 (F9)"));
    actions.push(h("button#deny.danger", { onclick: () => reason(desk, c.id, "deny") }, "거절 (F10)"));
  }
  if (["admitted", "pending"].includes(c.status)) {
    actions.push(h("button#void.secondary", { onclick: () => reason(desk, c.id, "void") }, "입장 취소 (F8)"));
  }
  const state = item && item.state !== "accepted" ? item.state : null;
  const left =
    member.visits_per_month === null || member.visits_per_month === undefined
      ? "무제한"
      : `이번 달 남은 횟수 ${member.visits_left ?? "?"}회`;
  m.big.className = `big status-${c.status}`;
  m.big.dataset.checkin = c.id;
  m.big.replaceChildren(
    photoBox,
    h(
      "div.who",
      {},
      h("p.name#big-name", {}, member.name || `회원번호 ${member.member_no}`),
      h("p.meta", {}, [member.member_no, member.plan, left].filter(Boolean).join(" · ")),
      h(
        "p.state",
        {},
        h(`span.chip.st-${c.status}#big-status`, {}, STATUS_KO[c.status] || c.status),
        state === "pending" ? h("span.chip.wait", {}, "동기화 대기") : null,
        state === "conflict" || state === "rejected" ? h("span.chip.bad", {}, "확인 필요") : null,
        ` ${kstTime(c.at)}`,
      ),
      h("p.chips", {}, chips),
      c.dispute ? h("p.dispute", {}, `확인 필요: ${reasonKo(c.dispute.reason)}`) : null,
      h("div.actions", {}, actions),
    ),
  );
}

function renderList(m, desk) {
  const today = desk.today();
  // Redrawn only when something in it changed: a row must not be replaced under a finger.
  const key = today
    .map((c) => `${c.checkin.id}:${c.checkin.rev}:${c.checkin.status}:${(desk.outbox.get(c.checkin.id) || {}).state}`)
    .join("|");
  if (m.listKey === key) return;
  m.listKey = key;
  m.count.textContent = `${today.length}명`;
  if (!today.length) {
    m.list.replaceChildren(h("li.empty", {}, "오늘은 아직 입장한 회원이 없습니다."));
    return;
  }
  m.list.replaceChildren(
    ...today.map((card) => {
      const c = card.checkin;
      const item = desk.outbox.get(c.id);
      return h(
        `li.row.st-${c.status}`,
        {
          "data-checkin": c.id,
          "data-status": c.status,
          "data-sync": item ? item.state : "server",
          tabindex: "0",
          onclick: () => {
            desk.shown = c.id;
            desk.refusal = null;
            desk.render();
          },
        },
        h("span.time", {}, kstTime(c.at)),
        h("span.name", {}, card.member.name || card.member.member_no),
        h("span.no", {}, card.member.member_no),
        h(`span.chip.st-${c.status}`, {}, STATUS_KO[c.status] || c.status),
        item && item.state === "pending" ? h("span.chip.wait", {}, "대기") : null,
        c.dispute || (item && ["conflict", "rejected"].includes(item.state))
          ? h("span.chip.bad", {}, reasonKo((c.dispute && c.dispute.reason) || item.reason))
          : null,
      );
    }),
  );
}

function renderReview(m, desk) {
  const items = desk.needsReview().filter((i) => Date.now() - Date.parse(i.record.at) < 86400 * 1000);
  const key = items.map((i) => `${i.local_id}:${i.state}`).join("|") + `:${desk.cards.size}`;
  if (m.reviewKey === key) return;
  m.reviewKey = key;
  if (!items.length) {
    m.review.hidden = true;
    return;
  }
  m.review.hidden = false;
  m.review.replaceChildren(
    h("h2", {}, `확인 필요 (${items.length})`),
    h(
      "p",
      {},
      "오프라인 중 체크인했지만 서버 규칙에 맞지 않는 입장입니다. 입장 기록은 지워지지 않고 운영팀이 인정 여부를 결정합니다. 회원과 확인해 주세요.",
    ),
    h(
      "ul",
      {},
      items.map((i) => {
        const card = desk.cards.get(i.checkin_id) || desk.cards.get(i.local_id);
        const who = card ? card.member.name || card.member.member_no : i.record.member_id;
        return h(
          "li.conflict",
          { "data-local": i.local_id, "data-state": i.state },
          `${kstTime(i.record.at)} ${who} — ${reasonKo(i.reason)}`,
        );
      }),
    ),
  );
}

function renderResults(m) {
  const desk = m.desk;
  const text = m.query || "";
  // Redrawn only when the query, the answer or what is searched changed (not on every
  // status change): a button must not be replaced under a finger.
  const key = [text, m.remote, desk.roster.version, desk.link.online()];
  if (m.resultsKey && key.every((k, i) => k === m.resultsKey[i])) return;
  m.resultsKey = key;
  if (!text.trim() || rules.fromKeyboard(text).startsWith("GP1")) {
    m.results.replaceChildren();
    return;
  }
  const found = desk.roster.search(text, 12);
  const rows = found.map((member) =>
    h(
      "li.result",
      { "data-member": member.id },
      h("span.name", {}, member.name),
      h("span.no", {}, `${member.member_no} · ${member.phone_last4 ? "☎" + member.phone_last4 : ""} · ${member.plan}`),
      h(
        "button.primary.checkin",
        {
          onclick: async () => {
            m.search.value = "";
            m.query = "";
            await desk.checkInMember(member.id);
            m.search.focus();
          },
        },
        "체크인",
      ),
    ),
  );
  const remote = [];
  if (m.remote && m.remote.error) remote.push(h("p.hint", {}, m.remote.error));
  if (m.remote && m.remote.found) {
    if (!m.remote.found.length) remote.push(h("p.hint", {}, "서버에도 해당하는 회원이 없습니다."));
    for (const f of m.remote.found) {
      remote.push(
        h(
          "li.result.remote",
          { "data-member": f.member.id },
          h("span.name", {}, f.member.name),
          h("span.no", {}, `${f.member.member_no} · ${f.member.plan} · 서버에서 찾음`),
          h(
            "button.primary.checkin",
            {
              onclick: async () => {
                m.search.value = "";
                m.query = "";
                m.remote = null;
                await desk.checkInFound(f);
              },
            },
            "체크인",
          ),
        ),
      );
    }
  }
  const more = h(
    "button.ghost#lookup",
    { onclick: () => remoteLookup(m, text) },
    desk.link.online() ? "서버에서 찾기 (처음 온 회원)" : "오프라인: 최근 방문 회원만 찾을 수 있습니다",
  );
  more.disabled = !desk.link.online();
  m.results.replaceChildren(
    h("ul", {}, rows.length ? rows : h("li.hint", {}, "이 기기에 해당하는 회원이 없습니다.")),
    remote.length ? h("ul.remote", {}, remote) : null,
    more,
  );
}

async function remoteLookup(m, text) {
  if (!m.desk.link.online()) return;
  m.remote = { error: "서버에서 찾는 중…" };
  renderResults(m);
  m.remote = await m.desk.lookup(text);
  renderResults(m);
}

function dialog(title, body, onClose) {
  closeOverlay();
  const box = h("div.overlay", { role: "dialog", "aria-modal": "true" }, h("div.dialog", {}, h("h2", {}, title), body));
  overlay = { el: box, onClose };
  document.body.append(box);
  return box;
}

function closeOverlay() {
  if (!overlay) return;
  const { el, onClose } = overlay;
  overlay = null;
  el.remove();
  if (onClose) onClose();
  if (mounted) mounted.search.focus();
}

/** The reason asked before a deny or a void (keys 1–4, or typed). */
function reason(desk, checkinId, decision) {
  const reasons = decision === "deny" ? DENY_REASONS : VOID_REASONS;
  const other = h("input#reason-other", { placeholder: "다른 이유 직접 입력", maxlength: "200" });
  const error = h("p.error");
  const pick = (text) => {
    if (!text.trim()) {
      error.textContent = "이유를 골라 주세요. 이유는 운영팀과 회원 문의 응대에 쓰입니다.";
      return;
    }
    desk.decide(checkinId, decision, text.trim());
    closeOverlay();
  };
  const box = dialog(
    decision === "deny" ? "거절하는 이유" : "입장을 취소하는 이유",
    h(
      "div",
      {},
      h(
        "ol.reasons",
        {},
        reasons.map((r, i) => h("li", {}, h("button.secondary.reason", { onclick: () => pick(r), "data-key": i + 1 }, `${i + 1}. ${r}`))),
      ),
      other,
      error,
      h(
        "div.actions",
        {},
        h("button.primary", { onclick: () => pick(other.value) }, "확인 (Enter)"),
        h("button.ghost", { onclick: closeOverlay }, "돌아가기 (Esc)"),
      ),
    ),
  );
  overlay.keys = (event) => {
    if (document.activeElement !== other && /^[1-4]$/.test(event.key)) {
      pick(reasons[Number(event.key) - 1]);
      return true;
    }
    if (event.key === "Enter" && document.activeElement === other) {
      pick(other.value);
      return true;
    }
    return false;
  };
  box.querySelector("button.reason").focus();
}

function manual(desk) {
  const no = h("input#manual-no", { inputmode: "text", maxlength: "20", placeholder: "회원번호" });
  const note = h("input#manual-note", { maxlength: "200", placeholder: "확인한 내용 (신분증 등)" });
  dialog(
    "직원 판단으로 입장",
    h(
      "div",
      {},
      h(
        "p",
        {},
        "앱도 패스도 없고 이 기기에서 찾을 수 없는 회원: 신분증을 확인하고 회원번호를 적어 주세요. 서버에 연결되면 본사가 확인하고, 규칙에 맞지 않으면 본사가 검토합니다.",
      ),
      no,
      note,
      h("div.chips", {}, MANUAL_NOTES.map((n) => h("button.ghost", { onclick: () => (note.value = n) }, n))),
      h(
        "div.actions",
        {},
        h(
          "button#manual-submit.primary",
          {
            onclick: async () => {
              await desk.manual(no.value, note.value);
              if (no.value.trim() && note.value.trim()) closeOverlay();
            },
          },
          "입장 처리",
        ),
        h("button.ghost", { onclick: closeOverlay }, "돌아가기 (Esc)"),
      ),
    ),
  );
  no.focus();
}

/** The camera reads the member's QR: BarcodeDetector where the browser has it, else jsQR. */
async function camera(desk) {
  const video = h("video#camera-video", { playsinline: true, muted: true, autoplay: true });
  const note = h("p.hint#camera-note", {}, "회원 앱의 패스 QR을 카메라에 비춰 주세요.");
  let stream = null;
  let stopped = false;
  dialog("카메라로 패스 스캔", h("div.camera", {}, video, note, h("button.ghost", { onclick: closeOverlay }, "닫기 (Esc)")), () => {
    stopped = true;
    if (stream) for (const track of stream.getTracks()) track.stop();
  });
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch {
    note.textContent = "카메라를 쓸 수 없습니다. 브라우저의 카메라 권한을 확인하거나 USB 스캐너를 쓰세요.";
    return;
  }
  if (stopped) {
    for (const track of stream.getTracks()) track.stop();
    return;
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  let detect;
  if ("BarcodeDetector" in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) {
        const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        detect = async () => {
          const codes = await detector.detect(video);
          return codes.length ? codes[0].rawValue : null;
        };
      }
    } catch {
      detect = null;
    }
  }
  if (!detect) {
    await loadJsQr();
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    detect = async () => {
      if (!video.videoWidth) return null;
      const scale = Math.min(1, 800 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      return code ? code.data : null;
    };
  }
  while (!stopped) {
    const text = await detect().catch(() => null);
    if (text && text.startsWith(rules.PREFIX)) {
      closeOverlay();
      await desk.scan(text);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

function loadJsQr() {
  if (window.jsQR) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = h("script", { src: "/desk/jsqr.js" });
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
}

async function settings(desk) {
  const usage = h("dd#storage-usage", {}, "…");
  const persisted = h(
    "dd#storage-persisted",
    {},
    desk.persisted ? "허용됨: 브라우저가 이 데이터를 지우지 않습니다" : "허용되지 않음: 저장 공간이 부족하면 브라우저가 지울 수 있습니다 (홈 화면에 설치하면 허용되기 쉽습니다)",
  );
  let confirmUnpair = false;
  const unpairButton = h(
    "button#unpair.danger",
    {
      onclick: async () => {
        if (!confirmUnpair) {
          confirmUnpair = true;
          const waiting = desk.pending().length;
          unpairButton.textContent = waiting
            ? `전송 대기 ${waiting}건이 지워집니다. 정말 해제할까요? (한 번 더 누르면 해제)`
            : "정말 해제할까요? 다시 쓰려면 새 페어링 코드가 필요합니다. (한 번 더 누르면 해제)";
          return;
        }
        overlay = null;
        document.querySelector(".overlay")?.remove();
        await desk.afterUnpair();
      },
    },
    "페어링 해제 (이 기기의 데이터 삭제)",
  );
  dialog(
    "설정 · Settings",
    h(
      "div",
      {},
      h(
        "dl.settings",
        {},
        h("dt", {}, "센터"),
        h("dd", {}, desk.center ? desk.center.name : "—"),
        h("dt", {}, "데스크"),
        h("dd", {}, `${desk.pairingInfo.name} (${desk.pairingInfo.desk_id})`),
        h("dt", {}, "버전"),
        h("dd", {}, APP_VERSION),
        h("dt", {}, "저장 공간 유지"),
        persisted,
        h("dt", {}, "사용 중인 공간"),
        usage,
        h("dt", {}, "이 기기의 회원"),
        h("dd", {}, `${desk.roster.members.size}명 · 전송 대기 ${desk.pending().length}건`),
        h("dt", {}, "오프라인 패스 확인"),
        h(
          "dd#ed25519",
          {},
          desk.ed25519
            ? "가능 (Ed25519)"
            : "불가: 이 브라우저는 Ed25519 서명을 확인하지 못합니다. 온라인에서는 서버가 확인합니다. 브라우저를 업데이트해 주세요.",
        ),
        desk.support ? h("dt", {}, "고객센터") : null,
        desk.support ? h("dd", {}, [desk.support.phone, desk.support.hours].filter(Boolean).join(" · ")) : null,
      ),
      h("div.actions", {}, unpairButton, h("button.ghost", { onclick: closeOverlay }, "닫기 (Esc)")),
    ),
  );
  if (navigator.storage && navigator.storage.estimate) {
    const estimate = await navigator.storage.estimate();
    const mb = (n) => (n / 1024 / 1024).toFixed(1);
    usage.textContent = `${mb(estimate.usage || 0)} MB / ${mb(estimate.quota || 0)} MB`;
  } else {
    usage.textContent = "알 수 없음";
  }
}

function unpairedScreen(desk) {
  const text =
    desk.unpairedCode === "token_revoked"
      ? "운영팀이 이 데스크의 연결을 해제했습니다. 새 페어링 코드로 다시 연결해 주세요."
      : "서버가 이 데스크를 알지 못합니다. 운영팀에 새 페어링 코드를 받아 다시 연결해 주세요.";
  screen(
    h(
      "main.center-screen",
      {},
      h(
        "section.elsewhere",
        {},
        h("h1", {}, "데스크 연결이 해제되었습니다"),
        h("p#unpaired", {}, text),
        h("button.primary", { onclick: () => desk.afterUnpair() }, "다시 연결하기"),
      ),
    ),
  );
}

function onKey(event) {
  if (overlay) {
    if (event.key === "Escape") {
      event.preventDefault();
      closeOverlay();
    } else if (overlay.keys && overlay.keys(event)) {
      event.preventDefault();
    }
    return;
  }
  const m = mounted;
  if (!m) return;
  const desk = m.desk;
  const card = desk.shown ? desk.cards.get(desk.shown) : desk.today()[0];
  const keys = {
    F2: () => m.search.focus(),
    F6: () => manual(desk),
    F8: () => card && reason(desk, card.checkin.id, "void"),
    F9: () => card && desk.decide(card.checkin.id, "admit"),
    F10: () => card && reason(desk, card.checkin.id, "deny"),
    Escape: () => {
      if (desk.refusal) desk.refusal = null;
      m.search.value = "";
      m.query = "";
      m.remote = null;
      desk.render();
    },
  };
  if (keys[event.key]) {
    event.preventDefault();
    keys[event.key]();
    return;
  }
  // A keyboard-wedge scanner types anywhere on the board: its keys go to the scan field.
  const typing = document.activeElement && ["INPUT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (!typing && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
    m.search.focus();
  }
}
