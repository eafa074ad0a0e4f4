//! Key rotation with overlap, for the runbooks: `rotate` puts a fresh key in
//! front of the current ones (it signs; the old ones still verify), `retire`
//! keeps only the named key once the overlap is over. Keys live in the
//! environment (or the secret store behind it); these functions only compute
//! the new value for the operator to install.

use chrono::{DateTime, Utc};
use rand::RngCore;
use shared::Keyring;

/// Which keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKind {
    /// `SIGNING_KEYS` (edge ↔ origin; install on both sides).
    Signing,
    /// `JWT_KEYS` (session cookies).
    Jwt,
    /// `AUDIT_KEYS` (hash chain; old keys must stay to verify old rows).
    Audit,
    /// `MFA_KEYS` (TOTP secrets at rest; old keys must stay to read old enrolments).
    Mfa,
}

impl KeyKind {
    /// The environment variable holding this keyring.
    pub fn variable(self) -> &'static str {
        match self {
            Self::Signing => "SIGNING_KEYS",
            Self::Jwt => "JWT_KEYS",
            Self::Audit => "AUDIT_KEYS",
            Self::Mfa => "MFA_KEYS",
        }
    }
}

/// Errors of rotation.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// `retire --keep` named a key the ring does not have.
    #[error("no key {0:?} in the current ring")]
    UnknownKey(String),
    /// Retiring audit or MFA keys would make stored data unverifiable or unreadable.
    #[error("{0} keys are never retired: rows or secrets written with them still need them")]
    MustKeep(&'static str),
}

fn spec_of<'a>(keys: impl Iterator<Item = &'a shared::SigningKey>) -> String {
    keys.map(|k| format!("{}:{}", k.id(), hex::encode(k.secret()))).collect::<Vec<_>>().join(",")
}

/// The ring with a fresh 32-byte key in front (id `<kind>-<UTC timestamp>`).
pub fn rotate(ring: &Keyring, kind: KeyKind, now: DateTime<Utc>) -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let id = format!(
        "{}-{}",
        kind.variable().trim_end_matches("_KEYS").to_ascii_lowercase(),
        now.format("%Y%m%d%H%M%S")
    );
    let fresh = format!("{id}:{}", hex::encode(secret));
    // A key minted in the same second as the current signer would clash on id: the old one goes.
    let rest = spec_of(ring.keys().iter().filter(|k| k.id() != id));
    if rest.is_empty() { fresh } else { format!("{fresh},{rest}") }
}

/// The ring reduced to `keep` once the overlap is over.
pub fn retire(ring: &Keyring, kind: KeyKind, keep: &str) -> Result<String, RotationError> {
    match kind {
        KeyKind::Audit => return Err(RotationError::MustKeep("audit")),
        KeyKind::Mfa => return Err(RotationError::MustKeep("MFA")),
        KeyKind::Signing | KeyKind::Jwt => {}
    }
    let key = ring.get(keep).ok_or_else(|| RotationError::UnknownKey(keep.to_string()))?;
    Ok(spec_of(std::iter::once(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    #[test]
    fn rotation_puts_a_fresh_signer_first_and_keeps_the_old_keys_verifying() {
        let old = ring(&format!("old:{}", "ab".repeat(32)));
        let spec = rotate(&old, KeyKind::Jwt, "2026-12-03T10:00:00Z".parse().unwrap());
        let new = ring(&spec);
        assert_eq!(new.signing_key().id(), "jwt-20261203100000");
        assert_ne!(new.signing_key().secret(), old.signing_key().secret());
        assert_eq!(new.get("old").unwrap().secret(), old.signing_key().secret());
        assert_eq!(new.keys().len(), 2);
    }

    #[test]
    fn retiring_keeps_only_the_named_key_and_never_audit_or_mfa_keys() {
        let r = ring(&format!("new:{},old:{}", "cd".repeat(32), "ab".repeat(32)));
        assert_eq!(retire(&r, KeyKind::Signing, "new").unwrap(), format!("new:{}", "cd".repeat(32)));
        assert!(matches!(retire(&r, KeyKind::Jwt, "nope"), Err(RotationError::UnknownKey(_))));
        assert!(matches!(retire(&r, KeyKind::Audit, "new"), Err(RotationError::MustKeep(_))));
        assert!(matches!(retire(&r, KeyKind::Mfa, "new"), Err(RotationError::MustKeep(_))));
    }
}
