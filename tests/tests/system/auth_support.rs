//! Helpers shared by the `auth_*` suites and `api_management`: an origin with
//! the standard world, signed-in clients (completing a second factor when the
//! account needs one), raw requests with hand-picked headers, forged JWTs,
//! database snapshots and scans, audit rows, hostile inputs and checks that no
//! body leaks internals.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use origin_api::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::totp;
use system_tests::world::{self, PASSWORD, World};

/// An origin on its own database with the standard world.
pub struct Env {
    /// Database (kept alive for the origin).
    pub db: TestDb,
    /// The origin.
    pub origin: Origin,
    /// The world's ids.
    pub world: World,
    /// The clock, when the test drives time.
    pub clock: Option<Arc<ManualClock>>,
    second_factors: Mutex<HashMap<String, (Vec<u8>, i64)>>,
}

impl Env {
    /// Real clock, default options.
    pub async fn start() -> Env {
        Self::start_with(OriginOptions::default(), None).await
    }

    /// A manual clock starting now (whole seconds).
    pub async fn start_manual() -> (Env, Arc<ManualClock>) {
        let now = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).expect("now");
        let clock = Arc::new(ManualClock::new(now));
        (Self::start_with(OriginOptions::default(), Some(Arc::clone(&clock))).await, clock)
    }

    /// Chosen options and clock.
    pub async fn start_with(options: OriginOptions, clock: Option<Arc<ManualClock>>) -> Env {
        let db = TestDb::new().await;
        let origin = match &clock {
            Some(c) => Origin::start_with_clock(&db, options, Arc::clone(c) as Arc<dyn Clock>).await,
            None => Origin::start(&db, options).await,
        };
        let world = world::build(origin.domain()).await;
        Env { db, origin, world, clock, second_factors: Mutex::new(HashMap::new()) }
    }

    /// A client without a session.
    pub fn anonymous(&self) -> ApiClient {
        ApiClient::new(&self.origin.url)
    }

    /// Signs `email` in (world password), completing a second factor if the account needs one.
    pub async fn sign_in(&self, email: &str) -> ApiClient {
        self.sign_in_with(email, PASSWORD).await
    }

    /// Signs in with a chosen password.
    pub async fn sign_in_with(&self, email: &str, password: &str) -> ApiClient {
        let mut client = self.anonymous();
        let login = client.login(email, password).await;
        assert_eq!(login.status, 200, "sign-in of {email}: {:?}", login.json);
        if login.json["stage"] == "mfa_pending" {
            let code = self.next_code(email).await;
            let answer = client.post("/api/v1/auth/mfa", json!({ "code": code })).await;
            assert_eq!(answer.status, 200, "second factor of {email}: {:?}", answer.json);
            client.adopt(&answer);
        }
        let status = client.get("/api/v1/me/mfa").await;
        if status.status == 200 && status.json["required"] == true && status.json["enrolled"] == false {
            let enrolment = client.post("/api/v1/me/mfa/enrol", Value::Null).await;
            assert_eq!(enrolment.status, 200, "MFA enrolment of {email}: {:?}", enrolment.json);
            let secret = totp::base32_decode(enrolment.json["secret_base32"].as_str().expect("secret"));
            self.second_factors.lock().expect("lock").insert(email.to_string(), (secret, 0));
            let code = self.next_code(email).await;
            let confirmed = client.post("/api/v1/me/mfa/confirm", json!({ "code": code })).await;
            assert_eq!(confirmed.status, 200, "MFA confirmation of {email}: {:?}", confirmed.json);
        }
        client
    }

    /// The ADMIN, signed in.
    pub async fn admin(&self) -> ApiClient {
        self.sign_in(&self.world.admin.1).await
    }

    /// CUSTOMER of A, signed in.
    pub async fn customer_a(&self) -> ApiClient {
        self.sign_in(&self.world.customer_a.1).await
    }

    /// CUSTOMER of B, signed in.
    pub async fn customer_b(&self) -> ApiClient {
        self.sign_in(&self.world.customer_b.1).await
    }

    /// A TOTP code for a step not used before (waits for the next step when needed),
    /// for an account this helper enrolled.
    pub async fn next_code(&self, email: &str) -> String {
        loop {
            let now = self.clock.as_ref().map_or_else(chrono::Utc::now, |c| c.now()).timestamp();
            let step = now / 30;
            let (secret, last) = self
                .second_factors
                .lock()
                .expect("lock")
                .get(email)
                .cloned()
                .unwrap_or_else(|| panic!("{email} has a second factor this helper did not enrol"));
            let candidate = (last + 1).max(step);
            if candidate <= step + 1 {
                self.second_factors
                    .lock()
                    .expect("lock")
                    .insert(email.to_string(), (secret.clone(), candidate));
                return totp::code_at(&secret, candidate * 30);
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// A digest of every table a request could change (`last_seen_at` excluded:
    /// reading with a session touches it by design).
    pub async fn snapshot(&self) -> Value {
        snapshot(&self.db).await
    }
}

/// See [`Env::snapshot`].
pub async fn snapshot(db: &TestDb) -> Value {
    let mut all = serde_json::Map::new();
    for (table, columns) in [
        ("organizations", "*"),
        ("users", "*"),
        ("events", "*"),
        ("event_windows", "*"),
        ("bands", "*"),
        ("sessions", "id, user_id, csrf_token, stage, created_at, expires_at, mfa_at, revoked_at"),
        ("password_resets", "*"),
        ("audit_log", "seq, action, target_id"),
        ("mfa_totp", "*"),
        ("mfa_recovery_codes", "*"),
    ] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("public.{table}"))
            .fetch_one(&db.pool)
            .await
            .expect("to_regclass");
        if !exists {
            continue;
        }
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT md5(string_agg(row_text, '|' ORDER BY row_text)) FROM (SELECT (t.*)::text AS row_text FROM (SELECT {columns} FROM {table}) t) r"
        )))
        .fetch_one(&db.pool)
        .await
        .expect("snapshot");
        all.insert(table.to_string(), json!(rows));
    }
    Value::Object(all)
}

