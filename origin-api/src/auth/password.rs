//! Password hashing: Argon2id with OWASP's parameters (19 MiB, t=2, p=1) for
//! every new hash; bcrypt hashes from the previous system still verify (and
//! are upgraded by the caller after a successful login). All of it runs on
//! the blocking pool so a login never stalls the async runtime.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Highest bcrypt cost accepted from the previous system (higher would be a DoS lever).
pub const MAX_BCRYPT_COST: u32 = 14;

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The hasher failed (should not happen with valid parameters).
    #[error("password hashing failed")]
    Hash,
    /// The blocking task was lost.
    #[error("password hashing task failed")]
    Join,
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or unusable hash).
    No,
    /// Right password, hash is current.
    Yes,
    /// Right password, but the hash is a legacy scheme: re-hash it now.
    YesRehash,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, HashError> {
    let mut salt_bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| HashError::Hash)?;
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|_| HashError::Hash)
}

/// A hash of a random secret, verified against when the account does not
/// exist, so unknown accounts cost the same time as known ones.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    hash_blocking(&hex::encode(secret)).unwrap_or_default()
});

/// Hashes a password with Argon2id (PHC string).
pub async fn hash(password: SecretString) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret()))
        .await
        .map_err(|_| HashError::Join)?
}

/// Checks `password` against `stored` (Argon2 PHC or bcrypt `$2a/$2b/$2y`).
/// With `stored == None` (no such account) it does the same work against a
/// dummy hash and answers `No`.
pub async fn verify(password: SecretString, stored: Option<String>) -> Verified {
    tokio::task::spawn_blocking(move || {
        let password = password.expose_secret();
        let Some(stored) = stored else {
            let _ = verify_argon2(password, &DUMMY_HASH);
            return Verified::No;
        };
        if stored.starts_with("$argon2") {
            if verify_argon2(password, &stored) { Verified::Yes } else { Verified::No }
        } else if is_bcrypt(&stored) {
            // No silent truncation: bcrypt ignores bytes past 72, so a longer
            // password cannot match a bcrypt hash (it was never accepted there).
            if password.len() <= 72 && bcrypt::verify(password, &stored).unwrap_or(false) {
                Verified::YesRehash
            } else {
                Verified::No
            }
        } else {
            let _ = verify_argon2(password, &DUMMY_HASH);
            Verified::No
        }
    })
    .await
    .unwrap_or(Verified::No)
}

fn verify_argon2(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A bcrypt hash of a supported variant and cost.
fn is_bcrypt(stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some(""), Some(variant), Some(cost)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    matches!(variant, "2a" | "2b" | "2y")
        && cost.parse::<u32>().is_ok_and(|c| (4..=MAX_BCRYPT_COST).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[tokio::test]
    async fn argon2_round_trip() {
        let h = hash(secret("correct horse battery staple")).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(verify(secret("correct horse battery staple"), Some(h.clone())).await, Verified::Yes);
        assert_eq!(verify(secret("wrong"), Some(h)).await, Verified::No);
    }

    #[tokio::test]
    async fn legacy_bcrypt_verifies_and_asks_for_a_rehash() {
        for variant in ["2a", "2b", "2y"] {
            let h =
                bcrypt::hash_with_result("legacy-password-1", 4).unwrap().format_for_version(match variant {
                    "2a" => bcrypt::Version::TwoA,
                    "2b" => bcrypt::Version::TwoB,
                    _ => bcrypt::Version::TwoY,
                });
            assert_eq!(
                verify(secret("legacy-password-1"), Some(h.clone())).await,
                Verified::YesRehash,
                "{variant}"
            );
            assert_eq!(verify(secret("legacy-password-2"), Some(h)).await, Verified::No);
        }
        let too_costly = bcrypt::hash("x", 4).unwrap().replacen("$04$", "$15$", 1);
        assert_eq!(verify(secret("x"), Some(too_costly)).await, Verified::No);
    }

    #[tokio::test]
    async fn no_truncation_past_72_bytes() {
        let long = "a".repeat(80);
        let h = bcrypt::hash(&long, 4).unwrap();
        assert_eq!(verify(secret(&long), Some(h.clone())).await, Verified::No);
        assert_eq!(verify(secret(&long[..72]), Some(h)).await, Verified::YesRehash);
    }

    #[tokio::test]
    async fn unknown_accounts_and_garbage_hashes_are_refused() {
        assert_eq!(verify(secret("anything"), None).await, Verified::No);
        assert_eq!(verify(secret("anything"), Some("plaintext".into())).await, Verified::No);
        assert_eq!(verify(secret("anything"), Some("$1$md5$".into())).await, Verified::No);
    }
}
