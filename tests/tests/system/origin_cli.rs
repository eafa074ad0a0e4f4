//! The admin CLI, black-box: every subcommand's happy path checked against the
//! database afterwards, and hostile or malformed arguments refused with a clear
//! message, a non-zero exit code and nothing stored.

use std::mem::ManuallyDrop;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use origin_api::clock::SystemClock;
use origin_api::demo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::eventually;
use system_tests::origin::{Origin, OriginOptions, cli, succeeded};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

/// `--starts-at … --ends-at …`: one day.
const ONE_DAY: [&str; 4] = ["--starts-at", "2027-01-01T00:00:00Z", "--ends-at", "2027-01-02T00:00:00Z"];

/// A command line split on whitespace (for arguments without spaces).
fn argv(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs the CLI, asserts it succeeded and returns its output.
async fn ok(db: &TestDb, opts: &OriginOptions, args: &[&str]) -> String {
    let (code, out) = cli(db, opts, args).await;
    assert!(succeeded(code), "{args:?} failed: {out}");
    out
}

/// Runs the CLI, asserts it failed with exit code 1 (a refused operation) and returns its output.
async fn refused(db: &TestDb, opts: &OriginOptions, args: &[&str]) -> String {
    let (code, out) = cli(db, opts, args).await;
    assert_eq!(code, ExitCode::FAILURE, "{args:?} should be refused, got: {out}");
    out
}

/// Runs the CLI, asserts argument parsing failed (exit code 2) and returns clap's message.
async fn usage_error(db: &TestDb, opts: &OriginOptions, args: &[&str]) -> String {
    let (code, out) = cli(db, opts, args).await;
    assert_eq!(code, ExitCode::from(2), "{args:?} should be a usage error, got: {out}");
    out
}

/// Row counts of every table the CLI writes.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    organizations: i64,
    users: i64,
    events: i64,
    event_windows: i64,
    bands: i64,
    audit_log: i64,
    kv_outbox: i64,
}

async fn counts(db: &TestDb) -> Counts {
    let (organizations, users, events, event_windows, bands, audit_log, kv_outbox) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM organizations), (SELECT count(*) FROM users),
                (SELECT count(*) FROM events), (SELECT count(*) FROM event_windows),
                (SELECT count(*) FROM bands), (SELECT count(*) FROM audit_log),
                (SELECT count(*) FROM kv_outbox)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    Counts { organizations, users, events, event_windows, bands, audit_log, kv_outbox }
}

/// Creates an organisation through the CLI; returns its id.
async fn new_org(db: &TestDb, opts: &OriginOptions, name: &str) -> Uuid {
    let out = ok(db, opts, &["org", "create", "--name", name]).await;
    out.split('\t').next().unwrap().parse().unwrap()
}

/// Creates an event (default URL set) through the CLI; returns its id.
async fn new_event(db: &TestDb, opts: &OriginOptions, org: Uuid) -> Uuid {
    let org = org.to_string();
    let out = ok(
        db,
        opts,
        &["event", "create", "--org", &org, "--name", "Fest", "--default-url", "https://example.com/default"],
    )
    .await;
    out.trim().parse().unwrap()
}

/// Imports `csv` into `event` through the CLI and asserts it succeeded.
async fn import(db: &TestDb, opts: &OriginOptions, event: Uuid, csv: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), csv).unwrap();
    let event = event.to_string();
    ok(db, opts, &["bands", "import", "--event", &event, "--csv", file.path().to_str().unwrap()]).await;
}

/// Adds a window from `from` to `to` (times of 2027-06-01 UTC) to `event` through the CLI.
async fn add_window(
    db: &TestDb,
    opts: &OriginOptions,
    event: &str,
    from: &str,
    to: &str,
) -> (ExitCode, String) {
    let line = format!(
        "event window add {event} --starts-at 2027-06-01T{from}:00Z --ends-at 2027-06-01T{to}:00Z --url https://e.com/w"
    );
    cli(db, opts, &argv(&line)).await
}

/// The `op` of every outbox row for `key`, oldest first.
async fn outbox_ops(db: &TestDb, key: &str) -> Vec<serde_json::Value> {
    sqlx::query_scalar("SELECT op FROM kv_outbox WHERE key = $1 ORDER BY seq")
        .bind(key)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

/// Actions of the audit trail, in order.
async fn audit_actions(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_log ORDER BY seq").fetch_all(&db.pool).await.unwrap()
}

/// A timestamp from RFC 3339.
fn ts(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().unwrap()
}

/// The user row for `email` (case-insensitive): (id, org_id, email, name, role, password_hash).
type UserRow = (Uuid, Option<Uuid>, String, String, String, String);

async fn user_row(db: &TestDb, email: &str) -> Option<UserRow> {
    sqlx::query_as(
        "SELECT id, org_id, email, name, role, password_hash FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(&db.pool)
    .await
    .unwrap()
}

/// Whether `password` verifies against `hash`.
async fn verifies(password: &str, hash: &str) -> bool {
    origin_api::auth::password::verify(password.to_string().into(), Some(hash.to_string())).await
        == origin_api::auth::password::Verified::Yes
}

/// Every maximal run of ASCII hex digits in `s` at least `min` long.
fn hex_runs(s: &str, min: usize) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_hexdigit()).filter(|run| run.len() >= min).collect()
}

// ------------------------------------------ running the CLI with a stdin

const STDIN_CHILD: &str = "SM_CLI_STDIN_CHILD";

/// What the child half of [`cli_with_stdin`] runs, and where it reports.
#[derive(Serialize, Deserialize)]
struct ChildSpec {
    db_name: String,
    db_url: String,
    signing_keys: String,
    audit_keys: String,
    /// `OriginOptions::extra` (e.g. `APP_ENV`).
    extra: Vec<(String, String)>,
    args: Vec<String>,
    report: std::path::PathBuf,
}

/// What the child reports back.
#[derive(Serialize, Deserialize)]
struct ChildReport {
    succeeded: bool,
    output: String,
}

/// A CLI run in a child process.
struct ChildRun {
    succeeded: bool,
    output: String,
    /// Whether the child read all of the standard input it was given.
    read_all_stdin: bool,
}

