//! Two server nodes (real processes) over one PostgreSQL database: a desk on one node hears
//! taps made through the other; a node killed with SIGKILL costs a desk nothing (it fails over
//! and gets every answered tap exactly once, in order) and the survivor raises the alarm; a
//! lost NOTIFY costs nothing either. A desk revoked through one node is cut off on the
//! other within seconds, the notification heard or lost, and records nothing meanwhile.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, bail};
use gymgate_desk_core::CoreEvent;
use gymgate_shared::CheckinId;
use gymgate_shared::protocol::ServerMessage;
use gymgate_tests::desk_core::pairing;
use gymgate_tests::{
    DeskClient, Fixture, MemberClient, PIN, RunningDesk, ServerProcess, WebhookStub,
};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");

/// A free port on loopback (nodes must know each other's address before they start).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The first `count` check-ins the desk core shows, in the order it shows them (30 s at most).
async fn checkins_on(desk: &mut RunningDesk, count: usize) -> anyhow::Result<Vec<CheckinId>> {
    let mut received: Vec<CheckinId> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.len() < count {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tokio::time::timeout(remaining, desk.events.recv())
            .await
            .with_context(|| format!("{} of {count} check-ins reached the desk", received.len()))?
            .context("the desk core stopped")?;
        if let CoreEvent::Checkin(card) = event {
            received.push(card.checkin.id);
        }
    }
    Ok(received)
}

struct Cluster {
    url: String,
    nodes: Vec<(tempfile::TempDir, ServerProcess)>,
}

/// `count` nodes on one fresh database, each told every node's address; alerts go to
/// `slack` when given; nodes count as down after 3 s without a heartbeat.
async fn cluster(count: usize, slack: Option<&str>) -> anyhow::Result<Option<Cluster>> {
    cluster_with(count, slack, &[]).await
}

/// [`cluster`] with more settings for every node.
async fn cluster_with(
    count: usize,
    slack: Option<&str>,
    settings: &[(&str, &str)],
) -> anyhow::Result<Option<Cluster>> {
    if gymgate_tests::postgres::admin_url()?.is_none() {
        return Ok(None);
    }
    let shared = tempfile::tempdir()?;
    let url = gymgate_tests::postgres::database_for(shared.path()).await?;
    let ports: Vec<u16> = (0..count).map(|_| free_port()).collect::<Result<_, _>>()?;
    let public: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let public = public.join(",");
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let data = tempfile::tempdir()?;
        let name = format!("node-{}", (b'a' + i as u8) as char);
        let mut env = vec![
            ("GYMGATE_DATABASE_URL", url.as_str()),
            ("GYMGATE_NODE_NAME", name.as_str()),
            ("GYMGATE_PUBLIC_URLS", public.as_str()),
            ("GYMGATE_NODE_DOWN_SECONDS", "3"),
            ("GYMGATE_ALERT_CHECK_SECONDS", "1"),
        ];
        if let Some(slack) = slack {
            env.push(("GYMGATE_SLACK_WEBHOOK", slack));
        }
        env.extend_from_slice(settings);
        let addr = format!("127.0.0.1:{port}");
        let node = ServerProcess::spawn_on_env(EXE, data.path(), &addr, &[], &env).await?;
        nodes.push((data, node));
    }
    Ok(Some(Cluster { url, nodes }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_desk_on_one_node_hears_taps_made_through_the_other() -> anyhow::Result<()> {
    let Some(cluster) = cluster(2, None).await? else {
        return Ok(());
    };
    let (a, b) = (&cluster.nodes[0].1, &cluster.nodes[1].1);
    let fx = Fixture::new(a.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("N", 3, None).await?;
    let (mut on_a, welcome) = DeskClient::join(&a.url(), &desk.token, None, 0).await?;
    assert_eq!(welcome.head_seq, 0);

    let mut tapped = Vec::new();
    for (i, no) in members.iter().enumerate() {
        let member = MemberClient::login(&b.url(), no, PIN).await?;
        let answer = member
            .tap(center.id.as_str(), &format!("via-b-{i}"))
            .await?;
        tapped.push(answer.checkin()?.id.clone());
    }
    let events = on_a.events(0, tapped.len()).await?;
    let heard: Vec<CheckinId> = events
        .iter()
        .map(|e| match e.payload()? {
            gymgate_shared::protocol::EventPayload::Checkin(card) => Ok(card.checkin.id),
            other => bail!("expected check-ins, got {other:?}"),
        })
        .collect::<Result<_, _>>()?;
    assert_eq!(
        heard, tapped,
        "every tap through B reached the desk on A, in order"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_midstream_costs_its_desk_nothing_and_the_survivor_raises_the_alarm()
-> anyhow::Result<()> {
    let slack = WebhookStub::start().await?;
    let Some(mut cluster) = cluster(2, Some(&slack.url)).await? else {
        return Ok(());
    };
    let (a_url, b_url) = (cluster.nodes[0].1.url(), cluster.nodes[1].1.url());
    let fx = Fixture::new(b_url.clone());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    const TAPS: usize = 60;
    let numbers = fx.members("K", TAPS, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&b_url, no, PIN).await?);
    }

    // The desk is paired with A and has not heard of B yet: it learns B from A's welcome.
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&a_url, &paired)).await?;
    desk.wait_online().await?;

    let mut answered = Vec::new();
    for (i, member) in members.iter().enumerate() {
        if i == TAPS / 3 {
            let (_dir, a) = cluster.nodes.remove(0);
            a.kill().await?;
        }
        let answer = member
            .tap(center.id.as_str(), &format!("stream-{i}"))
            .await?;
        if answer.status().as_u16() == 201 {
            answered.push(answer.checkin()?.id.clone());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answered.len(), TAPS, "B answered every tap");

    // Every answered tap reaches the desk exactly once, in seq order, through B.
    let received = checkins_on(&mut desk, TAPS).await?;
    let distinct: HashSet<&CheckinId> = received.iter().collect();
    assert_eq!(distinct.len(), received.len(), "a check-in came twice");
    assert_eq!(
        received, answered,
        "the desk got every answered tap, in order"
    );
    let state = desk.core.state().await?;
    assert_eq!(
        state.cursor.last_seq, TAPS as u64,
        "the cursor is at the last event"
    );
    desk.stop().await?;

    // B noticed that A stopped beating and said so (3 s without a heartbeat).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if slack
            .delivered()
            .iter()
            .any(|text| text.contains("node-a") && text.contains("응답 없음"))
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no node-down alert: {:?}", slack.delivered());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn events_still_arrive_when_notifications_are_lost() -> anyhow::Result<()> {
    let Some(cluster) = cluster(2, None).await? else {
        return Ok(());
    };
    let (a, b) = (&cluster.nodes[0].1, &cluster.nodes[1].1);
    let fx = Fixture::new(a.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    const TAPS: usize = 20;
    let numbers = fx.members("L", TAPS, None).await?;
    let (mut on_a, _) = DeskClient::join(&a.url(), &desk.token, None, 0).await?;

    // Logged in first: while the database takes no new sessions, the nodes work on the
    // sessions they already hold.
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&b.url(), no, PIN).await?);
    }
    let mut tapped = Vec::new();
    for (i, member) in members.iter().enumerate() {
        if i == TAPS / 2 {
            // From here on the listeners are gone and cannot come back until the database
            // lets them: every later notification is lost, the last one included, so only
            // the followers' own look at the heads (every second, and once the listener is
            // back) can bring these events.
            gymgate_tests::postgres::allow_connections(&cluster.url, false).await?;
            let ended =
                gymgate_tests::postgres::end_sessions(&cluster.url, "gymgate listener").await?;
            anyhow::ensure!(
                ended >= 2,
                "ended {ended} listener sessions, not both nodes'"
            );
        }
        let answer = member.tap(center.id.as_str(), &format!("lost-{i}")).await?;
        tapped.push(answer.checkin()?.id.clone());
    }
    // Events that came while the listeners were down, before they are let back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    gymgate_tests::postgres::allow_connections(&cluster.url, true).await?;
    let mut heard = Vec::new();
    while heard.len() < TAPS {
        match on_a.next_within(Duration::from_secs(15)).await? {
            Some(ServerMessage::Event(event)) => {
                if let gymgate_shared::protocol::EventPayload::Checkin(card) = event.payload()? {
                    heard.push(card.checkin.id);
                }
            }
            Some(_) => {}
            None => bail!("only {} of {TAPS} events arrived", heard.len()),
        }
    }
    assert_eq!(heard, tapped, "every event arrived once, in order");
    Ok(())
}

