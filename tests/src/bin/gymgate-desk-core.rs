//! A desk core without a window, as a real process the fault tests can SIGKILL.
//!   gymgate-desk-core DATA_DIR SERVER_URL DESK_ID CENTER_ID TOKEN
//! Reads `checkin MEMBER_ID` lines on stdin and answers `ok LOCAL_ID` once the check-in is
//! durable in the outbox (or `refused REASON`); prints `pending N` whenever the outbox changes.
//! `state` prints `state today N last_seq S pending P` from the cache. `quit` stops it as a
//! desk closed by staff does; `panic` panics (with the desk's panic hook, as the program).

use std::io::Write;

use gymgate_desk_core::config::Pairing;
use gymgate_desk_core::{CoreEvent, LinkStatus, start};
use gymgate_shared::{CenterId, DeskId, MemberId};
use tokio::io::{AsyncBufReadExt, BufReader};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, data_dir, server_url, desk_id, center_id, token] = args.as_slice() else {
        anyhow::bail!("usage: gymgate-desk-core DATA_DIR SERVER_URL DESK_ID CENTER_ID TOKEN");
    };
    // SERVER_URL may list several nodes, comma-separated: the first is the one paired with.
    let mut servers: Vec<String> = server_url.split(',').map(str::to_owned).collect();
    let first = servers.remove(0);
    let pairing = Pairing {
        server_url: first,
        desk_id: DeskId::new(desk_id.clone()),
        center_id: CenterId::new(center_id.clone()),
        desk_name: "fault test desk".into(),
        token: token.clone(),
        servers,
    };
    gymgate_desk_core::health::install_panic_hook(std::path::PathBuf::from(data_dir));
    let (events, mut receiver) = tokio::sync::mpsc::channel(1024);
    let (core, state, link) = start(
        std::path::Path::new(data_dir),
        pairing,
        gymgate_tests::desk_core::fast_timing(),
        events,
    )
    .await?;
    say(&format!("started pending {}", state.pending));
    let link = tokio::spawn(link);
    tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            match event {
                CoreEvent::Outbox { pending, .. } => say(&format!("pending {pending}")),
                CoreEvent::Link(LinkStatus::Online { .. }) => say("online"),
                CoreEvent::Link(LinkStatus::Offline { .. }) => say("offline"),
                _ => {}
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "quit" {
            core.shutdown();
            link.await?;
            say("stopped");
            return Ok(());
        } else if line.trim() == "panic" {
            panic!("asked to panic by the test");
        } else if line.trim() == "state" {
            match core.state().await {
                Ok(state) => say(&format!(
                    "state today {} last_seq {} pending {}",
                    state.today.len(),
                    state.cursor.last_seq,
                    state.pending
                )),
                Err(error) => say(&format!("error {error}")),
            }
        } else if let Some(member) = line.strip_prefix("checkin ") {
            match core.check_in(&MemberId::new(member.trim())).await {
                Ok(card) => say(&format!("ok {}", card.checkin.id)),
                Err(error) => say(&format!("refused {error}")),
            }
        }
    }
    Ok(())
}
