//! The desk core as an iced subscription: started once per pairing, its events become
//! messages.

use std::path::PathBuf;

use gymgate_desk_core::CoreEvent;
use gymgate_desk_core::config::Pairing;
use gymgate_desk_core::link::LinkTiming;

/// Identifies the core subscription: a new pairing starts a new core.
#[derive(Debug, Clone, Hash)]
pub(super) struct CoreKey {
    pub(super) data_dir: PathBuf,
    pub(super) pairing: Pairing,
}

pub(super) fn core_stream(key: &CoreKey) -> impl futures_util::Stream<Item = CoreEvent> + use<> {
    let key = key.clone();
    iced::stream::channel(256, async move |mut output| {
        use futures_util::SinkExt;
        let (events, mut receiver) = tokio::sync::mpsc::channel(1024);
        match gymgate_desk_core::start(&key.data_dir, key.pairing, LinkTiming::default(), events)
            .await
        {
            Ok((core, state, link)) => {
                tracing::info!(
                    roster = state.roster_size,
                    today = state.today.len(),
                    "desk core ready"
                );
                let _ = output.send(CoreEvent::Ready(core, Box::new(state))).await;
                let forward = async move {
                    while let Some(event) = receiver.recv().await {
                        if output.send(event).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::join!(link, forward);
            }
            Err(error) => {
                tracing::error!(%error, "the desk core could not start");
                let _ = output.send(CoreEvent::Failed(error.to_string())).await;
            }
        }
    })
}
