//! Destination URL rules: where a tap may be sent.
//!
//! A destination is an absolute `https` URL without userinfo, at most
//! [`MAX_LEN`] bytes, with no whitespace, control characters or backslashes.
//! Userinfo is refused because `https://brand.example@evil.example/` reads
//! like the brand but goes to the attacker; backslashes because browsers treat
//! them as `/` and so move the host boundary. The check is structural on
//! purpose: it runs in the Wasm worker, where a full URL parser (with IDNA
//! tables) would cost more bundle than the whole worker.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest accepted destination, in bytes.
pub const MAX_LEN: usize = 2048;

/// Why a string is not an acceptable destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Empty input.
    #[error("destination URL is empty")]
    Empty,
    /// Over [`MAX_LEN`] bytes.
    #[error("destination URL is longer than {MAX_LEN} bytes")]
    TooLong,
    /// Not `https://…`.
    #[error("destination URL must be an absolute https:// URL")]
    NotHttps,
    /// No host after the scheme.
    #[error("destination URL has no host")]
    MissingHost,
    /// `user:pass@` before the host.
    #[error("destination URL must not contain user credentials (user@host)")]
    Userinfo,
    /// Whitespace, control characters or a backslash.
    #[error("destination URL contains whitespace, control characters or a backslash")]
    ForbiddenCharacter,
    /// A host or port that cannot be right.
    #[error("destination URL has an invalid host or port")]
    InvalidHost,
}

/// A URL that passed [`check`]; the only form the resolver hands out.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Destination(Box<str>);

impl Destination {
    /// Validates `raw` as a destination.
    pub fn parse(raw: &str) -> Result<Self, DestinationError> {
        check(raw)?;
        Ok(Self(raw.into()))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Destination({})", self.0)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Destination {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Destination {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Destination {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Checks the destination rules without allocating.
pub fn check(raw: &str) -> Result<(), DestinationError> {
    if raw.is_empty() {
        return Err(DestinationError::Empty);
    }
    if raw.len() > MAX_LEN {
        return Err(DestinationError::TooLong);
    }
    if raw.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
        || raw.chars().any(char::is_whitespace)
    {
        return Err(DestinationError::ForbiddenCharacter);
    }
    const SCHEME: &str = "https://";
    let rest = match raw.get(..SCHEME.len()) {
        Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => &raw[SCHEME.len()..],
        _ => return Err(DestinationError::NotHttps),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return Err(DestinationError::Userinfo);
    }
    let (host, port) = split_port(authority)?;
    if host.is_empty() {
        return Err(DestinationError::MissingHost);
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DestinationError::InvalidHost);
        }
        if port.parse::<u32>().map_or(true, |p| p == 0 || p > 65535) {
            return Err(DestinationError::InvalidHost);
        }
    }
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']').is_some_and(|inner| {
            !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        })
    } else {
        // Non-ASCII bytes belong to internationalised names (the browser applies
        // IDNA); among ASCII only the hostname alphabet is allowed.
        host.len() <= 253
            && !host.starts_with('.')
            && !host.contains("..")
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') || !b.is_ascii())
    };
    if host_ok { Ok(()) } else { Err(DestinationError::InvalidHost) }
}

fn split_port(authority: &str) -> Result<(&str, Option<&str>), DestinationError> {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let (host, tail) = authority.split_at(end + 1);
                match tail.strip_prefix(':') {
                    Some(port) => Ok((host, Some(port))),
                    None if tail.is_empty() => Ok((host, None)),
                    None => Err(DestinationError::InvalidHost),
                }
            }
            None => Err(DestinationError::InvalidHost),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_https_urls() {
        for ok in [
            "https://example.com",
            "https://example.com/sparkmotion-demo",
            "HTTPS://Example.com:8443/a?b=c#d",
            "https://[2001:db8::1]/x",
            "https://bücher.example/",
            "https://a.b.c/path/with%20escape",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_each_rule() {
        use DestinationError::*;
        let cases: &[(&str, DestinationError)] = &[
            ("", Empty),
            ("http://example.com", NotHttps),
            ("javascript:alert(1)", NotHttps),
            ("//example.com", NotHttps),
            ("/relative", NotHttps),
            ("data:text/html,hi", NotHttps),
            ("https://", MissingHost),
            ("https:///path", MissingHost),
            ("https://brand.example@evil.example/", Userinfo),
            ("https://user:pw@example.com", Userinfo),
            ("https://evil.example\\@brand.example", ForbiddenCharacter),
            ("https://example.com/a b", ForbiddenCharacter),
            ("https://example.com/\r\nSet-Cookie:x", ForbiddenCharacter),
            ("https://example.com/\t", ForbiddenCharacter),
            ("https://example.com/\u{2028}", ForbiddenCharacter),
            ("https://example.com:99999/", InvalidHost),
            ("https://example.com:0/", InvalidHost),
            ("https://example.com:/", InvalidHost),
            ("https://exa<mple.com/", InvalidHost),
            ("https://..example.com/", InvalidHost),
            ("https://[::1/", InvalidHost),
        ];
        for (raw, want) in cases {
            assert_eq!(check(raw), Err(*want), "{raw:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_LEN));
        assert_eq!(check(&long), Err(TooLong));
        let exact = format!("https://example.com/{}", "a".repeat(MAX_LEN - 20));
        assert_eq!(exact.len(), MAX_LEN);
        assert_eq!(check(&exact), Ok(()));
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<Destination>("\"https://ok.example\"").is_ok());
        assert!(serde_json::from_str::<Destination>("\"http://no.example\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = check(&s);
        }

        #[test]
        fn accepted_urls_keep_their_host(host in "[a-z]{1,20}\\.[a-z]{2,6}", path in "[a-zA-Z0-9/_.-]{0,50}") {
            let url = format!("https://{host}/{path}");
            prop_assert_eq!(check(&url), Ok(()));
        }
    }
}
