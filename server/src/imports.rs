//! Member imports as server-side jobs.
//!
//! A real member list is 100,000 rows and every row needs an argon2 hash of its PIN (~18 ms):
//! far longer than any request may take. The upload is stored with its job; one worker hashes
//! PINs behind logins (never in front of them) and commits members a chunk at a time, together
//! with the job's progress, so a restart goes on from the first line not committed and taps
//! wait for one small chunk at most.
//!
//! Files come as Korean offices write them: UTF-8 (with or without BOM) or CP949, which is
//! what Excel in Korea saves "CSV" as. Member rows never span lines, so each physical line is
//! its own record: an unclosed quote spoils its own line only (the csv crate alone would read
//! every later row into that field), and every line that is not imported is reported.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use gymgate_shared::api::{ImportError, ImportJob, ImportState, NewMember};

use crate::auth::pins::Priority;
use crate::error::AppError;
use crate::members::{self, ValidMember};
use crate::state::AppState;
use crate::store::imports;
use gymgate_shared::MemberId;

/// Columns every import needs; `visits_per_month` and `birthday` may be left out.
const REQUIRED: [&str; 7] = [
    "member_no",
    "name",
    "phone",
    "pin",
    "plan",
    "valid_from",
    "valid_until",
];
/// `reset_pin`: an existing member's PIN is replaced only where this says so (1, y, yes,
/// true, 예); otherwise the `pin` column counts for new members only.
const OPTIONAL: [&str; 4] = ["visits_per_month", "birthday", "photo", "reset_pin"];
/// Files a zip may hold (the CSV and photos), and what one file may unpack to: a zip bomb
/// stops there.
const MAX_ZIP_ENTRIES: usize = 20_000;
const MAX_ZIP_CSV_BYTES: u64 = 64 * 1024 * 1024;
/// PINs hashed at once for an import: one core's worth, so taps and logins keep the other.
const HASH_PARALLEL: usize = 1;
/// Tries of a chunk whose commit failed (disk full, I/O) before the job is marked failed.
const COMMIT_TRIES: u32 = 5;

/// Reads an uploaded file as text: UTF-8 (a BOM is dropped) or CP949. Returns the text and the
/// encoding's name, or a message (Korean, then English) saying what to do.
pub fn decode(bytes: &[u8]) -> Result<(String, &'static str), String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err("UTF-16 파일입니다('유니코드 텍스트'). Excel에서 '다른 이름으로 저장 → CSV UTF-8(쉼표로 분리)'로 \
             저장해 주세요 / the file is UTF-16 ('Unicode Text'); in Excel use Save As → \
             'CSV UTF-8 (Comma delimited)'"
            .into());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), "utf-8"));
    }
    // encoding_rs's EUC-KR is the WHATWG one: Windows code page 949 (CP949), a superset.
    match encoding_rs::EUC_KR.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok((text.into_owned(), "cp949")),
        None => Err("파일의 글자 인코딩을 알 수 없습니다(UTF-8도 CP949도 아님). Excel에서 '다른 이름으로 저장 → \
             CSV UTF-8(쉼표로 분리)'로 저장해 주세요 / the file is neither UTF-8 nor CP949; in \
             Excel use Save As → 'CSV UTF-8 (Comma delimited)'"
            .into()),
    }
}

/// A decoded file: where each column is, and the data lines (1-based line number, byte range).
pub struct CsvFile {
    columns: Vec<(String, usize)>,
    lines: Vec<(u64, Range<usize>)>,
}

