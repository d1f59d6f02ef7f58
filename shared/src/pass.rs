//! The offline pass: a certificate the server signs for one member's phone, shown as a QR code
//! whose payload the phone signs again every ~15 s, so a desk can check it with public keys
//! alone, with the phone offline and the server down. Server, desk and tests share this code.
//!
//! Payload (what the QR code holds, and a keyboard-wedge scanner types): `GP1.` followed by
//! base45 (RFC 9285: digits, capital letters, space and `$%*+-./:`) of
//!
//! ```text
//! certificate body   version 1 · key id (8) · member id · name · plan       (each u8 length + UTF-8)
//!                    · valid from, valid until (i32 days since 1970-01-01)
//!                    · visits left at issue (u16; 0xFFFF unlimited) · device public key (32)
//!                    · issued at, expires at (i64 Unix seconds)
//! server signature   Ed25519 over "gymgate-pass-cert-v1" ‖ body                 (64)
//! shown at           i64 Unix seconds                                              (8)
//! device signature   Ed25519 over "gymgate-pass-show-v1" ‖ body ‖ server sig ‖ shown at (64)
//! ```
//!
//! All integers are big-endian. A typical payload is ~260 bytes, ~390 characters.
//!
//! Why base45: it is exactly QR's alphanumeric set (5.5 bits a character, a smaller code than
//! base64 in byte mode), and it survives a Korean front-desk PC. A USB scanner in keyboard mode
//! types key presses; with the input method in Hangul mode those arrive as jamo composed into
//! syllables, and Shift is lost for most letters (Shift+A is ㅁ like A). Base64's lower and
//! upper case could not be told apart again; base45 has upper case only, so
//! [`from_keyboard`] recovers the exact text.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::MemberId;

/// What starts every payload: recognises a pass among other scanned text.
pub const PREFIX: &str = "GP1.";
const VERSION: u8 = 1;
const CERT_CONTEXT: &[u8] = b"gymgate-pass-cert-v1";
const SHOW_CONTEXT: &[u8] = b"gymgate-pass-show-v1";
/// A certificate lives at most this long; the phone gets a new one whenever it is online.
pub const MAX_VALIDITY: Duration = Duration::days(7);
/// How far a presentation's time may be from the desk's (server-corrected) clock.
pub const SHOW_WINDOW: Duration = Duration::seconds(60);
/// Longest payload accepted (a bound on work for any input).
pub const MAX_PAYLOAD_CHARS: usize = 2048;
const UNLIMITED: u16 = u16::MAX;
const NAME_BYTES: usize = 100;
const PLAN_BYTES: usize = 60;
const MEMBER_ID_BYTES: usize = 64;

/// A server public key that signs certificates, as desks receive and keep it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PassKey {
    /// base64url of the first 8 bytes of SHA-256 of the public key.
    pub kid: String,
    /// base64url of the 32-byte Ed25519 public key.
    pub public_key: String,
}

impl PassKey {
    pub fn of(verifying: &VerifyingKey) -> PassKey {
        PassKey {
            kid: URL_SAFE_NO_PAD.encode(key_id(verifying)),
            public_key: URL_SAFE_NO_PAD.encode(verifying.as_bytes()),
        }
    }

