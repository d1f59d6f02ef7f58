//! The desk's screens, driven headlessly with iced_test's Simulator: what staff would see
//! and click, mapped to messages and fed back through `App::update`.

use std::path::PathBuf;

use chrono::Utc;
use gymgate_desk::sound::Chime;
use gymgate_desk::ui::i18n::KO;
use gymgate_desk::ui::screen::settings::StatementView;
use gymgate_desk::ui::{App, Command, Message, Phase, Running, View, run_command};
use gymgate_desk_core::cache::Cache;
use gymgate_desk_core::config::Pairing;
use gymgate_desk_core::{CoreEvent, LinkStatus, start};
use gymgate_shared::api::{
    Checkin, CheckinCard, CheckinFlag, CheckinMethod, CheckinStatus, RosterMember,
};
use gymgate_shared::{CenterId, CheckinId, DeskId, MemberId};
use iced_test::simulator;

fn member(id: &str, name: &str) -> RosterMember {
    RosterMember {
        id: MemberId::new(id),
        member_no: "100007".into(),
        name: name.into(),
        phone_last4: "5678".into(),
        plan: "월 8회".into(),
        valid_from: "2026-01-01".parse().expect("date"),
        valid_until: "2030-12-31".parse().expect("date"),
        visits_per_month: Some(8),
        visits_left: Some(5),
        blocked: false,
        birthday: None,
        photo_url: None,
    }
}

fn pairing(server: &str) -> Pairing {
    Pairing {
        server_url: server.into(),
        desk_id: DeskId::new("d1"),
        center_id: CenterId::new("c1"),
        desk_name: "1층 데스크".into(),
        token: "token".into(),
        servers: Vec::new(),
    }
}

fn running_app(dir: PathBuf) -> App {
    let (mut app, _) = App::new(dir, None, Chime::silent());
    app.phase = Phase::Running(Box::new(Running::new(pairing("http://127.0.0.1:1"))));
    app
}

#[test]
fn a_checkin_event_shows_its_card() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = running_app(dir.path().to_owned());
    let card = CheckinCard {
        checkin: Checkin {
            id: CheckinId::new("c1"),
            member_id: MemberId::new("m1"),
            center_id: CenterId::new("c1"),
            center_name: "강남점".into(),
            status: CheckinStatus::Admitted,
            method: CheckinMethod::App,
            at: Utc::now(),
            rev: 1,
            local_id: None,
            desk_id: None,
            history: vec![],
            dispute: None,
        },
        member: member("m1", "김민준"),
        flags: vec![CheckinFlag::FirstVisit, CheckinFlag::Birthday],
    };
    let commands = app.update(Message::Core(CoreEvent::Checkin(card)));
    assert!(commands.is_empty());

    let mut ui = simulator(app.view());
    assert!(ui.find("김민준").is_ok(), "the member's name is shown");
    assert!(ui.find(KO.first_visit).is_ok());
    assert!(ui.find(KO.birthday).is_ok());
    assert!(ui.find(KO.plan_line("월 8회", Some(5)).as_str()).is_ok());
    assert!(ui.find(KO.today_count(1).as_str()).is_ok());
    assert!(
        ui.find(KO.void).is_ok(),
        "an admitted check-in can be voided"
    );
    assert!(ui.find(KO.no_checkins_yet).is_err());
}

#[test]
fn offline_shows_the_banner_and_the_outbox_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = running_app(dir.path().to_owned());
    let since = Utc::now() - chrono::Duration::minutes(3);
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Offline {
        since,
        retry_at: Utc::now() + chrono::Duration::seconds(5),
        reason: "connection refused".into(),
    })));
    app.update(Message::Core(CoreEvent::Outbox {
        pending: 3,
        conflicts: vec![],
    }));
    let mut ui = simulator(app.view());
    assert!(
        ui.find(KO.offline_banner(since, 3).as_str()).is_ok(),
        "calm offline banner"
    );
    assert!(
        ui.find(KO.waiting(3).as_str()).is_ok(),
        "outbox count in the status bar"
    );
    assert!(ui.find(KO.retry_now).is_ok());
    drop(ui);

    // Reconnecting keeps saying offline; back online, the banner goes.
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Connecting {
        attempt: 2,
        offline_since: Some(since),
    })));
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.offline_banner(since, 3).as_str()).is_ok());
    drop(ui);
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Online {
        since: Utc::now(),
    })));
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.offline_banner(since, 3).as_str()).is_err());
    assert!(ui.find(KO.online).is_ok());
}

