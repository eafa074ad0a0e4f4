//! Password policy after NIST SP 800-63B: length over composition (12–128
//! characters, nothing else required), refused when common or breached, or
//! when zxcvbn — told the user's email, name and organisation — scores it
//! below 3. Applied at creation, change and reset. The error says why.

use zxcvbn::feedback::Warning;

/// Shortest accepted password, in characters.
pub const MIN_CHARS: usize = 12;
/// Longest accepted password, in characters (beyond this is a DoS lever, not security).
pub const MAX_CHARS: usize = 128;
/// Lowest acceptable zxcvbn score (0–4).
pub const MIN_SCORE: u8 = 3;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Under [`MIN_CHARS`].
    #[error("password must be at least {MIN_CHARS} characters")]
    TooShort,
    /// Over [`MAX_CHARS`].
    #[error("password must be at most {MAX_CHARS} characters")]
    TooLong,
    /// On the lists of common or breached passwords.
    #[error("password is too common (it appears in lists of breached passwords)")]
    Common,
    /// Built from the user's own details.
    #[error("password must not be based on your email, name or organisation")]
    Personal,
    /// Too easy to guess.
    #[error("password is too easy to guess{0}")]
    Weak(String),
}

/// Checks `password` for a user described by `context` (email, name, org…).
pub fn check(password: &str, context: &[&str]) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PolicyError::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PolicyError::TooLong);
    }
    if contains_whole_detail(password, context) {
        return Err(PolicyError::Personal);
    }
    // Give zxcvbn the pieces of the context too (the local part of an email, each word of a name).
    let mut inputs: Vec<&str> = Vec::new();
    for item in context {
        inputs.push(item);
        inputs.extend(item.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 3));
    }
    let entropy = zxcvbn::zxcvbn(password, &inputs);
    if u8::from(entropy.score()) >= MIN_SCORE {
        return Ok(());
    }
    let warning = entropy.feedback().and_then(|f| f.warning());
    Err(match warning {
        Some(
            Warning::ThisIsATop10Password
            | Warning::ThisIsATop100Password
            | Warning::ThisIsACommonPassword
            | Warning::ThisIsSimilarToACommonlyUsedPassword,
        ) => PolicyError::Common,
        _ if uses_context(password, &inputs) => PolicyError::Personal,
        Some(w) => PolicyError::Weak(format!(": {w}")),
        None => PolicyError::Weak(String::new()),
    })
}

/// Letters and digits only, lower case: "Ann Lee" and "ann.lee" both become "annlee".
fn normalise(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The password contains a whole detail of the user (email local part, full
/// name, organisation name), ignoring case and punctuation.
fn contains_whole_detail(password: &str, context: &[&str]) -> bool {
    let password = normalise(password);
    context.iter().any(|detail| {
        let detail = detail.split('@').next().unwrap_or(detail);
        let detail = normalise(detail);
        detail.chars().count() >= 4 && password.contains(&detail)
    })
}

fn uses_context(password: &str, inputs: &[&str]) -> bool {
    let lower = password.to_lowercase();
    inputs.iter().any(|i| i.len() >= 3 && lower.contains(&i.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: &[&str] = &["ann.lee@festival.example", "Ann Lee", "Festival Org"];

    #[test]
    fn length_bounds_in_characters() {
        assert_eq!(check("short", CTX), Err(PolicyError::TooShort));
        assert_eq!(check("ééééééééééé", CTX), Err(PolicyError::TooShort), "11 characters, 22 bytes");
        assert_eq!(check(&"x".repeat(129), CTX), Err(PolicyError::TooLong));
    }

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        for common in ["password1234", "qwertyuiop123", "123456789012", "iloveyou1234"] {
            let e = check(common, CTX).unwrap_err();
            assert!(matches!(e, PolicyError::Common | PolicyError::Weak(_)), "{common}: {e:?}");
        }
        assert_eq!(check("password1234", CTX), Err(PolicyError::Common));
        assert_eq!(check("annleefestival", CTX), Err(PolicyError::Personal));
        assert_eq!(check("Ann.Lee-rules-2027!", CTX), Err(PolicyError::Personal));
        assert_eq!(check("my FESTIVALORG pass", CTX), Err(PolicyError::Personal));
    }

    #[test]
    fn long_passphrases_need_no_composition_rules() {
        assert_eq!(check("correct horse battery staple", CTX), Ok(()));
        assert_eq!(check("mango tapestry quietly bicycles", CTX), Ok(()));
        assert_eq!(check("Tr0ub4dor&3-wristband-volcano", CTX), Ok(()));
    }
}
