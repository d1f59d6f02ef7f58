//! How instants are stored as text by the server and the desk: fixed-width RFC 3339 UTC with
//! microseconds, so text order is time order in SQLite.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn to_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn from_text(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_order_is_time_order() {
        let early = from_text("2026-03-01T09:00:00.5Z").expect("parse");
        let late = from_text("2026-03-01T10:00:00Z").expect("parse");
        assert_eq!(to_text(early), "2026-03-01T09:00:00.500000Z");
        assert!(to_text(early) < to_text(late));
        assert_eq!(from_text(&to_text(late)), Some(late));
        assert_eq!(from_text("yesterday"), None);
    }
}
