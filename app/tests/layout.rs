//! Any screen (issue 18): the desk's board laid out at 1024×768, 1366×768 and 1920×1080 with
//! a busy day on it (a notice, the offline banner, a featured card with every flag, a long
//! list), and everything staff must see is inside the window, not clipped.
//!
//! `GYMGATE_LAYOUT_SHOTS=<dir>` also saves what each size looks like, as PNG.

use std::borrow::Cow;

use chrono::Utc;
use gymgate_desk::sound::Chime;
use gymgate_desk::ui::i18n::KO;
use gymgate_desk::ui::{App, Message, Phase, Running, theme};
use gymgate_desk_core::config::Pairing;
use gymgate_desk_core::{CoreEvent, LinkStatus};
use gymgate_shared::api::{
    Checkin, CheckinCard, CheckinFlag, CheckinMethod, CheckinStatus, Notice, RosterMember, Severity,
};
use gymgate_shared::{CenterId, CheckinId, DeskId, MemberId, NoticeId};
use iced::{Rectangle, Size};
use iced_test::Simulator;

const SIZES: [(f32, f32); 3] = [(1024.0, 768.0), (1366.0, 768.0), (1920.0, 1080.0)];

fn card(i: usize, name: &str, minutes_ago: i64) -> CheckinCard {
    CheckinCard {
        checkin: Checkin {
            id: CheckinId::new(format!("c{i}")),
            member_id: MemberId::new(format!("m{i}")),
            center_id: CenterId::new("c1"),
            center_name: "강남점".into(),
            status: if i % 7 == 3 {
                CheckinStatus::Pending
            } else {
                CheckinStatus::Admitted
            },
            method: CheckinMethod::App,
            at: Utc::now() - chrono::Duration::minutes(minutes_ago),
            rev: 1,
            local_id: None,
            desk_id: None,
            history: vec![],
            dispute: None,
        },
        member: RosterMember {
            id: MemberId::new(format!("m{i}")),
            member_no: format!("{}", 100_000 + i),
            name: name.into(),
            phone_last4: "5678".into(),
            plan: "월 8회 (주말 포함)".into(),
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2026-12-03".parse().expect("date"),
            visits_per_month: Some(8),
            visits_left: Some(1),
            blocked: false,
            birthday: None,
            photo_url: None,
        },
        flags: vec![
            CheckinFlag::FirstVisit,
            CheckinFlag::ExpiringSoon,
            CheckinFlag::Birthday,
        ],
    }
}

/// A head and shoulders on a plain background, as a member photo would show.
fn likeness() -> image::RgbImage {
    image::RgbImage::from_fn(320, 320, |x, y| {
        let (x, y) = (x as f32, y as f32);
        let head = (x - 160.0).powi(2) + (y - 125.0).powi(2) < 62.0_f32.powi(2);
        let shoulders =
            (x - 160.0).powi(2) / 130.0_f32.powi(2) + (y - 330.0).powi(2) / 120.0_f32.powi(2) < 1.0;
        if head {
            image::Rgb([233, 196, 160])
        } else if shoulders {
            image::Rgb([52, 92, 160])
        } else {
            image::Rgb([214, 222, 232])
        }
    })
}

fn busy_desk(dir: &std::path::Path, newest: CheckinStatus) -> App {
    let (mut app, _) = App::new(dir.to_owned(), None, Chime::silent());
    let mut running = Running::new(Pairing {
        server_url: "https://gate.example.kr".into(),
        desk_id: DeskId::new("d1"),
        center_id: CenterId::new("c1"),
        desk_name: "1층 안내 데스크".into(),
        token: "token".into(),
        servers: Vec::new(),
    });
    running.center_name = Some("강남역 2호점 피트니스".into());
    running.notices = vec![Notice {
        id: NoticeId::new("n1"),
        severity: Severity::Warning,
        text_ko: "오늘 22시부터 23시까지 서버 점검이 있습니다. 점검 중에도 데스크에서 입장 처리가 됩니다.".into(),
        text_en: "Server maintenance 22:00–23:00 today; the desk keeps checking members in.".into(),
        starts_at: Utc::now() - chrono::Duration::hours(1),
        ends_at: None,
        cleared: false,
    }];
    app.phase = Phase::Running(Box::new(running));
    for i in 0..40 {
        let name = if i == 39 {
            "남궁민수아"
        } else {
            "김민준"
        };
        let mut card = card(i, name, 40 - i as i64);
        if i == 39 {
            card.checkin.status = newest;
        }
        app.update(Message::Core(CoreEvent::Checkin(card)));
    }
    // The newest member has a photo on this PC (a drawn likeness stands in for one).
    let photo = dir.join("photos").join("m39-1.jpg");
    std::fs::create_dir_all(dir.join("photos")).expect("photos folder");
    likeness().save(&photo).expect("save the photo");
    app.update(Message::Photo(MemberId::new("m39"), Some(photo)));
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Offline {
        since: Utc::now() - chrono::Duration::minutes(4),
        retry_at: Utc::now() + chrono::Duration::seconds(8),
        reason: "connection refused".into(),
    })));
    app.update(Message::Core(CoreEvent::Outbox {
        pending: 12,
        conflicts: vec![],
    }));
    app
}