impl CsvFile {
    /// Finds the header and the data lines; a file without the needed columns is refused.
    pub fn read(text: &str) -> Result<CsvFile, String> {
        let mut lines = Vec::new();
        let mut header: Option<Vec<String>> = None;
        let mut start = 0;
        for (index, raw) in text.split('\n').enumerate() {
            let range = start..start + raw.len();
            start += raw.len() + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            // Excel writes rows of bare commas for formatted empty rows: nothing to import.
            if line.chars().all(|c| c == ',' || c.is_whitespace()) {
                continue;
            }
            if header.is_none() {
                header = Some(
                    parse_line(line)?
                        .iter()
                        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
                        .collect(),
                );
                continue;
            }
            lines.push((index as u64 + 1, range.start..range.start + line.len()));
        }
        let header = header.ok_or("파일이 비어 있습니다 / the file is empty")?;
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|name| !header.iter().any(|h| h == name))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "첫 줄(머리글)에 필요한 열이 없습니다: {m} / the header row lacks: {m} \
                 (needed: {}; optional: {})",
                REQUIRED.join(","),
                OPTIONAL.join(","),
                m = missing.join(", ")
            ));
        }
        let columns = header
            .into_iter()
            .enumerate()
            .filter(|(_, name)| {
                REQUIRED.contains(&name.as_str()) || OPTIONAL.contains(&name.as_str())
            })
            .map(|(index, name)| (name, index))
            .collect();
        Ok(CsvFile { columns, lines })
    }

    /// Data lines (the header and empty lines not counted).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// The `index`-th data line as a member, or the error to report for its line.
    pub fn member(&self, text: &str, index: usize) -> Option<Result<NewMember, ImportError>> {
        let (line, range) = self.lines.get(index)?;
        let source = text.get(range.clone()).unwrap_or_default();
        let fields = match parse_line(source) {
            Ok(fields) => fields,
            Err(message) => {
                return Some(Err(ImportError {
                    line: *line,
                    message,
                    member_no: None,
                }));
            }
        };
        Some(
            self.new_member(&fields)
                .and_then(members::validate_member)
                .map_err(|message| ImportError {
                    line: *line,
                    message,
                    member_no: self
                        .field(&fields, "member_no")
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                }),
        )
    }

    /// The photo file the `index`-th data line names, if any.
    pub fn photo(&self, text: &str, index: usize) -> Option<String> {
        let (_, range) = self.lines.get(index)?;
        let fields = parse_line(text.get(range.clone())?).ok()?;
        self.field(&fields, "photo")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
    }

    /// Whether the `index`-th data line asks for an existing member's PIN to be replaced.
    pub fn reset_pin(&self, text: &str, index: usize) -> bool {
        let Some((_, range)) = self.lines.get(index) else {
            return false;
        };
        let Some(fields) = text.get(range.clone()).and_then(|l| parse_line(l).ok()) else {
            return false;
        };
        self.field(&fields, "reset_pin").is_some_and(|v| {
            matches!(
                v.to_lowercase().as_str(),
                "1" | "y" | "yes" | "true" | "예" | "o"
            )
        })
    }

    fn field<'f>(&self, fields: &'f [String], name: &str) -> Option<&'f str> {
        let index = self.columns.iter().find(|(n, _)| n == name)?.1;
        fields.get(index).map(|f| f.trim())
    }

    fn new_member(&self, fields: &[String]) -> Result<NewMember, String> {
        let get = |name: &str| self.field(fields, name);
        let need = |name: &str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} 값이 비어 있습니다 / {name} is empty"))
        };
        let date = |name: &str, text: &str| {
            text.parse().map_err(|_| {
                format!(
                    "{name} {text:?}: 날짜는 2026-03-01 형식입니다 / not a date like 2026-03-01"
                )
            })
        };
        let visits_per_month = match get("visits_per_month") {
            None | Some("") => None,
            Some(text) => Some(text.parse().map_err(|_| {
                format!("visits_per_month {text:?}: 숫자가 아닙니다 / not a number")
            })?),
        };
        let birthday = match get("birthday") {
            None | Some("") => None,
            Some(text) => Some(date("birthday", text)?),
        };
        Ok(NewMember {
            member_no: need("member_no")?.to_owned(),
            name: need("name")?.to_owned(),
            phone: need("phone")?.to_owned(),
            pin: need("pin")?.to_owned(),
            plan: need("plan")?.to_owned(),
            visits_per_month,
            valid_from: date("valid_from", need("valid_from")?)?,
            valid_until: date("valid_until", need("valid_until")?)?,
            birthday,
        })
    }
}

/// One physical line as CSV fields. An odd number of quotes means a quote was opened and
/// never closed: the line is refused rather than read into the next ones.
fn parse_line(line: &str) -> Result<Vec<String>, String> {
    if line.bytes().filter(|b| *b == b'"').count() % 2 == 1 {
        return Err("닫히지 않은 따옴표(\")가 있습니다 / a quote (\") is never closed".into());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(_) => Ok(record.iter().map(str::to_owned).collect()),
        Err(error) => Err(format!("CSV로 읽을 수 없습니다 / not valid CSV: {error}")),
    }
}