/// Runs the CLI with `stdin` as its standard input, in a child process (this
/// test binary re-executed to run [`stdin_child`]).
async fn cli_with_stdin(db: &TestDb, opts: &OriginOptions, args: &[&str], stdin: &[u8]) -> ChildRun {
    let report = tempfile::NamedTempFile::new().unwrap();
    let spec = ChildSpec {
        db_name: db.name.clone(),
        db_url: db.url.clone(),
        signing_keys: opts.signing_keys.clone(),
        audit_keys: opts.audit_keys.clone(),
        extra: opts.extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        args: args.iter().map(|a| a.to_string()).collect(),
        report: report.path().to_path_buf(),
    };
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["origin_cli::stdin_child", "--exact", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(STDIN_CHILD, serde_json::to_string(&spec).unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // Fails (broken pipe) when the child exits without reading everything.
    let read_all_stdin = pipe.write_all(stdin).await.is_ok();
    drop(pipe);
    assert!(child.wait().await.unwrap().success(), "the CLI child process crashed");
    let report: ChildReport = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    ChildRun { succeeded: report.succeeded, output: report.output, read_all_stdin }
}

/// Not a test: the child half of [`cli_with_stdin`] (does nothing unless started by it).
#[tokio::test]
#[ignore = "helper process for cli_with_stdin"]
async fn stdin_child() {
    let Ok(spec) = std::env::var(STDIN_CHILD) else { return };
    let spec: ChildSpec = serde_json::from_str(&spec).unwrap();
    let pool = sqlx::PgPool::connect(&spec.db_url).await.unwrap();
    // The parent owns (and drops) the database.
    let db = ManuallyDrop::new(TestDb { name: spec.db_name, url: spec.db_url, pool });
    // Leaked: the names must be 'static, and this process ends right after the run.
    let extra = spec.extra.into_iter().map(|(k, v)| (&*k.leak(), v)).collect();
    let opts = OriginOptions {
        signing_keys: spec.signing_keys,
        audit_keys: spec.audit_keys,
        extra,
        ..Default::default()
    };
    let args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
    let (code, output) = cli(&db, &opts, &args).await;
    let report = ChildReport { succeeded: succeeded(code), output };
    std::fs::write(&spec.report, serde_json::to_vec(&report).unwrap()).unwrap();
}

// ------------------------------------------------------------ migrate

/// `migrate` reports success and is idempotent on an already migrated database.
#[tokio::test]
async fn migrate_applies_and_is_idempotent() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    for _ in 0..2 {
        assert_eq!(ok(&db, &opts, &["migrate"]).await, "migrations applied\n");
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, origin_api::db::MIGRATOR.iter().count());
}

// ---------------------------------------------------------------- org

/// `org create` prints `<uuid>\t<slug>`, derives the slug from the name, stores and audits the org.
#[tokio::test]
async fn org_create_prints_id_and_slug_and_stores_an_audited_org() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();

    let out = ok(&db, &opts, &["org", "create", "--name", "Glastonbury Festival 2027!"]).await;
    let (id, slug) = out.trim_end_matches('\n').split_once('\t').unwrap();
    let id: Uuid = id.parse().unwrap();
    assert_eq!(slug, "glastonbury-festival-2027");
    assert_eq!(out, format!("{id}\tglastonbury-festival-2027\n"));

    let out = ok(&db, &opts, &["org", "create", "--name", "Other", "--slug", "other-2"]).await;
    let other: Uuid = out.split('\t').next().unwrap().parse().unwrap();
    assert_eq!(out, format!("{other}\tother-2\n"));

    let stored: (String, String) = sqlx::query_as("SELECT name, slug FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, ("Glastonbury Festival 2027!".into(), "glastonbury-festival-2027".into()));
    let audited: Vec<(String, String, String)> =
        sqlx::query_as("SELECT action, actor_type, target_id FROM audit_log ORDER BY seq")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        audited,
        vec![
            ("org.created".into(), "cli".into(), id.to_string()),
            ("org.created".into(), "cli".into(), other.to_string())
        ]
    );
}

/// A taken slug and malformed slugs are refused with a clear message and nothing stored.
#[tokio::test]
async fn org_create_refuses_taken_and_malformed_slugs() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    new_org(&db, &opts, "Demo").await;
    let before = counts(&db).await;

    let out = refused(&db, &opts, &["org", "create", "--name", "Demo"]).await;
    assert_eq!(out, "error: that slug is taken");
    for slug in ["Upper", "-leading-dash", "has space", "../etc", &"a".repeat(64)] {
        let slug_arg = format!("--slug={slug}");
        let out = refused(&db, &opts, &["org", "create", "--name", "X", &slug_arg]).await;
        assert_eq!(out, "error: slug: must be 1-63 characters of a-z, 0-9 and '-'", "slug {slug:?}");
    }
    // A name with nothing to derive a slug from.
    let out = refused(&db, &opts, &["org", "create", "--name", "日本"]).await;
    assert_eq!(out, "error: slug: must be 1-63 characters of a-z, 0-9 and '-'");
    assert_eq!(counts(&db).await, before);
}

// --------------------------------------------------------------- user

/// `user create` prints `<uuid>\t<email>\t<role>` and a hint, never the generated password or its hash.
#[tokio::test]
async fn user_create_with_generated_password_prints_nothing_secret() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();

    let out = ok(
        &db,
        &opts,
        &["user", "create", "--email", "Admin@Example.com", "--name", "Ada", "--role", "ADMIN"],
    )
    .await;
    let (id, _, email, name, role, hash) = user_row(&db, "admin@example.com").await.unwrap();
    assert_eq!((email.as_str(), name.as_str(), role.as_str()), ("Admin@Example.com", "Ada", "ADMIN"));
    assert_eq!(
        out,
        format!(
            "{id}\tAdmin@Example.com\tADMIN\n\
             a random password was set; rerun with --show-password to see one, or use the password reset\n"
        )
    );
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    // No hash, no fragment of one, and no 36-hex-digit password anywhere in the output.
    assert!(!out.contains('$'), "{out}");
    for part in hash.split('$').filter(|p| p.len() >= 8) {
        assert!(!out.contains(part), "output leaks part of the hash: {out}");
    }
    assert!(hex_runs(&out, 33).is_empty(), "output holds a password-like hex string: {out}");

    // The audit row describes the user without the hash.
    let after: String = sqlx::query_scalar("SELECT after::text FROM audit_log WHERE action = 'user.created'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(after.contains(&id.to_string()), "{after}");
    assert!(!after.contains("argon2") && !after.contains("password"), "audit row leaks a secret: {after}");
}

