//! The security headers every response carries, edge and origin alike.
//!
//! One list, so the two sides cannot drift. Values follow current OWASP
//! guidance; notably `X-XSS-Protection: 0`, because the legacy XSS auditor
//! it controlled could itself be abused to leak data, and CSP replaces it.

/// Headers set on every response (lower-case names).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-xss-protection", "0"),
];

/// HSTS, sent only over HTTPS (browsers ignore it over HTTP, and it must not pin a dev host).
pub const HSTS: (&str, &str) = ("strict-transport-security", "max-age=63072000; includeSubDomains; preload");

/// Content-Security-Policy for responses that are not dashboard pages
/// (redirects, error pages, JSON): nothing may load, nothing may frame us.
pub const STRICT_CSP: (&str, &str) = (
    "content-security-policy",
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_and_unique() {
        let mut names: Vec<&str> = SECURITY_HEADERS.iter().map(|(n, _)| *n).collect();
        names.extend([HSTS.0, STRICT_CSP.0]);
        for n in &names {
            assert_eq!(*n, n.to_ascii_lowercase());
        }
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn includes_what_the_soc2_report_lists() {
        for required in ["x-content-type-options", "x-frame-options", "referrer-policy", "x-xss-protection"] {
            assert!(SECURITY_HEADERS.iter().any(|(n, _)| *n == required), "{required}");
        }
        assert!(STRICT_CSP.1.contains("frame-ancestors 'none'"));
    }
}
