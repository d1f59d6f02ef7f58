//! Fan-out of committed events to the connected desks of their center.
//!
//! Each desk connection has its own bounded queue. Publishing never waits: a desk whose queue
//! is full is kicked (its connection closes and the desk resumes from its last ack), so one
//! slow desk can neither stall the writer nor make the server buffer without limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use gymgate_shared::{CenterId, CheckinId, DeskId, MemberId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::StoredEvent;

/// A committed event on its way to desks, with its wire frame serialised once for all of them.
#[derive(Debug)]
pub struct LiveEvent {
    pub event: StoredEvent,
    pub frame: Utf8Bytes,
}

impl std::ops::Deref for LiveEvent {
    type Target = StoredEvent;
    fn deref(&self) -> &StoredEvent {
        &self.event
    }
}

#[derive(serde::Serialize)]
struct EventFrame<'a> {
    #[serde(rename = "type")]
    kind_of_message: &'static str,
    seq: u64,
    at: &'a str,
    kind: &'static str,
    data: &'a serde_json::value::RawValue,
}

/// The member (and for a new check-in, the check-in) an event read back from the log is
/// about: the log keeps only the payload, where the card says it.
pub fn with_member(mut event: StoredEvent) -> StoredEvent {
    use gymgate_shared::protocol::EventKind;
    if matches!(event.kind, EventKind::Checkin | EventKind::CheckinUpdated)
        && let Ok(card) = serde_json::from_str::<gymgate_shared::api::CheckinCard>(&event.data)
    {
        if event.kind == EventKind::Checkin {
            event.checkin_id = Some(card.checkin.id.clone());
        }
        event.member_id = Some(card.checkin.member_id);
    }
    event
}

/// The `event` frame of a stored event, made without re-parsing its data.
pub fn frame(event: &StoredEvent) -> Result<Utf8Bytes, serde_json::Error> {
    let data: &serde_json::value::RawValue = serde_json::from_str(&event.data)?;
    let frame = serde_json::to_string(&EventFrame {
        kind_of_message: "event",
        seq: event.seq,
        at: &event.at,
        kind: event.kind.as_str(),
        data,
    })?;
    Ok(frame.into())
}

struct Subscriber {
    id: u64,
    desk_id: DeskId,
    queue: mpsc::Sender<Arc<LiveEvent>>,
    notes: mpsc::Sender<DeskNote>,
    kicked: CancellationToken,
}

/// Something for one desk rather than its whole center (not in the center's event log).
#[derive(Debug, Clone)]
pub enum DeskNote {
    /// An operator asked for the desk's log.
    SendLog { request_id: String },
    /// A rollout changed: the rollouts as they are now (read once for every desk, so 10,000
    /// connected desks do not each ask the store at the same instant).
    Releases(Arc<Vec<crate::releases::Rollout>>),
}

/// Notes a connection may hold; more are dropped (they are also found again from the store).
const NOTE_QUEUE: usize = 4;

/// A member's app following their check-ins.
struct MemberWatcher {
    id: u64,
    queue: mpsc::Sender<MemberNote>,
}

/// What a member's app hears.
#[derive(Debug, Clone)]
pub enum MemberNote {
    /// A change to one of the member's check-ins: the committed event.
    Event(Arc<LiveEvent>),
    /// A desk stored and acknowledged the member's new check-in: staff have it on screen.
    Shown(Shown),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shown {
    pub checkin_id: CheckinId,
    pub desk_name: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Seqs of this node's own recent events kept per center, so the follower does not publish
/// them a second time (on PostgreSQL, where it reads every node's events).
const LOCAL_RECENT: usize = 256;

#[derive(Default)]
pub struct Hub {
    centers: Mutex<HashMap<CenterId, Vec<Subscriber>>>,
    members: Mutex<HashMap<MemberId, Vec<MemberWatcher>>>,
    local_recent: Mutex<HashMap<CenterId, std::collections::VecDeque<u64>>>,
    /// Set where a follower reads other nodes' events (PostgreSQL); a lone node keeps no
    /// record of its own events, which would cost a lock per event for nothing.
    followed: std::sync::atomic::AtomicBool,
    next_id: AtomicU64,
    kicked_total: AtomicU64,
}

/// A desk connection's place in the hub; leaving it (drop) unsubscribes.
pub struct Subscription {
    pub live: mpsc::Receiver<Arc<LiveEvent>>,
    pub notes: mpsc::Receiver<DeskNote>,
    /// Cancelled when the hub gave up on this connection (queue full).
    pub kicked: CancellationToken,
    hub: Arc<Hub>,
    center_id: CenterId,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut centers) = self.hub.centers.lock()
            && let Some(subscribers) = centers.get_mut(&self.center_id)
        {
            subscribers.retain(|s| s.id != self.id);
            if subscribers.is_empty() {
                centers.remove(&self.center_id);
            }
        }
    }
}