/// With `--show-password` the second line is `password: <36 hex chars>`, and that password is the one set.
#[tokio::test]
async fn user_create_show_password_prints_the_36_hex_password_that_was_set() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();

    let out =
        ok(&db, &opts, &argv("user create --email ops@example.com --name Ops --role admin --show-password"))
            .await;
    let (id, _, _, _, role, hash) = user_row(&db, "ops@example.com").await.unwrap();
    assert_eq!(role, "ADMIN", "--role is case-insensitive");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], format!("{id}\tops@example.com\tADMIN"));
    let password = lines[1].strip_prefix("password: ").expect("a password line");
    assert_eq!(password.len(), 36, "{password}");
    assert!(password.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{password}");
    assert!(!out.contains(&hash), "the hash is never printed");
    assert!(verifies(password, &hash).await, "the printed password is the one stored");
    assert!(!verifies("wrong", &hash).await);

    // Two users never get the same generated password.
    let out =
        ok(&db, &opts, &argv("user create --email ops2@example.com --name Ops --role ADMIN --show-password"))
            .await;
    assert_ne!(out.lines().nth(1).unwrap(), lines[1]);
}

/// A CUSTOMER is created inside its organisation.
#[tokio::test]
async fn user_create_customer_belongs_to_its_org() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let org_s = org.to_string();

    let out = ok(
        &db,
        &opts,
        &argv(&format!("user create --email c@acme.example --name Cy --role CUSTOMER --org {org_s}")),
    )
    .await;
    let (id, user_org, ..) = user_row(&db, "c@acme.example").await.unwrap();
    assert_eq!(user_org, Some(org));
    assert_eq!(out.lines().next().unwrap(), format!("{id}\tc@acme.example\tCUSTOMER"));
    let audited: (Option<Uuid>, String) =
        sqlx::query_as("SELECT org_id, target_id FROM audit_log WHERE action = 'user.created'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audited, (Some(org), id.to_string()));
}

/// A CUSTOMER without `--org` is refused with a clear message and nothing stored.
#[tokio::test]
async fn user_create_customer_without_org_is_refused() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let before = counts(&db).await;
    let out = refused(
        &db,
        &opts,
        &["user", "create", "--email", "c@example.com", "--name", "C", "--role", "CUSTOMER"],
    )
    .await;
    assert_eq!(out, "error: org: a CUSTOMER must belong to an organisation");
    assert_eq!(counts(&db).await, before);
}

/// An email already used, in any letter case, is refused and the first user is untouched.
#[tokio::test]
async fn user_create_refuses_duplicate_email_case_insensitively() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    ok(&db, &opts, &["user", "create", "--email", "dup@example.com", "--name", "First", "--role", "ADMIN"])
        .await;
    let first = user_row(&db, "dup@example.com").await.unwrap();
    let before = counts(&db).await;

    for email in ["dup@example.com", "DUP@Example.COM", "  Dup@example.com  "] {
        let out =
            refused(&db, &opts, &["user", "create", "--email", email, "--name", "Second", "--role", "ADMIN"])
                .await;
        assert_eq!(out, "error: a user with that email exists", "{email:?}");
    }
    assert_eq!(counts(&db).await, before);
    assert_eq!(user_row(&db, "dup@example.com").await.unwrap(), first);
}

/// Malformed email addresses are refused with a clear message and nothing stored.
#[tokio::test]
async fn user_create_refuses_malformed_emails() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let before = counts(&db).await;
    let long = format!("{}@example.com", "a".repeat(250));
    for email in [
        "",
        "plainaddress",
        "@example.com",
        "a@localhost",
        "a@.example.com",
        "a@example.com.",
        "a@b@example.com",
        "a b@example.com",
        "a@exam\tple.com",
        "a\u{0}@example.com",
        long.as_str(),
    ] {
        let out =
            refused(&db, &opts, &["user", "create", "--email", email, "--name", "N", "--role", "ADMIN"])
                .await;
        assert_eq!(out, "error: email: is not a valid email address", "{email:?}");
    }
    assert_eq!(counts(&db).await, before);
}

/// An unknown role is a usage error; an unknown organisation is "not found"; neither stores anything.
#[tokio::test]
async fn user_create_refuses_unknown_role_and_unknown_org() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let before = counts(&db).await;

    for role in ["ROOT", "", "ADMIN;"] {
        let out = usage_error(
            &db,
            &opts,
            &["user", "create", "--email", "r@example.com", "--name", "R", "--role", role],
        )
        .await;
        assert!(out.contains("role must be ADMIN or CUSTOMER"), "{out}");
    }
    let unknown = Uuid::new_v4().to_string();
    let out = refused(
        &db,
        &opts,
        &argv(&format!("user create --email u@example.com --name U --role CUSTOMER --org {unknown}")),
    )
    .await;
    assert_eq!(out, "error: not found");
    assert_eq!(counts(&db).await, before);
}

/// `--password-stdin` sets the password given (sans line ending) and prints only the user line, shown or not.
#[tokio::test]
async fn user_create_password_stdin_sets_that_password_and_prints_only_the_user() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let password = "correct horse battery staple 42";
    for (email, show) in [("in@example.com", None), ("shown@example.com", Some("--show-password"))] {
        let mut args =
            vec!["user", "create", "--email", email, "--name", "In", "--role", "ADMIN", "--password-stdin"];
        args.extend(show);
        let run = cli_with_stdin(&db, &opts, &args, format!("{password}\r\n").as_bytes()).await;
        assert!(run.succeeded, "{}", run.output);
        let (id, _, _, _, _, hash) = user_row(&db, email).await.unwrap();
        assert_eq!(run.output, format!("{id}\t{email}\tADMIN\n"), "{args:?}");
        assert!(verifies(password, &hash).await, "the stdin password is the one stored");
        assert!(!verifies(&format!("{password}\r\n"), &hash).await, "the line ending is not part of it");
    }
}

