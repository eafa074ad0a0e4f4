//! Second factor: TOTP per RFC 6238 (checked against an independent
//! implementation), replay protection, recovery codes, enforcement for
//! ADMINs and organisations, step-up, resets, encryption at rest.

use std::sync::Arc;

use crate::auth_support::{
    all_tables, assert_audit_row, assert_hostile_refused, assert_not_echoed, audit_rows, hostile_inputs,
    request_id_of, send_json, tables_containing, the_audit_row, truncated,
};
use chrono::{Duration, TimeZone, Utc};
use origin_api::clock::{Clock, ManualClock};
use origin_api::domain::actor::{Actor, Role};
use origin_api::domain::users::NewUser;
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::api::{ApiClient, set_cookie};
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::smtp::SmtpServer;
use system_tests::totp::code_at;
use system_tests::world::{self, PASSWORD, World};
use system_tests::{keys, unix_now};

/// A world on a manual clock aligned to the start of a 30-second step.
async fn setup(options: OriginOptions) -> (TestDb, Origin, World, Arc<ManualClock>) {
    let db = TestDb::new().await;
    let start = Utc.timestamp_opt(unix_now() / 30 * 30, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let origin = Origin::start_with_clock(&db, options, clock.clone() as Arc<dyn Clock>).await;
    let w = world::build(origin.domain()).await;
    (db, origin, w, clock)
}

fn now(clock: &ManualClock) -> i64 {
    clock.now().timestamp()
}

/// Signs in customer A (no MFA yet) and enrols at the clock's current step.
async fn enrolled_customer(
    origin: &Origin,
    w: &World,
    clock: &ManualClock,
) -> (ApiClient, Vec<u8>, Vec<String>) {
    let mut c = ApiClient::new(&origin.url);
    assert_eq!(c.login(&w.customer_a.1, PASSWORD).await.status, 200);
    let (secret, codes) = c.enrol_mfa(now(clock)).await;
    (c, secret, codes)
}

#[tokio::test]
async fn enrolment_needs_a_valid_code_and_stores_the_secret_encrypted() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let mut c = ApiClient::new(&origin.url);
    c.login(&w.customer_a.1, PASSWORD).await;
    let enrol = c.post("/api/v1/me/mfa/enrol", Value::Null).await;
    assert_eq!(enrol.status, 200);
    let b32 = enrol.json["secret_base32"].as_str().unwrap().to_string();
    let uri = enrol.json["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/SparkMotion:") && uri.contains(&format!("secret={b32}")),
        "{uri}"
    );
    assert!(
        enrol.json["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || enrol.json["qr_svg"].as_str().unwrap().contains("<svg")
    );
    let secret = system_tests::totp::base32_decode(&b32);
    assert_eq!(secret.len(), 20, "160-bit secret");

    let wrong =
        c.post("/api/v1/me/mfa/confirm", json!({ "code": code_at(&secret, now(&clock) + 120) })).await;
    assert_eq!((wrong.status.as_u16(), wrong.code()), (422, "invalid_code"));
    assert_eq!(c.get("/api/v1/me/mfa").await.json["enrolled"], false);
    let ok = c.post("/api/v1/me/mfa/confirm", json!({ "code": code_at(&secret, now(&clock)) })).await;
    assert_eq!(ok.status, 200);
    let codes = ok.json["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);

    // At rest: neither the raw secret nor its base32 form appears anywhere in the row.
    let row: String =
        sqlx::query_scalar("SELECT row_to_json(t)::text FROM mfa_totp t").fetch_one(&db.pool).await.unwrap();
    assert!(!row.contains(&b32) && !row.contains(&hex::encode(&secret)), "{row}");
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT secret_encrypted FROM mfa_totp").fetch_one(&db.pool).await.unwrap();
    assert!(!stored.windows(secret.len()).any(|w| w == secret.as_slice()));
    let code_hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT code_hash FROM mfa_recovery_codes").fetch_all(&db.pool).await.unwrap();
    assert_eq!(code_hashes.len(), 10);
    let dump: String =
        sqlx::query_scalar("SELECT string_agg(encode(code_hash, 'escape'), '') FROM mfa_recovery_codes")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!dump.contains(codes[0].as_str().unwrap()), "recovery codes are stored hashed");
}

#[tokio::test]
async fn sign_in_needs_the_second_factor_and_the_pending_state_grants_nothing() {
    let (_db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (_, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    clock.advance(Duration::seconds(30));

    let mut c = ApiClient::new(&origin.url);
    let first = c.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(first.json["stage"], "mfa_pending");
    let pending_cookie = c.cookie.clone();
    for path in ["/api/v1/me", "/api/v1/events", "/api/v1/sessions", "/api/v1/audit"] {
        assert_eq!(c.get(path).await.status, 401, "pending session reached {path}");
    }
    assert_eq!(
        c.post("/api/v1/auth/step-up", json!({ "code": code_at(&secret, now(&clock)) })).await.status,
        401
    );

    let full = c.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, now(&clock)) })).await;
    assert_eq!(full.status, 200, "{:?}", full.json);
    c.adopt(&full);
    assert_ne!(c.cookie, pending_cookie, "a new session after the second factor");
    assert_eq!(c.get("/api/v1/events").await.status, 200);
    let mut stale = ApiClient::new(&origin.url);
    stale.cookie = pending_cookie;
    assert_eq!(stale.get("/api/v1/me").await.status, 401, "the pending session is over");
}

