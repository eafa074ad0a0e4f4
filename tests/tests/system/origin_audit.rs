//! The audit trail, black-box through the domain services, the database and
//! `origin-api audit verify`: one row per mutation with the right facts and no
//! secrets, written in the mutation's transaction (with its KV outbox rows),
//! append-only, hash-chained so edits and deletions are named, and a single
//! gapless line under concurrency.

use chrono::{DateTime, TimeZone, Utc};
use origin_api::domain::actor::{Actor, Principal, Role};
use origin_api::domain::bands::{BandPatch, BandStatus, ImportOutcome, NewBand};
use origin_api::domain::events::{Event, EventPatch, EventStatus, NewEvent, NewWindow};
use origin_api::domain::orgs::{NewOrg, Organization};
use origin_api::domain::users::NewUser;
use origin_api::domain::{Domain, DomainError};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::BandId;
use system_tests::db::TestDb;
use system_tests::keys;
use system_tests::origin::{Origin, OriginOptions, cli, succeeded};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// One `audit_log` row as stored (hash columns left out).
#[derive(Debug, Deserialize)]
struct AuditRow {
    seq: i64,
    actor_type: String,
    actor_id: Option<Uuid>,
    actor_label: String,
    org_id: Option<Uuid>,
    action: String,
    target_type: String,
    target_id: String,
    before: Option<Value>,
    after: Option<Value>,
    request_id: Option<String>,
    ip_hash: Option<String>,
    user_agent: Option<String>,
}

/// Audit rows with `seq > after_seq`, in chain order.
async fn audit_rows_after(db: &TestDb, after_seq: i64) -> Vec<AuditRow> {
    let rows: Vec<Value> =
        sqlx::query_scalar("SELECT to_jsonb(a) FROM audit_log a WHERE seq > $1 ORDER BY seq")
            .bind(after_seq)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    rows.into_iter().map(|r| serde_json::from_value(r).unwrap()).collect()
}

async fn audit_count(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&db.pool).await.unwrap()
}

/// Positions in the audit log and the outbox, to see what one call added.
struct Mark {
    audit_seq: i64,
    outbox_seq: i64,
}

impl Mark {
    async fn take(db: &TestDb) -> Mark {
        let (audit_seq, outbox_seq): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT coalesce(max(seq), 0) FROM audit_log), (SELECT coalesce(max(seq), 0) FROM kv_outbox)",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        Mark { audit_seq, outbox_seq }
    }

    /// Asserts exactly one audit row was appended since the mark, directly after it, and returns it.
    async fn the_new_audit_row(&self, db: &TestDb) -> AuditRow {
        let mut rows = audit_rows_after(db, self.audit_seq).await;
        assert_eq!(rows.len(), 1, "expected exactly one new audit row, got {rows:#?}");
        let row = rows.remove(0);
        assert_eq!(row.seq, self.audit_seq + 1, "the new row extends the chain");
        row
    }

    /// The KV keys of the outbox rows written since the mark, in order.
    async fn new_outbox_keys(&self, db: &TestDb) -> Vec<String> {
        sqlx::query_scalar("SELECT key FROM kv_outbox WHERE seq > $1 ORDER BY seq")
            .bind(self.outbox_seq)
            .fetch_all(&db.pool)
            .await
            .unwrap()
    }
}

/// Every table a mutation may touch, as JSON, to prove a failed call changed nothing.
async fn snapshot(db: &TestDb) -> Value {
    let mut all = serde_json::Map::new();
    for table in [
        "organizations",
        "users",
        "events",
        "event_windows",
        "bands",
        "audit_log",
        "audit_chain_head",
        "kv_outbox",
    ] {
        let rows: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} t"
        )))
        .fetch_one(&db.pool)
        .await
        .unwrap();
        all.insert(table.to_string(), rows);
    }
    Value::Object(all)
}

/// Runs `audit verify`; asserts it passes over exactly `rows` rows.
async fn assert_chain_intact(db: &TestDb, options: &OriginOptions, rows: i64) {
    let (code, out) = cli(db, options, &["audit", "verify"]).await;
    assert!(succeeded(code), "audit verify failed: {out}");
    assert!(out.contains(&format!("audit chain intact: {rows} rows verified")), "{out}");
}

/// Runs `audit verify`; asserts it fails naming row `seq` with a reason containing `reason`.
async fn assert_chain_broken_at(db: &TestDb, options: &OriginOptions, seq: i64, reason: &str) {
    let (code, out) = cli(db, options, &["audit", "verify"]).await;
    assert!(!succeeded(code), "audit verify passed but should have failed: {out}");
    assert!(out.contains(&format!("audit chain BROKEN at row {seq}: ")), "expected row {seq} named: {out}");
    assert!(out.contains(reason), "expected reason {reason:?}: {out}");
}