/// An empty or common password read from stdin is refused and no user is stored
/// (DESIGN: NIST SP 800-63B policy, length over composition, common-password check).
#[tokio::test]
async fn user_create_password_stdin_refuses_empty_and_common_passwords() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let before = counts(&db).await;
    let mut accepted = Vec::new();
    for (i, weak) in ["", "\n", "a", "password", "12345678"].into_iter().enumerate() {
        let email = format!("weak{i}@example.com");
        let args =
            ["user", "create", "--email", &email, "--name", "W", "--role", "ADMIN", "--password-stdin"];
        let run = cli_with_stdin(&db, &opts, &args, weak.as_bytes()).await;
        if run.succeeded || !run.output.starts_with("error: password: ") {
            accepted.push(format!("{weak:?} → {:?}", run.output));
        }
    }
    assert!(accepted.is_empty(), "weak passwords were not refused:\n{}", accepted.join("\n"));
    assert_eq!(counts(&db).await, before);
}

// -------------------------------------------------------------- event

/// `event create` with every option prints the id, stores normalised values, audits and queues the event.
#[tokio::test]
async fn event_create_with_every_option_stores_audits_and_queues_the_event() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let org_s = org.to_string();

    let out = ok(
        &db,
        &opts,
        &[
            "event",
            "create",
            "--org",
            &org_s,
            "--name",
            "  Summer Fest  ",
            "--timezone",
            "Europe/London",
            "--default-url",
            "https://Example.COM/Live?x=1",
            "--fallback-url",
            "https://example.com/sorry",
            "--status",
            "inactive",
            "--starts-at",
            "2027-06-01T10:00:00Z",
            "--ends-at",
            "2027-06-03T22:00:00+02:00",
        ],
    )
    .await;
    let id: Uuid = out.trim_end().parse().unwrap();
    assert_eq!(out, format!("{id}\n"));

    type EventRow =
        (Uuid, String, String, Option<String>, Option<String>, String, DateTime<Utc>, DateTime<Utc>);
    let row: EventRow = sqlx::query_as(
        "SELECT org_id, name, timezone, default_url, fallback_url, status, starts_at, ends_at
         FROM events WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            org,
            "Summer Fest".into(),
            "Europe/London".into(),
            Some("https://example.com/Live?x=1".into()),
            Some("https://example.com/sorry".into()),
            "inactive".into(),
            ts("2027-06-01T10:00:00Z"),
            ts("2027-06-03T20:00:00Z"),
        )
    );
    assert_eq!(audit_actions(&db).await, ["org.created", "event.created"]);
    let ops = outbox_ops(&db, &format!("event:{id}")).await;
    assert_eq!(ops.len(), 1);
    let record = &ops[0]["put_event"]["record"];
    assert_eq!(record["status"], "inactive");
    assert_eq!(record["org_id"], org.to_string());
    assert_eq!(record["default_url"], "https://example.com/Live?x=1");
    assert_eq!(record["fallback_url"], "https://example.com/sorry");
    assert_eq!(record["windows"], serde_json::json!([]));

    // Defaults: UTC, active, no URLs.
    let out = ok(&db, &opts, &["event", "create", "--org", &org_s, "--name", "Bare"]).await;
    let bare: Uuid = out.trim_end().parse().unwrap();
    let row: (String, String, Option<String>) =
        sqlx::query_as("SELECT timezone, status, default_url FROM events WHERE id = $1")
            .bind(bare)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(row, ("UTC".into(), "active".into(), None));
}

/// `event update` changes only what it is given, clears URLs with "", audits a freeze and queues the event.
#[tokio::test]
async fn event_update_changes_given_fields_clears_urls_and_audits_freeze() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event = new_event(&db, &opts, org).await;
    let event_s = event.to_string();

    let out = ok(
        &db,
        &opts,
        &[
            "event",
            "update",
            &event_s,
            "--name",
            "Renamed",
            "--status",
            "frozen",
            "--default-url",
            "",
            "--fallback-url",
            "https://example.com/fallback",
        ],
    )
    .await;
    assert_eq!(out, format!("updated {event}\n"));
    let row: (String, String, String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT name, timezone, status, default_url, fallback_url FROM events WHERE id = $1")
            .bind(event)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        ("Renamed".into(), "UTC".into(), "frozen".into(), None, Some("https://example.com/fallback".into()))
    );
    assert_eq!(audit_actions(&db).await, ["org.created", "event.created", "event.frozen"]);
    let ops = outbox_ops(&db, &format!("event:{event}")).await;
    assert_eq!(ops.len(), 2, "create and update each queue the event");
    let record = &ops[1]["put_event"]["record"];
    assert_eq!(record["status"], "frozen");
    assert!(record.get("default_url").is_none(), "{record}");
    assert_eq!(record["fallback_url"], "https://example.com/fallback");

    ok(&db, &opts, &["event", "update", &event_s, "--status", "active", "--timezone", "America/New_York"])
        .await;
    assert_eq!(audit_actions(&db).await.last().unwrap(), "event.unfrozen");
    let row: (String, String, String) =
        sqlx::query_as("SELECT name, timezone, status FROM events WHERE id = $1")
            .bind(event)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(row, ("Renamed".into(), "America/New_York".into(), "active".into()));
}

/// `event window add` prints the window id, stores and audits the window and queues the event carrying it.
#[tokio::test]
async fn event_window_add_stores_the_window_and_queues_the_event_with_it() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event = new_event(&db, &opts, org).await;
    let event_s = event.to_string();
    let before = outbox_ops(&db, &format!("event:{event}")).await.len();

    let span = "--starts-at 2027-06-01T18:00:00Z --ends-at 2027-06-01T23:00:00Z";
    let line = format!("event window add {event_s} {span} --url https://example.com/live --label live");
    let out = ok(&db, &opts, &argv(&line)).await;
    let window: Uuid = out.trim_end().parse().unwrap();
    assert_eq!(out, format!("{window}\n"));
    let row: (Uuid, String, String, DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("SELECT event_id, label, url, starts_at, ends_at FROM event_windows WHERE id = $1")
            .bind(window)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        (
            event,
            "live".into(),
            "https://example.com/live".into(),
            ts("2027-06-01T18:00:00Z"),
            ts("2027-06-01T23:00:00Z")
        )
    );
    assert_eq!(audit_actions(&db).await.last().unwrap(), "event.window_added");
    let ops = outbox_ops(&db, &format!("event:{event}")).await;
    assert_eq!(ops.len(), before + 1, "one new outbox row for the event");
    assert_eq!(
        ops.last().unwrap()["put_event"]["record"]["windows"],
        serde_json::json!([{
            "starts_at": ts("2027-06-01T18:00:00Z").timestamp(),
            "ends_at": ts("2027-06-01T23:00:00Z").timestamp(),
            "url": "https://example.com/live",
            "label": "live",
        }])
    );
}

