// gymgate member app: log in, choose a center, tap Enter, see the answer live.
// Plain JavaScript served by the server; no build step.
"use strict";

const T = {
  ko: {
    scanEntrance: "입구 QR로 입장", scanTitle: "입구 QR 코드를 비춰 주세요",
    scanHint: "데스크나 입구 화면의 QR 코드를 카메라에 비추면 바로 입장합니다.",
    scanNoCamera: "카메라를 쓸 수 없습니다. 센터를 고르고 입장하기를 눌러 주세요.",
    scanNotOurs: "gymgate 입구 QR 코드가 아닙니다. 데스크 화면의 QR 코드를 비춰 주세요.",
    scanUnknownCenter: "이 QR 코드의 센터를 찾을 수 없습니다. 센터를 고르고 입장하기를 눌러 주세요.",
    locationAsk: "입장할 때 휴대폰 위치를 함께 보낼까요? 센터와의 거리만 기록되고, 언제든 끌 수 있습니다. 보내지 않아도 입장은 그대로 됩니다.",
    locationYes: "보내기", locationNo: "보내지 않기",
    myData: "내 정보와 데이터", exportStart: "내 데이터 내려받기", exportDownload: "파일 받기 (7일 동안)",
    exportPreparing: "내 데이터를 모으는 중입니다…", exportReady: "준비되었습니다. 링크는 7일 동안 쓸 수 있습니다.",
    exportFailed: "내 데이터를 준비하지 못했습니다. 잠시 후 다시 해 주세요.",
    deleteOpen: "회원 탈퇴", deleteConfirm: "탈퇴하기",
    deleteWarn: "탈퇴하면 이름, 전화번호, 사진, 로그인이 지워지고 오프라인 패스도 더 이상 쓸 수 없습니다. 센터 정산에 필요한 방문 기록은 이름 없이 보관됩니다.",
    deleteFailed: "탈퇴하지 못했습니다. 잠시 후 다시 해 주세요.", deleted: "탈퇴했습니다. 그동안 이용해 주셔서 감사합니다.",
    myVisits: "방문 기록", visitsTitle: "내 방문 기록",
    visitsHint: "데스크 직원이 기록한 방문은 회원님이 확인해야 센터에 정산됩니다. 본인이 아닌 방문이 있으면 알려 주세요.",
    visitsEmpty: "아직 방문 기록이 없습니다.",
    visitsFailed: "방문 기록을 불러오지 못했습니다. 잠시 후 다시 시도해 주세요.",
    askMine: (when, center) => `${when} ${center} 방문이 맞나요?`,
    yes: "네", no: "아니요", notMe: "이 방문은 제가 아닙니다", send: "보내기", cancel: "취소",
    statementLabel: "어떻게 된 일인지 적어 주세요. 운영팀이 확인합니다.",
    evidence: { app: "앱으로 입장", "app+presence": "앱 + 현장 QR", pass: "오프라인 패스", roster: "데스크 직원이 기록", manual: "데스크 직원이 직접 입력" },
    confirmation: { unconfirmed: "확인 대기", member: "내가 확인함", not_me: "이의 제기됨 · 운영팀 확인 중", operator: "운영팀 결정", by_evidence: "" },
    loginTitle: "회원 로그인", memberNo: "회원번호", pin: "PIN", login: "로그인", logout: "로그아웃",
    chooseCenter: "입장할 센터", searchCenters: "센터 이름 검색", enter: "입장하기",
    chooseFirst: "센터를 먼저 선택하세요", chosen: (n) => `${n} 에 입장합니다`,
    retry: "다시 시도", done: "확인", sending: "보내는 중…",
    admitted: "입장 완료", pending: "데스크 확인 중", denied: "입장 거절", voided: "입장 취소됨",
    expired: "확인 시간 초과", disputed: "운영팀 확인 중",
    refused: "입장할 수 없습니다",
    pendingHint: "데스크 직원이 확인하면 이 화면이 바로 바뀝니다.",
    expiredHint: "데스크에서 제때 확인하지 못해 입장이 취소되었습니다. 이용 횟수는 차감되지 않았습니다. 다시 입장하기를 눌러 주세요.",
    disputedHint: "데스크가 인터넷 연결 없이 기록한 입장을 운영팀이 확인하고 있습니다. 결과는 이 화면에 바로 표시됩니다.",
    admittedHint: "이 화면을 데스크에 보여 주세요.",
    offlineTitle: "서버에 연결할 수 없습니다",
    offlineHint: "인터넷 연결을 확인한 뒤 다시 시도해 주세요. 급하면 데스크에 수동 체크인을 요청하세요. 다시 시도해도 두 번 입장 처리되지 않습니다.",
    networkDown: "서버와 연결이 끊겼습니다. 다시 연결하는 중입니다…",
    supportTitle: "도움이 필요하면 gymgate 고객 지원",
    supportCall: (phone) => `전화 ${phone}`,
    supportChat: "채팅 상담",
    loginWrong: "회원번호 또는 PIN이 맞지 않습니다.", tooMany: "시도가 너무 많습니다. 잠시 후 다시 해 주세요.",
    loginDelayed: (s) => `PIN이 여러 번 틀렸습니다. ${s}초 뒤에 다시 시도해 주세요.`,
    loginLocked: "PIN을 여러 번 잘못 입력해 계정이 잠겼습니다. 24시간 뒤 다시 시도하거나 고객센터에 잠금 해제를 요청해 주세요. 잠긴 동안에도 센터 데스크에서 회원번호로 입장할 수 있습니다.",
    unlimited: "무제한 이용", left: (n) => `이번 달 남은 횟수 ${n}회`, until: (d) => `${d} 까지`,
    blocked: "이용 정지된 회원입니다",
    myPass: "오프라인 패스 (QR)", passTitle: "입장 패스",
    passHint: "데스크 스캐너에 이 화면을 보여 주세요. 코드는 15초마다 바뀌므로 캡처 화면은 쓸 수 없습니다.",
    passExpiry: (d) => `이 패스는 ${d}까지 인터넷 없이 쓸 수 있습니다. 인터넷에 연결되면 자동으로 새로 받습니다.`,
    passOffline: "지금 오프라인입니다. 인터넷 없이도 이 패스로 입장할 수 있습니다.",
    passMissing: "아직 이 휴대폰에 패스가 없습니다. 인터넷에 연결된 상태에서 한 번 로그인하면 만들어집니다.",
    passExpired: "패스 기간이 지났습니다. 인터넷에 연결되면 자동으로 새로 받습니다.",
    passUnsupported: "이 브라우저는 오프라인 패스를 만들 수 없습니다. 최신 Chrome 또는 Safari를 사용해 주세요.",
    passNoEd25519: "이 휴대폰의 브라우저는 오프라인 패스에 필요한 서명(Ed25519)을 지원하지 않아 패스를 만들 수 없습니다. 인터넷이 되면 '입장하기'는 그대로 쓸 수 있고, 인터넷이 안 될 때는 데스크에서 회원번호(또는 이름과 전화번호 끝 4자리)를 말하면 입장할 수 있습니다. 브라우저(Chrome, Safari)를 최신으로 업데이트하면 패스도 쓸 수 있습니다.",
    shownAt: (desk, time) => `${desk}에 표시됨 ${time}`,
    reasons: {
      pass_expired: "이용권 기간이 끝났습니다.", pass_not_started: "이용권 시작일 전입니다.",
      no_visits_left: "이번 달 이용 횟수를 모두 사용하셨습니다.",
      already_checked_in_today: "오늘 이미 이 센터에 입장하셨습니다.",
      member_blocked: "이용이 정지된 회원입니다. 데스크에 문의해 주세요.",
      center_closed: "지금은 센터 운영 시간이 아닙니다.", unknown_center: "없는 센터입니다.",
      rate_limited: "너무 자주 눌렀습니다. 잠시 후 다시 해 주세요.",
      storage_unavailable: "서버가 잠시 저장할 수 없습니다. 잠시 후 다시 시도해 주세요. (입장 처리되지 않았습니다)",
      presence_expired: "입구 QR 코드가 만료되었습니다. 데스크 화면의 QR 코드를 다시 스캔해 주세요.",
      presence_foreign: "이 센터의 입구 QR 코드가 아닙니다. 지금 계신 센터의 QR 코드를 스캔해 주세요.",
      presence_invalid: "입구 QR 코드를 읽을 수 없습니다. 다시 스캔해 주세요.",
    },
  },
  en: {
    scanEntrance: "Enter with the entrance QR", scanTitle: "Point the camera at the entrance QR",
    scanHint: "Point the camera at the QR code on the desk or entrance screen and you are checked in.",
    scanNoCamera: "The camera is not available. Choose the center and tap Enter.",
    scanNotOurs: "Not a gymgate entrance QR. Point the camera at the desk's QR code.",
    scanUnknownCenter: "The center of this QR code is unknown. Choose the center and tap Enter.",
    locationAsk: "Send your phone's location when you enter? Only the distance to the center is kept, and you can turn it off any time. Entering works the same either way.",
    locationYes: "Send it", locationNo: "Don't send",
    myData: "My data", exportStart: "Download my data", exportDownload: "Get the file (for 7 days)",
    exportPreparing: "Gathering your data…", exportReady: "Ready. The link works for 7 days.",
    exportFailed: "Your data could not be prepared. Please try again shortly.",
    deleteOpen: "Delete my account", deleteConfirm: "Delete",
    deleteWarn: "Deleting erases your name, phone number, photo and logins, and your offline pass stops working. The visits centers are paid for are kept without your name.",
    deleteFailed: "The account could not be deleted. Please try again shortly.", deleted: "Your account is deleted. Thank you for coming.",
    myVisits: "My visits", visitsTitle: "My visits",
    visitsHint: "Visits the desk staff recorded are paid to the center only once you confirm them. Tell us about any visit that was not you.",
    visitsEmpty: "No visits yet.",
    visitsFailed: "Could not load your visits. Please try again shortly.",
    askMine: (when, center) => `Was the visit to ${center} at ${when} you?`,
    yes: "Yes", no: "No", notMe: "This visit was not me", send: "Send", cancel: "Cancel",
    statementLabel: "Tell us what happened; operators will look into it.",
    evidence: { app: "Entered with the app", "app+presence": "App + on-site QR", pass: "Offline pass", roster: "Recorded by desk staff", manual: "Typed in by desk staff" },
    confirmation: { unconfirmed: "Waiting for you", member: "Confirmed by you", not_me: "Disputed · operators reviewing", operator: "Decided by operators", by_evidence: "" },
    loginTitle: "Member login", memberNo: "Member number", pin: "PIN", login: "Log in", logout: "Log out",
    chooseCenter: "Choose a center", searchCenters: "Search centers", enter: "Enter",
    chooseFirst: "Choose a center first", chosen: (n) => `Entering ${n}`,
    retry: "Try again", done: "OK", sending: "Sending…",
    admitted: "Admitted", pending: "Waiting for the desk", denied: "Entry denied", voided: "Entry voided",
    expired: "Not confirmed in time", disputed: "Being reviewed",
    refused: "Cannot enter",
    pendingHint: "This screen changes as soon as the desk decides.",
    expiredHint: "The desk did not confirm in time, so the entry was cancelled. No visit was used. Please tap Enter again.",
    disputedHint: "Operators are reviewing an entry the desk recorded without a connection. The result shows here as soon as it is decided.",
    admittedHint: "Show this screen at the desk.",
    offlineTitle: "Cannot reach the server",
    offlineHint: "Check your connection and try again. If you are in a hurry, ask the desk for a manual check-in. Trying again never checks you in twice.",
    networkDown: "Lost the connection to the server; reconnecting…",
    supportTitle: "Need help? gymgate support",
    supportCall: (phone) => `Call ${phone}`,
    supportChat: "Chat with us",
    loginWrong: "Member number or PIN is wrong.", tooMany: "Too many tries; please wait a moment.",
    loginDelayed: (s) => `Too many wrong PINs. Please try again in ${s} seconds.`,
    loginLocked: "Too many wrong PINs: your account is locked. Try again in 24 hours or ask support to unlock it. Meanwhile the front desk can still check you in with your member number.",
    unlimited: "Unlimited", left: (n) => `${n} visits left this month`, until: (d) => `valid until ${d}`,
    blocked: "Membership blocked",
    myPass: "Offline pass (QR)", passTitle: "Entry pass",
    passHint: "Show this screen to the desk's scanner. The code changes every 15 seconds, so a screenshot does not work.",
    passExpiry: (d) => `This pass works without internet until ${d}. It renews by itself when you are online.`,
    passOffline: "You are offline. This pass still lets you in.",
    passMissing: "This phone has no pass yet. Log in once while online and it is made.",
    passExpired: "The pass has expired. It renews by itself when you are online.",
    passUnsupported: "This browser cannot make an offline pass. Please use a recent Chrome or Safari.",
    passNoEd25519: "This phone's browser lacks the signature (Ed25519) an offline pass needs, so it cannot make one. Online, 'Enter' works as usual; offline, give the desk your member number (or name and the last 4 phone digits). Updating the browser (Chrome, Safari) brings the pass.",
    shownAt: (desk, time) => `Shown at ${desk} ${time}`,
    reasons: {
      pass_expired: "Your pass has expired.", pass_not_started: "Your pass has not started yet.",
      no_visits_left: "No visits left this month.",
      already_checked_in_today: "You already checked in at this center today.",
      member_blocked: "Your membership is blocked; please ask the desk.",
      center_closed: "The center is closed now.", unknown_center: "No such center.",
      rate_limited: "Too many taps; please wait a moment.",
      storage_unavailable: "The server cannot save right now; please try again shortly. (You were not checked in.)",
      presence_expired: "The entrance QR code has expired. Scan the code on the desk's screen again.",
      presence_foreign: "This is not this center's entrance QR code. Scan the code of the center you are at.",
      presence_invalid: "The entrance QR code could not be read. Please scan again.",
    },
  },
};