/// The label the CLI actor is recorded under.
fn cli_label() -> String {
    let operator =
        std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("cli:{operator}")
}

fn customer(org: Uuid, email: &str) -> Actor {
    Actor::new(Principal::User {
        id: Uuid::now_v7(),
        role: Role::Customer,
        org_id: Some(org),
        email: email.into(),
    })
}

fn admin() -> Actor {
    Actor::new(Principal::User {
        id: Uuid::now_v7(),
        role: Role::Admin,
        org_id: None,
        email: "root@platform.example".into(),
    })
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 6, 1, hour, minute, 0).unwrap()
}

fn band(line: u64, id: &str) -> NewBand {
    NewBand {
        line,
        band_id: BandId::parse(id).unwrap(),
        label: format!("Gate {line}"),
        status: BandStatus::Active,
        override_url: None,
    }
}

async fn new_org(domain: &Domain, name: &str) -> Organization {
    domain.create_org(&Actor::cli(), NewOrg { name: name.into(), slug: None }).await.unwrap()
}

async fn new_event(domain: &Domain, org: Uuid, name: &str) -> Event {
    domain
        .create_event(
            &Actor::cli(),
            NewEvent {
                org_id: org,
                name: name.into(),
                default_url: Some("https://example.com/default".into()),
                ..NewEvent::default()
            },
        )
        .await
        .unwrap()
}

/// Creates an org, an event with a window, and two bands: five audit rows.
async fn five_rows(domain: &Domain) -> Event {
    let org = new_org(domain, "Chain Org").await;
    let event = new_event(domain, org.id, "Chain Fest").await;
    domain
        .add_window(
            &Actor::cli(),
            event.id,
            NewWindow {
                label: "live".into(),
                url: "https://example.com/live".into(),
                starts_at: at(10, 0),
                ends_at: at(11, 0),
            },
        )
        .await
        .unwrap();
    domain
        .import_bands(&Actor::cli(), event.id, vec![band(2, "CHAIN001"), band(3, "CHAIN002")], Vec::new())
        .await
        .unwrap();
    domain
        .update_event(
            &Actor::system("tests"),
            event.id,
            EventPatch { name: Some("Chain Fest II".into()), ..EventPatch::default() },
        )
        .await
        .unwrap();
    event
}

/// Runs `sql` with the append-only row trigger switched off (as a superuser tamperer would).
async fn tamper(db: &TestDb, sql: &'static str) {
    sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update").execute(&db.pool).await.unwrap();
    let result = sqlx::query(sql).execute(&db.pool).await;
    sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update").execute(&db.pool).await.unwrap();
    assert_eq!(result.unwrap().rows_affected(), 1, "tampering touched one row: {sql}");
}

/// Collects every value stored under a key named `key`, at any depth.
fn values_under(value: &Value, key: &str, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    found.push(v.clone());
                }
                values_under(v, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| values_under(v, key, found)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// One row per mutation, with the right facts
// ---------------------------------------------------------------------------

/// `create_org` and `create_user` each append one audit row naming the CLI operator, the target and its state.
#[tokio::test]
async fn org_and_user_creation_each_write_one_audit_row() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();

    let mark = Mark::take(&db).await;
    let org = domain
        .create_org(&Actor::cli(), NewOrg { name: "Audit Org".into(), slug: Some("audit-org".into()) })
        .await
        .unwrap();
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "org.created");
    assert_eq!((row.actor_type.as_str(), row.actor_label.clone(), row.actor_id), ("cli", cli_label(), None));
    assert_eq!((row.target_type.as_str(), row.target_id.clone()), ("org", org.id.to_string()));
    assert_eq!(row.org_id, Some(org.id));
    assert_eq!(row.before, None);
    let after = row.after.expect("org.created records the new org");
    assert_eq!(
        (&after["id"], &after["name"], &after["slug"]),
        (&json!(org.id), &json!("Audit Org"), &json!("audit-org"))
    );
    assert!(mark.new_outbox_keys(&db).await.is_empty(), "orgs are not routing data");

    let mark = Mark::take(&db).await;
    let user = domain
        .create_user(
            &Actor::system("provisioning"),
            NewUser {
                email: "carol@audit.example".into(),
                name: "Carol".into(),
                role: Role::Customer,
                org_id: Some(org.id),
                password: "mango tapestry quietly bicycles".to_string().into(),
            },
        )
        .await
        .unwrap();
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "user.created");
    assert_eq!(
        (row.actor_type.as_str(), row.actor_label.as_str(), row.actor_id),
        ("system", "system:provisioning", None)
    );
    assert_eq!((row.target_type.as_str(), row.target_id.clone()), ("user", user.id.to_string()));
    assert_eq!(row.org_id, Some(org.id));
    assert_eq!(row.before, None);
    let after = row.after.expect("user.created records the new user");
    assert_eq!(
        (&after["email"], &after["role"], &after["org_id"]),
        (&json!("carol@audit.example"), &json!("CUSTOMER"), &json!(org.id))
    );
    assert!(mark.new_outbox_keys(&db).await.is_empty(), "users are not routing data");

    assert_chain_intact(&db, &origin.options, 2).await;
}