/// While the database takes no new sessions (at its connection limit, or an operator's
/// maintenance), a node keeps answering on the sessions it holds: a read that finds none idle
/// waits for one another read gives back instead of failing with a 500.
#[tokio::test(flavor = "multi_thread")]
async fn reads_share_the_sessions_a_node_holds_when_the_database_takes_no_new_ones()
-> anyhow::Result<()> {
    let Some(cluster) = cluster(1, None).await? else {
        return Ok(());
    };
    let fx = Fixture::new(cluster.nodes[0].1.url());
    fx.center("강남점").await?;
    fx.admin.centers().await?;
    gymgate_tests::postgres::allow_connections(&cluster.url, false).await?;
    // More reads at once than the node has sessions open: most must wait for one.
    let reads = (0..48).map(|_| fx.admin.centers());
    let answers = futures_util::future::join_all(reads).await;
    gymgate_tests::postgres::allow_connections(&cluster.url, true).await?;
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|answer| answer.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 48 reads failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    for answer in answers {
        assert_eq!(answer?.len(), 1, "each read saw the one center");
    }
    Ok(())
}

/// The leader's alerts and every node's console count the whole cluster: wrong PINs and taps
/// sent only through node B (A leads: it started first) raise A's guessing alert and show in
/// A's taps per minute, and A's live page shows the clock of a desk connected to B.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_pins_and_taps_through_another_node_count_on_the_leader() -> anyhow::Result<()> {
    let slack = WebhookStub::start().await?;
    let settings = [("GYMGATE_ALERT_LOGIN_FAILURES_PER_MINUTE", "10")];
    let Some(cluster) = cluster_with(2, Some(&slack.url), &settings).await? else {
        return Ok(());
    };
    let (a, b) = (cluster.nodes[0].1.url(), cluster.nodes[1].1.url());
    let fx = Fixture::new(a.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("G", 13, None).await?;
    let http = reqwest::Client::new();
    for no in &numbers[1..] {
        let answer = http
            .post(format!("{b}/api/v1/auth/member"))
            .json(&serde_json::json!({"member_no": no, "pin": "0000"}))
            .send()
            .await?;
        anyhow::ensure!(answer.status() == 401, "a wrong PIN: {}", answer.status());
    }
    // A desk on B whose PC clock is five minutes slow.
    let desk = fx.desk(center.id.as_str()).await?;
    let (mut on_b, _) = DeskClient::join(&b, &desk.token, None, 0).await?;
    on_b.send(&gymgate_shared::protocol::DeskMessage::Health(
        gymgate_shared::protocol::DeskHealth {
            clock: Some(chrono::Utc::now() - chrono::Duration::minutes(5)),
            ..Default::default()
        },
    ))
    .await?;
    let member = MemberClient::login(&b, &numbers[0], PIN).await?;
    for i in 0..3 {
        // A second tap on one day is refused by the rules: refusals count too.
        member.tap(center.id.as_str(), &format!("g-{i}")).await?;
    }
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while !slack.delivered().iter().any(|m| m.contains("PIN")) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no guessing alert from the leader: {:?}",
            slack.delivered()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let incidents = fx.admin.incidents(20).await?;
    assert!(
        incidents.iter().any(|i| i.key == "pin_guessing"),
        "{incidents:?}"
    );
    // A counted no tap itself; its live page shows B's three.
    loop {
        let now: serde_json::Value = http
            .get(format!("{a}/api/v1/admin/now"))
            .bearer_auth(gymgate_tests::ADMIN_TOKEN)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let sum = |field: &str| -> u64 {
            now["taps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m[field].as_u64())
                .sum()
        };
        let skew = now["centers"][0]["desks"][0]["clock_skew_s"].as_i64();
        if sum("answered") == 3 && skew.is_some() {
            assert_eq!(sum("refused"), 2, "{now}");
            let skew = skew.unwrap_or_default();
            assert!(
                (-305..=-295).contains(&skew),
                "the desk on B is 5 min slow: {skew}"
            );
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "node A's live page: {} {:?}",
            now["taps"],
            skew
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The fence itself, on the store's own functions and a real database: the holder renews
/// while its own fenced write is open; a takeover raises the term only after that write
/// ends; the old holder's next write is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_takeover_waits_for_the_old_leaders_write_and_fences_the_next() -> anyhow::Result<()> {
    use gymgate_server::testing::lease::{self, Fence};
    use gymgate_server::testing::{Conn, postgres_session};
    let Some(cluster) = cluster(1, None).await? else {
        return Ok(());
    };
    // The node's own leader is stopped: these sessions play two nodes, "a" and "b".
    drop(cluster.nodes);
    let url = cluster.url.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let ttl = Duration::from_secs(30);
        let renew = move |conn: &mut gymgate_server::testing::PgConn, node: &str| {
            conn.begin()?;
            let term = lease::renew(conn as &mut dyn Conn, node, ttl);
            match term {
                Ok(term) => conn.commit().map(|()| term),
                Err(e) => {
                    conn.rollback();
                    Err(e)
                }
            }
        };
        let (mut a, mut a_write) = (
            postgres_session(&url, "a")?,
            postgres_session(&url, "a write")?,
        );
        // Whatever the stopped node held, expired now.
        a.batch("UPDATE leader_lease SET expires_at = clock_timestamp()")?;
        let term = renew(&mut a, "a")?.context("a takes the free lease")?;
        let fence = Fence::Term {
            node_id: "a".into(),
            term,
        };
        a_write.begin()?;
        lease::check(&mut a_write as &mut dyn Conn, &fence)?;
        // a's renewal does not wait for its own open write.
        a.batch("SET statement_timeout = 2000")?;
        assert_eq!(
            renew(&mut a, "a")?,
            Some(term),
            "renewed while its write is open"
        );
        let mut b = postgres_session(&url, "b")?;
        assert_eq!(renew(&mut b, "b")?, None, "b cannot take a valid lease");
        a.batch("UPDATE leader_lease SET expires_at = clock_timestamp()")?;
        let takeover = std::thread::spawn(move || renew(&mut b, "b"));
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !takeover.is_finished(),
            "the takeover waits for a's open write"
        );
        a_write.commit()?;
        let new_term = takeover
            .join()
            .map_err(|_| anyhow::anyhow!("takeover panicked"))??;
        assert_eq!(new_term, Some(term + 1), "b leads with the next term");
        a_write.begin()?;
        let refused = lease::check(&mut a_write as &mut dyn Conn, &fence);
        a_write.rollback();
        assert!(
            matches!(refused, Err(gymgate_server::testing::StoreError::Fenced)),
            "a's next write is fenced: {refused:?}"
        );
        Ok(())
    })
    .await??;
    Ok(())
}