const $ = (id) => document.getElementById(id);
const store = window.localStorage;
const state = {
  lang: store.getItem("gymgate.lang") || "ko",
  token: store.getItem("gymgate.token"),
  member: null,
  centers: [],
  centerId: (location.pathname.match(/^\/c\/([^/]+)/) || [])[1] || store.getItem("gymgate.center"),
  checkin: null,
  feed: null,
};
const t = () => T[state.lang];

function uuid() {
  // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString(state.lang === "ko" ? "ko-KR" : "en-GB",
    { hour: "2-digit", minute: "2-digit", timeZone: "Asia/Seoul" });
}

// ---- reports: what went wrong on this phone, for operators ----
// A kind and this app's version, nothing else (no member, no text); a few per kind per page,
// so a loop of errors does not become a flood. The server alerts on a spike of one kind.
const APP_VERSION = "member-web-0.1.0";
const reported = {};
function report(kind) {
  reported[kind] = (reported[kind] || 0) + 1;
  if (reported[kind] > 3) return;
  try {
    fetch("/api/v1/reports", {
      method: "POST", keepalive: true, headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind, app_version: APP_VERSION }),
    }).catch(() => { /* offline: nothing to tell anyone */ });
  } catch (_) { /* a browser without fetch options: never mind */ }
}
window.addEventListener("error", () => report("script_error"));
window.addEventListener("unhandledrejection", () => report("script_error"));