// ---------------------------------------------------------------------------
// Raw requests
// ---------------------------------------------------------------------------

/// A response with its raw body.
#[derive(Debug, Clone)]
pub struct Raw {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body text.
    pub text: String,
    /// Body as JSON (`Null` if not JSON).
    pub json: Value,
}

impl Raw {
    /// `error.code`.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// Every `Set-Cookie` for the session cookie, in order.
    pub fn session_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|v| v.starts_with("sm_session=") || v.starts_with("__Host-sm_session="))
            .map(str::to_string)
            .collect()
    }
}

/// Sends exactly these headers (nothing added but what reqwest always sends).
pub async fn raw(
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> Raw {
    let mut req = system_tests::http::client().request(method, format!("{base}{path}"));
    for (name, value) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(value.as_bytes()).expect("header value");
        req = req.header(*name, value);
    }
    if let Some((content_type, bytes)) = body {
        req = req.header("content-type", content_type).body(bytes);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Raw { status, headers, text, json }
}

/// `GET /api/v1/me` with `Cookie: sm_session=<token>` and nothing else.
pub async fn me_with(base: &str, token: &str) -> Raw {
    raw(base, Method::GET, "/api/v1/me", &[("cookie", &format!("sm_session={token}"))], None).await
}

/// The session token (cookie value) a client holds.
pub fn token_of(client: &ApiClient) -> String {
    let cookie = client.cookie.as_deref().expect("client has a session cookie");
    cookie.split_once('=').map(|(_, v)| v.to_string()).expect("name=value")
}

/// The `Set-Cookie` attributes, lower-cased, without the `name=value` pair.
pub fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect()
}

// ---------------------------------------------------------------------------
// Error bodies
// ---------------------------------------------------------------------------

/// Markers of internals that must never reach a client.
const LEAKS: &[&str] = &[
    "sqlstate",
    "syntax error",
    "sqlx",
    "postgres",
    "error returned from database",
    "duplicate key value",
    "violates",
    "relation \"",
    "column \"",
    "panicked",
    "backtrace",
    ".rs:",
    "thread '",
];