/// Whether the node at `url` runs the shared duties now (its `/metrics`).
async fn leads(url: &str) -> anyhow::Result<bool> {
    let text = reqwest::get(format!("{url}/metrics")).await?.text().await?;
    Ok(text.lines().any(|l| l.trim() == "gymgate_node_leads 1"))
}

/// Commits of more than one write job on the node at `url` (its `/metrics` histogram).
async fn commits_of_several_jobs(url: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("{url}/metrics")).await?.text().await?;
    let figure = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(figure("gymgate_db_commit_batch_jobs_count ")
        - figure("gymgate_db_commit_batch_jobs_bucket{le=\"1\"} "))
}

fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill {signal} {pid}");
    Ok(())
}

/// A leader frozen with SIGSTOP keeps its database sessions (the kernel still answers for
/// them), so an advisory lock would stay its own and nobody would watch. With the lease, the
/// other node takes the duties within the lease and raises the node-down alert, once; thawed,
/// the old leader finds its lease gone by its own clock, does not lead and tells no one
/// anything: one leader, no message twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_leader_hands_over_within_its_lease_and_nothing_is_told_twice()
-> anyhow::Result<()> {
    let slack = WebhookStub::start().await?;
    let settings = [("GYMGATE_LEADER_LEASE_SECONDS", "2")];
    let Some(cluster) = cluster_with(2, Some(&slack.url), &settings).await? else {
        return Ok(());
    };
    let (a, b) = (&cluster.nodes[0].1, &cluster.nodes[1].1);
    let (a_url, b_url) = (a.url(), b.url());
    let wait_for = |what: &'static str| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        move || -> anyhow::Result<()> {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "waited too long for {what}"
            );
            Ok(())
        }
    };
    let waited = wait_for("node A to lead");
    while !leads(&a_url).await? || leads(&b_url).await? {
        waited()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pid = a.pid().context("node A's pid")?;
    signal(pid, "-STOP")?;
    let frozen_at = std::time::Instant::now();
    let raised = |messages: &[String]| {
        messages
            .iter()
            .flat_map(|m| m.lines())
            .filter(|l| l.starts_with('🔴') && l.contains("node-a"))
            .count()
    };
    let waited = wait_for("B's node-down alert");
    while raised(&slack.delivered()) == 0 {
        if waited().is_err() {
            signal(pid, "-CONT")?;
            bail!(
                "no node-down alert while A was frozen: {:?}",
                slack.delivered()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let handed_over = frozen_at.elapsed();
    let b_leads = leads(&b_url).await?;
    signal(pid, "-CONT")?;
    anyhow::ensure!(b_leads, "B leads while A is frozen");
    // Thawed, A beats again: B resolves the alert.
    let waited = wait_for("the node-down alert to resolve");
    while !slack
        .delivered()
        .iter()
        .flat_map(|m| m.lines().map(str::to_owned).collect::<Vec<_>>())
        .any(|l| l.starts_with('✅') && l.contains("node-a"))
    {
        waited()?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a thawed A to say anything it would.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!leads(&a_url).await?, "A does not lead again");
    assert!(leads(&b_url).await?, "B still leads");
    let messages = slack.delivered();
    assert_eq!(raised(&messages), 1, "raised once: {messages:?}");
    eprintln!("frozen leader → alert from the new leader in {handed_over:?}");
    Ok(())
}

/// One PIN check per member number at a time across the cluster: wrong PINs for one number
/// sent to both nodes at once are checked one by one, not one per node (parallel guesses
/// would each pass the delay before any failure was stored).
#[tokio::test(flavor = "multi_thread")]
async fn parallel_guesses_at_one_number_through_both_nodes_are_checked_one_at_a_time()
-> anyhow::Result<()> {
    let Some(cluster) = cluster(2, None).await? else {
        return Ok(());
    };
    let (a, b) = (cluster.nodes[0].1.url(), cluster.nodes[1].1.url());
    let fx = Fixture::new(a.clone());
    let numbers = fx.members("Q", 1, None).await?;
    let http = reqwest::Client::new();
    let guesses = (0..8).map(|i| {
        let url = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (http, number) = (http.clone(), numbers[0].clone());
        async move {
            http.post(format!("{url}/api/v1/auth/member"))
                .json(&serde_json::json!({"member_no": number, "pin": "0000"}))
                .send()
                .await
                .map(|answer| answer.status().as_u16())
        }
    });
    let answers: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let checked = answers.iter().filter(|s| **s == 401).count();
    let refused = answers.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (1, 7),
        "one check, the rest refused at once: {answers:?}"
    );
    let lock: serde_json::Value = http
        .get(format!("{a}/api/v1/admin/members/{}/pin-lock", numbers[0]))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(lock["failures"], 1, "{lock}");
    // The claim went with the check: the next guess is checked (and counted).
    let next = http
        .post(format!("{b}/api/v1/auth/member"))
        .json(&serde_json::json!({"member_no": numbers[0], "pin": "0000"}))
        .send()
        .await?;
    assert_eq!(next.status(), 401);
    Ok(())
}

/// The same URL with other TLS settings: `host` in place of 127.0.0.1, `settings` in place
/// of the admin URL's query.
fn with_tls(url: &str, host: &str, settings: &str) -> anyhow::Result<String> {
    let (path, _) = url.split_once('?').unwrap_or((url, ""));
    anyhow::ensure!(
        path.contains("@127.0.0.1:"),
        "the test cluster is on 127.0.0.1: {path}"
    );
    Ok(format!(
        "{}?{settings}",
        path.replace("@127.0.0.1:", &format!("@{host}:"))
    ))
}

/// Member data and PIN hashes never cross the network in clear: the nodes' sessions are TLS,
/// checked against the CA and the host name (CI's cluster has a self-made CA and takes no
/// unencrypted session); `sslmode` and `sslrootcert` mean what they mean to libpq, and a node
/// whose database shows a certificate for another name refuses to start and says why.
#[tokio::test(flavor = "multi_thread")]
async fn the_nodes_reach_postgresql_over_tls_checked_as_sslmode_asks() -> anyhow::Result<()> {
    let Some(cluster) = cluster(1, None).await? else {
        return Ok(());
    };
    let Ok(ca) = std::env::var("GYMGATE_TEST_POSTGRES_CA") else {
        anyhow::ensure!(
            std::env::var_os("CI").is_none(),
            "CI's cluster has a CA file"
        );
        eprintln!("!!! skipped: the cluster has no TLS (.ci/postgres start makes one)");
        return Ok(());
    };
    let fx = Fixture::new(cluster.nodes[0].1.url());
    fx.center("강남점").await?;
    let url = cluster.url.clone();
    let clear = with_tls(&url, "127.0.0.1", "sslmode=disable")?;
    let other_name = |mode: &str| {
        with_tls(
            &url,
            "127.0.0.2",
            &format!("sslmode={mode}&sslrootcert={ca}"),
        )
    };
    let (full_elsewhere, ca_elsewhere) = (other_name("verify-full")?, other_name("verify-ca")?);
    let foreign_ca = with_tls(&url, "127.0.0.1", "sslmode=verify-full&sslrootcert=system")?;
    let unchecked = with_tls(&url, "127.0.0.1", "sslmode=require")?;
    let checked = url.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use gymgate_server::testing::postgres_client;
        let mut admin = postgres_client(&checked, "gymgate tests")?;
        let sessions = admin.query(
            "SELECT a.application_name, s.ssl FROM pg_stat_activity a
             JOIN pg_stat_ssl s ON s.pid = a.pid
             WHERE a.datname = current_database() AND a.application_name LIKE 'gymgate %'",
            &[],
        )?;
        let roles: Vec<(String, bool)> = sessions.iter().map(|r| (r.get(0), r.get(1))).collect();
        anyhow::ensure!(
            roles.iter().any(|(name, _)| name == "gymgate writer"),
            "the node's sessions are seen: {roles:?}"
        );
        anyhow::ensure!(
            roles.iter().all(|(_, tls)| *tls),
            "every session is TLS: {roles:?}"
        );

        let refused = |url: &str, why: &str| -> anyhow::Result<()> {
            match postgres_client(url, "gymgate tests") {
                Ok(_) => bail!("{url} connected; it must not ({why})"),
                Err(e) => {
                    let text = e.to_string();
                    anyhow::ensure!(text.contains(why), "{url}: {text}");
                    Ok(())
                }
            }
        };
        refused(&clear, "no encryption")?;
        refused(&full_elsewhere, "not valid for name")?;
        refused(&foreign_ca, "UnknownIssuer")?;
        for taken in [&ca_elsewhere, &unchecked] {
            let mut session = postgres_client(taken, "gymgate tests")?;
            let tls: bool = session
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )?
                .get(0);
            anyhow::ensure!(tls, "{taken} is encrypted");
        }
        Ok(())
    })
    .await??;

    let data = tempfile::tempdir()?;
    let started = tokio::process::Command::new(EXE)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("GYMGATE_DATABASE_URL", other_name("verify-full")?)
        .env("GYMGATE_ADMIN_TOKEN", gymgate_tests::ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    let ended = tokio::time::timeout(Duration::from_secs(30), started)
        .await
        .context("a node whose database shows the wrong name kept running")??;
    let said = String::from_utf8_lossy(&ended.stderr);
    assert!(!ended.status.success(), "it refused to start");
    assert!(
        said.contains("not valid for name") && !said.contains("sslrootcert=/"),
        "it says why, without the URL: {said}"
    );
    Ok(())
}

