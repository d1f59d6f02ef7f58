//! One outgoing alert channel (a Slack incoming webhook, or an SMS gateway taking the same
//! `{"text": …}` body). Sending never waits: messages go into a bounded queue, and a task of
//! the channel's own delivers them at most once per `min_interval`, joining whatever queued
//! up meanwhile into one message, retrying failures with backoff. A channel that is down or
//! hangs costs only its own task.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Delivery;

/// Messages waiting for a slow channel beyond this are dropped (and counted).
const QUEUE: usize = 256;
/// Slack cuts messages near 40,000 characters; stay well under.
const MAX_CHARS: usize = 30_000;

pub struct Webhook {
    name: &'static str,
    queue: mpsc::Sender<String>,
}

impl Webhook {
    /// Starts the channel's delivery task; it ends at `shutdown` or when the handle drops.
    pub fn start(
        name: &'static str,
        url: String,
        delivery: Delivery,
        shutdown: CancellationToken,
    ) -> Result<Webhook, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(delivery.timeout)
            .connect_timeout(delivery.timeout)
            .build()?;
        let (queue, messages) = mpsc::channel(QUEUE);
        tokio::spawn(async move {
            tokio::select! {
                () = deliver(name, client, url, delivery, messages) => {}
                () = shutdown.cancelled() => {}
            }
        });
        Ok(Webhook { name, queue })
    }

    /// Queues `text`; never waits.
    pub fn send(&self, text: String) {
        if self.queue.try_send(text).is_err() {
            tracing::warn!(
                channel = self.name,
                "alert channel is backed up; message dropped"
            );
            metrics::counter!(crate::metrics::ALERT_MESSAGES, "channel" => self.name, "result" => "dropped")
                .increment(1);
        }
    }
}

async fn deliver(
    name: &'static str,
    client: reqwest::Client,
    url: String,
    delivery: Delivery,
    mut messages: mpsc::Receiver<String>,
) {
    let mut next_allowed = tokio::time::Instant::now();
    while let Some(first) = messages.recv().await {
        tokio::time::sleep_until(next_allowed).await;
        // Whatever arrived while waiting goes out together: one message, not a flood.
        let mut text = first;
        while let Ok(more) = messages.try_recv() {
            text.push_str("\n\n");
            text.push_str(&more);
        }
        if text.chars().count() > MAX_CHARS {
            text = text.chars().take(MAX_CHARS).collect();
            text.push_str("\n…");
        }
        let body = serde_json::json!({ "text": text });
        let mut wait = delivery.backoff;
        for attempt in 1..=delivery.attempts.max(1) {
            let sent = client
                .post(&url)
                .json(&body)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                // A webhook URL is a secret (Slack's holds its token): never in the logs.
                .map_err(reqwest::Error::without_url);
            match sent {
                Ok(_) => {
                    metrics::counter!(crate::metrics::ALERT_MESSAGES, "channel" => name, "result" => "sent")
                        .increment(1);
                    break;
                }
                Err(error) if attempt < delivery.attempts => {
                    tracing::warn!(channel = name, attempt, %error, "alert not delivered; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
                Err(error) => {
                    tracing::error!(channel = name, attempt, %error, "alert not delivered; giving up");
                    metrics::counter!(crate::metrics::ALERT_MESSAGES, "channel" => name, "result" => "failed")
                        .increment(1);
                }
            }
        }
        next_allowed = tokio::time::Instant::now() + delivery.min_interval;
    }
}