#[test]
fn offline_the_banner_says_whom_to_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = running_app(dir.path().to_owned());
    let contact = gymgate_shared::api::SupportContact {
        phone: "1588-1234".into(),
        chat_url: "https://pf.kakao.com/_gymgate".into(),
        hours: "매일 06:00-24:00".into(),
    };
    let line = KO.support_line(&contact).expect("a line");
    assert_eq!(
        line,
        "본사 고객 지원: 전화 1588-1234 · 채팅 https://pf.kakao.com/_gymgate (매일 06:00-24:00)"
    );
    app.update(Message::Core(CoreEvent::Support(contact)));
    let mut ui = simulator(app.view());
    assert!(ui.find(line.as_str()).is_err(), "online: no banner");
    drop(ui);
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Offline {
        since: Utc::now(),
        retry_at: Utc::now() + chrono::Duration::seconds(5),
        reason: "connection refused".into(),
    })));
    let mut ui = simulator(app.view());
    assert!(ui.find(line.as_str()).is_ok(), "offline: whom to call");
}

#[tokio::test]
async fn the_settings_page_shows_this_desks_statement_check()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut app = running_app(dir.path().to_owned());
    let (tx, _events) = tokio::sync::mpsc::channel(64);
    let (core, _state, _link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        tx,
    )
    .await?;
    app.update(Message::Core(CoreEvent::Ready(core, Box::default())));
    // Opening the settings reads the digests from the cache.
    let commands = app.update(Message::Navigate(View::Settings));
    let load = commands
        .into_iter()
        .find(|c| matches!(c, Command::LoadStatement(_)))
        .ok_or("no LoadStatement")?;
    // The server is out of reach here: this PC's own record, and the page says so.
    let answer = run_command(load, dir.path().to_owned()).await;
    assert!(matches!(
        &answer,
        Message::Statement(StatementView::Local(days)) if days.is_empty()
    ));
    app.update(answer);
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.statement_offline).is_ok());
    drop(ui);
    // Checked against the server: a day that matches, and one that differs, said how.
    let today = gymgate_shared::kst::date_of(Utc::now());
    let yesterday = today - chrono::Duration::days(1);
    let day = |date, server_count, desk_count, only_on_server: Vec<String>| {
        gymgate_shared::settlement::DayCheck {
            date,
            server_count,
            desk_count,
            matches: only_on_server.is_empty(),
            only_on_server,
            only_on_desk: Vec::new(),
            different: Vec::new(),
        }
    };
    app.update(Message::Statement(StatementView::Checked(vec![
        day(yesterday, 4, 3, vec!["019ad1f2-77aa".into()]),
        day(today, 3, 3, Vec::new()),
    ])));
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.statement_check).is_ok());
    assert!(ui.find(format!("{today} · 일치 · 3건").as_str()).is_ok());
    assert!(
        ui.find(
            format!(
                "{yesterday} · 다름: 본사 4건, 이 PC 3건 · 이 PC에 없는 입장 1건 (019ad1f2) · 운영팀에 문의해 주세요"
            )
            .as_str()
        )
        .is_ok()
    );
    Ok(())
}

/// A card for a check-in made elsewhere (a member's tap) at `at`.
fn tapped(id: &str, name: &str, at: chrono::DateTime<Utc>) -> CheckinCard {
    CheckinCard {
        checkin: Checkin {
            id: CheckinId::new(id),
            member_id: MemberId::new(id),
            center_id: CenterId::new("c1"),
            center_name: "강남점".into(),
            status: CheckinStatus::Admitted,
            method: CheckinMethod::App,
            at,
            rev: 1,
            local_id: None,
            desk_id: None,
            history: vec![],
            dispute: None,
        },
        member: member(id, name),
        flags: vec![],
    }
}

