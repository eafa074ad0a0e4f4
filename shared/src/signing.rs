//! Edge ↔ origin request signing (HMAC-SHA256).
//!
//! The signature covers the method, the request target, a timestamp, a nonce
//! and the SHA-256 of the body *as declared in a header*. Covering the declared
//! hash means a receiver can authenticate a request from its headers alone and
//! refuse it before reading a single body byte; the body is then read (with a
//! size limit) and must match the declared hash.
//!
//! Rotation: every request names its key id; a receiver accepts any key of its
//! [`Keyring`] (two during a rotation), and signs with the first one.
//! Replays inside the ±[`MAX_SKEW_SECS`] window are stopped by the receiver
//! remembering nonces (see each side's nonce store).

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Largest accepted difference between the signer's and the receiver's clocks.
pub const MAX_SKEW_SECS: i64 = 300;
/// Shortest accepted secret, in bytes (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// Header names (lower case, as HTTP/2 sends them).
pub mod header {
    /// Which key signed.
    pub const KEY_ID: &str = "x-sm-key-id";
    /// Unix seconds at signing.
    pub const TIMESTAMP: &str = "x-sm-timestamp";
    /// Random, single-use value.
    pub const NONCE: &str = "x-sm-nonce";
    /// Hex SHA-256 of the body.
    pub const CONTENT_SHA256: &str = "x-sm-content-sha256";
    /// Hex HMAC-SHA256 of the canonical string.
    pub const SIGNATURE: &str = "x-sm-signature";
}

type HmacSha256 = Hmac<Sha256>;

/// A named HMAC secret. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
    /// Keyed once; cloned per message (cheaper than re-keying).
    mac: HmacSha256,
}

/// Why a key or keyring is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The keyring has no key.
    #[error("no signing key configured")]
    Empty,
    /// An entry is not `id:hexsecret`.
    #[error("signing key entry {0} is not of the form id:hexsecret")]
    Malformed(usize),
    /// A key id with characters outside `[A-Za-z0-9_.-]` or longer than 32.
    #[error("signing key id {0:?} must be 1-32 characters of [A-Za-z0-9_.-]")]
    BadId(String),
    /// The secret is too short.
    #[error("signing key {0:?} is shorter than {MIN_SECRET_BYTES} bytes")]
    TooShort(String),
    /// The same id twice.
    #[error("signing key id {0:?} appears twice")]
    DuplicateId(String),
}

impl SigningKey {
    /// Builds a key, enforcing the id charset and the minimum secret length.
    pub fn new(id: &str, secret: Vec<u8>) -> Result<Self, KeyError> {
        let id_ok = !id.is_empty()
            && id.len() <= 32
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !id_ok {
            return Err(KeyError::BadId(id.to_string()));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::TooShort(id.to_string()));
        }
        let mac = HmacSha256::new_from_slice(&secret).map_err(|_| KeyError::TooShort(id.to_string()))?;
        Ok(Self { id: id.to_string(), secret, mac })
    }

    /// The key id sent with each signature.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw secret (for entropy checks at start-up; never log it).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

/// The keys a side accepts; the first one signs.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<SigningKey>,
}