/// No audit row ever holds a password hash or the password itself; a `password_hash` field could only say "[redacted]".
#[tokio::test]
async fn audit_rows_never_contain_a_password_hash() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();
    let org = new_org(domain, "Secret Org").await;
    let password = "tabby orchard quill lantern";
    for (email, role, org_id) in
        [("admin@secret.example", Role::Admin, None), ("staff@secret.example", Role::Customer, Some(org.id))]
    {
        domain
            .create_user(
                &admin(),
                NewUser {
                    email: email.into(),
                    name: "Someone".into(),
                    role,
                    org_id,
                    password: password.to_string().into(),
                },
            )
            .await
            .unwrap();
    }
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT password_hash FROM users").fetch_all(&db.pool).await.unwrap();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.iter().all(|h| h.starts_with("$argon2")), "precondition: users hold argon2 hashes");

    let rows: Vec<Value> = sqlx::query_scalar("SELECT to_jsonb(a) FROM audit_log a ORDER BY seq")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows.iter().filter(|r| r["action"] == "user.created").count(), 2);
    for row in &rows {
        let text = row.to_string();
        assert!(!text.contains("$argon2"), "audit row holds a password hash: {text}");
        assert!(!text.contains(password), "audit row holds the password: {text}");
        for hash in &hashes {
            assert!(!text.contains(hash.as_str()), "audit row holds a stored hash: {text}");
        }
        let mut found = Vec::new();
        values_under(row, "password_hash", &mut found);
        values_under(row, "password", &mut found);
        assert!(found.iter().all(|v| v == "[redacted]"), "unredacted password field in {text}");
    }
}

/// Creating, renaming, re-statusing an event and adding/removing windows each append one row with actor, org, target, before/after, plus one outbox row for the event.
#[tokio::test]
async fn event_mutations_each_write_one_audit_row_and_one_outbox_row() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();
    let org = new_org(domain, "Events Org").await;
    let alice = customer(org.id, "alice@events.example");
    let event_key = |id: Uuid| format!("event:{id}");

    // create
    let mark = Mark::take(&db).await;
    let event = domain
        .create_event(&alice, NewEvent { org_id: org.id, name: "Summer Fest".into(), ..NewEvent::default() })
        .await
        .unwrap();
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "event.created");
    assert_eq!((row.actor_type.as_str(), row.actor_label.as_str()), ("user", "alice@events.example"));
    assert_eq!(row.actor_id, alice.user_id());
    assert_eq!(row.org_id, Some(org.id));
    assert_eq!((row.target_type.as_str(), row.target_id.clone()), ("event", event.id.to_string()));
    assert_eq!(row.before, None);
    let after = row.after.unwrap();
    assert_eq!(
        (&after["id"], &after["name"], &after["status"]),
        (&json!(event.id), &json!("Summer Fest"), &json!("active"))
    );
    assert_eq!(mark.new_outbox_keys(&db).await, vec![event_key(event.id)]);

    // update (same status): before and after
    let mark = Mark::take(&db).await;
    domain
        .update_event(
            &alice,
            event.id,
            EventPatch {
                name: Some("Summer Fest 2027".into()),
                default_url: Some("https://example.com/summer".into()),
                ..EventPatch::default()
            },
        )
        .await
        .unwrap();
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "event.updated");
    assert_eq!((row.actor_label.as_str(), row.org_id), ("alice@events.example", Some(org.id)));
    assert_eq!((row.target_type.as_str(), row.target_id.clone()), ("event", event.id.to_string()));
    let (before, after) = (row.before.unwrap(), row.after.unwrap());
    assert_eq!((&before["name"], &before["default_url"]), (&json!("Summer Fest"), &Value::Null));
    assert_eq!(
        (&after["name"], &after["default_url"]),
        (&json!("Summer Fest 2027"), &json!("https://example.com/summer"))
    );
    assert_eq!(mark.new_outbox_keys(&db).await, vec![event_key(event.id)]);

    // status changes get their own action names
    for (status, action, from, to) in [
        (EventStatus::Inactive, "event.status_changed", "active", "inactive"),
        (EventStatus::Frozen, "event.frozen", "inactive", "frozen"),
        (EventStatus::Active, "event.unfrozen", "frozen", "active"),
    ] {
        let mark = Mark::take(&db).await;
        domain
            .update_event(&alice, event.id, EventPatch { status: Some(status), ..EventPatch::default() })
            .await
            .unwrap();
        let row = mark.the_new_audit_row(&db).await;
        assert_eq!(row.action, action);
        assert_eq!((row.target_id.clone(), row.org_id), (event.id.to_string(), Some(org.id)));
        assert_eq!(
            (&row.before.unwrap()["status"], &row.after.unwrap()["status"]),
            (&json!(from), &json!(to))
        );
        assert_eq!(mark.new_outbox_keys(&db).await, vec![event_key(event.id)]);
    }

    // add a window (as an ADMIN)
    let root = admin();
    let mark = Mark::take(&db).await;
    let window = domain
        .add_window(
            &root,
            event.id,
            NewWindow {
                label: "live".into(),
                url: "https://example.com/live".into(),
                starts_at: at(10, 0),
                ends_at: at(11, 0),
            },
        )
        .await
        .unwrap();
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "event.window_added");
    assert_eq!(
        (row.actor_type.as_str(), row.actor_label.as_str(), row.actor_id),
        ("user", "root@platform.example", root.user_id())
    );
    assert_eq!(
        (row.target_type.as_str(), row.target_id.clone(), row.org_id),
        ("event", event.id.to_string(), Some(org.id))
    );
    assert_eq!(row.before, None);
    let after = row.after.unwrap();
    assert_eq!(
        (&after["id"], &after["url"], &after["label"]),
        (&json!(window.id), &json!("https://example.com/live"), &json!("live"))
    );
    assert_eq!(mark.new_outbox_keys(&db).await, vec![event_key(event.id)]);

    // remove it (as a system job)
    let mark = Mark::take(&db).await;
    domain.remove_window(&Actor::system("cleanup"), event.id, window.id).await.unwrap();
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "event.window_removed");
    assert_eq!((row.actor_type.as_str(), row.actor_label.as_str()), ("system", "system:cleanup"));
    assert_eq!((row.target_id.clone(), row.org_id), (event.id.to_string(), Some(org.id)));
    assert_eq!(row.before.unwrap()["id"], json!(window.id));
    assert_eq!(row.after, None);
    assert_eq!(mark.new_outbox_keys(&db).await, vec![event_key(event.id)]);

    assert_chain_intact(&db, &origin.options, 8).await;
}

