//! Secrets handed to desks and members. Only their SHA-256 is stored: the tokens are 256
//! random bits, so a fast hash is enough (argon2 is for the low-entropy PINs).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares two secrets without leaking where they differ through timing.
pub fn same_secret(given: &str, expected: &str) -> bool {
    hash(given).ct_eq(&hash(expected)).into()
}

/// Pairing codes are typed by staff: short, upper case, without look-alike characters.
pub fn new_pairing_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// Staff may type a code in lower case or without the dash.
pub fn normalize_pairing_code(code: &str) -> String {
    let compact: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if compact.len() == 10 {
        format!("{}-{}", &compact[..5], &compact[5..])
    } else {
        compact
    }
}

pub fn hash_pin(pin: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &salt)?
        .to_string())
}

pub fn verify_pin(pin: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(stored)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(pin.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_fixed_size() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash(&a).len(), 32);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
    }

    #[test]
    fn pairing_codes_normalize() {
        let code = new_pairing_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            normalize_pairing_code(&code.to_lowercase().replace('-', "")),
            code
        );
        assert_eq!(normalize_pairing_code(" demo0gym00 "), "DEMO0-GYM00");
        assert_eq!(normalize_pairing_code("abc"), "ABC");
    }

    #[test]
    fn pins_verify_only_themselves() {
        let stored = hash_pin("1234").expect("hash");
        assert!(stored.starts_with("$argon2"));
        assert!(verify_pin("1234", &stored));
        assert!(!verify_pin("1235", &stored));
        assert!(!verify_pin("1234", "not a hash"));
    }
}
