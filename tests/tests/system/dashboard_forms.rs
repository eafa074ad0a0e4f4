//! Dashboard forms end to end over HTTP: what each page shows and what each form changes.
//!
//! Every form is posted as a browser posts it (urlencoded, the session's CSRF
//! token as a field, our own `Origin`), every page is read as the HTML a
//! browser gets, and every change is checked on the page *and* in the
//! database and audit log; every refused change is checked to have stored
//! nothing.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use origin_api::domain::actor::{Actor, Role};
use origin_api::domain::bands::{BandStatus, NewBand};
use origin_api::domain::users::NewUser;
use shared::BandId;
use system_tests::api::{Answer, ApiClient};
use system_tests::db::TestDb;
use system_tests::origin::OriginOptions;
use system_tests::smtp::SmtpServer;
use system_tests::world::PASSWORD;
use uuid::Uuid;

use crate::auth_support::{Env, snapshot, token_of};

// ---------------------------------------------------------------------------
// Reading pages
// ---------------------------------------------------------------------------

/// The `<main>` of a page (or the start of the body), for failure messages.
fn main_of(html: &str) -> String {
    let start = html.find("<main").unwrap_or(0);
    html[start..].chars().take(3000).collect()
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// `GET path` as `client`: a 200 HTML page; its text.
async fn page(client: &ApiClient, path: &str) -> String {
    let a = client.get(path).await;
    assert_eq!(a.status, 200, "GET {path}: {}", main_of(&a.text));
    assert!(header(&a, "content-type").starts_with("text/html"), "GET {path}: {:?}", a.headers);
    a.text
}

/// The target of the 303 a form post answers with.
fn redirect(a: &Answer, what: &str) -> String {
    assert_eq!(a.status, 303, "{what}: {}", main_of(&a.text));
    a.location().unwrap_or_else(|| panic!("{what}: a 303 without Location")).to_string()
}

/// A form refused with a message: 422 and an HTML page; the page.
fn refused(a: &Answer, what: &str) -> String {
    assert_eq!(a.status, 422, "{what}: {}", main_of(&a.text));
    assert!(header(a, "content-type").starts_with("text/html"), "{what}: {:?}", a.headers);
    a.text.clone()
}

/// HTML entities back to text (the named ones and `&#NN;` / `&#xNN;`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 8) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text without tags, entities decoded, whitespace collapsed.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of the first element opened by `marker` (up to its `</p>`), if any.
fn paragraph(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)? + marker.len();
    let end = html[at..].find("</p>")?;
    Some(text_of(&html[at..at + end]))
}

/// The page's error message (`role="alert"`), if any.
fn alert(html: &str) -> Option<String> {
    paragraph(html, "role=\"alert\">")
}

/// The page's notice after a redirect, if any.
fn notice(html: &str) -> Option<String> {
    paragraph(html, "class=\"notice\" role=\"status\">")
}

/// The CSRF token the page's forms carry.
fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker).unwrap_or_else(|| panic!("no CSRF field: {}", main_of(html))) + marker.len();
    html[at..].split('"').next().unwrap_or_default().to_string()
}

/// The table row (`<tr>…</tr>`) containing `needle`.
fn row_of<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html.find(needle).unwrap_or_else(|| panic!("{needle:?} is not on the page: {}", main_of(html)));
    let start = html[..at].rfind("<tr").unwrap_or_else(|| panic!("{needle:?} is not in a table row"));
    let end = at + html[at..].find("</tr>").expect("the row ends") + "</tr>".len();
    &html[start..end]
}

/// The cells of the body rows of the first table after `after`, as text.
fn body_rows(html: &str, after: &str) -> Vec<Vec<String>> {
    let Some(from) = html.find(after) else { return Vec::new() };
    let html = &html[from..];
    let Some(start) = html.find("<tbody>") else { return Vec::new() };
    let end = html[start..].find("</tbody>").map_or(html.len(), |e| start + e);
    html[start..end]
        .split("<tr")
        .skip(1)
        .map(|row| row.split("<td").skip(1).map(|cell| text_of(&format!("<td{cell}"))).collect())
        .collect()
}

/// An `href` on the page whose link text is `text`, decoded.
fn link_to(html: &str, text: &str) -> Option<String> {
    let at = html.find(&format!(">{text}</a>"))?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    let end = start + html[start..].find('"')?;
    Some(unescape(&html[start..end]))
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

/// The page carries `payload` only escaped: never verbatim when it holds markup.
fn assert_escaped(what: &str, html: &str, payload: &str) {
    if payload.contains('<') || payload.contains('"') {
        assert!(!html.contains(payload), "{what}: the payload is on the page unescaped: {}", main_of(html));
    }
    let lower = html.to_ascii_lowercase();
    for live in ["<script>alert", "<img src=x", "<b>person"] {
        assert!(!lower.contains(live), "{what}: live markup {live:?} on the page: {}", main_of(html));
    }
}

/// Markers of a page that broke instead of answering.
fn assert_clean(what: &str, a: &Answer) {
    assert!(a.status.as_u16() < 500, "{what}: {} {}", a.status, main_of(&a.text));
    crate::auth_support::assert_no_leak(what, &a.text);
}

// ---------------------------------------------------------------------------
// Database helpers
// ---------------------------------------------------------------------------

async fn count(db: &TestDb, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).bind(arg).fetch_one(&db.pool).await.expect(sql)
}

/// Audit rows of `action` about `target_id`.
async fn audited(db: &TestDb, action: &str, target_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2")
        .bind(action)
        .bind(target_id)
        .fetch_one(&db.pool)
        .await
        .expect("audit count")
}

/// Audit rows of `action` about `target_id` made by user `actor`.
async fn audited_by(db: &TestDb, action: &str, target_id: &str, actor: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2 AND actor_id = $3",
    )
    .bind(action)
    .bind(target_id)
    .bind(actor)
    .fetch_one(&db.pool)
    .await
    .expect("audit count")
}

/// Makes the session's second-factor proof older than the step-up window.
async fn age_step_up(db: &TestDb, user: Uuid) {
    sqlx::query("UPDATE sessions SET mfa_at = mfa_at - interval '11 minutes' WHERE user_id = $1")
        .bind(user)
        .execute(&db.pool)
        .await
        .expect("age the step-up");
}

/// Imports `bands` (id, label, status) into `event` through the domain.
async fn import(env: &Env, event: Uuid, bands: &[(String, String, BandStatus)]) {
    let rows = bands
        .iter()
        .enumerate()
        .map(|(i, (id, label, status))| NewBand {
            line: i as u64 + 2,
            band_id: BandId::parse(id).expect("band id"),
            label: label.clone(),
            status: *status,
            override_url: None,
        })
        .collect();
    env.origin.domain().import_bands(&Actor::cli(), event, rows, Vec::new()).await.expect("import");
}

