//! The desk's answer when operators ask for its log: the newest [`instance`](super::instance)
//! log files, cut to the size asked for, redacted (tokens, pass codes, PINs, phone numbers)
//! before they leave the PC, and uploaded to the server.

use std::path::Path;
use std::time::Duration;

use super::config::Pairing;

/// The newest `max_bytes` of the desk's log files (redacted), oldest line first.
pub fn recent(data_dir: &Path, max_bytes: usize) -> std::io::Result<String> {
    let dir = data_dir.join("logs");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("desk.log"))
            })
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(error),
    };
    // Daily files are named by date, so by name is by age.
    files.sort();
    let mut parts = Vec::new();
    let mut gathered = 0;
    for path in files.iter().rev() {
        let bytes = std::fs::read(path)?;
        gathered += bytes.len();
        parts.push(bytes);
        if gathered >= max_bytes {
            break;
        }
    }
    parts.reverse();
    let text = String::from_utf8_lossy(&parts.concat()).into_owned();
    Ok(gymgate_shared::redact::log_tail(&text, max_bytes))
}

/// Reads and uploads the log for one request; failures are logged (the server asks again on
/// the next connection).
pub async fn upload(
    pairing: Pairing,
    data_dir: std::path::PathBuf,
    request_id: String,
    max_bytes: u64,
) {
    let max = usize::try_from(max_bytes.min(gymgate_shared::protocol::MAX_LOG_BYTES))
        .unwrap_or(usize::MAX);
    let text = match tokio::task::spawn_blocking(move || recent(&data_dir, max)).await {
        Ok(Ok(text)) => text,
        Ok(Err(error)) => format!("(로그를 읽지 못했습니다 / cannot read the log: {error})\n"),
        Err(error) => format!("(로그를 읽지 못했습니다 / cannot read the log: {error})\n"),
    };
    let bytes = text.len();
    let sent = async {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?
            .put(format!(
                "{}/api/v1/desk/logs/{request_id}",
                pairing.server_url
            ))
            .bearer_auth(&pairing.token)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(text)
            .send()
            .await?
            .error_for_status()
    }
    .await;
    match sent {
        Ok(_) => tracing::info!(%request_id, bytes, "log sent to the server as operators asked"),
        Err(error) => {
            tracing::warn!(%request_id, %error, "cannot send the log operators asked for")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_lines_of_the_newest_files_redacted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs");
        std::fs::write(logs.join("desk.log.2026-11-30"), "old day\n".repeat(10)).expect("w");
        std::fs::write(
            logs.join("desk.log.2026-12-01"),
            "yesterday Bearer s3cr3t-token\n",
        )
        .expect("w");
        std::fs::write(logs.join("desk.log.2026-12-02"), "today 010-1234-5678\n").expect("w");
        std::fs::write(logs.join("other.txt"), "not a log\n").expect("w");
        let all = recent(dir.path(), 1 << 20).expect("read");
        assert!(all.starts_with("old day\n"), "{all}");
        assert!(all.ends_with("today [전화번호]\n"), "{all}");
        assert!(
            !all.contains("s3cr3t") && !all.contains("not a log"),
            "{all}"
        );
        let tail = recent(dir.path(), 50).expect("read");
        assert!(tail.len() <= 50 && tail.starts_with("yesterday"), "{tail}");
        let none = tempfile::tempdir().expect("tempdir");
        assert_eq!(recent(none.path(), 100).expect("no logs yet"), "");
    }
}
