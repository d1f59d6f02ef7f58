//! Secrets handed to desks and members. Only their SHA-256 is stored: the tokens are 256
//! random bits, so a fast hash is enough (argon2 is for the low-entropy PINs).

use std::cell::RefCell;

use argon2::password_hash::{
    Error as PhcError, Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// A new six-digit PIN (an operator's reset), uniformly drawn.
pub fn new_pin() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
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

thread_local! {
    /// argon2's working memory (~19 MiB), allocated once per thread and reused. Allocating
    /// it for every PIN leaves glibc holding freed copies: the server grew by ~150 MB after a
    /// few dozen logins. PIN work runs on two dedicated threads (`pins.rs`), so this is ~40 MB.
    static ARGON2_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The argon2 output of `len` bytes for this PIN and salt, computed in this thread's reused
/// memory.
fn derive(
    argon: &Argon2<'_>,
    params: &Params,
    pin: &str,
    salt: &[u8],
    len: usize,
) -> Result<Output, PhcError> {
    Output::init_with(len, |out| {
        ARGON2_MEMORY.with(|memory| {
            let mut memory = memory.borrow_mut();
            let blocks = params.block_count();
            if memory.len() < blocks {
                memory.resize(blocks, Block::default());
            }
            Ok(argon.hash_password_into_with_memory(
                pin.as_bytes(),
                salt,
                out,
                &mut memory[..blocks],
            )?)
        })
    })
}

/// An argon2id PHC string of the PIN (the crate's default parameters).
pub fn hash_pin(pin: &str) -> Result<String, PhcError> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf)?;
    let output = derive(&argon, &params, pin, salt_bytes, Params::DEFAULT_OUTPUT_LEN)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// Checks a PIN against any argon2 PHC string (parameters are read from it).
pub fn verify_pin(pin: &str, stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) =
        (Algorithm::try_from(hash.algorithm), Params::try_from(&hash))
    else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    // `Output`'s equality is constant-time.
    derive(&argon, &params, pin, salt_bytes, expected.len())
        .is_ok_and(|computed| computed == expected)
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
    fn pins_hashed_by_the_standard_hasher_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let standard = Argon2::default()
            .hash_password(b"8642", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_pin("8642", &standard));
        assert!(!verify_pin("8643", &standard));
        // And ours verify with the standard verifier.
        use argon2::password_hash::PasswordVerifier;
        let ours = hash_pin("8642").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("parse");
        assert!(Argon2::default().verify_password(b"8642", &parsed).is_ok());
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
