// The operators' console: plain DOM, no build step. Every text from the server goes in with
// textContent (never innerHTML), so a member's name cannot run as markup.
"use strict";

const state = { session: null, tab: "now", memberNext: null, source: null, now: null, centers: [] };

// Korean first for the codes the API answers with; the server's own message otherwise.
const ERRORS = {
  wrong_login: "아이디 또는 비밀번호가 맞지 않습니다. (여러 번 틀리면 잠시 기다려야 합니다)",
  login_required: "로그인이 필요합니다.",
  session_expired: "로그인이 끝났습니다. 다시 로그인해 주세요.",
  csrf_failed: "요청을 확인할 수 없습니다. 페이지를 새로 고쳐 주세요.",
  role_forbidden: "이 작업을 할 권한이 없습니다.",
  rate_limited: "요청이 너무 많습니다. 잠시 뒤 다시 해 주세요.",
  reason_required: "사유를 적어 주세요.",
  totp_required: "인증 앱의 6자리 코드를 입력해 주세요.",
  wrong_totp: "인증 코드가 맞지 않거나 이미 쓰였습니다. 새 코드를 입력해 주세요.",
  totp_setup_required: "관리자 계정은 먼저 '내 계정'에서 2단계 인증을 설정해야 합니다.",
  login_delayed: "비밀번호가 여러 번 틀렸습니다. 잠시 후 다시 시도해 주세요.",
  wrong_password: "지금 비밀번호가 맞지 않습니다.",
  weak_password: "비밀번호는 10자 이상이어야 합니다.",
  rules_refuse: "규칙상 인정할 수 없는 방문입니다.",
  invalid_transition: "지금 상태에서는 할 수 없는 변경입니다.",
  not_disputed: "이미 처리된 분쟁입니다.",
  unknown_member: "그런 회원이 없습니다.",
  unknown_checkin: "그런 입장 기록이 없습니다.",
  unknown_center: "그런 센터가 없습니다.",
  username_taken: "이미 있는 아이디입니다.",
  weak_password: "비밀번호는 10자 이상이어야 합니다.",
  invalid_username: "아이디는 2~40자(글자·숫자·._-@)입니다.",
  invalid_notice: "공지에는 한국어와 영어 문장이 모두 필요합니다.",
  invalid_month: "월을 골라 주세요.",
  invalid_chat_url: "채팅 링크는 https:// 로 시작해야 합니다.",
  invalid_phone: "전화번호에는 숫자와 -만 씁니다.",
  cannot_disable_self: "자기 계정은 끌 수 없습니다.",
  storage_unavailable: "서버가 지금 저장할 수 없습니다. 잠시 뒤 다시 해 주세요.",
  network: "서버에 연결할 수 없습니다. 네트워크를 확인하고 다시 해 주세요.",
  unknown_desk: "그런 데스크가 없습니다.",
  desk_revoked: "연결이 해제된 데스크는 로그를 보낼 수 없습니다.",
  unknown_log: "이 로그는 아직 올라오지 않았습니다.",
  release_not_ready: "이 버전의 서명된 매니페스트와 설치 파일을 먼저 올려 주세요.",
  rollout_halted: "중단된 배포는 다시 시작할 수 없습니다. 새 버전을 서명해 주세요.",
  invalid_quiet_hours: "설치 시간은 02:00-05:00처럼 시작과 끝을 적어 주세요. 아무 때나 설치하려면 비워 두세요.",
  invalid_percent: "비율은 0에서 100 사이입니다.",
};

const STATUS = {
  admitted: "입장", pending: "확인 대기", denied: "거절", voided: "취소", expired: "만료", disputed: "분쟁",
};

const TEMPLATES = [
  { name: "서버 점검 예고 / planned maintenance", severity: "warning",
    ko: "오늘 22:00부터 30분 동안 서버 점검이 있습니다. 점검 중에도 데스크에서 입장할 수 있습니다.",
    en: "Server maintenance today from 22:00 for 30 minutes. You can still check in at the desk meanwhile." },
  { name: "일시 장애 / temporary outage", severity: "warning",
    ko: "일시적인 서버 문제로 앱 입장이 늦어질 수 있습니다. 회원님의 정보와 입장 기록은 안전합니다. 앱이 안 되면 '오프라인 입장권'을 데스크에 보여 주세요.",
    en: "A temporary server problem may slow down app check-in. Your data and visits are safe. If the app fails, show your offline pass at the desk." },
  { name: "복구 완료 / resolved", severity: "info",
    ko: "서버 문제가 해결되었습니다. 불편을 드려 죄송합니다.",
    en: "The server problem is resolved. We are sorry for the trouble." },
];

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "checked") el.checked = true;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString("ko-KR", { timeZone: "Asia/Seoul", hour12: false });
}

function toast(text, bad) {
  const el = $("#toast");
  el.textContent = text;
  el.className = bad ? "bad" : "";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
  get korean() { return ERRORS[this.code] || this.message; }
}

async function api(path, options = {}) {
  const method = options.method || "GET";
  const headers = { accept: "application/json" };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.raw !== undefined) headers["content-type"] = options.contentType;
  if (method !== "GET" && state.session) headers["x-csrf-token"] = state.session.csrf_token;
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: options.raw !== undefined ? options.raw : options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch (_) {
    throw new ApiError("network", ERRORS.network);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  if (options.text && response.ok) return text;
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!response.ok) {
    const error = (body && body.error) || {};
    const code = error.code || "http_" + response.status;
    if (code === "session_expired" || code === "login_required") showLogin();
    throw new ApiError(code, error.message || "오류 " + response.status);
  }
  return body;
}

async function act(work, done) {
  try {
    const result = await work();
    if (done) toast(done);
    return result;
  } catch (error) {
    toast(error instanceof ApiError ? error.korean : String(error), true);
    return undefined;
  }
}

// ----- login ---------------------------------------------------------------------------------

function showLogin() {
  state.session = null;
  if (state.source) { state.source.close(); state.source = null; }
  $("#view-app").hidden = true;
  $("#view-login").hidden = false;
}