/// Runs import jobs one after another until shutdown.
pub async fn run(state: AppState) {
    loop {
        if !state.node.leads() {
            // One node runs imports: the one that runs the shared duties.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                () = state.shutdown.cancelled() => return,
            }
        }
        let next = state.store.read(imports::next_unfinished).await;
        let job = match next {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(%error, "cannot read the import jobs; will retry");
                None
            }
        };
        let Some((id, body, done)) = job else {
            tokio::select! {
                () = state.import_wake.notified() => continue,
                () = state.shutdown.cancelled() => return,
                // Also look again now and then: a job stored while a look was under way, or
                // through another node.
                () = tokio::time::sleep(Duration::from_secs(5)) => continue,
            }
        };
        tracing::info!(job = %id, from_line = done, "member import running");
        let outcome = match body {
            Some(body) => work(&state, &id, Arc::new(body), done).await,
            None => Err(
                "가져올 파일이 서버에 남아 있지 않습니다. 파일을 다시 올려 주세요 / the \
                         uploaded file is gone; upload it again"
                    .to_owned(),
            ),
        };
        let (state_now, message) = match outcome {
            Ok(Finish::Done) => (ImportState::Done, None),
            Ok(Finish::Stopped) if state.shutdown.is_cancelled() => return,
            Ok(Finish::Stopped) => continue,
            Err(message) => (ImportState::Failed, Some(message)),
        };
        let Some(fence) = state.node.fence() else {
            continue;
        };
        let written = {
            let id = id.clone();
            let message = message.clone();
            state
                .store
                .writer
                .write(move |ctx| {
                    crate::store::lease::check(ctx.tx, &fence)?;
                    imports::set_state(ctx.tx, &id, state_now, message.as_deref(), ctx.now)
                })
                .await
        };
        match (written, message) {
            // Another node took the duties over: it finishes the job.
            (Err(crate::store::StoreError::Fenced), _) => continue,
            (Err(error), _) => {
                tracing::error!(job = %id, %error, "cannot mark an import finished; will retry");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            (Ok(()), None) => tracing::info!(job = %id, "member import done"),
            (Ok(()), Some(message)) => tracing::error!(job = %id, %message, "member import failed"),
        }
    }
}

enum Finish {
    Done,
    /// The server is shutting down; the job goes on after the restart.
    Stopped,
}