    fn verifying_key(&self) -> Option<VerifyingKey> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(&self.public_key)
            .ok()?
            .try_into()
            .ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

pub fn key_id(verifying: &VerifyingKey) -> [u8; 8] {
    let digest = Sha256::digest(verifying.as_bytes());
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

/// What the server vouches for about a member's pass, for one phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub kid: [u8; 8],
    pub member_id: MemberId,
    pub name: String,
    pub plan: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    /// Visits left this month when the certificate was issued; `None`: unlimited.
    pub visits_left: Option<u32>,
    /// The phone's own Ed25519 public key: only that phone can show this certificate.
    pub device_key: [u8; 32],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A scanned payload, parsed (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    pub certificate: Certificate,
    pub shown_at: DateTime<Utc>,
    body: Vec<u8>,
    server_signature: [u8; 64],
    device_signature: [u8; 64],
}

/// Why a pass is not accepted; `code()` is the reason code desks and the server use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("this is not a gymgate pass, or it was scanned incompletely")]
    Malformed,
    #[error("the pass is signed by a key this desk does not know")]
    UnknownKey,
    #[error("the pass's server signature is wrong (forged or altered)")]
    BadServerSignature,
    #[error("the pass was not shown by the phone it was issued to")]
    BadDeviceSignature,
    #[error("the pass certificate has expired; the member's phone must go online once")]
    CertificateExpired,
    #[error("the code is too old (a screenshot?) or the clock is wrong")]
    Stale,
    #[error("the code's time is in the future; a clock is wrong")]
    FromTheFuture,
    #[error("this code was already used")]
    Replayed,
    #[error("this member's passes were revoked")]
    Revoked,
}

impl PassError {
    pub fn code(self) -> &'static str {
        match self {
            PassError::Malformed => "pass_malformed",
            PassError::UnknownKey => "pass_unknown_key",
            PassError::BadServerSignature => "pass_forged",
            PassError::BadDeviceSignature => "pass_wrong_device",
            PassError::CertificateExpired => "pass_certificate_expired",
            PassError::Stale => "pass_stale",
            PassError::FromTheFuture => "pass_from_the_future",
            PassError::Replayed => "pass_replayed",
            PassError::Revoked => "pass_revoked",
        }
    }

    /// Plain Korean for staff.
    pub fn message_ko(self) -> &'static str {
        match self {
            PassError::Malformed => "gymgate 패스가 아니거나 덜 읽혔습니다. 다시 스캔해 주세요.",
            PassError::UnknownKey => {
                "이 데스크가 모르는 서버 키로 서명된 패스입니다. 연결되면 다시 시도하세요."
            }
            PassError::BadServerSignature => "위조되었거나 변경된 패스입니다.",
            PassError::BadDeviceSignature => "발급받은 휴대폰이 아닌 곳에서 보여 준 패스입니다.",
            PassError::CertificateExpired => {
                "패스 유효기간이 지났습니다. 회원 휴대폰이 한 번 인터넷에 연결되어야 합니다."
            }
            PassError::Stale => {
                "오래된 코드입니다(캡처 화면?). 회원 앱의 지금 화면을 스캔해 주세요."
            }
            PassError::FromTheFuture => {
                "코드 시각이 맞지 않습니다. 휴대폰이나 PC 시계를 확인하세요."
            }
            PassError::Replayed => "이미 사용된 코드입니다.",
            PassError::Revoked => "사용이 중지된 회원의 패스입니다. 데스크에서 확인해 주세요.",
        }
    }

    pub const ALL: [PassError; 9] = [
        PassError::Malformed,
        PassError::UnknownKey,
        PassError::BadServerSignature,
        PassError::BadDeviceSignature,
        PassError::CertificateExpired,
        PassError::Stale,
        PassError::FromTheFuture,
        PassError::Replayed,
        PassError::Revoked,
    ];

    pub fn from_code(code: &str) -> Option<PassError> {
        PassError::ALL.into_iter().find(|e| e.code() == code)
    }
}

fn put_text(out: &mut Vec<u8>, text: &str, max: usize) {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push(end as u8);
    out.extend_from_slice(&text.as_bytes()[..end]);
}

fn days(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

impl Certificate {
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.push(VERSION);
        out.extend_from_slice(&self.kid);
        put_text(&mut out, self.member_id.as_str(), MEMBER_ID_BYTES);
        put_text(&mut out, &self.name, NAME_BYTES);
        put_text(&mut out, &self.plan, PLAN_BYTES);
        out.extend_from_slice(&days(self.valid_from).to_be_bytes());
        out.extend_from_slice(&days(self.valid_until).to_be_bytes());
        let visits = self
            .visits_left
            .map_or(UNLIMITED, |v| v.min(u32::from(UNLIMITED - 1)) as u16);
        out.extend_from_slice(&visits.to_be_bytes());
        out.extend_from_slice(&self.device_key);
        out.extend_from_slice(&self.issued_at.timestamp().to_be_bytes());
        out.extend_from_slice(&self.expires_at.timestamp().to_be_bytes());
        out
    }

    /// Signs the certificate: the body and the server's signature, base64url, as the phone
    /// stores it (it appends the time and its own signature each time it shows it).
    pub fn issue(&self, key: &SigningKey) -> String {
        let body = self.body();
        let signature = key.sign(&[CERT_CONTEXT, &body].concat());
        let mut out = body;
        out.extend_from_slice(&signature.to_bytes());
        URL_SAFE_NO_PAD.encode(out)
    }
}

