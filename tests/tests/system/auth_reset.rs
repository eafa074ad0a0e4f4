//! Password reset by mailed link (through a real SMTP server on loopback)
//! and password change while signed in.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use origin_api::clock::ManualClock;
use origin_api::domain::actor::{Actor, Role};
use origin_api::domain::orgs::NewOrg;
use origin_api::domain::users::NewUser;
use serde_json::{Value, json};
use system_tests::api::{Answer, ApiClient, set_cookie};
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::smtp::{Mail, SmtpServer};
use uuid::Uuid;

/// Every user's starting password.
const OLD: &str = "lantern quiver basalt meadow";
/// A strong replacement.
const NEW: &str = "copper violin glacier tundra";
/// Another strong replacement.
const NEWER: &str = "saffron kettle harbour zephyr";
const EMAIL: &str = "pat.doe@example.com";
const RESET: &str = "/api/v1/auth/password-reset";
const COMPLETE: &str = "/api/v1/auth/password-reset/complete";

/// An origin mailing through a test SMTP server, with a frozen clock and one user.
struct Env {
    db: TestDb,
    smtp: SmtpServer,
    clock: Arc<ManualClock>,
    origin: Origin,
    user: Uuid,
}

impl Env {
    async fn new() -> Env {
        let db = TestDb::new().await;
        let smtp = SmtpServer::start().await;
        let clock = Arc::new(ManualClock::new(Utc::now().trunc_subsecs(0)));
        let options = OriginOptions { smtp_url: Some(smtp.url.clone()), ..OriginOptions::default() };
        let origin = Origin::start_with_clock(&db, options, clock.clone()).await;
        let cli = Actor::cli();
        let org = origin
            .domain()
            .create_org(&cli, NewOrg { name: "Harbour Lights".into(), slug: None })
            .await
            .expect("org")
            .id;
        let user = origin
            .domain()
            .create_user(
                &cli,
                NewUser {
                    email: EMAIL.into(),
                    name: "Pat Doe".into(),
                    role: Role::Customer,
                    org_id: Some(org),
                    password: OLD.to_string().into(),
                },
            )
            .await
            .expect("user")
            .id;
        Env { db, smtp, clock, origin, user }
    }

    fn anon(&self) -> ApiClient {
        ApiClient::new(&self.origin.url)
    }

    async fn signed_in(&self, password: &str) -> ApiClient {
        let mut c = self.anon();
        let a = c.login(EMAIL, password).await;
        assert_eq!(a.status, 200, "sign in: {:?}", a.json);
        c
    }

    async fn login_status(&self, password: &str) -> u16 {
        self.anon().login(EMAIL, password).await.status.as_u16()
    }

    async fn request_reset(&self, email: &str) -> Answer {
        self.anon().post(RESET, json!({ "email": email })).await
    }

    /// Requests a reset and returns the token from the `n`th mail to the user.
    async fn token(&self, n: usize) -> String {
        let a = self.request_reset(EMAIL).await;
        assert_eq!(a.status, 202, "{:?}", a.json);
        token_in(&self.smtp.wait_for(EMAIL, n).await, &self.origin.url)
    }

    async fn complete(&self, token: &str, password: &str) -> Answer {
        self.anon().post(COMPLETE, json!({ "token": token, "password": password })).await
    }

    async fn audit_count(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2")
            .bind(action)
            .bind(self.user.to_string())
            .fetch_one(&self.db.pool)
            .await
            .expect("audit count")
    }

    /// Waits until the background reset work has written `n` rows of `action`.
    async fn wait_audit(&self, action: &str, n: i64) {
        system_tests::eventually(&format!("{n} × {action}"), Duration::from_secs(15), || async {
            (self.audit_count(action).await >= n).then_some(())
        })
        .await;
    }
}

/// The token of the reset link in `mail`, checking the link points at PUBLIC_URL.
fn token_in(mail: &Mail, base: &str) -> String {
    let text = mail.text();
    let prefix = format!("{base}/reset-password?token=");
    let at = text.find(&prefix).unwrap_or_else(|| panic!("no {prefix}… link in:\n{text}"));
    let token: String = text[at + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "256 bits, URL-safe base64: {token}");
    token
}

fn assert_invalid_token(a: &Answer, what: &str) {
    assert_eq!(a.status, 400, "{what}: {:?}", a.json);
    assert_eq!(a.code(), "invalid_token", "{what}");
}