impl Keyring {
    /// Builds a keyring from keys in preference order.
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|earlier| earlier.id == k.id) {
                return Err(KeyError::DuplicateId(k.id.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// Parses `id:hexsecret[,id:hexsecret]` (the `SIGNING_KEYS` variable on both sides).
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let keys = spec
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, entry)| {
                let (id, hex_secret) = entry.split_once(':').ok_or(KeyError::Malformed(i))?;
                let secret = hex::decode(hex_secret.trim()).map_err(|_| KeyError::Malformed(i))?;
                SigningKey::new(id.trim(), secret)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The key new signatures use.
    pub fn signing_key(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// A key by id.
    pub fn get(&self, id: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// All keys, signing key first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }
}

/// The five headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// [`header::KEY_ID`].
    pub key_id: String,
    /// [`header::TIMESTAMP`].
    pub timestamp: i64,
    /// [`header::NONCE`].
    pub nonce: String,
    /// [`header::CONTENT_SHA256`].
    pub content_sha256: String,
    /// [`header::SIGNATURE`].
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs to set on the request.
    pub fn pairs(&self) -> [(&'static str, String); 5] {
        [
            (header::KEY_ID, self.key_id.clone()),
            (header::TIMESTAMP, self.timestamp.to_string()),
            (header::NONCE, self.nonce.clone()),
            (header::CONTENT_SHA256, self.content_sha256.clone()),
            (header::SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Why a signed request is refused. Deliberately coarse towards the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A signature header is absent.
    #[error("missing signature header {0}")]
    Missing(&'static str),
    /// A signature header is not of its form.
    #[error("malformed signature header {0}")]
    Malformed(&'static str),
    /// The key id is not in the keyring.
    #[error("unknown signing key")]
    UnknownKey,
    /// Timestamp outside ±[`MAX_SKEW_SECS`].
    #[error("signature timestamp outside the allowed skew")]
    Stale,
    /// The HMAC does not match.
    #[error("signature mismatch")]
    Mismatch,
    /// The body's hash differs from the signed one.
    #[error("body does not match the signed content hash")]
    BodyMismatch,
    /// The nonce was seen before.
    #[error("replayed request")]
    Replayed,
}

/// Hex SHA-256 of `body`.
pub fn body_sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn canonical(method: &str, target: &str, timestamp: i64, nonce: &str, content_sha256: &str) -> String {
    format!(
        "SM-HMAC-SHA256\n{}\n{target}\n{timestamp}\n{nonce}\n{content_sha256}",
        method.to_ascii_uppercase()
    )
}

/// Signs a request. `target` is the path plus query exactly as sent; `nonce`
/// must be fresh random (16+ bytes, hex) for every request.
pub fn sign(
    key: &SigningKey,
    method: &str,
    target: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> SignedHeaders {
    let content_sha256 = body_sha256_hex(body);
    let mut mac = key.mac();
    mac.update(canonical(method, target, timestamp, nonce, &content_sha256).as_bytes());
    SignedHeaders {
        key_id: key.id.clone(),
        timestamp,
        nonce: nonce.to_string(),
        content_sha256,
        signature: hex::encode(mac.finalize().into_bytes()),
    }
}

/// A request whose headers carry a valid signature; the body is still to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHeaders {
    /// The key that signed.
    pub key_id: String,
    /// The nonce, for the receiver's replay store.
    pub nonce: String,
    /// Signing time, Unix seconds.
    pub timestamp: i64,
    content_sha256: [u8; 32],
}

impl VerifiedHeaders {
    /// Checks the body against the signed hash.
    pub fn check_body(&self, body: &[u8]) -> Result<(), SignatureError> {
        let actual: [u8; 32] = Sha256::digest(body).into();
        if actual == self.content_sha256 { Ok(()) } else { Err(SignatureError::BodyMismatch) }
    }
}

/// Verifies the signature headers of a request (not its body: see [`VerifiedHeaders::check_body`]).
///
/// `header` looks up a header by lower-case name. `now` is Unix seconds.
pub fn verify_headers<'h>(
    keyring: &Keyring,
    method: &str,
    target: &str,
    header: impl Fn(&str) -> Option<&'h str>,
    now: i64,
) -> Result<VerifiedHeaders, SignatureError> {
    let get = |name: &'static str| header(name).map(str::trim).ok_or(SignatureError::Missing(name));
    let key_id = get(header::KEY_ID)?;
    let timestamp_raw = get(header::TIMESTAMP)?;
    let nonce = get(header::NONCE)?;
    let content_hex = get(header::CONTENT_SHA256)?;
    let signature_hex = get(header::SIGNATURE)?;

    let timestamp: i64 = (timestamp_raw.len() <= 12)
        .then(|| timestamp_raw.parse().ok())
        .flatten()
        .ok_or(SignatureError::Malformed(header::TIMESTAMP))?;
    if !(16..=128).contains(&nonce.len())
        || !nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(SignatureError::Malformed(header::NONCE));
    }
    let mut content_sha256 = [0u8; 32];
    hex::decode_to_slice(content_hex, &mut content_sha256)
        .map_err(|_| SignatureError::Malformed(header::CONTENT_SHA256))?;
    let mut signature = [0u8; 32];
    hex::decode_to_slice(signature_hex, &mut signature)
        .map_err(|_| SignatureError::Malformed(header::SIGNATURE))?;

    let key = keyring.get(key_id).ok_or(SignatureError::UnknownKey)?;
    if (now - timestamp).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let mut mac = key.mac();
    mac.update(canonical(method, target, timestamp, nonce, &content_hex.to_ascii_lowercase()).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature).map_err(|_| SignatureError::Mismatch)?;

    Ok(VerifiedHeaders { key_id: key.id.clone(), nonce: nonce.to_string(), timestamp, content_sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const NOW: i64 = 1_780_000_000;
    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    fn key(id: &str, byte: u8) -> SigningKey {
        SigningKey::new(id, vec![byte; 32]).unwrap()
    }

    fn headers_of(s: &SignedHeaders) -> HashMap<&'static str, String> {
        s.pairs().into_iter().collect()
    }

    fn verify_map(
        ring: &Keyring,
        method: &str,
        target: &str,
        h: &HashMap<&'static str, String>,
        now: i64,
    ) -> Result<VerifiedHeaders, SignatureError> {
        verify_headers(ring, method, target, |n| h.get(n).map(String::as_str), now)
    }

    #[test]
    fn round_trip_with_body_check() {
        let ring = Keyring::new(vec![key("k1", 1)]).unwrap();
        let s = sign(ring.signing_key(), "post", "/internal/v1/taps", NOW, NONCE, b"{\"taps\":[]}");
        let v = verify_map(&ring, "POST", "/internal/v1/taps", &headers_of(&s), NOW + 10).unwrap();
        assert_eq!(v.key_id, "k1");
        assert_eq!(v.check_body(b"{\"taps\":[]}"), Ok(()));
        assert_eq!(v.check_body(b"{\"taps\":[1]}"), Err(SignatureError::BodyMismatch));
    }

    /// Known-answer vector computed with Python's `hmac`/`hashlib`, so the
    /// scheme is pinned independently of this implementation.
    #[test]
    fn known_answer_vector() {
        let k = SigningKey::new("k", vec![7; 32]).unwrap();
        let s = sign(&k, "POST", "/internal/v1/taps", NOW, NONCE, b"{\"taps\":[]}");
        assert_eq!(s.content_sha256, "dddbcdef320b1c3ccfd75afed3149f3c2311e5384fbd6a0cb286c8488675bbaf");
        assert_eq!(s.signature, "70a8e628eae7fefda85f48dc3e20b5f426eb43774c6a1ea3f5a2fef5a40cea99");
    }

    #[test]
    fn any_key_of_the_ring_verifies_during_rotation() {
        let old = key("old", 1);
        let new = key("new", 2);
        let ring = Keyring::new(vec![new.clone(), old.clone()]).unwrap();
        for k in [&old, &new] {
            let s = sign(k, "GET", "/x", NOW, NONCE, b"");
            assert!(verify_map(&ring, "GET", "/x", &headers_of(&s), NOW).is_ok());
        }
        let only_new = Keyring::new(vec![new]).unwrap();
        let s = sign(&old, "GET", "/x", NOW, NONCE, b"");
        assert_eq!(verify_map(&only_new, "GET", "/x", &headers_of(&s), NOW), Err(SignatureError::UnknownKey));
    }

    #[test]
    fn every_signed_part_matters() {
        let ring = Keyring::new(vec![key("k1", 1)]).unwrap();
        let s = sign(ring.signing_key(), "POST", "/a", NOW, NONCE, b"body");
        let h = headers_of(&s);
        assert_eq!(verify_map(&ring, "PUT", "/a", &h, NOW), Err(SignatureError::Mismatch));
        assert_eq!(verify_map(&ring, "POST", "/b", &h, NOW), Err(SignatureError::Mismatch));
        for (name, value) in [
            (header::TIMESTAMP, (NOW + 1).to_string()),
            (header::NONCE, "ffffffffffffffffffffffffffffffff".to_string()),
            (header::CONTENT_SHA256, body_sha256_hex(b"other")),
        ] {
            let mut t = h.clone();
            t.insert(name, value);
            assert_eq!(verify_map(&ring, "POST", "/a", &t, NOW), Err(SignatureError::Mismatch), "{name}");
        }
        // Same id, different secret: a wrong key.
        let imposter = Keyring::new(vec![key("k1", 9)]).unwrap();
        assert_eq!(verify_map(&imposter, "POST", "/a", &h, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn skew_boundaries() {
        let ring = Keyring::new(vec![key("k1", 1)]).unwrap();
        let s = sign(ring.signing_key(), "GET", "/x", NOW, NONCE, b"");
        let h = headers_of(&s);
        assert!(verify_map(&ring, "GET", "/x", &h, NOW + MAX_SKEW_SECS).is_ok());
        assert!(verify_map(&ring, "GET", "/x", &h, NOW - MAX_SKEW_SECS).is_ok());
        assert_eq!(verify_map(&ring, "GET", "/x", &h, NOW + MAX_SKEW_SECS + 1), Err(SignatureError::Stale));
        assert_eq!(verify_map(&ring, "GET", "/x", &h, NOW - MAX_SKEW_SECS - 1), Err(SignatureError::Stale));
    }

    #[test]
    fn malformed_and_missing_headers() {
        let ring = Keyring::new(vec![key("k1", 1)]).unwrap();
        let h = headers_of(&sign(ring.signing_key(), "GET", "/x", NOW, NONCE, b""));
        for name in
            [header::KEY_ID, header::TIMESTAMP, header::NONCE, header::CONTENT_SHA256, header::SIGNATURE]
        {
            let mut t = h.clone();
            t.remove(name);
            assert_eq!(verify_map(&ring, "GET", "/x", &t, NOW), Err(SignatureError::Missing(name)));
        }
        for (name, value) in [
            (header::TIMESTAMP, "soon"),
            (header::TIMESTAMP, "99999999999999999999"),
            (header::NONCE, "short"),
            (header::NONCE, "has spaces in it, 123456"),
            (header::CONTENT_SHA256, "zz"),
            (header::SIGNATURE, "abcd"),
        ] {
            let mut t = h.clone();
            t.insert(name, value.to_string());
            assert_eq!(
                verify_map(&ring, "GET", "/x", &t, NOW),
                Err(SignatureError::Malformed(name)),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn keyring_parsing_and_redaction() {
        let spec = format!("new:{}, old:{}", "ab".repeat(32), "cd".repeat(32));
        let ring = Keyring::parse(&spec).unwrap();
        assert_eq!(ring.signing_key().id(), "new");
        assert!(ring.get("old").is_some());
        assert!(!format!("{ring:?}").contains("abab"));
        assert_eq!(Keyring::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(Keyring::parse("k1").unwrap_err(), KeyError::Malformed(0));
        assert_eq!(Keyring::parse("k1:abcd").unwrap_err(), KeyError::TooShort("k1".into()));
        assert_eq!(
            Keyring::parse(&format!("b@d:{}", "ab".repeat(32))).unwrap_err(),
            KeyError::BadId("b@d".into())
        );
        assert_eq!(
            Keyring::parse(&format!("a:{0},a:{0}", "ab".repeat(32))).unwrap_err(),
            KeyError::DuplicateId("a".into())
        );
    }
}
