//! Every string the desk shows, Korean first and English second, in one place.

use chrono::{DateTime, Utc};
use gymgate_shared::policy::Refusal;
use gymgate_shared::protocol::RecordStatus;

use gymgate_desk_core::config::Language;

pub struct Strings {
    pub lang: Language,
    pub online: &'static str,
    pub connecting: &'static str,
    pub offline: &'static str,
    pub today: &'static str,
    pub no_checkins_yet: &'static str,
    pub waiting_for_first: &'static str,
    pub search: &'static str,
    pub search_hint: &'static str,
    pub check_in: &'static str,
    pub conflicts: &'static str,
    pub settings: &'static str,
    pub entrance: &'static str,
    pub entrance_hint: &'static str,
    pub entrance_unavailable: &'static str,
    pub statement_check: &'static str,
    pub statement_none: &'static str,
    pub statement_offline: &'static str,
    pub back: &'static str,
    pub void: &'static str,
    pub admit: &'static str,
    pub deny: &'static str,
    pub acknowledge: &'static str,
    pub no_conflicts: &'static str,
    pub conflicts_help: &'static str,
    pub first_visit: &'static str,
    pub expiring_soon: &'static str,
    pub birthday: &'static str,
    pub pending_approval: &'static str,
    pub blocked: &'static str,
    pub unlimited: &'static str,
    pub admitted: &'static str,
    pub pending: &'static str,
    pub denied: &'static str,
    pub voided: &'static str,
    pub expired: &'static str,
    pub disputed: &'static str,
    pub not_synced: &'static str,
    pub sound_on: &'static str,
    pub sound_off: &'static str,
    pub language: &'static str,
    pub server: &'static str,
    pub desk_name: &'static str,
    pub pairing_code: &'static str,
    pub pair: &'static str,
    pub pairing_title: &'static str,
    pub pairing_help: &'static str,
    pub pairing_in_progress: &'static str,
    pub unpair: &'static str,
    pub unpair_confirm: &'static str,
    pub unpaired_by_server: &'static str,
    pub unknown_desk: &'static str,
    pub pairing_not_saved: &'static str,
    pub already_running_title: &'static str,
    pub void_reasons: [&'static str; 4],
    pub deny_reasons: [&'static str; 4],
    pub other_reason: &'static str,
    pub decide_hint: &'static str,
    pub reason_needed: &'static str,
    pub go_back: &'static str,
    pub decide_keys: &'static str,
    pub nothing_to_decide: &'static str,
    pub already_running: &'static str,
    pub not_saved_on_pc: &'static str,
    pub member_not_in_roster: &'static str,
    pub core_failed: &'static str,
    pub retry_now: &'static str,
    pub no_results: &'static str,
    pub manual_open: &'static str,
    pub manual_title: &'static str,
    pub manual_hint: &'static str,
    pub manual_member_no: &'static str,
    pub manual_note: &'static str,
    pub manual_notes: [&'static str; 3],
    pub manual_missing: &'static str,
    pub manual_confirm: &'static str,
    pub starting: &'static str,
    pub cache_recovered: &'static str,
    /// The one line staff see while the desk updates itself (nothing to answer).
    pub update_installing: &'static str,
    pub saved_offline: &'static str,
    pub sent_now: &'static str,
    pub refused_title: &'static str,
    pub refused_dismiss: &'static str,
    refused_next_replayed: &'static str,
    refused_next_stale: &'static str,
    refused_next_blocked: &'static str,
    refused_next_expired: &'static str,
    refused_next_forged: &'static str,
    refused_next_rules: &'static str,
    refused_next_other: &'static str,
    pub notice: &'static str,
    pub close: &'static str,
    pub scan_hint: &'static str,
    pub scan_title: &'static str,
    pub remote_heading: &'static str,
    pub remote_searching: &'static str,
    pub remote_none: &'static str,
    pub remote_offline: &'static str,
    pub remote_unreachable: &'static str,
    pub remote_too_many: &'static str,
    pub remote_daily_limit: &'static str,
}

pub const KO: Strings = Strings {
    lang: Language::Ko,
    online: "온라인",
    connecting: "연결 중…",
    offline: "오프라인",
    today: "오늘 입장",
    no_checkins_yet: "오늘은 아직 입장한 회원이 없습니다.",
    waiting_for_first: "회원이 입장하면 여기에 크게 표시됩니다.",
    search: "회원 검색 · 체크인",
    search_hint: "이름, 전화번호 끝 4자리 또는 회원번호",
    check_in: "체크인",
    conflicts: "확인 필요",
    settings: "설정",
    entrance: "입구 QR",
    entrance_hint: "회원이 gymgate 앱에서 '입구 QR로 입장'을 누르고 이 QR 코드를 비추면, 현장에서 입장했다는 증거가 함께 남습니다. QR 코드는 5초마다 바뀝니다.",
    entrance_unavailable: "이 PC에는 입구 QR 키가 없습니다. 데스크를 다시 연결하면 만들어집니다.",
    statement_check: "정산 확인 (최근 14일, 본사 명세와 이 PC의 기록을 날짜별로 비교합니다)",
    statement_none: "최근 14일 동안 입장 기록이 없습니다.",
    statement_offline: "서버에 연결되지 않아 비교하지 못했습니다. 이 PC의 기록만 보여 줍니다. 연결되면 다시 열어 주세요.",
    back: "돌아가기 (Esc)",
    void: "입장 취소",
    admit: "승인",
    deny: "거절",
    acknowledge: "확인했습니다",
    no_conflicts: "확인할 항목이 없습니다.",
    conflicts_help: "오프라인 중 체크인했지만 서버 규칙에 맞지 않는 입장입니다. 입장 기록은 지워지지 않고 운영팀이 인정 여부를 결정합니다. 회원과 확인해 주세요.",
    first_visit: "첫 방문",
    expiring_soon: "이용권 만료 임박",
    birthday: "생일",
    pending_approval: "승인 대기",
    blocked: "이용 정지",
    unlimited: "무제한",
    admitted: "입장 완료",
    pending: "승인 대기",
    denied: "거절됨",
    voided: "취소됨",
    expired: "시간 초과",
    disputed: "운영팀 검토 중",
    not_synced: "동기화 대기",
    sound_on: "소리 켬",
    sound_off: "소리 끔",
    language: "언어 / Language",
    server: "서버 주소",
    desk_name: "데스크 이름",
    pairing_code: "페어링 코드",
    pair: "연결하기",
    pairing_title: "이 PC를 센터 데스크로 연결합니다",
    pairing_help: "운영팀에서 받은 서버 주소와 페어링 코드를 입력하세요. 코드는 한 번만 쓸 수 있습니다.",
    pairing_in_progress: "연결하는 중…",
    unpair: "페어링 해제",
    unpair_confirm: "정말 해제할까요? 다시 쓰려면 새 페어링 코드가 필요합니다. (한 번 더 누르면 해제)",
    unpaired_by_server: "운영팀이 이 데스크의 연결을 해제했습니다. 새 페어링 코드로 다시 연결해 주세요.",
    unknown_desk: "서버가 이 데스크를 알지 못합니다 (다른 서버이거나 서버 데이터가 새로 만들어졌습니다). 운영팀에 새 페어링 코드를 받아 다시 연결해 주세요.",
    already_running_title: "gymgate 데스크가 이미 실행 중입니다",
    void_reasons: [
        "잘못 눌렀음",
        "다른 회원으로 처리됨",
        "회원이 입장하지 않음",
        "같은 방문이 두 번 처리됨",
    ],
    deny_reasons: [
        "본인 확인 불가",
        "이용권 확인 불가",
        "센터 이용 규정 위반",
        "운영 시간 외 방문",
    ],
    other_reason: "다른 이유 직접 입력",
    decide_hint: "이유를 고르거나 직접 적어 주세요. 1–4: 이유 선택 · Tab: 직접 입력 · Enter: 확인 · Esc: 돌아가기",
    reason_needed: "이유를 골라 주세요. 이유는 운영팀과 회원 문의 응대에 쓰입니다.",
    go_back: "돌아가기",
    decide_keys: "F9 승인 · F10 거절 · F8 입장 취소",
    nothing_to_decide: "크게 보이는 입장에는 이 처리를 할 수 없습니다.",
    already_running: "이 PC에서 데스크 프로그램이 이미 열려 있습니다. 작업 표시줄에서 열려 있는 gymgate 데스크 창을 선택해 주세요. 두 개를 함께 열면 같은 기록을 두 번 다루게 되므로 하나만 실행됩니다.",
    pairing_not_saved: "페어링은 되었지만 이 PC에 저장하지 못했습니다. 디스크 공간을 확인하고 다시 시도해 주세요.",
    not_saved_on_pc: "이 PC에 저장하지 못했습니다. 디스크 공간을 확인하고 다시 시도해 주세요. 계속되면 운영팀에 알려 주세요.",
    member_not_in_roster: "이 데스크의 회원 목록에 없는 회원입니다. 검색에서 서버 결과로 찾거나 회원의 패스를 스캔해 주세요.",
    core_failed: "이 PC의 데스크 데이터를 열 수 없습니다. 프로그램을 다시 시작해 주세요. 계속되면 운영팀에 알려 주세요.",
    retry_now: "지금 다시 연결",
    no_results: "찾는 회원이 없습니다. 최근 90일 안에 이 센터를 방문한 회원만 검색됩니다.",
    manual_open: "직원 판단으로 입장 (F6)",
    manual_title: "직원 판단으로 입장",
    manual_hint: "앱도 오프라인 패스도 없고 이 PC에서 찾을 수 없는 회원: 신분증을 확인하고 회원번호를 적어 주세요. 서버에 연결되면 본사가 확인하고, 규칙에 맞지 않으면 본사가 검토합니다. 입장 기록은 없어지지 않습니다.",
    manual_member_no: "회원번호",
    manual_note: "확인한 내용 (신분증 등)",
    manual_notes: [
        "신분증 확인 · 휴대폰 방전",
        "신분증 확인 · 앱 오류",
        "회원카드 확인",
    ],
    manual_missing: "회원번호와 확인한 내용을 모두 적어 주세요.",
    manual_confirm: "입장 처리 (Enter)",
    starting: "시작하는 중…",
    cache_recovered: "이 PC의 저장 파일이 손상되어 새로 만들었습니다. 서버에서 다시 받아옵니다.",
    update_installing: "새 버전을 설치합니다. 데스크가 잠시 후 다시 시작됩니다 — 기록은 모두 보존됩니다.",
    saved_offline: "이 PC에 저장했습니다. 연결되면 자동으로 전송됩니다.",
    sent_now: "서버에 전송되었습니다.",
    refused_title: "입장 불가",
    refused_dismiss: "확인 (Esc)",
    refused_next_replayed: "회원에게 앱의 패스 화면을 다시 열어 달라고 한 뒤 새 코드를 스캔하세요 (캡처 화면은 쓸 수 없습니다).",
    refused_next_stale: "캡처 화면일 수 있습니다. 회원에게 앱의 패스 화면을 지금 다시 열어 달라고 한 뒤 스캔하세요. 계속되면 이 PC의 시계를 확인하세요.",
    refused_next_blocked: "입장시키지 말고, 회원에게 고객센터에 문의하도록 안내하세요.",
    refused_next_expired: "회원 휴대폰의 패스가 오래되었습니다. 휴대폰을 인터넷에 한 번 연결하면 새로 받습니다. 급하면 회원번호로 검색(F2)하세요.",
    refused_next_forged: "gymgate 패스가 아니거나 위조·변조된 코드입니다. 입장시키지 말고, 회원번호로 검색(F2)해 본인을 확인하세요.",
    refused_next_rules: "규칙상 지금은 입장할 수 없습니다. 회원에게 이유를 알려 주세요. 잘못되었다면 운영팀에 문의하세요.",
    refused_next_other: "다시 스캔하거나, 회원번호로 검색(F2)하세요.",
    notice: "공지",
    close: "닫기",
    scan_hint: "회원 패스 QR을 스캐너로 읽으세요",
    scan_title: "패스 스캔",
    remote_heading: "서버에서 찾은 회원 (이 센터 방문 기록 없음도 포함)",
    remote_searching: "서버에서 찾는 중…",
    remote_none: "서버에도 해당하는 회원이 없습니다.",
    remote_offline: "오프라인입니다: 최근 이 센터를 방문한 회원만 찾을 수 있습니다. 처음 온 회원은 회원 앱의 패스(QR)를 스캔해 주세요.",
    remote_unreachable: "서버에 연결할 수 없어 이 PC에 있는 회원만 보여 줍니다. 회원 앱의 패스(QR)를 스캔할 수 있습니다.",
    remote_too_many: "서버 검색이 너무 잦습니다. 잠시 후 다시 해 주세요.",
    remote_daily_limit: "오늘 이 데스크의 회원 조회 한도를 다 썼습니다. 회원의 오프라인 입장권(QR)을 스캔하거나 운영팀에 문의해 주세요.",
};

pub const EN: Strings = Strings {
    lang: Language::En,
    online: "Online",
    connecting: "Connecting…",
    offline: "Offline",
    today: "Today",
    no_checkins_yet: "No one has checked in yet today.",
    waiting_for_first: "The next member who comes in shows here, big.",
    search: "Find member · Check in",
    search_hint: "Name, last 4 phone digits or member number",
    check_in: "Check in",
    conflicts: "Needs review",
    settings: "Settings",
    entrance: "Entrance QR",
    entrance_hint: "Members press 'Enter with the entrance QR' in the gymgate app and point it at this code: their visit then carries proof they were here. The code changes every 5 seconds.",
    entrance_unavailable: "This PC has no entrance QR key; pairing the desk again makes one.",
    statement_check: "Statement check (last 14 days: the head office's statement against this PC's record, day by day)",
    statement_none: "No check-ins in the last 14 days.",
    statement_offline: "The server cannot be reached, so nothing was compared; this PC's own record is shown. Open this again once online.",
    back: "Back (Esc)",
    void: "Void",
    admit: "Admit",
    deny: "Deny",
    acknowledge: "Got it",
    no_conflicts: "Nothing to review.",
    conflicts_help: "Checked in while offline, but the server's rules refuse it. The visit is kept and operators decide whether it counts. Please check with the member.",
    first_visit: "First visit",
    expiring_soon: "Pass expiring",
    birthday: "Birthday",
    pending_approval: "Needs approval",
    blocked: "Blocked",
    unlimited: "Unlimited",
    admitted: "Admitted",
    pending: "Pending",
    denied: "Denied",
    voided: "Voided",
    expired: "Expired",
    disputed: "Under review",
    not_synced: "Not synced yet",
    sound_on: "Sound on",
    sound_off: "Sound off",
    language: "Language / 언어",
    server: "Server address",
    desk_name: "Desk name",
    pairing_code: "Pairing code",
    pair: "Connect",
    pairing_title: "Connect this PC as a center desk",
    pairing_help: "Enter the server address and the pairing code from the operations team. A code works once.",
    pairing_in_progress: "Connecting…",
    unpair: "Unpair",
    unpair_confirm: "Unpair this desk? A new pairing code is needed to use it again. (Press again to unpair)",
    unpaired_by_server: "The operations team unpaired this desk. Please connect it again with a new pairing code.",
    unknown_desk: "The server does not know this desk (another server, or its data was made anew). Ask the operations team for a new pairing code and connect again.",
    already_running_title: "The gymgate desk is already running",
    void_reasons: [
        "Pressed by mistake",
        "Checked in as the wrong member",
        "The member did not come in",
        "The same visit was counted twice",
    ],
    deny_reasons: [
        "Could not confirm who it is",
        "Could not confirm the pass",
        "Against the center's rules",
        "Outside opening hours",
    ],
    other_reason: "Type another reason",
    decide_hint: "Pick a reason or type one. 1–4: pick · Tab: type · Enter: confirm · Esc: back",
    reason_needed: "Pick a reason: operators and member support read it.",
    go_back: "Back",
    decide_keys: "F9 admit · F10 deny · F8 void",
    nothing_to_decide: "The check-in shown big cannot take this action.",
    already_running: "The desk program is already open on this PC. Pick the open gymgate desk window in the taskbar. Only one runs at a time, so the same records are never handled twice.",
    pairing_not_saved: "Paired, but this PC could not save it. Check the disk space and try again.",
    not_saved_on_pc: "Could not save on this PC. Check the disk space and try again; if it goes on, tell the operations team.",
    member_not_in_roster: "This member is not in this desk's list. Find them among the server's results in search, or scan their pass.",
    core_failed: "The desk's data on this PC cannot be opened. Restart the program; if it goes on, tell the operations team.",
    retry_now: "Reconnect now",
    no_results: "No member found. Only members who visited this center in the last 90 days are listed.",
    manual_open: "Let in on staff judgement (F6)",
    manual_title: "Let in on staff judgement",
    manual_hint: "No app, no offline pass, and not on this PC: check their ID and type their member number. The server checks it once connected; if the rules refuse it, the head office reviews it. The visit is never lost.",
    manual_member_no: "Member number",
    manual_note: "What you checked (ID card…)",
    manual_notes: [
        "ID checked · phone dead",
        "ID checked · app error",
        "Membership card checked",
    ],
    manual_missing: "Type both the member number and what you checked.",
    manual_confirm: "Check in (Enter)",
    starting: "Starting…",
    cache_recovered: "This PC's saved data was damaged and has been replaced; it is being reloaded from the server.",
    update_installing: "Installing a new version. The desk restarts in a moment — nothing recorded is lost.",
    saved_offline: "Saved on this PC; it will be sent automatically once connected.",
    sent_now: "Sent to the server.",
    refused_title: "NOT ADMITTED",
    refused_dismiss: "OK (Esc)",
    refused_next_replayed: "Ask the member to open the pass screen again and scan the new code (a screenshot does not work).",
    refused_next_stale: "An old screen (a screenshot?). Ask the member to open the pass screen now and scan again. If it goes on, check this PC's clock.",
    refused_next_blocked: "Do not let them in; ask the member to contact customer support.",
    refused_next_expired: "The pass on the member's phone is too old; it renews once the phone goes online. If urgent, search the member number (F2).",
    refused_next_forged: "Not a gymgate pass, or a forged or altered one. Do not let them in; search the member number (F2) to check who they are.",
    refused_next_rules: "The rules do not let this member in now; tell them why. If that is wrong, ask the operations team.",
    refused_next_other: "Scan again, or search the member number (F2).",
    notice: "Notice",
    close: "Close",
    scan_hint: "Scan the member's pass (QR) with the scanner",
    scan_title: "Pass scan",
    remote_heading: "Found on the server (including first visits here)",
    remote_searching: "Searching the server…",
    remote_none: "No such member on the server either.",
    remote_offline: "Offline: only recent visitors of this center can be found. For a first visit, scan the member's pass (QR) in the app.",
    remote_unreachable: "The server cannot be reached; showing members on this PC only. The member's pass (QR) can be scanned.",
    remote_too_many: "Too many server searches; wait a moment.",
    remote_daily_limit: "This desk has used up today's member lookups. Scan the member's offline pass (QR), or ask the operations team.",
};

pub fn strings(lang: Language) -> &'static Strings {
    match lang {
        Language::Ko => &KO,
        Language::En => &EN,
    }
}

/// `HH:MM` in Korean time, whatever the PC's zone.
pub fn clock(at: DateTime<Utc>) -> String {
    at.with_timezone(&gymgate_shared::kst::offset())
        .format("%H:%M")
        .to_string()
}

impl Strings {
    fn ko(&self) -> bool {
        self.lang == Language::Ko
    }

    /// The calm offline line: since when, that nothing is lost, how many wait.
    pub fn offline_banner(&self, since: DateTime<Utc>, pending: usize) -> String {
        if self.ko() {
            format!(
                "{} 부터 오프라인 — 체크인은 이 PC에 저장되고 연결되면 동기화됩니다 (대기 {pending}건)",
                clock(since)
            )
        } else {
            format!(
                "Offline since {} — check-ins are saved on this PC and will sync ({pending} waiting)",
                clock(since)
            )
        }
    }

    /// Whom to reach, as operators set it; `None` when they set nothing.
    pub fn support_line(&self, contact: &gymgate_shared::api::SupportContact) -> Option<String> {
        let mut parts = Vec::new();
        if !contact.phone.is_empty() {
            parts.push(if self.ko() {
                format!("전화 {}", contact.phone)
            } else {
                format!("call {}", contact.phone)
            });
        }
        if !contact.chat_url.is_empty() {
            parts.push(if self.ko() {
                format!("채팅 {}", contact.chat_url)
            } else {
                format!("chat {}", contact.chat_url)
            });
        }
        if parts.is_empty() {
            return None;
        }
        let hours = if contact.hours.is_empty() {
            String::new()
        } else {
            format!(" ({})", contact.hours)
        };
        Some(if self.ko() {
            format!("본사 고객 지원: {}{hours}", parts.join(" · "))
        } else {
            format!("gymgate support: {}{hours}", parts.join(" · "))
        })
    }

    /// A check-in on staff's judgement before the server said who it was.
    pub fn unconfirmed_member(&self, member_no: &str) -> String {
        if self.ko() {
            format!("회원번호 {member_no} (확인 전)")
        } else {
            format!("Member no. {member_no} (not confirmed yet)")
        }
    }

    /// One day of the statement check: "일치", or what differs.
    pub fn statement_day(&self, day: &gymgate_shared::settlement::DayCheck) -> String {
        if day.matches {
            return if self.ko() {
                format!("{} · 일치 · {}건", day.date, day.server_count)
            } else {
                format!("{} · matches · {} check-ins", day.date, day.server_count)
            };
        }
        // Check-in ids are long; the first 8 characters are what support asks for.
        let ids = |ids: &[String]| {
            ids.iter()
                .map(|id| id.get(..8).unwrap_or(id).to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if self.ko() {
            parts.push(format!(
                "{} · 다름: 본사 {}건, 이 PC {}건",
                day.date, day.server_count, day.desk_count
            ));
            if !day.only_on_server.is_empty() {
                parts.push(format!(
                    "이 PC에 없는 입장 {}건 ({})",
                    day.only_on_server.len(),
                    ids(&day.only_on_server)
                ));
            }
            if !day.only_on_desk.is_empty() {
                parts.push(format!(
                    "본사에 없는 입장 {}건 ({})",
                    day.only_on_desk.len(),
                    ids(&day.only_on_desk)
                ));
            }
            if !day.different.is_empty() {
                parts.push(format!(
                    "처리 결과가 다른 입장 {}건 ({})",
                    day.different.len(),
                    ids(&day.different)
                ));
            }
            parts.push("운영팀에 문의해 주세요".into());
        } else {
            parts.push(format!(
                "{} · differs: head office {}, this PC {}",
                day.date, day.server_count, day.desk_count
            ));
            if !day.only_on_server.is_empty() {
                parts.push(format!(
                    "{} not on this PC ({})",
                    day.only_on_server.len(),
                    ids(&day.only_on_server)
                ));
            }
            if !day.only_on_desk.is_empty() {
                parts.push(format!(
                    "{} not at the head office ({})",
                    day.only_on_desk.len(),
                    ids(&day.only_on_desk)
                ));
            }
            if !day.different.is_empty() {
                parts.push(format!(
                    "{} with another outcome ({})",
                    day.different.len(),
                    ids(&day.different)
                ));
            }
            parts.push("ask the operations team".into());
        }
        parts.join(" · ")
    }

    pub fn statement_count(&self, count: usize) -> String {
        if self.ko() {
            format!("{count}건")
        } else {
            format!("{count} check-ins")
        }
    }

    pub fn next_try(&self, seconds: i64) -> String {
        if self.ko() {
            format!("{seconds}초 후 다시 연결")
        } else {
            format!("next try in {seconds}s")
        }
    }

    pub fn waiting(&self, pending: usize) -> String {
        if self.ko() {
            format!("전송 대기 {pending}건")
        } else {
            format!("{pending} waiting")
        }
    }

    pub fn last_sync(&self, at: Option<DateTime<Utc>>) -> String {
        let at = at.map(clock).unwrap_or_else(|| "-".into());
        if self.ko() {
            format!("마지막 동기화 {at}")
        } else {
            format!("last sync {at}")
        }
    }

    pub fn today_count(&self, count: usize) -> String {
        if self.ko() {
            format!("{} {count}명", self.today)
        } else {
            format!("{} ({count})", self.today)
        }
    }

    /// After a blip: how many came in while this desk was cut off, and since when it is back.
    pub fn missed_while_offline(&self, count: usize, back_at: DateTime<Utc>) -> String {
        if self.ko() {
            format!(
                "연결이 끊긴 동안 {count}명 입장 ({} 재연결)",
                clock(back_at)
            )
        } else {
            format!(
                "{count} checked in while the link was down (back at {})",
                clock(back_at)
            )
        }
    }

    /// The common reasons offered for voiding or denying a check-in.
    pub fn decision_reasons(
        &self,
        decision: gymgate_shared::protocol::Decision,
    ) -> &[&'static str] {
        use gymgate_shared::protocol::Decision;
        match decision {
            Decision::Void => &self.void_reasons,
            Decision::Deny => &self.deny_reasons,
            Decision::Admit => &[],
        }
    }

    fn decision_word(&self, decision: gymgate_shared::protocol::Decision) -> &'static str {
        use gymgate_shared::protocol::Decision;
        match decision {
            Decision::Void => self.void,
            Decision::Deny => self.deny,
            Decision::Admit => self.admit,
        }
    }

    pub fn decide_title(
        &self,
        decision: gymgate_shared::protocol::Decision,
        member: &str,
    ) -> String {
        let what = self.decision_word(decision);
        if self.ko() {
            format!("{member} 님 — {what}")
        } else {
            format!("{member} — {what}")
        }
    }

    pub fn decide_confirm(&self, decision: gymgate_shared::protocol::Decision) -> String {
        let what = self.decision_word(decision);
        if self.ko() {
            format!("{what} 확인")
        } else {
            format!("Confirm: {what}")
        }
    }

    /// A check-in that did not happen: the rules' refusal, or this PC could not save it.
    pub fn checkin_error(&self, error: &gymgate_desk_core::CheckinError) -> String {
        use gymgate_desk_core::CheckinError;
        match error {
            CheckinError::Refused(refusal) => self.refusal(*refusal),
            CheckinError::UnknownMember => self.member_not_in_roster.to_owned(),
            CheckinError::ManualIncomplete => self.manual_missing.to_owned(),
            CheckinError::Cache(cause) => {
                tracing::error!(error = %cause, "a check-in could not be saved on this PC");
                self.not_saved_on_pc.to_owned()
            }
        }
    }

    /// Whose code was refused.
    pub fn refused_for(&self, name: &str) -> String {
        if self.ko() {
            format!("{name} 회원의 패스")
        } else {
            format!("{name}'s pass")
        }
    }

    /// What staff should do after a refused scan.
    pub fn refusal_next(&self, error: &gymgate_desk_core::ScanError) -> &'static str {
        use gymgate_desk_core::{CheckinError, ScanError};
        use gymgate_shared::pass::PassError;
        use gymgate_shared::policy::Refusal;
        match error {
            ScanError::Pass(PassError::Replayed) => self.refused_next_replayed,
            ScanError::Pass(PassError::Stale | PassError::FromTheFuture) => self.refused_next_stale,
            ScanError::Pass(PassError::Revoked)
            | ScanError::Checkin(CheckinError::Refused(Refusal::MemberBlocked)) => {
                self.refused_next_blocked
            }
            ScanError::Pass(PassError::CertificateExpired) => self.refused_next_expired,
            ScanError::Pass(
                PassError::BadServerSignature
                | PassError::BadDeviceSignature
                | PassError::UnknownKey
                | PassError::Malformed,
            ) => self.refused_next_forged,
            ScanError::Checkin(CheckinError::Refused(_)) => self.refused_next_rules,
            ScanError::Checkin(_) => self.refused_next_other,
        }
    }

    /// Why the server refused this desk's token, by its code.
    pub fn unpaired(&self, code: &str) -> &'static str {
        match code {
            "token_revoked" => self.unpaired_by_server,
            _ => self.unknown_desk,
        }
    }

    /// A failed pairing in staff's words, with what to do; never the library's text.
    pub fn pair_error(&self, error: &gymgate_desk_core::config::PairError) -> String {
        use gymgate_desk_core::config::PairError;
        let (ko, en) = match error {
            PairError::Unreachable(_) => (
                "서버에 연결할 수 없습니다. 서버 주소와 이 PC의 인터넷 연결을 확인한 뒤 다시 시도해 주세요. 계속되면 운영팀에 알려 주세요.",
                "Cannot reach the server. Check the server address and this PC's internet connection, then try again. If it goes on, tell the operations team.",
            ),
            PairError::BadAddress(_) => (
                "서버 주소가 올바르지 않습니다. 운영팀이 알려 준 주소(예: https://gate.example.kr)를 입력해 주세요.",
                "The server address is not valid. Enter the address the operations team gave you (e.g. https://gate.example.kr).",
            ),
            PairError::Refused { code, .. } => match code.as_str() {
                "invalid_pairing_code" => (
                    "페어링 코드가 맞지 않거나 이미 사용되었거나 만료되었습니다. 코드를 확인하거나 운영팀에 새 코드를 요청해 주세요.",
                    "The pairing code is wrong, already used or expired. Check it, or ask the operations team for a new one.",
                ),
                "invalid_name" => (
                    "데스크 이름을 확인해 주세요 (비워 둘 수 없고 너무 길면 안 됩니다).",
                    "Check the desk name (it cannot be empty or too long).",
                ),
                "rate_limited" => (
                    "시도가 너무 많습니다. 1분 후 다시 시도해 주세요.",
                    "Too many attempts. Try again in a minute.",
                ),
                _ => (
                    "서버가 지금 페어링을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요. 계속되면 운영팀에 알려 주세요.",
                    "The server could not pair this desk just now. Try again shortly; if it goes on, tell the operations team.",
                ),
            },
        };
        if self.ko() { ko } else { en }.to_owned()
    }

    pub fn conflicts_count(&self, count: usize) -> String {
        format!("{} {count}", self.conflicts)
    }

    pub fn visits_left(&self, left: Option<u32>) -> String {
        match (left, self.ko()) {
            (None, true) => "무제한 이용".into(),
            (None, false) => "Unlimited".into(),
            (Some(n), true) => format!("이번 달 남은 횟수 {n}회"),
            (Some(n), false) => format!("{n} visits left this month"),
        }
    }

    /// "월 8회 · 이번 달 남은 횟수 7회"; an unlimited plan is just its name.
    pub fn plan_line(&self, plan: &str, left: Option<u32>) -> String {
        match left {
            None => plan.to_owned(),
            Some(_) => format!("{plan} · {}", self.visits_left(left)),
        }
    }

    pub fn method(&self, method: gymgate_shared::api::CheckinMethod) -> &'static str {
        use gymgate_shared::api::CheckinMethod::*;
        match (method, self.ko()) {
            (App, true) => "회원 앱으로 입장",
            (App, false) => "Entered with the member app",
            (Roster, true) => "데스크에서 체크인",
            (Roster, false) => "Checked in at the desk",
            (Pass, true) => "오프라인 패스로 입장",
            (Pass, false) => "Entered with the offline pass",
            (Manual, true) => "직원 판단으로 입장",
            (Manual, false) => "Let in on staff judgement",
        }
    }

