// The entrance screen (키오스크): a tablet at the door, or the desk for a moment, shows the
// desk's presence code as a QR that changes every 5 s. Members scan it with the gymgate app
// ("입구 QR로 입장") and tap Enter; the visit then carries the desk's signature.

import * as presence from "./presence.js";

const REDRAW_MS = 5000;

function loadQrCode() {
  if (window.qrcode) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/qrcode.js";
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
}

/** Shows the entrance QR in `root` until `onDone` is pressed. */
export async function show(root, desk, onDone) {
  const box = document.createElement("main");
  box.className = "kiosk";
  box.id = "kiosk";
  const title = document.createElement("h1");
  title.textContent = desk.center ? desk.center.name : "";
  const qr = document.createElement("div");
  qr.id = "kiosk-qr";
  qr.className = "kiosk-qr";
  qr.setAttribute("role", "img");
  qr.setAttribute("aria-label", "입장 확인 QR 코드");
  const hint = document.createElement("p");
  hint.className = "kiosk-hint";
  hint.textContent = "gymgate 앱에서 '입구 QR로 입장'을 누르고 이 QR 코드를 비춰 주세요.";
  const hintEn = document.createElement("p");
  hintEn.className = "kiosk-hint en";
  hintEn.textContent = "In the gymgate app, press 'Enter with the entrance QR' and point the camera here.";
  const done = document.createElement("button");
  done.id = "kiosk-done";
  done.className = "ghost";
  done.textContent = "데스크로 돌아가기";
  box.append(title, qr, hint, hintEn, done);
  root.replaceChildren(box);

  const key = await presence.loadKey(desk.store, desk.pairing());
  if (!key) {
    hint.textContent = "이 브라우저는 입구 QR에 필요한 서명(Ed25519)을 지원하지 않습니다. 최신 Chrome이나 Safari를 써 주세요.";
    hintEn.textContent = "This browser lacks the Ed25519 signature the entrance QR needs; use a recent Chrome or Safari.";
  }
  let timer = null;
  const draw = async () => {
    if (!key) return;
    const text = await presence.code(key, desk.pairing(), desk.now());
    await loadQrCode();
    const qrCode = window.qrcode(0, "M");
    qrCode.addData(text);
    qrCode.make();
    qr.innerHTML = qrCode.createSvgTag({ cellSize: 6, margin: 4, scalable: true });
    qr.dataset.code = text;
  };
  await draw().catch(() => {});
  timer = setInterval(() => draw().catch(() => {}), REDRAW_MS);
  done.addEventListener("click", () => {
    clearInterval(timer);
    onDone();
  });
}