/// Windows may touch (end is exclusive) but not overlap; another event's schedule is independent.
#[tokio::test]
async fn touching_windows_are_allowed_and_overlapping_ones_refused() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event = new_event(&db, &opts, org).await.to_string();
    let other = new_event(&db, &opts, org).await.to_string();
    assert!(succeeded(add_window(&db, &opts, &event, "10:00", "12:00").await.0));
    assert!(
        succeeded(add_window(&db, &opts, &event, "12:00", "14:00").await.0),
        "touching at 12:00 is not overlapping"
    );
    assert!(succeeded(add_window(&db, &opts, &event, "08:00", "10:00").await.0));
    assert!(
        succeeded(add_window(&db, &opts, &other, "11:00", "13:00").await.0),
        "other events are independent"
    );
    let before = counts(&db).await;
    for (from, to) in [("11:00", "13:00"), ("09:59", "10:01"), ("10:30", "11:30"), ("07:00", "15:00")] {
        let (code, out) = add_window(&db, &opts, &event, from, to).await;
        assert_eq!(code, ExitCode::FAILURE, "{from}-{to}: {out}");
        assert_eq!(out, "error: the window overlaps another window of this event", "{from}-{to}");
    }
    assert_eq!(counts(&db).await, before);
}

/// A window ending before or when it starts is refused with nothing stored.
#[tokio::test]
async fn window_ending_before_it_starts_is_refused() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event = new_event(&db, &opts, org).await.to_string();
    let before = counts(&db).await;
    for (from, to) in [("12:00", "11:00"), ("12:00", "12:00")] {
        let (code, out) = add_window(&db, &opts, &event, from, to).await;
        assert_eq!(code, ExitCode::FAILURE, "{from}-{to}: {out}");
        assert_eq!(out, "error: ends_at: must be after the start");
    }
    // Same rule for an event's own span.
    let org_s = org.to_string();
    let span = "--starts-at 2027-06-02T00:00:00Z --ends-at 2027-06-01T00:00:00Z";
    let out =
        refused(&db, &opts, &argv(&format!("event create --org {org_s} --name Backwards {span}"))).await;
    assert_eq!(out, "error: ends_at: must be after the start");
    assert_eq!(counts(&db).await, before);
}

// ------------------------------------------------------------ kv, audit

/// `kv resync` queues the event plus one row per band of that event (and none of other events' bands).
#[tokio::test]
async fn kv_resync_queues_the_event_and_each_of_its_bands() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event = new_event(&db, &opts, org).await;
    let other = new_event(&db, &opts, org).await;
    import(&db, &opts, event, "band_id,status\nres00001,\nRES00002,lost\nRES00003,disabled\n").await;
    import(&db, &opts, other, "band_id\nOTHER001\n").await;
    let max_seq: i64 =
        sqlx::query_scalar("SELECT max(seq) FROM kv_outbox").fetch_one(&db.pool).await.unwrap();
    let audit_before = counts(&db).await.audit_log;

    let event_s = event.to_string();
    let out = ok(&db, &opts, &["kv", "resync", "--event", &event_s]).await;
    assert_eq!(out, "queued 4 records for the edge\n");
    let queued: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT key, op FROM kv_outbox WHERE seq > $1 ORDER BY seq")
            .bind(max_seq)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let keys: Vec<&str> = queued.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, [format!("event:{event}").as_str(), "band:RES00001", "band:RES00002", "band:RES00003"]);
    let statuses: Vec<&serde_json::Value> =
        queued[1..].iter().map(|(_, op)| &op["put_band"]["record"]["status"]).collect();
    assert_eq!(statuses, ["active", "lost", "disabled"]);
    assert!(queued[1..].iter().all(|(_, op)| op["put_band"]["record"]["event_id"] == event.to_string()));
    assert_eq!(counts(&db).await.audit_log, audit_before, "a resync changes no data");

    // An event without bands queues just itself.
    let empty = new_event(&db, &opts, org).await.to_string();
    assert_eq!(ok(&db, &opts, &["kv", "resync", "--event", &empty]).await, "queued 1 records for the edge\n");
}

/// `audit verify` reports the number of rows written by the audited commands.
#[tokio::test]
async fn audit_verify_counts_every_audited_mutation() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    assert_eq!(ok(&db, &opts, &["audit", "verify"]).await, "audit chain intact: 0 rows verified\n");

    let org = new_org(&db, &opts, "Acme").await; // 1
    ok(&db, &opts, &argv("user create --email a@example.com --name A --role ADMIN")).await; // 2
    let event = new_event(&db, &opts, org).await; // 3
    let event_s = event.to_string();
    ok(&db, &opts, &["event", "update", &event_s, "--name", "B"]).await; // 4
    let span = "--starts-at 2027-01-01T00:00:00Z --ends-at 2027-01-02T00:00:00Z";
    ok(&db, &opts, &argv(&format!("event window add {event_s} {span} --url https://e.com/"))).await; // 5
    import(&db, &opts, event, "band_id\nAUD00001\nAUD00002\n").await; // 6 (one row per import)
    ok(&db, &opts, &["kv", "resync", "--event", &event_s]).await; // not audited
    refused(&db, &opts, &["org", "create", "--name", "Acme"]).await; // refused: not audited

    assert_eq!(ok(&db, &opts, &["audit", "verify"]).await, "audit chain intact: 6 rows verified\n");
    assert_eq!(
        audit_actions(&db).await,
        [
            "org.created",
            "user.created",
            "event.created",
            "event.updated",
            "event.window_added",
            "bands.imported"
        ]
    );
}

/// `audit verify` exits non-zero naming the first altered row, and refuses a chain under another key.
#[tokio::test]
async fn audit_verify_names_the_first_tampered_row() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    for name in ["One", "Two", "Three"] {
        new_org(&db, &opts, name).await;
    }
    // A different audit key cannot vouch for the chain.
    let stranger = OriginOptions::default();
    let (code, out) = cli(&db, &stranger, &["audit", "verify"]).await;
    assert_eq!(code, ExitCode::FAILURE, "{out}");
    assert!(out.starts_with("audit chain BROKEN at row 1: "), "{out}");

    // Tamper as the superuser (the app's triggers refuse it otherwise).
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update").execute(&mut *tx).await.unwrap();
    sqlx::query("UPDATE audit_log SET actor_label = 'someone else' WHERE seq = 2")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();

    let (code, out) = cli(&db, &opts, &["audit", "verify"]).await;
    assert_eq!(code, ExitCode::FAILURE, "{out}");
    assert_eq!(out, "audit chain BROKEN at row 2: content does not match its hash (row altered)\n");
}