/// A member's live feed; dropping it unsubscribes.
pub struct MemberFeed {
    pub events: mpsc::Receiver<MemberNote>,
    hub: Arc<Hub>,
    member_id: MemberId,
    id: u64,
}

impl Drop for MemberFeed {
    fn drop(&mut self) {
        if let Ok(mut members) = self.hub.members.lock()
            && let Some(watchers) = members.get_mut(&self.member_id)
        {
            watchers.retain(|w| w.id != self.id);
            if watchers.is_empty() {
                members.remove(&self.member_id);
            }
        }
    }
}

/// Events a member's app may hold before it counts as gone.
const MEMBER_QUEUE: usize = 32;

impl Hub {
    /// Follows a member's check-ins (for the member app's live answer). A member holds at
    /// most `cap` feeds: a new one ends the oldest (its stream closes), so one token cannot
    /// pile up thousands of open streams, and the phone in hand always gets the live one.
    pub fn watch_member(self: &Arc<Self>, member_id: &MemberId, cap: usize) -> MemberFeed {
        let (queue, events) = mpsc::channel(MEMBER_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut members) = self.members.lock() {
            let watchers = members.entry(member_id.clone()).or_default();
            let excess = (watchers.len() + 1).saturating_sub(cap.max(1));
            watchers.drain(..excess.min(watchers.len()));
            watchers.push(MemberWatcher { id, queue });
        }
        MemberFeed {
            events,
            hub: self.clone(),
            member_id: member_id.clone(),
            id,
        }
    }

    /// Ends every live feed of a member (their sessions ended: a PIN change, a block): the
    /// streams close, and the app's reconnect meets the login it now needs.
    pub fn end_member_feeds(&self, member_id: &MemberId) {
        if let Ok(mut members) = self.members.lock() {
            members.remove(member_id);
        }
    }

