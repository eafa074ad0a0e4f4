//! Password hashing: Argon2id with OWASP's parameters (19 MiB, t=2, p=1),
//! computed on the blocking pool so a login never stalls the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

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

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (PHC string).
pub async fn hash(password: SecretString) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || {
        let mut salt_bytes = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt_bytes);
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| HashError::Hash)?;
        argon2()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| HashError::Hash)
    })
    .await
    .map_err(|_| HashError::Join)?
}

/// Checks a password against an Argon2 PHC hash; false on any mismatch or malformed hash.
pub async fn verify_argon2(password: SecretString, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|parsed| argon2().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}
