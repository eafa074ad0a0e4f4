//! Walking the chain: recompute every hash and name the first broken row.

use futures_util::TryStreamExt;
use shared::Keyring;
use sqlx::{PgConnection, PgPool};

use super::chain::{CanonicalRow, row_hash};

/// Result of a verification walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Rows checked.
    pub rows: u64,
    /// The first row that does not verify, if any.
    pub first_broken: Option<Broken>,
}

/// A row that breaks the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Its sequence number (or the expected one, for a gap).
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    #[sqlx(flatten)]
    row: CanonicalRow,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// Verifies the whole chain (rows exported and purged by retention are
/// accounted for by the chain anchor in `audit_chain_anchor`, when present).
pub async fn verify(db: &PgPool, keys: &Keyring) -> Result<Report, sqlx::Error> {
    // One snapshot for rows, anchor and head: writes that commit during the
    // walk must not look like tampering.
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let report = walk(&mut tx, keys).await?;
    tx.commit().await?;
    Ok(report)
}

async fn walk(conn: &mut PgConnection, keys: &Keyring) -> Result<Report, sqlx::Error> {
    let (mut expected_seq, mut expected_prev) = anchor(&mut *conn).await?;
    // Nothing may precede the chain's start: such a row was inserted behind its back.
    let forged: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM audit_log WHERE seq <= $1")
        .bind(expected_seq)
        .fetch_one(&mut *conn)
        .await?;
    if let Some(seq) = forged {
        return Ok(Report {
            rows: 0,
            first_broken: Some(Broken {
                seq,
                reason: format!("row {seq} lies before the start of the chain (forged)"),
            }),
        });
    }
    let mut rows = 0u64;
    let mut stream = sqlx::query_as::<_, StoredRow>(
        "SELECT seq, at, actor_type, actor_id, actor_label, org_id, action, target_type, target_id, before, after,
                request_id, ip_hash, user_agent, key_id, prev_hash, hash
         FROM audit_log WHERE seq > $1 ORDER BY seq",
    )
    .bind(expected_seq)
    .fetch(&mut *conn);
    while let Some(stored) = stream.try_next().await? {
        rows += 1;
        expected_seq += 1;
        let seq = stored.row.seq;
        let broken = |reason: String| Ok(Report { rows, first_broken: Some(Broken { seq, reason }) });
        if seq != expected_seq {
            return Ok(Report {
                rows,
                first_broken: Some(Broken {
                    seq: expected_seq,
                    reason: format!("row {expected_seq} is missing (next is {seq})"),
                }),
            });
        }
        if stored.prev_hash != expected_prev {
            return broken("prev_hash does not match the previous row's hash".into());
        }
        let Some(key) = keys.get(&stored.row.key_id) else {
            return broken(format!("hashed with unknown audit key {:?}", stored.row.key_id));
        };
        if row_hash(key.secret(), &stored.prev_hash, &stored.row) != stored.hash {
            return broken("content does not match its hash (row altered)".into());
        }
        expected_prev = stored.hash;
    }
    drop(stream);
    let (head_seq, head_hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM audit_chain_head").fetch_one(&mut *conn).await?;
    if head_seq != expected_seq || head_hash != expected_prev {
        return Ok(Report {
            rows,
            first_broken: Some(Broken {
                seq: expected_seq + 1,
                reason: format!(
                    "chain head is at row {head_seq} but the log ends at row {expected_seq} (rows removed)"
                ),
            }),
        });
    }
    Ok(Report { rows, first_broken: None })
}

/// Where verification starts: the beginning, or the last row purged after export.
async fn anchor(conn: &mut PgConnection) -> Result<(i64, Vec<u8>), sqlx::Error> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('audit_chain_anchor')::text").fetch_one(&mut *conn).await?;
    if exists.is_some()
        && let Some(row) = sqlx::query_as::<_, (i64, Vec<u8>)>("SELECT seq, hash FROM audit_chain_anchor")
            .fetch_optional(&mut *conn)
            .await?
    {
        return Ok(row);
    }
    Ok((0, vec![0u8; 32]))
}
