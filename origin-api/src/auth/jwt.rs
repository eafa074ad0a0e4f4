//! Session tokens: short-lived HS256 JWTs (jwt-compact) naming a server-side
//! session. The `kid` header picks the key; during a rotation two keys verify.
//! Only HS256 is accepted (`alg: none` or any other algorithm is refused
//! before the signature is even looked at), and `exp` and `nbf` are required.

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

    /// Checks a token at `now`; returns its claims and when it was issued.
    pub fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(SessionClaims, DateTime<Utc>), JwtError> {
        let untrusted = UntrustedToken::new(token).map_err(|_| JwtError::Malformed)?;
        let kid = untrusted.header().key_id.as_deref().ok_or(JwtError::UnknownKey)?;
        let key = self.ring.get(kid).ok_or(JwtError::UnknownKey)?;
        let verifying_key = Hs256Key::new(key.secret());
        let token = Hs256
            .validator::<SessionClaims>(&verifying_key)
            .validate(&untrusted)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        let options = TimeOptions::new(Duration::zero(), move || now);
        let claims = token.claims();
        claims.validate_expiration(&options).map_err(|_| JwtError::Expired)?;
        claims.validate_maturity(&options).map_err(|_| JwtError::Expired)?;
        if claims.not_before.is_none() {
            return Err(JwtError::Invalid("nbf is required".into()));
        }
        Ok((claims.custom, claims.issued_at.unwrap_or(now)))
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

    fn claims() -> SessionClaims {
        SessionClaims { sid: Uuid::from_u128(1), sub: Uuid::from_u128(2) }
    }

    #[test]
    fn round_trip_and_rotation() {
        let now = Utc::now();
        let t = keys(A).issue(claims(), now);
        assert_eq!(keys(A).verify(&t, now).unwrap().0, claims());
        // During a rotation the old key still verifies.
        assert_eq!(keys(&format!("{B},{A}")).verify(&t, now).unwrap().0, claims());
        assert!(matches!(keys(B).verify(&t, now), Err(JwtError::UnknownKey)));
    }

    #[test]
    fn time_bounds() {
        let now = Utc::now();
        let t = keys(A).issue(claims(), now);
        assert!(keys(A).verify(&t, now + Duration::minutes(TTL_MINUTES) - Duration::seconds(1)).is_ok());
        assert!(matches!(
            keys(A).verify(&t, now + Duration::minutes(TTL_MINUTES) + Duration::seconds(1)),
            Err(JwtError::Expired)
        ));
        assert!(matches!(keys(A).verify(&t, now - Duration::seconds(5)), Err(JwtError::Expired)));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let now = Utc::now();
        let t = keys(A).issue(claims(), now);
        let parts: Vec<&str> = t.split('.').collect();
        // alg: none
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"a"}"#);
        assert!(keys(A).verify(&format!("{none_header}.{}.", parts[1]), now).is_err());
        // Another algorithm with the same key id.
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","kid":"a"}"#);
        assert!(keys(A).verify(&format!("{hs512}.{}.{}", parts[1], parts[2]), now).is_err());
        // Tampered claims.
        let forged = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sid":"{}","sub":"{}","exp":9999999999,"nbf":0}}"#,
            Uuid::from_u128(9),
            Uuid::from_u128(9)
        ));
        assert!(keys(A).verify(&format!("{}.{forged}.{}", parts[0], parts[2]), now).is_err());
        // Same key id, different secret.
        let imposter = keys("a:33").issue(claims(), now);
        assert!(keys(A).verify(&imposter, now).is_err());
        assert!(matches!(keys(A).verify("garbage", now), Err(JwtError::Malformed)));
    }
}