/// A tap log row (as ingest writes it) of `event`.
async fn tap(db: &TestDb, event: Uuid, band: &str, at: DateTime<Utc>, agent: &str, device: &str) {
    sqlx::query(
        "INSERT INTO tap_logs (id, band_id, event_id, tapped_at, outcome, head, agent, device)
         VALUES ($1, $2, $3, $4, 'default', false, $5, $6)",
    )
    .bind(system_tests::taps::id_at(at.timestamp_millis()))
    .bind(band)
    .bind(event)
    .bind(at)
    .bind(agent)
    .bind(device)
    .execute(&db.pool)
    .await
    .expect("insert tap");
}

/// Whether a session token still opens the API.
async fn works(env: &Env, token: &str) -> bool {
    crate::auth_support::me_with(&env.origin.url, token).await.status == 200
}

// ---------------------------------------------------------------------------
// 1. Users (ADMIN)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn users_page_invites_changes_roles_deactivates_and_resets_mfa_and_customers_cannot() {
    let env = Env::start().await;
    let w = env.world.clone();
    let db = &env.db;
    // A second ADMIN with a second factor: the one whose MFA gets reset.
    let ops = env
        .origin
        .domain()
        .create_user(
            &Actor::cli(),
            NewUser {
                email: "ops@example.com".into(),
                name: "Ops Person".into(),
                role: Role::Admin,
                org_id: None,
                password: PASSWORD.to_string().into(),
            },
        )
        .await
        .expect("ops admin")
        .id;
    env.sign_in("ops@example.com").await;
    let alice = env.customer_a().await;
    let alice_token = token_of(&alice);

    // A CUSTOMER can neither see nor use any of it, and changes nothing trying.
    let bob = env.customer_b().await;
    let before = snapshot(db).await;
    for path in ["/users", "/audit"] {
        let a = bob.get(path).await;
        assert!(matches!(a.status.as_u16(), 403 | 404), "a CUSTOMER reading {path}: {}", a.status);
        assert!(!a.text.contains("customer.a@example.com"), "{path} shows no users to a CUSTOMER");
    }
    let bob_id = w.customer_b.0.to_string();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/users".into(),
            vec![("email", "sneaky@example.com"), ("name", "Sneaky"), ("role", "ADMIN"), ("org_id", "")],
        ),
        (format!("/users/{bob_id}"), vec![("role", "ADMIN"), ("org_id", "")]),
        (format!("/users/{}/deactivate", w.customer_a.0), vec![]),
        (format!("/users/{}/reactivate", w.deactivated.0), vec![]),
        (format!("/users/{ops}/mfa-reset"), vec![]),
    ];
    for (path, fields) in &posts {
        let a = bob.send_form(path, fields).await;
        assert!(matches!(a.status.as_u16(), 403 | 404), "a CUSTOMER posting {path}: {}", a.status);
    }
    assert_eq!(snapshot(db).await, before, "the CUSTOMER's attempts changed nothing");

    let mut admin = env.admin().await;
    let html = page(&admin, "/users").await;
    admin.csrf = Some(csrf_in(&html));
    for email in [&w.customer_a.1, &w.customer_b.1, &w.deactivated.1, &"ops@example.com".to_string()] {
        assert!(html.contains(email.as_str()), "{email} listed");
    }
    let own = row_of(&html, &w.admin.1);
    assert!(!own.contains("<form"), "no role, deactivate or reset form for oneself: {own}");
    assert!(row_of(&html, "ops@example.com").contains("/mfa-reset"), "a reset form for an enrolled user");
    assert!(!row_of(&html, &w.customer_a.1).contains("/mfa-reset"), "none without a second factor");
    assert!(row_of(&html, &w.deactivated.1).contains("deactivated"));

    // Invite: the user exists, is listed, is audited and gets the link by mail.
    let users_before = count(db, "SELECT count(*) FROM users WHERE $1 <> ''", "x").await;
    let org_a = w.org_a.to_string();
    for (fields, expect) in [
        (
            vec![
                ("email", w.customer_b.1.as_str()),
                ("name", "Dup"),
                ("role", "CUSTOMER"),
                ("org_id", &org_a),
            ],
            "",
        ),
        (
            vec![("email", "no.org@example.com"), ("name", "No Org"), ("role", "CUSTOMER"), ("org_id", "")],
            "org",
        ),
        (
            vec![("email", "not-an-email"), ("name", "Nobody"), ("role", "CUSTOMER"), ("org_id", &org_a)],
            "email",
        ),
        (
            vec![("email", "nul@example.com"), ("name", "x\u{0}y"), ("role", "CUSTOMER"), ("org_id", &org_a)],
            "name",
        ),
    ] {
        let html = refused(&admin.send_form("/users", &fields).await, &format!("invite {fields:?}"));
        let error = alert(&html).unwrap_or_else(|| panic!("a message for {fields:?}: {}", main_of(&html)));
        assert!(error.to_lowercase().contains(expect), "{fields:?}: {error}");
        let name = fields[1].1;
        assert!(html.contains(&format!("value=\"{name}\"")), "the form keeps what was typed ({name})");
    }
    assert_eq!(
        count(db, "SELECT count(*) FROM users WHERE $1 <> ''", "x").await,
        users_before,
        "refused invitations store nothing"
    );
    let invite = [
        ("email", "new.person@example.com"),
        ("name", "New <b>Person</b>"),
        ("role", "CUSTOMER"),
        ("org_id", org_a.as_str()),
    ];
    let to = redirect(&admin.send_form("/users", &invite).await, "invite");
    assert_eq!(to, "/users?notice=user-invited");
    let html = page(&admin, &to).await;
    assert_eq!(notice(&html).as_deref(), Some("Invitation sent."));
    let row = row_of(&html, "new.person@example.com");
    assert!(text_of(row).contains("New <b>Person</b>"), "the name, as typed: {row}");
    assert_escaped("the invited name", &html, "<b>Person</b>");
    assert!(row.contains("Org A") && row.contains(">active<"), "org and state: {row}");
    let (new_id, role, org): (Uuid, String, Option<Uuid>) =
        sqlx::query_as("SELECT id, role, org_id FROM users WHERE email = 'new.person@example.com'")
            .fetch_one(&db.pool)
            .await
            .expect("the invited user");
    assert_eq!((role.as_str(), org), ("CUSTOMER", Some(w.org_a)));
    assert_eq!(audited_by(db, "user.created", &new_id.to_string(), w.admin.0).await, 1);
    let mail_dir = std::env::temp_dir().join(format!("sm-mail-{}", db.name));
    let mails: Vec<String> = std::fs::read_dir(&mail_dir)
        .map(|d| {
            d.filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok())
                .map(|m| m.replace("=\r\n", "").replace("=3D", "="))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        mails.iter().any(|m| m.contains("new.person@example.com") && m.contains("/reset-password?token=")),
        "the invitation mail with its link, in {}",
        mail_dir.display()
    );

    // Sensitive changes wait for a fresh second factor, and change nothing before it.
    age_step_up(db, w.admin.0).await;
    let org_b = w.org_b.to_string();
    let before = snapshot(db).await;
    for (path, fields) in [
        (format!("/users/{bob_id}"), vec![("role", "ADMIN"), ("org_id", org_b.as_str())]),
        (format!("/users/{}/deactivate", w.customer_a.0), vec![]),
        (format!("/users/{ops}/mfa-reset"), vec![]),
    ] {
        let to = redirect(&admin.send_form(&path, &fields).await, &format!("{path} without step-up"));
        assert_eq!(to, "/account?next=%2Fusers#step-up", "{path}");
    }
    assert_eq!(snapshot(db).await, before, "nothing changed without the step-up");
    let html = page(&admin, "/account?next=%2Fusers").await;
    let reason = paragraph(&html[html.find("id=\"step-up\"").expect("step-up section")..], "role=\"alert\">")
        .expect("why the page asks");
    assert!(reason.contains("authenticator app"), "{reason}");
    let wrong = refused(
        &admin.send_form("/account/step-up", &[("code", "000000"), ("next", "/users")]).await,
        "a wrong code",
    );
    assert!(alert(&wrong).is_some_and(|e| e.contains("not valid")), "{}", main_of(&wrong));
    let code = env.next_code(&w.admin.1).await;
    let to = redirect(
        &admin.send_form("/account/step-up", &[("code", &code), ("next", "/users")]).await,
        "step-up",
    );
    assert_eq!(to, "/users", "back to the users page");

    // Role change: shown, stored, audited, and the user's sessions end.
    let to = redirect(
        &admin.send_form(&format!("/users/{bob_id}"), &[("role", "ADMIN"), ("org_id", &org_b)]).await,
        "role change",
    );
    assert_eq!(to, "/users?notice=user-saved");
    let html = page(&admin, &to).await;
    assert_eq!(notice(&html).as_deref(), Some("User saved."));
    let row = row_of(&html, &w.customer_b.1);
    assert!(row.contains("<option value=\"ADMIN\" selected>"), "shown as admin: {row}");
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(w.customer_b.0)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(role, "ADMIN");
    assert_eq!(audited_by(db, "user.role_changed", &bob_id, w.admin.0).await, 1);
    assert_eq!(bob.get("/api/v1/me").await.status, 401, "a role change ends the user's sessions");
    // A bad role shows a message and stores nothing.
    let before = snapshot(db).await;
    let html = refused(
        &admin.send_form(&format!("/users/{bob_id}"), &[("role", "OWNER"), ("org_id", "")]).await,
        "an unknown role",
    );
    assert!(alert(&html).is_some_and(|e| e.contains("ADMIN or CUSTOMER")), "{}", main_of(&html));
    assert_eq!(snapshot(db).await, before);

    // Deactivation: shown, stored, audited, signed out; not oneself.
    let alice_id = w.customer_a.0.to_string();
    let to = redirect(&admin.send_form(&format!("/users/{alice_id}/deactivate"), &[]).await, "deactivate");
    assert_eq!(to, "/users?notice=user-deactivated");
    let html = page(&admin, &to).await;
    assert!(notice(&html).is_some_and(|n| n.contains("deactivated")));
    let row = row_of(&html, &w.customer_a.1);
    assert!(
        row.contains(">deactivated<") && row.contains("/reactivate"),
        "deactivated, with Reactivate: {row}"
    );
    let gone: bool = sqlx::query_scalar("SELECT deactivated_at IS NOT NULL FROM users WHERE id = $1")
        .bind(w.customer_a.0)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(gone);
    assert_eq!(audited_by(db, "user.deactivated", &alice_id, w.admin.0).await, 1);
    assert!(!works(&env, &alice_token).await, "a deactivated user is signed out at once");
    let html = refused(
        &admin.send_form(&format!("/users/{}/deactivate", w.admin.0), &[]).await,
        "deactivating oneself",
    );
    assert!(alert(&html).is_some_and(|e| e.contains("yourself")), "{}", main_of(&html));
    assert!(works(&env, &token_of(&admin)).await, "and the ADMIN is still signed in");

    // MFA reset: shown (off, no reset form), the enrolment gone, audited.
    let to = redirect(&admin.send_form(&format!("/users/{ops}/mfa-reset"), &[]).await, "MFA reset");
    assert_eq!(to, "/users?notice=mfa-reset");
    let html = page(&admin, &to).await;
    assert!(notice(&html).is_some_and(|n| n.contains("enrol again")));
    let row = row_of(&html, "ops@example.com");
    assert!(row.contains(">off<") && !row.contains("/mfa-reset"), "MFA shown off: {row}");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_totp WHERE user_id = $1")
        .bind(ops)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the second factor is gone");
    assert_eq!(audited_by(db, "mfa.reset", &ops.to_string(), w.admin.0).await, 1);

    // All of it on the audit page too.
    let html = page(&admin, &format!("/audit?{}", query(&[("actor_id", &w.admin.0.to_string())]))).await;
    for action in ["user.created", "user.role_changed", "user.deactivated", "mfa.reset"] {
        assert!(html.contains(&format!("<code>{action}</code>")), "{action} on the audit page");
    }
}