async function showApp(session) {
  state.session = session;
  $("#view-login").hidden = true;
  $("#view-app").hidden = false;
  $("#who").textContent = `${session.username} (${session.role})`;
  for (const button of document.querySelectorAll(".tabs button[data-role]")) {
    button.hidden = session.role !== button.dataset.role;
  }
  startLive();
  // An admin without a second factor can do nothing else yet: straight to setting it up.
  if (session.role === "admin" && !session.totp) state.tab = "me";
  await openTab(state.tab);
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("#login-error").textContent = "";
  try {
    const body = { username: $("#login-username").value, password: $("#login-password").value };
    const second = $("#login-totp").value.trim();
    if (second) {
      // Six digits are the app's code; anything else is a recovery code.
      if (/^\d{6}$/.test(second.replace(/\s/g, ""))) body.totp = second; else body.recovery_code = second;
    }
    const session = await api("/api/v1/console/login", { method: "POST", body });
    $("#login-password").value = "";
    $("#login-totp").value = "";
    $("#login-totp-row").hidden = true;
    await showApp(session);
  } catch (error) {
    if (error instanceof ApiError && (error.code === "totp_required" || error.code === "wrong_totp")) {
      $("#login-totp-row").hidden = false;
      $("#login-totp").focus();
    }
    $("#login-error").textContent = error instanceof ApiError ? error.korean : String(error);
  }
});

$("#logout").addEventListener("click", async () => {
  await act(() => api("/api/v1/console/logout", { method: "POST" }));
  showLogin();
});

// ----- tabs ----------------------------------------------------------------------------------

const LOADERS = {
  // The stream's view when it has one (its changes apply to that), else the page as asked.
  now: async () => renderNow(state.now || await api("/api/v1/admin/now")),
  incidents: loadIncidents,
  notices: loadNotices,
  members: async () => { if (!$("#member-rows").children.length) await searchMembers(false); },
  disputes: loadDisputes,
  review: loadReview,
  settlement: loadSettlement,
  audit: loadAudit,
  accounts: loadAccounts,
  support: loadSupport,
  hours: loadHours,
  releases: loadReleases,
  me: async () => loadMe(),
};

async function openTab(tab) {
  state.tab = tab;
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== "tab-" + tab;
  await act(LOADERS[tab]);
}

for (const button of document.querySelectorAll(".tabs button")) {
  button.addEventListener("click", () => openTab(button.dataset.tab));
}

// ----- now -----------------------------------------------------------------------------------

// The live page: the whole view once (`now`), then only what changed (`now-delta`): with
// 1,500 centers and 10,000 desks the whole view is megabytes, a tick's changes a few rows.
function startLive() {
  if (state.source) state.source.close();
  const source = new EventSource("/api/v1/admin/now/stream");
  state.source = source;
  state.now = null;
  source.addEventListener("now", (event) => {
    $("#live").dataset.live = "true";
    $("#live").textContent = "실시간 Live";
    try {
      state.now = JSON.parse(event.data);
      renderNow(state.now);
    } catch (_) { startLive(); }
  });
  source.addEventListener("now-delta", (event) => {
    $("#live").dataset.live = "true";
    $("#live").textContent = "실시간 Live";
    if (!state.now) return;
    try {
      patchNow(state.now, JSON.parse(event.data));
    } catch (_) {
      // A change lost is a page wrong from then on: start again from the whole view.
      startLive();
    }
  });
  // The session ended (logout elsewhere, disabled, expired, role changed): log in again.
  source.addEventListener("ended", () => {
    source.close();
    state.source = null;
    showLogin();
  });
  source.addEventListener("error", () => {
    $("#live").dataset.live = "false";
    $("#live").textContent = "연결 끊김 — 다시 연결 중 / reconnecting";
  });
}

/** Applies a change to the view the stream sent; redraws only the rows that changed, the
 *  whole table only when desks or centers came or went. */
function patchNow(view, delta) {
  view.at = delta.at;
  const goneCenters = new Set(delta.gone_centers || []);
  const goneDesks = new Set(delta.gone_desks || []);
  let whole = goneCenters.size > 0 || goneDesks.size > 0 || (delta.centers || []).length > 0;
  view.centers = view.centers.filter((c) => !goneCenters.has(c.id));
  for (const center of view.centers) center.desks = center.desks.filter((d) => !goneDesks.has(d.desk.id));
  const byId = new Map(view.centers.map((c) => [c.id, c]));
  for (const named of delta.centers || []) {
    const center = byId.get(named.id);
    if (center) center.name = named.name;
    else { const fresh = { id: named.id, name: named.name, desks: [] }; view.centers.push(fresh); byId.set(named.id, fresh); }
  }
  const rows = [];
  for (const changed of delta.desks || []) {
    const center = byId.get(changed.desk.center_id);
    if (!center) continue;
    const at = center.desks.findIndex((d) => d.desk.id === changed.desk.id);
    if (at < 0) { center.desks.push(changed); whole = true; continue; }
    // A desk that became troubled or well again moves in the list: draw it whole.
    if (problemsOf(center.desks[at].desk).length !== problemsOf(changed.desk).length) whole = true;
    center.desks[at] = changed;
    rows.push([center, changed]);
  }
  if (delta.open_incidents) view.open_incidents = delta.open_incidents;
  if (delta.taps) view.taps = delta.taps;
  if (whole) {
    view.centers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const center of view.centers) center.desks.sort((a, b) => (a.desk.name < b.desk.name ? -1 : a.desk.name > b.desk.name ? 1 : 0));
    renderNow(view);
    return;
  }
  $("#now-at").textContent = when(view.at);
  if (delta.open_incidents) renderIncidentsNow(view);
  if (delta.taps) renderTaps(view);
  for (const [center, changed] of rows) {
    const old = document.querySelector(`#now-desks tr[data-id="${CSS.escape(changed.desk.id)}"]`);
    if (old) old.replaceWith(deskRow(center, changed));
  }
}

function impactLine(impact) {
  return h("div", { class: "impact" },
    h("span", {}, "거절된 입장 ", h("b", {}, impact.taps_refused), " · 실패 ", h("b", {}, impact.taps_failed)),
    h("span", {}, "영향 센터 ", h("b", {}, impact.centers_affected), " · 데스크 ", h("b", {}, impact.desks_affected)),
    h("span", {}, "나중에 동기화된 오프라인 입장 ", h("b", {}, impact.offline_synced)),
    h("span", {}, "생긴 분쟁 ", h("b", {}, impact.disputes_raised)));
}

function renderIncidentsNow(view) {
  $("#now-incidents").replaceChildren(...view.open_incidents.map((i) =>
    h("div", { class: "card incident" }, h("b", {}, "진행 중 장애: ", i.title), impactLine(i.impact))));
}

function renderTaps(view) {
  const max = Math.max(1, ...view.taps.map((m) => m.answered));
  $("#now-taps").replaceChildren(...view.taps.map((m) => {
    const bar = h("div", { class: m.failed ? "bar failed" : "bar", title: `${when(m.at)} ${m.answered}건 (실패 ${m.failed})` });
    bar.style.height = `${Math.round((m.answered / max) * 60)}px`;
    return bar;
  }), h("span", { class: "muted" }, view.taps.length ? ` 최근 ${view.taps.reduce((a, m) => a + m.answered, 0)}건` : " 최근 15분 입장 없음"));
}

