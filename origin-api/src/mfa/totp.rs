//! TOTP codes: RFC 6238 with SHA-1, 6 digits, 30-second steps, ±1 step of
//! drift, via `totp-rs` (constant-time comparison). A code is accepted only
//! for a step later than the last one used, so neither the same code nor an
//! older one can be replayed.

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Totp};

/// Secret length: 160 bits (RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Issuer shown in authenticator apps.
pub const ISSUER: &str = "SparkMotion";

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .ok()
}

/// The `otpauth://` URI an authenticator app scans.
pub fn provisioning_uri(secret: &[u8], account: &str) -> Option<String> {
    totp(secret, account)?.to_url().ok()
}

/// The secret in base32, for typing in by hand.
pub fn base32(secret: &[u8]) -> String {
    totp_rs::Secret::from(secret.to_vec()).to_base32()
}

/// The step `code` belongs to at `unix_time` (±1 step), if valid and later than `last_used_step`.
pub fn accept(secret: &[u8], code: &str, unix_time: i64, last_used_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) || unix_time < 0 {
        return None;
    }
    let step = totp(secret, "check")?.check(&code, unix_time as u64)?;
    let step = i64::try_from(step).ok()?;
    (step > last_used_step).then_some(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 key "12345678901234567890" (8-digit vectors, last 6 digits).
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in
            [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")]
        {
            assert_eq!(accept(secret, code, time, 0), Some(time / 30), "t={time}");
        }
    }

    #[test]
    fn drift_and_replay() {
        let secret = new_secret();
        let t = 1_800_000_000i64;
        let code = |at: i64| totp(&secret, "x").unwrap().generate(at as u64).to_string();
        let step = t / 30;
        assert_eq!(accept(&secret, &code(t - 30), t, 0), Some(step - 1), "one step behind");
        assert_eq!(accept(&secret, &code(t + 30), t, 0), Some(step + 1), "one step ahead");
        assert_eq!(accept(&secret, &code(t - 60), t, 0), None, "two behind");
        assert_eq!(accept(&secret, &code(t + 60), t, 0), None, "two ahead");
        assert_eq!(accept(&secret, &code(t), t, step), None, "same step again");
        assert_eq!(accept(&secret, &code(t - 30), t, step), None, "an older step");
        assert_eq!(accept(&secret, "12345", t, 0), None);
        assert_eq!(accept(&secret, "abcdef", t, 0), None);
    }
}