/// Reads fields from the front of a byte slice; `None` when it runs out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn text(&mut self) -> Option<String> {
        let len = *self.take(1)?.first()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn date(&mut self) -> Option<NaiveDate> {
        let days = i32::from_be_bytes(self.array()?);
        NaiveDate::default().checked_add_signed(Duration::days(days.into()))
    }

    fn time(&mut self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(i64::from_be_bytes(self.array()?), 0)
    }
}

/// Parses a scanned payload. Whitespace around it (a scanner's Enter) is ignored.
pub fn parse(text: &str) -> Result<Presentation, PassError> {
    let text = text.trim();
    if text.len() > MAX_PAYLOAD_CHARS {
        return Err(PassError::Malformed);
    }
    let encoded = text.strip_prefix(PREFIX).ok_or(PassError::Malformed)?;
    let bytes = base45::decode(encoded).ok_or(PassError::Malformed)?;
    // body … server signature (64) · shown at (8) · device signature (64)
    let Some(body_len) = bytes.len().checked_sub(64 + 8 + 64) else {
        return Err(PassError::Malformed);
    };
    let (body, rest) = bytes.split_at(body_len);
    let mut tail = Reader(rest);
    let server_signature = tail.array::<64>().ok_or(PassError::Malformed)?;
    let shown_at = tail.time().ok_or(PassError::Malformed)?;
    let device_signature = tail.array::<64>().ok_or(PassError::Malformed)?;
    let certificate = parse_body(body).ok_or(PassError::Malformed)?;
    Ok(Presentation {
        certificate,
        shown_at,
        body: body.to_vec(),
        server_signature,
        device_signature,
    })
}

fn parse_body(body: &[u8]) -> Option<Certificate> {
    let mut r = Reader(body);
    if r.take(1)? != [VERSION] {
        return None;
    }
    let certificate = Certificate {
        kid: r.array()?,
        member_id: MemberId::new(r.text()?),
        name: r.text()?,
        plan: r.text()?,
        valid_from: r.date()?,
        valid_until: r.date()?,
        visits_left: match u16::from_be_bytes(r.array()?) {
            UNLIMITED => None,
            n => Some(u32::from(n)),
        },
        device_key: r.array()?,
        issued_at: r.time()?,
        expires_at: r.time()?,
    };
    // Nothing may follow: a longer body is not one this code wrote.
    r.0.is_empty().then_some(certificate)
}

impl Presentation {
    /// Checks everything a desk can check with public keys alone, at `now` (the desk's clock
    /// corrected by the server time it learned): the server's signature under a known key,
    /// the phone's signature, the certificate's validity, and the time it was shown.
    pub fn verify(&self, keys: &[PassKey], now: DateTime<Utc>) -> Result<(), PassError> {
        let kid = URL_SAFE_NO_PAD.encode(self.certificate.kid);
        let server = keys
            .iter()
            .find(|k| k.kid == kid)
            .and_then(PassKey::verifying_key)
            .ok_or(PassError::UnknownKey)?;
        server
            .verify_strict(
                &[CERT_CONTEXT, &self.body].concat(),
                &Signature::from_bytes(&self.server_signature),
            )
            .map_err(|_| PassError::BadServerSignature)?;
        let device = VerifyingKey::from_bytes(&self.certificate.device_key)
            .map_err(|_| PassError::BadDeviceSignature)?;
        device
            .verify_strict(
                &self.shown_message(),
                &Signature::from_bytes(&self.device_signature),
            )
            .map_err(|_| PassError::BadDeviceSignature)?;
        let cert = &self.certificate;
        if now >= cert.expires_at || cert.expires_at - cert.issued_at > MAX_VALIDITY {
            return Err(PassError::CertificateExpired);
        }
        if self.shown_at > now + SHOW_WINDOW {
            return Err(PassError::FromTheFuture);
        }
        if self.shown_at < now - SHOW_WINDOW {
            return Err(PassError::Stale);
        }
        Ok(())
    }