/// Importing bands and updating one each append one row (summary / before+after, with the request context) plus outbox rows for exactly those bands.
#[tokio::test]
async fn band_mutations_each_write_one_audit_row_and_their_outbox_rows() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();
    let org = new_org(domain, "Bands Org").await;
    let event = new_event(domain, org.id, "Band Fest").await;
    let mut bob = customer(org.id, "bob@bands.example");

    let mark = Mark::take(&db).await;
    let outcome = domain
        .import_bands(&bob, event.id, vec![band(2, "aud00001"), band(3, "AUD00002")], Vec::new())
        .await
        .unwrap();
    assert_eq!(outcome, ImportOutcome::Imported { count: 2 });
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "bands.imported");
    assert_eq!(
        (row.actor_type.as_str(), row.actor_label.as_str(), row.actor_id),
        ("user", "bob@bands.example", bob.user_id())
    );
    assert_eq!(
        (row.target_type.as_str(), row.target_id.clone(), row.org_id),
        ("event", event.id.to_string(), Some(org.id))
    );
    assert_eq!(row.before, None);
    assert_eq!(row.after, Some(json!({"count": 2, "first": "AUD00001", "last": "AUD00002"})));
    assert_eq!(mark.new_outbox_keys(&db).await, vec!["band:AUD00001", "band:AUD00002"]);

    bob.request_id = Some("req-7f3a".into());
    bob.ip_hash = Some("iphash-abc".into());
    bob.user_agent = Some("ios".into());
    let id = BandId::parse("aud00001").unwrap();
    let mark = Mark::take(&db).await;
    domain
        .update_band(
            &bob,
            &id,
            BandPatch {
                status: Some(BandStatus::Lost),
                override_url: Some("https://example.com/lost".into()),
                label: None,
            },
        )
        .await
        .unwrap();
    let row = mark.the_new_audit_row(&db).await;
    assert_eq!(row.action, "band.updated");
    assert_eq!(
        (row.target_type.as_str(), row.target_id.as_str(), row.org_id),
        ("band", "AUD00001", Some(org.id))
    );
    assert_eq!(
        (row.request_id.as_deref(), row.ip_hash.as_deref(), row.user_agent.as_deref()),
        (Some("req-7f3a"), Some("iphash-abc"), Some("ios"))
    );
    let (before, after) = (row.before.unwrap(), row.after.unwrap());
    assert_eq!((&before["status"], &before["override_url"]), (&json!("active"), &Value::Null));
    assert_eq!(
        (&after["status"], &after["override_url"]),
        (&json!("lost"), &json!("https://example.com/lost"))
    );
    assert_eq!(mark.new_outbox_keys(&db).await, vec!["band:AUD00001"]);

    assert_chain_intact(&db, &origin.options, 4).await;
}