// ---------------------------------------------------------------------------
// 2. Audit log (ADMIN)
// ---------------------------------------------------------------------------

/// `(action, target kind, target id)` of every row the audit page shows.
fn audit_rows(html: &str) -> Vec<(String, String, String)> {
    body_rows(html, "<table class=\"audit\"")
        .into_iter()
        .map(|cells| {
            let target = cells.get(4).cloned().unwrap_or_default();
            let (kind, id) = target.split_once(' ').unwrap_or((target.as_str(), ""));
            (cells.get(3).cloned().unwrap_or_default(), kind.to_string(), id.trim().to_string())
        })
        .collect()
}

/// Saves `band`'s edit form with a new label, as its owner.
async fn save_band(client: &ApiClient, band: &str, label: &str) {
    let label = format!("{band} {label}");
    let fields = [("status", "active"), ("override_url", ""), ("label", label.as_str())];
    redirect(&client.send_form(&format!("/bands/{band}"), &fields).await, &format!("saving {band}"));
}

async fn audit_page(admin: &ApiClient, filters: &[(&str, &str)]) -> (Answer, Vec<(String, String, String)>) {
    let a = admin.get(&format!("/audit?{}", query(filters))).await;
    let rows = audit_rows(&a.text);
    (a, rows)
}

#[tokio::test]
async fn audit_filters_narrow_the_rows_and_hostile_filters_get_a_clean_page() {
    let env = Env::start().await;
    let w = env.world.clone();
    let db = &env.db;
    let admin = env.admin().await;
    let alice = env.customer_a().await;
    let bob = env.customer_b().await;
    // Before the boundary: Alice and Bob each save their band.
    save_band(&alice, &w.band_a, "first").await;
    save_band(&bob, &w.band_b, "first").await;
    let last: DateTime<Utc> =
        sqlx::query_scalar("SELECT max(at) FROM audit_log").fetch_one(&db.pool).await.unwrap();
    let boundary = last.trunc_subsecs(0) + chrono::Duration::seconds(1);
    while Utc::now() < boundary + chrono::Duration::milliseconds(200) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // After it: Alice saves hers again.
    save_band(&alice, &w.band_a, "second").await;
    let boundary = boundary.format("%Y-%m-%dT%H:%M:%S").to_string();

    let (a, all) = audit_page(&admin, &[]).await;
    assert_eq!(a.status, 200);
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&db.pool).await.unwrap();
    assert_eq!(all.len() as i64, total.min(100), "unfiltered: every entry (up to a page)");

    // Action, exact: only those.
    let (a, rows) = audit_page(&admin, &[("action", "band.updated")]).await;
    assert_eq!(rows.len(), 3, "{}", main_of(&a.text));
    assert!(rows.iter().all(|r| r.0 == "band.updated"), "{rows:?}");
    assert!(a.text.contains("value=\"band.updated\""), "the form shows the filter");
    // Action, prefix.
    let (_, rows) = audit_page(&admin, &[("action", "auth.")]).await;
    let auth: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action LIKE 'auth.%'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(auth > 0 && rows.len() as i64 == auth.min(100), "{} rows, {auth} in the log", rows.len());
    assert!(rows.iter().all(|r| r.0.starts_with("auth.")), "{rows:?}");
    // Actor.
    let alice_id = w.customer_a.0.to_string();
    let (_, rows) = audit_page(&admin, &[("actor_id", &alice_id)]).await;
    let by_alice = count(db, "SELECT count(*) FROM audit_log WHERE actor_id::text = $1", &alice_id).await;
    assert_eq!(rows.len() as i64, by_alice);
    assert_eq!(rows.iter().filter(|r| r.0 == "band.updated").count(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.2 != w.band_b), "nothing of Bob's: {rows:?}");
    // Target.
    let (_, rows) = audit_page(&admin, &[("target_type", "band"), ("target_id", &w.band_b)]).await;
    assert_eq!(rows, vec![("band.updated".to_string(), "band".to_string(), w.band_b.clone())]);
    let (_, rows) = audit_page(&admin, &[("target_type", "user"), ("target_id", &w.band_b)]).await;
    assert!(rows.is_empty(), "kind and id together");
    // Filters combine.
    let bob_id = w.customer_b.0.to_string();
    let (_, rows) = audit_page(&admin, &[("action", "band.updated"), ("actor_id", &bob_id)]).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Dates: from (inclusive) and to (exclusive), to the second; whole days.
    let (_, rows) = audit_page(&admin, &[("action", "band.updated"), ("from", &boundary)]).await;
    assert_eq!(
        rows,
        vec![("band.updated".to_string(), "band".to_string(), w.band_a.clone())],
        "after {boundary}"
    );
    let (_, rows) = audit_page(&admin, &[("action", "band.updated"), ("to", &boundary)]).await;
    assert_eq!(rows.len(), 2, "before {boundary}: {rows:?}");
    let tomorrow = (Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let today = Utc::now().date_naive().to_string();
    let (a, rows) = audit_page(&admin, &[("from", &tomorrow)]).await;
    assert!(rows.is_empty() && a.text.contains("No entries match."), "nothing from tomorrow");
    let (_, rows) = audit_page(&admin, &[("to", &today)]).await;
    assert!(rows.is_empty(), "nothing before today");

    // Hostile values in every filter: a page (200, or 422 naming the field), never an error page,
    // never a row they should not match, and the value escaped where it is shown again.
    let payloads = [
        "' OR '1'='1' --".to_string(),
        "band.updated' OR 1=1 --".to_string(),
        "\"><script>alert(1)</script>".to_string(),
        "<img src=x onerror=alert(1)>".to_string(),
        "%".to_string(),
        "_%.".to_string(),
        "\\".to_string(),
        "x\u{0}y".to_string(),
        "A".repeat(4000),
        "\u{202e}١٢٣ 🍪".to_string(),
    ];
    for field in ["action", "actor_id", "target_type", "target_id", "from", "to"] {
        for payload in &payloads {
            let what = format!("{field}={:?}", payload.chars().take(40).collect::<String>());
            let (a, rows) = audit_page(&admin, &[(field, payload)]).await;
            assert_clean(&what, &a);
            assert!(matches!(a.status.as_u16(), 200 | 422), "{what}: {}", a.status);
            assert!(a.text.contains("<h1>Audit log</h1>"), "{what}: the audit page: {}", main_of(&a.text));
            assert!(rows.is_empty(), "{what}: matches nothing: {rows:?}");
            assert_escaped(&what, &a.text, payload);
            if a.status == 422 {
                assert!(alert(&a.text).is_some(), "{what}: says what is wrong");
            }
        }
    }
    // A CUSTOMER sees no audit page.
    assert_eq!(alice.get("/audit").await.status, 403);
}

