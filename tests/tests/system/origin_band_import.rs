//! `origin-api bands import`, black-box: a CSV file goes in through the CLI;
//! the output, the exit code and the database (`bands`, `audit_log`,
//! `kv_outbox`) are checked. Imports are all or nothing, and every bad row is
//! reported as `line N (ID): reason` with 1-based line numbers (header = 1).

use std::process::ExitCode;
use std::time::Instant;

use origin_api::band_import::{MAX_FILE_BYTES, spreadsheet_safe};
use system_tests::db::TestDb;
use system_tests::origin::{OriginOptions, cli, succeeded};
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

/// A database with one organisation and one event in it.
struct Setup {
    db: TestDb,
    opts: OriginOptions,
    org: Uuid,
    event: Uuid,
}

impl Setup {
    async fn new() -> Setup {
        let db = TestDb::new().await;
        let opts = OriginOptions::default();
        let (org, event) = org_with_event(&db, &opts, "Acme").await;
        Setup { db, opts, org, event }
    }

    /// Imports `csv` into the setup's event.
    async fn import(&self, csv: impl AsRef<[u8]>) -> (ExitCode, String) {
        import_into(&self.db, &self.opts, self.event, csv.as_ref()).await
    }

    /// Imports `csv`, asserting it is rejected with nothing stored; returns the report.
    async fn rejected(&self, csv: impl AsRef<[u8]>) -> String {
        let before = counts(&self.db).await;
        let (code, out) = self.import(csv).await;
        assert_eq!(code, ExitCode::FAILURE, "import should be rejected, got: {out}");
        assert_eq!(counts(&self.db).await, before, "a rejected import stored something: {out}");
        out
    }
}

/// Creates an organisation named `name` with one event, through the CLI.
async fn org_with_event(db: &TestDb, opts: &OriginOptions, name: &str) -> (Uuid, Uuid) {
    let (code, out) = cli(db, opts, &["org", "create", "--name", name]).await;
    assert!(succeeded(code), "{out}");
    let org: Uuid = out.split('\t').next().unwrap().parse().unwrap();
    let org_s = org.to_string();
    let (code, out) = cli(db, opts, &["event", "create", "--org", &org_s, "--name", "Fest"]).await;
    assert!(succeeded(code), "{out}");
    (org, out.trim().parse().unwrap())
}

/// Writes `csv` to a temporary file and runs `bands import` on it.
async fn import_into(db: &TestDb, opts: &OriginOptions, event: Uuid, csv: &[u8]) -> (ExitCode, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), csv).unwrap();
    let event = event.to_string();
    cli(db, opts, &["bands", "import", "--event", &event, "--csv", file.path().to_str().unwrap()]).await
}

/// The expected report of a rejected import.
fn report(lines: &[&str]) -> String {
    let mut out = format!("nothing imported: {} row(s) rejected\n", lines.len());
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Rows in the tables an import writes.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    bands: i64,
    audit_log: i64,
    kv_outbox: i64,
}

async fn counts(db: &TestDb) -> Counts {
    let (bands, audit_log, kv_outbox) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM bands), (SELECT count(*) FROM audit_log),
                (SELECT count(*) FROM kv_outbox)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    Counts { bands, audit_log, kv_outbox }
}

/// A stored band: (band_id, event_id, org_id, label, status, override_url).
type BandRow = (String, Uuid, Uuid, String, String, Option<String>);

/// Every stored band, by id (byte order).
async fn bands(db: &TestDb) -> Vec<BandRow> {
    let mut rows: Vec<BandRow> =
        sqlx::query_as("SELECT band_id, event_id, org_id, label, status, override_url FROM bands")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    rows.sort();
    rows
}

/// A file of `rows` bands, each with a label and an override URL (about 50 bytes a row).
fn bulk_csv(rows: usize) -> Vec<u8> {
    let mut csv = String::with_capacity(rows * 52 + 32);
    csv.push_str("band_id,label,override_url\n");
    for i in 0..rows {
        csv.push_str(&format!("BULK{i:06},Seat {i},https://example.com/s/{i}\n"));
    }
    csv.into_bytes()
}

// ---------------------------------------------------------- clean files