#[tokio::test]
async fn drift_of_one_step_is_accepted_two_are_not_and_no_code_works_twice() {
    let (_db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (_, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    let attempt = |offset: i64| {
        let origin = &origin;
        let w = &w;
        let secret = secret.clone();
        let t = now(&clock);
        async move {
            let mut c = ApiClient::new(&origin.url);
            c.login(&w.customer_a.1, PASSWORD).await;
            c.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, t + offset) })).await.status.as_u16()
        }
    };
    // Each accepted step must be later than the last one used, so move the clock on between tries.
    clock.advance(Duration::seconds(120));
    assert_eq!(attempt(-60).await, 422, "two steps behind");
    assert_eq!(attempt(60).await, 422, "two steps ahead");
    assert_eq!(attempt(-30).await, 200, "one step behind");
    assert_eq!(attempt(-30).await, 422, "the same code again");
    assert_eq!(attempt(-60).await, 422, "an older step");
    assert_eq!(attempt(0).await, 200, "the current step");
    assert_eq!(attempt(0).await, 422, "replayed");
    assert_eq!(attempt(30).await, 200, "one step ahead");
    clock.advance(Duration::seconds(30));
    assert_eq!(attempt(0).await, 422, "the step just used, now current");
}

#[tokio::test]
async fn recovery_codes_work_once_are_audited_and_mailed() {
    let smtp = SmtpServer::start().await;
    let (db, origin, w, clock) =
        setup(OriginOptions { smtp_url: Some(smtp.url.clone()), ..OriginOptions::default() }).await;
    let (_, _, codes) = enrolled_customer(&origin, &w, &clock).await;
    let code = codes[3].to_lowercase().replace('-', " ");
    let mut c = ApiClient::new(&origin.url);
    c.login(&w.customer_a.1, PASSWORD).await;
    let ok = c.post("/api/v1/auth/mfa", json!({ "recovery_code": code })).await;
    assert_eq!(ok.status, 200, "recovery codes tolerate case and spacing");
    let mut again = ApiClient::new(&origin.url);
    again.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(
        again.post("/api/v1/auth/mfa", json!({ "recovery_code": codes[3] })).await.status,
        422,
        "single use"
    );
    let used: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'mfa.recovery_code_used'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(used, 1);
    let mail = smtp.wait_for(&w.customer_a.1, 1).await;
    assert!(mail.text().contains("recovery code was just used"), "{}", mail.text());
    assert!(mail.text().contains("9 left"));
}

#[tokio::test]
async fn wrong_codes_count_towards_the_lockout() {
    let (_db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (_, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    clock.advance(Duration::seconds(60));
    let mut c = ApiClient::new(&origin.url);
    c.login(&w.customer_a.1, PASSWORD).await;
    for _ in 0..4 {
        assert_eq!(c.post("/api/v1/auth/mfa", json!({ "code": "000000" })).await.status, 422);
    }
    // The fifth wrong code locks the account and ends the pending session.
    assert_eq!(c.post("/api/v1/auth/mfa", json!({ "code": "000001" })).await.status, 422);
    assert_eq!(
        c.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, now(&clock)) })).await.status,
        401
    );
    let mut later = ApiClient::new(&origin.url);
    assert_eq!(later.login(&w.customer_a.1, PASSWORD).await.code(), "invalid_credentials", "locked");
    clock.advance(Duration::minutes(16));
    assert_eq!(
        later.login_mfa(&w.customer_a.1, PASSWORD, &secret, now(&clock)).await.status,
        200,
        "unlocked after 15 minutes"
    );
}