/// Behind a reverse proxy a member's requests land on either node: a session made on A is
/// good on B, the live feed held open on B hears a tap made through A, and the check-in reads
/// back the same on both.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_is_served_by_whichever_node_the_proxy_picks() -> anyhow::Result<()> {
    let Some(cluster) = cluster(2, None).await? else {
        return Ok(());
    };
    let (a, b) = (cluster.nodes[0].1.url(), cluster.nodes[1].1.url());
    let fx = Fixture::new(a.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("P", 1, None).await?;
    let on_a = MemberClient::login(&a, &numbers[0], PIN).await?;
    let http = reqwest::Client::new();
    let mut feed_on_b = http
        .get(format!("{b}/api/v1/me/events"))
        .bearer_auth(&on_a.token)
        .send()
        .await?;
    anyhow::ensure!(
        feed_on_b.status() == reqwest::StatusCode::OK,
        "B refused A's session: {}",
        feed_on_b.status()
    );
    let tapped = on_a
        .tap(center.id.as_str(), "proxy-1")
        .await?
        .checkin()?
        .clone();
    let mut seen = String::new();
    while !seen.contains(tapped.id.as_str()) {
        let chunk = tokio::time::timeout(gymgate_tests::WAIT, feed_on_b.chunk())
            .await
            .context("B's feed never heard the tap made through A")??
            .context("B ended the member's feed")?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let on_b = on_a.on(&b);
    let read_back = on_b.checkin(tapped.id.as_str()).await?;
    assert_eq!(read_back.checkin()?.id, tapped.id);
    assert_eq!(read_back.checkin()?.status, tapped.status);
    Ok(())
}

/// "Shown at the desk" reaches the member's app on whichever node its feed is: the desk on A
/// acknowledges a tap made through B, and the member's feed held open on B hears it.
#[tokio::test(flavor = "multi_thread")]
async fn a_members_feed_on_one_node_hears_shown_from_a_desk_on_the_other() -> anyhow::Result<()> {
    let Some(cluster) = cluster(2, None).await? else {
        return Ok(());
    };
    let (a, b) = (cluster.nodes[0].1.url(), cluster.nodes[1].1.url());
    let fx = Fixture::new(a.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("S", 1, None).await?;
    let (mut on_a, _) = DeskClient::join(&a, &desk.token, None, 0).await?;
    let member = MemberClient::login(&b, &numbers[0], PIN).await?;
    let mut feed_on_b = reqwest::Client::new()
        .get(format!("{b}/api/v1/me/events"))
        .bearer_auth(&member.token)
        .send()
        .await?
        .error_for_status()?;
    let tapped = member
        .tap(center.id.as_str(), "shown-1")
        .await?
        .checkin()?
        .clone();
    let seq = loop {
        match on_a.next_within(gymgate_tests::WAIT).await? {
            Some(ServerMessage::Event(event)) => break event.seq,
            Some(_) => {}
            None => bail!("the desk on A never heard the tap made through B"),
        }
    };
    on_a.ack(seq).await?;
    let mut seen = String::new();
    while !(seen.contains("event: shown") && seen.contains(tapped.id.as_str())) {
        let chunk = tokio::time::timeout(gymgate_tests::WAIT, feed_on_b.chunk())
            .await
            .with_context(|| format!("B's feed never heard it was shown: {seen}"))??
            .context("B ended the member's feed")?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let shown = seen
        .split("event: shown")
        .nth(1)
        .context("the shown note")?;
    assert!(shown.contains("desk_name"), "{shown}");
    Ok(())
}

/// Caddy (Debian's package) as docs/operations.md configures it, for two nodes on loopback.
fn caddyfile(listen: u16, nodes: &[String]) -> String {
    let upstreams: Vec<&str> = nodes
        .iter()
        .map(|n| n.trim_start_matches("http://"))
        .collect();
    format!(
        "{{\n    admin off\n    auto_https off\n}}\n\
         http://127.0.0.1:{listen} {{\n\
         \x20   reverse_proxy {} {{\n\
         \x20       lb_policy least_conn\n\
         \x20       lb_try_duration 5s\n\
         \x20       buffer_requests\n\
         \x20       health_uri /readyz\n\
         \x20       health_interval 2s\n\
         \x20       health_timeout 1s\n\
         \x20       fail_duration 10s\n\
         \x20   }}\n\
         }}\n",
        upstreams.join(" ")
    )
}

/// Two nodes behind a real Caddy: the desk and the members know only the proxy's address.
/// A node SIGKILLed midway costs nothing: every tap is answered (the member app's own retry
/// with the same key, as on a phone) and the desk gets each exactly once, in order, through
/// the survivor.
#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_behind_caddy_carry_on_when_one_is_killed() -> anyhow::Result<()> {
    if !std::path::Path::new("/usr/bin/caddy").exists() {
        anyhow::ensure!(
            std::env::var_os("CI").is_none(),
            "CI installs caddy (.ci/run)"
        );
        eprintln!("!!! skipped: no /usr/bin/caddy (apt-get install caddy)");
        return Ok(());
    }
    let port = free_port()?;
    let proxy = format!("http://127.0.0.1:{port}");
    let settings = [
        ("GYMGATE_PUBLIC_URLS", proxy.as_str()),
        ("GYMGATE_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let Some(mut cluster) = cluster_with(2, None, &settings).await? else {
        return Ok(());
    };
    let nodes: Vec<String> = cluster.nodes.iter().map(|(_, n)| n.url()).collect();
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("Caddyfile");
    std::fs::write(&config, caddyfile(port, &nodes))?;
    let _caddy = tokio::process::Command::new("/usr/bin/caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("caddy.log"))?)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start caddy")?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        match reqwest::get(format!("{proxy}/readyz")).await {
            Ok(answer) if answer.status() == 200 => break,
            _ if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => bail!("caddy never answered: {other:?}"),
        }
    }

    let fx = Fixture::new(proxy.clone());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    const TAPS: usize = 30;
    let numbers = fx.members("C", TAPS, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&proxy, no, PIN).await?);
    }
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&proxy, &paired)).await?;
    desk.wait_online().await?;

    let mut answered = Vec::new();
    for (i, member) in members.iter().enumerate() {
        if i == TAPS / 3 {
            let (_dir, a) = cluster.nodes.remove(0);
            a.kill().await?;
        }
        let key = format!("caddy-{i}");
        let mut tries = 0;
        let answer = loop {
            match member.tap(center.id.as_str(), &key).await {
                Ok(answer) if answer.status().as_u16() == 201 => break answer,
                other if tries < 5 => {
                    tries += 1;
                    eprintln!(
                        "tap {i} try {tries}: {:?}",
                        other.map(|a| a.status()).map_err(|e| e.to_string())
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => {
                    let log = std::fs::read_to_string(dir.path().join("caddy.log"))?;
                    let errors: Vec<&str> =
                        log.lines().filter(|l| l.contains("\"error\"")).collect();
                    bail!(
                        "tap {i} was never answered through the proxy: {other:?}; caddy: {errors:?}"
                    )
                }
            }
        };
        answered.push(answer.checkin()?.id.clone());
    }

    let received = checkins_on(&mut desk, TAPS).await?;
    assert_eq!(
        received, answered,
        "every tap once, in order, through the proxy"
    );
    let state = desk.core.state().await?;
    assert_eq!(state.cursor.last_seq, TAPS as u64);
    Ok(())
}

/// Waits until the desk's connection is closed; returns how long that took.
async fn cut_off(desk: &mut DeskClient) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    desk.closed().await?;
    Ok(started.elapsed())
}