/// A clean file (BOM, CRLF, columns in any order) stores upper-cased ids with labels, status and URLs, audited and queued.
#[tokio::test]
async fn clean_file_with_bom_and_crlf_imports_every_row() {
    let s = Setup::new().await;
    let csv = "\u{feff}label,override_url,band_id,status\r\n\
               Gate A,https://Example.com/VIP,demo0001,\r\n\
               \"Gate B, north\",,Demo0002,LOST\r\n\
               \x20 Gate C  ,, DEMO0003 ,disabled\r\n\
               \"Zoë \"\"VIP\"\" <b>\",https://example.com/z?q=1,demo-_04,Active\r\n\
               \r\n";
    let (code, out) = s.import(csv).await;
    assert!(succeeded(code), "{out}");
    assert_eq!(out, "imported 4 bands\n");

    let (e, o) = (s.event, s.org);
    assert_eq!(
        bands(&s.db).await,
        vec![
            (
                "DEMO-_04".into(),
                e,
                o,
                "Zoë \"VIP\" <b>".into(),
                "active".into(),
                Some("https://example.com/z?q=1".into())
            ),
            (
                "DEMO0001".into(),
                e,
                o,
                "Gate A".into(),
                "active".into(),
                Some("https://example.com/VIP".into())
            ),
            ("DEMO0002".into(), e, o, "Gate B, north".into(), "lost".into(), None),
            ("DEMO0003".into(), e, o, "Gate C".into(), "disabled".into(), None),
        ]
    );

    let audit: Vec<(String, String, Option<Uuid>, serde_json::Value)> = sqlx::query_as(
        "SELECT action, target_id, org_id, after FROM audit_log WHERE action LIKE 'bands.%' ORDER BY seq",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        vec![(
            "bands.imported".into(),
            s.event.to_string(),
            Some(s.org),
            serde_json::json!({"count": 4, "first": "DEMO0001", "last": "DEMO-_04"})
        )]
    );

    let queued: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT key, op FROM kv_outbox WHERE key LIKE 'band:%' ORDER BY seq")
            .fetch_all(&s.db.pool)
            .await
            .unwrap();
    let keys: Vec<&str> = queued.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["band:DEMO0001", "band:DEMO0002", "band:DEMO0003", "band:DEMO-_04"]);
    let first = &queued[0].1["put_band"];
    assert_eq!(first["band_id"], "DEMO0001");
    assert_eq!(first["record"]["event_id"], s.event.to_string());
    assert_eq!(first["record"]["org_id"], s.org.to_string());
    assert_eq!(first["record"]["status"], "active");
    assert_eq!(first["record"]["override_url"], "https://example.com/VIP");
    assert_eq!(queued[1].1["put_band"]["record"]["status"], "lost");
    assert!(queued[1].1["put_band"]["record"].get("override_url").is_none());
}

// ------------------------------------------------------ malformed files

/// Every malformed line is reported with its 1-based line number and reason, and nothing is stored.
#[tokio::test]
async fn every_malformed_line_is_reported_with_its_line_number_and_nothing_stored() {
    let s = Setup::new().await;
    let too_long = "A".repeat(33);
    let too_long_row = format!("{too_long},,,");
    let long_label_row = format!("GOOD0010,{},,", "l".repeat(201));
    let lines: [&[u8]; 20] = [
        b"band_id,label,status,override_url",            // 1
        b"GOOD0001,Gate A,active,https://example.com/a", // 2
        b"ab,x,,",                                       // 3
        b"../x,,,",                                      // 4
        b"DEMO 01,,,",                                   // 5
        too_long_row.as_bytes(),                         // 6
        b"GOOD0002,x,sleeping,",                         // 7
        b"GOOD0003,x,,http://example.com/",              // 8
        b"GOOD0004,x",                                   // 9
        b"GOOD\xff\xfe05,x,,",                           // 10: not UTF-8
        b"GOOD0006,x,,,extra",                           // 11
        b"",                                             // 12: blank, skipped
        b"GOOD0007,\"two",                               // 13: a quoted label spanning lines 13-14
        b"lines\",,",                                    // 14
        b"GOOD0008,ok,,https://user@example.com/",       // 15
        b"GOOD0009,ok,,javascript:alert(1)",             // 16
        long_label_row.as_bytes(),                       // 17
        b"GOOD0011,fine,disabled,https://example.com/",  // 18
        b"GOOD0012,\"unterminated,,",                    // 19: swallows the rest of the file
        b"GOOD0013,x,,",                                 // 20
    ];
    let mut csv = lines.join(&b'\n');
    csv.push(b'\n');
    let out = s.rejected(&csv).await;
    let id_chars = "invalid band id: band id may only contain letters, digits, '_' and '-'";
    assert_eq!(
        out,
        report(&[
            "line 3 (ab): invalid band id: band id is too short (at least 4 characters)",
            &format!("line 4 (../x): {id_chars}"),
            &format!("line 5 (DEMO 01): {id_chars}"),
            &format!("line 6 ({too_long}): invalid band id: band id is too long (at most 32 characters)"),
            "line 7 (GOOD0002): status: must be active, disabled or lost",
            "line 8 (GOOD0003): override_url: destination URL must be an absolute https:// URL",
            "line 9: expected 4 columns, found 2",
            "line 10: not valid UTF-8",
            "line 11: expected 4 columns, found 5",
            "line 13 (GOOD0007): label: must not contain control characters",
            "line 15 (GOOD0008): override_url: destination URL must not contain user credentials (user@host)",
            "line 16 (GOOD0009): override_url: destination URL must be an absolute https:// URL",
            "line 17 (GOOD0010): label: must be at most 200 characters",
            "line 19: expected 4 columns, found 2",
        ])
    );
}

