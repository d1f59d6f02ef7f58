//! Operators' second factor: time-based one-time passwords (RFC 6238, SHA-1, 6 digits, 30 s,
//! one step of clock skew either way), as every authenticator app shows them; and one-time
//! recovery codes for a lost phone, kept only as hashes.
//!
//! The TOTP secret itself cannot be kept as a hash (the server computes codes from it): it
//! lives in the operators table, readable by whoever can read the database, like the pass
//! signing key.

use rand::Rng;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Recovery codes given when a second factor is confirmed.
pub const RECOVERY_CODES: usize = 10;

/// A fresh secret (160 bits, as RFC 4226 recommends), base32 as apps take it.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill(&mut bytes);
    Secret::from(bytes).to_base32()
}

/// The `otpauth://` link an authenticator app reads from a QR code.
pub fn otpauth_url(secret: &str, username: &str) -> String {
    let account: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    format!(
        "otpauth://totp/gymgate:{account}?secret={secret}&issuer=gymgate&algorithm=SHA1&digits=6&period=30"
    )
}

fn totp(secret: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .ok()
}

/// The step `code` is valid for at `unix_seconds`, if it is valid (the caller refuses a step
/// already used, so a code works once).
pub fn check(secret: &str, code: &str, unix_seconds: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    totp(secret)?.check(&code, unix_seconds)
}

/// The code for `unix_seconds`.
#[cfg(test)]
pub fn code_at(secret: &str, unix_seconds: u64) -> Option<String> {
    Some(totp(secret)?.generate(unix_seconds).to_string())
}

/// Recovery codes: 10 characters from an alphabet without look-alikes, shown as `XXXXX-XXXXX`.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// How a recovery code is kept and compared: typed with or without the dash, any case.
pub fn recovery_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    crate::auth::tokens::hash(&normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 test vector (the secret "12345678901234567890", 8 digits there: the
    /// last 6 of 94287082 at 59 s).
    #[test]
    fn codes_follow_rfc_6238() {
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(code_at(&secret, 59).as_deref(), Some("287082"));
        assert_eq!(check(&secret, "287082", 59), Some(1));
        assert_eq!(check(&secret, "287 082", 80), Some(1), "one step of skew");
        assert_eq!(check(&secret, "287082", 200), None);
        assert_eq!(check(&secret, "28708x", 59), None);
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(
            recovery_hash(&codes[0]),
            recovery_hash(&codes[0].to_lowercase().replace('-', ""))
        );
    }
}