// ----------------------------------------------------- hostile arguments

/// Ids that are not UUIDs are usage errors (exit 2) naming the bad value; nothing is stored.
#[tokio::test]
async fn non_uuid_ids_are_usage_errors() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await.to_string();
    let before = counts(&db).await;
    let window = [&["event", "window", "add", "../etc/passwd"][..], &ONE_DAY, &["--url", "https://e.com/"]];
    let sql = "'; DROP TABLE bands; --";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("not-a-uuid", argv("event create --org not-a-uuid --name X")),
        ("1234", argv("event update 1234 --name X")),
        ("../etc/passwd", window.concat()),
        (sql, vec!["bands", "import", "--event", sql, "--csv", "x.csv"]),
        (
            "00000000-0000-0000-0000-00000000000g",
            argv("kv resync --event 00000000-0000-0000-0000-00000000000g"),
        ),
        ("org-1", argv("user create --email a@b.example --name A --role CUSTOMER --org org-1")),
        ("", vec!["kv", "resync", "--event", ""]),
        ("w1", vec!["event", "window", "remove", "00000000-0000-0000-0000-000000000001", "w1"]),
    ];
    for (bad, args) in cases {
        let out = usage_error(&db, &opts, &args).await;
        assert!(out.contains(&format!("invalid value '{bad}'")), "{args:?}: {out}");
    }
    // Malformed timestamps too.
    let out =
        usage_error(&db, &opts, &argv(&format!("event create --org {org} --name X --starts-at tomorrow")))
            .await;
    assert!(out.contains("invalid value 'tomorrow'"), "{out}");
    assert_eq!(counts(&db).await, before);
}

/// Well-formed but unknown organisation and event ids are refused as "not found"; nothing is stored.
#[tokio::test]
async fn unknown_org_and_event_ids_are_not_found() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event_s = new_event(&db, &opts, org).await.to_string();
    let csv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(csv.path(), "band_id\nLOST0001\n").unwrap();
    let csv = csv.path().to_str().unwrap();
    let unknown = Uuid::new_v4().to_string();
    let org_s = org.to_string(); // an org id is not an event id
    let before = counts(&db).await;
    let cases: Vec<Vec<&str>> = vec![
        vec!["event", "create", "--org", &unknown, "--name", "X"],
        vec!["event", "update", &unknown, "--name", "X"],
        vec!["event", "update", &org_s, "--status", "frozen"],
        [&["event", "window", "add", &unknown][..], &ONE_DAY, &["--url", "https://e.com/"]].concat(),
        vec!["bands", "import", "--event", &unknown, "--csv", csv],
        vec!["bands", "import", "--event", &org_s, "--csv", csv],
        vec!["kv", "resync", "--event", &unknown],
        vec!["event", "window", "remove", &unknown, &unknown],
        vec!["event", "window", "remove", &event_s, &unknown],
    ];
    for args in cases {
        let out = refused(&db, &opts, &args).await;
        assert_eq!(out, "error: not found", "{args:?}");
    }
    assert_eq!(counts(&db).await, before);
}

/// Non-https, credentialed, script and other unsafe destination URLs are refused everywhere; nothing changes.
#[tokio::test]
async fn unsafe_destination_urls_are_refused() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let org_s = org.to_string();
    let event = new_event(&db, &opts, org).await;
    let event_s = event.to_string();
    let before = counts(&db).await;
    let stored_before: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT default_url, fallback_url FROM events WHERE id = $1")
            .bind(event)
            .fetch_one(&db.pool)
            .await
            .unwrap();

    let bad_urls = [
        "http://example.com/x",
        "https://user@example.com/",
        "https://user:secret@example.com/",
        "https://brand.example@evil.example/",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/",
        "https:///no-host",
        "https://evil.example\\@brand.example/",
        "https://exa mple.com/",
        "https://example.com/\u{0}",
        "ftp://example.com/",
    ];
    for url in bad_urls {
        let attempts: [(&str, Vec<&str>); 5] = [
            ("default_url", vec!["event", "create", "--org", &org_s, "--name", "X", "--default-url", url]),
            ("fallback_url", vec!["event", "create", "--org", &org_s, "--name", "X", "--fallback-url", url]),
            ("default_url", vec!["event", "update", &event_s, "--default-url", url]),
            ("fallback_url", vec!["event", "update", &event_s, "--fallback-url", url]),
            ("url", [&["event", "window", "add", &event_s][..], &ONE_DAY, &["--url", url]].concat()),
        ];
        for (field, args) in attempts {
            let out = refused(&db, &opts, &args).await;
            assert!(out.starts_with(&format!("error: {field}: destination URL ")), "{url:?} {args:?}: {out}");
        }
    }
    assert_eq!(counts(&db).await, before);
    let stored_after: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT default_url, fallback_url FROM events WHERE id = $1")
            .bind(event)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stored_after, stored_before);
}