/// Issue 18 and issue 23 (finding 10): after a blip the replayed check-ins are silent (they
/// happened while the desk was away), the board ends on the newest card (not the last
/// replayed), and one line says how many came in meanwhile; live arrivals each chime.
#[test]
fn a_replay_after_a_blip_is_silent_and_says_how_many_came_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = running_app(dir.path().to_owned());
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Online {
        since: Utc::now() - chrono::Duration::minutes(30),
    })));
    let lost_at = Utc::now() - chrono::Duration::minutes(10);
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Offline {
        since: lost_at,
        retry_at: Utc::now(),
        reason: "connection refused".into(),
    })));
    let back = Utc::now();
    app.update(Message::Core(CoreEvent::Link(LinkStatus::Online {
        since: back,
    })));
    // 100 taps made while the desk was away, replayed in log order; the newest of them
    // (replayed in the middle: another desk's late sync) must end up big.
    let newest_at = back - chrono::Duration::seconds(5);
    for i in 0..100 {
        let at = if i == 50 {
            newest_at
        } else {
            lost_at + chrono::Duration::seconds(i)
        };
        let name = if i == 50 { "최신회원" } else { "회원" };
        app.update(Message::Core(CoreEvent::Checkin(tapped(
            &format!("m{i}"),
            name,
            at,
        ))));
    }
    assert_eq!(app.chime.played(), 0, "a replay is silent");
    let Phase::Running(running) = &app.phase else {
        panic!("not running");
    };
    assert_eq!(
        running.featured_card().map(|c| c.member.name.as_str()),
        Some("최신회원"),
        "the board shows the newest card"
    );
    let mut ui = simulator(app.view());
    assert!(
        ui.find(KO.missed_while_offline(100, back).as_str()).is_ok(),
        "the board says 100 came in while the link was down"
    );
    assert!(ui.find(KO.today_count(100).as_str()).is_ok());
    drop(ui);

    // A live tap afterwards is not counted as missed, and takes the big card.
    app.update(Message::Core(CoreEvent::Checkin(tapped(
        "live",
        "지금회원",
        Utc::now() + chrono::Duration::seconds(1),
    ))));
    let Phase::Running(running) = &app.phase else {
        panic!("not running");
    };
    assert_eq!(running.missed.map(|m| m.count), Some(100));
    assert_eq!(
        running.featured_card().map(|c| c.member.name.as_str()),
        Some("지금회원")
    );
    assert_eq!(app.chime.played(), 1, "a live arrival is heard");
    // A second member a second later is heard too (before: silenced as part of a burst).
    std::thread::sleep(std::time::Duration::from_millis(450));
    app.update(Message::Core(CoreEvent::Checkin(tapped(
        "live2",
        "다음회원",
        Utc::now() + chrono::Duration::seconds(2),
    ))));
    assert_eq!(app.chime.played(), 2, "every live arrival is heard");
}

/// Issue 18: no library text reaches staff. A server that cannot be reached (a real refused
/// connection) reads as a Korean sentence with what to do; a revoked desk and an unknown one
/// get different, true messages.
#[tokio::test]
async fn staff_read_pairing_and_unpairing_failures_in_their_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut app, _) = App::new(dir.path().to_owned(), None, Chime::silent());
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let answer = run_command(
        Command::Pair {
            server: format!("http://127.0.0.1:{port}"),
            code: "ABCDE-12345".into(),
            name: "1층 데스크".into(),
        },
        dir.path().to_owned(),
    )
    .await;
    app.update(answer);
    let Phase::Pairing(screen) = &app.phase else {
        panic!("still pairing");
    };
    let shown = screen.error.clone().expect("an error is shown");
    assert!(shown.starts_with("서버에 연결할 수 없습니다."), "{shown}");
    assert!(
        !shown.contains("error sending request") && !shown.contains("127.0.0.1"),
        "no library text: {shown}"
    );

    for (code, expected) in [
        ("token_revoked", KO.unpaired_by_server),
        ("invalid_token", KO.unknown_desk),
    ] {
        let mut app = running_app(dir.path().to_owned());
        app.update(Message::Core(CoreEvent::Unpaired(code.into())));
        let mut ui = simulator(app.view());
        assert!(ui.find(expected).is_ok(), "{code}: {expected}");
    }
    assert_ne!(KO.unpaired_by_server, KO.unknown_desk);
}

fn press(key: iced::keyboard::Key, text: Option<&str>) -> Message {
    Message::Key(iced::keyboard::Event::KeyPressed {
        key: key.clone(),
        modified_key: key,
        physical_key: iced::keyboard::key::Physical::Unidentified(
            iced::keyboard::key::NativeCode::Unidentified,
        ),
        location: iced::keyboard::Location::Standard,
        modifiers: Default::default(),
        text: text.map(Into::into),
        repeat: false,
    })
}

fn key(named: iced::keyboard::key::Named) -> Message {
    press(iced::keyboard::Key::Named(named), None)
}

