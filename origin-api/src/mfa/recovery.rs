//! Recovery codes: ten per user, 80 random bits each (Crockford base32,
//! `XXXX-XXXX-XXXX-XXXX`), shown once, stored as SHA-256 (at 80 bits a fast
//! hash is enough: brute force is out of reach), single use. Regenerating
//! replaces the whole set.

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// Codes per set.
pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh code.
pub fn generate() -> String {
    let mut bytes = [0u8; 10];
    rand::rng().fill_bytes(&mut bytes);
    // 80 bits → 16 base32 digits.
    let mut value = u128::from_be_bytes({
        let mut wide = [0u8; 16];
        wide[6..].copy_from_slice(&bytes);
        wide
    });
    let mut digits = [0u8; 16];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    let s = String::from_utf8_lossy(&digits).into_owned();
    format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
}

/// The canonical form of what a user typed: upper case, no separators,
/// Crockford's look-alikes mapped (O→0, I/L→1).
pub fn normalise(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

fn hash(code: &str) -> Vec<u8> {
    Sha256::digest(normalise(code).as_bytes()).to_vec()
}

/// Replaces the user's codes with a new set; returns the codes (to show once).
pub async fn replace(
    conn: &mut PgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let codes: Vec<String> = (0..COUNT).map(|_| generate()).collect();
    let ids: Vec<Uuid> = codes.iter().map(|_| Uuid::now_v7()).collect();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| hash(c)).collect();
    sqlx::query(
        "INSERT INTO mfa_recovery_codes (id, user_id, code_hash, created_at)
         SELECT id, $2, h, $4 FROM UNNEST($1::uuid[], $3::bytea[]) AS t(id, h)",
    )
    .bind(&ids)
    .bind(user_id)
    .bind(&hashes)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(codes)
}

/// Uses a code if it is one of the user's unused ones; returns how many remain.
pub async fn consume(
    conn: &mut PgConnection,
    user_id: Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    if normalise(code).len() != 16 {
        return Ok(None);
    }
    let used = sqlx::query("UPDATE mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL")
        .bind(user_id)
        .bind(hash(code))
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1;
    if !used {
        return Ok(None);
    }
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_one(conn)
            .await?;
    Ok(Some(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_formatted_distinct_and_normalised() {
        let a = generate();
        assert_eq!(a.len(), 19);
        assert_eq!(a.matches('-').count(), 3);
        assert_ne!(a, generate());
        assert_eq!(normalise(&a.to_lowercase().replace('-', " ")), a.replace('-', ""));
        assert_eq!(normalise("oOiIlL"), "001111");
    }
}