/// Known, unknown and deactivated addresses get the same 202 answer; only the known one gets mail.
#[tokio::test]
async fn reset_requests_answer_alike_and_only_known_accounts_get_mail() {
    let env = Env::new().await;
    let gone = env
        .origin
        .domain()
        .create_user(
            &Actor::cli(),
            NewUser {
                email: "gone@example.com".into(),
                name: "Gone Person".into(),
                role: Role::Admin,
                org_id: None,
                password: OLD.to_string().into(),
            },
        )
        .await
        .expect("user")
        .id;
    env.origin.domain().set_user_active(&Actor::cli(), gone, false).await.expect("deactivate");

    let unknown = env.request_reset("nobody@example.com").await;
    let deactivated = env.request_reset("gone@example.com").await;
    let known = env.request_reset(EMAIL).await;
    assert_eq!(known.status, 202, "{:?}", known.json);
    for (what, a) in [("unknown", &unknown), ("deactivated", &deactivated)] {
        assert_eq!(a.status, known.status, "{what}");
        assert_eq!(a.json, known.json, "{what}");
        assert_eq!(a.headers.get("content-length"), known.headers.get("content-length"), "{what}");
    }
    let mail = env.smtp.wait_for(EMAIL, 1).await;
    token_in(&mail, &env.origin.url);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(env.smtp.mails_to("nobody@example.com").is_empty(), "no mail for an unknown address");
    assert!(env.smtp.mails_to("gone@example.com").is_empty(), "no mail for a deactivated account");
    assert_eq!(env.smtp.mails().len(), 1);
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM password_resets").fetch_one(&env.db.pool).await.expect("n");
    assert_eq!(rows, 1, "a token only for the known account");
}

/// The mailed token sets a new password once; a second use (or a made-up token) is 400 invalid_token.
#[tokio::test]
async fn a_mailed_token_works_once() {
    let env = Env::new().await;
    let token = env.token(1).await;
    let done = env.complete(&token, NEW).await;
    assert_eq!(done.status, 204, "{:?}", done.json);
    assert_eq!(env.login_status(NEW).await, 200, "the new password signs in");
    assert_eq!(env.login_status(OLD).await, 401, "the old one no longer does");
    assert_invalid_token(&env.complete(&token, NEWER).await, "second use");
    assert_eq!(env.login_status(NEW).await, 200, "the second use changed nothing");
    assert_invalid_token(&env.complete(&"A".repeat(43), NEWER).await, "made-up token");
    assert_invalid_token(&env.complete("", NEWER).await, "empty token");
    assert_eq!(env.audit_count("auth.reset_requested").await, 1);
    assert_eq!(env.audit_count("auth.reset_completed").await, 1);
}

/// A newer reset request voids the older token.
#[tokio::test]
async fn a_newer_request_voids_the_older_token() {
    let env = Env::new().await;
    let first = env.token(1).await;
    let second = env.token(2).await;
    assert_ne!(first, second);
    assert_invalid_token(&env.complete(&first, NEW).await, "older token");
    assert_eq!(env.login_status(OLD).await, 200, "the older token changed nothing");
    assert_eq!(env.complete(&second, NEW).await.status, 204, "the newer token works");
}

/// At most 3 reset mails per account per hour; the 4th request still answers 202 but sends nothing.
#[tokio::test]
async fn at_most_three_reset_mails_per_account_per_hour() {
    let env = Env::new().await;
    let mut answers = Vec::new();
    for n in 1..=3 {
        answers.push(env.request_reset(EMAIL).await);
        env.smtp.wait_for(EMAIL, n).await;
    }
    env.clock.advance(chrono::Duration::minutes(59));
    answers.push(env.request_reset(EMAIL).await);
    env.wait_audit("auth.reset_throttled", 1).await;
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.status, 202, "request {}", i + 1);
        assert_eq!(a.json, answers[0].json, "request {}: same answer", i + 1);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.smtp.mails_to(EMAIL).len(), 3, "the 4th request within the hour sends nothing");
    assert_eq!(env.audit_count("auth.reset_requested").await, 3);

    env.clock.advance(chrono::Duration::minutes(2));
    env.request_reset(EMAIL).await;
    let mail = env.smtp.wait_for(EMAIL, 4).await;
    let token = token_in(&mail, &env.origin.url);
    assert_eq!(env.complete(&token, NEW).await.status, 204, "once the hour has passed a new link comes");
}