/// Issue 26, scenario 1: revoking used to end the desk's connection only on the node that got
/// the request, and the desk's token was checked only at the upgrade.
#[tokio::test(flavor = "multi_thread")]
async fn a_desk_revoked_through_one_node_is_cut_off_on_the_other() -> anyhow::Result<()> {
    use gymgate_tests::desk::ConnectError;
    let Some(cluster) = cluster(2, None).await? else {
        return Ok(());
    };
    let (a, b) = (&cluster.nodes[0].1, &cluster.nodes[1].1);
    let fx = Fixture::new(a.url());
    let center = fx.center("강남점").await?;
    let heard = fx.desk(center.id.as_str()).await?;
    let missed = fx.desk(center.id.as_str()).await?;
    let stale = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("V", 1, None).await?;
    let member = MemberClient::login(&b.url(), &numbers[0], PIN).await?;

    // Revoked through A while B listens: B ends the connection when it hears it.
    let (mut on_b, _) = DeskClient::join(&b.url(), &heard.token, None, 0).await?;
    fx.admin.revoke_desk(heard.desk_id.as_str()).await?;
    let took = cut_off(&mut on_b).await?;
    eprintln!("revoked through A, cut off on B in {took:?} (notified)");
    anyhow::ensure!(took < Duration::from_secs(5), "cut off after {took:?}");
    match DeskClient::connect(&b.url(), &heard.token).await {
        Err(ConnectError::Refused(401)) => {}
        Err(other) => bail!("expected 401 for a revoked token on B, got {other}"),
        Ok(_) => bail!("B let a revoked token in"),
    }

    // Revoked while B's listener is gone (the notification is lost): B's own look finds it.
    let (mut on_b, _) = DeskClient::join(&b.url(), &missed.token, None, 0).await?;
    gymgate_tests::postgres::allow_connections(&cluster.url, false).await?;
    let ended = gymgate_tests::postgres::end_sessions(&cluster.url, "gymgate listener").await?;
    anyhow::ensure!(
        ended >= 2,
        "ended {ended} listener sessions, not both nodes'"
    );
    fx.admin.revoke_desk(missed.desk_id.as_str()).await?;
    let took = cut_off(&mut on_b).await;
    gymgate_tests::postgres::allow_connections(&cluster.url, true).await?;
    let took = took?;
    eprintln!("revoked through A, cut off on B in {took:?} (notification lost)");
    anyhow::ensure!(took < Duration::from_secs(5), "cut off after {took:?}");

    // Revoked where no node hears of it (long ago by the revoking clock, by a tool): what the
    // desk sends is refused in the transaction that would store it, and it is closed.
    let (mut on_b, _) = DeskClient::join(&b.url(), &stale.token, None, 0).await?;
    let touched = gymgate_tests::postgres::execute(
        &cluster.url,
        "UPDATE desks SET revoked_at = '2026-01-01T00:00:00.000000Z' WHERE id = $1",
        &[stale.desk_id.as_str()],
    )
    .await?;
    anyhow::ensure!(touched == 1, "no desk {}", stale.desk_id);
    let member_id = member.session.member.id.clone();
    on_b.send(&gymgate_shared::protocol::DeskMessage::Record(
        gymgate_shared::protocol::OutboxRecord {
            local_id: gymgate_shared::LocalId::generate(),
            member_id,
            at: chrono::Utc::now() - chrono::Duration::seconds(20),
            method: gymgate_shared::protocol::RecordMethod::Roster,
            proof: None,
            manual: None,
        },
    ))
    .await?;
    let closed = on_b.closed().await?;
    anyhow::ensure!(
        closed.errors.iter().any(|(code, _)| code == "desk_revoked"),
        "expected desk_revoked, got {:?}",
        closed.errors
    );
    let stored =
        gymgate_tests::postgres::execute(&cluster.url, "SELECT id FROM checkins", &[]).await?;
    anyhow::ensure!(stored == 0, "a revoked desk recorded {stored} check-ins");
    Ok(())
}

