//! The database schema, as ordered migrations. Never edit a released migration: add one.

use rusqlite_migration::{M, Migrations};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
        -- The epoch names this database. A desk whose cursor comes from another database
        -- (restored backup, fresh install) cannot resume and takes a snapshot instead.
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));

        CREATE TABLE centers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '',
            opens INTEGER NOT NULL DEFAULT 0,
            closes INTEGER NOT NULL DEFAULT 0,
            requires_approval INTEGER NOT NULL DEFAULT 0,
            -- seq of the newest event; bumped in the transaction that appends it.
            head_seq INTEGER NOT NULL DEFAULT 0,
            -- every event up to this seq has been deleted by retention.
            pruned_through INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );

        CREATE TABLE events (
            center_id TEXT NOT NULL REFERENCES centers(id),
            seq INTEGER NOT NULL,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (center_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX events_at ON events (at);

        CREATE TABLE plans (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            visits_per_month INTEGER
        );

        CREATE TABLE members (
            id TEXT PRIMARY KEY,
            member_no TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            phone TEXT NOT NULL,
            pin_hash TEXT NOT NULL,
            plan_id INTEGER NOT NULL REFERENCES plans(id),
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            birthday TEXT,
            photo_url TEXT,
            blocked INTEGER NOT NULL DEFAULT 0,
            blocked_reason TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE member_tokens (
            token_hash BLOB PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );

        CREATE TABLE desks (
            id TEXT PRIMARY KEY,
            center_id TEXT NOT NULL REFERENCES centers(id),
            name TEXT NOT NULL,
            token_hash BLOB NOT NULL UNIQUE,
            paired_at TEXT NOT NULL,
            revoked_at TEXT,
            acked_seq INTEGER NOT NULL DEFAULT 0,
            last_seen TEXT
        );

        CREATE TABLE pairing_codes (
            code_hash BLOB PRIMARY KEY,
            center_id TEXT NOT NULL REFERENCES centers(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            desk_id TEXT
        );

        CREATE TABLE checkins (
            id TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(id),
            center_id TEXT NOT NULL REFERENCES centers(id),
            status TEXT NOT NULL,
            method TEXT NOT NULL,
            at TEXT NOT NULL,
            rev INTEGER NOT NULL,
            local_id TEXT UNIQUE,
            desk_id TEXT,
            history TEXT NOT NULL
        );
        CREATE INDEX checkins_member_at ON checkins (member_id, at);
        CREATE INDEX checkins_center_at ON checkins (center_id, at);

        CREATE TABLE idempotency_keys (
            member_id TEXT NOT NULL,
            key TEXT NOT NULL,
            center_id TEXT NOT NULL,
            checkin_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (member_id, key)
        ) WITHOUT ROWID;

        CREATE TABLE outbox_records (
            local_id TEXT PRIMARY KEY,
            desk_id TEXT NOT NULL,
            member_id TEXT NOT NULL,
            at TEXT NOT NULL,
            status TEXT NOT NULL,
            checkin_id TEXT,
            reason TEXT,
            received_at TEXT NOT NULL
        );

        CREATE TABLE notices (
            id TEXT PRIMARY KEY,
            severity TEXT NOT NULL,
            text_ko TEXT NOT NULL,
            text_en TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT,
            cleared_at TEXT
        );
        "#,
        ),
        // "First visit here?" is asked for every check-in; this answers it with one lookup.
        M::up("CREATE INDEX checkins_member_center ON checkins (member_id, center_id);"),
        // What each desk last reported, for operators.
        M::up(
            "ALTER TABLE desks ADD COLUMN app_version TEXT;
             ALTER TABLE desks ADD COLUMN outbox_backlog INTEGER NOT NULL DEFAULT 0;",
        ),
        // The incident log: what went wrong, when, and what operators learned from it.
        M::up(
            "CREATE TABLE incidents (
                 id TEXT PRIMARY KEY,
                 kind TEXT NOT NULL,
                 key TEXT NOT NULL,
                 title TEXT NOT NULL,
                 started_at TEXT NOT NULL,
                 ended_at TEXT,
                 cause TEXT NOT NULL DEFAULT '',
                 action TEXT NOT NULL DEFAULT '',
                 follow_up TEXT NOT NULL DEFAULT ''
             );
             CREATE INDEX incidents_started ON incidents (started_at);
             CREATE INDEX incidents_open ON incidents (key) WHERE ended_at IS NULL;",
        ),
        // The policy counts a member's visits this month on every tap; with status and center
        // in the index that count never touches the table (it was a third of a tap's time).
        M::up(
            "CREATE INDEX checkins_member_month ON checkins (member_id, at, status, center_id);
             DROP INDEX checkins_member_at;",
        ),
        // "First visit here?" now reads the month index (a member's earlier check-ins, with
        // their center, in the index itself). One index fewer to write is one page fewer per
        // check-in in every group commit.
        M::up("DROP INDEX checkins_member_center;"),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