#[tokio::test]
async fn search_then_check_in_puts_an_item_in_the_outbox() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = tempfile::tempdir()?;
    {
        let (mut cache, _) = Cache::open(&dir.path().join("cache.db"))?;
        cache.put_roster(&[member("m1", "김민준"), member("m2", "이서연")])?;
    }
    // A server nobody listens on: the desk is offline from the start.
    let (events, _events) = tokio::sync::mpsc::channel(64);
    let (core, state, link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        events,
    )
    .await?;
    let link = tokio::spawn(link);
    let mut app = running_app(dir.path().to_owned());
    app.update(Message::Core(CoreEvent::Ready(
        core.clone(),
        Box::new(state),
    )));

    // F2 opens the search; Esc goes back; F2 again.
    app.update(key(iced::keyboard::key::Named::F2));
    assert_eq!(app.running().map(|r| r.view), Some(View::Search));
    app.update(key(iced::keyboard::key::Named::Escape));
    assert_eq!(app.running().map(|r| r.view), Some(View::Board));
    app.update(key(iced::keyboard::key::Named::F2));

    // Staff type "서연" into the search box.
    let mut ui = simulator(app.view());
    ui.click(iced::widget::Id::new(
        gymgate_desk::ui::screen::search::INPUT_ID,
    ))?;
    ui.typewrite("서연");
    let typed: Vec<Message> = ui.into_messages().collect();
    let mut commands = Vec::new();
    for message in typed {
        commands.extend(app.update(message));
    }
    let Some(Command::Search(searcher, query)) = commands.pop() else {
        return Err("typing should search".into());
    };
    assert_eq!(query, "서연");
    let results = run_command(Command::Search(searcher, query), dir.path().to_owned()).await;
    app.update(results);

    // One match, with a check-in button; click it.
    let mut ui = simulator(app.view());
    assert!(ui.find("이서연").is_ok());
    assert!(ui.find("김민준").is_err());
    ui.click(KO.check_in)?;
    let clicked: Vec<Message> = ui.into_messages().collect();
    let mut commands = Vec::new();
    for message in clicked {
        commands.extend(app.update(message));
    }
    let Some(check_in @ Command::CheckIn(..)) = commands.pop() else {
        return Err("clicking should check in".into());
    };
    let answer = run_command(check_in, dir.path().to_owned()).await;
    app.update(answer);

    assert_eq!(
        core.state().await?.pending,
        1,
        "the check-in waits in the outbox"
    );
    let mut ui = simulator(app.view());
    assert!(
        ui.find(format!("이서연 — {}", KO.saved_offline).as_str())
            .is_ok()
    );
    assert!(ui.find(KO.waiting(1).as_str()).is_ok());
    drop(ui);

    // Back on the board, the new card is shown big, marked as not synced yet.
    app.update(Message::Navigate(View::Board));
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.not_synced).is_ok());
    core.shutdown();
    link.await?;
    Ok(())
}

