//! What can go wrong in a domain operation.

/// A domain failure; mapped to an HTTP answer in `http::error`, to a message in the CLI.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No such thing, or not visible to this actor (tenancy never says "forbidden").
    #[error("not found")]
    NotFound,
    /// The actor's role does not allow the operation.
    #[error("not permitted")]
    Forbidden,
    /// Input breaks a rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// Which input.
        field: &'static str,
        /// What is wrong, for the user.
        reason: String,
    },
    /// The change collides with existing data.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for DomainError {
    fn from(e: sqlx::Error) -> Self {
        // Postgres text cannot hold NUL (22021): whichever field or filter
        // carried one, that is the caller's input, not a database failure.
        if let sqlx::Error::Database(db) = &e
            && db.code().as_deref() == Some("22021")
        {
            return DomainError::invalid("text", "may not contain NUL characters");
        }
        DomainError::Database(e)
    }
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::Invalid { field, reason: reason.into() }
    }

    /// Maps the database's constraint violations to the rule they enforce.
    pub fn from_db(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            match db.code().as_deref() {
                Some("23P01") => {
                    return DomainError::Conflict("the window overlaps another window of this event".into());
                }
                Some("23505") => {
                    return DomainError::Conflict(match db.constraint() {
                        Some("bands_pkey") => "that band id is already registered".into(),
                        Some("organizations_slug_key") => "that slug is taken".into(),
                        Some("users_email_key") => "a user with that email exists".into(),
                        _ => "already exists".into(),
                    });
                }
                Some("23514") => {
                    return DomainError::invalid(
                        "input",
                        format!("violates {}", db.constraint().unwrap_or("a rule")),
                    );
                }
                Some("23503") => return DomainError::NotFound,
                _ => {}
            }
        }
        DomainError::from(e)
    }
}
