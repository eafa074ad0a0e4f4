//! Signing keys and signed requests, as the origin and the edge make them.

use rand::RngCore;
use shared::Keyring;
use shared::signing::{SignedHeaders, sign};

/// A fresh `id:hex64` key spec.
pub fn random_key_spec(id: &str) -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    format!("{id}:{}", hex::encode(secret))
}

/// Parses a key spec.
pub fn keyring(spec: &str) -> Keyring {
    Keyring::parse(spec).expect("valid key spec")
}

/// A fresh nonce.
pub fn nonce() -> String {
    let mut n = [0u8; 16];
    rand::rng().fill_bytes(&mut n);
    hex::encode(n)
}

/// Signs with the keyring's signing key at `timestamp`.
pub fn sign_at(ring: &Keyring, method: &str, target: &str, body: &[u8], timestamp: i64) -> SignedHeaders {
    sign(ring.signing_key(), method, target, timestamp, &nonce(), body)
}

/// Signs now.
pub fn sign_now(ring: &Keyring, method: &str, target: &str, body: &[u8]) -> SignedHeaders {
    sign_at(ring, method, target, body, crate::unix_now())
}

/// Adds signature headers to a request builder.
pub fn apply(mut req: reqwest::RequestBuilder, signed: &SignedHeaders) -> reqwest::RequestBuilder {
    for (name, value) in signed.pairs() {
        req = req.header(name, value);
    }
    req
}
