//! Input rules shared by the API, the dashboard and the CLI.

use super::DomainError;

/// A trimmed, non-empty, single-line text of at most `max` characters.
pub fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(DomainError::invalid(field, "must not contain control characters"));
    }
    if value.chars().any(is_invisible_formatting) {
        return Err(DomainError::invalid(field, "must not contain invisible or text-direction characters"));
    }
    Ok(value.to_string())
}

/// Bidirectional overrides and zero-width characters: they make text read
/// differently from what it is (a name that displays as another), so they
/// are refused in names shown to other people.
fn is_invisible_formatting(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Like [`text`], but empty is allowed.
pub fn optional_text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    if raw.trim().is_empty() { Ok(String::new()) } else { text(field, raw, max) }
}

/// A destination URL: the shared edge rules (absolute https, no userinfo,
/// ≤ 2048 bytes…) plus a full parse; stored in normalised form.
pub fn destination(field: &'static str, raw: &str) -> Result<String, DomainError> {
    let raw = raw.trim();
    shared::destination::check(raw).map_err(|e| DomainError::invalid(field, e.to_string()))?;
    let parsed =
        url::Url::parse(raw).map_err(|e| DomainError::invalid(field, format!("is not a valid URL: {e}")))?;
    if parsed.scheme() != "https" || parsed.host_str().is_none_or(str::is_empty) {
        return Err(DomainError::invalid(field, "must be an absolute https:// URL"));
    }
    let normalised = parsed.to_string();
    shared::destination::check(&normalised).map_err(|e| DomainError::invalid(field, e.to_string()))?;
    Ok(normalised)
}

/// An optional destination (empty means none).
pub fn optional_destination(field: &'static str, raw: Option<&str>) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(url) => destination(field, url).map(Some),
    }
}

/// An IANA-style time-zone name (`UTC`, `Europe/London`, `America/Argentina/Buenos_Aires`).
pub fn timezone(raw: &str) -> Result<String, DomainError> {
    let tz = raw.trim();
    let ok = !tz.is_empty()
        && tz.len() <= 64
        && tz.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-'))
        });
    if ok {
        Ok(tz.to_string())
    } else {
        Err(DomainError::invalid("timezone", "must be a time-zone name such as Europe/London"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_checked_and_normalised() {
        assert_eq!(destination("url", " https://Example.com ").unwrap(), "https://example.com/");
        assert_eq!(
            destination("url", "https://example.com/sparkmotion-demo").unwrap(),
            "https://example.com/sparkmotion-demo"
        );
        for bad in [
            "http://example.com",
            "https://user@example.com",
            "javascript:alert(1)",
            "https://exa mple.com",
            "",
        ] {
            assert!(destination("url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_rules() {
        assert_eq!(text("name", "  Fest  ", 10).unwrap(), "Fest");
        assert!(text("name", "   ", 10).is_err());
        assert!(text("name", "a\u{0}b", 10).is_err());
        assert!(text("name", "evil\u{202E}gpj.exe", 20).is_err());
        assert!(text("name", "zero\u{200B}width", 20).is_err());
        assert_eq!(text("name", "Café Zürich 🎉", 20).unwrap(), "Café Zürich 🎉");
        assert!(text("name", &"x".repeat(11), 10).is_err());
        assert_eq!(
            text("name", "<img src=x onerror=alert(1)>", 200).unwrap(),
            "<img src=x onerror=alert(1)>"
        );
    }

    #[test]
    fn timezones() {
        for ok in ["UTC", "Europe/London", "America/Argentina/Buenos_Aires", "Etc/GMT+2"] {
            assert!(timezone(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Europe/", "../etc", "Europe/Lon don", "'; DROP TABLE"] {
            assert!(timezone(bad).is_err(), "{bad}");
        }
    }
}