// ---------------------------------------------------------------------------
// Same transaction
// ---------------------------------------------------------------------------

/// Makes inserts into `table` fail (for rows matching `when`, a trigger condition on NEW).
async fn fail_inserts(db: &TestDb, table: &str, when: &str) {
    sqlx::query(
        "CREATE OR REPLACE FUNCTION test_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'test: insert into % refused', TG_TABLE_NAME; END $$",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TRIGGER test_refuse_insert BEFORE INSERT ON {table} FOR EACH ROW WHEN ({when})
         EXECUTE FUNCTION test_refuse_insert()"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn allow_inserts(db: &TestDb, table: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER test_refuse_insert ON {table}")))
        .execute(&db.pool)
        .await
        .unwrap();
}

fn assert_database_error<T: std::fmt::Debug>(what: &str, result: Result<T, DomainError>) {
    assert!(
        matches!(result, Err(DomainError::Database(_))),
        "{what}: expected a database error, got {result:?}"
    );
}

/// When the `event.updated` audit insert fails, `update_event` fails and the event, the audit log and the outbox are unchanged; the chain then continues without a gap.
#[tokio::test]
async fn a_failing_audit_insert_rolls_back_the_event_update() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();
    let org = new_org(domain, "Tx Org").await;
    let event = new_event(domain, org.id, "Tx Fest").await;
    fail_inserts(&db, "audit_log", "NEW.action = 'event.updated'").await;

    let before = snapshot(&db).await;
    let result = domain
        .update_event(
            &Actor::cli(),
            event.id,
            EventPatch { name: Some("Renamed".into()), ..EventPatch::default() },
        )
        .await;
    assert_database_error("update_event", result);
    assert_eq!(snapshot(&db).await, before, "nothing may change when the audit row cannot be written");
    assert_eq!(domain.get_event(&Actor::cli(), event.id).await.unwrap().name, "Tx Fest");

    // Other actions are unaffected by this trigger; the failed one burnt no sequence number.
    domain
        .update_event(
            &Actor::cli(),
            event.id,
            EventPatch { status: Some(EventStatus::Inactive), ..EventPatch::default() },
        )
        .await
        .unwrap();
    allow_inserts(&db, "audit_log").await;
    domain
        .update_event(
            &Actor::cli(),
            event.id,
            EventPatch { name: Some("Renamed".into()), ..EventPatch::default() },
        )
        .await
        .unwrap();
    let actions: Vec<String> =
        audit_rows_after(&db, 0).await.into_iter().map(|r| format!("{}:{}", r.seq, r.action)).collect();
    assert_eq!(actions, ["1:org.created", "2:event.created", "3:event.status_changed", "4:event.updated"]);
    assert_chain_intact(&db, &origin.options, 4).await;
}

/// When the outbox insert fails, `create_event` fails and leaves no event and no audit row.
#[tokio::test]
async fn a_failing_outbox_insert_rolls_back_the_event_creation() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();
    let org = new_org(domain, "Outbox Org").await;
    fail_inserts(&db, "kv_outbox", "true").await;

    let before = snapshot(&db).await;
    let result = domain
        .create_event(
            &Actor::cli(),
            NewEvent { org_id: org.id, name: "Never Fest".into(), ..NewEvent::default() },
        )
        .await;
    assert_database_error("create_event", result);
    assert_eq!(snapshot(&db).await, before, "no event, no audit row, no outbox row");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&db.pool).await.unwrap();
    assert_eq!(events, 0);
    assert_eq!(audit_count(&db).await, 1, "only org.created");
    assert_chain_intact(&db, &origin.options, 1).await;
}

/// Fixture for the all-mutations rollback tests: an org, an event with a window, a band.
struct Fixture {
    org: Uuid,
    event: Uuid,
    window: Uuid,
    band: BandId,
}

async fn fixture(domain: &Domain) -> Fixture {
    let org = new_org(domain, "Fixture Org").await;
    let event = new_event(domain, org.id, "Fixture Fest").await;
    let window = domain
        .add_window(
            &Actor::cli(),
            event.id,
            NewWindow {
                label: String::new(),
                url: "https://example.com/w".into(),
                starts_at: at(9, 0),
                ends_at: at(10, 0),
            },
        )
        .await
        .unwrap();
    domain.import_bands(&Actor::cli(), event.id, vec![band(2, "FIX00001")], Vec::new()).await.unwrap();
    Fixture { org: org.id, event: event.id, window: window.id, band: BandId::parse("FIX00001").unwrap() }
}

