//! Cross-site request forgery defence, two layers: every state-changing
//! request must come from our own origin (`Sec-Fetch-Site`, else `Origin`),
//! and carry the session's CSRF token (`X-CSRF-Token` header or
//! `csrf_token` form field), compared in constant time. Failures are logged
//! without the token values.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;
use url::Url;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// Sent by another site (or with no provenance at all).
    #[error("cross-site request refused")]
    CrossSite,
    /// Token absent or wrong.
    #[error("missing or invalid CSRF token")]
    BadToken,
}

/// The request came from `public_url`'s origin (or was typed/bookmarked: `Sec-Fetch-Site: none`).
pub fn check_origin(public_url: &Url, headers: &HeaderMap) -> Result<(), CsrfError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(CsrfError::CrossSite),
        };
    }
    let expected = public_url.origin().ascii_serialization();
    match headers.get(axum::http::header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) if origin == expected => Ok(()),
        _ => Err(CsrfError::CrossSite),
    }
}

/// `presented` equals the session's token.
pub fn check_token(expected: &str, presented: Option<&str>) -> Result<(), CsrfError> {
    match presented {
        Some(p) if bool::from(p.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
        _ => Err(CsrfError::BadToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        let public = Url::parse("https://dash.example").unwrap();
        assert_eq!(check_origin(&public, &headers(&[("sec-fetch-site", "same-origin")])), Ok(()));
        assert_eq!(
            check_origin(
                &public,
                &headers(&[("sec-fetch-site", "cross-site"), ("origin", "https://dash.example")])
            ),
            Err(CsrfError::CrossSite)
        );
        assert_eq!(
            check_origin(&public, &headers(&[("sec-fetch-site", "same-site")])),
            Err(CsrfError::CrossSite)
        );
        assert_eq!(check_origin(&public, &headers(&[("origin", "https://dash.example")])), Ok(()));
        assert_eq!(
            check_origin(&public, &headers(&[("origin", "https://evil.example")])),
            Err(CsrfError::CrossSite)
        );
        assert_eq!(check_origin(&public, &headers(&[("origin", "null")])), Err(CsrfError::CrossSite));
        assert_eq!(check_origin(&public, &headers(&[])), Err(CsrfError::CrossSite));
    }

    #[test]
    fn token_rules() {
        assert_eq!(check_token("abc", Some("abc")), Ok(()));
        assert_eq!(check_token("abc", Some("abd")), Err(CsrfError::BadToken));
        assert_eq!(check_token("abc", Some("")), Err(CsrfError::BadToken));
        assert_eq!(check_token("abc", None), Err(CsrfError::BadToken));
    }
}