/// The window's contents at `size`, with the shipped fonts (text measures as on a desk PC).
fn at_size<'a>(size: Size, view: iced::Element<'a, Message>) -> Simulator<'a, Message> {
    let settings = iced::Settings {
        fonts: vec![
            Cow::Borrowed(theme::REGULAR_FONT),
            Cow::Borrowed(theme::BOLD_FONT),
        ],
        default_font: theme::REGULAR,
        ..iced::Settings::default()
    };
    Simulator::with_size(settings, size, view)
}

/// Laid out inside the window and not clipped by anything around it (a squashed button clips
/// its own label: the label's visible part is then smaller than its layout).
fn fully_visible(what: &str, bounds: Rectangle, visible: Option<Rectangle>, size: Size) {
    // Half a pixel of rounding either way.
    let close = |a: f32, b: f32| (a - b).abs() <= 0.5;
    assert!(
        bounds.x >= -0.5
            && bounds.y >= -0.5
            && bounds.x + bounds.width <= size.width + 0.5
            && bounds.y + bounds.height <= size.height + 0.5,
        "{what} is laid out outside the window at {}×{}: {bounds:?}",
        size.width,
        size.height
    );
    let visible =
        visible.unwrap_or_else(|| panic!("{what} is hidden at {}×{}", size.width, size.height));
    assert!(
        close(visible.x, bounds.x)
            && close(visible.y, bounds.y)
            && close(visible.width, bounds.width)
            && close(visible.height, bounds.height),
        "{what} is cut off at {}×{}: {visible:?} of {bounds:?}",
        size.width,
        size.height
    );
}

#[test]
fn the_board_fits_every_screen_from_1024_to_1920() {
    for (newest, buttons) in [
        (CheckinStatus::Admitted, vec![KO.void]),
        (CheckinStatus::Pending, vec![KO.admit, KO.deny, KO.void]),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = busy_desk(dir.path(), newest);
        let Phase::Running(running) = &app.phase else {
            panic!("running");
        };
        let since = running.link.offline_since().expect("offline");
        let mut must_see: Vec<String> = vec![
            "남궁민수아".into(),
            KO.first_visit.into(),
            KO.birthday.into(),
            KO.plan_line("월 8회 (주말 포함)", Some(1)),
            KO.today_count(40),
            KO.offline_banner(since, 12),
            KO.waiting(12),
            KO.retry_now.into(),
            format!(
                "{} · 오늘 22시부터 23시까지 서버 점검이 있습니다. 점검 중에도 데스크에서 입장 처리가 됩니다.",
                KO.notice
            ),
            KO.method(CheckinMethod::App).into(),
            KO.settings.into(),
            KO.decide_keys.into(),
        ];
        must_see.extend(buttons.iter().map(|b| (*b).to_owned()));
        for (width, height) in SIZES {
            let size = Size::new(width, height);
            let mut ui = at_size(size, app.view());
            for text in &must_see {
                let found = ui.find(text.as_str()).unwrap_or_else(|e| {
                    panic!("{text:?} not on the board at {width}×{height}: {e}")
                });
                fully_visible(text, found.bounds(), found.visible_bounds(), size);
            }
            if let Ok(shots) = std::env::var("GYMGATE_LAYOUT_SHOTS") {
                let path = std::path::Path::new(&shots)
                    .join(format!("desk-{newest:?}-{width}x{height}").to_lowercase());
                ui.snapshot(&iced::Theme::Light)
                    .and_then(|shot| shot.matches_image(&path))
                    .expect("a snapshot");
            }
        }
    }
}