/** What is wrong with a desk (its health, issue 25): empty when it is well. */
function problemsOf(desk) {
  return (desk.health && desk.health.problems) || [];
}

function healthCell(desk) {
  const problems = problemsOf(desk);
  if (!desk.health) return h("td", { class: "muted desk-health" }, "—");
  if (!problems.length) {
    const h24 = desk.health;
    return h("td", { class: "desk-health ok", title: `재시작 ${h24.restarts_24h}회 · 디스크 ${h24.disk_free_mb ?? "?"} MB` }, "정상 OK");
  }
  return h("td", { class: "desk-health bad", "data-problems": problems.map((p) => p.code).join(" ") },
    ...problems.map((p) => h("div", { title: p.text_en }, p.text_ko)));
}

function deskRow(center, { desk, clock_skew_s }) {
  const status = desk.online
    ? h("span", { class: "ok" }, "온라인 online")
    : h("span", { class: "bad" }, "오프라인 offline", desk.offline_since ? ` (${when(desk.offline_since)}부터)` : "");
  const skew = clock_skew_s === null || clock_skew_s === undefined ? "—"
    : h("span", { class: Math.abs(clock_skew_s) > 120 ? "warn" : "" }, `${clock_skew_s > 0 ? "+" : ""}${clock_skew_s}초`);
  return h("tr", { class: "desk", "data-id": desk.id, "data-online": String(desk.online) },
    h("td", {}, center.name), h("td", {}, desk.name), h("td", { class: "desk-status" }, status),
    h("td", {}, desk.app_version || "—"),
    h("td", { class: desk.outbox_backlog > 0 ? "warn" : "" }, desk.outbox_backlog), h("td", {}, skew),
    healthCell(desk),
    h("td", {}, h("button", { class: "secondary desk-logs", type: "button", onclick: () => act(() => openDeskLogs(center, desk)) },
      "로그 ", h("small", {}, "Log"))));
}

// ----- desk releases and rollouts ------------------------------------------------------------

const ROLLOUT_STATE = { active: "배포 중 active", paused: "일시 중지 paused", halted: "중단 halted" };

async function loadReleases() {
  const [overview, centers] = await Promise.all([api("/api/v1/admin/releases"), api("/api/v1/admin/centers")]);
  const names = Object.fromEntries(centers.map((c) => [c.id, c.name]));
  const action = (version, what, label) => h("button", { class: `secondary rollout-${what}`, type: "button", onclick: () => act(async () => {
    await api(`/api/v1/admin/rollouts/${encodeURIComponent(version)}/${what}`, { method: "POST" });
    await loadReleases();
  }) }, label);
  $("#rollout-rows").replaceChildren(...overview.rollouts.map((r) => h("tr", { "data-version": r.version, "data-state": r.state },
    h("td", {}, r.version), h("td", { class: r.state === "active" ? "ok" : "warn" }, ROLLOUT_STATE[r.state] || r.state, r.reason ? h("div", { class: "muted" }, r.reason) : ""),
    h("td", {}, r.canary_centers.map((id) => names[id] || id).join(", ") || "—"), h("td", {}, `${r.percent}%`),
    h("td", { class: "rollout-quiet-hours" }, r.quiet_hours || "한가할 때 언제나 / any quiet moment"),
    h("td", {}, r.desks_on_it),
    h("td", {}, r.state === "active" ? action(r.version, "pause", "일시 중지 Pause") : r.state === "paused" ? action(r.version, "resume", "재개 Resume") : "",
      r.state !== "halted" ? action(r.version, "halt", "중단 Halt") : ""))));
  if (!overview.rollouts.length) $("#rollout-rows").replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "배포가 없습니다. / No rollouts.")));
  $("#rollout-version").replaceChildren(...overview.releases.filter((r) => r.ready).map((r) =>
    h("option", { value: r.version }, `${r.version} — ${r.notes_ko} (${Math.ceil(r.size / 1024)} KB)`)));
  $("#rollout-canaries").replaceChildren(h("legend", {}, "시범 센터 ", h("small", {}, "Canary centers")),
    ...centers.map((c) => h("label", {}, h("input", { type: "checkbox", value: c.id, class: "rollout-canary" }), c.name)));
  // Widening a rollout starts from its hours as they are.
  const hoursOf = (version) => (overview.rollouts.find((r) => r.version === version) || {}).quiet_hours || "";
  $("#rollout-version").onchange = () => { $("#rollout-quiet").value = hoursOf($("#rollout-version").value); };
  $("#rollout-quiet").value = hoursOf($("#rollout-version").value);
  $("#fleet").replaceChildren(...overview.fleet.map((f) => h("li", {}, `${f.version}: ${f.desks}대`)));
  $("#update-failures").replaceChildren(...overview.failures.map((f) => h("li", { class: "bad" }, `${names[f.center_id] || f.center_id} ${f.name}: ${f.update}`)));
  if (!overview.failures.length) $("#update-failures").replaceChildren(h("li", { class: "muted" }, "없음 / none"));
}

$("#rollout-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    const version = $("#rollout-version").value;
    const canary_centers = [...document.querySelectorAll(".rollout-canary:checked")].map((c) => c.value);
    const percent = Number($("#rollout-percent").value || 0);
    const quiet_hours = $("#rollout-quiet").value.trim();
    await api(`/api/v1/admin/rollouts/${encodeURIComponent(version)}`, { method: "PUT", body: { canary_centers, percent, quiet_hours } });
    await loadReleases();
  }, "배포를 바꿨습니다. 연결된 데스크가 곧 받습니다. / Rollout changed; connected desks hear of it now.");
});

// ----- a desk's log (asked of the desk, uploaded redacted; every step audited) ---------------

async function openDeskLogs(center, desk) {
  const panel = $("#desk-log");
  panel.hidden = false;
  panel.dataset.desk = desk.id;
  $("#desk-log-title").textContent = `${center.name} · ${desk.name}`;
  $("#desk-log-text").textContent = "";
  await listDeskLogs(desk.id);
  panel.scrollIntoView({ block: "nearest" });
}