    fn shown_message(&self) -> Vec<u8> {
        [
            SHOW_CONTEXT,
            &self.body,
            &self.server_signature,
            &self.shown_at.timestamp().to_be_bytes(),
        ]
        .concat()
    }

    /// Names this one showing (certificate and time): the same code scanned twice, at one
    /// desk or at two centers, has the same fingerprint.
    pub fn fingerprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(&Sha256::digest(self.device_signature)[..16])
    }
}

/// Shows a certificate as the phone does: appends `shown_at` and signs with the phone's key.
/// (The member app does this with WebCrypto; tests and tools use this.)
pub fn show(issued: &str, device: &SigningKey, shown_at: DateTime<Utc>) -> Option<String> {
    let mut bytes = URL_SAFE_NO_PAD.decode(issued).ok()?;
    bytes.extend_from_slice(&shown_at.timestamp().to_be_bytes());
    let body_len = bytes.len().checked_sub(64 + 8)?;
    let message = [SHOW_CONTEXT, &bytes[..]].concat();
    debug_assert!(body_len > 0);
    let signature = device.sign(&message);
    bytes.extend_from_slice(&signature.to_bytes());
    Some(format!("{PREFIX}{}", base45::encode(&bytes)))
}

/// What a keyboard-wedge scanner typed, as the payload it read. On a PC whose input method is
/// in Hangul mode (두벌식) the key presses arrive as jamo, composed into syllables: they are
/// turned back into the keys pressed. Base45 has capital letters only, so letters are then
/// upper-cased (which also undoes Caps Lock). Surrounding whitespace (the scanner's Enter)
/// goes.
pub fn from_keyboard(text: &str) -> String {
    let text = text.trim();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '가'..='힣' => {
                let index = c as u32 - 0xAC00;
                let (lead, vowel, tail) = (index / 588, (index % 588) / 28, index % 28);
                out.push_str(LEADS[lead as usize]);
                out.push_str(VOWELS[vowel as usize]);
                if tail > 0 {
                    out.push_str(TAILS[tail as usize]);
                }
            }
            'ㄱ'..='ㅣ' => out.push_str(JAMO[(c as u32 - 0x3131) as usize]),
            other => out.push(other),
        }
    }
    out.make_ascii_uppercase();
    out
}

// The keys of the Korean 2-set (두벌식) layout, with Shift where a jamo needs it.
const LEADS: [&str; 19] = [
    "r", "R", "s", "e", "E", "f", "a", "q", "Q", "t", "T", "d", "w", "W", "c", "z", "x", "v", "g",
];
const VOWELS: [&str; 21] = [
    "k", "o", "i", "O", "j", "p", "u", "P", "h", "hk", "ho", "hl", "y", "n", "nj", "np", "nl", "b",
    "m", "ml", "l",
];
const TAILS: [&str; 28] = [
    "", "r", "R", "rt", "s", "sw", "sg", "e", "f", "fr", "fa", "fq", "ft", "fx", "fv", "fg", "a",
    "q", "qt", "t", "T", "d", "w", "c", "z", "x", "v", "g",
];
/// U+3131 ㄱ … U+3163 ㅣ (compatibility jamo, typed alone).
const JAMO: [&str; 51] = [
    "r", "R", "rt", "s", "sw", "sg", "e", "E", "f", "fr", "fa", "fq", "ft", "fx", "fv", "fg", "a",
    "q", "Q", "qt", "t", "T", "d", "w", "W", "c", "z", "x", "v", "g", "k", "o", "i", "O", "j", "p",
    "u", "P", "h", "hk", "ho", "hl", "y", "n", "nj", "np", "nl", "b", "m", "ml", "l",
];

