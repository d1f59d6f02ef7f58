//! The desk's presence code: a QR code a desk (or a tablet at the entrance) shows, signed by
//! the desk's own key and renewed every few seconds. The member's phone scans it and sends it
//! with the tap, so the server knows the phone was in front of that center's desk a moment
//! ago, not at home. The desk needs no link to show it: the server checks the signature with
//! the public key the desk registered in its hello.
//!
//! Text (what the QR code holds): `GGP1.<center id>.<desk id>.<t>.<signature>`, where `t` is the
//! desk's clock in Unix seconds and the signature is base64url (no padding) of Ed25519 over
//! `gymgate-presence-v1\n<center id>\n<desk id>\n<t>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::ids::{CenterId, DeskId};

pub const PREFIX: &str = "GGP1.";
const CONTEXT: &str = "gymgate-presence-v1";
/// A code is shown this long before the desk draws the next.
pub const LIFETIME: Duration = Duration::seconds(15);
/// Beyond its lifetime, what a desk's clock and a slow phone are allowed.
pub const SLACK: Duration = Duration::seconds(30);
/// Longest text accepted (a bound on work for any input).
pub const MAX_CHARS: usize = 400;

/// Why a presence code is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    #[error("not a presence code")]
    Malformed,
    #[error("the presence code is not signed by a desk of this center")]
    Foreign,
    #[error("the presence code is too old (or from the future)")]
    Expired,
}

impl PresenceError {
    pub fn code(self) -> &'static str {
        match self {
            PresenceError::Malformed => "presence_invalid",
            PresenceError::Foreign => "presence_foreign",
            PresenceError::Expired => "presence_expired",
        }
    }

    pub fn message_ko(self) -> &'static str {
        match self {
            PresenceError::Malformed => {
                "입구 QR 코드를 읽을 수 없습니다. 데스크의 QR 코드를 다시 스캔해 주세요."
            }
            PresenceError::Foreign => {
                "이 센터의 입구 QR 코드가 아닙니다. 지금 계신 센터의 QR 코드를 스캔해 주세요."
            }
            PresenceError::Expired => {
                "입구 QR 코드가 만료되었습니다. 데스크 화면의 QR 코드를 다시 스캔해 주세요."
            }
        }
    }
}

fn message(center: &CenterId, desk: &DeskId, t: i64) -> String {
    format!("{CONTEXT}\n{center}\n{desk}\n{t}")
}

/// The code a desk shows at `now` (its own clock).
pub fn code(center: &CenterId, desk: &DeskId, key: &SigningKey, now: DateTime<Utc>) -> String {
    let t = now.timestamp();
    let signature = key.sign(message(center, desk, t).as_bytes());
    format!(
        "{PREFIX}{center}.{desk}.{t}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// The desk's public key as it registers it: base64url of the 32 bytes.
pub fn public_key_text(key: &SigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())
}

/// A presence code read back, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub center_id: CenterId,
    pub desk_id: DeskId,
    pub at: DateTime<Utc>,
    signature: [u8; 64],
}

/// Reads a scanned code. Ids are checked for shape only; whose they are is the server's to say.
pub fn parse(text: &str) -> Result<Shown, PresenceError> {
    let text = text.trim();
    if text.len() > MAX_CHARS {
        return Err(PresenceError::Malformed);
    }
    let rest = text.strip_prefix(PREFIX).ok_or(PresenceError::Malformed)?;
    let mut parts = rest.split('.');
    let (Some(center), Some(desk), Some(t), Some(signature), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(PresenceError::Malformed);
    };
    let id_like = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !id_like(center) || !id_like(desk) {
        return Err(PresenceError::Malformed);
    }
    let t: i64 = t.parse().map_err(|_| PresenceError::Malformed)?;
    let at = DateTime::from_timestamp(t, 0).ok_or(PresenceError::Malformed)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(PresenceError::Malformed)?;
    Ok(Shown {
        center_id: CenterId::new(center),
        desk_id: DeskId::new(desk),
        at,
        signature,
    })
}

impl Shown {
    /// Checks the code against the desk's registered key (base64url), the center the member
    /// taps at, and the server's clock.
    pub fn verify(
        &self,
        desk_key: &str,
        tapped_center: &CenterId,
        now: DateTime<Utc>,
    ) -> Result<(), PresenceError> {
        if &self.center_id != tapped_center {
            return Err(PresenceError::Foreign);
        }
        let key: [u8; 32] = URL_SAFE_NO_PAD
            .decode(desk_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(PresenceError::Foreign)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| PresenceError::Foreign)?;
        key.verify_strict(
            message(&self.center_id, &self.desk_id, self.at.timestamp()).as_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| PresenceError::Foreign)?;
        if now - self.at > LIFETIME + SLACK || self.at - now > SLACK {
            return Err(PresenceError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_code_checks_at_its_center_within_its_time_only() {
        let (center, desk) = (CenterId::new("c-1"), DeskId::new("d-1"));
        let now = Utc::now();
        let shown = code(&center, &desk, &key(1), now);
        let registered = public_key_text(&key(1));
        let parsed = parse(&shown).expect("parses");
        assert_eq!(parsed.desk_id, desk);
        assert_eq!(parsed.verify(&registered, &center, now), Ok(()));
        assert_eq!(
            parsed.verify(
                &registered,
                &center,
                now + LIFETIME + SLACK - Duration::seconds(1)
            ),
            Ok(())
        );
        // Replayed later, or from a desk whose clock runs far ahead.
        assert_eq!(
            parsed.verify(
                &registered,
                &center,
                now + LIFETIME + SLACK + Duration::seconds(1)
            ),
            Err(PresenceError::Expired)
        );
        assert_eq!(
            parsed.verify(&registered, &center, now - SLACK - Duration::seconds(1)),
            Err(PresenceError::Expired)
        );
        // Another center, another desk's key, or changed text.
        assert_eq!(
            parsed.verify(&registered, &CenterId::new("c-2"), now),
            Err(PresenceError::Foreign)
        );
        assert_eq!(
            parsed.verify(&public_key_text(&key(2)), &center, now),
            Err(PresenceError::Foreign)
        );
        let moved = shown.replacen("c-1", "c-2", 1);
        assert_eq!(
            parse(&moved)
                .expect("parses")
                .verify(&registered, &CenterId::new("c-2"), now),
            Err(PresenceError::Foreign)
        );
        for bad in [
            "",
            "GGP1.",
            "GP1.ABC",
            "GGP1.c.d.notanumber.sig",
            "GGP1.c.d.1.sig.extra",
            "GGP1.c d.d.1.AAAA",
        ] {
            assert_eq!(parse(bad), Err(PresenceError::Malformed), "{bad:?}");
        }
        assert_eq!(
            parse(&"x".repeat(MAX_CHARS + 1)),
            Err(PresenceError::Malformed)
        );
    }
}