/// Issue 14: the board's scan field gets focus (a keyboard-wedge scanner types into whatever
/// has it), and a scan shows either the member's card or, in Korean, why not.
#[tokio::test]
async fn the_board_focuses_the_scan_field_and_a_scan_shows_the_card_or_the_reason()
-> Result<(), Box<dyn std::error::Error>> {
    use ed25519_dalek::SigningKey;
    use gymgate_desk::ui::screen::board;
    use gymgate_shared::pass::{self, Certificate, PassError, PassKey};

    let server = SigningKey::from_bytes(&[7u8; 32]);
    let device = SigningKey::from_bytes(&[9u8; 32]);
    let dir = tempfile::tempdir()?;
    {
        // Keys as the last welcome left them; this desk never reaches a server here.
        let (mut cache, _) = Cache::open(&dir.path().join("cache.db"))?;
        cache.set_server_info(
            &[PassKey::of(&server.verifying_key())],
            chrono::Duration::zero(),
        )?;
    }
    let (events, _events) = tokio::sync::mpsc::channel(64);
    let (core, state, link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        events,
    )
    .await?;
    let link = tokio::spawn(link);
    let mut app = running_app(dir.path().to_owned());
    let commands = app.update(Message::Core(CoreEvent::Ready(
        core.clone(),
        Box::new(state),
    )));
    assert!(
        commands.iter().any(|c| matches!(c, Command::FocusScan)),
        "the scan field is focused once the desk is up"
    );

    // Types what a scanner would, ends with Enter; runs what that asks for.
    async fn scan(app: &mut App, dir: &std::path::Path, code: &str) -> Vec<Command> {
        let mut ui = simulator(app.view());
        ui.click(iced::widget::Id::new(board::SCAN_ID))
            .expect("the scan field");
        ui.typewrite(code);
        ui.tap_key(iced::keyboard::key::Named::Enter);
        let typed: Vec<Message> = ui.into_messages().collect();
        let mut commands = Vec::new();
        for message in typed {
            commands.extend(app.update(message));
        }
        let mut after = Vec::new();
        for command in commands {
            if matches!(command, Command::Scan(..)) {
                let answer = run_command(command, dir.to_owned()).await;
                after.extend(app.update(answer));
            }
        }
        after
    }

    let after = scan(&mut app, dir.path(), "HELLO-WORLD").await;
    assert!(after.iter().any(|c| matches!(c, Command::FocusScan)));
    let mut ui = simulator(app.view());
    assert!(
        ui.find(PassError::Malformed.message_ko()).is_ok(),
        "a wrong code gets its reason in Korean"
    );
    drop(ui);

    let now = Utc::now();
    let certificate = Certificate {
        kid: pass::key_id(&server.verifying_key()),
        member_id: MemberId::new("m-new"),
        name: "박도윤".into(),
        plan: "월 8회".into(),
        valid_from: "2026-01-01".parse()?,
        valid_until: "2030-12-31".parse()?,
        visits_left: Some(6),
        device_key: device.verifying_key().to_bytes(),
        issued_at: now - chrono::Duration::hours(1),
        expires_at: now + chrono::Duration::days(6),
    };
    let code = pass::show(&certificate.issue(&server), &device, now).ok_or("show")?;
    scan(&mut app, dir.path(), &code).await;
    let mut ui = simulator(app.view());
    assert!(ui.find("박도윤").is_ok(), "the member's card is shown");
    assert!(
        ui.find(KO.method(CheckinMethod::Pass)).is_ok(),
        "as entered with the offline pass"
    );
    assert!(
        ui.find(format!("박도윤 — {}", KO.saved_offline).as_str())
            .is_ok()
    );
    drop(ui);
    assert_eq!(core.state().await?.pending, 1);

    // Issue 23, finding 11: the same code again is refused, and the refusal takes the big
    // card (red, why, whose code, what to do) with its own sound, instead of a small banner
    // beside the previous member's green card.
    let refusals = app.chime.refusals();
    scan(&mut app, dir.path(), &code).await;
    let mut ui = simulator(app.view());
    assert!(
        ui.find(KO.refused_title).is_ok(),
        "the refusal has the big card"
    );
    assert!(ui.find(PassError::Replayed.message_ko()).is_ok());
    assert!(
        ui.find(KO.refused_for("박도윤").as_str()).is_ok(),
        "whose code it was"
    );
    let next = KO.refusal_next(&gymgate_desk_core::ScanError::Pass(PassError::Replayed));
    assert!(ui.find(next).is_ok(), "what staff should do now");
    drop(ui);
    assert_eq!(
        app.chime.refusals(),
        refusals + 1,
        "a refusal has its own sound"
    );
    // Esc: back to the last check-in.
    app.update(press(
        iced::keyboard::Key::Named(iced::keyboard::key::Named::Escape),
        None,
    ));
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.refused_title).is_err());
    drop(ui);
    // The next member who comes in takes the card from a refusal as well.
    scan(&mut app, dir.path(), &code).await;
    app.update(Message::Core(CoreEvent::Checkin(tapped(
        "next",
        "다음회원",
        Utc::now(),
    ))));
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.refused_title).is_err());
    drop(ui);
    core.shutdown();
    link.await?;
    Ok(())
}

/// Issue 18: a second start on the same data says, in Korean, that the desk already runs.
#[test]
fn a_second_start_says_the_desk_already_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = gymgate_desk_core::instance::claim(dir.path()).expect("first start");
    assert!(matches!(
        gymgate_desk_core::instance::claim(dir.path()),
        Err(gymgate_desk_core::instance::InstanceError::AlreadyRunning)
    ));
    let mut ui = simulator(gymgate_desk::ui::screen::already_running::view(&KO));
    assert!(ui.find(KO.already_running_title).is_ok());
    assert!(ui.find(KO.already_running).is_ok());
    assert!(ui.find(KO.close).is_ok());
    drop(first);
}