/// Taps through `member`'s node until its token is refused; returns how long that took.
async fn until_refused(
    member: &MemberClient,
    center: &str,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    for i in 0.. {
        let answer = member.tap(center, &format!("after-reset-{i}")).await?;
        if answer.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            bail!(
                "the old token still worked after {within:?} ({})",
                answer.status()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!("the loop returns or fails")
}

/// Issue 26, scenario 2: a PIN reset used to end the member's sessions only on the node that
/// made it; the other node answered from the tokens it remembered for up to 30 days.
#[tokio::test(flavor = "multi_thread")]
async fn a_pin_reset_through_one_node_ends_the_members_sessions_on_the_other() -> anyhow::Result<()>
{
    use gymgate_shared::api::{NewOperator, Role};
    const PASSWORD: &str = "운영-비밀번호-2026";
    let Some(cluster) = cluster(2, None).await? else {
        return Ok(());
    };
    let (a, b) = (&cluster.nodes[0].1, &cluster.nodes[1].1);
    let fx = Fixture::new(a.url());
    let center = fx.center("강남점").await?;
    let center = center.id.as_str();
    let numbers = fx.members("P", 1, None).await?;
    let no = numbers[0].as_str();
    fx.admin
        .add_operator(&NewOperator {
            username: "helper".into(),
            password: PASSWORD.into(),
            role: Role::Support,
        })
        .await?;
    let boss = gymgate_tests::ConsoleClient::login(&a.url(), "helper", PASSWORD).await?;
    let reset = || async {
        let answer = boss
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/admin/members/{no}/reset-pin"),
                serde_json::json!({}),
            )
            .await?;
        anyhow::ensure!(
            answer.status == reqwest::StatusCode::OK,
            "{:?}",
            answer.body
        );
        Ok(answer.body["pin"].as_str().unwrap_or_default().to_owned())
    };

    // Logged in and tapping through B (which remembers the token), its live feed open on B.
    let member = MemberClient::login(&b.url(), no, PIN).await?;
    let first = member.tap(center, "before-reset").await?;
    anyhow::ensure!(first.status().is_success(), "{:?}", first.status());
    let mut feed = reqwest::Client::new()
        .get(format!("{}/api/v1/me/events", b.url()))
        .bearer_auth(&member.token)
        .send()
        .await?;
    anyhow::ensure!(feed.status().is_success(), "feed: {}", feed.status());
    let new_pin = reset().await?;
    let took = until_refused(&member, center, Duration::from_secs(5)).await?;
    eprintln!("PIN reset through A, the old token refused on B in {took:?} (notified)");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while feed.chunk().await?.is_some() {}
        anyhow::Ok(())
    })
    .await;
    anyhow::ensure!(matches!(ended, Ok(Ok(()))), "the feed on B stayed open");

    // Reset while B's listener is gone (the word is lost): B reads the token again soon.
    let member = MemberClient::login(&b.url(), no, &new_pin).await?;
    let tapped = member.tap(center, "before-second-reset").await?;
    anyhow::ensure!(
        tapped.status() != reqwest::StatusCode::UNAUTHORIZED,
        "the new PIN's token works"
    );
    gymgate_tests::postgres::allow_connections(&cluster.url, false).await?;
    let ended = gymgate_tests::postgres::end_sessions(&cluster.url, "gymgate listener").await?;
    let outcome = async {
        anyhow::ensure!(
            ended >= 2,
            "ended {ended} listener sessions, not both nodes'"
        );
        reset().await?;
        until_refused(&member, center, Duration::from_secs(8)).await
    }
    .await;
    gymgate_tests::postgres::allow_connections(&cluster.url, true).await?;
    let took = outcome?;
    eprintln!("PIN reset through A, the old token refused on B in {took:?} (word lost)");
    Ok(())
}