async fn work(state: &AppState, id: &str, body: Arc<String>, done: u64) -> Result<Finish, String> {
    let parsed = {
        let body = body.clone();
        tokio::task::spawn_blocking(move || CsvFile::read(&body))
            .await
            .map_err(|e| format!("the import task failed: {e}"))??
    };
    let parsed = Arc::new(parsed);
    let Some(fence) = state.node.fence() else {
        return Ok(Finish::Stopped);
    };
    let mark_running = {
        let id = id.to_owned();
        state
            .store
            .writer
            .write(move |ctx| {
                crate::store::lease::check(ctx.tx, &fence)?;
                imports::set_state(ctx.tx, &id, ImportState::Running, None, ctx.now)
            })
            .await
    };
    match mark_running {
        Err(crate::store::StoreError::Fenced) => return Ok(Finish::Stopped),
        other => other.map_err(|e| format!("저장할 수 없습니다 / cannot store: {e}"))?,
    }
    let chunk = state.config.limits.import_chunk.max(1);
    let mut next = usize::try_from(done).unwrap_or(usize::MAX);
    while next < parsed.len() {
        // Stopping, or another node took over the shared duties: it goes on from the line
        // the database says, without this node writing the same chunk again.
        if state.shutdown.is_cancelled() {
            return Ok(Finish::Stopped);
        }
        let Some(fence) = state.node.fence() else {
            return Ok(Finish::Stopped);
        };
        let end = (next + chunk).min(parsed.len());
        let (valid, mut errors) = {
            let (parsed, body) = (parsed.clone(), body.clone());
            tokio::task::spawn_blocking(move || {
                let mut valid = Vec::new();
                let mut errors = Vec::new();
                for index in next..end {
                    match parsed.member(&body, index) {
                        Some(Ok(member)) => valid.push((
                            parsed.lines[index].0,
                            member,
                            parsed.photo(&body, index),
                            parsed.reset_pin(&body, index),
                        )),
                        Some(Err(error)) => errors.push(error),
                        None => {}
                    }
                }
                (valid, errors)
            })
            .await
            .map_err(|e| format!("the import task failed: {e}"))?
        };
        let (mut lines, mut members, mut photos) = (Vec::new(), Vec::new(), Vec::new());
        let mut resets = Vec::new();
        for (line, member, photo, reset) in valid {
            lines.push(line);
            members.push(member);
            photos.push(photo);
            resets.push(reset);
        }
        let hashed =
            members::hash_members(&state.pins, members, Priority::Background, HASH_PARALLEL)
                .await
                .map_err(|e| format!("PIN을 처리할 수 없습니다 / cannot hash PINs: {e}"))?;
        let rows: Arc<Vec<(u64, ValidMember, Option<String>)>> = Arc::new(
            lines
                .into_iter()
                .zip(hashed)
                .zip(photos)
                .zip(resets)
                .map(|(((line, mut member), photo), reset)| {
                    member.replace_pin = reset;
                    (line, member, photo)
                })
                .collect(),
        );
        let mut tries = 0;
        loop {
            let (job, rows, chunk_errors) = (id.to_owned(), rows.clone(), errors.clone());
            let fence = fence.clone();
            let committed = state
                .store
                .writer
                .write(move |ctx| -> Result<Vec<MemberId>, AppError> {
                    // The lease checked in this transaction: a node that lost it cannot write
                    // a chunk the new leader writes too.
                    crate::store::lease::check(ctx.tx, &fence)?;
                    let (mut created, mut updated, mut failed) = (0, 0, chunk_errors);
                    let mut pins_changed = Vec::new();
                    for (line, member, photo) in rows.iter() {
                        match members::store_member(ctx, member, true) {
                            Ok(stored) => {
                                match stored {
                                    members::Stored::Created => created += 1,
                                    members::Stored::Updated { id, pin_changed } => {
                                        updated += 1;
                                        if pin_changed {
                                            pins_changed.push(id);
                                        }
                                    }
                                }
                                if let Some(name) = photo
                                    && let Some(problem) =
                                        use_photo(ctx, &job, &member.new.member_no, name)?
                                {
                                    failed.push(ImportError {
                                        line: *line,
                                        message: problem,
                                        member_no: Some(member.new.member_no.clone()),
                                    });
                                }
                            }
                            Err(AppError::Store(e)) => return Err(AppError::Store(e)),
                            Err(e) => failed.push(ImportError {
                                line: *line,
                                message: e.public_message(),
                                member_no: Some(member.new.member_no.clone()),
                            }),
                        }
                    }
                    failed.sort_by_key(|e| e.line);
                    imports::progress(ctx.tx, &job, end as u64, created, updated, &failed)?;
                    Ok(pins_changed)
                })
                .await;
            match committed {
                Ok(pins_changed) => {
                    for member in &pins_changed {
                        state.end_member_sessions(member);
                    }
                    break;
                }
                Err(AppError::Store(crate::store::StoreError::Fenced)) => {
                    return Ok(Finish::Stopped);
                }
                Err(error) if tries + 1 < COMMIT_TRIES => {
                    tries += 1;
                    tracing::warn!(job = %id, %error, tries, "an import chunk was not stored; retrying");
                    tokio::time::sleep(Duration::from_secs(1 << tries)).await;
                }
                Err(error) => {
                    return Err(format!(
                        "{next}번째 줄부터 저장하지 못했습니다: {e}. 같은 파일을 다시 올리면 이어서 반영됩니다 / \
                         could not store from data line {next}: {e}; uploading the same file again \
                         is safe (existing members are updated)",
                        e = error.public_message(),
                    ));
                }
            }
        }
        errors.clear();
        next = end;
    }
    Ok(Finish::Done)
}

/// Gives an imported member the photo their line names (from the job's zip). Returns what to
/// report when it cannot: the member is imported either way.
fn use_photo(
    ctx: &mut crate::store::WriteCtx<'_>,
    job: &str,
    member_no: &str,
    name: &str,
) -> Result<Option<String>, AppError> {
    let problem = match imports::photo(ctx.tx, job, name)? {
        Some(Ok(jpeg)) => {
            if let Some(id) = crate::store::members::id_of(ctx.tx, member_no)? {
                members::set_photo(ctx, &id, Some(&jpeg))?;
            }
            return Ok(None);
        }
        Some(Err(problem)) => problem,
        None => format!("zip에 {name:?} 파일이 없습니다 / the zip has no file {name:?}"),
    };
    Ok(Some(format!(
        "사진만 가져오지 못했습니다(회원은 가져옴): {problem} / photo not imported (the member was): {problem}"
    )))
}

/// A zip of a CSV and the photos it names: the CSV's bytes, and each photo file (by its name
/// in the zip) as a thumbnail, or why it cannot be used.
type Unpacked = (Vec<u8>, Vec<(String, Result<Vec<u8>, String>)>);

