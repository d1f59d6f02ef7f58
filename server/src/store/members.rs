//! Members and their plans.

use chrono::{DateTime, NaiveDate, Utc};
use gymgate_shared::api::{Member, RosterMember};
use gymgate_shared::policy::{PassFacts, VisitHistory, visits_left};
use gymgate_shared::{CenterId, CheckinId, MemberId};

use super::sql::{Conn, Row};
use super::{StoreError, parse_ts, ts};

/// How far back a desk's roster reaches.
pub const ROSTER_DAYS: i64 = 90;

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: MemberId,
    pub member_no: String,
    pub name: String,
    pub phone: String,
    pub pin_hash: String,
    pub plan: String,
    pub visits_per_month: Option<u32>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub birthday: Option<NaiveDate>,
    pub photo_url: Option<String>,
    pub blocked: bool,
    /// Offline passes issued before this are refused.
    pub passes_revoked_at: Option<DateTime<Utc>>,
}

impl MemberRow {
    pub fn pass(&self) -> PassFacts {
        PassFacts {
            blocked: self.blocked,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            visits_per_month: self.visits_per_month,
        }
    }

    pub fn public(&self, history: &VisitHistory) -> Member {
        Member {
            id: self.id.clone(),
            member_no: self.member_no.clone(),
            name: self.name.clone(),
            plan: self.plan.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            visits_per_month: self.visits_per_month,
            visits_left: visits_left(&self.pass(), history),
            blocked: self.blocked,
        }
    }

    pub fn roster(&self, history: &VisitHistory) -> RosterMember {
        let digits: String = self.phone.chars().filter(char::is_ascii_digit).collect();
        let phone_last4 = digits[digits.len().saturating_sub(4)..].to_owned();
        RosterMember {
            id: self.id.clone(),
            member_no: self.member_no.clone(),
            name: self.name.clone(),
            phone_last4,
            plan: self.plan.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            visits_per_month: self.visits_per_month,
            visits_left: visits_left(&self.pass(), history),
            blocked: self.blocked,
            birthday: self.birthday,
            photo_url: self.photo_url.clone(),
        }
    }
}

fn parse_date(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad stored date {text:?}")))
}

macro_rules! columns {
    () => {
        "m.id, m.member_no, m.name, m.phone, m.pin_hash, p.name, p.visits_per_month, \
         m.valid_from, m.valid_until, m.birthday, m.photo_url, m.blocked, m.passes_revoked_at"
    };
}
const SELECT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM members m JOIN plans p ON p.id = m.plan_id"
);

/// What a tap reads before anything else: its member (locked until the transaction ends, on
/// PostgreSQL; SQLite's one writer serialises taps already), the check-in its
/// Idempotency-Key made if it was used before, and the center. One statement, so one round
/// trip on PostgreSQL where it took four ([`lock`], [`load`], the key, [`super::centers::load`]).
/// Each key subquery reads `checkins_idempotency_key`.
static TAP_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {}, (SELECT center_id FROM checkins WHERE member_id = ?1 AND idempotency_key = ?2),
         (SELECT id FROM checkins WHERE member_id = ?1 AND idempotency_key = ?2), {}
         FROM members m JOIN plans p ON p.id = m.plan_id LEFT JOIN centers c ON c.id = ?3
         WHERE m.id = ?1",
        columns!(),
        super::centers::COLUMNS_OF_C
    )
});
/// Where the center's columns start in [`TAP_SQL`].
const TAP_CENTER_AT: usize = 15;

pub struct TapReads {
    pub member: MemberRow,
    /// The center and check-in this Idempotency-Key created, when it was used before.
    pub earlier: Option<(CenterId, CheckinId)>,
    /// `None` for an unknown center.
    pub center: Option<super::centers::CenterRow>,
}