/// The account's consecutive-failure count.
async fn failures(db: &TestDb, user: uuid::Uuid) -> i32 {
    sqlx::query_scalar("SELECT failed_logins FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn signing_in_again_with_the_password_does_not_reset_the_count_of_wrong_codes() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (_, secret, codes) = enrolled_customer(&origin, &w, &clock).await;
    let id = w.customer_a.0;
    clock.advance(Duration::seconds(60));
    let mut attacker = ApiClient::new(&origin.url);
    assert_eq!(attacker.login(&w.customer_a.1, PASSWORD).await.json["stage"], "mfa_pending");
    for _ in 0..2 {
        assert_eq!(attacker.post("/api/v1/auth/mfa", json!({ "code": "000000" })).await.status, 422);
    }
    // The password again: only half the proof, so the wrong codes still count.
    assert_eq!(attacker.login(&w.customer_a.1, PASSWORD).await.json["stage"], "mfa_pending");
    assert_eq!(failures(&db, id).await, 2, "a right password alone does not clear wrong codes");
    for _ in 0..2 {
        assert_eq!(attacker.post("/api/v1/auth/mfa", json!({ "code": "000000" })).await.status, 422);
    }
    // The fifth wrong proof in a row locks the account.
    assert_eq!(attacker.post("/api/v1/auth/mfa", json!({ "code": "000001" })).await.status, 422);
    let mut owner = ApiClient::new(&origin.url);
    let refused = owner.login_mfa(&w.customer_a.1, PASSWORD, &secret, now(&clock)).await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (401, "invalid_credentials"),
        "locked: the right password and code are refused like a wrong password"
    );

    // Once the lock has passed, a right code (not the password) clears the count.
    clock.advance(Duration::minutes(16));
    let mut c = ApiClient::new(&origin.url);
    c.login(&w.customer_a.1, PASSWORD).await;
    for _ in 0..4 {
        assert_eq!(c.post("/api/v1/auth/mfa", json!({ "code": "000000" })).await.status, 422);
    }
    c.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(failures(&db, id).await, 4);
    let ok = c.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, now(&clock)) })).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    assert_eq!(failures(&db, id).await, 0, "the second factor resets the count");
    // So does a recovery code.
    let mut r = ApiClient::new(&origin.url);
    r.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(r.post("/api/v1/auth/mfa", json!({ "code": "000000" })).await.status, 422);
    assert_eq!(failures(&db, id).await, 1);
    assert_eq!(r.post("/api/v1/auth/mfa", json!({ "recovery_code": codes[0] })).await.status, 200);
    assert_eq!(failures(&db, id).await, 0, "a recovery code resets the count");
}

#[tokio::test]
async fn the_pending_state_lasts_five_minutes() {
    let (_db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (_, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    clock.advance(Duration::seconds(30));
    let mut c = ApiClient::new(&origin.url);
    c.login(&w.customer_a.1, PASSWORD).await;
    clock.advance(Duration::minutes(5) + Duration::seconds(1));
    assert_eq!(
        c.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, now(&clock)) })).await.status,
        401
    );
}

/// Every route an ADMIN could use, with concrete ids.
fn concrete(path: &str, w: &World) -> String {
    path.replace("{id}/windows/{window_id}", &format!("{}/windows/{}", w.event_a, w.window_a))
        .replace("/events/{id}", &format!("/events/{}", w.event_a))
        .replace("/orgs/{id}", &format!("/orgs/{}", w.org_a))
        .replace("/users/{id}", &format!("/users/{}", w.customer_a.0))
        .replace("/sessions/{id}", &format!("/sessions/{}", uuid::Uuid::now_v7()))
        .replace("{band_id}", &w.band_a)
}

#[tokio::test]
async fn an_admin_without_mfa_can_only_enrol() {
    let (_db, origin, w, _clock) = setup(OriginOptions::default()).await;
    let mut admin = ApiClient::new(&origin.url);
    let answer = admin.login(&w.admin.1, PASSWORD).await;
    assert_eq!(answer.json["stage"], "full");
    assert_eq!(answer.json["user"]["mfa_required"], true, "the sign-in answer says enrolment is due");
    use origin_api::http::routes::{MethodSpec, table};
    use origin_api::http::session_auth::Access;
    let mut checked = 0;
    // Signing out ends the session the loop needs; it is checked last.
    for route in table().into_iter().filter(|r| !matches!(r.path, "/api/v1/auth/logout" | "/logout")) {
        let path = concrete(route.path, &w);
        let method = route.method.method();
        let answer = admin
            .send(
                method.clone(),
                &path,
                if route.method == MethodSpec::Get { Value::Null } else { json!({}) },
            )
            .await;
        match route.access {
            Access::User | Access::Admin if path.starts_with("/api/") => {
                assert_eq!(
                    (answer.status.as_u16(), answer.code()),
                    (403, "mfa_enrolment_required"),
                    "{method} {path}"
                );
                checked += 1;
            }
            // A dashboard page sends the browser to the enrolment page instead.
            Access::User | Access::Admin => {
                assert_eq!(
                    (answer.status.as_u16(), answer.location()),
                    (303, Some("/mfa/enrol")),
                    "{method} {path}"
                );
                checked += 1;
            }
            Access::Enrolment => {
                assert_ne!(answer.code(), "mfa_enrolment_required", "{method} {path} must stay reachable");
                assert_ne!(answer.location(), Some("/mfa/enrol"), "{method} {path} must stay reachable");
            }
            Access::MfaPending | Access::Public | Access::Signed => {}
        }
    }
    assert!(checked > 20, "only {checked} routes checked");
    assert_eq!(
        admin.post("/api/v1/auth/logout", Value::Null).await.status,
        204,
        "signing out stays possible"
    );
    let mut admin = ApiClient::new(&origin.url);
    admin.login(&w.admin.1, PASSWORD).await;
    // Enrolment unlocks everything.
    let (secret, _) = admin.enrol_mfa(unix_now()).await;
    let mut fresh = ApiClient::new(&origin.url);
    assert_eq!(fresh.login_mfa(&w.admin.1, PASSWORD, &secret, unix_now() + 30).await.status, 200);
    assert_eq!(fresh.get("/api/v1/users").await.status, 200);
}