async function api(path, options = {}) {
  const headers = Object.assign({ "content-type": "application/json" }, options.headers || {});
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  // An answer that is not the API's JSON (a proxy's error page, a cut body) cannot be used.
  if (body === null && response.status !== 204) report("api_unusable");
  const retryAfter = Number(response.headers.get("retry-after")) || null;
  return { status: response.status, body, retryAfter };
}

function show(view) {
  for (const v of ["login", "home", "result", "pass", "visits", "scan"]) $(`view-${v}`).hidden = v !== view;
  if (view !== "scan") stopScan();
  $("logout").hidden = !state.token;
  if (view === "pass") startPass(); else stopPass();
  renderSupport();
}

// ---- support contact ----
// Kept on the phone, so the offline and error screens show it with the server down.
async function loadSupport() {
  try {
    const response = await fetch("/api/v1/support");
    if (response.ok) store.setItem("gymgate.support", JSON.stringify(await response.json()));
  } catch (_) { /* offline: the kept one shows */ }
  renderSupport();
}

function renderSupport() {
  const box = $("support-contact");
  let contact = null;
  try { contact = JSON.parse(store.getItem("gymgate.support") || "null"); } catch (_) { contact = null; }
  const status = $("view-result").hidden ? "" : $("view-result").dataset.status;
  const trouble = !$("network").hidden || Boolean($("login-error").textContent)
    || ["offline", "refused", "denied", "disputed", "expired", "voided"].includes(status)
    || (!$("view-pass").hidden && !$("pass-offline").hidden);
  const usable = contact && (contact.phone || contact.chat_url);
  box.hidden = !(trouble && usable);
  if (box.hidden) return;
  // Inside the screen being shown (the result and pass screens cover the page).
  const host = ["result", "pass", "login", "home"].map((v) => $(`view-${v}`)).find((v) => !v.hidden);
  if (host && box.parentElement !== host) host.append(box);
  const parts = [document.createElement("b")];
  parts[0].textContent = t().supportTitle;
  if (contact.phone) {
    const call = document.createElement("a");
    call.href = "tel:" + contact.phone.replace(/[^0-9+]/g, "");
    call.textContent = t().supportCall(contact.phone);
    call.id = "support-phone";
    parts.push(call);
  }
  if (contact.chat_url && contact.chat_url.startsWith("https://")) {
    const chat = document.createElement("a");
    chat.href = contact.chat_url; chat.rel = "noopener"; chat.target = "_blank";
    chat.textContent = t().supportChat;
    chat.id = "support-chat";
    parts.push(chat);
  }
  if (contact.hours) {
    const hours = document.createElement("span");
    hours.className = "hint";
    hours.textContent = contact.hours;
    parts.push(hours);
  }
  box.replaceChildren(...parts);
}