/// Issue 26, scenario 6: the integrity check on PostgreSQL checked nothing. It now finds a
/// center whose log has lost an event (what a partial restore or a hand-made delete leaves),
/// alerts it, and keeps the node ready (every node shares the database); a log that
/// retention pruned from its oldest end is whole.
#[tokio::test(flavor = "multi_thread")]
async fn the_check_on_postgresql_finds_an_event_missing_from_a_centers_log() -> anyhow::Result<()> {
    if gymgate_tests::postgres::admin_url()?.is_none() {
        return Ok(());
    }
    let slack = WebhookStub::start().await?;
    let server = gymgate_tests::TestServer::start_with(|c| {
        c.integrity_check_every = Duration::from_millis(100);
        c.alerts.slack_url = Some(slack.url.clone());
        c.alerts.check_every = Duration::from_millis(50);
    })
    .await?;
    let url = gymgate_tests::postgres::database_for(server.data.path()).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    for no in fx.members("G", 3, None).await? {
        let member = MemberClient::login(&server.url(), &no, PIN).await?;
        member.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    let center_id = center.id.as_str();
    let checked = || async {
        // Several checks' time: the state is what the last of them found.
        tokio::time::sleep(Duration::from_millis(600)).await;
        server.state.damage()
    };
    assert_eq!(checked().await, None, "a whole log");

    // Retention's way: the oldest event gone and `pruned_through` moved past it.
    gymgate_tests::postgres::execute(
        &url,
        "DELETE FROM events WHERE center_id = $1 AND seq = 1",
        &[center_id],
    )
    .await?;
    gymgate_tests::postgres::execute(
        &url,
        "UPDATE centers SET pruned_through = 1 WHERE id = $1",
        &[center_id],
    )
    .await?;
    assert_eq!(
        checked().await,
        None,
        "a log pruned from its oldest end is whole"
    );

    // An event lost from the middle.
    let deleted = gymgate_tests::postgres::execute(
        &url,
        "DELETE FROM events WHERE center_id = $1 AND seq = 2",
        &[center_id],
    )
    .await?;
    anyhow::ensure!(deleted == 1, "no event 2 to delete");
    let damage = checked().await.context("the missing event was not found")?;
    anyhow::ensure!(damage.contains(center_id), "{damage}");
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let messages = slack.delivered();
        if messages.iter().any(|m| m.contains(center_id)) {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no alert: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = reqwest::get(format!("{}/readyz", server.url())).await?;
    anyhow::ensure!(
        ready.status().is_success(),
        "one center's log took the node out: {}",
        ready.status()
    );

    // The runbook: nodes stopped, `new-epoch` (desks re-sync from a snapshot; the old log,
    // which no one replays now, is dropped), nodes started: the log is whole again.
    let data = server.stop().await?;
    let out = tokio::process::Command::new(EXE)
        .arg("new-epoch")
        .env("GYMGATE_DATABASE_URL", &url)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "{out:?}");
    let server = gymgate_tests::TestServer::start_in(data, |c| {
        c.integrity_check_every = Duration::from_millis(100);
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        server.state.damage(),
        None,
        "still not whole after new-epoch"
    );
    let fx = Fixture::new(server.url());
    let fresh = fx.members("H", 1, None).await?;
    let member = MemberClient::login(&server.url(), &fresh[0], PIN).await?;
    member.tap(center_id, "after").await?.checkin()?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.state.damage(), None, "the new history's first event");
    Ok(())
}

/// Group commit on PostgreSQL under a mixed load through both nodes: members tapping at many
/// centers while others are blocked and unblocked (each block is an event for every center,
/// a row lock on each in one transaction). Two writer sessions per node, so taps share
/// transactions. Nothing deadlocks (PostgreSQL's own count stays 0, and every request is
/// answered as asked), and every center's log is whole: heads equal the events kept, gapless.
#[tokio::test(flavor = "multi_thread")]
async fn taps_and_member_blocks_through_both_nodes_neither_deadlock_nor_leave_a_gap()
-> anyhow::Result<()> {
    let settings = [
        ("GYMGATE_POSTGRES_WRITERS", "2"),
        ("GYMGATE_POSTGRES_BATCH", "32"),
        ("GYMGATE_TAPS_PER_MEMBER_PER_MINUTE", "1000"),
    ];
    let Some(cluster) = cluster_with(2, None, &settings).await? else {
        return Ok(());
    };
    let urls: Vec<String> = cluster.nodes.iter().map(|(_, n)| n.url()).collect();
    let fx = Fixture::new(urls[0].clone());
    let mut centers = Vec::new();
    for i in 0..120 {
        centers.push(fx.center(&format!("지점{i:03}")).await?.id.to_string());
    }
    let tappers = fx.members("T", 8, None).await?;
    let blocked = fx.members("B", 4, None).await?;
    // A desk at two centers follows its log from the start, in order.
    let watched = [centers[0].clone(), centers[1].clone()];
    let mut desks = Vec::new();
    for (i, center) in watched.iter().enumerate() {
        let desk = fx.desk(center).await?;
        let (client, _) = DeskClient::join(&urls[i % 2], &desk.token, None, 0).await?;
        desks.push(client);
    }

    let mut work = tokio::task::JoinSet::new();
    for (i, no) in tappers.iter().enumerate() {
        let (url, no, centers) = (urls[i % 2].clone(), no.clone(), centers.clone());
        work.spawn(async move {
            let member = MemberClient::login(&url, &no, PIN).await?;
            let mut taps = 0;
            // Each member walks the centers from a different place, so batches on both
            // nodes hold the centers' rows in every order the jobs come in.
            for k in 0..30 {
                let center = &centers[(i * 13 + k * 7) % centers.len()];
                member.tap(center, &format!("{no}-{k}")).await?.checkin()?;
                taps += 1;
            }
            anyhow::Ok(taps)
        });
    }
    for (i, no) in blocked.iter().enumerate() {
        let (url, no) = (urls[(i + 1) % 2].clone(), no.clone());
        work.spawn(async move {
            let admin = gymgate_server::AdminClient::new(&url, gymgate_tests::ADMIN_TOKEN);
            for round in 0..6 {
                let request = gymgate_shared::api::BlockRequest {
                    blocked: round % 2 == 0,
                    reason: Some("부하 시험".into()),
                };
                admin.block_member(&no, &request).await?;
            }
            anyhow::Ok(0)
        });
    }
    let mut taps = 0;
    while let Some(done) = work.join_next().await {
        taps += done??;
    }
    assert_eq!(taps, 8 * 30, "every tap was answered with its check-in");
    let mut shared = 0.0;
    for url in &urls {
        shared += commits_of_several_jobs(url).await?;
    }
    assert!(
        shared > 0.0,
        "no commit carried more than one job: no group commit"
    );

    let url = &cluster.url;
    assert_eq!(
        gymgate_tests::postgres::deadlocks(url).await?,
        0,
        "no deadlock"
    );
    let broken = gymgate_tests::postgres::number(
        url,
        "SELECT COUNT(*) FROM (
             SELECT c.id FROM centers c LEFT JOIN events e ON e.center_id = c.id
             GROUP BY c.id, c.head_seq, c.pruned_through
             HAVING COUNT(e.seq) <> c.head_seq - c.pruned_through
                 OR COALESCE(MAX(e.seq), 0) <> c.head_seq) broken",
    )
    .await?;
    assert_eq!(broken, 0, "a center's log has a gap or a seq past its head");
    // 12 blocks, each an event for every center (unblocking tells only visited centers).
    let revocations = gymgate_tests::postgres::number(
        url,
        "SELECT COUNT(*) FROM events WHERE kind = 'revocation'",
    )
    .await?;
    assert_eq!(revocations, 12 * 120);
    for (desk, center) in desks.iter_mut().zip(&watched) {
        let head = gymgate_tests::postgres::number(
            url,
            &format!("SELECT head_seq FROM centers WHERE id = '{center}'"),
        )
        .await?;
        let events = desk.events(0, usize::try_from(head)?).await?;
        assert_eq!(
            events.len() as i64,
            head,
            "the desk heard its whole log in order"
        );
    }
    Ok(())
}

