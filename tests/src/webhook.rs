//! A local HTTP server standing in for Slack's incoming webhook or an SMS gateway: it records
//! what it is sent, and can fail or hang on purpose.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::watch;

#[derive(Default)]
struct Inner {
    /// Texts answered with 200, in order.
    delivered: Mutex<Vec<String>>,
    attempts: AtomicUsize,
    /// The first this-many attempts get a 500.
    fail_first: usize,
}

pub struct WebhookStub {
    pub url: String,
    inner: Arc<Inner>,
    /// While true, every request hangs (the sender's timeout is what ends it).
    hang: watch::Sender<bool>,
}

impl WebhookStub {
    pub async fn start() -> anyhow::Result<WebhookStub> {
        Self::start_failing(0, false).await
    }

    /// Answers 500 to the first `fail_first` requests; hangs every request while `hang` is
    /// set (until [`WebhookStub::release`]).
    pub async fn start_failing(fail_first: usize, hang: bool) -> anyhow::Result<WebhookStub> {
        let inner = Arc::new(Inner {
            fail_first,
            ..Inner::default()
        });
        let (hang_tx, hang_rx) = watch::channel(hang);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state((inner.clone(), hang_rx));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(WebhookStub {
            url,
            inner,
            hang: hang_tx,
        })
    }

    pub fn release(&self) {
        self.hang.send_replace(false);
    }

    pub fn delivered(&self) -> Vec<String> {
        self.inner
            .delivered
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    pub fn attempts(&self) -> usize {
        self.inner.attempts.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until at least `count` messages were delivered; returns them all.
    pub async fn wait_for(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        loop {
            let delivered = self.delivered();
            if delivered.len() >= count {
                return Ok(delivered);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "webhook got {} messages, expected {count}: {delivered:?}",
                delivered.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State((inner, mut hang)): State<(Arc<Inner>, watch::Receiver<bool>)>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> StatusCode {
    let attempt = inner.attempts.fetch_add(1, Ordering::SeqCst);
    if *hang.borrow() {
        // The sender's timeout ends this attempt; should it still be waiting on release, it
        // hears a failure, so nothing counts as delivered twice.
        let _ = hang.wait_for(|hanging| !hanging).await;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if attempt < inner.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    if let Ok(mut delivered) = inner.delivered.lock() {
        delivered.push(text);
    }
    StatusCode::OK
}
