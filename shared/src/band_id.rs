//! The wristband identifier.
//!
//! **Case rule: band ids are case-insensitive and stored in upper case.**
//! Ids are printed on bands, read aloud to support staff and typed into CSV
//! files by hand, and some NFC writer apps change case. Two bands that differ
//! only in case would be indistinguishable to people and an easy way to
//! impersonate another organisation's band, so `demo0001` and `DEMO0001` are
//! the same band, and the canonical (KV key, database) form is upper case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shortest accepted band id, in characters.
pub const MIN_LEN: usize = 4;
/// Longest accepted band id, in characters.
pub const MAX_LEN: usize = 32;

/// A valid, canonical (upper-case) band id: 4–32 characters of `[A-Za-z0-9_-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BandId(Box<str>);

/// Why a string is not a band id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BandIdError {
    /// Fewer than [`MIN_LEN`] characters.
    #[error("band id is too short (at least {MIN_LEN} characters)")]
    TooShort,
    /// More than [`MAX_LEN`] characters.
    #[error("band id is too long (at most {MAX_LEN} characters)")]
    TooLong,
    /// A character outside `[A-Za-z0-9_-]`.
    #[error("band id may only contain letters, digits, '_' and '-'")]
    InvalidCharacter,
}

impl BandId {
    /// Parses and canonicalises a band id.
    pub fn parse(raw: &str) -> Result<Self, BandIdError> {
        // Byte length equals character length once every byte is ASCII, so the
        // length checks below are exact for anything that passes the charset.
        let bytes = raw.as_bytes();
        if !bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-') {
            return Err(BandIdError::InvalidCharacter);
        }
        if bytes.len() < MIN_LEN {
            return Err(BandIdError::TooShort);
        }
        if bytes.len() > MAX_LEN {
            return Err(BandIdError::TooLong);
        }
        Ok(Self(raw.to_ascii_uppercase().into_boxed_str()))
    }

    /// The canonical form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The KV key holding this band's [`crate::BandRecord`].
    pub fn kv_key(&self) -> String {
        format!("{}{}", crate::records::BAND_KEY_PREFIX, self.0)
    }
}

impl FromStr for BandId {
    type Err = BandIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for BandId {
    type Error = BandIdError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl AsRef<str> for BandId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BandId({})", self.0)
    }
}

impl Serialize for BandId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for BandId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_boundaries_and_canonicalises_case() {
        assert_eq!(BandId::parse("ab_-").unwrap().as_str(), "AB_-");
        assert_eq!(BandId::parse(&"z".repeat(32)).unwrap().as_str(), "Z".repeat(32));
        assert_eq!(BandId::parse("demo0001").unwrap(), BandId::parse("DEMO0001").unwrap());
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        assert_eq!(BandId::parse(""), Err(BandIdError::TooShort));
        assert_eq!(BandId::parse("abc"), Err(BandIdError::TooShort));
        assert_eq!(BandId::parse(&"a".repeat(33)), Err(BandIdError::TooLong));
        for bad in ["ab cd", "ab/cd", "..ab", "ab%2F", "abcd\0", "abcé", "ab.cd", "ＡＢＣＤ", "ab\ncd"] {
            assert_eq!(BandId::parse(bad), Err(BandIdError::InvalidCharacter), "{bad:?}");
        }
    }

    #[test]
    fn serde_validates() {
        let ok: BandId = serde_json::from_str("\"abcd\"").unwrap();
        assert_eq!(ok.as_str(), "ABCD");
        assert!(serde_json::from_str::<BandId>("\"a/b/c\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"ABCD\"");
    }

    #[test]
    fn kv_key_uses_canonical_form() {
        assert_eq!(BandId::parse("demo0001").unwrap().kv_key(), "band:DEMO0001");
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip(s in "[A-Za-z0-9_-]{4,32}") {
            let id = BandId::parse(&s).unwrap();
            prop_assert_eq!(id.as_str(), s.to_ascii_uppercase());
            prop_assert_eq!(BandId::parse(id.as_str()).unwrap(), id);
        }

        #[test]
        fn anything_else_is_rejected(s in "\\PC{0,40}") {
            let valid = (4..=32).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            prop_assert_eq!(BandId::parse(&s).is_ok(), valid);
        }
    }
}