/// [`TapReads`] of a member tapping at a center with a key; `None` for an unknown member.
pub fn for_tap(
    conn: &mut dyn Conn,
    id: &MemberId,
    idempotency_key: &str,
    center: &CenterId,
) -> Result<Option<TapReads>, StoreError> {
    let sql = match conn.dialect() {
        super::sql::Dialect::Sqlite => TAP_SQL.clone(),
        super::sql::Dialect::Postgres => format!("{} FOR UPDATE OF m", *TAP_SQL),
    };
    conn.one(&sql, &[id, &idempotency_key, center], |row| {
        let earlier_center: Option<CenterId> = row.get(13)?;
        let earlier_checkin: Option<CheckinId> = row.get(14)?;
        let found: Option<CenterId> = row.get(TAP_CENTER_AT)?;
        let center = match found {
            Some(_) => Some(super::centers::from_row(&super::sql::Columns {
                row,
                first: TAP_CENTER_AT,
            })?),
            None => None,
        };
        Ok(TapReads {
            member: from_row(row)?,
            earlier: earlier_center.zip(earlier_checkin),
            center,
        })
    })
}

fn from_row(row: &dyn Row) -> Result<MemberRow, StoreError> {
    let birthday: Option<String> = row.get(9)?;
    let revoked: Option<String> = row.get(12)?;
    Ok(MemberRow {
        id: row.get(0)?,
        member_no: row.get(1)?,
        name: row.get(2)?,
        phone: row.get(3)?,
        pin_hash: row.get(4)?,
        plan: row.get(5)?,
        visits_per_month: row.get(6)?,
        valid_from: parse_date(&row.get::<String>(7)?)?,
        valid_until: parse_date(&row.get::<String>(8)?)?,
        birthday: birthday.as_deref().map(parse_date).transpose()?,
        photo_url: row.get(10)?,
        blocked: row.get(11)?,
        passes_revoked_at: revoked.as_deref().map(parse_ts).transpose()?,
    })
}

pub fn load(conn: &mut dyn Conn, id: &MemberId) -> Result<Option<MemberRow>, StoreError> {
    conn.one(&format!("{SELECT} WHERE m.id = ?1"), &[id], from_row)
}

pub fn load_by_no(conn: &mut dyn Conn, member_no: &str) -> Result<Option<MemberRow>, StoreError> {
    conn.one(
        // A deleted member's pseudonymous row is nobody's to look up.
        &format!("{SELECT} WHERE m.member_no = ?1 AND m.deleted_at IS NULL"),
        &[&member_no],
        from_row,
    )
}

/// Active members with exactly this name whose phone ends in `last4`, at most `limit`. The
/// phone digits and validity are asked in SQL, before the limit: a common name with hundreds
/// of holders still finds the one the digits name.
pub fn by_name(
    conn: &mut dyn Conn,
    name: &str,
    last4: &str,
    today: NaiveDate,
    limit: usize,
) -> Result<Vec<MemberRow>, StoreError> {
    // Phones hold digits, '-', ' ' and '+' only (members::validate_member).
    let digits = format!("%{last4}");
    conn.all(
        &format!(
            "{SELECT} WHERE m.name = ?1 AND m.valid_until >= ?2
               AND replace(replace(replace(m.phone, '-', ''), ' ', ''), '+', '') LIKE ?3
             ORDER BY m.member_no LIMIT ?4"
        ),
        &[&name, &today.to_string(), &digits, &limit],
        from_row,
    )
}

/// Members who visited `center` since `since`, by name.
pub fn visitors_of(
    conn: &mut dyn Conn,
    center: &CenterId,
    since: DateTime<Utc>,
) -> Result<Vec<MemberRow>, StoreError> {
    conn.all(
        &format!(
            "{SELECT} WHERE m.id IN
                (SELECT DISTINCT member_id FROM checkins WHERE center_id = ?1 AND at >= ?2)
             ORDER BY m.name"
        ),
        &[center, &ts(since)],
        from_row,
    )
}

/// Holds the member's row until the transaction ends, so two nodes checking the same member
/// in at once take turns (the second sees the first's check-in). One writer on SQLite takes
/// turns by itself.
pub fn lock(conn: &mut dyn Conn, id: &MemberId) -> Result<(), StoreError> {
    if conn.dialect() == super::sql::Dialect::Postgres {
        conn.query(
            "SELECT id FROM members WHERE id = ?1 FOR UPDATE",
            &[id],
            &mut |_| Ok(()),
        )?;
    }
    Ok(())
}