// ---------------------------------------------------------------------------
// 3. My account
// ---------------------------------------------------------------------------

#[tokio::test]
async fn account_password_change_and_signing_out_everywhere_else() {
    let env = Env::start().await;
    let w = env.world.clone();
    let db = &env.db;
    let new_password = "copper violin glacier tundra";
    let mut here = env.customer_a().await;
    let elsewhere = env.customer_a().await;
    let html = page(&here, "/account").await;
    assert_eq!(body_rows(&html, "id=\"sessions-h\"").len(), 2, "both sessions listed");
    assert!(row_of(&html, "This browser").contains("Sign out"));
    let hash = || password_hash(db, w.customer_a.0);
    let original = hash().await;

    // A wrong current password is refused with a message; nothing changes.
    let html = refused(
        &here
            .send_form(
                "/account/password",
                &[("current_password", "not my password at all"), ("new_password", new_password)],
            )
            .await,
        "a wrong current password",
    );
    let error = alert(&html).expect("a message");
    assert!(error.contains("current password is wrong"), "{error}");
    assert!(!html.contains(new_password), "the page does not echo passwords");
    // A weak new one is refused with the policy's reason.
    for (weak, reason) in [("short", "at least 12 characters"), ("password1234", "too common")] {
        let html = refused(
            &here
                .send_form("/account/password", &[("current_password", PASSWORD), ("new_password", weak)])
                .await,
            weak,
        );
        let error = alert(&html).expect("a message");
        assert!(error.contains(reason), "{weak}: {error}");
    }
    assert_eq!(hash().await, original, "refused changes store nothing");
    assert!(works(&env, &token_of(&elsewhere)).await, "and sign nobody out");

    // The right one: changed, this browser signed in again, every other session out.
    let old_here = token_of(&here);
    let a = here
        .send_form("/account/password", &[("current_password", PASSWORD), ("new_password", new_password)])
        .await;
    assert_eq!(redirect(&a, "the password change"), "/account?notice=password-changed");
    here.adopt(&a);
    assert_ne!(token_of(&here), old_here, "a new session cookie");
    let html = page(&here, "/account?notice=password-changed").await;
    assert!(notice(&html).is_some_and(|n| n.contains("Password changed")), "{}", main_of(&html));
    here.csrf = Some(csrf_in(&html));
    assert_ne!(hash().await, original);
    assert!(!works(&env, &token_of(&elsewhere)).await, "the other session is signed out");
    assert!(!works(&env, &old_here).await, "and so is this browser's old cookie");
    let to = redirect(&elsewhere.get("/events").await, "a page in the signed-out session");
    assert!(to.starts_with("/login"), "{to}");
    assert_eq!(audited(db, "auth.password_changed", &w.customer_a.0.to_string()).await, 1);
    assert_eq!(
        env.anonymous().login(&w.customer_a.1, PASSWORD).await.status,
        401,
        "the old password is gone"
    );

    // Sign out everywhere else: the other session ends, this one carries on.
    let other = env.sign_in_with(&w.customer_a.1, new_password).await;
    assert!(works(&env, &token_of(&other)).await);
    let html = page(&here, "/account").await;
    assert_eq!(body_rows(&html, "id=\"sessions-h\"").len(), 2, "the new session is listed");
    let to =
        redirect(&here.send_form("/account/sessions/revoke-others", &[]).await, "sign out everywhere else");
    assert_eq!(to, "/account?notice=signed-out-everywhere");
    assert!(!works(&env, &token_of(&other)).await, "the other session's cookie stops working");
    assert!(works(&env, &token_of(&here)).await, "this one keeps working");
    let html = page(&here, &to).await;
    assert!(notice(&html).is_some_and(|n| n.contains("Every other session")));
    let sessions = body_rows(&html, "id=\"sessions-h\"");
    assert_eq!(sessions.len(), 1, "only this browser is left: {sessions:?}");
    assert!(sessions[0][0].contains("This browser"));
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(w.customer_a.0)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(live, 1);
    // Without the CSRF token the same form does nothing.
    let again = env.sign_in_with(&w.customer_a.1, new_password).await;
    let mut forged = here.clone();
    forged.csrf = Some("A".repeat(csrf_in(&html).len()));
    assert_eq!(forged.send_form("/account/sessions/revoke-others", &[]).await.status, 403);
    assert!(works(&env, &token_of(&again)).await, "a forged form signs nobody out");
}