/// Names that are empty, hold control characters or exceed 200 characters are refused; 200 in any script pass.
#[tokio::test]
async fn names_with_control_characters_or_over_200_chars_are_refused() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let org_s = org.to_string();
    let event = new_event(&db, &opts, org).await.to_string();
    let before = counts(&db).await;

    let long = "x".repeat(201);
    let long_multibyte = "é".repeat(201);
    let cases = [
        ("\u{1b}[31mRed", "must not contain control characters"),
        ("Line\nbreak", "must not contain control characters"),
        ("Nul\u{0}byte", "must not contain control characters"),
        ("Del\u{7f}ete", "must not contain control characters"),
        ("   ", "is required"),
        ("", "is required"),
        (long.as_str(), "must be at most 200 characters"),
        (long_multibyte.as_str(), "must be at most 200 characters"),
    ];
    for (name, reason) in cases {
        let expected = format!("error: name: {reason}");
        let attempts: [Vec<&str>; 4] = [
            vec!["org", "create", "--name", name, "--slug", "fine"],
            vec!["event", "create", "--org", &org_s, "--name", name],
            vec!["event", "update", &event, "--name", name],
            vec!["user", "create", "--email", "n@example.com", "--name", name, "--role", "ADMIN"],
        ];
        for args in attempts {
            assert_eq!(refused(&db, &opts, &args).await, expected, "{args:?}");
        }
    }
    // Window labels: at most 100 characters, no control characters.
    let label_101 = "l".repeat(101);
    for (label, reason) in [
        (label_101.as_str(), "must be at most 100 characters"),
        ("a\u{7}b", "must not contain control characters"),
    ] {
        let args = [
            &["event", "window", "add", &event][..],
            &ONE_DAY,
            &["--url", "https://e.com/", "--label", label],
        ];
        let out = refused(&db, &opts, &args.concat()).await;

        assert_eq!(out, format!("error: label: {reason}"));
    }
    assert_eq!(counts(&db).await, before);

    // 200 characters are accepted, counted as characters rather than bytes.
    let name = "é".repeat(200);
    ok(&db, &opts, &["org", "create", "--name", &name, "--slug", "accents"]).await;
    let stored: String = sqlx::query_scalar("SELECT name FROM organizations WHERE slug = 'accents'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, name);
}

/// Unknown `--status` values and malformed time zones are refused for create and update; nothing changes.
#[tokio::test]
async fn unknown_status_and_bad_timezones_are_refused() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let org_s = org.to_string();
    let event = new_event(&db, &opts, org).await.to_string();
    let before = counts(&db).await;

    for status in ["paused", "ACTIVE ", "Frozen", "", "active'--"] {
        let out =
            refused(&db, &opts, &["event", "create", "--org", &org_s, "--name", "X", "--status", status])
                .await;
        assert_eq!(out, "error: status: must be active, inactive or frozen", "{status:?}");
        let out = refused(&db, &opts, &["event", "update", &event, "--status", status]).await;
        assert_eq!(out, "error: status: must be active, inactive or frozen", "{status:?}");
    }
    for tz in ["../etc/passwd", "Europe/", "Europe/Lon don", "'; DROP TABLE events; --", ""] {
        let out =
            refused(&db, &opts, &["event", "create", "--org", &org_s, "--name", "X", "--timezone", tz]).await;
        assert_eq!(out, "error: timezone: must be a time-zone name such as Europe/London", "{tz:?}");
        let out = refused(&db, &opts, &["event", "update", &event, "--timezone", tz]).await;
        assert_eq!(out, "error: timezone: must be a time-zone name such as Europe/London", "{tz:?}");
    }
    assert_eq!(counts(&db).await, before);
    let status: String = sqlx::query_scalar("SELECT status FROM events").fetch_one(&db.pool).await.unwrap();
    assert_eq!(status, "active");
}

/// `bands import` of a path that does not exist (or is a directory) fails naming the path; nothing is stored.
#[tokio::test]
async fn bands_import_of_a_missing_csv_path_fails_cleanly() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event = new_event(&db, &opts, org).await.to_string();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file.csv");
    let missing = missing.to_str().unwrap();
    let before = counts(&db).await;

    let out = refused(&db, &opts, &["bands", "import", "--event", &event, "--csv", missing]).await;
    assert!(out.starts_with(&format!("error: reading {missing}: ")), "{out}");
    assert!(out.contains("No such file or directory"), "{out}");
    let dir_path = dir.path().to_str().unwrap();
    let out = refused(&db, &opts, &["bands", "import", "--event", &event, "--csv", dir_path]).await;
    assert!(out.starts_with(&format!("error: reading {dir_path}")), "{out}");
    assert_eq!(counts(&db).await, before);
}

/// A CSV that is not a regular file (here a pipe, `--csv /dev/stdin`) is held to the 20 MiB limit too:
/// the CLI stops reading soon after 20 MiB and refuses it, instead of reading an endless input to the end.
#[tokio::test]
async fn bands_import_stops_reading_a_csv_stream_over_20_mib() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let org = new_org(&db, &opts, "Acme").await;
    let event = new_event(&db, &opts, org).await.to_string();
    let before = counts(&db).await;
    // 64 MiB stand in for /dev/zero: "endless", but small enough not to hurt if read whole.
    let mut stream = b"band_id\nPIPE0001\n".to_vec();
    stream.resize(64 * 1024 * 1024, b'\n');

    let run =
        cli_with_stdin(&db, &opts, &["bands", "import", "--event", &event, "--csv", "/dev/stdin"], &stream)
            .await;
    assert!(!run.succeeded, "{}", run.output);
    assert!(run.output.contains("larger than 20 MiB"), "{}", run.output);
    assert_eq!(counts(&db).await, before);
    assert!(!run.read_all_stdin, "the CLI read all 64 MiB of the stream before refusing it: {}", run.output);
}

// ------------------------------------------------------------ demo