/// Base45 (RFC 9285). A few lines, so written here rather than taken as a dependency.
pub mod base45 {
    const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len() / 2 * 3 + 2);
        let mut push = |mut n: u32, digits: usize| {
            for _ in 0..digits {
                out.push(char::from(ALPHABET[(n % 45) as usize]));
                n /= 45;
            }
        };
        for pair in bytes.chunks(2) {
            match pair {
                [a, b] => push(u32::from(*a) * 256 + u32::from(*b), 3),
                [a] => push(u32::from(*a), 2),
                _ => {}
            }
        }
        out
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let values: Vec<u32> = text
            .bytes()
            .map(|c| ALPHABET.iter().position(|a| *a == c).map(|p| p as u32))
            .collect::<Option<_>>()?;
        let mut out = Vec::with_capacity(values.len() / 3 * 2 + 1);
        for chunk in values.chunks(3) {
            match chunk {
                [c, d, e] => {
                    let n = c + d * 45 + e * 45 * 45;
                    if n > 0xFFFF {
                        return None;
                    }
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                [c, d] => out.push(u8::try_from(c + d * 45).ok()?),
                _ => return None,
            }
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        /// The examples of RFC 9285, section 4.
        #[test]
        fn rfc_examples() {
            for (bytes, text) in [
                (&b"AB"[..], "BB8"),
                (b"Hello!!", "%69 VD92EX0"),
                (b"base-45", "UJCLQE7W581"),
                (b"ietf!", "QED8WEX0"),
                (b"", ""),
            ] {
                assert_eq!(super::encode(bytes), text);
                assert_eq!(super::decode(text).as_deref(), Some(bytes));
            }
            assert_eq!(super::decode("GGW"), None, "65535 < value");
            assert_eq!(super::decode("a"), None, "not in the alphabet");
            assert_eq!(super::decode("A"), None, "a lone character");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn server_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn device_key() -> SigningKey {
        SigningKey::from_bytes(&[9u8; 32])
    }

    fn certificate() -> Certificate {
        Certificate {
            kid: key_id(&server_key().verifying_key()),
            member_id: MemberId::new("01a2b3c4-d5e6-7f80-9a0b-1c2d3e4f5a6b"),
            name: "김민준".into(),
            plan: "월 8회".into(),
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2026-12-31".parse().expect("date"),
            visits_left: Some(5),
            device_key: device_key().verifying_key().to_bytes(),
            issued_at: at("2026-11-28T00:00:00Z"),
            expires_at: at("2026-12-05T00:00:00Z"),
        }
    }

    fn keys() -> Vec<PassKey> {
        vec![PassKey::of(&server_key().verifying_key())]
    }

    const NOW: &str = "2026-11-29T03:00:00Z";

    fn shown(cert: &Certificate, shown_at: &str) -> String {
        show(&cert.issue(&server_key()), &device_key(), at(shown_at)).expect("show")
    }

    #[test]
    fn a_valid_pass_verifies_and_round_trips() {
        let text = shown(&certificate(), NOW);
        assert!(text.starts_with(PREFIX));
        let pass = parse(&format!("  {text}\r\n")).expect("parse");
        assert!(
            text.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || " $%*+-./:".contains(c)),
            "QR alphanumeric characters only: {text}"
        );
        assert_eq!(pass.certificate, certificate());
        assert_eq!(pass.shown_at, at(NOW));
        assert_eq!(pass.verify(&keys(), at(NOW)), Ok(()));
        println!("payload {} characters", text.len());
        assert!(text.len() < 420, "{} characters", text.len());
    }

    #[test]
    fn every_tampered_byte_fails() {
        let text = shown(&certificate(), NOW);
        let bytes = base45::decode(&text[PREFIX.len()..]).expect("decode");
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            let tampered = format!("{PREFIX}{}", base45::encode(&changed));
            let outcome = parse(&tampered).and_then(|p| p.verify(&keys(), at(NOW)));
            assert!(outcome.is_err(), "byte {i} changed and still verified");
        }
    }

    #[test]
    fn each_tampered_field_fails_with_the_server_signature() {
        let issued = certificate().issue(&server_key());
        for change in [
            |c: &mut Certificate| c.name = "박도윤".into(),
            |c: &mut Certificate| c.valid_until = "2030-01-01".parse().expect("date"),
            |c: &mut Certificate| c.visits_left = None,
            |c: &mut Certificate| c.expires_at += Duration::days(30),
            |c: &mut Certificate| c.member_id = MemberId::new("someone-else"),
        ] {
            let mut cert = certificate();
            change(&mut cert);
            // The forger re-signs the body with a key of their own, keeping the server's kid.
            let forged = cert.issue(&SigningKey::from_bytes(&[1u8; 32]));
            let text = show(&forged, &device_key(), at(NOW)).expect("show");
            let outcome = parse(&text).and_then(|p| p.verify(&keys(), at(NOW)));
            assert_eq!(outcome, Err(PassError::BadServerSignature));
        }
        // The real certificate, shown by another phone.
        let thief = show(&issued, &SigningKey::from_bytes(&[3u8; 32]), at(NOW)).expect("show");
        assert_eq!(
            parse(&thief).and_then(|p| p.verify(&keys(), at(NOW))),
            Err(PassError::BadDeviceSignature)
        );
    }

    #[test]
    fn unknown_and_rotated_keys() {
        let text = shown(&certificate(), NOW);
        let pass = parse(&text).expect("parse");
        assert_eq!(pass.verify(&[], at(NOW)), Err(PassError::UnknownKey));
        let other = PassKey::of(&SigningKey::from_bytes(&[2u8; 32]).verifying_key());
        assert_eq!(
            pass.verify(std::slice::from_ref(&other), at(NOW)),
            Err(PassError::UnknownKey)
        );
        // During a rotation both keys are valid.
        let both = [other, keys()[0].clone()];
        assert_eq!(pass.verify(&both, at(NOW)), Ok(()));
        // A known key id with another key's bytes: the signature fails.
        let swapped = PassKey {
            kid: keys()[0].kid.clone(),
            public_key: both[0].public_key.clone(),
        };
        assert_eq!(
            pass.verify(&[swapped], at(NOW)),
            Err(PassError::BadServerSignature)
        );
    }

    #[test]
    fn expired_certificates_and_stale_or_future_codes_fail() {
        let cert = certificate();
        let late = shown(&cert, "2026-12-06T00:00:00Z");
        assert_eq!(
            parse(&late).and_then(|p| p.verify(&keys(), at("2026-12-06T00:00:00Z"))),
            Err(PassError::CertificateExpired)
        );
        let mut too_long = certificate();
        too_long.expires_at = too_long.issued_at + Duration::days(8);
        assert_eq!(
            parse(&shown(&too_long, NOW)).and_then(|p| p.verify(&keys(), at(NOW))),
            Err(PassError::CertificateExpired),
            "longer than a certificate may live"
        );
        let screenshot = shown(&cert, "2026-11-29T02:58:00Z");
        assert_eq!(
            parse(&screenshot).and_then(|p| p.verify(&keys(), at(NOW))),
            Err(PassError::Stale)
        );
        let ahead = shown(&cert, "2026-11-29T03:02:00Z");
        assert_eq!(
            parse(&ahead).and_then(|p| p.verify(&keys(), at(NOW))),
            Err(PassError::FromTheFuture)
        );
        // Within the window either way.
        for near in ["2026-11-29T02:59:10Z", "2026-11-29T03:00:50Z"] {
            assert_eq!(
                parse(&shown(&cert, near)).and_then(|p| p.verify(&keys(), at(NOW))),
                Ok(())
            );
        }
    }

    #[test]
    fn the_desks_clock_corrected_by_server_time_decides() {
        // The desk's own clock is 10 minutes fast; corrected by the offset it learned from the
        // server, the code is fresh.
        let cert = certificate();
        let text = shown(&cert, NOW);
        let desk_clock = at(NOW) + Duration::minutes(10);
        let offset = at(NOW) - desk_clock;
        let pass = parse(&text).expect("parse");
        assert_eq!(pass.verify(&keys(), desk_clock), Err(PassError::Stale));
        assert_eq!(pass.verify(&keys(), desk_clock + offset), Ok(()));
    }

    #[test]
    fn fingerprints_tell_showings_apart() {
        let cert = certificate();
        let a = parse(&shown(&cert, NOW)).expect("parse");
        let again = parse(&shown(&cert, NOW)).expect("parse");
        let later = parse(&shown(&cert, "2026-11-29T03:00:15Z")).expect("parse");
        assert_eq!(a.fingerprint(), again.fingerprint());
        assert_ne!(a.fingerprint(), later.fingerprint());
    }

    /// The key a character is typed with on a US keyboard, and the jamo the 두벌식 input
    /// method makes of it (Shift+letter: the shifted jamo where there is one).
    fn hangul_ime(c: char) -> char {
        const PLAIN: &str = "ㅁㅠㅊㅇㄷㄹㅎㅗㅑㅓㅏㅣㅡㅜㅐㅔㅂㄱㄴㅅㅕㅍㅈㅌㅛㅋ";
        const SHIFTED: &str = "ㅁㅠㅊㅇㄸㄹㅎㅗㅑㅓㅏㅣㅡㅜㅒㅖㅃㄲㄴㅆㅕㅍㅉㅌㅛㅋ";
        match c {
            'A'..='Z' => SHIFTED.chars().nth((c as u8 - b'A') as usize).unwrap_or(c),
            'a'..='z' => PLAIN.chars().nth((c as u8 - b'a') as usize).unwrap_or(c),
            other => other,
        }
    }

    #[test]
    fn payloads_typed_in_hangul_mode_are_read_back() {
        let text = shown(&certificate(), NOW);
        let typed: String = text.chars().map(hangul_ime).collect();
        assert_ne!(typed, text);
        assert_eq!(from_keyboard(&format!("{typed}\n")), text);
        // Composed by the input method into syllables: the same keys.
        assert_eq!(from_keyboard("혜1.가나"), "GP1.RKSK");
        assert_eq!(from_keyboard("ㅎㅖ1."), "GP1.");
        // Caps Lock on: lower case comes back upper.
        assert_eq!(from_keyboard("gp1.abc"), "GP1.ABC");
        assert_eq!(from_keyboard(&text), text);
        let pass = parse(&from_keyboard(&typed)).expect("parse");
        assert_eq!(pass.verify(&keys(), at(NOW)), Ok(()));
    }

    #[test]
    fn codes_round_trip() {
        for e in PassError::ALL {
            assert_eq!(PassError::from_code(e.code()), Some(e));
            assert!(!e.message_ko().is_empty());
        }
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_parses_or_is_refused(text in "\\PC{0,600}") {
                if let Ok(pass) = parse(&text) {
                    let _ = pass.verify(&keys(), at(NOW));
                }
                let _ = parse(&from_keyboard(&text));
            }

            #[test]
            fn any_bytes_after_the_prefix_parse_or_are_refused(
                bytes in prop::collection::vec(any::<u8>(), 0..400)
            ) {
                let text = format!("{PREFIX}{}", base45::encode(&bytes));
                if let Ok(pass) = parse(&text) {
                    prop_assert!(pass.verify(&keys(), at(NOW)).is_err());
                }
            }

            #[test]
            fn truncated_or_extended_real_payloads_never_verify(cut in 0usize..400, extra in "[0-9A-Z]{1,8}") {
                let text = shown(&certificate(), NOW);
                let cut = cut.min(text.len() - 1);
                let short = &text[..cut];
                prop_assert!(parse(short).and_then(|p| p.verify(&keys(), at(NOW))).is_err());
                let long = format!("{text}{extra}");
                prop_assert!(parse(&long).and_then(|p| p.verify(&keys(), at(NOW))).is_err());
            }
        }
    }
}