/// Line numbers stay right with a BOM, CRLF endings, blank lines and quoted line breaks.
#[tokio::test]
async fn line_numbers_stay_right_with_bom_crlf_and_quoted_line_breaks() {
    let s = Setup::new().await;
    let csv = "\u{feff}band_id,label\r\n\
               OK000001,a\r\n\
               \r\n\
               bad!,b\r\n\
               OK000002,\"multi\r\nline\"\r\n\
               ab,c\r\n\
               \r\n\
               \r\n\
               OK000003,\"a, \"\"quoted\"\" label\"\r\n\
               OK000004,x,y\r\n";
    let out = s.rejected(csv).await;
    assert_eq!(
        out,
        report(&[
            "line 4 (bad!): invalid band id: band id may only contain letters, digits, '_' and '-'",
            "line 5 (OK000002): label: must not contain control characters",
            "line 7 (ab): invalid band id: band id is too short (at least 4 characters)",
            "line 11: expected 2 columns, found 3",
        ])
    );
}

/// Bare CR line endings (Excel for Mac's "CSV (Macintosh)") end rows, so they count as lines in reports too.
#[tokio::test]
async fn line_numbers_are_right_with_bare_cr_line_endings() {
    let s = Setup::new().await;
    let out = s.rejected("band_id,label\rOK000001,a\rbad!,b\rOK000002,c\rab,d\r").await;
    assert_eq!(
        out,
        report(&[
            "line 3 (bad!): invalid band id: band id may only contain letters, digits, '_' and '-'",
            "line 5 (ab): invalid band id: band id is too short (at least 4 characters)",
        ])
    );
    // The same rows, clean, import as separate bands.
    let (code, out) = s.import("band_id,label\rOK000001,a\rOK000002,c\r").await;
    assert!(succeeded(code), "{out}");
    assert_eq!(out, "imported 2 bands\n");
}

/// Ids repeated within the file (in any letter case) are reported as duplicates of their first line.
#[tokio::test]
async fn duplicates_within_the_file_name_the_first_line() {
    let s = Setup::new().await;
    let out = s
        .rejected("band_id,label\nDUPE0001,a\ndupe0001,b\nDUPE0002,c\nDUPE0001,d\ndupe0002,e\nUNIQ0001,f\n")
        .await;
    assert_eq!(
        out,
        report(&[
            "line 3 (DUPE0001): duplicate of line 2",
            "line 5 (DUPE0001): duplicate of line 2",
            "line 6 (DUPE0002): duplicate of line 4",
        ])
    );
}

/// Ids already registered, in another organisation's event or this one, are refused; existing bands are untouched.
#[tokio::test]
async fn ids_registered_anywhere_are_refused_and_left_untouched() {
    let s = Setup::new().await;
    let (other_org, other_event) = org_with_event(&s.db, &s.opts, "Rival").await;
    let (code, out) =
        import_into(&s.db, &s.opts, other_event, b"band_id,label\nTAKEN001,theirs\nTAKEN002,theirs\n").await;
    assert!(succeeded(code), "{out}");
    let theirs = bands(&s.db).await;

    let out = s.rejected("band_id,label\nNEW00001,x\ntaken001,mine\nNEW00002,z\nTaken002,mine\n").await;
    assert_eq!(
        out,
        report(&[
            "line 3 (TAKEN001): band id is already registered",
            "line 5 (TAKEN002): band id is already registered",
        ])
    );
    // Re-importing into the very event that holds them is refused too.
    let (code, out) = import_into(&s.db, &s.opts, other_event, b"band_id\nTAKEN001\n").await;
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(out, report(&["line 2 (TAKEN001): band id is already registered"]));

    assert_eq!(bands(&s.db).await, theirs);
    assert!(theirs.iter().all(|b| b.1 == other_event && b.2 == other_org && b.3 == "theirs"));
}