/// The decision a list of commands sends, if any: (check-in, decision, reason).
fn decided(
    commands: &[Command],
) -> Option<(
    CheckinId,
    gymgate_shared::protocol::Decision,
    Option<String>,
)> {
    commands.iter().find_map(|c| match c {
        Command::Decide(_, id, decision, reason) => Some((id.clone(), *decision, reason.clone())),
        _ => None,
    })
}

fn character(c: &str) -> Message {
    press(iced::keyboard::Key::Character(c.into()), Some(c))
}

/// Issue 18: void and deny ask for a reason and a confirmation, keyboard only, and the
/// reason goes with the decision (today's desk sent none).
#[tokio::test]
async fn void_and_deny_ask_why_and_send_the_reason() -> Result<(), Box<dyn std::error::Error>> {
    use gymgate_shared::protocol::Decision;
    use iced::keyboard::key::Named;
    let dir = tempfile::tempdir()?;
    let (events, _events) = tokio::sync::mpsc::channel(64);
    let (core, state, link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        events,
    )
    .await?;
    let link = tokio::spawn(link);
    let mut app = running_app(dir.path().to_owned());
    app.update(Message::Core(CoreEvent::Ready(
        core.clone(),
        Box::new(state),
    )));
    app.update(Message::Core(CoreEvent::Checkin(tapped(
        "c-admitted",
        "김민준",
        Utc::now() - chrono::Duration::minutes(1),
    ))));

    // F8 voids the card shown big: first it asks why.
    assert!(app.update(key(Named::F8)).is_empty());
    let mut ui = simulator(app.view());
    assert!(
        ui.find(KO.decide_title(Decision::Void, "김민준").as_str())
            .is_ok()
    );
    assert!(
        ui.find(format!("2  {}", KO.void_reasons[1]).as_str())
            .is_ok()
    );
    drop(ui);
    // Enter with no reason does nothing but say a reason is needed.
    assert!(app.update(key(Named::Enter)).is_empty());
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.reason_needed).is_ok());
    drop(ui);
    // 2 picks the second reason; Enter confirms.
    app.update(character("2"));
    let commands = app.update(key(Named::Enter));
    let sent = decided(&commands);
    assert_eq!(
        sent,
        Some((
            CheckinId::new("c-admitted"),
            Decision::Void,
            Some(KO.void_reasons[1].to_owned())
        ))
    );
    assert!(app.running().is_some_and(|r| r.deciding.is_none()));

    // A pending check-in: F10 denies, with a reason staff type themselves.
    let mut pending = tapped("c-pending", "이서연", Utc::now());
    pending.checkin.status = CheckinStatus::Pending;
    app.update(Message::Core(CoreEvent::Checkin(pending)));
    app.update(key(Named::F10));
    let mut ui = simulator(app.view());
    ui.click(iced::widget::Id::new(
        gymgate_desk::ui::screen::decide::OTHER_ID,
    ))?;
    ui.typewrite("회원증 사진과 다른 분");
    ui.tap_key(Named::Enter);
    let typed: Vec<Message> = ui.into_messages().collect();
    let mut commands = Vec::new();
    for message in typed {
        commands.extend(app.update(message));
    }
    let sent = decided(&commands);
    assert_eq!(
        sent,
        Some((
            CheckinId::new("c-pending"),
            Decision::Deny,
            Some("회원증 사진과 다른 분".to_owned())
        ))
    );

    // Esc goes back without deciding anything.
    app.update(key(Named::F8));
    assert!(app.running().is_some_and(|r| r.deciding.is_some()));
    let commands = app.update(key(Named::Escape));
    assert!(!commands.iter().any(|c| matches!(c, Command::Decide(..))));
    assert!(app.running().is_some_and(|r| r.deciding.is_none()));

    core.shutdown();
    link.await?;
    Ok(())
}

/// Issue 18: unpairing from the settings takes the members off this PC, not only the pairing.
#[tokio::test]
async fn unpairing_clears_the_members_from_this_pc() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    {
        let (mut cache, _) = Cache::open(&dir.path().join("cache.db"))?;
        cache.put_roster(&[member("m1", "김민준"), member("m2", "이서연")])?;
    }
    gymgate_desk_core::config::save_pairing(dir.path(), &pairing("http://127.0.0.1:1"))?;
    let (events, _events) = tokio::sync::mpsc::channel(64);
    let (core, _state, link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        events,
    )
    .await?;
    let link = tokio::spawn(link);
    assert_eq!(core.search("서연".into()).await.len(), 1);
    let done = run_command(Command::Unpair(Some(core.clone())), dir.path().to_owned()).await;
    assert!(matches!(done, Message::Done(Ok(()))), "{done:?}");
    link.await?;
    assert!(gymgate_desk_core::config::load_pairing(dir.path())?.is_none());
    let (cache, _) = Cache::open(&dir.path().join("cache.db"))?;
    assert!(cache.roster()?.is_empty(), "no member left in the cache");
    Ok(())
}

