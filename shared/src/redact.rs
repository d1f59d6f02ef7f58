//! What a desk's log must not carry when it leaves the PC: tokens, pass codes, PINs,
//! passwords, phone numbers. The desk cuts its log with [`log_tail`] before sending it and the
//! server runs [`log_text`] again on what arrives (a desk of an older version, or a browser,
//! may not have).

use std::sync::LazyLock;

use regex::Regex;

const HIDDEN: &str = "[가림]";

struct Rule {
    pattern: Regex,
    replace: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |pattern: &str, replace: &'static str| {
        // The patterns are constants checked by the tests below.
        Regex::new(pattern).map(|pattern| Rule { pattern, replace })
    };
    [
        // `Authorization: Bearer …` and a browser desk's WebSocket subprotocol token.
        rule(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+", "${1}[가림]"),
        rule(r"(gymgate\.token\.)[A-Za-z0-9._~+/=-]+", "${1}[가림]"),
        // Offline passes (`GP1.` + payload + signature).
        rule(r"GP1\.[A-Za-z0-9._~+/=-]+", "GP1.[가림]"),
        // key=value and "key": "value" for secrets.
        rule(
            r#"(?i)((?:token|pin|password|secret)"?\s*[:=]\s*"?)[^\s",}&]+"#,
            "${1}[가림]",
        ),
        // Pairing codes (`ABCDE-12345`).
        rule(r"\b[A-Z0-9]{5}-[A-Z0-9]{5}\b", HIDDEN),
        // Korean phone numbers (010-1234-5678, 01012345678, 02-123-4567).
        rule(r"\b0\d{1,2}[- .]?\d{3,4}[- .]?\d{4}\b", "[전화번호]"),
        // Anything that looks like a long random secret.
        rule(r"\b[A-Za-z0-9_-]{32,}\b", HIDDEN),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .collect()
});

/// The text with every secret and phone number replaced.
pub fn log_text(text: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(text);
    for rule in RULES.iter() {
        if let std::borrow::Cow::Owned(changed) = rule.pattern.replace_all(&out, rule.replace) {
            out = std::borrow::Cow::Owned(changed);
        }
    }
    out.into_owned()
}

/// The newest part of a log of at most `max_bytes` after redaction, starting at a whole line.
pub fn log_tail(text: &str, max_bytes: usize) -> String {
    let redacted = log_text(text);
    if redacted.len() <= max_bytes {
        return redacted;
    }
    let mut start = redacted.len() - max_bytes;
    while !redacted.is_char_boundary(start) {
        start += 1;
    }
    let tail = &redacted[start..];
    // Drop the cut first line unless the tail is a single line.
    match tail.find('\n') {
        Some(newline) if newline + 1 < tail.len() => tail[newline + 1..].to_owned(),
        _ => tail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(RULES.len(), 7);
    }

    #[test]
    fn secrets_and_phone_numbers_are_hidden() {
        let line = concat!(
            "2026-12-02T10:00:00Z WARN request failed Authorization: Bearer abcDEF123.xyz ",
            "proto=gymgate.token.Zm9vYmFy pass=GP1.eyJtIjoiMSJ9.c2ln pin=1234 ",
            r#"{"password": "hunter2", "token":"t0k"} call 010-1234-5678 or 01098765432 "#,
            "key 4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99ffee paired with DEMO0-GYM00 code=invalid_token done"
        );
        let out = log_text(line);
        for secret in [
            "abcDEF123",
            "Zm9vYmFy",
            "eyJtIjoiMSJ9",
            "1234 ",
            "hunter2",
            "t0k",
            "010-1234-5678",
            "01098765432",
            "4f3c2b1a0e9d",
            "DEMO0-GYM00",
        ] {
            assert!(!out.contains(secret), "{secret} left in {out}");
        }
        assert!(out.contains("Bearer [가림]"), "{out}");
        assert!(out.contains("[전화번호]"), "{out}");
        assert!(out.contains("WARN request failed"), "the rest stays: {out}");
        assert!(
            out.contains("code=invalid_token"),
            "error codes stay: {out}"
        );
        assert!(
            out.starts_with("2026-12-02T10:00:00Z"),
            "timestamps stay: {out}"
        );
    }

    #[test]
    fn the_tail_is_the_newest_whole_lines_within_the_limit() {
        let log: String = (0..1000).map(|n| format!("line {n:04} 가나다\n")).collect();
        let tail = log_tail(&log, 200);
        assert!(tail.len() <= 200);
        assert!(
            tail.starts_with("line "),
            "starts at a whole line: {tail:?}"
        );
        assert!(tail.ends_with("line 0999 가나다\n"));
        assert_eq!(log_tail("short", 200), "short");
        // A cut inside a Hangul syllable moves to the next character.
        let one = "가".repeat(100);
        let cut = log_tail(&one, 31);
        assert!(cut.len() <= 31 && cut.chars().all(|c| c == '가'));
    }
}