#[tokio::test]
async fn an_organisation_can_require_mfa_of_its_members() {
    let (_db, origin, w, clock) = setup(OriginOptions::default()).await;
    let mut a = ApiClient::new(&origin.url);
    a.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(
        a.patch(&format!("/api/v1/orgs/{}", w.org_a), json!({ "mfa_required": true })).await.status,
        200
    );
    assert_eq!(a.get("/api/v1/events").await.code(), "mfa_enrolment_required");
    let mut b = ApiClient::new(&origin.url);
    b.login(&w.customer_b.1, PASSWORD).await;
    assert_eq!(b.get("/api/v1/events").await.status, 200, "org B is not affected");
    assert_eq!(
        b.patch(&format!("/api/v1/orgs/{}", w.org_a), json!({ "mfa_required": false })).await.status,
        404,
        "nor can it touch org A"
    );
    let (secret, _) = a.enrol_mfa(now(&clock)).await;
    assert_eq!(a.get("/api/v1/events").await.status, 200);
    clock.advance(Duration::seconds(30));
    let disable = a
        .post(
            "/api/v1/me/mfa/disable",
            json!({ "password": PASSWORD, "code": code_at(&secret, now(&clock)) }),
        )
        .await;
    assert_eq!((disable.status.as_u16(), disable.code()), (403, "forbidden"), "the organisation requires it");
}

#[tokio::test]
async fn sensitive_actions_need_a_recent_second_factor() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (mut admin, secret) = {
        let mut admin = ApiClient::new(&origin.url);
        admin.login(&w.admin.1, PASSWORD).await;
        let (secret, _) = admin.enrol_mfa(now(&clock)).await;
        (admin, secret)
    };
    // Enrolment counts as a proof: a role change works now…
    let path = format!("/api/v1/users/{}", w.customer_b.0);
    assert_eq!(admin.patch(&path, json!({ "role": "ADMIN" })).await.status, 200);
    // …but not eleven minutes later without a new proof.
    clock.advance(Duration::minutes(11));
    let refused = admin.patch(&path, json!({ "role": "CUSTOMER", "org_id": w.org_b })).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (403, "step_up_required"));
    let deactivate = admin.post(&format!("/api/v1/users/{}/deactivate", w.customer_a.0), Value::Null).await;
    assert_eq!(deactivate.code(), "step_up_required");
    let reset = admin.post(&format!("/api/v1/users/{}/mfa/reset", w.customer_a.0), Value::Null).await;
    assert_eq!(reset.code(), "step_up_required");
    assert_eq!(admin.step_up(&secret, now(&clock)).await.status, 204);
    assert_eq!(admin.patch(&path, json!({ "role": "CUSTOMER", "org_id": w.org_b })).await.status, 200);
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(w.customer_b.0)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(role, "CUSTOMER");
    let _ = &mut admin;
}

#[tokio::test]
async fn an_admin_reset_forces_re_enrolment_and_ends_the_users_sessions() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (customer, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    let mut admin = ApiClient::new(&origin.url);
    admin.login(&w.admin.1, PASSWORD).await;
    admin.enrol_mfa(now(&clock)).await;
    assert_eq!(
        admin.post(&format!("/api/v1/users/{}/mfa/reset", w.customer_a.0), Value::Null).await.status,
        204
    );
    assert_eq!(customer.get("/api/v1/me").await.status, 401, "sessions ended");
    let mut again = ApiClient::new(&origin.url);
    let login = again.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(login.json["stage"], "full", "no second factor any more");
    assert_eq!(again.get("/api/v1/events").await.code(), "mfa_enrolment_required", "must enrol again");
    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'mfa.reset' AND target_id = $1")
            .bind(w.customer_a.0.to_string())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(audit, 1);
    let _ = secret;
}