/// The void/deny panel (reasons, the text field, confirm and back) fits the smallest screen too.
#[test]
fn the_reason_panel_fits_every_screen() {
    use gymgate_shared::protocol::Decision;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = busy_desk(dir.path(), CheckinStatus::Pending);
    app.update(Message::Board(
        gymgate_desk::ui::screen::board::Message::Decide(CheckinId::new("c39"), Decision::Deny),
    ));
    let mut must_see: Vec<String> = KO
        .deny_reasons
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{}  {r}", i + 1))
        .collect();
    must_see.push(KO.decide_title(Decision::Deny, "남궁민수아"));
    must_see.push(KO.decide_confirm(Decision::Deny));
    must_see.push(KO.go_back.into());
    must_see.push(KO.other_reason.into());
    for (width, height) in SIZES {
        let size = Size::new(width, height);
        let mut ui = at_size(size, app.view());
        for text in &must_see {
            let found = ui
                .find(text.as_str())
                .unwrap_or_else(|e| panic!("{text:?} not shown at {width}×{height}: {e}"));
            fully_visible(text, found.bounds(), found.visible_bounds(), size);
        }
        if let Ok(shots) = std::env::var("GYMGATE_LAYOUT_SHOTS") {
            let path = std::path::Path::new(&shots).join(format!("decide-{width}x{height}"));
            ui.snapshot(&iced::Theme::Light)
                .and_then(|shot| shot.matches_image(&path))
                .expect("a snapshot");
        }
    }
}

/// The form for letting a member in on staff's judgement fits the smallest screen too.
#[test]
fn the_judgement_form_fits_every_screen() {
    use gymgate_desk::ui::View;
    use gymgate_desk::ui::screen::search;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = busy_desk(dir.path(), CheckinStatus::Admitted);
    app.update(Message::Navigate(View::Search));
    app.update(Message::Search(search::Message::Query("100234".into())));
    app.update(Message::Search(search::Message::OpenManual));
    app.update(Message::Search(search::Message::ManualSubmit));
    let mut must_see: Vec<String> = KO.manual_notes.iter().map(|n| (*n).to_owned()).collect();
    must_see.extend(
        [
            KO.manual_title,
            KO.manual_hint,
            KO.manual_member_no,
            KO.manual_missing,
            KO.manual_confirm,
            KO.go_back,
        ]
        .map(str::to_owned),
    );
    for (width, height) in SIZES {
        let size = Size::new(width, height);
        let mut ui = at_size(size, app.view());
        for text in &must_see {
            let found = ui
                .find(text.as_str())
                .unwrap_or_else(|e| panic!("{text:?} not shown at {width}×{height}: {e}"));
            fully_visible(text, found.bounds(), found.visible_bounds(), size);
        }
        if let Ok(shots) = std::env::var("GYMGATE_LAYOUT_SHOTS") {
            let path = std::path::Path::new(&shots).join(format!("manual-{width}x{height}"));
            ui.snapshot(&iced::Theme::Light)
                .and_then(|shot| shot.matches_image(&path))
                .expect("a snapshot");
        }
    }
}

/// Issue 23, finding 11: a refused scan's card (why, whose pass, what to do, the button) fits
/// every screen, in place of the big card.
#[test]
fn a_refused_scan_fits_every_screen() {
    use gymgate_desk::ui::state::ScanRefusal;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = busy_desk(dir.path(), CheckinStatus::Admitted);
    let next = KO.refusal_next(&gymgate_desk_core::ScanError::Pass(
        gymgate_shared::pass::PassError::Replayed,
    ));
    app.update(Message::Scanned(Err(ScanRefusal {
        reason: gymgate_shared::pass::PassError::Replayed
            .message_ko()
            .to_owned(),
        name: Some("남궁민수아".into()),
        next: next.to_owned(),
    })));
    let must_see: Vec<String> = vec![
        KO.refused_title.into(),
        gymgate_shared::pass::PassError::Replayed
            .message_ko()
            .into(),
        KO.refused_for("남궁민수아"),
        next.into(),
        KO.refused_dismiss.into(),
    ];
    for (width, height) in SIZES {
        let size = Size::new(width, height);
        let mut ui = at_size(size, app.view());
        for text in &must_see {
            let found = ui
                .find(text.as_str())
                .unwrap_or_else(|e| panic!("{text:?} not shown at {width}×{height}: {e}"));
            fully_visible(text, found.bounds(), found.visible_bounds(), size);
        }
        // The previous member's green card is not what staff see now.
        assert!(
            ui.find(KO.decide_keys).is_err(),
            "the old card is still shown"
        );
        if let Ok(shots) = std::env::var("GYMGATE_LAYOUT_SHOTS") {
            let path = std::path::Path::new(&shots).join(format!("refused-{width}x{height}"));
            ui.snapshot(&iced::Theme::Light)
                .and_then(|shot| shot.matches_image(&path))
                .expect("a snapshot");
        }
    }
}
