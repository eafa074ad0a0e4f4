//! Logs never carry secrets: sign-in (right and wrong passwords), MFA
//! enrolment and codes, recovery codes, password reset (request, token,
//! new password), CSRF tokens, session cookies, signed ingest (keys,
//! signatures) and client IPs are driven through a real origin while every
//! log line (JSON, in production's own format from `telemetry::production`,
//! at debug level) is captured; none of those values may appear. The capture
//! is proven by finding the security events and request fields that must be
//! there, and the events operators alert on are checked for their stable
//! `event` name and WARN level.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use origin_api::auth::{login, reset};
use origin_api::clock::Clock;
use serde_json::{Value, json};
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::smtp::SmtpServer;
use system_tests::totp::code_at;
use system_tests::world::{self, PASSWORD};
use system_tests::{eventually, http, keys, unix_now};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt;

/// Every byte the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        self.0.lock().map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default()
    }
}

/// The real clock, moved on by hand (to let an account lock run out without waiting).
#[derive(Default)]
struct ShiftedClock(Mutex<Duration>);

impl ShiftedClock {
    fn advance(&self, by: Duration) {
        if let Ok(mut shift) = self.0.lock() {
            *shift += by;
        }
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0.lock().map(|shift| *shift).unwrap_or_default()
    }
}

/// The token of the reset link in a mail.
fn reset_token(mail: &str) -> String {
    let at = mail.find("token=").expect("a reset link");
    mail[at + 6..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// The captured lines whose `event` field is `name`.
fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["event"] == name).collect()
}

const CLIENT_IP: &str = "203.0.113.77";
const NEW_PASSWORD: &str = "orbit velvet canyon thimble";