#[tokio::test]
async fn disabling_needs_password_and_code_and_is_impossible_for_admins() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (c, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    clock.advance(Duration::seconds(30));
    let t = now(&clock);
    let wrong_pw = c
        .post(
            "/api/v1/me/mfa/disable",
            json!({ "password": "not the password!!", "code": code_at(&secret, t) }),
        )
        .await;
    assert_eq!(wrong_pw.code(), "wrong_password");
    let wrong_code =
        c.post("/api/v1/me/mfa/disable", json!({ "password": PASSWORD, "code": "123456" })).await;
    assert_eq!(wrong_code.code(), "invalid_code");
    assert_eq!(
        c.post("/api/v1/me/mfa/disable", json!({ "password": PASSWORD, "code": code_at(&secret, t) }))
            .await
            .status,
        204
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_totp").fetch_one(&db.pool).await.unwrap();
    assert_eq!(left, 0);

    let mut admin = ApiClient::new(&origin.url);
    admin.login(&w.admin.1, PASSWORD).await;
    let (admin_secret, _) = admin.enrol_mfa(t).await;
    clock.advance(Duration::seconds(30));
    let refused = admin
        .post(
            "/api/v1/me/mfa/disable",
            json!({ "password": PASSWORD, "code": code_at(&admin_secret, now(&clock)) }),
        )
        .await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn wrong_passwords_and_codes_when_disabling_count_towards_the_lockout() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (c, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    let other_device = {
        clock.advance(Duration::seconds(30));
        let mut d = ApiClient::new(&origin.url);
        assert_eq!(d.login_mfa(&w.customer_a.1, PASSWORD, &secret, now(&clock)).await.status, 200);
        d
    };
    let id = w.customer_a.0;
    let disable = |password: &'static str, code: &'static str| {
        let c = &c;
        async move {
            let a = c.post("/api/v1/me/mfa/disable", json!({ "password": password, "code": code })).await;
            (a.status.as_u16(), a.code().to_string())
        }
    };
    // A stolen session guessing the password: each wrong one counts like a failed sign-in…
    for i in 1..=2 {
        assert_eq!(disable("guess the password", "123456").await, (422, "wrong_password".into()));
        assert_eq!(failures(&db, id).await, i, "wrong password {i} counted");
    }
    // …and so do wrong codes, towards the same count.
    for i in 3..=4 {
        assert_eq!(disable(PASSWORD, "123456").await, (422, "invalid_code".into()));
        assert_eq!(failures(&db, id).await, i, "wrong code counted");
    }
    // The fifth locks the account and ends the user's sessions.
    assert_eq!(disable("guess the password", "123456").await, (422, "wrong_password".into()));
    assert_eq!(c.get("/api/v1/me").await.status, 401, "the guessing session is over");
    assert_eq!(other_device.get("/api/v1/me").await.status, 401, "and every other one");
    clock.advance(Duration::seconds(30));
    let mut again = ApiClient::new(&origin.url);
    let refused = again.login_mfa(&w.customer_a.1, PASSWORD, &secret, now(&clock)).await;
    assert_eq!((refused.status.as_u16(), refused.code()), (401, "invalid_credentials"), "locked");
    let enrolled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mfa_totp").fetch_one(&db.pool).await.unwrap();
    assert_eq!(enrolled, 1, "the second factor is still on");
    let lockouts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'auth.lockout' AND target_id = $1")
            .bind(id.to_string())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(lockouts, 1);
}

#[tokio::test]
async fn regenerating_recovery_codes_voids_the_old_set() {
    let (_db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (c, _secret, old) = enrolled_customer(&origin, &w, &clock).await;
    let new = c.post("/api/v1/me/mfa/recovery-codes", Value::Null).await;
    assert_eq!(new.status, 200);
    let new_code = new.json["recovery_codes"][0].as_str().unwrap().to_string();
    let mut a = ApiClient::new(&origin.url);
    a.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(a.post("/api/v1/auth/mfa", json!({ "recovery_code": old[0] })).await.status, 422);
    assert_eq!(a.post("/api/v1/auth/mfa", json!({ "recovery_code": new_code })).await.status, 200);
}

#[tokio::test]
async fn rotating_the_encryption_key_keeps_existing_enrolments() {
    let db = TestDb::new().await;
    let old_key = keys::random_key_spec("old");
    let clock = Arc::new(ManualClock::new(Utc.timestamp_opt(unix_now() / 30 * 30, 0).unwrap()));
    let options = OriginOptions { mfa_keys: old_key.clone(), ..OriginOptions::default() };
    let origin = Origin::start_with_clock(&db, options.clone(), clock.clone() as Arc<dyn Clock>).await;
    origin
        .domain()
        .create_user(
            &Actor::cli(),
            NewUser {
                email: "rot@example.com".into(),
                name: "Rot Ation".into(),
                role: Role::Admin,
                org_id: None,
                password: PASSWORD.to_string().into(),
            },
        )
        .await
        .unwrap();
    let mut c = ApiClient::new(&origin.url);
    c.login("rot@example.com", PASSWORD).await;
    let (secret, _) = c.enrol_mfa(now(&clock)).await;
    drop(origin);

    let new_key = keys::random_key_spec("new");
    let rotated = OriginOptions { mfa_keys: format!("{new_key},{old_key}"), ..options };
    let origin = Origin::start_with_clock(&db, rotated, clock.clone() as Arc<dyn Clock>).await;
    clock.advance(Duration::seconds(30));
    let mut c = ApiClient::new(&origin.url);
    assert_eq!(
        c.login_mfa("rot@example.com", PASSWORD, &secret, now(&clock)).await.status,
        200,
        "old enrolment still works"
    );
    let key_id: String = sqlx::query_scalar("SELECT key_id FROM mfa_totp").fetch_one(&db.pool).await.unwrap();
    assert_eq!(key_id, "old");
    // Without the old key the secret cannot be read: the key really is what protects it.
    drop(origin);
    let only_new = OriginOptions { mfa_keys: new_key, ..OriginOptions::default() };
    let mut no_old = only_new.clone();
    no_old.signing_keys = keys::random_key_spec("s");
    let origin = Origin::start_with_clock(&db, no_old, clock.clone() as Arc<dyn Clock>).await;
    clock.advance(Duration::seconds(30));
    let mut c = ApiClient::new(&origin.url);
    c.login("rot@example.com", PASSWORD).await;
    assert_eq!(
        c.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, now(&clock)) })).await.status,
        500
    );
}