function translate() {
  document.documentElement.lang = state.lang;
  $("lang").textContent = state.lang === "ko" ? "English" : "한국어";
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const text = t()[el.dataset.i18n];
    if (typeof text === "string") el.textContent = text;
  }
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t()[el.dataset.i18nPlaceholder];
  }
  renderPass(); renderCenters(); if (state.checkin || $("view-result").dataset.status) renderResult();
  if (!$("view-visits").hidden) renderVisits();
}

function setNetwork(down) {
  $("network").hidden = !down;
  $("network").textContent = down ? t().networkDown : "";
  renderSupport();
}

// ---- login ----
$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try {
    const { status, body, retryAfter } = await api("/api/v1/auth/member", {
      method: "POST",
      body: JSON.stringify({ member_no: $("login-member-no").value.trim(), pin: $("login-pin").value }),
    });
    if (status === 200) {
      state.token = body.token; store.setItem("gymgate.token", body.token);
      state.member = body.member; $("login-pin").value = "";
      await loadHome();
    } else {
      const code = body && body.error ? body.error.code : "";
      $("login-error").dataset.code = code;
      $("login-error").textContent = code === "account_locked" ? t().loginLocked
        : code === "login_delayed" ? t().loginDelayed(retryAfter || 1)
        : status === 429 ? t().tooMany : t().loginWrong;
    }
  } catch (_) {
    $("login-error").textContent = t().offlineTitle;
  }
  renderSupport();
});

$("logout").addEventListener("click", () => {
  state.token = null; state.member = null; store.removeItem("gymgate.token");
  store.removeItem("gymgate.member"); store.removeItem("gymgate.pass"); store.removeItem("gymgate.photo");
  store.removeItem("gymgate.location");
  stopFeed(); show("login");
});

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "ko" ? "en" : "ko"; store.setItem("gymgate.lang", state.lang); translate();
});

// ---- home ----
function renderPass() {
  const m = state.member;
  if (!m) return;
  const left = m.visits_left === null ? t().unlimited : t().left(m.visits_left);
  $("pass").innerHTML = "";
  const name = document.createElement("div"); name.className = "name"; name.textContent = m.name;
  const plan = document.createElement("div"); plan.className = "plan"; plan.textContent = `${m.plan} · ${left}`;
  const meta = document.createElement("div"); meta.className = "meta";
  meta.textContent = `${t().until(m.valid_until)} · #${m.member_no}` + (m.blocked ? ` · ${t().blocked}` : "");
  const photo = store.getItem("gymgate.photo");
  if (photo) {
    const img = document.createElement("img"); img.className = "photo"; img.id = "home-photo";
    img.src = photo; img.alt = m.name;
    $("pass").append(img);
  }
  $("pass").append(name, plan, meta);
  const passPhoto = $("pass-photo");
  passPhoto.hidden = !photo;
  if (photo) { passPhoto.src = photo; passPhoto.alt = m.name; }
}

// The member's own photo, kept on the phone (a small JPEG as a data URL) so the pass shows
// it offline too.
async function loadPhoto() {
  try {
    const response = await fetch("/api/v1/me/photo", { headers: { authorization: `Bearer ${state.token}` } });
    if (response.status === 404) store.removeItem("gymgate.photo");
    else if (response.ok) {
      const blob = await response.blob();
      if (blob.type === "image/jpeg" && blob.size < 512 * 1024) {
        const url = await new Promise((resolve, reject) => {
          const reader = new FileReader();
          reader.onload = () => resolve(reader.result); reader.onerror = reject;
          reader.readAsDataURL(blob);
        });
        store.setItem("gymgate.photo", url);
      }
    }
  } catch (_) { /* offline: the kept one shows */ }
  renderPass();
}

function renderCenters() {
  const query = $("center-search").value.trim().toLowerCase();
  const list = $("center-list"); list.innerHTML = "";
  for (const c of state.centers) {
    if (query && !c.name.toLowerCase().includes(query) && !c.address.toLowerCase().includes(query)) continue;
    const li = document.createElement("li");
    const b = document.createElement("button"); b.type = "button"; b.className = "center-item";
    b.dataset.id = c.id; b.setAttribute("aria-pressed", String(c.id === state.centerId));
    b.textContent = c.name;
    const addr = document.createElement("span"); addr.className = "addr"; addr.textContent = c.address;
    b.append(addr);
    b.addEventListener("click", () => { state.centerId = c.id; store.setItem("gymgate.center", c.id); renderCenters(); });
    li.append(b); list.append(li);
  }
  const chosen = state.centers.find((c) => c.id === state.centerId);
  $("chosen-center").textContent = chosen ? t().chosen(chosen.name) : t().chooseFirst;
  $("enter-button").disabled = !chosen;
}
$("center-search").addEventListener("input", renderCenters);