fn unpack(bytes: &[u8]) -> Result<Unpacked, String> {
    use std::io::Read;
    let refused =
        |why: &str| format!("zip 파일을 읽을 수 없습니다: {why} / cannot read the zip: {why}");
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| refused(&e.to_string()))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(refused("too many files"));
    }
    let mut csv = None;
    let mut photos = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| refused(&e.to_string()))?;
        if !entry.is_file() {
            continue;
        }
        let name = entry.name().to_owned();
        let lower = name.to_lowercase();
        if lower.ends_with(".csv") {
            if csv.is_some() {
                return Err("zip에 CSV 파일이 둘 이상 있습니다. 하나만 넣어 주세요 / the zip holds more than one CSV file; keep one".into());
            }
            let mut text = Vec::new();
            entry
                .by_ref()
                .take(MAX_ZIP_CSV_BYTES)
                .read_to_end(&mut text)
                .map_err(|e| refused(&e.to_string()))?;
            csv = Some(text);
        } else if [".jpg", ".jpeg", ".png"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        {
            let mut data = Vec::new();
            let limit = crate::photos::MAX_UPLOAD_BYTES as u64;
            entry
                .by_ref()
                .take(limit + 1)
                .read_to_end(&mut data)
                .map_err(|e| refused(&e.to_string()))?;
            let photo = if data.len() as u64 > limit {
                Err("5MB보다 큰 사진입니다 / the photo is over 5 MB".to_owned())
            } else {
                crate::photos::thumbnail(&data).map_err(|e| e.to_string())
            };
            // Lines may name a photo by its path in the zip or by its file name alone.
            let base = name.rsplit('/').next().unwrap_or(&name).to_owned();
            if base != name {
                photos.push((base, photo.clone()));
            }
            photos.push((name, photo));
        }
    }
    let csv =
        csv.ok_or_else(|| "zip에 CSV 파일이 없습니다 / the zip holds no CSV file".to_owned())?;
    Ok((csv, photos))
}