// ---------------------------------------------------------------------------
// 4. Forgotten and reset passwords
// ---------------------------------------------------------------------------

/// The path and query of the reset link in the mail.
fn reset_link(mail: &system_tests::smtp::Mail, base: &str) -> String {
    let text = mail.text();
    let prefix = format!("{base}/reset-password?token=");
    let at = text.find(&prefix).unwrap_or_else(|| panic!("no reset link in:\n{text}"));
    let token: String = text[at + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("/reset-password?token={token}")
}

#[tokio::test]
async fn forgot_and_reset_password_pages() {
    let smtp = SmtpServer::start().await;
    let env =
        Env::start_with(OriginOptions { smtp_url: Some(smtp.url.clone()), ..OriginOptions::default() }, None)
            .await;
    let w = env.world.clone();
    let db = &env.db;
    let email = w.customer_a.1.clone();
    let signed_in_before = env.customer_a().await;
    let anon = env.anonymous();

    let html = page(&anon, "/forgot-password").await;
    assert!(html.contains("action=\"/forgot-password\""));
    // The same answer for an unknown and a known address.
    let unknown =
        redirect(&anon.send_form("/forgot-password", &[("email", "nobody@example.com")]).await, "unknown");
    let known = redirect(&anon.send_form("/forgot-password", &[("email", &email)]).await, "known");
    assert_eq!(unknown, known, "no hint which addresses have accounts");
    let (a, b) = (page(&anon, &unknown).await, page(&anon, &known).await);
    assert_eq!(notice(&a), notice(&b));
    assert!(notice(&a).is_some_and(|n| n.contains("If an account exists")), "{}", main_of(&a));
    let mail = smtp.wait_for(&email, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(smtp.mails_to("nobody@example.com").is_empty(), "no mail for an unknown address");

    // The link opens the reset page.
    let link = reset_link(&mail, &env.origin.url);
    let token = link.rsplit('=').next().unwrap().to_string();
    let html = page(&anon, &link).await;
    assert!(html.contains(&format!("name=\"token\" value=\"{token}\"")), "{}", main_of(&html));
    assert!(alert(&html).is_none(), "a valid link shows no error: {:?}", alert(&html));
    let hash = || password_hash(db, w.customer_a.0);
    let original = hash().await;

    // Weak passwords are refused with the policy's reason; the link still works after.
    for (weak, reason) in [
        ("short", "at least 12 characters"),
        ("password1234", "too common"),
        ("customer.a.example", "email, name or organisation"),
    ] {
        let html =
            refused(&anon.send_form("/reset-password", &[("token", &token), ("password", weak)]).await, weak);
        let error = alert(&html).unwrap_or_else(|| panic!("{weak}: a message: {}", main_of(&html)));
        assert!(error.contains(reason), "{weak}: {error}");
        assert!(html.contains(&format!("value=\"{token}\"")), "{weak}: the form keeps the token");
    }
    assert_eq!(hash().await, original);

    // A good one works, once.
    let good = "saffron kettle harbour zephyr";
    let to =
        redirect(&anon.send_form("/reset-password", &[("token", &token), ("password", good)]).await, "reset");
    assert_eq!(to, "/login?notice=password-reset");
    assert!(notice(&page(&anon, &to).await).is_some_and(|n| n.contains("Sign in with it")));
    assert_eq!(env.anonymous().login(&email, good).await.status, 200, "the new password works");
    assert_eq!(env.anonymous().login(&email, PASSWORD).await.status, 401, "the old one does not");
    assert!(!works(&env, &token_of(&signed_in_before)).await, "sessions from before the reset end");
    assert_eq!(audited(db, "auth.reset_completed", &w.customer_a.0.to_string()).await, 1);
    let after = hash().await;

    // The used link, and made-up ones: a friendly error, nothing changes.
    let bogus = "A".repeat(43);
    for t in [token.as_str(), bogus.as_str(), "", "\"><script>alert(1)</script>", "x\u{0}y"] {
        let what = format!("token {t:?}");
        let opened = anon.get(&format!("/reset-password?{}", query(&[("token", t)]))).await;
        assert_clean(&what, &opened);
        assert_escaped(&what, &opened.text, t);
        let error = alert(&opened.text).unwrap_or_else(|| panic!("{what}: opening it says it is no good"));
        assert!(error.contains("invalid or has expired"), "{what}: {error}");
        assert!(opened.text.contains("href=\"/forgot-password\""), "{what}: a way to ask for a new link");
        let a = anon
            .send_form("/reset-password", &[("token", t), ("password", "another fine passphrase here")])
            .await;
        assert_clean(&what, &a);
        let html = refused(&a, &what);
        assert!(
            alert(&html).is_some_and(|e| e.contains("invalid or has expired")),
            "{what}: {}",
            main_of(&html)
        );
        assert_escaped(&what, &html, t);
    }
    assert_eq!(hash().await, after, "no used or made-up link changed the password");
}

// ---------------------------------------------------------------------------
// 5. Analytics
// ---------------------------------------------------------------------------

fn total_taps(html: &str) -> i64 {
    let marker = "id=\"total-taps\">";
    let at = html.find(marker).unwrap_or_else(|| panic!("no total: {}", main_of(html))) + marker.len();
    html[at..].split('<').next().unwrap_or_default().trim().parse().expect("a number")
}

#[tokio::test]
async fn analytics_range_changes_the_totals_and_the_csv_export_is_clean() {
    let env = Env::start().await;
    let w = env.world.clone();
    let db = &env.db;
    let alice = env.customer_a().await;
    // An event name a spreadsheet would run as a formula.
    let formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let rename = [
        ("name", formula),
        ("default_url", "https://example.com/fest"),
        ("fallback_url", ""),
        ("status", "active"),
        ("timezone", "UTC"),
    ];
    redirect(&alice.send_form(&format!("/events/{}", w.event_a), &rename).await, "rename");

    let today = Utc::now().date_naive();
    let day = |n: u64| today - chrono::Days::new(n);
    let at = |d: NaiveDate, h: u32, m: u32| d.and_hms_opt(h, m, 0).expect("time").and_utc();
    let (d1, d2) = (day(20), day(15));
    // Day 1: three people in hour 10, one in hour 11. Day 2: two people and a bot. Another event: noise.
    for (band, h, m) in [("A1", 10, 0), ("A2", 10, 5), ("A3", 10, 30), ("A1", 11, 0)] {
        tap(db, w.event_a, band, at(d1, h, m), "human", "ios").await;
    }
    for (band, agent) in [("A1", "human"), ("A2", "human"), ("A3", "bot")] {
        tap(db, w.event_a, band, at(d2, 9, 0), agent, "android").await;
    }
    tap(db, w.event_b, "B1", at(d1, 10, 0), "human", "ios").await;

    let url = |from: NaiveDate, to: NaiveDate| format!("/events/{}/analytics?from={from}&to={to}", w.event_a);
    let one = page(&alice, &url(d1, d1)).await;
    assert_eq!(total_taps(&one), 4, "day 1");
    assert!(one.contains(&format!("value=\"{d1}\"")), "the form shows the range read");
    let two = page(&alice, &url(d2, d2)).await;
    assert_eq!(total_taps(&two), 2, "day 2 (the bot counted apart)");
    assert!(text_of(&two).contains("1 bots"), "the bot is shown apart: {}", text_of(&two));
    assert_eq!(total_taps(&page(&alice, &url(d1, d2)).await), 6, "both days");
    assert_eq!(total_taps(&page(&alice, &url(day(14), today)).await), 0, "after both");
    // No range: the last 7 days.
    assert_eq!(total_taps(&page(&alice, &format!("/events/{}/analytics", w.event_a)).await), 0);
    // A reversed or garbled range is read leniently and shown as read, never an error.
    let html = page(&alice, &url(d2, d1)).await;
    assert_eq!(total_taps(&html), 4, "from after to reads the `to` day");
    let garbled = alice
        .get(&format!(
            "/events/{}/analytics?{}",
            w.event_a,
            query(&[("from", "<script>alert(1)</script>"), ("to", "2026-02-30")])
        ))
        .await;
    assert_eq!(garbled.status, 200);
    assert_escaped("a garbled range", &garbled.text, "<script>alert(1)</script>");
    assert_escaped("the event name", &one, formula);
    let export = link_to(&one, "Export CSV").expect("an export link");
    assert_eq!(
        export,
        format!("/events/{}/analytics.csv?from={d1}&to={d1}", w.event_a),
        "exports the range shown"
    );

    // The CSV: the right rows, a file name, nothing a spreadsheet would run.
    let csv = alice.get(&format!("/events/{}/analytics.csv?from={d1}&to={d2}", w.event_a)).await;
    assert_eq!(csv.status, 200);
    assert!(header(&csv, "content-type").starts_with("text/csv"), "{:?}", csv.headers);
    let disposition = header(&csv, "content-disposition");
    assert_eq!(disposition, format!("attachment; filename=\"taps-{}-{d1}-{d2}.csv\"", w.event_a));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "hour_utc,taps,unique_bands,repeats,excluded,ios,android,other".to_string(),
            format!("{d1}T10:00:00Z,3,3,0,0,3,0,0"),
            format!("{d1}T11:00:00Z,1,1,0,0,1,0,0"),
            format!("{d2}T09:00:00Z,2,2,0,1,0,2,0"),
        ]
    );
    for cell in csv.text.lines().flat_map(|l| l.split(',')) {
        assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a formula-like cell: {cell:?}");
    }
    assert!(
        !csv.text.contains("HYPERLINK") && !disposition.contains("HYPERLINK"),
        "no user text in the export"
    );
    // Another organisation's event: not found, no file.
    let bob = env.customer_b().await;
    let theirs = bob.get(&format!("/events/{}/analytics.csv?from={d1}&to={d2}", w.event_a)).await;
    assert_eq!(theirs.status, 404);
    assert!(!header(&theirs, "content-type").starts_with("text/csv"));
}