async function listDeskLogs(deskId) {
  const logs = await api(`/api/v1/admin/desks/${encodeURIComponent(deskId)}/logs`);
  $("#desk-log-list").replaceChildren(...logs.map((log) => h("li", { "data-id": log.request_id },
    `${when(log.requested_at)} · ${log.requested_by} · `,
    log.uploaded_at
      ? h("button", { class: "secondary desk-log-open", type: "button", onclick: () => act(async () => {
        $("#desk-log-text").textContent = await api(`/api/v1/admin/desk-logs/${encodeURIComponent(log.request_id)}`, { text: true });
      }) }, `보기 (${Math.ceil(log.bytes / 1024)} KB, ${when(log.uploaded_at)}) `, h("small", {}, "Open"))
      : h("span", { class: "muted desk-log-waiting" }, "데스크가 보내기를 기다리는 중 / waiting for the desk"))));
  if (!logs.length) $("#desk-log-list").replaceChildren(h("li", { class: "muted" }, "요청한 로그가 없습니다. / No logs asked for yet."));
}

$("#desk-log-request").addEventListener("click", () => act(async () => {
  const deskId = $("#desk-log").dataset.desk;
  const asked = await api(`/api/v1/admin/desks/${encodeURIComponent(deskId)}/log-request`, { method: "POST" });
  await listDeskLogs(deskId);
  return asked;
}, "로그를 요청했습니다. 데스크가 연결되어 있으면 곧 올라옵니다. / Asked; a connected desk sends it shortly."));
$("#desk-log-refresh").addEventListener("click", () => act(() => listDeskLogs($("#desk-log").dataset.desk)));
$("#desk-log-close").addEventListener("click", () => { $("#desk-log").hidden = true; });

function renderNow(view) {
  state.centers = view.centers.map((c) => ({ id: c.id, name: c.name }));
  $("#now-at").textContent = when(view.at);
  renderIncidentsNow(view);
  renderTaps(view);
  // Troubled desks first (most problems first), then every center in order.
  const troubled = [];
  const rows = [];
  for (const center of view.centers) {
    if (!center.desks.length) {
      rows.push(h("tr", {}, h("td", {}, center.name), h("td", { class: "muted", colspan: 7 }, "연결된 데스크 없음 / no desk")));
    }
    for (const desk of center.desks) {
      if (problemsOf(desk.desk).length) troubled.push([center, desk]);
      else rows.push(deskRow(center, desk));
    }
  }
  troubled.sort((a, b) => problemsOf(b[1].desk).length - problemsOf(a[1].desk).length);
  $("#now-desks").replaceChildren(...troubled.map(([center, desk]) => deskRow(center, desk)), ...rows);
}

// ----- incidents -----------------------------------------------------------------------------

async function loadIncidents() {
  const list = await api("/api/v1/admin/incidents/view?limit=50");
  $("#incident-list").replaceChildren(...list.map((view) => {
    const notes = {};
    const field = (key, label) => {
      notes[key] = h("textarea", { maxlength: 4000, class: "incident-" + key });
      notes[key].value = view[key] || "";
      return h("label", {}, label, notes[key]);
    };
    const save = h("button", { class: "secondary incident-save", type: "button", onclick: () => act(async () => {
      await api(`/api/v1/admin/incidents/${encodeURIComponent(view.id)}`, {
        method: "PATCH",
        body: { cause: notes.cause.value, action: notes.action.value, follow_up: notes.follow_up.value },
      });
    }, "저장했습니다. / Saved.") }, "메모 저장 ", h("small", {}, "Save notes"));
    const draft = view.notice_draft && h("div", { class: "card" },
      h("b", {}, "준비된 공지 / prepared notice"), h("p", {}, view.notice_draft.text_ko), h("p", { class: "muted" }, view.notice_draft.text_en),
      h("button", { class: "primary incident-notice", type: "button", onclick: () => act(async () => {
        await api("/api/v1/admin/notices", { method: "POST", body: view.notice_draft });
      }, "공지를 올렸습니다. / Notice posted.") }, "이 공지 올리기 ", h("small", {}, "Post it")));
    return h("div", { class: view.ended_at ? "card incident ended" : "card incident", "data-id": view.id },
      h("b", {}, view.title), " ",
      h("span", { class: "muted" }, `${when(view.started_at)} – ${view.ended_at ? when(view.ended_at) : "진행 중 ongoing"}`),
      impactLine(view.impact), draft,
      field("cause", "원인 Cause"), field("action", "조치 Action"), field("follow_up", "재발 방지 Follow-up"), save);
  }));
  if (!list.length) $("#incident-list").replaceChildren(h("p", { class: "muted" }, "기록된 장애가 없습니다. / No incidents."));
}

// ----- notices -------------------------------------------------------------------------------

for (const [i, t] of TEMPLATES.entries()) $("#notice-template").append(h("option", { value: i }, t.name));
$("#notice-template").addEventListener("change", () => {
  const t = TEMPLATES[$("#notice-template").value];
  if (!t) return;
  $("#notice-ko").value = t.ko;
  $("#notice-en").value = t.en;
  $("#notice-severity").value = t.severity;
});

async function loadNotices() {
  const [notices, centers] = await Promise.all([api("/api/v1/admin/notices"), api("/api/v1/admin/centers")]);
  const box = $("#notice-centers");
  box.replaceChildren(...centers.map((c) => h("label", {}, h("input", { type: "checkbox", value: c.id, class: "notice-center" }), c.name)));
  $("#notice-list").replaceChildren(...notices.map((n) => h("li", { "data-id": n.id },
    h("b", {}, n.text_ko), h("div", { class: "muted" }, n.text_en),
    h("button", { class: "secondary notice-clear", type: "button", onclick: () => act(async () => {
      await api(`/api/v1/admin/notices/${encodeURIComponent(n.id)}`, { method: "DELETE" });
      await loadNotices();
    }, "공지를 내렸습니다. / Cleared.") }, "내리기 ", h("small", {}, "Clear")))));
}

$("#notice-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    const center_ids = [...document.querySelectorAll(".notice-center:checked")].map((c) => c.value);
    await api("/api/v1/admin/notices", {
      method: "POST",
      body: { severity: $("#notice-severity").value, text_ko: $("#notice-ko").value, text_en: $("#notice-en").value, center_ids },
    });
    $("#notice-ko").value = ""; $("#notice-en").value = ""; $("#notice-template").value = "";
    await loadNotices();
  }, "공지를 올렸습니다. / Notice posted.");
});

// ----- members -------------------------------------------------------------------------------

