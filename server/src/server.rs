//! Accepting connections and serving HTTP on them: what a hostile or broken client can hold.
//!
//! axum's own `serve` sets no timers, so a socket that never sends a request (or goes quiet
//! between requests) stays open for ever: 1,100 of them once exhausted a 1,024-descriptor
//! limit. Here every connection must send its request headers within `header_timeout`, also
//! between requests on a kept-alive connection, and one address holds at most
//! `max_per_address` connections. A trusted proxy carries everyone, so it is not capped
//! itself: each request it forwards counts against the client address it names (for as long
//! as the answer streams, or the desk's WebSocket lives), so one client behind the proxy is
//! held to the same cap. (The whole request, body included, has its own time limit in
//! `http::router`.)

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// A connection must send a request's headers within this, and may sit idle between
    /// requests no longer than this.
    pub header_timeout: Duration,
    pub max_per_address: usize,
    /// Addresses exempt from `max_per_address` (the reverse proxies in front).
    pub exempt: Vec<IpAddr>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            max_per_address: 512,
            exempt: Vec::new(),
        }
    }
}

/// Open connections per address.
#[derive(Default)]
struct Counts(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in [`Counts`]; leaving it (drop) frees the place.
struct Slot {
    counts: Arc<Counts>,
    address: IpAddr,
}

impl Counts {
    fn take(self: &Arc<Self>, address: IpAddr, max: usize) -> Option<Slot> {
        let mut counts = self.0.lock().ok()?;
        let count = counts.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.0.lock()
            && let Some(count) = counts.get_mut(&self.address)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets every connection
/// finish the request it is on (upgraded WebSockets are the caller's to close) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let counts = Arc::new(Counts::default());
    // Dropped at shutdown: every connection's receiver then sees the change.
    let (stop_tx, stop_rx) = watch::channel(());
    // Each connection holds a receiver; `closed()` resolves when all are gone.
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before accept: not fatal.
                    // A pause keeps an exhausted process from spinning on the error.
                    tracing::warn!(%error, "cannot accept a connection");
                    metrics::counter!(crate::metrics::ACCEPT_ERRORS).increment(1);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let address = peer.ip();
        let max = if limits.exempt.contains(&address) {
            usize::MAX
        } else {
            limits.max_per_address
        };
        let Some(slot) = counts.take(address, max) else {
            metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
            tracing::debug!(%address, "too many connections from one address");
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        let header_timeout = limits.header_timeout;
        let proxied = limits.exempt.contains(&address).then(|| Proxied {
            counts: counts.clone(),
            proxies: limits.exempt.clone(),
            max: limits.max_per_address,
        });
        tokio::spawn(async move {
            let _slot = slot;
            let _done = done;
            serve_connection(stream, peer, router, header_timeout, proxied, &mut stop).await;
        });
    }
    drop(stop_rx);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
}

/// A connection from a trusted proxy: its requests count against the client they are for.
struct Proxied {
    counts: Arc<Counts>,
    proxies: Vec<IpAddr>,
    max: usize,
}

/// The place a proxied request holds in the per-address count; a desk's WebSocket handler
/// keeps it for the life of the socket.
#[derive(Clone)]
pub struct ClientSlot(#[allow(dead_code)] Arc<Slot>);

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    proxied: Option<Proxied>,
    stop: &mut watch::Receiver<()>,
) {
    let proxied = proxied.map(Arc::new);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        let proxied = proxied.clone();
        async move {
            let Some(proxied) = proxied else {
                return router.oneshot(request.map(Body::new)).await;
            };
            let client =
                crate::auth::client_ip::client_ip(peer.ip(), request.headers(), &proxied.proxies);
            let Some(slot) = proxied
                .counts
                .take(crate::auth::client_ip::network(client), proxied.max)
            else {
                metrics::counter!(crate::metrics::CONNECTIONS_REFUSED).increment(1);
                return Ok(too_many_response());
            };
            let slot = ClientSlot(Arc::new(slot));
            request.extensions_mut().insert(slot.clone());
            let response = router.oneshot(request.map(Body::new)).await?;
            // Held until the answer has streamed out (server-sent events last long).
            Ok(response.map(|body| {
                use http_body_util::BodyExt;
                Body::new(body.map_frame(move |frame| {
                    let _held = &slot;
                    frame
                }))
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::trace!(%error, "connection ended with an error");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(error) = connection.await {
        tracing::trace!(%error, "connection ended with an error");
    }
}

const TOO_MANY: &str = "{\"error\":{\"code\":\"too_many_connections\",\
                        \"message\":\"too many open connections from this address\"}}";

/// A proxied request over its client's cap.
fn too_many_response() -> axum::response::Response {
    let mut response = axum::response::Response::new(Body::from(TOO_MANY));
    *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    response
}

/// Tells a connection over the per-address cap why it is closed, briefly, and closes it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = TOO_MANY;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_freed() {
        let counts = Arc::new(Counts::default());
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let first = counts.take(a, 2).expect("first");
        let second = counts.take(a, 2).expect("second");
        assert!(counts.take(a, 2).is_none());
        assert!(counts.take(b, 2).is_some());
        drop(first);
        let third = counts.take(a, 2).expect("a place again");
        drop((second, third));
        assert!(counts.0.lock().map(|c| c.is_empty()).unwrap_or(false));
    }
}