/// A file with malformed rows AND duplicate or registered ids reports every bad row, not just the malformed.
#[tokio::test]
async fn malformed_rows_and_duplicates_are_reported_together() {
    let s = Setup::new().await;
    let (code, out) = s.import("band_id\nOLD00001\n").await;
    assert!(succeeded(code), "{out}");
    let out = s.rejected("band_id\nMIX00001\nab\nmix00001\nold00001\n").await;
    assert_eq!(
        out,
        report(&[
            "line 3 (ab): invalid band id: band id is too short (at least 4 characters)",
            "line 4 (MIX00001): duplicate of line 2",
            "line 5 (OLD00001): band id is already registered",
        ])
    );
}

/// A formula cell as a band id is rejected naming its line; nothing is stored.
#[tokio::test]
async fn formula_band_ids_are_rejected_naming_the_line() {
    let s = Setup::new().await;
    let out = s.rejected("band_id,label\nSAFE0001,ok\n=cmd|' /C calc'!A0,x\n+SUM(1+1),y\n@SUM(A1),z\n").await;
    let id_chars = "invalid band id: band id may only contain letters, digits, '_' and '-'";
    assert_eq!(
        out,
        report(&[
            &format!("line 3 (=cmd|' /C calc'!A0): {id_chars}"),
            &format!("line 4 (+SUM(1+1)): {id_chars}"),
            &format!("line 5 (@SUM(A1)): {id_chars}"),
        ])
    );
}

/// Formula cells as labels are stored verbatim, and `spreadsheet_safe` prefixes them with an apostrophe.
#[tokio::test]
async fn formula_labels_are_stored_verbatim_and_neutralised_for_spreadsheets() {
    let s = Setup::new().await;
    let formulas = [
        "=cmd|' /C calc'!A0",
        "+SUM(1+1)",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "=HYPERLINK(\"https://evil.example\")",
    ];
    let mut csv = String::from("band_id,label\n");
    for (i, f) in formulas.iter().enumerate() {
        csv.push_str(&format!("FORM000{i},\"{}\"\n", f.replace('"', "\"\"")));
    }
    csv.push_str("FORM0009,Plain label\n");
    let (code, out) = s.import(&csv).await;
    assert!(succeeded(code), "{out}");
    assert_eq!(out, format!("imported {} bands\n", formulas.len() + 1));

    let stored = bands(&s.db).await;
    for (i, f) in formulas.iter().enumerate() {
        let label = &stored[i].3;
        assert_eq!(label, f, "stored verbatim");
        let safe = spreadsheet_safe(label);
        assert!(safe.starts_with('\''), "{safe}");
        assert_eq!(&safe[1..], *f);
    }
    assert_eq!(stored[formulas.len()].3, "Plain label");
    assert_eq!(spreadsheet_safe(&stored[formulas.len()].3), "Plain label", "plain text is left alone");
}

/// Rejected ids are echoed without control characters: no terminal escapes, no forged report lines.
#[tokio::test]
async fn rejected_ids_are_echoed_without_control_characters() {
    let s = Setup::new().await;
    let out = s
        .rejected(
            "band_id\n\u{1b}]0;owned\u{7}\u{1b}[2JEVIL\n\"FAKE\nline 9 (X): looks like a report line\"\n",
        )
        .await;
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "control characters echoed: {out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "one summary and one line per bad row: {out:?}");
    assert!(lines[1].starts_with("line 2 ") && lines[2].starts_with("line 3 "), "{out:?}");
}