/// What `make dev` runs: `demo seed --password-stdin` creates the demo
/// organisation, event and bands DEMO0001–DEMO0100, which the edge then routes
/// to the demo destination, and the demo users with the password given. A
/// second run changes nothing (not even the password); production refuses it.
#[tokio::test]
async fn demo_seed_routes_the_demo_bands_at_the_edge_and_signs_in_the_demo_users_once() {
    let db = TestDb::new().await;
    let listener = Origin::bind().await;
    let opts = OriginOptions::default();
    let edge = Edge::start(EdgeOptions {
        origin_url: format!("http://{}", listener.local_addr().unwrap()),
        signing_keys: opts.signing_keys.clone(),
        ..EdgeOptions::default()
    })
    .await;
    let opts = OriginOptions { edge_url: Some(edge.base_url.clone()), ..opts };
    let origin = Origin::start_on(listener, &db, opts.clone(), Arc::new(SystemClock)).await;
    let seed = ["demo", "seed", "--password-stdin"];
    let password = "lantern quartz meadow fable";

    let first = cli_with_stdin(&db, &opts, &seed, format!("{password}\n").as_bytes()).await;
    assert!(first.succeeded, "{}", first.output);
    let (event_id, org_id): (Uuid, Uuid) = sqlx::query_as(
        "SELECT e.id, o.id FROM events e JOIN organizations o ON o.id = e.org_id WHERE o.slug = $1",
    )
    .bind(demo::ORG_SLUG)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        first.output,
        format!(
            "demo event {event_id} (100 bands)\ndemo user {} created\ndemo user {} created\n",
            demo::ADMIN_EMAIL,
            demo::ORGANISER_EMAIL
        )
    );
    assert!(!first.output.contains(password), "the password is not echoed");
    let bands: Vec<String> =
        sqlx::query_scalar("SELECT band_id FROM bands WHERE event_id = $1 ORDER BY band_id")
            .bind(event_id)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let expected: Vec<String> = (1..=100).map(|i| format!("DEMO{i:04}")).collect();
    assert_eq!(bands, expected);

    // The outbox reaches the edge's KV: the first and last demo bands redirect, the next one is unknown.
    for band in ["DEMO0001", "DEMO0100"] {
        eventually(&format!("the edge to route {band} to the demo"), Duration::from_secs(30), || async {
            (edge.location(&format!("/{band}")).await.as_deref() == Some(demo::DESTINATION)).then_some(())
        })
        .await;
    }
    assert_eq!(
        edge.location("/DEMO0101").await.as_deref(),
        Some(EdgeOptions::default().fallback_url.as_str()),
        "DEMO0101 is no demo band"
    );

    // Again, with another password: nothing changes, the users keep the first password.
    let before = counts(&db).await;
    let second = cli_with_stdin(&db, &opts, &seed, b"another password entirely\n").await;
    assert!(second.succeeded, "{}", second.output);
    assert_eq!(second.output, format!("demo event {event_id} (100 bands)\n"));
    assert_eq!(counts(&db).await, before, "a second seed stores nothing");
    let demo_rows: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM organizations WHERE slug = $1),
                (SELECT count(*) FROM events WHERE org_id = $2),
                (SELECT count(*) FROM bands WHERE band_id LIKE 'DEMO%'),
                (SELECT count(*) FROM users WHERE email IN ($3, $4))",
    )
    .bind(demo::ORG_SLUG)
    .bind(org_id)
    .bind(demo::ADMIN_EMAIL)
    .bind(demo::ORGANISER_EMAIL)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(demo_rows, (1, 1, 100, 2));

    // The demo ADMIN signs in with the seeded password, straight into MFA enrolment.
    let mut admin = ApiClient::new(&origin.url);
    let login = admin.login(demo::ADMIN_EMAIL, password).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    assert_eq!(login.json["user"]["role"], "ADMIN", "{:?}", login.json);
    assert_eq!(login.json["stage"], "full", "no second factor yet: {:?}", login.json);
    assert_eq!(
        (&login.json["user"]["mfa_required"], &login.json["user"]["mfa_enrolled"]),
        (&Value::Bool(true), &Value::Bool(false)),
        "{:?}",
        login.json
    );
    let users = admin.get("/api/v1/users").await;
    assert_eq!((users.status.as_u16(), users.code()), (403, "mfa_enrolment_required"));
    assert_eq!(admin.post("/api/v1/me/mfa/enrol", Value::Null).await.status, 200, "enrolment is open");
    for wrong in ["another password entirely", "lantern quartz meadow fabl"] {
        assert_eq!(ApiClient::new(&origin.url).login(demo::ADMIN_EMAIL, wrong).await.status, 401, "{wrong}");
    }
    // The organiser sees the demo event.
    let mut organiser = ApiClient::new(&origin.url);
    assert_eq!(organiser.login(demo::ORGANISER_EMAIL, password).await.status, 200);
    let events = organiser.get("/api/v1/events").await;
    assert_eq!(events.status, 200, "{:?}", events.json);
    assert!(events.text.contains(&event_id.to_string()), "{:?}", events.json);
}

/// Demo data and its known password have no place in production: `demo seed` refuses there, with
/// or without a password, and stores nothing.
#[tokio::test]
async fn demo_seed_is_refused_in_production() {
    let db = TestDb::new().await;
    let opts = OriginOptions {
        extra: vec![
            ("APP_ENV", "production".into()),
            ("PUBLIC_URL", "https://sparkmotion.example".into()),
            ("SMTP_URL", "smtps://mail.sparkmotion.example".into()),
        ],
        ..OriginOptions::default()
    };
    assert!(opts.config(&db).is_production(), "the configuration is a production one");
    let before = counts(&db).await;

    let run =
        cli_with_stdin(&db, &opts, &["demo", "seed", "--password-stdin"], b"lantern quartz meadow fable\n")
            .await;
    assert!(!run.succeeded, "{}", run.output);
    assert_eq!(run.output, "error: demo data is for development only (APP_ENV=production)");
    let out = refused(&db, &opts, &["demo", "seed"]).await;
    assert_eq!(out, "error: demo data is for development only (APP_ENV=production)");
    assert_eq!(counts(&db).await, before);

    // Refused before any database work: a database that does not exist stays so.
    let ghost = format!("sm_ghost_{}", Uuid::new_v4().simple());
    let mut elsewhere = opts.clone();
    elsewhere.extra.push(("DATABASE_URL", format!("{}/{ghost}", system_tests::db::server_url())));
    let out = refused(&db, &elsewhere, &["demo", "seed"]).await;
    assert_eq!(out, "error: demo data is for development only (APP_ENV=production)");
    let created: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&ghost)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!created, "demo seed created (or migrated) a production database before refusing");
}

/// A seed interrupted after creating the organisation (or the event) is
/// finished by the next run instead of failing on the taken slug.
#[tokio::test]
async fn demo_seed_finishes_what_an_interrupted_run_left() {
    let db = TestDb::new().await;
    let opts = OriginOptions::default();
    let (code, out) = cli(&db, &opts, &["org", "create", "--name", "Demo Organisation"]).await;
    assert!(succeeded(code), "{out}");
    // As if the first run stopped right after its organisation: give it the demo slug.
    sqlx::query("UPDATE organizations SET slug = $1").bind(demo::ORG_SLUG).execute(&db.pool).await.unwrap();

    let (code, out) = cli(&db, &opts, &["demo", "seed"]).await;
    assert!(succeeded(code), "{out}");
    let (orgs, events, bands): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM organizations), (SELECT count(*) FROM events),
                (SELECT count(*) FROM bands b JOIN events e ON e.id = b.event_id JOIN organizations o ON o.id = e.org_id WHERE o.slug = $1)",
    )
    .bind(demo::ORG_SLUG)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((orgs, events, bands), (1, 1, 100));
}