async function loadHome() {
  try {
    const [me, centers] = await Promise.all([api("/api/v1/me"), api("/api/v1/centers")]);
    if (me.status === 401 || centers.status === 401) { $("logout").click(); return; }
    state.member = me.body; state.centers = centers.body || [];
    store.setItem("gymgate.member", JSON.stringify(state.member));
    store.setItem("gymgate.centers", JSON.stringify(state.centers));
    setNetwork(false);
    refreshPass();
    loadPhoto();
    // The member's own answer about their location, whoever used this phone before.
    api("/api/v1/me/consents").then((c) => {
      if (c.status !== 200) return;
      if (c.body.location_at) store.setItem("gymgate.location", c.body.location ? "yes" : "no");
      else store.removeItem("gymgate.location");
      renderLocationAsk();
    }).catch(() => {});
  } catch (_) {
    // No network, or the server is down: what this phone knows, and the pass to show.
    state.member = JSON.parse(store.getItem("gymgate.member") || "null");
    state.centers = JSON.parse(store.getItem("gymgate.centers") || "[]");
    setNetwork(true);
    renderPass(); renderCenters(); show("pass");
    startFeed();
    return;
  }
  renderPass(); renderCenters(); renderLocationAsk(); show("home"); startFeed();
}

// ---- tap Enter ----
// The key is kept until the server gives a definite answer, so a retry after a network
// failure (or a double tap) is the same request and never a second check-in.
function pendingTap(centerId) {
  const saved = JSON.parse(sessionStorage.getItem("gymgate.tap") || "null");
  if (saved && saved.centerId === centerId) return saved;
  const tap = { centerId, key: uuid() };
  sessionStorage.setItem("gymgate.tap", JSON.stringify(tap));
  return tap;
}

// ---- the phone's location, with consent (asked once; docs/settlement.md) ----
// A tap never waits long for it and never fails for lack of it.
function whereAmI() {
  if (store.getItem("gymgate.location") !== "yes" || !navigator.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 2500);
    navigator.geolocation.getCurrentPosition(
      (p) => { clearTimeout(timer); resolve({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy }); },
      () => { clearTimeout(timer); resolve(null); },
      { enableHighAccuracy: false, maximumAge: 60000, timeout: 2000 },
    );
  });
}

function renderLocationAsk() {
  $("location-ask").hidden = !state.token || !navigator.geolocation || store.getItem("gymgate.location") !== null;
}

async function answerLocation(yes) {
  try {
    const r = await api("/api/v1/me/consents", { method: "PUT", body: JSON.stringify({ location: yes }) });
    if (r.status !== 200) return;
    store.setItem("gymgate.location", yes ? "yes" : "no");
  } catch (_) { return; }
  renderLocationAsk();
}
$("location-yes").addEventListener("click", () => answerLocation(true));
$("location-no").addEventListener("click", () => answerLocation(false));

let tapping = false;
async function enter() {
  if (tapping || !state.centerId) return;
  tapping = true;
  $("enter-button").textContent = t().sending;
  const tap = pendingTap(state.centerId);
  try {
    const request = { center_id: tap.centerId };
    if (state.presence && state.presence.centerId === tap.centerId) request.presence = state.presence.code;
    const location = await whereAmI();
    if (location) request.location = location;
    const { status, body } = await api("/api/v1/checkins", {
      method: "POST", headers: { "idempotency-key": tap.key },
      body: JSON.stringify(request),
    });
    // A scanned code is for one tap: the next one scans again.
    state.presence = null;
    setNetwork(false);
    if (status === 200 || status === 201) {
      sessionStorage.removeItem("gymgate.tap");
      state.checkin = body.checkin; renderResult(); refreshMe();
    } else if (status === 401) {
      $("logout").click();
    } else {
      if (status !== 503) sessionStorage.removeItem("gymgate.tap");
      const code = body && body.error ? body.error.code : `http_${status}`;
      const message = t().reasons[code] || (body && body.error ? body.error.message : code);
      renderResult({ status: "refused", reason: message, code });
    }
  } catch (_) {
    renderResult({ status: "offline" });
  } finally {
    tapping = false;
    $("enter-button").textContent = t().enter;
  }
}
$("enter-button").addEventListener("click", enter);
$("result-retry").addEventListener("click", enter);
$("result-done").addEventListener("click", () => {
  state.checkin = null; delete $("view-result").dataset.status; show("home");
});

