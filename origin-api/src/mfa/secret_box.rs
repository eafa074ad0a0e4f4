//! TOTP secrets at rest: AES-256-GCM under a key from `MFA_KEYS`, stored with
//! the key id so a rotation (new key first, old key kept) keeps every
//! existing enrolment working. The user id is bound as associated data, so a
//! ciphertext copied to another user's row does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use shared::Keyring;
use uuid::Uuid;

/// An encrypted secret.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// Which key sealed it.
    pub key_id: String,
    /// 96-bit nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext with tag.
    pub ciphertext: Vec<u8>,
}

/// Why a secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    /// The key id is not configured any more.
    #[error("MFA key {0:?} is not configured")]
    UnknownKey(String),
    /// Wrong key, tampered data, or another user's row.
    #[error("cannot decrypt the MFA secret")]
    Undecryptable,
}

fn cipher(secret: &[u8]) -> Result<Aes256Gcm, SecretBoxError> {
    Aes256Gcm::new_from_slice(secret).map_err(|_| SecretBoxError::Undecryptable)
}

/// Encrypts `secret` for `user` with the keyring's first key.
pub fn seal(keys: &Keyring, user: Uuid, secret: &[u8]) -> Result<Sealed, SecretBoxError> {
    let key = keys.signing_key();
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = cipher(key.secret())?
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad: user.as_bytes() })
        .map_err(|_| SecretBoxError::Undecryptable)?;
    Ok(Sealed { key_id: key.id().to_string(), nonce: nonce.to_vec(), ciphertext })
}

/// Decrypts a sealed secret of `user`.
pub fn open(keys: &Keyring, user: Uuid, sealed: &Sealed) -> Result<Vec<u8>, SecretBoxError> {
    let key = keys.get(&sealed.key_id).ok_or_else(|| SecretBoxError::UnknownKey(sealed.key_id.clone()))?;
    if sealed.nonce.len() != 12 {
        return Err(SecretBoxError::Undecryptable);
    }
    cipher(key.secret())?
        .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: user.as_bytes() })
        .map_err(|_| SecretBoxError::Undecryptable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> Keyring {
        let expanded: Vec<String> = spec
            .split(',')
            .map(|k| k.split_once(':').map(|(id, b)| format!("{id}:{}", b.repeat(32))).unwrap())
            .collect();
        Keyring::parse(&expanded.join(",")).unwrap()
    }
    // Key specs in shorthand (`id:hh` = that byte 32 times), so no key-looking literal is committed.
    const OLD: &str = "old:1f";
    const NEW: &str = "new:a1";

    #[test]
    fn round_trip_rotation_and_binding() {
        let user = Uuid::now_v7();
        let sealed = seal(&ring(OLD), user, b"twenty byte secret!!").unwrap();
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"twenty"), "ciphertext hides the secret");
        assert_eq!(open(&ring(OLD), user, &sealed).unwrap(), b"twenty byte secret!!");
        // After a rotation the old key still opens old secrets; new ones use the new key.
        let rotated = ring(&format!("{NEW},{OLD}"));
        assert_eq!(open(&rotated, user, &sealed).unwrap(), b"twenty byte secret!!");
        assert_eq!(seal(&rotated, user, b"x").unwrap().key_id, "new");
        assert!(matches!(open(&ring(NEW), user, &sealed), Err(SecretBoxError::UnknownKey(_))));
        // Bound to the user.
        assert!(open(&ring(OLD), Uuid::now_v7(), &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(open(&ring(OLD), user, &tampered).is_err());
    }
}