/// Every member id, by member number (the demo's simulated taps).
pub fn all_ids(conn: &mut dyn Conn) -> Result<Vec<MemberId>, StoreError> {
    conn.all("SELECT id FROM members ORDER BY member_no", &[], |r| {
        r.get(0)
    })
}

/// The id of the plan called `name` and its visits per month, if there is one.
pub fn plan(conn: &mut dyn Conn, name: &str) -> Result<Option<(i64, Option<u32>)>, StoreError> {
    conn.one(
        "SELECT id, visits_per_month FROM plans WHERE name = ?1",
        &[&name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

pub fn insert_plan(
    conn: &mut dyn Conn,
    name: &str,
    visits_per_month: Option<u32>,
) -> Result<i64, StoreError> {
    conn.value(
        "INSERT INTO plans (name, visits_per_month) VALUES (?1, ?2) RETURNING id",
        &[&name, &visits_per_month],
    )
}

pub fn id_of(conn: &mut dyn Conn, member_no: &str) -> Result<Option<MemberId>, StoreError> {
    conn.optional("SELECT id FROM members WHERE member_no = ?1", &[&member_no])
}

/// What an import or the admin API stores of a member.
pub struct MemberFields<'a> {
    pub member_no: &'a str,
    pub name: &'a str,
    pub phone: &'a str,
    pub pin_hash: &'a str,
    pub plan_id: i64,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub birthday: Option<NaiveDate>,
}

pub fn insert(
    conn: &mut dyn Conn,
    id: &MemberId,
    m: &MemberFields<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                              valid_until, birthday, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &[
            id,
            &m.member_no,
            &m.name,
            &m.phone,
            &m.pin_hash,
            &m.plan_id,
            &m.valid_from.to_string(),
            &m.valid_until.to_string(),
            &m.birthday.map(|b| b.to_string()),
            &ts(now),
        ],
    )?;
    Ok(())
}

/// Updates everything but the member number, and the PIN only when `with_pin` (an import
/// keeps the PIN support may have reset, unless its line asks for a new one).
pub fn update(
    conn: &mut dyn Conn,
    id: &MemberId,
    m: &MemberFields<'_>,
    with_pin: bool,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET name = ?2, phone = ?3, plan_id = ?4,
         valid_from = ?5, valid_until = ?6, birthday = ?7 WHERE id = ?1",
        &[
            id,
            &m.name,
            &m.phone,
            &m.plan_id,
            &m.valid_from.to_string(),
            &m.valid_until.to_string(),
            &m.birthday.map(|b| b.to_string()),
        ],
    )?;
    if with_pin {
        set_pin(conn, id, m.pin_hash)?;
    }
    Ok(())
}

pub fn set_blocked(
    conn: &mut dyn Conn,
    id: &MemberId,
    blocked: bool,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET blocked = ?2, blocked_reason = ?3 WHERE id = ?1",
        &[id, &blocked, &reason],
    )?;
    Ok(())
}

/// Offline passes issued before `at` stop working.
pub fn revoke_passes(
    conn: &mut dyn Conn,
    id: &MemberId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET passes_revoked_at = ?2 WHERE id = ?1",
        &[id, &ts(at)],
    )?;
    Ok(())
}

/// Keeps the certificate issued to a member's phone, for audit.
pub fn record_pass_issue(
    conn: &mut dyn Conn,
    member: &MemberId,
    device_key: &str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO pass_issues (member_id, device_key, issued_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        &[member, &device_key, &ts(issued_at), &ts(expires_at)],
    )?;
    Ok(())
}