/// Issue 18: a member nobody can verify (not on this PC, phone dead) is let in on staff's
/// judgement from the search screen, by keyboard: F6, the member number (from the search),
/// what staff checked, Enter. The item goes to the outbox with its own method.
#[tokio::test]
async fn staff_let_a_member_in_on_judgement_from_the_keyboard()
-> Result<(), Box<dyn std::error::Error>> {
    use gymgate_desk::ui::screen::search;
    use iced::keyboard::key::Named;
    let dir = tempfile::tempdir()?;
    let (events, _events) = tokio::sync::mpsc::channel(64);
    let (core, state, link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        events,
    )
    .await?;
    let link = tokio::spawn(link);
    let mut app = running_app(dir.path().to_owned());
    app.update(Message::Core(CoreEvent::Ready(
        core.clone(),
        Box::new(state),
    )));
    app.update(key(Named::F2));
    app.update(Message::Search(search::Message::Query("100234".into())));
    let mut ui = simulator(app.view());
    assert!(
        ui.find(KO.manual_open).is_ok(),
        "the way in is always on the screen"
    );
    drop(ui);

    // F6 opens the form with the number typed; the note field gets the focus.
    let commands = app.update(key(Named::F6));
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Command::Focus(id) if *id == search::MANUAL_NOTE_ID))
    );
    let manual = app
        .running()
        .and_then(|r| r.search.manual.clone())
        .ok_or("no form")?;
    assert_eq!(manual.member_no, "100234");
    // Enter with no note: told what is missing, nothing recorded.
    let commands = app.update(Message::Search(search::Message::ManualSubmit));
    assert!(commands.is_empty());
    let mut ui = simulator(app.view());
    assert!(ui.find(KO.manual_missing).is_ok());
    drop(ui);
    app.update(Message::Search(search::Message::ManualPick(0)));
    let commands = app.update(Message::Search(search::Message::ManualSubmit));
    let [Command::CheckInManual(_, member_no, note, _)] = commands.as_slice() else {
        return Err(format!("expected one manual check-in, got {commands:?}").into());
    };
    assert_eq!(
        (member_no.as_str(), note.as_str()),
        ("100234", KO.manual_notes[0])
    );
    let answer = run_command(commands[0].clone(), dir.path().to_owned()).await;
    let Message::CheckedIn(Ok(card)) = &answer else {
        return Err(format!("not checked in: {answer:?}").into());
    };
    assert_eq!(card.checkin.method, CheckinMethod::Manual);
    app.update(answer);
    assert_eq!(
        core.state().await?.pending,
        1,
        "in the outbox, sent when online"
    );
    // Esc closes a form that was opened again, back to the search.
    app.update(key(Named::F6));
    app.update(key(Named::Escape));
    assert!(
        app.running()
            .and_then(|r| r.search.manual.clone())
            .is_none()
    );
    assert_eq!(app.running().map(|r| r.view), Some(View::Search));
    core.shutdown();
    link.await?;
    Ok(())
}

/// Issue 18: a member's photo kept on this PC shows on their card with the server out of
/// reach (the core finds it next to the cache; nothing is fetched).
#[tokio::test]
async fn a_photo_kept_on_this_pc_shows_offline() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut card = tapped("c1", "김민준", Utc::now());
    let url = format!("/api/v1/desk/photos/{}?v=abc123", card.member.id);
    let file =
        gymgate_desk_core::photo_file_name(card.member.id.as_str(), &url).ok_or("no name")?;
    std::fs::create_dir_all(dir.path().join(gymgate_desk_core::PHOTOS_DIR))?;
    let kept = dir.path().join(gymgate_desk_core::PHOTOS_DIR).join(file);
    image::RgbImage::from_pixel(8, 8, image::Rgb([10, 20, 30])).save(&kept)?;
    let (events, _events) = tokio::sync::mpsc::channel(64);
    let (core, state, link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        events,
    )
    .await?;
    let link = tokio::spawn(link);
    let mut app = running_app(dir.path().to_owned());
    app.update(Message::Core(CoreEvent::Ready(
        core.clone(),
        Box::new(state),
    )));
    card.member.photo_url = Some(url.clone());
    let commands = app.update(Message::Core(CoreEvent::Checkin(card.clone())));
    let photo = commands
        .into_iter()
        .find(|c| matches!(c, Command::Photo(..)))
        .ok_or("the card asks for its photo")?;
    let answer = run_command(photo, dir.path().to_owned()).await;
    assert!(
        matches!(&answer, Message::Photo(id, Some(path)) if *id == card.member.id && *path == kept)
    );
    app.update(answer);
    assert_eq!(
        app.running()
            .and_then(|r| r.photos.get(&card.member.id).cloned()),
        Some(kept)
    );
    // Asked once: the same card again does not ask again.
    let again = app.update(Message::Core(CoreEvent::Updated(card)));
    assert!(!again.iter().any(|c| matches!(c, Command::Photo(..))));
    core.shutdown();
    link.await?;
    Ok(())
}

