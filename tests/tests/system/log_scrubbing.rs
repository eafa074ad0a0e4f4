//! Logs never carry secrets: sign-in (right and wrong passwords), MFA
//! enrolment and codes, recovery codes, password reset (request, token,
//! new password), CSRF tokens, session cookies, signed ingest (keys,
//! signatures) and client IPs are driven through a real origin while every
//! log line (JSON, as production writes them, at debug level) is captured;
//! none of those values may appear. The capture is proven by finding the
//! security events and request fields that must be there.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::smtp::SmtpServer;
use system_tests::totp::code_at;
use system_tests::world::{self, PASSWORD};
use system_tests::{http, keys, unix_now};

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

const CLIENT_IP: &str = "203.0.113.77";
const NEW_PASSWORD: &str = "orbit velvet canyon thimble";

#[tokio::test]
async fn secrets_tokens_codes_cookies_and_client_ips_never_reach_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter("debug,sqlx=debug,hyper=info,h2=info,rustls=info,tower=info")
        .with_writer(move || writer.clone())
        .init();

    let db = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let options = OriginOptions {
        smtp_url: Some(smtp.url.clone()),
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start(&db, options.clone()).await;
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
    assert_eq!(second.post("/api/v1/auth/mfa", json!({ "code": next_code })).await.status, 200);
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
    for c in [&admin, &second, &third] {
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
    let mail = smtp.wait_for(&w.customer_a.1, 1).await.text();
    let at = mail.find("token=").expect("a reset link");
    let token: String =
        mail[at + 6..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
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
    for line in logs.lines() {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "every line is JSON: {line}");
    }
    for (what, value) in &secrets {
        assert!(value.len() >= 6, "{what} is a real value");
        if let Some(at) = logs.find(value.as_str()) {
            let start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = logs[at..].find('\n').map_or(logs.len(), |i| at + i);
            panic!("the {what} appears in the logs:\n{}", &logs[start..end]);
        }
    }
}