// ---------------------------------------------------------------------------
// 6. Bands
// ---------------------------------------------------------------------------

/// Band ids listed on a bands page, in order.
fn listed_bands(html: &str) -> Vec<String> {
    body_rows(html, "<h1>Bands</h1>").into_iter().filter_map(|cells| cells.first().cloned()).collect()
}

/// The outbox rows for `band`: `(count, latest op as text)`.
async fn outbox(db: &TestDb, band: &str) -> (i64, String) {
    let key = format!("band:{band}");
    let n = count(db, "SELECT count(*) FROM kv_outbox WHERE key = $1", &key).await;
    let latest: Option<String> =
        sqlx::query_scalar("SELECT op::text FROM kv_outbox WHERE key = $1 ORDER BY seq DESC LIMIT 1")
            .bind(&key)
            .fetch_optional(&db.pool)
            .await
            .unwrap();
    (n, latest.unwrap_or_default())
}

#[tokio::test]
async fn bands_page_paginates_searches_and_saves_status_and_override() {
    let env = Env::start().await;
    let w = env.world.clone();
    let db = &env.db;
    let bands: Vec<(String, String, BandStatus)> = (1..=120)
        .map(|i| {
            let status = if i % 10 == 0 { BandStatus::Lost } else { BandStatus::Active };
            (format!("PAGE{i:04}"), format!("row {i}"), status)
        })
        .collect();
    import(&env, w.event_a, &bands).await;
    let alice = env.customer_a().await;

    // Pagination: every band once, in order, over three pages.
    let mut seen: Vec<String> = Vec::new();
    let mut path = format!("/events/{}/bands", w.event_a);
    let mut pages = 0;
    loop {
        let html = page(&alice, &path).await;
        pages += 1;
        assert!(text_of(&html).contains("121 band(s) match."), "{}", main_of(&html));
        let listed = listed_bands(&html);
        assert!(!listed.is_empty() && listed.len() <= 50, "page {pages}: {} bands", listed.len());
        for id in &listed {
            assert!(!seen.contains(id), "{id} on two pages");
        }
        seen.extend(listed);
        match link_to(&html, "Next page") {
            Some(next) => path = next,
            None => break,
        }
        assert!(pages < 10, "the next links end");
    }
    assert_eq!(pages, 3);
    let mut expected: Vec<String> = bands.iter().map(|b| b.0.clone()).collect();
    expected.push(w.band_a.clone());
    expected.sort();
    assert_eq!(seen, expected, "every band exactly once, in order");

    // Search by label and id, by status, and both; the next link keeps the search.
    let search = |q: &str, status: &str| {
        format!("/events/{}/bands?{}", w.event_a, query(&[("q", q), ("status", status)]))
    };
    assert_eq!(
        listed_bands(&page(&alice, &search("row 11", "")).await),
        vec![
            "PAGE0011", "PAGE0110", "PAGE0111", "PAGE0112", "PAGE0113", "PAGE0114", "PAGE0115", "PAGE0116",
            "PAGE0117", "PAGE0118", "PAGE0119"
        ]
    );
    assert_eq!(listed_bands(&page(&alice, &search("page0007", "")).await), vec!["PAGE0007"]);
    let lost = page(&alice, &search("", "lost")).await;
    assert_eq!(listed_bands(&lost).len(), 12);
    assert!(lost.contains("<option value=\"lost\" selected>"), "the form shows the status searched");
    assert_eq!(
        listed_bands(&page(&alice, &search("row 1", "lost")).await),
        vec!["PAGE0010", "PAGE0100", "PAGE0110", "PAGE0120"]
    );
    let html = page(&alice, &search("page", "active")).await;
    let next = link_to(&html, "Next page").expect("108 active: two pages");
    assert!(next.contains("q=page") && next.contains("status=active"), "{next}");
    let second = page(&alice, &next).await;
    let rest = listed_bands(&second);
    assert_eq!(rest.len(), 50, "{rest:?}");
    assert!(!listed_bands(&html).contains(&rest[0]), "the second page starts after the first");
    let third = listed_bands(&page(&alice, &link_to(&second, "Next page").expect("a third page")).await);
    assert_eq!(third.len(), 8, "108 active PAGE bands in all: {third:?}");
    // Hostile searches: a clean page that matches nothing and shows the search escaped.
    for q in ["%", "_", "\\", "' OR 1=1 --", "\"><script>alert(1)</script>", "x\u{0}y", &"Z".repeat(4000)] {
        let a = alice.get(&search(q, "")).await;
        let what = format!("search {:?}", q.chars().take(30).collect::<String>());
        assert_clean(&what, &a);
        assert_eq!(a.status, 200, "{what}: {}", main_of(&a.text));
        assert!(listed_bands(&a.text).is_empty(), "{what}: matches nothing");
        assert_escaped(&what, &a.text, q);
    }
    let odd = alice.get(&format!("/events/{}/bands?status=%3Cscript%3E", w.event_a)).await;
    assert_clean("an unknown status", &odd);
    assert_escaped("an unknown status", &odd.text, "<script>");

    // A status change: shown, stored, audited, queued for the edge.
    let band = "PAGE0042";
    let (queued, _) = outbox(db, band).await;
    let to = redirect(
        &alice
            .send_form(
                &format!("/bands/{band}"),
                &[("status", "disabled"), ("override_url", ""), ("label", "row 42")],
            )
            .await,
        "status change",
    );
    assert_eq!(to, format!("/events/{}/bands?q={band}&notice=band-saved", w.event_a));
    let html = page(&alice, &to).await;
    assert!(notice(&html).is_some_and(|n| n.contains("Band saved")));
    assert!(row_of(&html, &format!("<code>{band}</code>")).contains("badge disabled"), "{}", main_of(&html));
    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM bands WHERE band_id = $1")
            .bind(band)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    assert_eq!(status().await, "disabled");
    assert_eq!(audited(db, "band.updated", band).await, 1);
    let (n, op) = outbox(db, band).await;
    assert_eq!(n, queued + 1, "queued for the edge");
    assert!(op.contains("\"disabled\""), "the queued record: {op}");

    // A valid override: stored normalised, shown, queued.
    let url = "https://Example.org/vip-lounge";
    let to = redirect(
        &alice
            .send_form(
                &format!("/bands/{band}"),
                &[("status", "disabled"), ("override_url", url), ("label", "row 42")],
            )
            .await,
        "override",
    );
    let html = page(&alice, &to).await;
    assert!(row_of(&html, &format!("<code>{band}</code>")).contains("https://example.org/vip-lounge"));
    let stored: Option<String> = sqlx::query_scalar("SELECT override_url FROM bands WHERE band_id = $1")
        .bind(band)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("https://example.org/vip-lounge"));
    let (n, op) = outbox(db, band).await;
    assert_eq!(n, queued + 2);
    assert!(op.contains("https://example.org/vip-lounge"), "the edge gets the override: {op}");

    // Invalid overrides: a message naming the problem, nothing stored or queued.
    let before = (snapshot(db).await, outbox(db, band).await);
    for bad in [
        "javascript:alert(1)",
        "http://example.org/plain",
        "https://user:pw@example.org/",
        "not a url",
        "https://exa mple.org",
        "https://example.org/\u{0}",
    ] {
        let a = alice
            .send_form(
                &format!("/bands/{band}"),
                &[("status", "active"), ("override_url", bad), ("label", "changed")],
            )
            .await;
        let html = refused(&a, bad);
        let error = alert(&html).unwrap_or_else(|| panic!("{bad}: a message"));
        assert!(error.contains(band) && error.contains("override url"), "{bad}: {error}");
        assert_escaped(bad, &html, bad);
        assert!(!html.contains("href=\"javascript:"), "{bad}: no live javascript: link");
    }
    assert_eq!((snapshot(db).await, outbox(db, band).await), before, "nothing stored, nothing queued");
    assert_eq!(status().await, "disabled");

    // Another organisation's band: not found, unchanged.
    let bob = env.customer_b().await;
    let a = bob
        .send_form(&format!("/bands/{band}"), &[("status", "lost"), ("override_url", ""), ("label", "")])
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(status().await, "disabled");
}