function renderResult(outcome) {
  const view = $("view-result");
  if (outcome) { state.checkin = null; view.dataset.outcome = JSON.stringify(outcome); }
  else if (state.checkin) { delete view.dataset.outcome; }
  const o = view.dataset.outcome ? JSON.parse(view.dataset.outcome) : null;
  const c = state.checkin;
  const status = c ? c.status : o.status;
  view.dataset.status = status;
  const marks = { admitted: "✓", pending: "…", denied: "✕", voided: "↺", expired: "⌛", disputed: "?", refused: "✕", offline: "!" };
  $("result-mark").textContent = marks[status] || "";
  $("result-title").textContent = status === "offline" ? t().offlineTitle : t()[status];
  $("result-center").textContent = c ? c.center_name : "";
  $("result-time").textContent = c ? clock(c.at) : "";
  let reason = o && o.reason ? o.reason : "";
  if (c && c.history.length) {
    const last = c.history[c.history.length - 1];
    if (last.reason && (status === "denied" || status === "voided")) reason = last.reason;
    if (status === "disputed" && c.dispute) reason = t().reasons[c.dispute.reason] || c.dispute.reason;
  }
  $("result-reason").textContent = reason;
  $("result-reason").dataset.code = o && o.code ? o.code : "";
  const hints = { pending: t().pendingHint, admitted: t().admittedHint, offline: t().offlineHint,
    expired: t().expiredHint, disputed: t().disputedHint };
  $("result-hint").textContent = hints[status] || "";
  $("result-retry").hidden = status !== "offline";
  const shown = c ? shownNotes.get(c.id) : null;
  $("result-shown").hidden = !shown;
  $("result-shown").textContent = shown ? t().shownAt(shown.desk_name, clock(shown.at)) : "";
  show("result");
}

async function refreshMe() {
  try {
    const me = await api("/api/v1/me");
    if (me.status === 200) { state.member = me.body; renderPass(); }
  } catch (_) { /* shown by the network banner elsewhere */ }
}

// ---- live updates (server-sent events over fetch, so the token stays in a header) ----
function stopFeed() { if (state.feed) { state.feed.abort(); state.feed = null; } }

function startFeed() {
  stopFeed();
  if (!state.token) return;
  const controller = new AbortController(); state.feed = controller;
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch("/api/v1/me/events", {
          headers: { authorization: `Bearer ${state.token}`, accept: "text/event-stream" },
          signal: controller.signal,
        });
        if (response.status === 401) { $("logout").click(); return; }
        setNetwork(false);
        // A check-in may have changed while the feed was down.
        if (state.checkin) {
          const again = await api(`/api/v1/checkins/${state.checkin.id}`);
          if (again.status === 200) onCheckin(again.body.checkin);
        }
        const reader = response.body.getReader(); const decoder = new TextDecoder(); let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
            const lines = block.split("\n");
            const name = (lines.find((l) => l.startsWith("event:")) || "event: checkin").slice(6).trim();
            const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
            if (!data) continue;
            try {
              if (name === "shown") onShown(JSON.parse(data)); else onCheckin(JSON.parse(data));
            } catch (_) { /* ignore a bad event */ }
          }
        }
      } catch (_) {
        if (controller.signal.aborted) return;
        setNetwork(true);
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
  })();
}

// A desk stored the member's check-in: its staff have it on screen. It may say so before the
// tap's own answer arrives, so the note is kept by check-in.
const shownNotes = new Map();
function onShown(shown) {
  shownNotes.set(shown.checkin_id, shown);
  if (state.checkin && state.checkin.id === shown.checkin_id) renderResult();
}

function onCheckin(checkin) {
  if (state.checkin && state.checkin.id === checkin.id && checkin.rev >= state.checkin.rev) {
    state.checkin = checkin; renderResult(); refreshMe();
  }
}

// ---- operator notices ----
async function loadNotices() {
  try {
    const { status, body } = await api("/api/v1/notices");
    if (status !== 200) return;
    const box = $("notices"); box.innerHTML = "";
    for (const n of body) {
      const div = document.createElement("div");
      div.className = `banner ${n.severity === "critical" ? "critical" : n.severity === "warning" ? "warn" : "info"}`;
      div.textContent = state.lang === "ko" ? n.text_ko : n.text_en;
      box.append(div);
    }
  } catch (_) { /* the network banner says enough */ }
}

// ---- the offline pass ----
// The phone's own Ed25519 key is made here and never leaves it (WebCrypto, not extractable,
// kept in IndexedDB). The server signs a certificate naming that key; every 15 s the phone
// signs the certificate and the time, and shows both as a QR code the desk checks with the
// server's public key alone. Format: shared/src/pass.rs, docs/offline-pass.md.
const SHOW_CONTEXT = new TextEncoder().encode("gymgate-pass-show-v1");
const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
let passTimer = null;
// Whether this browser can make and use an Ed25519 key (null: not known yet). Some older
// phones' browsers cannot; the pass screen then says so and what still works.
let ed25519 = null;

async function ed25519Works() {
  if (ed25519 !== null) return ed25519;
  if (!window.crypto || !crypto.subtle) { ed25519 = false; return false; }
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    ed25519 = true;
  } catch (_) {
    ed25519 = false;
  }
  return ed25519;
}

function base45(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 2) {
    if (i + 1 < bytes.length) {
      let n = bytes[i] * 256 + bytes[i + 1];
      for (let k = 0; k < 3; k++) { out += BASE45[n % 45]; n = Math.floor(n / 45); }
    } else {
      let n = bytes[i];
      for (let k = 0; k < 2; k++) { out += BASE45[n % 45]; n = Math.floor(n / 45); }
    }
  }
  return out;
}

function fromBase64url(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function toBase64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function keyStore(mode, work) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("gymgate", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("keys", mode);
      const request = work(tx.objectStore("keys"));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    };
  });
}

async function deviceKey() {
  let pair = await keyStore("readonly", (keys) => keys.get("device"));
  if (!pair) {
    pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    await keyStore("readwrite", (keys) => keys.put(pair, "device"));
  }
  return pair;
}

// Asks for a fresh certificate whenever online (it lives a week).
async function refreshPass() {
  if (!state.token || !(await ed25519Works())) return;
  try {
    const pair = await deviceKey();
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const asked = Date.now();
    const { status, body } = await api("/api/v1/me/pass", {
      method: "POST", body: JSON.stringify({ device_key: toBase64url(raw) }),
    });
    if (status !== 200) return;
    // The phone's clock may be off; the desk allows a minute. Remember the server's time.
    const offset = Date.parse(body.issued_at) - (asked + Date.now()) / 2;
    store.setItem("gymgate.pass", JSON.stringify({ ...body, offset, member: state.member }));
  } catch (_) { /* offline, or no Ed25519 here: the old pass (if any) stays */ }
}