// ---------------------------------------------------------------------------
// The secret at rest, audit rows, hostile input
// ---------------------------------------------------------------------------

/// Fails if any table holds one of `needles` (the secret in some encoding).
async fn assert_secret_nowhere(db: &TestDb, needles: &[String], stage: &str) {
    let hits = tables_containing(db, needles).await;
    assert!(hits.is_empty(), "after {stage}, the TOTP secret is stored in (table, form): {hits:?}");
}

/// After enrolment, a sign-in verify (and a wrong code), a recovery-code sign-in and a
/// step-up, no table of the database holds the TOTP secret: not in base32 (either
/// case), not as raw bytes (hex, which is how `t::text` shows bytea), not in base64.
#[tokio::test]
async fn the_totp_secret_is_in_no_table_at_any_stage() {
    use base64::Engine;
    use sha2::Digest;
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let mut c = ApiClient::new(&origin.url);
    assert_eq!(c.login(&w.customer_a.1, PASSWORD).await.status, 200);
    let enrol = c.post("/api/v1/me/mfa/enrol", Value::Null).await;
    assert_eq!(enrol.status, 200, "{:?}", enrol.json);
    let b32 = enrol.json["secret_base32"].as_str().expect("secret").to_string();
    let secret = system_tests::totp::base32_decode(&b32);
    let needles = vec![
        b32.clone(),
        b32.to_lowercase(),
        hex::encode(&secret),
        hex::encode_upper(&secret),
        base64::engine::general_purpose::STANDARD.encode(&secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret),
    ];
    let tables = all_tables(&db).await;
    for t in [
        "public.users",
        "public.sessions",
        "public.audit_log",
        "public.mfa_totp",
        "public.mfa_recovery_codes",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} is scanned: {tables:?}");
    }
    assert_secret_nowhere(&db, &needles, "starting enrolment").await;

    let confirmed = c.post("/api/v1/me/mfa/confirm", json!({ "code": code_at(&secret, now(&clock)) })).await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.json);
    let codes: Vec<String> = confirmed.json["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    // Controls: the scan reads every row, text columns and bytea (as hex) alike.
    let code_hash = hex::encode(sha2::Sha256::digest(codes[0].replace('-', "").as_bytes()));
    let controls = tables_containing(&db, &[w.customer_a.1.clone(), code_hash.clone()]).await;
    assert!(controls.contains(&("public.users".into(), w.customer_a.1.clone())), "{controls:?}");
    assert!(controls.contains(&("public.mfa_recovery_codes".into(), code_hash)), "{controls:?}");
    assert_secret_nowhere(&db, &needles, "confirming enrolment").await;

    clock.advance(Duration::seconds(30));
    let mut full = ApiClient::new(&origin.url);
    assert_eq!(full.login(&w.customer_a.1, PASSWORD).await.json["stage"], "mfa_pending");
    assert_eq!(full.post("/api/v1/auth/mfa", json!({ "code": "000000" })).await.status, 422);
    let verified = full.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, now(&clock)) })).await;
    assert_eq!(verified.status, 200, "{:?}", verified.json);
    full.adopt(&verified);
    assert_secret_nowhere(&db, &needles, "a wrong code and a verified sign-in").await;

    let mut recovered = ApiClient::new(&origin.url);
    recovered.login(&w.customer_a.1, PASSWORD).await;
    let r = recovered.post("/api/v1/auth/mfa", json!({ "recovery_code": codes[1] })).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_secret_nowhere(&db, &needles, "a recovery-code sign-in").await;

    clock.advance(Duration::seconds(30));
    assert_eq!(full.step_up(&secret, now(&clock)).await.status, 204);
    assert_secret_nowhere(&db, &needles, "a step-up").await;
}

