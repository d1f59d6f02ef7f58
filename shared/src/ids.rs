//! Ids are opaque strings on the wire; newtypes keep a member id from being passed where a
//! center id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// A fresh, time-ordered id (UUIDv7), so ids sort by creation.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A partner facility.
    CenterId
);
id_type!(
    /// A pass holder (not the human-facing member number).
    MemberId
);
id_type!(
    /// One installation of the center program.
    DeskId
);
id_type!(
    /// One entry of one member into one center.
    CheckinId
);
id_type!(
    /// The id a desk gives an outbox item, so re-sending it is idempotent.
    LocalId
);
id_type!(
    /// An operator notice.
    NoticeId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let id = CheckinId::new("abc");
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("\"abc\""));
        let back: CheckinId = serde_json::from_str("\"abc\"").expect("decode");
        assert_eq!(back, id);
    }

    #[test]
    fn generated_ids_are_uuid_v7_and_ordered() {
        let a = CheckinId::generate();
        let b = CheckinId::generate();
        let parsed = uuid::Uuid::parse_str(a.as_str()).expect("uuid");
        assert_eq!(parsed.get_version_num(), 7);
        assert!(a <= b, "{a} should sort before {b}");
    }
}