/// The body names no SQL, database, stack or source location.
pub fn assert_no_leak(what: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    for marker in LEAKS {
        assert!(!lower.contains(marker), "{what}: body leaks internals ({marker:?}): {text}");
    }
}

/// The body is exactly `{"error": {"code": "<code>", "message": "<non-empty>"}}` in JSON.
pub fn assert_error_shape(what: &str, r: &Raw) {
    let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: error is not JSON (status {}, content-type {content_type:?}): {}",
        r.status,
        r.text
    );
    let obj = r.json.as_object().unwrap_or_else(|| panic!("{what}: not a JSON object: {}", r.text));
    assert_eq!(obj.len(), 1, "{what}: only `error` at the top: {}", r.text);
    let err = r.json["error"].as_object().unwrap_or_else(|| panic!("{what}: no error object: {}", r.text));
    assert!(err["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: error.code: {}", r.text);
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: error.message: {}", r.text);
    let header = r.headers.get("x-request-id").and_then(|v| v.to_str().ok());
    assert!(header.is_some(), "{what}: x-request-id header");
    assert_eq!(
        err.get("request_id").and_then(|v| v.as_str()),
        header,
        "{what}: error.request_id: {}",
        r.text
    );
    assert_no_leak(what, &r.text);
}

// ---------------------------------------------------------------------------
// JWTs
// ---------------------------------------------------------------------------

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token's header and claims as JSON, and its signature segment.
pub fn decode(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token: {token}");
    let part = |s: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).expect("base64url")).expect("JSON segment")
    };
    (part(parts[0]), part(parts[1]), parts[2].to_string())
}

/// `header.claims` encoded, without a signature.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// An HS256 token over `header` and `claims` with `secret`.
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("hmac key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// An HS512 token.
pub fn hs512(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret).expect("hmac key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// The secret of key `kid` in an `id:hex64[,id:hex64]` spec.
pub fn secret_of(spec: &str, kid: &str) -> Vec<u8> {
    spec.split(',')
        .filter_map(|k| k.trim().split_once(':'))
        .find(|(id, _)| *id == kid)
        .map(|(_, hex)| hex::decode(hex).expect("hex key"))
        .unwrap_or_else(|| panic!("no key {kid} in spec"))
}

/// The key id a spec signs with (its first).
pub fn signing_kid(spec: &str) -> String {
    spec.split(',').next().and_then(|k| k.split_once(':')).map(|(id, _)| id.to_string()).expect("kid")
}

// ---------------------------------------------------------------------------
// Database scans and audit rows
// ---------------------------------------------------------------------------

/// Every base table of every non-system schema, schema-qualified and quoted.
pub async fn all_tables(db: &TestDb) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
         ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("list tables")
}

/// `(table, needle)` for every table whose rows, cast to text (`SELECT t::text FROM table t`),
/// contain one of `needles`. Bytea columns read as `\x<hex>`, so hex needles find raw bytes.
pub async fn tables_containing(db: &TestDb, needles: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for table in all_tables(db).await {
        for needle in needles {
            let hits: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM (SELECT t::text AS row_text FROM {table} t) r WHERE strpos(row_text, $1) > 0"
            )))
            .bind(needle)
            .fetch_one(&db.pool)
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e}"));
            if hits > 0 {
                found.push((table.clone(), needle.clone()));
            }
        }
    }
    found
}

/// Every `audit_log` row with `action`, in order, as JSON (column name → value).
pub async fn audit_rows(db: &TestDb, action: &str) -> Vec<Value> {
    sqlx::query_scalar("SELECT row_to_json(a) FROM audit_log a WHERE action = $1 ORDER BY seq")
        .bind(action)
        .fetch_all(&db.pool)
        .await
        .expect("audit rows")
}

/// The one `audit_log` row with `action` (panics on none or several).
pub async fn the_audit_row(db: &TestDb, action: &str) -> Value {
    let mut rows = audit_rows(db, action).await;
    assert_eq!(rows.len(), 1, "exactly one {action} row: {rows:?}");
    rows.remove(0)
}