async function drawPass() {
  const saved = JSON.parse(store.getItem("gymgate.pass") || "null");
  const qr = $("pass-qr");
  const m = saved ? saved.member : state.member;
  $("pass-who").textContent = m ? `${m.name} · #${m.member_no}` : "";
  delete $("pass-hint").dataset.problem;
  if (!window.crypto || !crypto.subtle) { $("pass-hint").textContent = t().passUnsupported; return; }
  if (!(await ed25519Works())) {
    // Once a day per phone: how many members' browsers cannot make a pass.
    const today = new Date().toISOString().slice(0, 10);
    if (store.getItem("gymgate.reported.no_ed25519") !== today) {
      store.setItem("gymgate.reported.no_ed25519", today);
      report("no_ed25519");
    }
    qr.innerHTML = ""; delete qr.dataset.payload;
    $("pass-hint").textContent = t().passNoEd25519;
    $("pass-hint").dataset.problem = "no-ed25519";
    return;
  }
  if (!saved) { qr.innerHTML = ""; delete qr.dataset.payload; $("pass-hint").textContent = t().passMissing; return; }
  if (Date.parse(saved.expires_at) <= Date.now() + (saved.offset || 0)) {
    qr.innerHTML = ""; delete qr.dataset.payload; $("pass-hint").textContent = t().passExpired; return;
  }
  const pair = await deviceKey();
  const cert = fromBase64url(saved.certificate);
  const when = new Uint8Array(8);
  new DataView(when.buffer).setBigInt64(0, BigInt(Math.floor((Date.now() + (saved.offset || 0)) / 1000)));
  const shown = new Uint8Array([...cert, ...when]);
  const signature = new Uint8Array(await crypto.subtle.sign(
    { name: "Ed25519" }, pair.privateKey, new Uint8Array([...SHOW_CONTEXT, ...shown])));
  const payload = "GP1." + base45(new Uint8Array([...shown, ...signature]));
  const code = qrcode(0, "M");
  code.addData(payload, "Alphanumeric");
  code.make();
  qr.innerHTML = code.createSvgTag({ cellSize: 4, margin: 4, scalable: true, alt: t().passTitle });
  qr.dataset.payload = payload;
  $("pass-hint").textContent = t().passHint;
  $("pass-expiry").textContent = t().passExpiry(new Date(saved.expires_at).toLocaleDateString(
    state.lang === "ko" ? "ko-KR" : "en-GB", { timeZone: "Asia/Seoul" }));
}

function startPass() {
  stopPass();
  $("pass-offline").hidden = !$("network").textContent;
  $("pass-offline").textContent = t().passOffline;
  const draw = () => drawPass().catch(() => report("pass_failed"));
  draw();
  passTimer = setInterval(draw, 15000);
}

function stopPass() { if (passTimer) { clearInterval(passTimer); passTimer = null; } }

// ---- the entrance QR ----
// The desk shows a code signed by its own key (gymgate_shared::presence); the phone reads it
// with the camera and taps Enter with it, so the visit shows the member was at the door.
let scanning = null;
function loadJsQr() {
  if (window.jsQR) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/desk/jsqr.js"; script.onload = resolve; script.onerror = reject;
    document.head.append(script);
  });
}

function stopScan() {
  if (!scanning) return;
  scanning.stopped = true;
  for (const track of scanning.stream ? scanning.stream.getTracks() : []) track.stop();
  scanning = null;
}

function scanned(text) {
  if (!text.startsWith("GGP1.")) { $("scan-error").textContent = t().scanNotOurs; return false; }
  const centerId = text.split(".")[1];
  if (!state.centers.some((c) => c.id === centerId)) { $("scan-error").textContent = t().scanUnknownCenter; return false; }
  stopScan();
  state.centerId = centerId; store.setItem("gymgate.center", centerId);
  state.presence = { centerId, code: text };
  renderCenters(); show("home");
  enter();
  return true;
}

async function startScan() {
  $("scan-error").textContent = "";
  show("scan");
  const session = { stopped: false, stream: null };
  scanning = session;
  try {
    session.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    await loadJsQr();
  } catch (_) {
    $("scan-error").textContent = t().scanNoCamera;
    return;
  }
  if (session.stopped) { for (const track of session.stream.getTracks()) track.stop(); return; }
  const video = $("scan-video");
  video.srcObject = session.stream;
  await video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const look = () => {
    if (session.stopped) return;
    if (video.videoWidth) {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (found && found.data && scanned(found.data.trim())) return;
    }
    setTimeout(look, 200);
  };
  look();
}

$("scan-entrance").addEventListener("click", startScan);
$("scan-cancel").addEventListener("click", () => show("home"));