async function searchMembers(more) {
  const q = $("#member-q").value.trim();
  const params = new URLSearchParams({ limit: "50" });
  if (q) params.set("q", q);
  if (more && state.memberNext) params.set("after", state.memberNext);
  const page = await api("/api/v1/admin/members?" + params);
  const rows = page.members.map((m) => h("tr", { class: "member", "data-no": m.member_no, tabindex: 0,
    onclick: () => act(() => showMember(m.member_no)),
    onkeydown: (e) => { if (e.key === "Enter") act(() => showMember(m.member_no)); } },
  h("td", {}, m.member_no), h("td", {}, m.name), h("td", {}, m.phone), h("td", {}, m.plan), h("td", {}, m.valid_until),
  h("td", {}, m.blocked ? h("span", { class: "bad" }, "차단 blocked") : "정상")));
  if (more) $("#member-rows").append(...rows); else $("#member-rows").replaceChildren(...rows);
  state.memberNext = page.next;
  $("#member-more").hidden = !page.next;
  if (!more && !rows.length) $("#member-rows").replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "찾은 회원이 없습니다. / No member found.")));
}

$("#member-form").addEventListener("submit", (event) => { event.preventDefault(); act(() => searchMembers(false)); });
$("#member-more").addEventListener("click", () => act(() => searchMembers(true)));

function reasonBox(label, onConfirm) {
  const input = h("input", { class: "visit-reason", placeholder: "사유 (필수) / reason", maxlength: 500 });
  const box = h("div", { class: "inline-reason" }, input,
    h("button", { class: "danger visit-confirm", type: "button", onclick: () => {
      if (!input.value.trim()) { toast(ERRORS.reason_required, true); return; }
      onConfirm(input.value.trim());
    } }, label),
    h("button", { class: "secondary", type: "button", onclick: () => box.remove() }, "그만두기"));
  setTimeout(() => input.focus(), 0);
  return box;
}

async function showMember(memberNo) {
  const d = await api(`/api/v1/admin/members/${encodeURIComponent(memberNo)}`);
  const m = d.member;
  const panel = $("#member-detail");
  const reload = () => showMember(memberNo);
  const lock = d.pin_lock.locked_until
    ? h("span", { class: "bad" }, `PIN 잠김 (${when(d.pin_lock.locked_until)}까지)`)
    : h("span", {}, `틀린 PIN ${d.pin_lock.failures}회`);
  const pinOut = h("div", { id: "member-new-pin" });
  const actions = h("div", { class: "row" },
    h("button", { class: "secondary member-unlock", type: "button", onclick: () => act(async () => {
      await api(`/api/v1/admin/members/${encodeURIComponent(memberNo)}/unlock`, { method: "POST" }); await reload();
    }, "PIN 잠금을 풀었습니다.") }, "PIN 잠금 풀기 ", h("small", {}, "Unlock")),
    h("button", { class: "secondary member-reset-pin", type: "button", onclick: () => act(async () => {
      const reset = await api(`/api/v1/admin/members/${encodeURIComponent(memberNo)}/reset-pin`, { method: "POST" });
      pinOut.replaceChildren(h("p", {}, "새 PIN (한 번만 보입니다, 회원에게 알려 주세요) / new PIN, shown once:"), h("div", { class: "pin" }, reset.pin));
    }) }, "PIN 초기화 ", h("small", {}, "Reset PIN")),
    h("button", { class: m.blocked ? "secondary member-block" : "danger member-block", type: "button", onclick: (e) => {
      e.currentTarget.after(reasonBox(m.blocked ? "차단 풀기" : "차단", (reason) => act(async () => {
        await api(`/api/v1/admin/members/${encodeURIComponent(memberNo)}/block`, { method: "POST", body: { blocked: !m.blocked, reason } });
        await reload();
      }, m.blocked ? "차단을 풀었습니다." : "차단했습니다.")));
    } }, m.blocked ? "차단 풀기 " : "차단 ", h("small", {}, m.blocked ? "Unblock" : "Block")));
  const visits = d.visits.map((c) => {
    const cell = h("td", { class: "visit-actions" });
    if (c.status === "admitted" || c.status === "pending") {
      cell.append(h("button", { class: "danger visit-void", type: "button", onclick: (e) => {
        e.currentTarget.after(reasonBox("취소 확정 Void", (reason) => act(async () => {
          await api(`/api/v1/admin/checkins/${encodeURIComponent(c.id)}/void`, { method: "POST", body: { reason } });
          await reload();
        }, "입장을 취소했습니다. / Visit voided.")));
      } }, "취소 ", h("small", {}, "Void")));
    } else if (["voided", "denied", "expired"].includes(c.status)) {
      cell.append(h("button", { class: "secondary visit-correct", type: "button", onclick: (e) => {
        e.currentTarget.after(reasonBox("정정 확정 Correct", (reason) => act(async () => {
          await countAnyway(`/api/v1/admin/checkins/${encodeURIComponent(c.id)}/correct`, reason);
          await reload();
        }, "입장으로 정정했습니다. / Corrected to admitted.")));
      } }, "입장으로 정정 ", h("small", {}, "Correct")));
    }
    return h("tr", { class: "visit", "data-id": c.id, "data-status": c.status },
      h("td", {}, when(c.at)), h("td", {}, c.center_name), h("td", {}, c.method),
      h("td", {}, h("b", {}, STATUS[c.status] || c.status), h("ul", { class: "history" },
        c.history.map((x) => h("li", {}, `${when(x.at)} ${STATUS[x.status] || x.status} · ${x.by}${x.reason ? " · " + x.reason : ""}`)))),
      cell);
  });
  panel.replaceChildren(
    h("h2", {}, `${m.name} `, h("small", {}, m.member_no)),
    h("p", {}, `${m.plan} · ${m.valid_from} ~ ${m.valid_until} · 이번 달 남은 횟수 ${m.visits_left === null ? "무제한" : m.visits_left + "회"} · ${d.phone}`),
    h("p", {}, m.blocked ? h("span", { class: "bad" }, `차단됨${d.blocked_reason ? " (" + d.blocked_reason + ")" : ""}`) : "정상 이용 중", " · ", lock),
    actions, pinOut,
    h("h3", {}, "입장 기록 ", h("small", {}, "Visits, with every change and who made it")),
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, "시각"), h("th", {}, "센터"), h("th", {}, "방법"), h("th", {}, "상태와 기록"), h("th", {}, ""))),
      h("tbody", { id: "visit-rows" }, visits)));
  panel.hidden = false;
  panel.dataset.memberNo = memberNo;
}

/** Makes a visit count. The server runs the rules again; if they refuse it now (the member
 * already has a visit that day there, the month is used up…), the operator is asked whether
 * to override them, and the override goes into the audit log with the reason. */
async function countAnyway(path, reason) {
  try {
    return await api(path, { method: "POST", body: { reason } });
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "rules_refuse") throw error;
    if (!window.confirm(`${error.message}\n\n규칙을 무시하고 인정할까요? (감사 기록에 남습니다) / Override the rules? (audited)`)) throw error;
    return api(path, { method: "POST", body: { reason, override_rules: true } });
  }
}