/// Runs every mutation once against the fixture, returning each name and whether it failed with a database error.
async fn attempt_every_mutation(
    domain: &Domain,
    f: &Fixture,
    include_org_and_user: bool,
) -> Vec<(&'static str, String)> {
    let actor = Actor::cli();
    let mut results = Vec::new();
    let mut record = |name: &'static str, outcome: Result<(), DomainError>| {
        results.push((name, format!("{outcome:?}")));
    };
    if include_org_and_user {
        record(
            "create_org",
            domain.create_org(&actor, NewOrg { name: "Ghost Org".into(), slug: None }).await.map(drop),
        );
        record(
            "create_user",
            domain
                .create_user(
                    &actor,
                    NewUser {
                        email: "ghost@fixture.example".into(),
                        name: "Ghost".into(),
                        role: Role::Customer,
                        org_id: Some(f.org),
                        password: "vivid marmalade orbit sundial".to_string().into(),
                    },
                )
                .await
                .map(drop),
        );
    }
    record(
        "create_event",
        domain
            .create_event(
                &actor,
                NewEvent { org_id: f.org, name: "Ghost Fest".into(), ..NewEvent::default() },
            )
            .await
            .map(drop),
    );
    record(
        "update_event",
        domain
            .update_event(&actor, f.event, EventPatch { name: Some("Ghost".into()), ..EventPatch::default() })
            .await
            .map(drop),
    );
    record(
        "add_window",
        domain
            .add_window(
                &actor,
                f.event,
                NewWindow {
                    label: String::new(),
                    url: "https://example.com/g".into(),
                    starts_at: at(12, 0),
                    ends_at: at(13, 0),
                },
            )
            .await
            .map(drop),
    );
    record("remove_window", domain.remove_window(&actor, f.event, f.window).await);
    record(
        "import_bands",
        domain.import_bands(&actor, f.event, vec![band(2, "GHOST001")], Vec::new()).await.map(drop),
    );
    record(
        "update_band",
        domain
            .update_band(
                &actor,
                &f.band,
                BandPatch { status: Some(BandStatus::Disabled), ..BandPatch::default() },
            )
            .await
            .map(drop),
    );
    results
}

/// With every audit insert failing, every mutation fails and changes nothing: no mutation commits without its audit row.
#[tokio::test]
async fn no_mutation_commits_without_its_audit_row() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();
    let f = fixture(domain).await;
    fail_inserts(&db, "audit_log", "true").await;

    let before = snapshot(&db).await;
    for (name, outcome) in attempt_every_mutation(domain, &f, true).await {
        assert!(outcome.starts_with("Err(Database("), "{name}: expected a database error, got {outcome}");
    }
    assert_eq!(snapshot(&db).await, before, "a mutation committed without its audit row");
    allow_inserts(&db, "audit_log").await;
    assert_chain_intact(&db, &origin.options, 4).await;
}

/// With every outbox insert failing, every routing mutation fails and changes nothing (no audit row either).
#[tokio::test]
async fn no_routing_mutation_commits_without_its_outbox_rows() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain();
    let f = fixture(domain).await;
    fail_inserts(&db, "kv_outbox", "true").await;

    let before = snapshot(&db).await;
    for (name, outcome) in attempt_every_mutation(domain, &f, false).await {
        assert!(outcome.starts_with("Err(Database("), "{name}: expected a database error, got {outcome}");
    }
    assert_eq!(snapshot(&db).await, before, "a routing change committed without its outbox rows");
}

// ---------------------------------------------------------------------------
// Append-only
// ---------------------------------------------------------------------------

/// UPDATE, DELETE and TRUNCATE on `audit_log` are refused as append-only even for the superuser the tests connect as.
#[tokio::test]
async fn audit_log_is_append_only_even_for_a_superuser() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    five_rows(origin.domain()).await;
    let superuser: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(superuser, "precondition: the tests connect as a superuser");

    let before = snapshot(&db).await;
    for sql in [
        "UPDATE audit_log SET actor_label = 'someone else' WHERE seq = 3",
        "UPDATE audit_log SET after = NULL",
        "DELETE FROM audit_log WHERE seq = 5",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(snapshot(&db).await, before);
    assert_chain_intact(&db, &origin.options, 5).await;
}

// ---------------------------------------------------------------------------
// Tamper detection
// ---------------------------------------------------------------------------

