//! Session tokens: short-lived HS256 JWTs (jwt-compact) naming a server-side
//! session. The `kid` header picks the key; during a rotation two keys verify.
//! Only HS256 is accepted (`alg: none` or any other algorithm is refused
//! before the signature is even looked at), and `exp` and `nbf` are required.
//!
//! A token outlives its `exp` only as far as the caller allows: the session
//! layer takes one expired within the idle timeout as a request to renew, and
//! renews it only when the server-side session is still live. So the short
//! token life bounds a leaked token, not how long an idle user stays signed in.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken};
use serde::{Deserialize, Serialize};
use shared::Keyring;
use uuid::Uuid;

/// How long a token is valid.
pub const TTL_MINUTES: i64 = 15;

/// What a session token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The session (row in `sessions`).
    pub sid: Uuid,
    /// The user.
    pub sub: Uuid,
}

/// Why a token is refused (logged, never shown to the client).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// Not a JWT.
    #[error("malformed token")]
    Malformed,
    /// No `kid`, or one not in the keyring.
    #[error("unknown key id")]
    UnknownKey,
    /// Wrong algorithm, signature or claims.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `exp` passed, or `nbf` not reached.
    #[error("token expired or not yet valid")]
    Expired,
}

/// A token that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// What it says.
    pub claims: SessionClaims,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// Its `exp` has passed (within the grace the caller allowed): it is good
    /// only for renewing a session the server still holds live.
    pub expired: bool,
}

/// Issues and checks session tokens.
#[derive(Clone, Debug)]
pub struct JwtKeys {
    ring: Keyring,
}

impl JwtKeys {
    /// Keys from `JWT_KEYS` (first signs).
    pub fn new(ring: Keyring) -> Self {
        Self { ring }
    }

    /// A token for `claims`, valid from `now` for [`TTL_MINUTES`].
    pub fn issue(&self, claims: SessionClaims, now: DateTime<Utc>) -> String {
        let key = self.ring.signing_key();
        let header = Header::empty().with_key_id(key.id());
        let mut claims = Claims::new(claims);
        claims.issued_at = Some(now);
        claims.not_before = Some(now);
        claims.expiration = Some(now + Duration::minutes(TTL_MINUTES));
        // HS256 over a 32-byte key cannot fail to sign.
        Hs256.token(&header, &claims, &Hs256Key::new(key.secret())).unwrap_or_default()
    }

    /// Checks a token at `now`. One whose `exp` passed no more than `grace`
    /// ago is accepted, marked expired; `nbf` gets no grace at all.
    pub fn verify(&self, token: &str, now: DateTime<Utc>, grace: Duration) -> Result<Verified, JwtError> {
        let untrusted = UntrustedToken::new(token).map_err(|_| JwtError::Malformed)?;
        let kid = untrusted.header().key_id.as_deref().ok_or(JwtError::UnknownKey)?;
        let key = self.ring.get(kid).ok_or(JwtError::UnknownKey)?;
        let verifying_key = Hs256Key::new(key.secret());
        let token = Hs256
            .validator::<SessionClaims>(&verifying_key)
            .validate(&untrusted)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        let strict = TimeOptions::new(Duration::zero(), move || now);
        let claims = token.claims();
        claims
            .validate_expiration(&TimeOptions::new(grace.max(Duration::zero()), move || now))
            .map_err(|_| JwtError::Expired)?;
        let expired = claims.validate_expiration(&strict).is_err();
        claims.validate_maturity(&strict).map_err(|_| JwtError::Expired)?;
        if claims.not_before.is_none() {
            return Err(JwtError::Invalid("nbf is required".into()));
        }
        Ok(Verified { claims: claims.custom, issued_at: claims.issued_at.unwrap_or(now), expired })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys(spec: &str) -> JwtKeys {
        JwtKeys::new(Keyring::parse(&expand(spec)).unwrap())
    }

    // Key specs in shorthand (`id:hh` = that byte 32 times), so no key-looking literal is committed.
    const A: &str = "a:11";

    fn expand(spec: &str) -> String {
        spec.split(',')
            .map(|k| k.split_once(':').map(|(id, b)| format!("{id}:{}", b.repeat(32))).unwrap())
            .collect::<Vec<_>>()
            .join(",")
    }
    const B: &str = "b:22";

    const NO_GRACE: Duration = Duration::zero();

    fn claims() -> SessionClaims {
        SessionClaims { sid: Uuid::from_u128(1), sub: Uuid::from_u128(2) }
    }

    #[test]
    fn round_trip_and_rotation() {
        let now = Utc::now();
        let t = keys(A).issue(claims(), now);
        assert_eq!(keys(A).verify(&t, now, NO_GRACE).unwrap().claims, claims());
        // During a rotation the old key still verifies.
        assert_eq!(keys(&format!("{B},{A}")).verify(&t, now, NO_GRACE).unwrap().claims, claims());
        assert!(matches!(keys(B).verify(&t, now, NO_GRACE), Err(JwtError::UnknownKey)));
    }

    #[test]
    fn time_bounds() {
        // Whole seconds, as the token has them, so the edges below are exact.
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let t = keys(A).issue(claims(), now);
        let exp = now + Duration::minutes(TTL_MINUTES);
        let fresh = keys(A).verify(&t, exp - Duration::seconds(1), NO_GRACE).unwrap();
        assert_eq!((fresh.issued_at, fresh.expired), (now, false));
        assert!(!keys(A).verify(&t, exp, NO_GRACE).unwrap().expired);
        assert!(matches!(keys(A).verify(&t, exp + Duration::seconds(1), NO_GRACE), Err(JwtError::Expired)));
        assert!(matches!(keys(A).verify(&t, now - Duration::seconds(5), NO_GRACE), Err(JwtError::Expired)));
        // Within the grace an expired token is accepted, marked expired; beyond it, refused.
        let grace = Duration::minutes(30);
        assert!(keys(A).verify(&t, exp + Duration::seconds(1), grace).unwrap().expired);
        assert!(keys(A).verify(&t, exp + grace, grace).unwrap().expired);
        assert!(matches!(
            keys(A).verify(&t, exp + grace + Duration::seconds(1), grace),
            Err(JwtError::Expired)
        ));
        // The grace never stretches `nbf`.
        assert!(matches!(keys(A).verify(&t, now - Duration::seconds(5), grace), Err(JwtError::Expired)));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let now = Utc::now();
        let t = keys(A).issue(claims(), now);
        let parts: Vec<&str> = t.split('.').collect();
        // alg: none
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"a"}"#);
        assert!(keys(A).verify(&format!("{none_header}.{}.", parts[1]), now, NO_GRACE).is_err());
        // Another algorithm with the same key id.
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","kid":"a"}"#);
        assert!(keys(A).verify(&format!("{hs512}.{}.{}", parts[1], parts[2]), now, NO_GRACE).is_err());
        // Tampered claims.
        let forged = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sid":"{}","sub":"{}","exp":9999999999,"nbf":0}}"#,
            Uuid::from_u128(9),
            Uuid::from_u128(9)
        ));
        assert!(keys(A).verify(&format!("{}.{forged}.{}", parts[0], parts[2]), now, NO_GRACE).is_err());
        // Same key id, different secret.
        let imposter = keys("a:33").issue(claims(), now);
        assert!(keys(A).verify(&imposter, now, NO_GRACE).is_err());
        assert!(matches!(keys(A).verify("garbage", now, NO_GRACE), Err(JwtError::Malformed)));
    }
}