// ----- disputes ------------------------------------------------------------------------------

async function loadDisputes() {
  const list = await api("/api/v1/admin/disputes");
  $("#dispute-rows").replaceChildren(...list.map((d) => {
    const c = d.checkin;
    const decide = (accept) => (e) => {
      e.currentTarget.closest("td").append(reasonBox(accept ? "승인 확정 Accept" : "거절 확정 Reject", (reason) => act(async () => {
        const path = `/api/v1/admin/disputes/${encodeURIComponent(c.id)}/${accept ? "accept" : "reject"}`;
        if (accept) await countAnyway(path, reason);
        else await api(path, { method: "POST", body: { reason } });
        await loadDisputes();
      }, accept ? "승인했습니다. 정산에 들어갑니다." : "거절했습니다.")));
    };
    return h("tr", { class: "dispute", "data-id": c.id },
      h("td", {}, h("input", { type: "checkbox", class: "dispute-pick", value: c.id })),
      h("td", {}, `${d.member_name} (${d.member_no})`),
      h("td", {}, `${c.center_name} · ${d.desk_name || "—"}`),
      h("td", {}, when(c.at)), h("td", {}, c.dispute ? when(c.dispute.synced_at) : ""),
      h("td", {}, c.dispute ? c.dispute.reason : "",
        d.member_statement ? h("div", { class: "member-statement" }, `회원: “${d.member_statement}”`) : null),
      h("td", {}, h("button", { class: "secondary dispute-accept", type: "button", onclick: decide(true) }, "승인"), " ",
        h("button", { class: "danger dispute-reject", type: "button", onclick: decide(false) }, "거절")));
  }));
  if (!list.length) $("#dispute-rows").replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "처리할 분쟁이 없습니다. / Nothing to decide.")));
}

async function bulk(accept) {
  const ids = [...document.querySelectorAll(".dispute-pick:checked")].map((c) => c.value);
  if (!ids.length) { toast("먼저 분쟁을 골라 주세요. / Pick some first.", true); return; }
  const reason = $("#dispute-bulk-reason").value.trim();
  if (!accept && !reason) { toast(ERRORS.reason_required, true); return; }
  await act(async () => {
    const result = await api("/api/v1/admin/disputes/bulk", { method: "POST", body: { checkin_ids: ids, accept, reason: reason || null } });
    const refused = result.skipped.filter(([, why]) => why === "rules_refuse").length;
    const skipped = (result.skipped.length - refused ? ` ${result.skipped.length - refused}건은 하나씩 처리해야 합니다 (신원 관련).` : "")
      + (refused ? ` ${refused}건은 지금도 규칙에 어긋나 승인하지 않았습니다 (같은 날 두 번째 방문 등). 하나씩 확인해 주세요.` : "");
    toast(`${result.decided.length}건 처리했습니다.${skipped}`, result.skipped.length > 0);
    await loadDisputes();
  });
}
$("#dispute-bulk-accept").addEventListener("click", () => bulk(true));
$("#dispute-bulk-reject").addEventListener("click", () => bulk(false));

// ----- fraud review --------------------------------------------------------------------------

const SIGNAL_KINDS = {
  staff_share: "직원 기록 비율 Staff-recorded share",
  suspicious_records: "의심 기록 Suspicious records",
  impossible_travel: "불가능한 이동 Impossible travel",
  month_end_burst: "월말 급증 Month-end burst",
  not_me: "'제가 아닙니다' Not me",
  desk_lookups: "데스크 조회 급증 Desk lookups",
};
const EVIDENCE = { app: "앱", "app+presence": "앱+현장QR", pass: "패스", roster: "명단", manual: "수기" };
const SUSPICION = { before_pairing: "페어링 전 방문", after_empty_outbox: "빈 전송함 보고 전 방문", late_from_online_desk: "온라인 데스크의 늦은 전송" };
const CONFIRMATION = { by_evidence: "본인 증거", unconfirmed: "확인 대기", member: "회원 확인", not_me: "회원 이의", operator: "운영팀 결정" };

async function loadReview() {
  const list = await api("/api/v1/admin/signals");
  if (!list.length) {
    $("#review-list").replaceChildren(h("p", { class: "muted" }, "지금은 의심 신호가 없습니다. / No signals now."));
    return;
  }
  $("#review-list").replaceChildren(...list.map((s) => {
    const reason = h("input", { class: "review-reason", placeholder: "검토 사유 (필수) / reason", maxlength: 500 });
    const put = h("button", { class: "danger review-put", type: "button", onclick: () => !reason.value.trim()
      ? toast(ERRORS.reason_required, true)
      : act(async () => {
      await api(`/api/v1/admin/centers/${encodeURIComponent(s.center_id)}/confirmation`, {
        method: "PUT", body: { confirm_days: 7, under_review: true, reason: reason.value.trim() },
      });
      await loadReview();
    }, "검토 대상으로 지정했습니다. 직원 기록 입장은 회원 확인 후 정산됩니다.") }, "검토 대상 지정");
    return h("div", { class: "card signal", "data-kind": s.kind, "data-center": s.center_id },
      h("h3", {}, SIGNAL_KINDS[s.kind] || s.kind, " · ", s.center_name,
        s.under_review ? h("span", { class: "bad review-on" }, " 검토 중 Under review") : null),
      h("p", {}, s.text_ko), h("p", { class: "muted" }, s.text_en),
      h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ...["회원 Member", "센터 Center", "입장 Visit", "증거 Evidence", "확인 Confirmation", "의심 Suspicion", "데스크 Desk", "상태 Status"].map((c) => h("th", {}, c)))),
        h("tbody", {}, s.visits.map((v) => h("tr", { class: "signal-visit", "data-id": v.checkin_id },
          h("td", {}, v.member_no), h("td", {}, v.center_name), h("td", {}, when(v.at)),
          h("td", {}, EVIDENCE[v.evidence] || v.evidence), h("td", {}, CONFIRMATION[v.confirmation] || v.confirmation),
          h("td", { title: v.suspicion || "" }, (v.suspicion || "").split(",").filter(Boolean).map((c) => SUSPICION[c] || c).join(", ")), h("td", {}, v.desk_name || "—"), h("td", {}, v.status))))),
      s.under_review ? null : h("div", { class: "row" }, reason, put));
  }));
}

// ----- settlement ----------------------------------------------------------------------------

function thisMonth() {
  const seoul = new Date(Date.now() + 9 * 3600 * 1000);
  return seoul.toISOString().slice(0, 7);
}

