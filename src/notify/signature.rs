//! Webhook signatures: HMAC-SHA256 with the partner's shared secret over
//! `<timestamp>.<body>`, sent as `Kinship-Signature: t=<unix seconds>,v1=<hex>`.
//!
//! A partner recomputes the HMAC over the timestamp it was given, a full stop and the raw body,
//! compares in constant time, and rejects a timestamp more than a few minutes old (so a
//! captured request cannot be replayed later). `Kinship-Delivery` is the same on every attempt
//! of one delivery: a partner that has seen it acknowledges again and does nothing.
//!
//! Why HMAC rather than Ed25519 (which the hub already links for log checkpoints): every
//! webhook platform partners already verify (GitHub, Stripe) uses a shared-secret HMAC, a
//! secret can be issued and rotated per partner in the config file, and one leaked secret
//! exposes one partner, not every partner.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "kinship-signature";
/// The header carrying the delivery id, stable across attempts.
pub const DELIVERY_HEADER: &str = "kinship-delivery";
/// The header naming the kind of notification.
pub const EVENT_HEADER: &str = "kinship-event";

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Kinship-Signature` value for a body sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a `Kinship-Signature` value against a body, as a partner would: the signature must
/// match and its timestamp lie within `tolerance_seconds` of `now`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_seconds: i64) -> bool {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => tags.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now - t).abs() > tolerance_seconds {
        return false;
    }
    tags.iter()
        .any(|tag| mac(secret, t, body).verify_slice(tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_secret_or_old_timestamp_does_not() {
        let secret = b"a-partner-secret-of-at-least-32-bytes!";
        let header = sign(secret, 1_764_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1764000000,v1="));
        assert!(verify(secret, &header, b"{\"a\":1}", 1_764_000_060, 300));
        assert!(!verify(secret, &header, b"{\"a\":2}", 1_764_000_060, 300));
        assert!(!verify(
            b"another-secret-of-at-least-32-bytes!!",
            &header,
            b"{\"a\":1}",
            1_764_000_060,
            300
        ));
        assert!(!verify(secret, &header, b"{\"a\":1}", 1_764_001_000, 300));
        assert!(!verify(secret, "v1=00", b"{\"a\":1}", 1_764_000_000, 300));
    }
}