/// Enrolment, every wrong code (while enrolling, signing in, stepping up, disabling) and
/// disabling are audit rows naming the user as actor and target, with the purpose and
/// the request id of the request that wrote them, and never the code itself.
#[tokio::test]
async fn mfa_enrolment_failures_and_disabling_are_audited_with_actor_and_target() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (id, email) = (w.customer_a.0, w.customer_a.1.as_str());
    let me = (id, email);
    let target = || ("user", id.to_string());
    let check = |what: &str, row: &Value, answer: &system_tests::api::Answer| {
        assert_audit_row(what, row, me, target());
        assert_eq!(row["org_id"], w.org_a.to_string(), "{what}: org_id in {row}");
        assert_eq!(row["request_id"], request_id_of(&answer.headers), "{what}: request_id in {row}");
    };
    let mut c = ApiClient::new(&origin.url);
    c.login(email, PASSWORD).await;
    let enrol = c.post("/api/v1/me/mfa/enrol", Value::Null).await;
    let secret = system_tests::totp::base32_decode(enrol.json["secret_base32"].as_str().expect("secret"));
    assert!(audit_rows(&db, "mfa.verify_failed").await.is_empty());
    assert!(audit_rows(&db, "mfa.enrolled").await.is_empty(), "not enrolled until confirmed");

    let wrong_code = code_at(&secret, now(&clock) + 120);
    let wrong = c.post("/api/v1/me/mfa/confirm", json!({ "code": wrong_code })).await;
    assert_eq!(wrong.status, 422);
    let failed = audit_rows(&db, "mfa.verify_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    check("wrong code while enrolling", &failed[0], &wrong);
    assert_eq!(failed[0]["after"]["during"], "enrolment");
    assert!(!failed[0]["after"].to_string().contains(&wrong_code), "the code is not recorded");
    assert!(audit_rows(&db, "mfa.enrolled").await.is_empty());

    let ok = c.post("/api/v1/me/mfa/confirm", json!({ "code": code_at(&secret, now(&clock)) })).await;
    assert_eq!(ok.status, 200);
    check("enrolment", &the_audit_row(&db, "mfa.enrolled").await, &ok);

    // A wrong code at sign-in, from the pending session.
    clock.advance(Duration::seconds(30));
    let mut p = ApiClient::new(&origin.url);
    assert_eq!(p.login(email, PASSWORD).await.json["stage"], "mfa_pending");
    let steps: [(&str, &str, Value); 3] = [
        ("sign_in", "/api/v1/auth/mfa", json!({ "code": "000000" })),
        ("step_up", "/api/v1/auth/step-up", json!({ "code": "000000" })),
        ("disable", "/api/v1/me/mfa/disable", json!({ "password": PASSWORD, "code": "000000" })),
    ];
    for (n, (purpose, path, body)) in steps.into_iter().enumerate() {
        let bad = p.post(path, body).await;
        assert_eq!((bad.status.as_u16(), bad.code()), (422, "invalid_code"), "{purpose}: {:?}", bad.json);
        let failed = audit_rows(&db, "mfa.verify_failed").await;
        assert_eq!(failed.len(), n + 2, "one more row for the wrong {purpose} code");
        let row = failed.last().expect("row");
        check(&format!("wrong {purpose} code"), row, &bad);
        assert_eq!(row["after"]["purpose"], purpose, "{row}");
        if purpose == "sign_in" {
            let good = p.post("/api/v1/auth/mfa", json!({ "code": code_at(&secret, now(&clock)) })).await;
            assert_eq!(good.status, 200, "{:?}", good.json);
            p.adopt(&good);
        }
    }
    assert!(audit_rows(&db, "mfa.disabled").await.is_empty(), "wrong codes disable nothing");

    clock.advance(Duration::seconds(30));
    let disabled = p
        .post(
            "/api/v1/me/mfa/disable",
            json!({ "password": PASSWORD, "code": code_at(&secret, now(&clock)) }),
        )
        .await;
    assert_eq!(disabled.status, 204, "{:?}", disabled.json);
    check("disabling", &the_audit_row(&db, "mfa.disabled").await, &disabled);
    assert_eq!(audit_rows(&db, "mfa.verify_failed").await.len(), 4, "no failure row for the right code");
}

/// What a refused proof must leave alone: A's TOTP row (last step, confirmation), unused
/// recovery codes, every session's `mfa_at`, A's live sessions, B's pending enrolment.
async fn mfa_state(db: &TestDb, a: uuid::Uuid, b: uuid::Uuid) -> Value {
    let state: String = sqlx::query_scalar(
        "SELECT json_build_object(
            'totp', (SELECT json_agg(json_build_array(last_used_step, confirmed_at)) FROM mfa_totp WHERE user_id = $1),
            'unused_codes', (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL),
            'sessions', (SELECT json_agg(json_build_array(id, stage, mfa_at, revoked_at) ORDER BY id) FROM sessions WHERE user_id = $1),
            'b_confirmed', (SELECT confirmed_at FROM mfa_totp WHERE user_id = $2),
            'failures', json_build_array((SELECT failed_logins FROM users WHERE id = $1),
                                         (SELECT failed_logins FROM users WHERE id = $2))
         )::text",
    )
    .bind(a)
    .bind(b)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    serde_json::from_str(&state).unwrap()
}