#[test]
fn an_update_waits_for_a_quiet_moment_at_the_counter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = running_app(dir.path().to_owned());
    let now = Utc::now();
    let running = |app: &App| match &app.phase {
        Phase::Running(running) => running.quiet(now),
        Phase::Pairing(_) => panic!("not running"),
    };
    assert!(running(&app), "nobody came yet");
    app.update(Message::Core(CoreEvent::Checkin(tapped(
        "c1",
        "김민준",
        now,
    ))));
    assert!(!running(&app), "someone just came in");
    let Phase::Running(r) = &mut app.phase else {
        panic!("not running")
    };
    r.last_arrival = Some(now - chrono::Duration::minutes(4));
    assert!(running(&app), "four minutes later");
    app.update(Message::Navigate(View::Search));
    assert!(!running(&app), "staff are searching");
    app.update(Message::Navigate(View::Board));
    assert!(running(&app));
    app.update(Message::Board(
        gymgate_desk::ui::screen::board::Message::ScanInput("GG1".into()),
    ));
    assert!(!running(&app), "a scan is being typed");
}

/// The entrance QR (issue 27): staff open it from the bar, it shows the desk's presence code
/// (signed by this PC's key, checked here as the server checks it) and draws a new one every
/// few seconds, with nothing to press; offline too.
#[tokio::test]
async fn the_entrance_screen_shows_a_signed_code_and_redraws_it()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (events, _events) = tokio::sync::mpsc::channel(64);
    let (core, state, link) = start(
        dir.path(),
        pairing("http://127.0.0.1:1"),
        Default::default(),
        events,
    )
    .await?;
    let link = tokio::spawn(link);
    let mut app = running_app(dir.path().to_owned());
    app.update(Message::Core(CoreEvent::Ready(
        core.clone(),
        Box::new(state),
    )));

    let mut ui = simulator(app.view());
    let _ = ui.click(KO.entrance)?;
    for message in ui.into_messages() {
        app.update(message);
    }
    assert_eq!(app.running().map(|r| r.view), Some(View::Entrance));
    let first = app
        .running()
        .and_then(|r| r.entrance.as_ref())
        .map(|e| e.code.clone())
        .ok_or("no entrance code drawn")?;
    let shown = gymgate_shared::presence::parse(&first)?;
    assert_eq!(shown.desk_id, DeskId::new("d1"));
    let key = gymgate_desk_core::config::presence_key(dir.path(), &DeskId::new("d1"))?;
    shown.verify(
        &gymgate_shared::presence::public_key_text(&key),
        &CenterId::new("c1"),
        Utc::now(),
    )?;
    {
        let mut ui = simulator(app.view());
        assert!(ui.find(KO.entrance_hint).is_ok(), "the hint is shown");
    }

    // A tick within the redraw period keeps the code; one after it draws the next.
    app.update(Message::Tick(Utc::now() + chrono::Duration::seconds(1)));
    assert_eq!(
        app.running()
            .and_then(|r| r.entrance.as_ref())
            .map(|e| e.code.clone()),
        Some(first.clone())
    );
    app.update(Message::Tick(Utc::now() + chrono::Duration::seconds(6)));
    let drawn = app
        .running()
        .and_then(|r| r.entrance.as_ref())
        .map(|e| e.drawn)
        .ok_or("no entrance code")?;
    assert!(drawn > Utc::now() + chrono::Duration::seconds(5));
    core.shutdown();
    link.await?;
    Ok(())
}
