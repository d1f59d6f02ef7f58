//! What a desk loads when it starts over: its center, the head of the center's log, the
//! roster, today's check-ins and the notices, all as of one moment.

use chrono::{DateTime, Utc};
use gymgate_shared::CenterId;
use gymgate_shared::api::{CheckinCard, Notice, RosterMember};

use super::centers::{self, CenterRow};
use super::members::{self, ROSTER_DAYS};
use super::sql::{Conn, Dialect};
use super::{StoreError, checkins, notices};

pub struct Snapshot {
    pub center: CenterRow,
    pub roster: Vec<RosterMember>,
    pub today: Vec<CheckinCard>,
    pub notices: Vec<Notice>,
}

/// Members who visited `center` in the last [`ROSTER_DAYS`], with their visits this month.
pub fn roster(
    conn: &mut dyn Conn,
    center: &CenterId,
    now: DateTime<Utc>,
) -> Result<Vec<RosterMember>, StoreError> {
    let since = now - chrono::Duration::days(ROSTER_DAYS);
    let visitors = members::visitors_of(conn, center, since)?;
    visitors
        .into_iter()
        .map(|m| {
            let history = checkins::visit_history(conn, &m.id, None, now)?;
            Ok(m.roster(&history))
        })
        .collect()
}

/// One read transaction, so `head_seq` and the state it describes come from one moment.
pub fn load(
    conn: &mut dyn Conn,
    center: &CenterId,
    now: DateTime<Utc>,
) -> Result<Option<Snapshot>, StoreError> {
    let begin = match conn.dialect() {
        Dialect::Sqlite => "BEGIN",
        Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    conn.execute(begin, &[])?;
    let result = (|| -> Result<Option<Snapshot>, StoreError> {
        let Some(center_row) = centers::load(conn, center)? else {
            return Ok(None);
        };
        let today = checkins::todays(conn, center, &center_row.schedule, now)?
            .into_iter()
            .map(|c| checkins::card(conn, c))
            .collect::<Result<_, _>>()?;
        Ok(Some(Snapshot {
            roster: roster(conn, center, now)?,
            today,
            notices: notices::active(conn, now, notices::Audience::Center(center))?,
            center: center_row,
        }))
    })();
    // Nothing was written: ending the transaction either way only lets go of the snapshot.
    let end = conn.execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }, &[]);
    let snapshot = result?;
    end?;
    Ok(snapshot)
}