async function loadSettlement() {
  if (!$("#settle-month").value) $("#settle-month").value = thisMonth();
  const month = $("#settle-month").value;
  $("#settle-csv").href = `/api/v1/admin/settlement.csv?month=${encodeURIComponent(month)}`;
  const list = await api(`/api/v1/admin/settlement?month=${encodeURIComponent(month)}`);
  $("#settle-rows").replaceChildren(...list.map((s) => {
    const t = s.totals;
    return h("tr", { class: "settle", "data-center": t.center_id },
      h("td", {}, t.center_name), h("td", { class: "settle-admitted" }, t.admitted), h("td", {}, t.voided), h("td", {}, t.denied),
      h("td", {}, t.expired), h("td", {}, t.disputed_accepted), h("td", {}, t.disputed_rejected), h("td", {}, t.disputed_open),
      h("td", { class: "settle-confirmed" }, t.confirmed), h("td", { class: "settle-unconfirmed" }, t.unconfirmed), h("td", {}, t.not_me),
      h("td", {}, h("button", { class: "link settle-statement", type: "button", onclick: () => showStatement(s) }, "명세 보기")));
  }));
}

function showStatement(s) {
  const box = $("#statement");
  box.replaceChildren(
    h("h3", {}, `${s.totals.center_name} ${s.month} 명세 `, h("small", {}, "Statement")),
    h("p", {}, `정산 입장 ${s.totals.admitted}건 (분쟁 승인 ${s.totals.disputed_accepted}건 포함), 취소 ${s.totals.voided}, 거절 ${s.totals.denied}, 만료 ${s.totals.expired}, 분쟁 미결 ${s.totals.disputed_open}`),
    h("p", {}, "월 다이제스트 / month digest: ", h("span", { class: "digest", id: "statement-digest" }, s.digest)),
    h("p", { class: "muted" }, "데스크 프로그램이 자기 기록으로 같은 날짜별 값을 계산해 빠지거나 두 번 센 입장이 없는지 확인합니다 (docs/settlement.md)."),
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, "날짜 Day"), h("th", {}, "건수 Check-ins"), h("th", {}, "다이제스트 Digest"))),
      h("tbody", {}, s.days.map((d) => h("tr", {}, h("td", {}, d.date), h("td", {}, d.count), h("td", { class: "digest" }, d.digest))))));
  box.hidden = false;
}

$("#settle-form").addEventListener("submit", (event) => { event.preventDefault(); act(loadSettlement); });
$("#settle-month").addEventListener("change", () => act(loadSettlement));

// ----- audit ---------------------------------------------------------------------------------

async function loadAudit() {
  const params = new URLSearchParams({ limit: "200" });
  if ($("#audit-member").value.trim()) params.set("member_no", $("#audit-member").value.trim());
  if ($("#audit-center").value.trim()) params.set("center_id", $("#audit-center").value.trim());
  const list = await api("/api/v1/admin/audit?" + params);
  const json = (v) => (v === null || v === undefined ? "" : JSON.stringify(v));
  $("#audit-rows").replaceChildren(...list.map((a) => h("tr", { class: "audit", "data-action": a.action },
    h("td", {}, when(a.at)), h("td", {}, a.actor), h("td", {}, a.action),
    h("td", {}, [a.member_no && `회원 ${a.member_no}`, a.center_id && `센터 ${a.center_id}`, a.target].filter(Boolean).join(" · ")),
    h("td", { class: "digest" }, json(a.before)), h("td", { class: "digest" }, json(a.after)))));
}
$("#audit-form").addEventListener("submit", (event) => { event.preventDefault(); act(loadAudit); });

// ----- accounts, support -----------------------------------------------------------------------

async function loadAccounts() {
  const list = await api("/api/v1/admin/operators");
  $("#account-rows").replaceChildren(...list.map((o) => h("tr", { class: "account", "data-username": o.username },
    h("td", {}, o.username), h("td", {}, o.role), h("td", {}, o.disabled ? h("span", { class: "bad" }, "꺼짐 disabled") : "사용 중"),
    h("td", {}, h("button", { class: "secondary", type: "button", onclick: () => act(async () => {
      await api(`/api/v1/admin/operators/${encodeURIComponent(o.username)}`, { method: "PATCH", body: { disabled: !o.disabled } });
      await loadAccounts();
    }, "바꿨습니다.") }, o.disabled ? "켜기 Enable" : "끄기 Disable"), " ",
    h("button", { class: "secondary account-reset", type: "button", onclick: () => act(async () => {
      const resetTotp = o.totp && window.confirm("2단계 인증도 초기화할까요? (휴대폰을 잃어버린 경우) / Also reset two-step login (a lost phone)?");
      const reset = await api(`/api/v1/admin/operators/${encodeURIComponent(o.username)}/reset-password`, { method: "POST", body: { reset_totp: Boolean(resetTotp) } });
      window.alert(`${reset.username}의 새 비밀번호 (한 번만 보입니다) / new password, shown once:\n\n${reset.password}`);
      await loadAccounts();
    }, "비밀번호를 초기화했습니다. 그 계정의 로그인은 모두 끝났습니다.") }, "비밀번호 초기화 ", h("small", {}, "Reset password"))))));
}

$("#account-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    await api("/api/v1/admin/operators", { method: "POST", body: {
      username: $("#account-username").value, password: $("#account-password").value, role: $("#account-role").value } });
    $("#account-username").value = ""; $("#account-password").value = "";
    await loadAccounts();
  }, "계정을 만들었습니다. / Account added.");
});

// ----- my account ------------------------------------------------------------------------------

function loadMe() {
  const session = state.session;
  $("#totp-needed").hidden = !(session && session.role === "admin" && !session.totp);
  $("#totp-state").textContent = session && session.totp
    ? "설정되어 있습니다. 로그인할 때 인증 앱의 코드를 함께 넣습니다. / On: log in with the app's code."
    : "아직 설정되지 않았습니다. / Not set up yet.";
  $("#totp-start").hidden = Boolean(session && session.totp);
}

$("#password-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    await api("/api/v1/console/password", { method: "POST", body: { current: $("#password-current").value, new: $("#password-new").value } });
    $("#password-current").value = ""; $("#password-new").value = "";
  }, "비밀번호를 바꿨습니다. 다른 곳의 로그인은 끝났습니다. / Password changed; other sessions ended.");
});

$("#totp-start").addEventListener("click", () => act(async () => {
  const setup = await api("/api/v1/console/totp/setup", { method: "POST" });
  $("#totp-secret").textContent = setup.secret;
  const box = $("#totp-qr");
  box.replaceChildren();
  if (typeof qrcode === "function") {
    const qr = qrcode(0, "M");
    qr.addData(setup.otpauth_url);
    qr.make();
    box.innerHTML = qr.createSvgTag({ cellSize: 4, margin: 2, scalable: false });
  }
  $("#totp-setup").hidden = false;
  $("#totp-code").focus();
}));