/// Header problems (empty, header only, no band_id, unknown or repeated columns) are reported; nothing is stored.
#[tokio::test]
async fn header_problems_are_reported() {
    let s = Setup::new().await;
    let expected_columns = "expected band_id, label, status, override_url";
    let cases: [(&[u8], String); 10] = [
        (b"", "line 1: file is empty: expected a header row with band_id".into()),
        (b"\xEF\xBB\xBF", "line 1: file is empty: expected a header row with band_id".into()),
        (b"band_id\n", "line 2: no bands in file".into()),
        (b"band_id\r\n\r\n\r\n", "line 2: no bands in file".into()),
        (b"label,status\nGate A,active\n", "line 1: header must name a band_id column".into()),
        (b"band_id,colour\nDEMO0001,red\n", format!("line 1: unknown column \"colour\": {expected_columns}")),
        (b"DEMO0001\nDEMO0002\n", format!("line 1: unknown column \"demo0001\": {expected_columns}")),
        (b"band_id,label,id\nDEMO0001,a,b\n", "line 1: column band_id appears twice".into()),
        (b"band_id,label,name\nDEMO0001,a,b\n", "line 1: column name appears twice".into()),
        (b"band_id,\xff\xfe\nDEMO0001,a\n", "line 1: header is not UTF-8".into()),
    ];
    for (csv, line) in cases {
        let out = s.rejected(csv).await;
        assert_eq!(out, report(&[&line]), "{:?}", String::from_utf8_lossy(csv));
    }
}

/// Importing into an event that does not exist is "not found" and stores nothing.
#[tokio::test]
async fn import_into_an_unknown_event_is_not_found() {
    let s = Setup::new().await;
    let before = counts(&s.db).await;
    let (code, out) = import_into(&s.db, &s.opts, Uuid::new_v4(), b"band_id\nNOWHERE1\n").await;
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(out, "error: not found");
    assert_eq!(counts(&s.db).await, before);
}

// ---------------------------------------------------------------- limits

/// A ~5 MB file of 100 000 rows imports completely: 100 000 bands and band outbox rows, exactly one audit row.
#[tokio::test]
async fn a_100_000_row_file_imports_completely_with_one_audit_row() {
    let s = Setup::new().await;
    let csv = bulk_csv(100_000);
    assert!((4_500_000..6_000_000).contains(&csv.len()), "about 5 MB: {}", csv.len());
    let started = Instant::now();
    let (code, out) = s.import(&csv).await;
    eprintln!("importing 100 000 rows ({} bytes) took {:?}", csv.len(), started.elapsed());
    assert!(succeeded(code), "{out}");
    assert_eq!(out, "imported 100000 bands\n");

    // Every band of the file, each with its own label and override URL.
    let (stored, distinct, intact): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT band_id),
                count(*) FILTER (WHERE status = 'active'
                                   AND label = 'Seat ' || substr(band_id, 5)::int
                                   AND override_url = 'https://example.com/s/' || substr(band_id, 5)::int)
         FROM bands WHERE event_id = $1 AND org_id = $2",
    )
    .bind(s.event)
    .bind(s.org)
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    assert_eq!((stored, distinct, intact), (100_000, 100_000, 100_000));
    assert_eq!(counts(&s.db).await.bands, 100_000);

    let (band_rows, band_keys): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT key) FROM kv_outbox WHERE key LIKE 'band:%'")
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
    assert_eq!((band_rows, band_keys), (100_000, 100_000));

    let audit: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'bands.imported'")
            .fetch_all(&s.db.pool)
            .await
            .unwrap();
    assert_eq!(audit, [serde_json::json!({"count": 100_000, "first": "BULK000000", "last": "BULK099999"})]);
}

/// A file of 100 001 rows is refused naming the first row over the limit, with nothing stored.
#[tokio::test]
async fn a_100_001_row_file_is_refused() {
    let s = Setup::new().await;
    let out = s.rejected(bulk_csv(100_001)).await;
    assert_eq!(out, report(&["line 100002: more than 100000 rows"]));
}

/// A file of exactly 20 MiB is accepted; one byte more is refused, naming the file, with nothing stored.
#[tokio::test]
async fn files_over_20_mib_are_refused() {
    let s = Setup::new().await;
    let mut csv = b"band_id\nEDGE0001\n".to_vec();
    csv.resize(MAX_FILE_BYTES, b'\n'); // blank lines are skipped
    assert_eq!(MAX_FILE_BYTES, 20 * 1024 * 1024);

    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    let event = s.event.to_string();
    let args = ["bands", "import", "--event", &event, "--csv", path];

    csv.push(b'\n');
    std::fs::write(path, &csv).unwrap();
    let before = counts(&s.db).await;
    let (code, out) = cli(&s.db, &s.opts, &args).await;
    assert_eq!(code, ExitCode::FAILURE, "{out}");
    assert_eq!(out, format!("error: {path} is larger than 20 MiB"));
    assert_eq!(counts(&s.db).await, before);

    csv.pop();
    std::fs::write(path, &csv).unwrap();
    let (code, out) = cli(&s.db, &s.opts, &args).await;
    assert!(succeeded(code), "{out}");
    assert_eq!(out, "imported 1 bands\n");
}
