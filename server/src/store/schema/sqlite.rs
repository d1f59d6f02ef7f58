//! SQLite's schema, as ordered migrations. Never edit a released migration: add one.

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
        // Fewer pages per tap, and retention that never scans a whole table inside the writer:
        // - a check-in keeps the Idempotency-Key that created it (one index instead of a
        //   table of keys that had to be swept by creation time);
        // - `local_id` is unique only where there is one (app check-ins have none, and each
        //   of them wrote the NULL part of that index);
        // - events are pruned center by center along their primary key, so `events_at` goes;
        // - expired member tokens are found by an index.
        // Nothing references `checkins`, so it is rebuilt in place (SQLite's twelve steps).
        M::up(
            "CREATE TABLE checkins_rebuilt (
                 id TEXT PRIMARY KEY,
                 member_id TEXT NOT NULL REFERENCES members(id),
                 center_id TEXT NOT NULL REFERENCES centers(id),
                 status TEXT NOT NULL,
                 method TEXT NOT NULL,
                 at TEXT NOT NULL,
                 rev INTEGER NOT NULL,
                 local_id TEXT,
                 desk_id TEXT,
                 history TEXT NOT NULL,
                 idempotency_key TEXT
             );
             CREATE INDEX idempotency_keys_checkin ON idempotency_keys (checkin_id);
             INSERT INTO checkins_rebuilt (id, member_id, center_id, status, method, at, rev,
                                           local_id, desk_id, history, idempotency_key)
             SELECT c.id, c.member_id, c.center_id, c.status, c.method, c.at, c.rev,
                    c.local_id, c.desk_id, c.history, k.key
             FROM checkins c
             LEFT JOIN idempotency_keys k ON k.checkin_id = c.id AND k.member_id = c.member_id
             ORDER BY c.rowid;
             DROP TABLE checkins;
             ALTER TABLE checkins_rebuilt RENAME TO checkins;
             CREATE UNIQUE INDEX checkins_local_id ON checkins (local_id)
                 WHERE local_id IS NOT NULL;
             CREATE UNIQUE INDEX checkins_idempotency_key ON checkins (member_id, idempotency_key)
                 WHERE idempotency_key IS NOT NULL;
             CREATE INDEX checkins_center_at ON checkins (center_id, at);
             CREATE INDEX checkins_member_month ON checkins (member_id, at, status, center_id);
             DROP TABLE idempotency_keys;
             DROP INDEX events_at;
             CREATE INDEX member_tokens_expiry ON member_tokens (expires_at);",
        ),
        // Trust (disputes, expiry, PIN locks, import jobs):
        // - an offline visit the rules refuse is kept as a `disputed` check-in with why and
        //   when it reached the server;
        // - pending and disputed check-ins are found without reading the others (pending
        //   ones expire, disputed ones wait for operators);
        // - wrong PINs per member number (known or not, so both cost the same), with the lock;
        // - member imports run as jobs that survive a restart; the uploaded file is kept
        //   until the job is done.
        M::up(
            "ALTER TABLE checkins ADD COLUMN dispute_reason TEXT;
             ALTER TABLE checkins ADD COLUMN synced_at TEXT;
             CREATE INDEX checkins_pending ON checkins (at) WHERE status = 'pending';
             CREATE INDEX checkins_disputed ON checkins (at) WHERE status = 'disputed';
             CREATE TABLE login_failures (
                 member_no TEXT PRIMARY KEY,
                 failures INTEGER NOT NULL,
                 first_at TEXT NOT NULL,
                 last_at TEXT NOT NULL,
                 locked_until TEXT
             ) WITHOUT ROWID;
             CREATE INDEX login_failures_last ON login_failures (last_at);
             CREATE TABLE import_jobs (
                 id TEXT PRIMARY KEY,
                 state TEXT NOT NULL,
                 created_at TEXT NOT NULL,
                 finished_at TEXT,
                 encoding TEXT NOT NULL,
                 lines INTEGER NOT NULL,
                 lines_done INTEGER NOT NULL DEFAULT 0,
                 created INTEGER NOT NULL DEFAULT 0,
                 updated INTEGER NOT NULL DEFAULT 0,
                 errors TEXT NOT NULL DEFAULT '[]',
                 error_count INTEGER NOT NULL DEFAULT 0,
                 message TEXT,
                 body TEXT
             );",
        ),
        // Every member gets in (offline passes, lookup across the pass):
        // - passes issued before `passes_revoked_at` are refused (a blocked member);
        // - each showing of a pass is used once (`pass_uses`, by its fingerprint), so one QR
        //   at two centers is caught;
        // - issued certificates and desk lookups are kept for audit;
        // - desks look members up by exact name.
        M::up(
            "ALTER TABLE members ADD COLUMN passes_revoked_at TEXT;
             CREATE INDEX members_name ON members (name);
             CREATE TABLE pass_uses (
                 fingerprint TEXT PRIMARY KEY,
                 checkin_id TEXT NOT NULL,
                 used_at TEXT NOT NULL
             ) WITHOUT ROWID;
             CREATE INDEX pass_uses_used ON pass_uses (used_at);
             CREATE TABLE pass_issues (
                 member_id TEXT NOT NULL,
                 device_key TEXT NOT NULL,
                 issued_at TEXT NOT NULL,
                 expires_at TEXT NOT NULL
             );
             CREATE INDEX pass_issues_member ON pass_issues (member_id, issued_at);
             CREATE TABLE desk_lookups (
                 at TEXT NOT NULL,
                 desk_id TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 results INTEGER NOT NULL
             );
             CREATE INDEX desk_lookups_at ON desk_lookups (at);",
        ),
        // Server nodes (one here; several on PostgreSQL, with the same tables): each node's
        // heartbeat, and the node holding a desk's live connection, so the node that watches
        // counts a center's desks online across all nodes.
        M::up(
            "CREATE TABLE nodes (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL,
                 started_at TEXT NOT NULL,
                 beat_at TEXT NOT NULL,
                 stopped_at TEXT
             );
             ALTER TABLE desks ADD COLUMN node_id TEXT;
             CREATE INDEX desks_node ON desks (node_id) WHERE node_id IS NOT NULL;",
        ),
        // The operators' console:
        // - operator accounts (argon2 hashes, a lock after repeated wrong passwords) and their
        //   sessions (only a hash of the cookie's token);
        // - the audit log: every change through the console or the admin API, who, before,
        //   after, found by member or center;
        // - settings operators change (the support contact);
        // - notices for some centers only;
        // - members found by phone; offline check-ins found by when they reached the server
        //   (an incident's impact);
        // - members' photos (a small JPEG each, re-encoded from the upload).
        M::up(
            "CREATE TABLE operators (
                 id TEXT PRIMARY KEY,
                 username TEXT NOT NULL UNIQUE,
                 role TEXT NOT NULL,
                 password_hash TEXT NOT NULL,
                 created_at TEXT NOT NULL,
                 disabled_at TEXT,
                 failures INTEGER NOT NULL DEFAULT 0,
                 locked_until TEXT
             );
             CREATE TABLE operator_sessions (
                 token_hash BLOB PRIMARY KEY,
                 operator_id TEXT NOT NULL,
                 csrf_token TEXT NOT NULL,
                 created_at TEXT NOT NULL,
                 expires_at TEXT NOT NULL
             );
             CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);
             CREATE TABLE audit (
                 id TEXT PRIMARY KEY,
                 at TEXT NOT NULL,
                 actor TEXT NOT NULL,
                 action TEXT NOT NULL,
                 member_no TEXT,
                 center_id TEXT,
                 target TEXT,
                 before TEXT,
                 after TEXT
             );
             CREATE INDEX audit_member ON audit (member_no, id) WHERE member_no IS NOT NULL;
             CREATE INDEX audit_center ON audit (center_id, id) WHERE center_id IS NOT NULL;
             CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             ALTER TABLE notices ADD COLUMN center_ids TEXT;
             CREATE INDEX members_phone ON members (phone);
             CREATE INDEX checkins_synced ON checkins (synced_at) WHERE synced_at IS NOT NULL;
             CREATE TABLE member_photos (
                 member_id TEXT PRIMARY KEY,
                 jpeg BLOB NOT NULL,
                 updated_at TEXT NOT NULL
             );
             CREATE TABLE import_photos (
                 job_id TEXT NOT NULL,
                 name TEXT NOT NULL,
                 jpeg BLOB,
                 problem TEXT,
                 PRIMARY KEY (job_id, name)
             );",
        ),
        // Trust, second pass:
        // - a desk's lookups today are counted against its daily cap;
        // - wrong console passwords are counted per (account name as typed, address), so
        //   one address guessing delays itself and nobody else;
        // - operators' second factor (TOTP: the secret, one being set up, the last step
        //   used, so a code works once) and their one-time recovery codes (hashes).
        M::up(
            "CREATE INDEX desk_lookups_desk ON desk_lookups (desk_id, at);
             CREATE TABLE operator_failures (
                 username TEXT NOT NULL,
                 address TEXT NOT NULL,
                 failures INTEGER NOT NULL,
                 first_at TEXT NOT NULL,
                 last_at TEXT NOT NULL,
                 PRIMARY KEY (username, address)
             );
             CREATE INDEX operator_failures_last ON operator_failures (last_at);
             ALTER TABLE operators ADD COLUMN totp_secret TEXT;
             ALTER TABLE operators ADD COLUMN totp_pending TEXT;
             ALTER TABLE operators ADD COLUMN totp_step INTEGER NOT NULL DEFAULT 0;
             CREATE TABLE operator_recovery_codes (
                 operator_id TEXT NOT NULL,
                 code_hash BLOB NOT NULL,
                 used_at TEXT,
                 PRIMARY KEY (operator_id, code_hash)
             );",
        ),
        // Desk health (issue 25): what each desk last said of itself, how often it connected
        // lately (a desk flapping), and the reports it left after a crash or a cache failure.
        M::up(
            "ALTER TABLE desks ADD COLUMN health TEXT;
             ALTER TABLE desks ADD COLUMN health_at TEXT;
             ALTER TABLE desks ADD COLUMN connects_since TEXT;
             ALTER TABLE desks ADD COLUMN connects INTEGER NOT NULL DEFAULT 0;
             CREATE TABLE desk_reports (
                 id TEXT PRIMARY KEY,
                 desk_id TEXT NOT NULL,
                 at TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 text TEXT NOT NULL,
                 received_at TEXT NOT NULL
             );
             CREATE INDEX desk_reports_desk ON desk_reports (desk_id, id);",
        ),
        // Opening hours as centers have them: a schedule per center (NULL keeps the old single
        // span in opens/closes), and the public holidays.
        M::up(concat!(
            "ALTER TABLE centers ADD COLUMN schedule TEXT;
             CREATE TABLE holidays (date TEXT PRIMARY KEY, name TEXT NOT NULL);\n",
            korean_holidays_2026_2027!()
        )),
        // Logs operators ask desks for (issue 25).
        M::up(
            "CREATE TABLE desk_logs (
                 id TEXT PRIMARY KEY,
                 desk_id TEXT NOT NULL,
                 requested_by TEXT NOT NULL,
                 requested_at TEXT NOT NULL,
                 uploaded_at TEXT,
                 bytes INTEGER NOT NULL DEFAULT 0,
                 text TEXT
             );
             CREATE INDEX desk_logs_desk ON desk_logs (desk_id, id);",
        ),
        // Signed releases of the Windows desk and their rollouts (issue 25).
        M::up(
            "CREATE TABLE releases (
                 version TEXT PRIMARY KEY,
                 signed TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 sha256 TEXT NOT NULL,
                 min_from TEXT NOT NULL,
                 notes_ko TEXT NOT NULL,
                 notes_en TEXT NOT NULL,
                 uploaded_by TEXT NOT NULL,
                 uploaded_at TEXT NOT NULL,
                 installer BLOB
             );
             CREATE TABLE rollouts (
                 version TEXT PRIMARY KEY,
                 canaries TEXT NOT NULL,
                 percent INTEGER NOT NULL,
                 state TEXT NOT NULL,
                 reason TEXT,
                 started_by TEXT NOT NULL,
                 started_at TEXT NOT NULL,
                 updated_at TEXT NOT NULL
             );",
        ),
        // The daily hours in which a rollout's desks may install (NULL: any quiet moment).
        M::up("ALTER TABLE rollouts ADD COLUMN quiet_hours TEXT;"),
        // The nodes' look for desks revoked through another node.
        M::up("CREATE INDEX desks_revoked ON desks (revoked_at) WHERE revoked_at IS NOT NULL;"),
        // Each node's taps and wrong PINs by minute: the cluster's figures (alerts, console).
        M::up(
            "CREATE TABLE node_minutes (
                 node_id TEXT NOT NULL,
                 minute INTEGER NOT NULL,
                 answered INTEGER NOT NULL,
                 refused INTEGER NOT NULL,
                 failed INTEGER NOT NULL,
                 pin_failures INTEGER NOT NULL,
                 PRIMARY KEY (node_id, minute)
             );",
        ),
        // Every visit's evidence and whether its member stands behind it (issue 27). Rows
        // from before were paid as they were: they stay so (`by_evidence`).
        M::up(
            "ALTER TABLE checkins ADD COLUMN evidence TEXT;
             ALTER TABLE checkins ADD COLUMN desk_online INTEGER;
             ALTER TABLE checkins ADD COLUMN suspicion TEXT;
             ALTER TABLE checkins ADD COLUMN confirmation TEXT NOT NULL DEFAULT 'by_evidence';
             ALTER TABLE checkins ADD COLUMN answered_at TEXT;
             ALTER TABLE checkins ADD COLUMN member_statement TEXT;
             ALTER TABLE centers ADD COLUMN confirm_days INTEGER NOT NULL DEFAULT 7;
             ALTER TABLE centers ADD COLUMN review_reason TEXT;
             ALTER TABLE desks ADD COLUMN outbox_empty_at TEXT;
             ALTER TABLE desks ADD COLUMN presence_key TEXT;
             ALTER TABLE checkins ADD COLUMN presence_desk TEXT;
             ALTER TABLE centers ADD COLUMN lat_e6 INTEGER;
             ALTER TABLE centers ADD COLUMN lon_e6 INTEGER;
             ALTER TABLE members ADD COLUMN deleted_at TEXT;
             CREATE TABLE member_exports (
                 id TEXT PRIMARY KEY,
                 member_id TEXT NOT NULL,
                 key_hash BLOB NOT NULL,
                 status TEXT NOT NULL,
                 created_at TEXT NOT NULL,
                 expires_at TEXT NOT NULL,
                 bytes INTEGER NOT NULL DEFAULT 0,
                 zip BLOB
             );
             CREATE INDEX member_exports_member ON member_exports (member_id, created_at);
             CREATE INDEX member_exports_expiry ON member_exports (expires_at);
             CREATE INDEX audit_reads ON audit (at)
                 WHERE action IN ('member.read', 'members.search');
             ALTER TABLE members ADD COLUMN location_consent_at TEXT;
             ALTER TABLE members ADD COLUMN location_consent INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE checkins ADD COLUMN location_m INTEGER;
             ALTER TABLE checkins ADD COLUMN location_accuracy_m INTEGER;",
        ),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }

    /// Migration 7 rebuilds `checkins`: every check-in survives with its Idempotency-Key,
    /// `local_id` stays unique where present, and the dropped table and index are gone.
    #[test]
    fn checkins_keep_their_keys_through_the_rebuild() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = rusqlite::Connection::open(dir.path().join("old.db")).expect("open");
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .expect("pragma");
        let migrations = super::migrations();
        migrations.to_version(&mut conn, 6).expect("version 6");
        conn.execute_batch(
            "INSERT INTO plans (id, name, visits_per_month) VALUES (1, '무제한', NULL);
             INSERT INTO centers (id, name, created_at) VALUES ('c1', '강남점', '2026-01-01');
             INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                                  valid_until, created_at)
             VALUES ('m1', 'A1', '회원', '010', 'x', 1, '2020-01-01', '2099-12-31', '2026-01-01');
             INSERT INTO checkins (id, member_id, center_id, status, method, at, rev, local_id,
                                   desk_id, history)
             VALUES ('k1', 'm1', 'c1', 'admitted', 'app', '2026-11-01T01:00:00.000000Z', 1,
                     NULL, NULL, '[]'),
                    ('k2', 'm1', 'c1', 'admitted', 'roster', '2026-11-02T01:00:00.000000Z', 1,
                     'L-1', 'd1', '[]'),
                    ('k3', 'm1', 'c1', 'voided', 'app', '2026-11-03T01:00:00.000000Z', 2,
                     NULL, NULL, '[]');
             INSERT INTO idempotency_keys (member_id, key, center_id, checkin_id, created_at)
             VALUES ('m1', 'tap-1', 'c1', 'k1', '2026-11-01T01:00:00.000000Z'),
                    ('m1', 'tap-3', 'c1', 'k3', '2026-11-03T01:00:00.000000Z');",
        )
        .expect("version 6 data");
        migrations.to_latest(&mut conn).expect("latest");

        let rows: Vec<(String, Option<String>, Option<String>, String)> = conn
            .prepare("SELECT id, idempotency_key, local_id, status FROM checkins ORDER BY id")
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("check-ins");
        let expected = vec![
            ("k1".into(), Some("tap-1".into()), None, "admitted".into()),
            ("k2".into(), None, Some("L-1".into()), "admitted".into()),
            ("k3".into(), Some("tap-3".into()), None, "voided".into()),
        ];
        assert_eq!(rows, expected);

        let insert = |id: &str, local_id: Option<&str>, key: Option<&str>| {
            conn.execute(
                "INSERT INTO checkins (id, member_id, center_id, status, method, at, rev,
                                       local_id, history, idempotency_key)
                 VALUES (?1, 'm1', 'c1', 'admitted', 'app', '2026-11-04T01:00:00.000000Z', 1,
                         ?2, '[]', ?3)",
                rusqlite::params![id, local_id, key],
            )
        };
        assert!(
            insert("k4", Some("L-1"), None).is_err(),
            "local_id stays unique"
        );
        assert!(
            insert("k5", None, Some("tap-1")).is_err(),
            "a member's key stays unique"
        );
        insert("k6", None, None).expect("many check-ins without local_id or key");
        insert("k7", None, None).expect("many check-ins without local_id or key");

        let gone: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema
                 WHERE name IN ('idempotency_keys', 'events_at', 'checkins_rebuilt',
                                'idempotency_keys_checkin')",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(gone, 0);
        let problems: Vec<String> = conn
            .prepare("PRAGMA foreign_key_check")
            .expect("check")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("foreign keys");
        assert!(problems.is_empty(), "{problems:?}");
    }
}