    /// The last four digits of the member's phone (the font has no ☎, and a Windows PC may
    /// have no fallback for it).
    pub fn phone_tail(&self, last4: &str) -> String {
        if last4.is_empty() {
            String::new()
        } else if self.ko() {
            format!("휴대폰 끝자리 {last4}")
        } else {
            format!("phone …{last4}")
        }
    }

    /// Why a scanned pass did not let the member in.
    pub fn pass_problem(&self, problem: gymgate_shared::pass::PassError) -> String {
        if self.ko() {
            problem.message_ko().to_owned()
        } else {
            let mut text = problem.to_string();
            if let Some(first) = text.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            text
        }
    }

    pub fn valid_until(&self, date: chrono::NaiveDate) -> String {
        if self.ko() {
            format!("{date} 까지")
        } else {
            format!("valid until {date}")
        }
    }

    pub fn refusal(&self, refusal: Refusal) -> String {
        if self.ko() {
            refusal.message_ko().to_owned()
        } else {
            let mut text = refusal.to_string();
            if let Some(first) = text.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            text
        }
    }

    /// A server reason code in words.
    pub fn reason(&self, code: &str) -> String {
        if let Some(refusal) = Refusal::from_code(code) {
            return self.refusal(refusal);
        }
        if let Some(problem) = gymgate_shared::pass::PassError::from_code(code) {
            return self.pass_problem(problem);
        }
        let (ko, en) = match code {
            "unknown_member" => (
                "서버에 없는 회원입니다.",
                "The server does not know this member.",
            ),
            "unknown_member_no" => (
                "서버에 없는 회원번호입니다. 번호를 다시 확인하고 본사에 문의하세요.",
                "No member has this number. Check it again and call the head office.",
            ),
            "manual_entry_missing" => (
                "회원번호 없이 기록되었습니다. 본사에 문의하세요.",
                "Recorded without a member number; call the head office.",
            ),
            "time_out_of_range" => (
                "기록 시각이 너무 오래되었거나 PC 시계가 틀립니다.",
                "The time is too old, or this PC's clock is wrong.",
            ),
            "pass_proof_invalid" => (
                "오프라인 패스를 확인할 수 없습니다.",
                "The offline pass could not be verified.",
            ),
            "offline" => (
                "오프라인 상태에서는 할 수 없습니다. 연결되면 다시 시도하세요.",
                "Not possible while offline; try again once connected.",
            ),
            "invalid_transition" => (
                "이미 처리된 입장입니다.",
                "This check-in was already handled.",
            ),
            "unknown_checkin" => (
                "이 센터의 입장이 아닙니다.",
                "Not a check-in of this center.",
            ),
            "previous_pairing_unsent" => (
                "이 PC의 이전 연결(다른 데스크)에서 기록된 입장으로, 아직 서버에 보내지 못했습니다. 이 데스크의 입장으로는 보내지 않습니다. 운영팀에 알려 주세요.",
                "Recorded under this PC's earlier pairing (another desk) and not sent yet. It is never sent as this desk's visit; please tell operators.",
            ),
            "previous_pairing_revoked" => (
                "이전 연결(다른 데스크)이 해제되어 보낼 수 없는 입장입니다. 운영팀에 알려 주세요.",
                "Recorded under an earlier pairing that was revoked, so it cannot be sent; please tell operators.",
            ),
            "storage_unavailable" => (
                "서버가 잠시 저장할 수 없습니다. 이 PC에 보관 중이며 다시 보냅니다.",
                "The server cannot store right now; kept on this PC and sent again.",
            ),
            _ => return code.to_owned(),
        };
        if self.ko() { ko.into() } else { en.into() }
    }

    pub fn record_status(&self, status: RecordStatus) -> &'static str {
        match (status, self.ko()) {
            (RecordStatus::Accepted | RecordStatus::Duplicate, true) => "전송 완료",
            (RecordStatus::Accepted | RecordStatus::Duplicate, false) => "Synced",
            (RecordStatus::Conflict, true) => "운영팀 검토 중",
            (RecordStatus::Conflict, false) => "Disputed, under review",
            (RecordStatus::Rejected, true) => "서버가 거부",
            (RecordStatus::Rejected, false) => "Rejected",
        }
    }
}