/// Altering any recorded fact of a middle row makes `audit verify` fail naming exactly that row; restoring it makes verify pass again.
#[tokio::test]
async fn audit_verify_names_an_altered_row() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    five_rows(origin.domain()).await;
    let options = &origin.options;
    assert_chain_intact(&db, options, 5).await;
    sqlx::query("CREATE TABLE original AS SELECT * FROM audit_log WHERE seq = 3")
        .execute(&db.pool)
        .await
        .unwrap();
    let restore = "UPDATE audit_log a SET at = o.at, actor_label = o.actor_label, org_id = o.org_id, action = o.action,
                          target_id = o.target_id, before = o.before, after = o.after, actor_type = o.actor_type
                   FROM original o WHERE a.seq = o.seq";

    for alteration in [
        "UPDATE audit_log SET after = jsonb_set(after, '{url}', '\"https://evil.example/\"') WHERE seq = 3",
        "UPDATE audit_log SET actor_label = 'someone-else' WHERE seq = 3",
        "UPDATE audit_log SET actor_type = 'system' WHERE seq = 3",
        "UPDATE audit_log SET action = 'event.viewed' WHERE seq = 3",
        "UPDATE audit_log SET org_id = gen_random_uuid() WHERE seq = 3",
        "UPDATE audit_log SET target_id = gen_random_uuid()::text WHERE seq = 3",
        "UPDATE audit_log SET at = at - interval '1 microsecond' WHERE seq = 3",
        "UPDATE audit_log SET before = '{}'::jsonb WHERE seq = 3",
    ] {
        tamper(&db, alteration).await;
        let (code, out) = cli(&db, options, &["audit", "verify"]).await;
        assert!(!succeeded(code), "{alteration}: verify passed: {out}");
        assert!(
            out.contains("audit chain BROKEN at row 3: content does not match its hash"),
            "{alteration}: {out}"
        );
        tamper(&db, restore).await;
        assert_chain_intact(&db, options, 5).await;
    }
}

/// Deleting a middle row makes `audit verify` fail naming the missing row.
#[tokio::test]
async fn audit_verify_names_a_deleted_middle_row() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    five_rows(origin.domain()).await;
    assert_chain_intact(&db, &origin.options, 5).await;
    tamper(&db, "DELETE FROM audit_log WHERE seq = 3").await;
    assert_chain_broken_at(&db, &origin.options, 3, "row 3 is missing (next is 4)").await;
}

/// Deleting the last row (the chain head still pointing at it) makes `audit verify` report rows removed at that row.
#[tokio::test]
async fn audit_verify_reports_a_deleted_last_row() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    five_rows(origin.domain()).await;
    assert_chain_intact(&db, &origin.options, 5).await;
    tamper(&db, "DELETE FROM audit_log WHERE seq = 5").await;
    assert_chain_broken_at(&db, &origin.options, 5, "rows removed").await;
}

/// Inserts a made-up `user.created` row at `seq`, linked to the chain head, with a bogus hash.
async fn forge_row(db: &TestDb, seq: i64) {
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_type, actor_label, action, target_type, target_id, key_id, prev_hash, hash)
         SELECT $1, now(), 'user', 'mallory@evil.example', 'user.created', 'user', gen_random_uuid()::text,
                'aud1', h.hash, h.hash
         FROM audit_chain_head h",
    )
    .bind(seq)
    .execute(&db.pool)
    .await
    .unwrap();
}

/// A forged row inserted (INSERT needs no trigger bypass) after the head makes `audit verify`
/// fail; one below the chain's start (seq ≤ 0) is refused by the database outright.
#[tokio::test]
async fn audit_verify_reports_forged_inserted_rows() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    five_rows(origin.domain()).await;
    assert_chain_intact(&db, &origin.options, 5).await;
    forge_row(&db, 6).await;
    assert_chain_broken_at(&db, &origin.options, 6, "content does not match its hash").await;
    tamper(&db, "DELETE FROM audit_log WHERE seq = 6").await;
    assert_chain_intact(&db, &origin.options, 5).await;

    for seq in [0, -1] {
        let refused = sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_type, actor_label, action, target_type, target_id, key_id, prev_hash, hash)
             SELECT $1, now(), 'user', 'mallory@evil.example', 'user.created', 'user', 'x', 'aud1', h.hash, h.hash
             FROM audit_chain_head h",
        )
        .bind(seq)
        .execute(&db.pool)
        .await
        .unwrap_err();
        assert!(refused.to_string().contains("audit_log_seq_positive"), "{refused}");
    }
    assert_chain_intact(&db, &origin.options, 5).await;
}

/// The chain head only moves forward one row at a time: it cannot be moved
/// back (to hide deleted rows), deleted or truncated, even by a superuser.
#[tokio::test]
async fn the_chain_head_cannot_be_moved_back() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    five_rows(origin.domain()).await;
    for sql in [
        "UPDATE audit_chain_head SET seq = 4",
        "UPDATE audit_chain_head SET seq = 7",
        "DELETE FROM audit_chain_head",
        "TRUNCATE audit_chain_head",
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        assert!(err.to_string().contains("only moves forward"), "{sql}: {err}");
    }
    assert_chain_intact(&db, &origin.options, 5).await;
}

