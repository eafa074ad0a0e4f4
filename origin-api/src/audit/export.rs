//! Exporting old audit rows as verifiable JSON lines: a header naming the
//! chain position the export starts from, one line per row with its
//! `prev_hash` and `hash`, and a trailer with the last row. With the audit
//! keys, [`verify_file`] recomputes every hash, so an export can be checked
//! long after its rows have left the database. Recording the export (with
//! the file's SHA-256) is what allows retention to purge those rows.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::Keyring;
use sqlx::PgPool;
use uuid::Uuid;

use super::chain::{CanonicalRow, row_hash};
use crate::clock::Clock;
use crate::domain::actor::Actor;

/// Format name in the header line.
pub const FORMAT: &str = "sparkmotion.audit-export/1";

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// First line: where the rows continue the chain from.
    Header {
        /// [`FORMAT`].
        format: String,
        /// Archival export: rows strictly before this time; evidence export: rows from it on.
        before: DateTime<Utc>,
        /// Seq of the row before the first exported one (0: the chain's start).
        after_seq: i64,
        /// Its hash (hex), which the first row's `prev_hash` must equal.
        after_hash: String,
    },
    /// An audit row.
    Row {
        /// Its content, as hashed.
        row: Box<CanonicalRow>,
        /// Previous row's hash (hex).
        prev_hash: String,
        /// This row's hash (hex).
        hash: String,
    },
    /// Last line: how many rows and where they end.
    Trailer {
        /// Rows exported.
        rows: i64,
        /// Seq of the last row.
        through_seq: i64,
        /// Its hash (hex).
        through_hash: String,
        /// Audit key that authenticates header and trailer together.
        key_id: String,
        /// HMAC over both (hex): a file cut short and re-tailed does not verify.
        mac: String,
    },
}

/// What the trailer's MAC covers: the header's bounds and the trailer's counts.
fn envelope_mac(
    secret: &[u8],
    before: DateTime<Utc>,
    after: (i64, &str),
    rows: i64,
    through: (i64, &str),
) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(
        format!(
            "{FORMAT}\n{}\n{}\n{}\n{rows}\n{}\n{}",
            before.to_rfc3339(),
            after.0,
            after.1,
            through.0,
            through.1
        )
        .as_bytes(),
    );
    hex::encode(mac.finalize().into_bytes())
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Rows written.
    pub rows: i64,
    /// First and last seq (equal to the anchor when nothing was due).
    pub first_seq: i64,
    /// Last seq written.
    pub through_seq: i64,
    /// SHA-256 of the bytes written (hex).
    pub sha256: String,
}

/// Errors of export and file verification.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Writing or reading the file failed.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not valid JSON of the format.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

struct Sink<'a> {
    out: &'a mut (dyn Write + Send),
    digest: Sha256,
}

impl Sink<'_> {
    fn line(&mut self, line: &Line) -> Result<(), ExportError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| std::io::Error::other(e.to_string()))?;
        bytes.push(b'\n');
        self.digest.update(&bytes);
        self.out.write_all(&bytes)?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    #[sqlx(flatten)]
    row: CanonicalRow,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// Writes every row still in the database from the chain's start up to (not