#[tokio::test]
async fn secrets_tokens_codes_cookies_and_client_ips_never_reach_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    // Production's subscriber and format; only the level is lower, so debug lines are scanned too.
    origin_api::telemetry::production(
        EnvFilter::new("debug,sqlx=debug,hyper=info,h2=info,rustls=info,tower=info"),
        move || writer.clone(),
    )
    .init();

    let db = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let options = OriginOptions {
        smtp_url: Some(smtp.url.clone()),
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let clock = Arc::new(ShiftedClock::default());
    let origin = Origin::start_with_clock(&db, options.clone(), clock.clone()).await;
    let w = world::build(origin.domain()).await;
    let mut secrets: Vec<(String, String)> = vec![
        ("password".into(), PASSWORD.into()),
        ("new password".into(), NEW_PASSWORD.into()),
        ("client ip".into(), CLIENT_IP.into()),
    ];
    for (name, spec) in [
        ("signing key", &options.signing_keys),
        ("audit key", &options.audit_keys),
        ("jwt key", &options.jwt_keys),
        ("mfa key", &options.mfa_keys),
    ] {
        secrets.push((name.into(), spec.split_once(':').map(|(_, k)| k.to_string()).unwrap_or_default()));
    }
    let client = |c: &mut ApiClient| {
        c.extra_header("x-forwarded-for", CLIENT_IP);
    };

    // Wrong then right password; the ADMIN enrols MFA and signs in with a code, then a recovery code.
    let mut wrong = ApiClient::new(&origin.url);
    client(&mut wrong);
    assert_eq!(wrong.login(&w.customer_a.1, "not the password at all").await.status, 401);
    secrets.push(("wrong password".into(), "not the password at all".into()));
    let mut admin = ApiClient::new(&origin.url);
    client(&mut admin);
    admin.login(&w.admin.1, PASSWORD).await;
    let enrol = admin.post("/api/v1/me/mfa/enrol", Value::Null).await;
    let secret_b32 = enrol.json["secret_base32"].as_str().expect("secret").to_string();
    let secret = system_tests::totp::base32_decode(&secret_b32);
    let code = code_at(&secret, unix_now());
    let confirm = admin.post("/api/v1/me/mfa/confirm", json!({ "code": code })).await;
    assert_eq!(confirm.status, 200, "{:?}", confirm.json);
    secrets.push(("totp secret".into(), secret_b32));
    secrets.push(("totp secret hex".into(), hex::encode(&secret)));
    let recovery: Vec<String> = confirm.json["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str())
        .map(String::from)
        .collect();
    let mut second = ApiClient::new(&origin.url);
    client(&mut second);
    second.login(&w.admin.1, PASSWORD).await;
    let next_code = code_at(&secret, unix_now() + 30);
    let verified = second.post("/api/v1/auth/mfa", json!({ "code": next_code })).await;
    assert_eq!(verified.status, 200);
    // The full session (a second token: the pending one stays in the scan below).
    let mut second_full = second.clone();
    second_full.adopt(&verified);
    let mut third = ApiClient::new(&origin.url);
    client(&mut third);
    third.login(&w.admin.1, PASSWORD).await;
    assert_eq!(third.post("/api/v1/auth/mfa", json!({ "recovery_code": recovery[0] })).await.status, 200);
    // A wrong code is logged as an event, without the code.
    let mut fourth = ApiClient::new(&origin.url);
    client(&mut fourth);
    fourth.login(&w.admin.1, PASSWORD).await;
    fourth.post("/api/v1/auth/mfa", json!({ "code": "123456" })).await;
    for (i, c) in recovery.iter().enumerate() {
        secrets.push((format!("recovery code {i}"), c.clone()));
    }
    secrets.push(("totp code".into(), code));
    secrets.push(("totp code 2".into(), next_code));
    for c in [&admin, &second, &second_full, &third] {
        let cookie = c.cookie.clone().expect("cookie");
        secrets.push((
            "session cookie".into(),
            cookie.split_once('=').map(|(_, v)| v.to_string()).unwrap_or(cookie),
        ));
        secrets.push(("csrf token".into(), c.csrf.clone().expect("csrf")));
    }

    // Password reset: request, the emailed token, the new password.
    let mut anon = ApiClient::new(&origin.url);
    client(&mut anon);
    assert_eq!(
        anon.post("/api/v1/auth/password-reset", json!({ "email": w.customer_a.1 })).await.status,
        202
    );
    let token = reset_token(&smtp.wait_for(&w.customer_a.1, 1).await.text());
    let done = anon
        .post("/api/v1/auth/password-reset/complete", json!({ "token": token, "password": NEW_PASSWORD }))
        .await;
    assert_eq!(done.status, 204, "{:?}", done.json);
    secrets.push(("reset token".into(), token));

    // Signed ingest, including a forged signature.
    let now_ms = chrono::Utc::now().timestamp_millis();
    let body = serde_json::to_vec(&json!({ "taps": [{
        "id": system_tests::taps::id_at(now_ms), "band_id": "SCRUB001", "ts_ms": now_ms,
        "outcome": "unknown_band", "head": false, "agent": "human", "device": "ios"
    }] }))
    .unwrap();
    let signed = keys::sign_now(&options.keyring(), "POST", "/internal/v1/taps", &body);
    let r = keys::apply(http::client().post(origin.url("/internal/v1/taps")), &signed)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let forged =
        keys::sign_now(&keys::keyring(&keys::random_key_spec("sig1")), "POST", "/internal/v1/taps", &body);
    let r = keys::apply(http::client().post(origin.url("/internal/v1/taps")), &forged)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    secrets.push(("signature".into(), signed.signature.clone()));
    secrets.push(("forged signature".into(), forged.signature.clone()));

    // A signed-in CUSTOMER's request, then a state-changing one with a forged CSRF token.
    let mut customer = ApiClient::new(&origin.url);
    client(&mut customer);
    assert_eq!(customer.login(&w.customer_a.1, NEW_PASSWORD).await.status, 200);
    assert_eq!(customer.get("/api/v1/events").await.status, 200);
    let real_csrf = customer.csrf.clone().expect("csrf");
    let forged_csrf = format!("forged{}", uuid::Uuid::new_v4().simple());
    let mut forger = customer.clone();
    forger.csrf = Some(forged_csrf.clone());
    let csrf_path = format!("/api/v1/orgs/{}", w.org_a);
    assert_eq!(forger.patch(&csrf_path, json!({ "mfa_required": true })).await.status, 403);
    let cookie = customer.cookie.clone().expect("cookie");
    secrets.push((
        "customer session cookie".into(),
        cookie.split_once('=').map(|(_, v)| v.to_string()).unwrap_or(cookie),
    ));
    secrets.push(("customer csrf token".into(), real_csrf.clone()));
    secrets.push(("forged csrf token".into(), forged_csrf.clone()));

    // The ADMIN (second factor proven seconds ago: no step-up needed) resets another user's MFA and promotes them.
    let reset_mfa =
        second_full.post(&format!("/api/v1/users/{}/mfa/reset", w.customer_b.0), Value::Null).await;
    assert_eq!(reset_mfa.status, 204, "{:?}", reset_mfa.json);
    let promote =
        second_full.patch(&format!("/api/v1/users/{}", w.customer_b.0), json!({ "role": "ADMIN" })).await;
    assert_eq!(promote.status, 200, "{:?}", promote.json);

    // Password resets over the hourly allowance (the first was above): two more links, then a burst.
    for n in 2..=reset::MAX_PER_HOUR as usize {
        assert_eq!(
            anon.post("/api/v1/auth/password-reset", json!({ "email": w.customer_a.1 })).await.status,
            202
        );
        secrets
            .push((format!("reset token {n}"), reset_token(&smtp.wait_for(&w.customer_a.1, n).await.text())));
    }
    assert_eq!(
        anon.post("/api/v1/auth/password-reset", json!({ "email": w.customer_a.1 })).await.status,
        202
    );
    eventually("the reset_burst log line", std::time::Duration::from_secs(10), || async {
        capture.text().contains("\"event\":\"reset_burst\"").then_some(())
    })
    .await;

    // Wrong passwords lock the account; the lock runs out and the next sign-in lifts it.
    let mut guesser = ApiClient::new(&origin.url);
    client(&mut guesser);
    for n in 1..=login::MAX_FAILURES {
        let guess = format!("wrong guess number {n}");
        assert_eq!(guesser.login(&w.customer_a.1, &guess).await.status, 401);
        secrets.push((format!("wrong password {n}"), guess));
    }
    assert_eq!(guesser.login(&w.customer_a.1, NEW_PASSWORD).await.status, 401, "locked");
    clock.advance(Duration::minutes(login::LOCK_MINUTES + 1));
    assert_eq!(guesser.login(&w.customer_a.1, NEW_PASSWORD).await.status, 200, "the lock ran out");

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logs = capture.text();
    // The capture works and carries what investigations need.
    for needle in [
        "\"event\":\"login_failed\"",
        "\"event\":\"login_succeeded\"",
        "\"event\":\"mfa_verify_failed\"",
        "\"event\":\"mfa_recovery_code_used\"",
        "\"event\":\"signature_rejected\"",
        "\"event\":\"taps_ingested\"",
        "\"request_id\":",
        "\"user_id\":",
        "\"route\":\"/api/v1/me/mfa/confirm\"",
    ] {
        assert!(logs.contains(needle), "the logs lack {needle}");
    }
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("every line is JSON ({e}): {line}")))
        .collect();

    // What operators alert on: a stable `event` name, at WARN, naming the user concerned.
    let (customer_a, customer_b) = (w.customer_a.0.to_string(), w.customer_b.0.to_string());
    for (name, user) in [
        ("account_locked", &customer_a),
        ("login_locked", &customer_a),
        ("account_unlocked", &customer_a),
        ("mfa_reset", &customer_b),
        ("role_changed", &customer_b),
        ("reset_burst", &customer_a),
    ] {
        let found = events(&lines, name);
        assert_eq!(found.len(), 1, "one {name} line expected, found: {found:#?}");
        assert_eq!(found[0]["level"], "WARN", "{name} is alertable: {}", found[0]);
        assert_eq!(found[0]["user_id"], user.as_str(), "{name} names the user: {}", found[0]);
    }
    let promoted = events(&lines, "role_changed")[0];
    assert_eq!((&promoted["from"], &promoted["to"]), (&json!("CUSTOMER"), &json!("ADMIN")), "{promoted}");

    // The refused CSRF token is logged as an event on its path, with neither token in the line.
    let csrf: Vec<&Value> =
        events(&lines, "csrf_rejected").into_iter().filter(|l| l["path"] == csrf_path.as_str()).collect();
    assert_eq!(
        csrf.len(),
        1,
        "one csrf_rejected line for {csrf_path}: {:#?}",
        events(&lines, "csrf_rejected")
    );
    assert_eq!(csrf[0]["level"], "WARN", "{}", csrf[0]);
    let csrf_line = csrf[0].to_string();
    assert!(!csrf_line.contains(&forged_csrf), "the sent token is logged: {csrf_line}");
    assert!(!csrf_line.contains(&real_csrf), "the session's token is logged: {csrf_line}");

    // A signed-in CUSTOMER's request line says who, for which organisation, which route and how it ended.
    let listed: Vec<&Value> =
        events(&lines, "request").into_iter().filter(|l| l["span"]["route"] == "/api/v1/events").collect();
    assert_eq!(listed.len(), 1, "one request line for GET /api/v1/events: {listed:#?}");
    let span = &listed[0]["span"];
    assert_eq!(span["user_id"], customer_a.as_str(), "{}", listed[0]);
    assert_eq!(span["org_id"], w.org_a.to_string().as_str(), "{}", listed[0]);
    assert_eq!(span["status"], 200, "{}", listed[0]);
    assert_eq!(listed[0]["status"], 200, "{}", listed[0]);
    assert!(span["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{}", listed[0]);

    for (what, value) in &secrets {
        assert!(value.len() >= 6, "{what} is a real value");
        if let Some(at) = logs.find(value.as_str()) {
            let start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
            panic!("the {what} appears in the logs:\n{}", &logs[start..end]);
        }
    }
}