/// Pass holders a desk may look up: by exact member number, or by exact name with the last
/// four digits of their phone; only passes that end `today` or later.
pub fn lookup(
    conn: &mut dyn Conn,
    member_no: Option<&str>,
    name_and_last4: Option<(&str, &str)>,
    today: NaiveDate,
    limit: usize,
) -> Result<Vec<MemberRow>, StoreError> {
    let found: Vec<MemberRow> = if let Some(no) = member_no {
        load_by_no(conn, no)?.into_iter().collect()
    } else if let Some((name, last4)) = name_and_last4 {
        by_name(conn, name, last4, today, limit)?
    } else {
        Vec::new()
    };
    Ok(found
        .into_iter()
        .filter(|m| m.valid_until >= today)
        .filter(|m| match name_and_last4 {
            Some((_, last4)) => {
                let digits: String = m.phone.chars().filter(char::is_ascii_digit).collect();
                digits.ends_with(last4)
            }
            None => true,
        })
        .take(limit)
        .collect())
}

/// A member in the console's lists.
pub fn summary(m: &MemberRow) -> gymgate_shared::api::MemberSummary {
    gymgate_shared::api::MemberSummary {
        member_no: m.member_no.clone(),
        name: m.name.clone(),
        phone: m.phone.clone(),
        plan: m.plan.clone(),
        valid_until: m.valid_until,
        blocked: m.blocked,
    }
}

/// Members in member-number order after `after`: one index range, however many members.
pub fn page(conn: &mut dyn Conn, after: &str, limit: u32) -> Result<Vec<MemberRow>, StoreError> {
    conn.all(
        &format!(
            "{SELECT} WHERE m.member_no > ?1 AND m.deleted_at IS NULL \
             ORDER BY m.member_no LIMIT ?2"
        ),
        &[&after, &limit],
        from_row,
    )
}

/// The smallest text greater than every text starting with `prefix`, for index ranges.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// Members whose number, name or phone starts with `query` (a phone typed as digits only
/// is also tried as 010-1234-5678), by member number, at most `limit`.
pub fn search(conn: &mut dyn Conn, query: &str, limit: u32) -> Result<Vec<MemberRow>, StoreError> {
    let mut prefixes = vec![query.to_owned()];
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == query.len() && digits.len() == 11 {
        prefixes.push(format!(
            "{}-{}-{}",
            &digits[..3],
            &digits[3..7],
            &digits[7..]
        ));
    }
    let mut found: Vec<MemberRow> = Vec::new();
    for column in ["m.member_no", "m.name", "m.phone"] {
        for prefix in &prefixes {
            let rows = conn.all(
                &format!(
                    "{SELECT} WHERE {column} >= ?1 AND {column} < ?2 AND m.deleted_at IS NULL \
                     LIMIT ?3"
                ),
                &[prefix, &prefix_end(prefix), &limit],
                from_row,
            )?;
            for row in rows {
                if !found.iter().any(|f| f.id == row.id) {
                    found.push(row);
                }
            }
        }
    }
    found.sort_by(|a, b| a.member_no.cmp(&b.member_no));
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(found)
}

/// A new PIN's hash; the member's old tokens stop working.
pub fn set_pin(conn: &mut dyn Conn, id: &MemberId, pin_hash: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET pin_hash = ?2 WHERE id = ?1",
        &[id, &pin_hash],
    )?;
    conn.execute("DELETE FROM member_tokens WHERE member_id = ?1", &[id])?;
    if conn.dialect() == super::sql::Dialect::Postgres {
        // Every node forgets the member's sessions and ends their feeds at the commit.
        conn.query(
            "SELECT pg_notify(?1, ?2)",
            &[&super::postgres::MEMBERS_CHANNEL, id],
            &mut |_| Ok(()),
        )?;
    }
    Ok(())
}