/// Injection, XSS, oversize, NUL and odd Unicode in `code` and `recovery_code` (sign-in,
/// step-up, enrolment, disabling) and in the disabling password get a clean 4xx that
/// echoes nothing; a wrong proof counts once towards the lockout, as any wrong code or
/// password does (enrolment codes do not count), and nothing else changes: no session,
/// no TOTP step or recovery code used, MFA still on, B still not enrolled.
#[tokio::test]
async fn hostile_strings_in_second_factor_fields_are_refused_cleanly() {
    let (db, origin, w, clock) = setup(OriginOptions::default()).await;
    let (full, secret, _) = enrolled_customer(&origin, &w, &clock).await;
    let (a, b) = (w.customer_a.0, w.customer_b.0);
    clock.advance(Duration::seconds(30));
    let mut pending = ApiClient::new(&origin.url);
    assert_eq!(pending.login(&w.customer_a.1, PASSWORD).await.json["stage"], "mfa_pending");
    // Customer B mid-enrolment, for the confirmation code.
    let mut enrolling = ApiClient::new(&origin.url);
    enrolling.login(&w.customer_b.1, PASSWORD).await;
    assert_eq!(enrolling.post("/api/v1/me/mfa/enrol", Value::Null).await.status, 200);
    let tables = all_tables(&db).await;
    let before = mfa_state(&db, a, b).await;
    assert_eq!(before["unused_codes"], 10);
    assert_eq!(before["b_confirmed"], Value::Null);
    assert_eq!(before["failures"], json!([0, 0]));
    let reset_count = || async {
        sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
            .bind(a)
            .execute(&db.pool)
            .await
            .unwrap();
    };

    let right_code = code_at(&secret, now(&clock));
    for (name, p) in hostile_inputs() {
        let cases: [(&ApiClient, &str, &str, Value, bool); 8] = [
            (&pending, "/api/v1/auth/mfa", "code", json!({ "code": p }), true),
            (&pending, "/api/v1/auth/mfa", "recovery_code", json!({ "recovery_code": p }), true),
            (&full, "/api/v1/auth/step-up", "code", json!({ "code": p }), true),
            (&full, "/api/v1/auth/step-up", "recovery_code", json!({ "recovery_code": p }), true),
            (&full, "/api/v1/me/mfa/disable", "password", json!({ "password": p, "code": right_code }), true),
            (&full, "/api/v1/me/mfa/disable", "code", json!({ "password": PASSWORD, "code": p }), true),
            (
                &full,
                "/api/v1/me/mfa/disable",
                "recovery_code",
                json!({ "password": PASSWORD, "recovery_code": p }),
                true,
            ),
            (&enrolling, "/api/v1/me/mfa/confirm", "code", json!({ "code": p }), false),
        ];
        for (client, path, field, body, counts) in cases {
            let what = format!("{path} {field} = {name}");
            let r = send_json(client, Method::POST, path, &body).await;
            assert_hostile_refused(&what, &r, &p);
            let expected = if field == "password" { "wrong_password" } else { "invalid_code" };
            assert_eq!((r.status, r.code()), (422, expected), "{what}: {}", truncated(&r.text));
            let mut after = mfa_state(&db, a, b).await;
            assert_eq!(
                after["failures"],
                json!([i32::from(counts), 0]),
                "{what}: counted once, like any wrong proof"
            );
            after["failures"] = json!([0, 0]);
            assert_eq!(after, before, "{what}: no session, step, recovery code or MFA change");
            reset_count().await;
        }
    }
    // The dashboard's second-factor form answers its own page, without the hostile code.
    for (name, p) in hostile_inputs().into_iter().filter(|(_, p)| p.contains('<')) {
        let page = pending.send_form("/login/mfa", &[("code", &p)]).await;
        assert_eq!(page.status, 422, "form {name}: {}", truncated(&page.text));
        assert!(set_cookie(&page.headers).is_none(), "form {name}: no session");
        assert_not_echoed(&format!("form {name}"), &page.text, &p);
        reset_count().await;
    }
    assert_eq!(mfa_state(&db, a, b).await, before);
    assert_eq!(all_tables(&db).await, tables, "every table is still there");
    // Controls: the pending session, the untouched TOTP step and the full session still work.
    let ok = pending.post("/api/v1/auth/mfa", json!({ "code": right_code })).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    assert_eq!(full.get("/api/v1/me").await.status, 200, "the full session survived");
}