    pub fn subscribe(
        self: &Arc<Self>,
        center_id: &CenterId,
        desk_id: &DeskId,
        queue_depth: usize,
    ) -> Subscription {
        let (queue, live) = mpsc::channel(queue_depth.max(1));
        let (note_queue, notes) = mpsc::channel(NOTE_QUEUE);
        let kicked = CancellationToken::new();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut centers) = self.centers.lock() {
            centers
                .entry(center_id.clone())
                .or_default()
                .push(Subscriber {
                    id,
                    desk_id: desk_id.clone(),
                    queue,
                    notes: note_queue,
                    kicked: kicked.clone(),
                });
        }
        Subscription {
            live,
            notes,
            kicked,
            hub: self.clone(),
            center_id: center_id.clone(),
            id,
        }
    }

    /// Called on the writer thread after a commit. Never blocks. Each event is shared, not
    /// copied, among the desks (and member apps) it goes to.
    /// Publishes events this node committed (called on a writer thread).
    pub fn publish(&self, events: Vec<StoredEvent>) {
        if self.followed.load(Ordering::Relaxed)
            && let Ok(mut recent) = self.local_recent.lock()
        {
            for event in &events {
                let seqs = recent.entry(event.center_id.clone()).or_default();
                if seqs.len() == LOCAL_RECENT {
                    seqs.pop_front();
                }
                seqs.push_back(event.seq);
            }
        }
        self.publish_followed(events);
    }

    /// From now on, remember this node's own events for [`Hub::was_local`] (a follower of
    /// other nodes starts).
    pub fn remember_local(&self) {
        self.followed.store(true, Ordering::Relaxed);
    }

    /// Whether this node committed `seq` of `center` itself (lately).
    pub fn was_local(&self, center: &CenterId, seq: u64) -> bool {
        self.local_recent
            .lock()
            .is_ok_and(|recent| recent.get(center).is_some_and(|seqs| seqs.contains(&seq)))
    }

    /// Whether any desk of `center` is connected here.
    pub fn follows(&self, center: &CenterId) -> bool {
        self.centers
            .lock()
            .is_ok_and(|centers| centers.contains_key(center))
    }

    /// Whether any member app follows its check-ins here.
    pub fn watches_members(&self) -> bool {
        self.members.lock().is_ok_and(|members| !members.is_empty())
    }

    /// Publishes events, whichever node committed them. Never blocks.
    pub fn publish_followed(&self, events: Vec<StoredEvent>) {
        let events: Vec<Arc<LiveEvent>> = events
            .into_iter()
            .filter_map(|event| match frame(&event) {
                Ok(frame) => Some(Arc::new(LiveEvent { event, frame })),
                Err(error) => {
                    // Stored by this server as JSON a moment ago: only a bug gets here. Desks
                    // still get the event from the log when they next catch up.
                    tracing::error!(%error, seq = event.seq, "cannot make an event frame");
                    None
                }
            })
            .collect();
        if let Ok(mut members) = self.members.lock()
            && !members.is_empty()
        {
            for event in &events {
                if let Some(watchers) = event
                    .member_id
                    .as_ref()
                    .and_then(|member| members.get_mut(member))
                {
                    // A member app that cannot keep up is dropped; it re-reads on reconnect.
                    watchers.retain(|w| {
                        w.queue
                            .try_send(MemberNote::Event(Arc::clone(event)))
                            .is_ok()
                    });
                }
            }
        }
        let Ok(mut centers) = self.centers.lock() else {
            return;
        };
        for event in events {
            let Some(subscribers) = centers.get_mut(&event.center_id) else {
                continue;
            };
            subscribers.retain(|s| match s.queue.try_send(Arc::clone(&event)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(desk_id = %s.desk_id, "desk is not keeping up; disconnecting it so it resumes");
                    self.kicked_total.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(crate::metrics::SEND_QUEUE_DROPS).increment(1);
                    s.kicked.cancel();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        }
    }

    /// Tells a member's apps on this node that a desk has their check-in on screen; false
    /// when the member has none here.
    pub fn shown(&self, member_id: &MemberId, shown: Shown) -> bool {
        if let Ok(mut members) = self.members.lock()
            && let Some(watchers) = members.get_mut(member_id)
        {
            watchers.retain(|w| w.queue.try_send(MemberNote::Shown(shown.clone())).is_ok());
            return !watchers.is_empty();
        }
        false
    }

    /// Passes a note to every connection of a desk on this node; false when it has none here.
    pub fn tell_desk(&self, desk_id: &DeskId, note: DeskNote) -> bool {
        let Ok(centers) = self.centers.lock() else {
            return false;
        };
        let mut told = false;
        for subscriber in centers.values().flatten().filter(|s| &s.desk_id == desk_id) {
            told |= subscriber.notes.try_send(note.clone()).is_ok();
        }
        told
    }

    /// Passes a note to every desk connected to this node (those whose queue is full get it
    /// from the store at their next health report).
    pub fn tell_every_desk(&self, note: DeskNote) {
        if let Ok(centers) = self.centers.lock() {
            for subscriber in centers.values().flatten() {
                let _ = subscriber.notes.try_send(note.clone());
            }
        }
    }

    /// Closes every live connection of a desk (after its token was revoked).
    pub fn disconnect_desk(&self, desk_id: &DeskId) {
        if let Ok(centers) = self.centers.lock() {
            for subscriber in centers.values().flatten().filter(|s| &s.desk_id == desk_id) {
                subscriber.kicked.cancel();
            }
        }
    }

    /// Desks with at least one live connection.
    pub fn online_desks(&self) -> Vec<DeskId> {
        let Ok(centers) = self.centers.lock() else {
            return Vec::new();
        };
        centers
            .values()
            .flatten()
            .map(|s| s.desk_id.clone())
            .collect()
    }

    /// Live desk connections per center (centers with none are absent).
    pub fn online_by_center(&self) -> HashMap<CenterId, usize> {
        let Ok(centers) = self.centers.lock() else {
            return HashMap::new();
        };
        centers
            .iter()
            .map(|(id, subscribers)| (id.clone(), subscribers.len()))
            .collect()
    }

    pub fn connections(&self) -> usize {
        self.centers
            .lock()
            .map(|c| c.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    pub fn kicked_total(&self) -> u64 {
        self.kicked_total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(center: &str, seq: u64) -> StoredEvent {
        StoredEvent {
            center_id: CenterId::new(center),
            member_id: Some(MemberId::new("m1")),
            checkin_id: None,
            seq,
            at: "2026-11-29T01:02:03Z".into(),
            kind: gymgate_shared::protocol::EventKind::Notice,
            data: "{}".into(),
        }
    }

    #[test]
    fn a_frame_carries_the_stored_data_unchanged() {
        let mut stored = event("a", 7);
        stored.data = r#"{"id":"n1","text_ko":"공지"}"#.into();
        let text = frame(&stored).expect("frame");
        assert_eq!(
            text.as_str(),
            r#"{"type":"event","seq":7,"at":"2026-11-29T01:02:03Z","kind":"notice","data":{"id":"n1","text_ko":"공지"}}"#
        );
    }

    #[test]
    fn delivers_only_to_the_events_center() {
        let hub = Arc::new(Hub::default());
        let mut a = hub.subscribe(&CenterId::new("a"), &DeskId::new("da"), 8);
        let mut b = hub.subscribe(&CenterId::new("b"), &DeskId::new("db"), 8);
        hub.publish(vec![event("a", 1), event("b", 1), event("a", 2)]);
        assert_eq!(a.live.try_recv().map(|e| e.seq).ok(), Some(1));
        assert_eq!(a.live.try_recv().map(|e| e.seq).ok(), Some(2));
        assert!(a.live.try_recv().is_err());
        let only_b = b.live.try_recv().expect("b's event");
        assert_eq!(only_b.center_id.as_str(), "b");
        assert!(b.live.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_kicks_that_desk_only() {
        let hub = Arc::new(Hub::default());
        let slow = hub.subscribe(&CenterId::new("a"), &DeskId::new("slow"), 2);
        let mut fast = hub.subscribe(&CenterId::new("a"), &DeskId::new("fast"), 8);
        hub.publish((1..=3).map(|s| event("a", s)).collect());
        assert!(slow.kicked.is_cancelled());
        assert!(!fast.kicked.is_cancelled());
        assert_eq!(hub.kicked_total(), 1);
        assert_eq!(hub.connections(), 1);
        for seq in 1..=3 {
            assert_eq!(fast.live.try_recv().map(|e| e.seq).ok(), Some(seq));
        }
    }

    #[test]
    fn member_feeds_get_only_their_members_events() {
        let hub = Arc::new(Hub::default());
        let mut mine = hub.watch_member(&MemberId::new("m1"), 4);
        let mut other = hub.watch_member(&MemberId::new("m2"), 4);
        hub.publish(vec![event("a", 1)]);
        assert!(matches!(mine.events.try_recv(), Ok(MemberNote::Event(e)) if e.seq == 1));
        assert!(other.events.try_recv().is_err());
        let shown = Shown {
            checkin_id: CheckinId::new("c1"),
            desk_name: "1층 데스크".into(),
            at: chrono::Utc::now(),
        };
        hub.shown(&MemberId::new("m1"), shown.clone());
        assert!(matches!(mine.events.try_recv(), Ok(MemberNote::Shown(s)) if s == shown));
        drop(mine);
        hub.publish(vec![event("a", 2)]);
        assert!(
            hub.members
                .lock()
                .map(|m| !m.contains_key(&MemberId::new("m1")))
                .unwrap_or(false)
        );
    }

    #[test]
    fn a_members_newest_feed_ends_the_oldest_past_the_cap() {
        let hub = Arc::new(Hub::default());
        let member = MemberId::new("m1");
        let mut feeds: Vec<MemberFeed> = (0..3).map(|_| hub.watch_member(&member, 2)).collect();
        // The first feed was ended when the third came.
        assert!(matches!(
            feeds[0].events.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        hub.publish(vec![event("a", 1)]);
        for feed in &mut feeds[1..] {
            assert!(matches!(feed.events.try_recv(), Ok(MemberNote::Event(e)) if e.seq == 1));
        }
        let held = hub.members.lock().map(|m| m[&member].len()).unwrap_or(0);
        assert_eq!(held, 2);
    }

    #[test]
    fn dropping_a_subscription_unsubscribes() {
        let hub = Arc::new(Hub::default());
        let sub = hub.subscribe(&CenterId::new("a"), &DeskId::new("d"), 2);
        assert_eq!(hub.online_desks(), vec![DeskId::new("d")]);
        drop(sub);
        assert_eq!(hub.connections(), 0);
        hub.publish(vec![event("a", 1)]);
    }
}