/// A token expires 30 minutes after it was issued.
#[tokio::test]
async fn tokens_expire_after_thirty_minutes() {
    let env = Env::new().await;
    let stale = env.token(1).await;
    env.clock.advance(chrono::Duration::minutes(30) + chrono::Duration::seconds(1));
    assert_invalid_token(&env.complete(&stale, NEW).await, "30:01 after issue");
    assert_eq!(env.login_status(OLD).await, 200);

    let fresh = env.token(2).await;
    env.clock.advance(chrono::Duration::minutes(29) + chrono::Duration::seconds(59));
    assert_eq!(env.complete(&fresh, NEW).await.status, 204, "29:59 after issue it still works");
}

/// A password change (POST /api/v1/me/password) voids an outstanding reset token.
#[tokio::test]
async fn a_password_change_voids_an_outstanding_token() {
    let env = Env::new().await;
    let token = env.token(1).await;
    let me = env.signed_in(OLD).await;
    let changed =
        me.post("/api/v1/me/password", json!({ "current_password": OLD, "new_password": NEW })).await;
    assert_eq!(changed.status, 200, "{:?}", changed.json);
    assert_invalid_token(&env.complete(&token, NEWER).await, "token issued before the change");
    assert_eq!(env.login_status(NEW).await, 200, "the changed password stands");
}

/// Completing a reset ends every existing session of the user; the new password signs in.
#[tokio::test]
async fn completing_a_reset_ends_every_session() {
    let env = Env::new().await;
    let laptop = env.signed_in(OLD).await;
    let phone = env.signed_in(OLD).await;
    for c in [&laptop, &phone] {
        assert_eq!(c.get("/api/v1/me").await.status, 200);
    }
    let token = env.token(1).await;
    assert_eq!(env.complete(&token, NEW).await.status, 204);
    for (what, c) in [("laptop", &laptop), ("phone", &phone)] {
        assert_eq!(c.get("/api/v1/me").await.status, 401, "{what}'s old cookie");
    }
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(env.user)
            .fetch_one(&env.db.pool)
            .await
            .expect("sessions");
    assert_eq!(live, 0);
    assert_eq!(env.login_status(OLD).await, 401);
    let fresh = env.signed_in(NEW).await;
    assert_eq!(fresh.get("/api/v1/me").await.status, 200);
}

/// A weak or personal new password is 422 weak_password with a reason, and the token stays usable.
#[tokio::test]
async fn a_weak_reset_password_is_refused_and_the_token_stays_usable() {
    let env = Env::new().await;
    let token = env.token(1).await;
    for (pw, reason) in [
        ("password1234", "too common"),
        ("short", "at least 12"),
        ("pat.doe volcano 17", "email, name or organisation"),
        ("harbour lights 2027!", "email, name or organisation"),
    ] {
        let a = env.complete(&token, pw).await;
        assert_eq!(a.status, 422, "{pw}: {:?}", a.json);
        assert_eq!(a.code(), "weak_password", "{pw}");
        let message = a.json["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(reason), "{pw}: expected a reason mentioning {reason:?}, got {message:?}");
    }
    assert_eq!(env.login_status(OLD).await, 200, "refused attempts changed nothing");
    assert_eq!(env.complete(&token, NEW).await.status, 204, "the token is still good");
    assert_eq!(env.login_status(NEW).await, 200);
}

/// The database holds only the SHA-256 of a reset token, never the token itself.
#[tokio::test]
async fn only_the_sha256_of_a_token_is_stored() {
    let env = Env::new().await;
    let token = env.token(1).await;
    let by_hash: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM password_resets WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
    )
    .bind(&token)
    .fetch_one(&env.db.pool)
    .await
    .expect("by hash");
    assert_eq!(by_hash, 1, "the row is keyed by SHA-256(token)");
    for table in ["password_resets", "audit_log", "users", "sessions"] {
        let leaks: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} t WHERE strpos(row_to_json(t)::text, $1) > 0"
        )))
        .bind(&token)
        .fetch_one(&env.db.pool)
        .await
        .expect("scan");
        assert_eq!(leaks, 0, "the token appears in {table}");
    }
}

/// Changing the password needs the right current one (422 wrong_password otherwise).
#[tokio::test]
async fn a_password_change_needs_the_current_password() {
    let env = Env::new().await;
    let me = env.signed_in(OLD).await;
    let a = me.post("/api/v1/me/password", json!({ "current_password": NEWER, "new_password": NEW })).await;
    assert_eq!(a.status, 422, "{:?}", a.json);
    assert_eq!(a.code(), "wrong_password");
    assert_eq!(me.get("/api/v1/me").await.status, 200, "the session survives");
    assert_eq!(env.login_status(NEW).await, 401);
    assert_eq!(env.login_status(OLD).await, 200, "the password is unchanged");
}

