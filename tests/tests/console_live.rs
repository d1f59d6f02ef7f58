//! The console's live page at fleet scale (issue 25): the stream sends the whole page once,
//! then only what changed; the changes, applied in order, give the page the server has.

use gymgate_shared::api::{NowDelta, NowView};
use gymgate_tests::{ADMIN_TOKEN, DeskClient, Fixture, TestServer, WAIT};

/// One console's live stream, read event by event.
struct Live {
    response: reqwest::Response,
    buffer: String,
}

impl Live {
    async fn open(url: &str) -> anyhow::Result<Live> {
        let response = reqwest::Client::new()
            .get(format!("{url}/api/v1/admin/now/stream"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .error_for_status()?;
        Ok(Live {
            response,
            buffer: String::new(),
        })
    }

    /// The next event's name and data, with the bytes it took on the wire.
    async fn next(&mut self) -> anyhow::Result<(String, String, usize)> {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut event, mut data) = (String::new(), String::new());
                    for line in block.lines() {
                        if let Some(name) = line.strip_prefix("event: ") {
                            event = name.to_owned();
                        } else if let Some(text) = line.strip_prefix("data: ") {
                            data.push_str(text);
                        }
                    }
                    if event.is_empty() {
                        continue; // a keep-alive comment
                    }
                    return Ok((event, data, block.len()));
                }
                let chunk = self
                    .response
                    .chunk()
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the live stream ended"))?;
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await?
    }

    /// Reads changes into `view` until `done` holds for it.
    async fn until(
        &mut self,
        view: &mut NowView,
        deltas: &mut Vec<(NowDelta, usize)>,
        done: impl Fn(&NowView) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(view) {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the live page did not get there"
            );
            let (event, data, size) = self.next().await?;
            anyhow::ensure!(event == "now-delta", "{event}: {data}");
            let delta: NowDelta = serde_json::from_str(&data)?;
            delta.apply(view);
            deltas.push((delta, size));
        }
        Ok(())
    }
}

impl Live {
    /// Applies changes until a tick with none; its size on the wire.
    async fn quiet(&mut self, view: &mut NowView) -> anyhow::Result<usize> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (event, data, size) = self.next().await?;
            anyhow::ensure!(event == "now-delta", "{event}: {data}");
            let delta: NowDelta = serde_json::from_str(&data)?;
            if delta.is_quiet() {
                return Ok(size);
            }
            delta.apply(view);
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the live page kept changing"
            );
        }
    }
}

fn online(view: &NowView, desk: &str) -> Option<bool> {
    view.centers
        .iter()
        .flat_map(|c| &c.desks)
        .find(|d| d.desk.id.as_str() == desk)
        .map(|d| d.desk.online)
}

/// Without `at`, which every view has anew.
fn page(mut view: NowView) -> NowView {
    view.at = chrono::DateTime::UNIX_EPOCH;
    view
}

#[tokio::test]
async fn the_live_page_sends_the_changes_and_they_add_up_to_the_page() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let mut desks = Vec::new();
    for name in ["강남점", "역삼점", "선릉점", "삼성점"] {
        let center = fx.center(name).await?;
        for _ in 0..3 {
            desks.push(fx.desk(center.id.as_str()).await?);
        }
    }
    let mut live = Live::open(&url).await?;
    let (event, data, whole_size) = live.next().await?;
    assert_eq!(event, "now", "the stream starts with the whole page");
    let mut view: NowView = serde_json::from_str(&data)?;
    assert_eq!(view.centers.len(), 4);
    assert_eq!(online(&view, desks[4].desk_id.as_str()), Some(false));
    let mut deltas = Vec::new();

    // One desk comes online: the change names that desk alone.
    let (first, _) = DeskClient::join(&url, &desks[4].token, None, 0).await?;
    live.until(&mut view, &mut deltas, |v| {
        online(v, desks[4].desk_id.as_str()) == Some(true)
    })
    .await?;
    let (turned, size) = deltas.last().expect("a change came");
    assert_eq!(
        turned
            .desks
            .iter()
            .map(|d| d.desk.id.clone())
            .collect::<Vec<_>>(),
        vec![desks[4].desk_id.clone()],
        "only the desk that changed is sent"
    );
    assert!(
        *size * 5 < whole_size,
        "a change of one desk took {size} bytes, the whole page {whole_size}"
    );

    // Ticks with no change say only the time.
    let quiet_size = live.quiet(&mut view).await?;
    assert!(
        quiet_size < 120,
        "a tick with no change took {quiet_size} bytes"
    );

    // A center comes with a desk, a desk is revoked, one goes offline: still in step.
    let late = fx.center("가락점").await?;
    let late_desk = fx.desk(late.id.as_str()).await?;
    fx.admin.revoke_desk(desks[0].desk_id.as_str()).await?;
    first.close().await?;
    let current = |http: reqwest::Client| {
        let url = url.clone();
        async move {
            anyhow::Ok(page(
                http.get(format!("{url}/api/v1/admin/now"))
                    .bearer_auth(ADMIN_TOKEN)
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<NowView>()
                    .await?,
            ))
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (event, data, _) = live.next().await?;
        assert_eq!(event, "now-delta", "{data}");
        let delta: NowDelta = serde_json::from_str(&data)?;
        delta.apply(&mut view);
        let settled = view.centers.len() == 5
            && online(&view, late_desk.desk_id.as_str()) == Some(false)
            && online(&view, desks[0].desk_id.as_str()).is_none()
            && online(&view, desks[4].desk_id.as_str()) == Some(false);
        if settled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page did not follow"
        );
    }
    // Once nothing changes, the page the changes built is the page the server has.
    live.quiet(&mut view).await?;
    assert_eq!(page(view), current(reqwest::Client::new()).await?);
    Ok(())
}