/// The row was written by `user` (id and email) acting for themselves, about `target_type`/`target_id`.
pub fn assert_audit_row(what: &str, row: &Value, actor: (uuid::Uuid, &str), target: (&str, String)) {
    assert_eq!(row["actor_type"], "user", "{what}: actor_type in {row}");
    assert_eq!(row["actor_id"], actor.0.to_string(), "{what}: actor_id in {row}");
    assert_eq!(row["actor_label"], actor.1, "{what}: actor_label in {row}");
    assert_eq!(row["target_type"], target.0, "{what}: target_type in {row}");
    assert_eq!(row["target_id"], target.1, "{what}: target_id in {row}");
}

/// The response's `x-request-id`.
pub fn request_id_of(headers: &reqwest::header::HeaderMap) -> String {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("x-request-id header").to_string()
}

/// What `audit_log.ip_hash` must hold for a client at `ip`, computed here from the
/// audit key (HMAC-SHA256 over `client-ip:<ip>`, first 8 bytes in hex), not by the product.
pub fn expected_ip_hash(audit_keys: &str, ip: &str) -> String {
    let secret = secret_of(audit_keys, &signing_kid(audit_keys));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).expect("hmac key");
    mac.update(format!("client-ip:{ip}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

// ---------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------

/// The SQL-injection and XSS strings of `api_management`, plus oversize values
/// (10 KB, 1 MiB: under the 2 MiB body limit), a NUL and bidi/astral Unicode;
/// each with a short name for messages.
pub fn hostile_inputs() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = [
        "'; DROP TABLE events; --",
        "' OR '1'='1",
        "<img src=x onerror=alert(1)>",
        "\"><script>alert(1)</script>",
    ]
    .iter()
    .map(|p| (format!("{p:?}"), p.to_string()))
    .collect();
    all.push(("10 KB".into(), "<b>".repeat(10 * 1024 / 3)));
    all.push(("1 MiB".into(), "A".repeat(1 << 20)));
    all.push(("NUL".into(), "12\u{0}3456".into()));
    all.push(("Unicode".into(), "\u{202e}١٢٣٤٥٦ 🍪 é\u{200b}".into()));
    all
}

/// Sends `method path` with a JSON body as `client` does (its cookie, CSRF token and our `Origin`).
pub async fn send_json(client: &ApiClient, method: Method, path: &str, body: &Value) -> Raw {
    let mut headers: Vec<(&str, &str)> = vec![("origin", &client.base)];
    if let Some(cookie) = &client.cookie {
        headers.push(("cookie", cookie));
    }
    if let Some(csrf) = &client.csrf {
        headers.push(("x-csrf-token", csrf));
    }
    raw(&client.base, method, path, &headers, Some(("application/json", body.to_string().into_bytes()))).await
}

/// A clean refusal of hostile input `payload`: a 4xx in the standard JSON error shape
/// (request id, no internals), served as non-sniffable JSON, and the payload not
/// echoed back (not verbatim, and no live markup from it).
pub fn assert_hostile_refused(what: &str, r: &Raw, payload: &str) {
    assert!((400..500).contains(&r.status), "{what}: a 4xx, got {} {}", r.status, truncated(&r.text));
    assert_error_shape(what, r);
    assert_eq!(
        r.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()),
        Some("nosniff"),
        "{what}"
    );
    assert_not_echoed(what, &r.text, payload);
}

/// `text` does not carry `payload` back: not verbatim, and no markup from it.
pub fn assert_not_echoed(what: &str, text: &str, payload: &str) {
    assert!(!text.contains(payload), "{what}: the payload is echoed back: {}", truncated(text));
    let lower = text.to_ascii_lowercase();
    if payload.contains('<') {
        for marker in ["<script>alert", "<img src=x", "onerror=alert", "<b><b>"] {
            assert!(!lower.contains(marker), "{what}: {marker} in the answer: {}", truncated(text));
        }
    }
}

/// The first 300 characters of `text`, for messages.
pub fn truncated(text: &str) -> String {
    text.chars().take(300).collect()
}