$("#totp-confirm").addEventListener("click", () => act(async () => {
  const codes = await api("/api/v1/console/totp/confirm", { method: "POST", body: { code: $("#totp-code").value.trim() } });
  $("#totp-setup").hidden = true;
  $("#totp-code-list").textContent = codes.codes.join("\n");
  $("#totp-codes").hidden = false;
  state.session.totp = true;
  loadMe();
  // The live page's stream was refused before; now it may open.
  startLive();
}, "2단계 인증을 켰습니다. / Two-step login is on."));

async function loadSupport() {
  const contact = await api("/api/v1/admin/support");
  $("#support-phone").value = contact.phone || "";
  $("#support-chat").value = contact.chat_url || "";
  $("#support-hours").value = contact.hours || "";
}

$("#support-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(() => api("/api/v1/admin/support", { method: "PUT", body: {
    phone: $("#support-phone").value, chat_url: $("#support-chat").value, hours: $("#support-hours").value } }),
  "저장했습니다. 회원 앱과 데스크에 보입니다. / Saved.");
});

// ----- opening hours -------------------------------------------------------------------------

const WEEKDAYS_KO = ["월", "화", "수", "목", "금", "토", "일"];
const dayLabel = (text) => (text === "closed" ? "휴무" : text === "24h" ? "24시간" : text);

async function loadHours() {
  const [centers, holidays] = await Promise.all([api("/api/v1/admin/centers"), api("/api/v1/admin/holidays")]);
  state.hoursCenters = centers;
  $("#hours-centers").replaceChildren(...centers.map((c) => h("tr", { "data-center": c.id },
    h("td", {}, c.name), h("td", { class: "hours-summary" }, c.hours),
    h("td", {}, h("button", { type: "button", class: "hours-edit", onclick: () => editHours(c) }, "편집 ", h("small", {}, "Edit"))))));
  $("#holiday-rows").replaceChildren(...holidays.map((d) => h("tr", { "data-date": d.date },
    h("td", {}, d.date), h("td", {}, d.name),
    h("td", {}, h("button", { type: "button", class: "holiday-remove", onclick: () => removeHoliday(d) }, "삭제 ", h("small", {}, "Remove"))))));
}

function editHours(center) {
  state.hoursEditing = center.id;
  const s = center.schedule;
  $("#hours-title").textContent = center.name;
  $("#hours-week").replaceChildren(...WEEKDAYS_KO.map((day, i) =>
    h("label", {}, day, h("input", { class: "hours-day", "data-day": i, maxlength: 20, value: dayLabel(s.week[i]) }))));
  $("#hours-holidays").value = s.holidays ? dayLabel(s.holidays) : "";
  $("#hours-closures").value = (s.closures || [])
    .map((c) => (c.from === c.to ? c.from : `${c.from}~${c.to}`) + (c.reason ? " " + c.reason : "")).join("\n");
  $("#hours-form").hidden = false;
  $("#hours-form").scrollIntoView({ block: "nearest" });
}

const DAY_TEXT = /^(\d{1,2}:\d{2}\s*[-~]\s*\d{1,2}:\d{2}|24h|24시간|휴무|closed)$/i;

function readSchedule() {
  const fix = (text) => {
    const t = text.trim() || "24h";
    if (!DAY_TEXT.test(t)) throw new ApiError("invalid_hours", `'${t}'을(를) 읽을 수 없습니다. 06:00-23:00, 24h, 휴무처럼 적어 주세요.`);
    return t === "24시간" ? "24h" : t === "휴무" ? "closed" : t.replace(/\s+/g, "").replace("~", "-");
  };
  const week = [...document.querySelectorAll(".hours-day")].map((input) => fix(input.value));
  const holidayText = $("#hours-holidays").value.trim();
  const closures = [];
  for (const line of $("#hours-closures").value.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const m = /^(\d{4}-\d{2}-\d{2})(?:\s*~\s*(\d{4}-\d{2}-\d{2}))?\s*(.*)$/.exec(line);
    if (!m) throw new ApiError("invalid_closure", `휴관 기간 '${line}'을(를) 읽을 수 없습니다. 2026-12-24~2026-12-26 사유처럼 적어 주세요.`);
    closures.push({ from: m[1], to: m[2] || m[1], reason: m[3] });
  }
  return { week, holidays: holidayText ? fix(holidayText) : null, closures };
}

$("#hours-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    await api(`/api/v1/admin/centers/${encodeURIComponent(state.hoursEditing)}/hours`, { method: "PUT", body: readSchedule() });
    $("#hours-form").hidden = true;
    await loadHours();
  }, "저장했습니다. 센터의 데스크에 곧 전해집니다. / Saved; the center's desks hear it now.");
});

$("#hours-cancel").addEventListener("click", () => { $("#hours-form").hidden = true; });

$("#hours-upload").addEventListener("change", () => {
  const file = $("#hours-upload").files[0];
  if (!file) return;
  $("#hours-csv-errors").hidden = true;
  act(async () => {
    try {
      const result = await api("/api/v1/admin/hours.csv", { method: "PUT", raw: await file.arrayBuffer(), contentType: "text/csv" });
      toast(`${result.rows}개 센터를 읽고 ${result.changed}개를 바꿨습니다. / ${result.changed} of ${result.rows} centers changed.`);
      await loadHours();
    } catch (error) {
      if (error instanceof ApiError) { $("#hours-csv-errors").textContent = error.message; $("#hours-csv-errors").hidden = false; }
      throw error;
    } finally {
      $("#hours-upload").value = "";
    }
  });
});

$("#holiday-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const date = $("#holiday-date").value;
  act(async () => {
    await api(`/api/v1/admin/holidays/${encodeURIComponent(date)}`, { method: "PUT", body: { name: $("#holiday-name").value } });
    $("#holiday-name").value = "";
    await loadHours();
  }, "공휴일을 저장했습니다. / Holiday saved.");
});

async function removeHoliday(day) {
  if (!confirm(`${day.date} ${day.name}을(를) 공휴일에서 뺄까요? / Remove this holiday?`)) return;
  await act(async () => {
    await api(`/api/v1/admin/holidays/${encodeURIComponent(day.date)}`, { method: "DELETE" });
    await loadHours();
  }, "공휴일에서 뺐습니다. / Holiday removed.");
}

// ----- start ---------------------------------------------------------------------------------

(async () => {
  try {
    await showApp(await api("/api/v1/console/session"));
  } catch (_) {
    showLogin();
  }
})();