/// A weak or personal new password is refused at change with 422 and a reason.
#[tokio::test]
async fn a_weak_or_personal_new_password_is_refused_at_change() {
    let env = Env::new().await;
    let me = env.signed_in(OLD).await;
    for (pw, reason) in [
        ("password1234", "too common"),
        ("tiny", "at least 12"),
        ("PatDoe-forever-88", "email, name or organisation"),
        (&"k".repeat(129), "at most 128"),
    ] {
        let a = me.post("/api/v1/me/password", json!({ "current_password": OLD, "new_password": pw })).await;
        assert_eq!(a.status, 422, "{pw}: {:?}", a.json);
        assert_eq!(a.code(), "weak_password", "{pw}");
        let message = a.json["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(reason), "{pw}: expected a reason mentioning {reason:?}, got {message:?}");
    }
    assert_eq!(me.get("/api/v1/me").await.status, 200, "the session survives");
    assert_eq!(env.login_status(OLD).await, 200, "the password is unchanged");
}

/// A password change moves this session to a new id and cookie, and ends the user's other sessions.
#[tokio::test]
async fn a_password_change_renews_this_session_and_ends_the_others() {
    let env = Env::new().await;
    let mut me = env.signed_in(OLD).await;
    let other = env.signed_in(OLD).await;
    let before = me.get("/api/v1/me").await;
    let old_sid = before.json["session"]["id"].clone();
    assert!(old_sid.is_string(), "{:?}", before.json);
    let old_me = me.clone();

    let a = me.post("/api/v1/me/password", json!({ "current_password": OLD, "new_password": NEW })).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let cookie = set_cookie(&a.headers).expect("a new session cookie");
    assert_ne!(Some(&cookie), old_me.cookie.as_ref(), "a new cookie");
    me.adopt(&a);
    let after = me.get("/api/v1/me").await;
    assert_eq!(after.status, 200, "the new cookie works: {:?}", after.json);
    assert_ne!(after.json["session"]["id"], old_sid, "a new session id");
    assert_ne!(after.json["session"]["id"], Value::Null);
    assert_eq!(old_me.get("/api/v1/me").await.status, 401, "the previous session of this browser ended");
    assert_eq!(other.get("/api/v1/me").await.status, 401, "the other session ended");
    assert_eq!(env.login_status(OLD).await, 401);
    assert_eq!(env.login_status(NEW).await, 200);
    assert!(env.audit_count("auth.password_changed").await >= 1);
}

/// The user's stored password hash, failure count and session count.
async fn account_state(env: &Env) -> (String, i32, i64) {
    sqlx::query_as(
        "SELECT password_hash, failed_logins, (SELECT count(*) FROM sessions WHERE user_id = $1)
         FROM users WHERE id = $1",
    )
    .bind(env.user)
    .fetch_one(&env.db.pool)
    .await
    .expect("account state")
}

/// Whether the password policy cannot accept `p` whatever its content (too short or too long).
fn out_of_bounds(p: &str) -> bool {
    !(12..=128).contains(&p.chars().count())
}

/// Injection, XSS, oversize, NUL and odd Unicode in the reset request's email, the reset
/// token, the new password, and both password-change fields: never a 5xx, never echoed.
/// A hostile email gets the one 202 answer, the work behind it fails for none, and no
/// token, mail or audit row comes of it; a hostile (or suffixed) token is 400
/// invalid_token; a wrong current password is 422 and counts once towards the lockout; a
/// new password the policy refuses is 422 weak_password; nothing changes but what an
/// accepted password changes (and that one then signs in verbatim).
#[tokio::test]
async fn hostile_strings_in_reset_and_password_change_fields_are_refused_cleanly() {
    use crate::auth_support::{
        assert_hostile_refused, assert_not_echoed, hostile_inputs, send_json, truncated,
    };
    use reqwest::Method;
    let env = Env::new().await;
    let hostile = hostile_inputs();

    // 1. Reset requests: the same 202 as any address; only the control (last) gets a token.
    let mut answers = Vec::new();
    for (name, p) in &hostile {
        for email in [p.clone(), format!("{EMAIL}{p}")] {
            let a = env.request_reset(&email).await;
            assert_not_echoed(&format!("reset request {name}"), &a.text, p);
            answers.push((name.clone(), a));
        }
    }
    // The work after the answer (run here directly, as the handler spawns it) fails for none.
    let client = origin_api::auth::client::Client {
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        ip_hash: "test".into(),
        user_agent: "other/bot".into(),
    };
    for (name, p) in &hostile {
        let issued = origin_api::auth::reset::issue(&env.origin.running.state, p, &client, None).await;
        assert!(issued.is_ok(), "the reset work for {name}: {issued:?}");
    }
    let control = env.request_reset(EMAIL).await;
    for (name, a) in &answers {
        assert_eq!(a.status, 202, "reset request {name}: {}", truncated(&a.text));
        assert_eq!(a.json, control.json, "reset request {name}: the one answer");
    }
    let mut token = token_in(&env.smtp.wait_for(EMAIL, 1).await, &env.origin.url);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.smtp.mails().len(), 1, "mail only for the control request");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM password_resets").fetch_one(&env.db.pool).await.expect("n");
    assert_eq!(rows, 1, "a token only for the control request");
    assert_eq!(env.audit_count("auth.reset_requested").await, 1);

    // 2. Hostile tokens, alone or after the real one.
    let before = account_state(&env).await;
    for (name, p) in &hostile {
        for (what, t) in
            [(format!("token {name}"), p.clone()), (format!("real token + {name}"), format!("{token}{p}"))]
        {
            let r =
                send_json(&env.anon(), Method::POST, COMPLETE, &json!({ "token": t, "password": NEW })).await;
            assert_hostile_refused(&what, &r, p);
            assert_eq!((r.status, r.code()), (400, "invalid_token"), "{what}");
        }
    }
    assert_eq!(account_state(&env).await, before, "no hostile token changed the password");

    // 3. Hostile new passwords with a good token (a fresh one each time).
    let mut current = OLD.to_string();
    let mut mails = 1;
    for (name, p) in &hostile {
        let what = format!("reset to {name}");
        let before = account_state(&env).await;
        let r =
            send_json(&env.anon(), Method::POST, COMPLETE, &json!({ "token": token, "password": p })).await;
        if r.status == 204 {
            assert!(!out_of_bounds(p), "{what}: the policy must refuse it");
            assert_eq!(env.login_status(p).await, 200, "{what}: the accepted password signs in verbatim");
            assert_eq!(env.login_status(&current).await, 401, "{what}");
            current = p.clone();
        } else {
            assert_hostile_refused(&what, &r, p);
            assert_eq!((r.status, r.code()), (422, "weak_password"), "{what}: {}", truncated(&r.text));
            assert_eq!(account_state(&env).await, before, "{what}: nothing changed");
        }
        // A new token for the next round (past the hourly allowance and the per-IP quota).
        env.clock.advance(chrono::Duration::minutes(61));
        mails += 1;
        token = env.token(mails).await;
    }

    // 4. Password change, signed in.
    let mut me = env.signed_in(&current).await;
    for (name, p) in hostile.iter().filter(|(_, p)| *p != current) {
        let what = format!("current password {name}");
        let before = account_state(&env).await;
        let body = json!({ "current_password": p, "new_password": NEW });
        let r = send_json(&me, Method::POST, "/api/v1/me/password", &body).await;
        assert_hostile_refused(&what, &r, p);
        assert_eq!((r.status, r.code()), (422, "wrong_password"), "{what}: {}", truncated(&r.text));
        let after = account_state(&env).await;
        assert_eq!(after.1, before.1 + 1, "{what}: counted once, like any wrong password");
        assert_eq!((&after.0, after.2), (&before.0, before.2), "{what}: no password or session change");
        sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
            .bind(env.user)
            .execute(&env.db.pool)
            .await
            .expect("reset count");
        assert_eq!(me.get("/api/v1/me").await.status, 200, "{what}: the session survives");
    }
    for (name, p) in &hostile {
        let what = format!("new password {name}");
        let before = account_state(&env).await;
        let body = json!({ "current_password": current, "new_password": p });
        let r = send_json(&me, Method::POST, "/api/v1/me/password", &body).await;
        if r.status == 200 {
            assert!(!out_of_bounds(p), "{what}: the policy must refuse it");
            me.cookie = set_cookie(&r.headers);
            me.csrf = r.json["csrf_token"].as_str().map(str::to_string);
            assert_eq!(me.get("/api/v1/me").await.status, 200, "{what}: the renewed session");
            assert_eq!(env.login_status(p).await, 200, "{what}: the accepted password signs in verbatim");
            current = p.clone();
        } else {
            assert_hostile_refused(&what, &r, p);
            assert_eq!((r.status, r.code()), (422, "weak_password"), "{what}: {}", truncated(&r.text));
            assert_eq!(account_state(&env).await, before, "{what}: nothing changed, nothing counted");
        }
    }
    assert_eq!(env.login_status(&current).await, 200, "the last accepted password stands");
}