/// Why operators blocked a member, if they did and said.
pub fn blocked_reason(conn: &mut dyn Conn, id: &MemberId) -> Result<Option<String>, StoreError> {
    Ok(conn
        .one(
            "SELECT blocked_reason FROM members WHERE id = ?1",
            &[id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// Where desks fetch the member's photo (`None`: no photo, the card shows the initial).
pub fn set_photo_url(
    conn: &mut dyn Conn,
    id: &MemberId,
    url: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET photo_url = ?2 WHERE id = ?1",
        &[id, &url],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{query_plan, test_database};

    /// A tap's first statement reads the member and the center by their keys and a retried
    /// key by the key's own index, never by walking the member's visits.
    #[test]
    fn a_tap_finds_its_member_and_a_used_key_by_their_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = test_database(&dir, &[]);
        let text = query_plan(&conn, &TAP_SQL, ["m", "k", "c"]);
        assert!(
            text.matches("INDEX checkins_idempotency_key (member_id=? AND idempotency_key=?)")
                .count()
                == 2
                && text.contains("SEARCH c USING INDEX sqlite_autoindex_centers_1 (id=?)")
                && !text.contains("SCAN"),
            "{text}"
        );
        drop(store);
    }

    /// Finding 13. 250 active members share one common name; the one whose phone ends in the
    /// digits staff typed comes last. The digits and validity are asked before the limit, so
    /// that member is found (before: `LIMIT 200` first, then the digits, and nobody found).
    #[test]
    fn finding_13_lookup_by_a_common_name_finds_the_member_the_digits_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, mut conn) = test_database(&dir, &[]);
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        let fields = |no: &'static str, phone: &'static str, until: NaiveDate| MemberFields {
            member_no: no,
            name: "김민준",
            phone,
            pin_hash: "x",
            plan_id: 1,
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            valid_until: until,
            birthday: None,
        };
        let until = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
        for i in 0..250 {
            let no: &'static str = Box::leak(format!("A{i:04}").into_boxed_str());
            let phone: &'static str = Box::leak(format!("010-1000-{i:04}").into_boxed_str());
            insert(
                &mut conn,
                &MemberId::generate(),
                &fields(no, phone, until),
                Utc::now(),
            )
            .expect("member");
        }
        // The same digits on a lapsed pass: not a pass holder today.
        let lapsed = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
        insert(
            &mut conn,
            &MemberId::generate(),
            &fields("Z0001", "010 5555 9999", lapsed),
            Utc::now(),
        )
        .expect("member");
        insert(
            &mut conn,
            &MemberId::generate(),
            &fields("Z9999", "+82-10-7777-9999", until),
            Utc::now(),
        )
        .expect("member");
        let found = lookup(&mut conn, None, Some(("김민준", "9999")), today, 10).expect("lookup");
        let numbers: Vec<&str> = found.iter().map(|m| m.member_no.as_str()).collect();
        assert_eq!(numbers, ["Z9999"]);
        let found = lookup(&mut conn, None, Some(("김민준", "0042")), today, 10).expect("lookup");
        assert_eq!(found.len(), 1);
        drop(store);
    }
}

/// The number a deleted member's row keeps: unique, and no longer theirs.
pub fn deleted_member_no(id: &MemberId) -> String {
    format!("탈퇴-{}", id.as_str().chars().take(12).collect::<String>())
}

/// Erases a member's personal data, keeping the row (pseudonymous, under its id) that their
/// visits point to, so settlement's figures stay. Their sessions end on every node (through
/// [`set_pin`] with a hash no PIN matches), their passes' device keys, photo, exports and their
/// words on disputes go. Returns the number they had.
pub fn erase(
    conn: &mut dyn Conn,
    id: &MemberId,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let Some(member_no) = conn.optional::<String>(
        "SELECT member_no FROM members WHERE id = ?1 AND deleted_at IS NULL",
        &[id],
    )?
    else {
        return Ok(None);
    };
    set_pin(conn, id, "!deleted")?;
    conn.execute(
        "UPDATE members SET member_no = ?2, name = '탈퇴 회원', phone = '', birthday = NULL,
         photo_url = NULL, blocked = 1, blocked_reason = 'deleted', deleted_at = ?3,
         location_consent = 0, location_consent_at = NULL
         WHERE id = ?1",
        &[id, &deleted_member_no(id), &ts(now)],
    )?;
    conn.execute("DELETE FROM pass_issues WHERE member_id = ?1", &[id])?;
    conn.execute("DELETE FROM member_photos WHERE member_id = ?1", &[id])?;
    conn.execute(
        "UPDATE checkins SET member_statement = NULL WHERE member_id = ?1",
        &[id],
    )?;
    conn.execute("DELETE FROM member_exports WHERE member_id = ?1", &[id])?;
    conn.execute(
        "DELETE FROM login_failures WHERE member_no = ?1",
        &[&member_no],
    )?;
    Ok(Some(member_no))
}

/// What a member's download of their own data holds beyond their visits.
#[derive(Debug, serde::Serialize)]
pub struct OwnData {
    pub member_no: String,
    pub name: String,
    pub phone: String,
    pub plan: String,
    pub visits_per_month: Option<u32>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub birthday: Option<NaiveDate>,
    pub blocked: bool,
    pub created_at: String,
    /// Phones that were given an offline pass: their public key and when.
    pub pass_devices: Vec<PassDevice>,
    /// Logins still valid (when made, until when); never the token.
    pub sessions: Vec<(String, String)>,
    pub consents: gymgate_shared::api::Consents,
}

#[derive(Debug, serde::Serialize)]
pub struct PassDevice {
    pub device_key: String,
    pub issued_at: String,
    pub expires_at: String,
}

pub fn own_data(conn: &mut dyn Conn, id: &MemberId) -> Result<Option<OwnData>, StoreError> {
    let Some(member) = load(conn, id)? else {
        return Ok(None);
    };
    let created_at: String = conn
        .optional("SELECT created_at FROM members WHERE id = ?1", &[id])?
        .unwrap_or_default();
    let pass_devices = conn.all(
        "SELECT device_key, issued_at, expires_at FROM pass_issues WHERE member_id = ?1
         ORDER BY issued_at",
        &[id],
        |r| {
            Ok(PassDevice {
                device_key: r.get(0)?,
                issued_at: r.get(1)?,
                expires_at: r.get(2)?,
            })
        },
    )?;
    let sessions = conn.all(
        "SELECT created_at, expires_at FROM member_tokens WHERE member_id = ?1
         ORDER BY created_at",
        &[id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Some(OwnData {
        member_no: member.member_no,
        name: member.name,
        phone: member.phone,
        plan: member.plan,
        visits_per_month: member.visits_per_month,
        valid_from: member.valid_from,
        valid_until: member.valid_until,
        birthday: member.birthday,
        blocked: member.blocked,
        created_at,
        pass_devices,
        sessions,
        consents: consents(conn, id)?.unwrap_or(gymgate_shared::api::Consents {
            location: false,
            location_at: None,
        }),
    }))
}

/// The member's consents.
pub fn consents(
    conn: &mut dyn Conn,
    id: &MemberId,
) -> Result<Option<gymgate_shared::api::Consents>, StoreError> {
    conn.one(
        "SELECT location_consent, location_consent_at FROM members WHERE id = ?1",
        &[id],
        |r| {
            Ok(gymgate_shared::api::Consents {
                location: r.get(0)?,
                location_at: r
                    .get::<Option<String>>(1)?
                    .map(|t| parse_ts(&t))
                    .transpose()?,
            })
        },
    )
}

pub fn set_location_consent(
    conn: &mut dyn Conn,
    id: &MemberId,
    consent: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET location_consent = ?2, location_consent_at = ?3 WHERE id = ?1",
        &[id, &consent, &ts(now)],
    )?;
    Ok(())
}

/// What a tap with a location needs, read in one statement.
pub struct LocationCheck {
    pub consent: bool,
    /// The center's place (microdegrees), if set.
    pub place: Option<(i64, i64)>,
}

pub fn location_check(
    conn: &mut dyn Conn,
    member: &MemberId,
    center: &CenterId,
) -> Result<Option<LocationCheck>, StoreError> {
    conn.one(
        "SELECT m.location_consent, c.lat_e6, c.lon_e6 FROM members m, centers c
         WHERE m.id = ?1 AND c.id = ?2",
        &[member, center],
        |r| {
            let place = match (r.get::<Option<i64>>(1)?, r.get::<Option<i64>>(2)?) {
                (Some(lat), Some(lon)) => Some((lat, lon)),
                _ => None,
            };
            Ok(LocationCheck {
                consent: r.get(0)?,
                place,
            })
        },
    )
}