// ---------------------------------------------------------------------------
// 7. Events
// ---------------------------------------------------------------------------

#[tokio::test]
async fn events_list_and_event_page_show_taps_badges_counts_and_refuse_bad_edits() {
    let env = Env::start().await;
    let w = env.world.clone();
    let db = &env.db;
    let admin = env.admin().await;
    let alice = env.customer_a().await;

    // Taps today (people only), yesterday's and bots' not.
    let now = Utc::now();
    let midnight = now.date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let today = |s: i64| (now - chrono::Duration::seconds(s)).max(midnight);
    for (i, band) in ["T1", "T2", "T3"].iter().enumerate() {
        tap(db, w.event_a, band, today(i as i64 * 20), "human", "ios").await;
    }
    tap(db, w.event_a, "T4", today(5), "bot", "other").await;
    tap(db, w.event_a, "T5", midnight - chrono::Duration::minutes(5), "human", "ios").await;
    tap(db, w.event_b, "T6", today(1), "human", "ios").await;

    // No pusher runs here: every world change is still queued, so both events are propagating.
    let html = page(&admin, "/events").await;
    for (event, taps) in [(w.event_a, "3"), (w.event_b, "1")] {
        let row = row_of(&html, &format!("href=\"/events/{event}\""));
        let cells = body_rows(row_wrapped(row).as_str(), "<table");
        assert_eq!(cells[0][2], taps, "taps today of {event}: {row}");
        assert!(row.contains("Propagating to the edge"), "{row}");
    }
    // Once the edge has event A's changes, A is live and B still propagating.
    sqlx::query("UPDATE kv_outbox SET done_at = now() WHERE event_id = $1")
        .bind(w.event_a)
        .execute(&db.pool)
        .await
        .unwrap();
    let html = page(&alice, "/events").await;
    assert!(
        !html.contains(&format!("href=\"/events/{}\"", w.event_b)),
        "A CUSTOMER sees their own events only"
    );
    let row = row_of(&html, &format!("href=\"/events/{}\"", w.event_a));
    assert!(row.contains("Live at the edge") && !row.contains("Propagating"), "{row}");
    let sync = alice.get(&format!("/events/{}/sync", w.event_a)).await;
    assert_eq!(sync.json["synced"], true);
    let html = page(&admin, "/events").await;
    assert!(row_of(&html, &format!("href=\"/events/{}\"", w.event_b)).contains("Propagating"));

    // The event page: band counts by status.
    let bands: Vec<(String, String, BandStatus)> = [
        ("CNT0001", BandStatus::Active),
        ("CNT0002", BandStatus::Active),
        ("CNT0003", BandStatus::Disabled),
        ("CNT0004", BandStatus::Disabled),
        ("CNT0005", BandStatus::Lost),
    ]
    .iter()
    .map(|(id, s)| (id.to_string(), String::new(), *s))
    .collect();
    import(&env, w.event_a, &bands).await;
    let event = format!("/events/{}", w.event_a);
    let html = page(&alice, &event).await;
    let marker = "id=\"bands-h\">";
    let counts = text_of(&html[html.find(marker).expect("bands card") + marker.len()..]);
    assert!(counts.starts_with("Bands 6 3 active · 2 disabled · 1 lost"), "{counts}");
    assert!(html.contains("Propagating to the edge"), "the import is queued: the page says so");

    // Bad edits: a message, the typed value kept, nothing stored or queued.
    let good = |field: &'static str, value: &'static str| {
        let mut f = vec![
            ("name", "Fest"),
            ("default_url", "https://example.com/fest"),
            ("fallback_url", ""),
            ("status", "active"),
            ("timezone", "UTC"),
        ];
        for pair in f.iter_mut() {
            if pair.0 == field {
                pair.1 = value;
            }
        }
        f
    };
    let before = snapshot(db).await;
    let outbox_before = count(db, "SELECT count(*) FROM kv_outbox WHERE $1 <> ''", "x").await;
    for (field, value, expect) in [
        ("default_url", "http://example.com/fest", "default url"),
        ("default_url", "javascript:alert(1)", "default url"),
        ("fallback_url", "ftp://example.com/", "fallback url"),
        ("name", "", "name"),
        ("name", "x\u{0}y", "name"),
        ("timezone", "Mars/Olympus Mons", "timezone"),
        ("status", "paused", "status"),
    ] {
        let html = refused(&alice.send_form(&event, &good(field, value)).await, &format!("{field}={value}"));
        let error = alert(&html).unwrap_or_else(|| panic!("{field}: a message: {}", main_of(&html)));
        assert!(error.contains(expect), "{field}={value}: {error}");
        if !value.is_empty() && field != "status" {
            assert!(
                html.contains(&format!("value=\"{value}\"")),
                "{field}: the typed value stays in the form"
            );
        }
        assert!(!html.contains("href=\"javascript:"), "no live javascript: link");
    }
    // A window that ends before it starts.
    let html = refused(
        &alice
            .send_form(
                &format!("{event}/windows"),
                &[
                    ("label", "late"),
                    ("url", "https://example.com/late"),
                    ("starts_at", "2027-01-02T10:00"),
                    ("ends_at", "2027-01-02T09:00"),
                ],
            )
            .await,
        "a window ending before it starts",
    );
    assert!(alert(&html).is_some_and(|e| e.contains("must be after")), "{}", main_of(&html));
    let html = refused(
        &alice
            .send_form(
                &format!("{event}/windows"),
                &[
                    ("label", "bad"),
                    ("url", "https://example.com/x"),
                    ("starts_at", "tomorrow"),
                    ("ends_at", "2027-01-02T09:00"),
                ],
            )
            .await,
        "a window with a garbled start",
    );
    assert!(alert(&html).is_some(), "{}", main_of(&html));
    assert_eq!(snapshot(db).await, before, "no bad edit was stored");
    assert_eq!(
        count(db, "SELECT count(*) FROM kv_outbox WHERE $1 <> ''", "x").await,
        outbox_before,
        "or queued"
    );

    // A good edit is stored, queued, and the badge says so.
    sqlx::query("UPDATE kv_outbox SET done_at = now()").execute(&db.pool).await.unwrap();
    assert!(page(&alice, &event).await.contains("Live at the edge"));
    let to = redirect(
        &alice.send_form(&event, &good("default_url", "https://example.com/new")).await,
        "a good edit",
    );
    assert_eq!(to, format!("{event}?notice=event-saved"));
    let html = page(&alice, &to).await;
    assert!(html.contains("Propagating to the edge"), "{}", main_of(&html));
    let stored: Option<String> = sqlx::query_scalar("SELECT default_url FROM events WHERE id = $1")
        .bind(w.event_a)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("https://example.com/new"));
    // Another organisation cannot edit it.
    let bob = env.customer_b().await;
    assert_eq!(bob.send_form(&event, &good("name", "Mine now")).await.status, 404);
}

/// A lone row wrapped as a table body, for [`body_rows`].
fn row_wrapped(row: &str) -> String {
    format!("<table><tbody>{row}</tbody></table>")
}

/// The stored password hash of user `id`.
async fn password_hash(db: &TestDb, id: Uuid) -> String {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}