// ---- the member's visits ----
// Every visit with how it was made; a staff-recorded one asks "was this you?", and any counted
// visit of the last 30 days can be reported as not the member's (docs/settlement.md).
function visitTime(iso) {
  return new Intl.DateTimeFormat(state.lang === "ko" ? "ko-KR" : "en-GB", {
    timeZone: "Asia/Seoul", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false,
  }).format(new Date(iso));
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function answerVisit(id, mine, statement) {
  $("visits-error").textContent = "";
  try {
    const r = await api(`/api/v1/me/visits/${encodeURIComponent(id)}/answer`, {
      method: "POST", body: JSON.stringify({ mine, statement: statement || null }),
    });
    if (r.status === 401) { $("logout").click(); return; }
    if (r.status !== 200) {
      $("visits-error").textContent = (r.body && r.body.error && r.body.error.message) || t().visitsFailed;
      return;
    }
  } catch (_) { $("visits-error").textContent = t().visitsFailed; return; }
  loadVisits();
}

function statementForm(li, id) {
  const form = el("form", "statement");
  const label = el("label", null, t().statementLabel);
  const text = el("textarea"); text.name = "statement"; text.maxLength = 500; text.required = true; text.rows = 3;
  label.append(text);
  const send = el("button", "primary", t().send); send.type = "submit"; send.dataset.act = "send";
  const cancel = el("button", "link", t().cancel); cancel.type = "button";
  cancel.addEventListener("click", () => renderVisits());
  form.append(label, send, cancel);
  form.addEventListener("submit", (e) => { e.preventDefault(); answerVisit(id, false, text.value.trim()); });
  li.append(form);
  text.focus();
}

function renderVisits() {
  const list = $("visit-list");
  const visits = state.visits || [];
  if (!visits.length) { list.replaceChildren(el("li", "hint", t().visitsEmpty)); return; }
  list.replaceChildren(...visits.map((v) => {
    const c = v.checkin;
    const li = el("li", "visit card"); li.dataset.id = c.id; li.dataset.confirmation = v.confirmation;
    li.append(el("p", "big", `${visitTime(c.at)} · ${c.center_name}`));
    const status = t()[c.status] || c.status;
    const confirmation = t().confirmation[v.confirmation];
    li.append(el("p", "visit-status", [status, confirmation].filter(Boolean).join(" · ")));
    li.append(el("p", "hint", t().evidence[v.evidence] || v.evidence));
    if (v.ask) {
      li.append(el("p", "ask", t().askMine(visitTime(c.at), c.center_name)));
      const yes = el("button", "primary", t().yes); yes.type = "button"; yes.dataset.act = "yes";
      yes.addEventListener("click", () => answerVisit(c.id, true));
      const no = el("button", "secondary", t().no); no.type = "button"; no.dataset.act = "no";
      no.addEventListener("click", () => statementForm(li, c.id));
      li.append(yes, no);
    } else if (v.disputable) {
      const notMe = el("button", "link", t().notMe); notMe.type = "button"; notMe.dataset.act = "not-me";
      notMe.addEventListener("click", () => statementForm(li, c.id));
      li.append(notMe);
    }
    return li;
  }));
}

async function loadVisits() {
  $("visits-error").textContent = "";
  try {
    const r = await api("/api/v1/me/visits");
    if (r.status === 401) { $("logout").click(); return; }
    if (r.status !== 200) { $("visits-error").textContent = t().visitsFailed; return; }
    state.visits = r.body;
  } catch (_) { $("visits-error").textContent = t().visitsFailed; }
  renderVisits();
}

// ---- the member's own data: download and account deletion (docs/operations.md) ----
async function pollExport(id, url, tries = 60) {
  const r = await api("/api/v1/me/exports").catch(() => null);
  const job = r && r.status === 200 ? r.body.find((e) => e.id === id) : null;
  if (job && job.status === "ready") {
    $("export-status").textContent = t().exportReady;
    $("export-link").href = url; $("export-link").hidden = false;
    return;
  }
  if (!job || job.status === "failed" || tries <= 0) { $("export-status").textContent = t().exportFailed; return; }
  setTimeout(() => pollExport(id, url, tries - 1), 1000);
}

$("export-start").addEventListener("click", async () => {
  $("export-link").hidden = true;
  $("export-status").textContent = t().exportPreparing;
  try {
    const r = await api("/api/v1/me/exports", { method: "POST" });
    if (r.status === 401) { $("logout").click(); return; }
    if (r.status !== 202) {
      $("export-status").textContent = (r.body && r.body.error && r.body.error.message) || t().exportFailed;
      return;
    }
    pollExport(r.body.export.id, r.body.download_url);
  } catch (_) { $("export-status").textContent = t().exportFailed; }
});

$("delete-open").addEventListener("click", () => { $("delete-form").hidden = false; $("delete-pin").focus(); });
$("delete-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("delete-error").textContent = "";
  try {
    const r = await api("/api/v1/me/delete", { method: "POST", body: JSON.stringify({ pin: $("delete-pin").value }) });
    if (r.status !== 204) {
      $("delete-error").textContent = (r.body && r.body.error && r.body.error.message) || t().deleteFailed;
      return;
    }
  } catch (_) { $("delete-error").textContent = t().deleteFailed; return; }
  $("delete-pin").value = ""; $("delete-form").hidden = true;
  for (const key of ["gymgate.token", "gymgate.member", "gymgate.pass", "gymgate.photo", "gymgate.centers", "gymgate.center", "gymgate.location"]) store.removeItem(key);
  state.token = null; state.member = null; stopFeed();
  $("login-note").textContent = t().deleted; $("login-note").hidden = false;
  show("login");
});

$("open-visits").addEventListener("click", () => { show("visits"); loadVisits(); });
$("visits-done").addEventListener("click", () => show("home"));

$("open-pass").addEventListener("click", () => show("pass"));
$("pass-done").addEventListener("click", () => show(state.member ? "home" : "login"));

if ("serviceWorker" in navigator) {
  // The app works without it online, but the offline pass needs it: operators hear of it.
  navigator.serviceWorker.register("/sw.js").catch(() => report("service_worker"));
}

// ---- start ----
translate();
loadSupport();
loadNotices();
setInterval(loadNotices, 60000);
if (state.token) loadHome(); else show("login");
