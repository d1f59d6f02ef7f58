//! Member import jobs: the uploaded file (kept until the job is done), the line the job has
//! reached, counts and the per-line report. Progress is written in the same transaction as
//! the members of that chunk, so after a crash the job goes on from exactly where the
//! database says it was.

use super::sql::{Conn, Row};
use super::{StoreError, parse_ts, ts};
use chrono::{DateTime, Utc};
use gymgate_shared::api::{ImportError, ImportJob, ImportState, MAX_IMPORT_ERRORS};

const COLUMNS: &str = "id, state, created_at, finished_at, encoding, lines, lines_done, created, \
                       updated, errors, error_count, message";

fn from_row(row: &dyn Row) -> Result<ImportJob, StoreError> {
    let id: String = row.get(0)?;
    let state: String = row.get(1)?;
    let created_at: String = row.get(2)?;
    let finished_at: Option<String> = row.get(3)?;
    let encoding: String = row.get(4)?;
    let lines: u64 = row.get(5)?;
    let lines_done: u64 = row.get(6)?;
    let created: u32 = row.get(7)?;
    let updated: u32 = row.get(8)?;
    let errors: String = row.get(9)?;
    let error_count: u64 = row.get(10)?;
    let message: Option<String> = row.get(11)?;
    Ok(ImportJob {
        state: ImportState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("import state {state:?}")))?,
        created_at: parse_ts(&created_at)?,
        finished_at: finished_at.as_deref().map(parse_ts).transpose()?,
        errors: serde_json::from_str(&errors)?,
        id,
        encoding,
        lines,
        lines_done,
        created,
        updated,
        error_count,
        message,
    })
}

/// Stores a new job with its file; the import worker picks it up.
pub fn create(
    conn: &mut dyn Conn,
    id: &str,
    encoding: &str,
    lines: u64,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO import_jobs (id, state, created_at, encoding, lines, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            &id,
            &ImportState::Queued.as_str(),
            &ts(now),
            &encoding,
            &lines,
            &body,
        ],
    )?;
    Ok(())
}

pub fn load(conn: &mut dyn Conn, id: &str) -> Result<Option<ImportJob>, StoreError> {
    conn.one(
        &format!("SELECT {COLUMNS} FROM import_jobs WHERE id = ?1"),
        &[&id],
        from_row,
    )
}

/// The newest jobs first, each with at most `errors_each` of its errors.
pub fn list(
    conn: &mut dyn Conn,
    limit: u32,
    errors_each: usize,
) -> Result<Vec<ImportJob>, StoreError> {
    conn.all(
        &format!("SELECT {COLUMNS} FROM import_jobs ORDER BY created_at DESC, id DESC LIMIT ?1"),
        &[&limit],
        |row| {
            let mut job = from_row(row)?;
            job.errors.truncate(errors_each);
            Ok(job)
        },
    )
}

/// The job to work on next: a running one (the server stopped during it) before the oldest
/// queued one. Returns its id, file (`None` if it is gone) and the first line not yet done.
pub fn next_unfinished(
    conn: &mut dyn Conn,
) -> Result<Option<(String, Option<String>, u64)>, StoreError> {
    conn.one(
        "SELECT id, body, lines_done FROM import_jobs WHERE state IN ('running', 'queued')
         ORDER BY CASE WHEN state = 'running' THEN 0 ELSE 1 END, created_at, id LIMIT 1",
        &[],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

pub fn set_state(
    conn: &mut dyn Conn,
    id: &str,
    state: ImportState,
    message: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // A finished job's file is no longer needed (it can be megabytes).
    if state.finished() {
        conn.execute(
            "UPDATE import_jobs SET state = ?2, message = ?3, finished_at = ?4, body = NULL
             WHERE id = ?1",
            &[&id, &state.as_str(), &message, &ts(now)],
        )?;
        drop_photos(conn, id)?;
    } else {
        conn.execute(
            "UPDATE import_jobs SET state = ?2, message = ?3 WHERE id = ?1",
            &[&id, &state.as_str(), &message],
        )?;
    }
    Ok(())
}

/// Records a chunk's outcome: the job has done every line before `lines_done`.
pub fn progress(
    conn: &mut dyn Conn,
    id: &str,
    lines_done: u64,
    created: u32,
    updated: u32,
    errors: &[ImportError],
) -> Result<(), StoreError> {
    let (stored, count): (String, u64) = conn
        .one(
            "SELECT errors, error_count FROM import_jobs WHERE id = ?1",
            &[&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .ok_or_else(|| StoreError::Corrupt(format!("import job {id} is gone")))?;
    let errors_json = if errors.is_empty() || count as usize >= MAX_IMPORT_ERRORS {
        stored
    } else {
        let mut kept: Vec<ImportError> = serde_json::from_str(&stored)?;
        let room = MAX_IMPORT_ERRORS.saturating_sub(kept.len());
        kept.extend(errors.iter().take(room).cloned());
        serde_json::to_string(&kept)?
    };
    conn.execute(
        "UPDATE import_jobs SET lines_done = ?2, created = created + ?3, updated = updated + ?4,
                errors = ?5, error_count = error_count + ?6
         WHERE id = ?1",
        &[
            &id,
            &lines_done,
            &created,
            &updated,
            &errors_json,
            &errors.len(),
        ],
    )?;
    Ok(())
}
/// A photo that came in an import's zip, kept until the job has used it: the thumbnail, or
/// why the file could not be used.
pub fn put_photo(
    conn: &mut dyn Conn,
    job: &str,
    name: &str,
    photo: Result<&[u8], &str>,
) -> Result<(), StoreError> {
    let (jpeg, problem) = match photo {
        Ok(jpeg) => (Some(jpeg), None),
        Err(problem) => (None, Some(problem)),
    };
    conn.execute(
        "INSERT INTO import_photos (job_id, name, jpeg, problem) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (job_id, name) DO NOTHING",
        &[&job, &name, &jpeg, &problem],
    )?;
    Ok(())
}

/// The photo `name` of a job: `None` when the zip had no such file.
pub fn photo(
    conn: &mut dyn Conn,
    job: &str,
    name: &str,
) -> Result<Option<Result<Vec<u8>, String>>, StoreError> {
    let row = conn.one(
        "SELECT jpeg, problem FROM import_photos WHERE job_id = ?1 AND name = ?2",
        &[&job, &name],
        |r| Ok((r.get::<Option<Vec<u8>>>(0)?, r.get::<Option<String>>(1)?)),
    )?;
    Ok(row.map(|(jpeg, problem)| match jpeg {
        Some(jpeg) => Ok(jpeg),
        None => Err(problem.unwrap_or_default()),
    }))
}

/// A finished job's photos are not needed any more.
pub fn drop_photos(conn: &mut dyn Conn, job: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM import_photos WHERE job_id = ?1", &[&job])?;
    Ok(())
}