/// `audit verify` fails with unknown or wrong AUDIT_KEYS, passes again with the right ones, and accepts a rotated keyring that still holds the old key.
#[tokio::test]
async fn audit_verify_depends_on_the_audit_keys() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    five_rows(origin.domain()).await;
    let options = origin.options.clone();
    assert_chain_intact(&db, &options, 5).await;

    let unknown = OriginOptions { audit_keys: keys::random_key_spec("aud2"), ..options.clone() };
    assert_chain_broken_at(&db, &unknown, 1, "unknown audit key \"aud1\"").await;
    let wrong_secret = OriginOptions { audit_keys: keys::random_key_spec("aud1"), ..options.clone() };
    assert_chain_broken_at(&db, &wrong_secret, 1, "content does not match its hash").await;
    assert_chain_intact(&db, &options, 5).await;

    // Rotation: a new signing key first, the old one kept for verification.
    let rotated = OriginOptions {
        audit_keys: format!("{},{}", keys::random_key_spec("aud2"), options.audit_keys),
        ..options.clone()
    };
    drop(origin);
    let origin = Origin::start(&db, rotated.clone()).await;
    new_org(origin.domain(), "After Rotation").await;
    let key_ids: Vec<String> =
        sqlx::query_scalar("SELECT key_id FROM audit_log ORDER BY seq").fetch_all(&db.pool).await.unwrap();
    assert_eq!(key_ids, ["aud1", "aud1", "aud1", "aud1", "aud1", "aud2"]);
    assert_chain_intact(&db, &rotated, 6).await;
    assert_chain_broken_at(&db, &options, 6, "unknown audit key \"aud2\"").await;
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

/// 20 concurrent event creations then 20 concurrent `update_event` calls on different events leave one gapless, linked, verifiable chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mutations_keep_one_gapless_chain() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain().clone();
    let org = new_org(&domain, "Busy Org").await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let domain = domain.clone();
        tasks.spawn(async move {
            domain
                .create_event(
                    &Actor::cli(),
                    NewEvent { org_id: org.id, name: format!("Fest {i}"), ..NewEvent::default() },
                )
                .await
                .map(|e| e.id)
        });
    }
    let events: Vec<Uuid> = tasks.join_all().await.into_iter().map(Result::unwrap).collect();

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(events.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in events.iter().copied().enumerate() {
        let (domain, barrier) = (domain.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            domain
                .update_event(
                    &Actor::cli(),
                    id,
                    EventPatch { name: Some(format!("Fest {i} (moved)")), ..EventPatch::default() },
                )
                .await
                .map(drop)
        });
    }
    for result in tasks.join_all().await {
        result.unwrap();
    }

    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq").fetch_all(&db.pool).await.unwrap();
    assert_eq!(seqs, (1..=41).collect::<Vec<i64>>(), "seq is 1..N without gaps");
    let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_chain_head").fetch_one(&db.pool).await.unwrap();
    assert_eq!(head, 41);
    let unlinked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log a JOIN audit_log b ON b.seq = a.seq + 1 WHERE b.prev_hash <> a.hash",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 0, "every row links to its predecessor");
    let per_event: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'event.updated' GROUP BY target_id ORDER BY target_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(per_event, vec![1; 20], "one event.updated row per event");
    assert_chain_intact(&db, &origin.options, 41).await;
}

/// `audit verify` run while the service keeps writing reports an intact chain: rows and chain head must be read from one snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_verify_is_consistent_while_writes_continue() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let domain = origin.domain().clone();
    let org = new_org(&domain, "Live Org").await;
    // A few hundred rows of history, so a verification walk takes a moment.
    let mut fill = tokio::task::JoinSet::new();
    for i in 0..8 {
        let domain = domain.clone();
        let event = new_event(&domain, org.id, &format!("Live {i}")).await.id;
        fill.spawn(async move {
            for n in 0..40 {
                let patch = EventPatch { name: Some(format!("rev {n}")), ..EventPatch::default() };
                domain.update_event(&Actor::cli(), event, patch).await.unwrap();
            }
            event
        });
    }
    let event = fill.join_all().await[0];

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (domain, stop) = (domain.clone(), stop.clone());
        tokio::spawn(async move {
            let mut written = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                written += 1;
                let patch = EventPatch { name: Some(format!("live {written}")), ..EventPatch::default() };
                domain.update_event(&Actor::system("writer"), event, patch).await.unwrap();
            }
            written
        })
    };
    let mut reports = Vec::new();
    for _ in 0..5 {
        let (code, out) = cli(&db, &origin.options, &["audit", "verify"]).await;
        reports.push((succeeded(code), out));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.await.unwrap() > 0, "precondition: writes continued during verification");

    let false_alarms: Vec<&String> = reports.iter().filter(|(ok, _)| !ok).map(|(_, out)| out).collect();
    assert!(
        false_alarms.is_empty(),
        "audit verify reported tampering on an untampered live log in {} of {} runs: {false_alarms:#?}",
        false_alarms.len(),
        reports.len()
    );
    assert_chain_intact(&db, &origin.options, audit_count(&db).await).await;
}