/// A batch on PostgreSQL is one transaction with a savepoint a job: a job one of whose
/// statements failed (whatever it answered) and a job that failed after writing leave
/// nothing, their batch-mates keep what they wrote, and the events of the jobs kept get
/// the center's next seqs, gapless, in the order the jobs ran.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_job_in_a_postgresql_batch_leaves_nothing_and_spares_its_batch_mates()
-> anyhow::Result<()> {
    use gymgate_server::testing::{StoreError, WriteCtx};
    use gymgate_shared::protocol::EventPayload;
    if gymgate_tests::postgres::admin_url()?.is_none() {
        return Ok(());
    }
    let server = gymgate_tests::TestServer::start_with(|c| {
        c.postgres_writers = 1;
        c.postgres_batch = 8;
    })
    .await?;
    let url = gymgate_tests::postgres::database_for(server.data.path()).await?;
    let center = Fixture::new(server.url()).center("강남점").await?.id;
    let writer = server.state.store.writer.clone();

    // The one writer busy, so the jobs below queue up and run as one batch.
    let (started, running) = tokio::sync::oneshot::channel();
    let busy = writer.clone();
    let held = tokio::spawn(async move {
        busy.write(move |_ctx| -> Result<(), StoreError> {
            let _ = started.send(());
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        })
        .await
    });
    running.await?;
    #[derive(Clone, Copy)]
    enum Ends {
        Well,
        PastAFailedStatement,
        InAnError,
    }
    let job = |key: &'static str, ends: Ends| {
        let (writer, center) = (writer.clone(), center.clone());
        async move {
            writer
                .write(move |ctx: &mut WriteCtx<'_>| -> Result<(), StoreError> {
                    ctx.tx
                        .execute("INSERT INTO meta (key, value) VALUES (?1, 'x')", &[&key])?;
                    let revoked = EventPayload::Revocation(gymgate_shared::api::Revocation {
                        member_id: gymgate_shared::MemberId::new(key),
                        revoked_at: ctx.now,
                    });
                    ctx.append_event(&center, &revoked)?;
                    match ends {
                        Ends::Well => Ok(()),
                        Ends::PastAFailedStatement => {
                            let _ = ctx.tx.execute("UPDATE no_such_table SET x = 1", &[]);
                            Ok(())
                        }
                        Ends::InAnError => {
                            Err(StoreError::Corrupt("the job found a problem".into()))
                        }
                    }
                })
                .await
        }
    };
    let (a, b, c, d) = tokio::join!(
        job("a", Ends::Well),
        job("b", Ends::PastAFailedStatement),
        job("c", Ends::InAnError),
        job("d", Ends::Well)
    );
    held.await??;
    assert!(a.is_ok() && d.is_ok(), "{a:?} {d:?}");
    assert!(matches!(b, Err(StoreError::NotStored)), "{b:?}");
    assert!(matches!(c, Err(StoreError::Corrupt(_))), "{c:?}");
    assert!(
        commits_of_several_jobs(&server.url()).await? > 0.0,
        "the jobs did not share a commit"
    );
    let kept = gymgate_tests::postgres::number(
        &url,
        "SELECT COUNT(*) FROM meta WHERE key IN ('a', 'b', 'c', 'd')",
    )
    .await?;
    assert_eq!(kept, 2, "only a and d stayed");
    let in_order = gymgate_tests::postgres::number(
        &url,
        &format!(
            "SELECT COUNT(*) FROM events e JOIN centers c ON c.id = e.center_id
             WHERE c.id = '{center}' AND c.head_seq = 2
               AND ((e.seq = 1 AND e.data LIKE '%\"a\"%') OR (e.seq = 2 AND e.data LIKE '%\"d\"%'))"
        ),
    )
    .await?;
    assert_eq!(
        in_order, 2,
        "a's event is seq 1 and d's seq 2, and the head is 2"
    );
    Ok(())
}