/// including) the first row at or after `before`, records the export (which
/// lets retention purge those rows once past the audit retention), and audits it.
pub async fn export(
    db: &PgPool,
    keys: &Keyring,
    clock: &dyn Clock,
    actor: &Actor,
    before: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<Exported, ExportError> {
    // One snapshot: rows, anchor and the export record agree.
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let (after_seq, after_hash): (i64, Vec<u8>) = sqlx::query_as(
        "SELECT coalesce((SELECT seq FROM audit_chain_anchor), 0),
                coalesce((SELECT hash FROM audit_chain_anchor), '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)",
    )
    .fetch_one(&mut *tx)
    .await?;
    let exported = write_rows(&mut tx, keys, out, before, after_seq, after_hash, Some(before)).await?;
    if exported.rows > 0 {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO audit_exports (id, before, first_seq, through_seq, rows, sha256, exported_at, exported_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(before)
        .bind(exported.first_seq)
        .bind(exported.through_seq)
        .bind(exported.rows)
        .bind(&exported.sha256)
        .bind(clock.now())
        .bind(actor.label())
        .execute(&mut *tx)
        .await?;
        let entry = super::Entry::new("audit.exported", "audit_export", id, None).after(serde_json::json!({
            "before": before, "first_seq": exported.first_seq, "through_seq": exported.through_seq,
            "rows": exported.rows, "sha256": exported.sha256,
        }));
        super::record(&mut tx, keys, clock, actor, entry).await?;
    }
    tx.commit().await?;
    Ok(exported)
}

/// Evidence export for an investigation: every row from the first one at or
/// after `since` to the head, verifiable on its own (the header carries the
/// preceding row's hash). It does not count as an archival export: nothing
/// becomes purgeable because of it. The export itself is audited.
pub async fn export_since(
    db: &PgPool,
    keys: &Keyring,
    clock: &dyn Clock,
    actor: &Actor,
    since: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<Exported, ExportError> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let first: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, prev_hash FROM audit_log WHERE at >= $1 ORDER BY seq LIMIT 1")
            .bind(since)
            .fetch_optional(&mut *tx)
            .await?;
    let (after_seq, after_hash) = match first {
        Some((seq, prev)) => (seq - 1, prev),
        None => sqlx::query_as("SELECT seq, hash FROM audit_chain_head").fetch_one(&mut *tx).await?,
    };
    let exported = write_rows(&mut tx, keys, out, since, after_seq, after_hash, None).await?;
    let entry = super::Entry::new("audit.evidence_exported", "audit_log", exported.through_seq, None).after(
        serde_json::json!({
            "since": since, "first_seq": exported.first_seq, "through_seq": exported.through_seq,
            "rows": exported.rows, "sha256": exported.sha256,
        }),
    );
    super::record(&mut tx, keys, clock, actor, entry).await?;
    tx.commit().await?;
    Ok(exported)
}

/// Writes header, the rows after `after_seq` (up to the first at or after `stop`, if any), and trailer.
async fn write_rows(
    tx: &mut sqlx::PgConnection,
    keys: &Keyring,
    out: &mut (dyn Write + Send),
    bound: DateTime<Utc>,
    after_seq: i64,
    after_hash: Vec<u8>,
    stop: Option<DateTime<Utc>>,
) -> Result<Exported, ExportError> {
    let mut sink = Sink { out, digest: Sha256::new() };
    sink.line(&Line::Header {
        format: FORMAT.into(),
        before: bound,
        after_seq,
        after_hash: hex::encode(&after_hash),
    })?;
    let after_hash_start = after_hash.clone();
    let (mut rows, mut through_seq, mut through_hash) = (0i64, after_seq, after_hash);
    {
        let mut stream = sqlx::query_as::<_, StoredRow>(
            "SELECT seq, at, actor_type, actor_id, actor_label, org_id, action, target_type, target_id, before, after,
                    request_id, ip_hash, user_agent, key_id, prev_hash, hash
             FROM audit_log WHERE seq > $1 ORDER BY seq",
        )
        .bind(after_seq)
        .fetch(&mut *tx);
        while let Some(stored) = stream.try_next().await? {
            // A contiguous run of the chain: stop at the first row that is too new.
            if stop.is_some_and(|stop| stored.row.at >= stop) {
                break;
            }
            through_seq = stored.row.seq;
            through_hash = stored.hash.clone();
            rows += 1;
            sink.line(&Line::Row {
                row: Box::new(stored.row),
                prev_hash: hex::encode(&stored.prev_hash),
                hash: hex::encode(&stored.hash),
            })?;
        }
    }
    let key = keys.signing_key();
    let after_hex = hex::encode(&after_hash_start);
    let through_hex = hex::encode(&through_hash);
    let mac = envelope_mac(key.secret(), bound, (after_seq, &after_hex), rows, (through_seq, &through_hex));
    sink.line(&Line::Trailer {
        rows,
        through_seq,
        through_hash: through_hex,
        key_id: key.id().to_string(),
        mac,
    })?;
    sink.out.flush()?;
    Ok(Exported { rows, first_seq: after_seq + 1, through_seq, sha256: hex::encode(sink.digest.finalize()) })
}

/// Checks an export file against the audit keys: every row's hash, the links
/// between rows, and the trailer. Returns the rows verified.
pub fn verify_file(input: impl BufRead, keys: &Keyring) -> Result<i64, ExportError> {
    let malformed = |line: usize, reason: String| ExportError::Malformed { line, reason };
    let mut expected_prev: Option<(i64, String)> = None;
    let mut header: Option<(DateTime<Utc>, i64, String)> = None;
    let mut rows = 0i64;
    let mut ended = false;
    for (i, text) in input.lines().enumerate() {
        let n = i + 1;
        let text = text?;
        if ended {
            return Err(malformed(n, "content after the trailer".into()));
        }
        let line: Line = serde_json::from_str(&text).map_err(|e| malformed(n, e.to_string()))?;
        match (line, &expected_prev) {
            (Line::Header { format, before, after_seq, after_hash }, None) if n == 1 => {
                if format != FORMAT {
                    return Err(malformed(n, format!("unknown format {format:?}")));
                }
                header = Some((before, after_seq, after_hash.clone()));
                expected_prev = Some((after_seq, after_hash));
            }
            (Line::Row { row, prev_hash, hash }, Some((seq, prev))) => {
                if row.seq != seq + 1 {
                    return Err(malformed(n, format!("row {} follows row {seq}: rows missing", row.seq)));
                }
                if &prev_hash != prev {
                    return Err(malformed(
                        n,
                        format!("row {}: prev_hash does not match the previous row", row.seq),
                    ));
                }
                let key = keys.get(&row.key_id).ok_or_else(|| {
                    malformed(n, format!("row {}: unknown audit key {:?}", row.seq, row.key_id))
                })?;
                let prev_bytes = hex::decode(&prev_hash).map_err(|e| malformed(n, e.to_string()))?;
                if hex::encode(row_hash(key.secret(), &prev_bytes, &row)) != hash {
                    return Err(malformed(n, format!("row {}: content does not match its hash", row.seq)));
                }
                expected_prev = Some((row.seq, hash));
                rows += 1;
            }
            (Line::Trailer { rows: claimed, through_seq, through_hash, key_id, mac }, Some((seq, prev))) => {
                if claimed != rows || through_seq != *seq || &through_hash != prev {
                    return Err(malformed(n, "the trailer does not match the rows".into()));
                }
                let key =
                    keys.get(&key_id).ok_or_else(|| malformed(n, format!("unknown audit key {key_id:?}")))?;
                let Some((before, after_seq, after_hash)) = &header else {
                    return Err(malformed(n, "no header".into()));
                };
                let expected = envelope_mac(
                    key.secret(),
                    *before,
                    (*after_seq, after_hash),
                    claimed,
                    (through_seq, &through_hash),
                );
                if expected != mac {
                    return Err(malformed(
                        n,
                        "header and trailer are not authentic (file cut or re-tailed)".into(),
                    ));
                }
                ended = true;
            }
            _ => return Err(malformed(n, "unexpected line".into())),
        }
    }
    if !ended {
        return Err(malformed(0, "no trailer: the file is truncated".into()));
    }
    Ok(rows)
}