/// Answers the upload: decodes and checks the file, stores it as a queued job. A zip holds
/// the CSV and the photo files its `photo` column names (photos are decoded now, so a bad
/// one is known before the job runs).
/// Stores an upload as an import job, audited by `actor` in the same transaction.
pub async fn start(
    state: &AppState,
    actor: &str,
    bytes: axum::body::Bytes,
) -> Result<ImportJob, AppError> {
    let (text, encoding, lines, photos) = tokio::task::spawn_blocking(move || {
        let (csv, photos) = if bytes.starts_with(b"PK\x03\x04") {
            unpack(&bytes).map_err(|m| AppError::bad_request("invalid_zip", m))?
        } else {
            (bytes.to_vec(), Vec::new())
        };
        let (text, encoding) =
            decode(&csv).map_err(|m| AppError::bad_request("invalid_encoding", m))?;
        let lines = CsvFile::read(&text)
            .map_err(|m| AppError::bad_request("invalid_csv", m))?
            .len();
        Ok::<_, AppError>((text, encoding, lines, photos))
    })
    .await
    .map_err(|e| AppError::Internal(format!("the import task failed: {e}")))??;
    let id = uuid::Uuid::now_v7().to_string();
    let actor = actor.to_owned();
    let job = state
        .store
        .writer
        .write(move |ctx| -> Result<ImportJob, AppError> {
            imports::create(ctx.tx, &id, encoding, lines as u64, &text, ctx.now)?;
            for (name, photo) in &photos {
                let photo = photo.as_deref().map_err(String::as_str);
                imports::put_photo(ctx.tx, &id, name, photo)?;
            }
            let subject = crate::store::audit::Subject {
                target: Some(id.clone()),
                ..Default::default()
            };
            let after = serde_json::json!({ "lines": lines, "encoding": encoding });
            ctx.audit(&actor, "members.import", &subject, None, Some(&after))?;
            imports::load(ctx.tx, &id)?
                .ok_or_else(|| AppError::Internal("the import job vanished".into()))
        })
        .await?;
    state.import_wake.notify_one();
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n";

    fn rows(text: &str) -> (Vec<NewMember>, Vec<ImportError>) {
        let file = CsvFile::read(text).expect("header");
        let (mut valid, mut errors) = (Vec::new(), Vec::new());
        for index in 0..file.len() {
            match file.member(text, index) {
                Some(Ok(member)) => valid.push(member),
                Some(Err(error)) => errors.push(error),
                None => {}
            }
        }
        (valid, errors)
    }

    #[test]
    fn cp949_is_decoded_and_named() {
        let source =
            format!("{HEADER}100001,김민준,010-1234-5678,1234,월 8회,8,2026-01-01,2026-12-31,\n");
        let (bytes, _, _) = encoding_rs::EUC_KR.encode(&source);
        let (text, encoding) = decode(&bytes).expect("decode");
        assert_eq!(encoding, "cp949");
        let (valid, errors) = rows(&text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(valid[0].name, "김민준");
        assert_eq!(valid[0].plan, "월 8회");
        // UTF-8 with Excel's BOM.
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode(&with_bom).map(|(_, e)| e), Ok("utf-8"));
        // Neither: refused, saying how to save the file.
        let error = decode(&[0x80, 0xFF, 0x80, 0xFF]).expect_err("not text");
        assert!(error.contains("CSV UTF-8"), "{error}");
        assert!(decode(b"\xFF\xFEm\0").is_err(), "UTF-16 is refused by name");
    }

    #[test]
    fn an_unclosed_quote_spoils_only_its_own_line() {
        let text = format!(
            "{HEADER}\
             A1,\"김민준,010-1,1234,무제한,,2026-01-01,2026-12-31,\n\
             A2,이서연,010-0000-0002,1234,무제한,,2026-01-01,2026-12-31,\n\
             A3,\"박, 도윤\",010-0000-0003,1234,무제한,,2026-01-01,2026-12-31,\n"
        );
        let (valid, errors) = rows(&text);
        let numbers: Vec<&str> = valid.iter().map(|m| m.member_no.as_str()).collect();
        assert_eq!(numbers, ["A2", "A3"]);
        assert_eq!(valid[1].name, "박, 도윤");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].message.contains("quote"), "{:?}", errors[0]);
    }

    #[test]
    fn columns_may_come_in_any_order_and_missing_ones_are_named() {
        let text = "name,member_no,pin,phone,plan,valid_until,valid_from\n\
                    김민준,B1,1234,010-0000-0001,무제한,2026-12-31,2026-01-01\n\
                    ,,,,,,\n\n";
        let (valid, errors) = rows(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(valid[0].member_no, "B1");
        assert_eq!(valid[0].visits_per_month, None);
        let error = CsvFile::read("member_no,name\nB1,x\n")
            .err()
            .expect("refused");
        assert!(error.contains("phone") && error.contains("pin"), "{error}");
    }

    /// Fuzzing the import decoder: whatever the CSV, every line is either a member or an
    /// error with its line, and nothing panics. `PROPTEST_CASES=200000` for a longer run.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_imports_without_panicking(body in "\\PC{0,400}") {
                if let Ok(file) = CsvFile::read(&body) {
                    let (valid, errors) = rows(&body);
                    prop_assert_eq!(valid.len() + errors.len(), file.len());
                }
                let _ = decode(body.as_bytes());
            }

            #[test]
            fn any_bytes_decode_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
                if let Ok((text, _)) = decode(&bytes) {
                    let _ = CsvFile::read(&text);
                }
            }

            #[test]
            fn rows_with_hostile_fields_are_members_or_reported_errors(
                rows_in in prop::collection::vec(
                    prop::collection::vec(
                        prop_oneof![
                            "[A-Za-z0-9-]{0,24}",
                            "\\PC{0,12}",
                            "'; DROP TABLE members; --",
                            "\"[^\"]{0,8}\"\"[^\"]{0,8}\"",
                            "=HYPERLINK\\(\"x\"\\)",
                            "20[0-9]{2}-[0-1][0-9]-[0-3][0-9]",
                            "-?[0-9]{1,12}",
                        ],
                        0..12,
                    ),
                    1..8,
                )
            ) {
                let mut body = HEADER.to_owned();
                for row in &rows_in {
                    body.push_str(&row.join(","));
                    body.push('\n');
                }
                let file = CsvFile::read(&body).map_err(TestCaseError::fail)?;
                let (valid, errors) = rows(&body);
                prop_assert_eq!(valid.len() + errors.len(), file.len());
                for member in &valid {
                    prop_assert!(!member.member_no.is_empty() && member.member_no.len() <= 20);
                    prop_assert!(member.valid_from <= member.valid_until);
                }
                for error in &errors {
                    prop_assert!(error.line >= 2 && !error.message.is_empty());
                }
            }
        }
    }
}
