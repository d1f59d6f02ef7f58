//! Who this node is among the nodes sharing a database: its id and name, whether it holds
//! the lease of the shared duties, and the "shown at a desk" notes it hands to the others.

use std::sync::{Arc, OnceLock};

use gymgate_shared::MemberId;
use tokio::sync::mpsc;

use crate::hub::Shown;
use crate::store::lease::{Fence, Lease};

/// This node.
pub struct Node {
    pub id: String,
    pub name: String,
    pub(super) lease: Arc<Lease>,
    /// "Shown at a desk" notes for the other nodes (set when nodes share a database).
    shown_out: OnceLock<mpsc::Sender<ShownNote>>,
}

impl Node {
    pub fn new(name: &str) -> Node {
        Node {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_owned(),
            lease: Arc::new(Lease::new()),
            shown_out: OnceLock::new(),
        }
    }

    /// Whether this node runs the duties only one node may run.
    pub fn leads(&self) -> bool {
        self.lease.leads()
    }

    /// What a leader-only write checks in its transaction; `None` when this node does not
    /// lead.
    pub fn fence(&self) -> Option<Fence> {
        self.lease.fence(&self.id)
    }

    /// Tells the other nodes sharing the database (nothing on SQLite) that a desk has the
    /// member's check-in on screen, off the desk's session: the note is a courtesy, the
    /// session does not wait for it.
    pub fn announce_shown(&self, member_id: MemberId, shown: Shown) {
        let Some(queue) = self.shown_out.get() else {
            return;
        };
        let _ = queue.try_send(ShownNote {
            node: self.id.clone(),
            member_id,
            shown,
        });
    }

    /// Where [`Node::announce_shown`] sends its notes, once nodes share a database.
    pub(super) fn pass_shown_to(&self, queue: mpsc::Sender<ShownNote>) {
        let _ = self.shown_out.set(queue);
    }
}

/// "Shown at a desk" as it travels between nodes.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ShownNote {
    pub(super) node: String,
    pub(super) member_id: MemberId,
    #[serde(flatten)]
    pub(super) shown: Shown,
}
