//! Cross-site request forgery, from outside: a state-changing request needs
//! our own provenance (`Sec-Fetch-Site: same-origin|none`, else an `Origin`
//! equal to the public URL) and the session's own CSRF token (`X-CSRF-Token`
//! or a `csrf_token` form field). Every failure is a 403 that changes
//! nothing; reads need no token; sign-in from another site is refused.

use crate::auth_support::{Env, Raw, raw};
use origin_api::http::routes::{self, MethodSpec};
use origin_api::http::session_auth::Access;
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::api::ApiClient;
use system_tests::world::{PASSWORD, World};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A world with Alice (CUSTOMER of A) signed in twice and Bob (CUSTOMER of B) once.
struct Setup {
    env: Env,
    alice: ApiClient,
    alice_other_session: ApiClient,
    bob: ApiClient,
}

impl Setup {
    async fn new() -> Setup {
        let env = Env::start().await;
        let alice = env.customer_a().await;
        let alice_other_session = env.customer_a().await;
        let bob = env.customer_b().await;
        Setup { env, alice, alice_other_session, bob }
    }

    fn url(&self) -> &str {
        &self.env.origin.url
    }

    fn event_path(&self) -> String {
        format!("/api/v1/events/{}", self.env.world.event_a)
    }

    /// Sends `method path` with Alice's cookie, `headers` and an optional JSON body.
    async fn as_alice(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Raw {
        let cookie = self.alice.cookie.clone().expect("cookie");
        let mut all: Vec<(&str, &str)> = vec![("cookie", &cookie)];
        all.extend_from_slice(headers);
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        raw(self.url(), method, path, &all, body).await
    }

    fn token(&self) -> &str {
        self.alice.csrf.as_deref().expect("csrf")
    }

    async fn event_name(&self) -> String {
        sqlx::query_scalar("SELECT name FROM events WHERE id = $1")
            .bind(self.env.world.event_a)
            .fetch_one(&self.env.db.pool)
            .await
            .expect("event")
    }

    async fn live_sessions_of_alice(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(self.env.world.customer_a.0)
            .fetch_one(&self.env.db.pool)
            .await
            .expect("sessions")
    }

    /// The header sets that must be refused, each with Alice's cookie.
    fn forged_header_sets(&self) -> Vec<(String, Vec<(&'static str, String)>)> {
        let ours = self.url().to_string();
        let port = ours.rsplit(':').next().expect("port").to_string();
        let right = self.token().to_string();
        let other_user = self.bob.csrf.clone().expect("csrf");
        let other_session = self.alice_other_session.csrf.clone().expect("csrf");
        assert_ne!(right, other_session, "each session has its own token");
        let mut cases: Vec<(String, Vec<(&'static str, String)>)> = vec![
            ("missing token".into(), vec![("origin", ours.clone())]),
            ("empty token".into(), vec![("origin", ours.clone()), ("x-csrf-token", String::new())]),
            ("wrong token".into(), vec![("origin", ours.clone()), ("x-csrf-token", "A".repeat(right.len()))]),
            (
                "truncated token".into(),
                vec![("origin", ours.clone()), ("x-csrf-token", right[..right.len() - 1].into())],
            ),
            (
                "token with a suffix".into(),
                vec![("origin", ours.clone()), ("x-csrf-token", format!("{right}x"))],
            ),
            (
                "another user's session token".into(),
                vec![("origin", ours.clone()), ("x-csrf-token", other_user)],
            ),
            (
                "another session's token of the same user".into(),
                vec![("origin", ours.clone()), ("x-csrf-token", other_session)],
            ),
            (
                "cross-site Origin".into(),
                vec![("origin", "https://evil.example".into()), ("x-csrf-token", right.clone())],
            ),
            ("Origin: null".into(), vec![("origin", "null".into()), ("x-csrf-token", right.clone())]),
            ("no Origin and no Sec-Fetch-Site".into(), vec![("x-csrf-token", right.clone())]),
            (
                "Sec-Fetch-Site: cross-site".into(),
                vec![
                    ("sec-fetch-site", "cross-site".into()),
                    ("origin", ours.clone()),
                    ("x-csrf-token", right.clone()),
                ],
            ),
            (
                "Sec-Fetch-Site: same-site".into(),
                vec![
                    ("sec-fetch-site", "same-site".into()),
                    ("origin", ours.clone()),
                    ("x-csrf-token", right.clone()),
                ],
            ),
        ];
        for lookalike in [
            format!("http://127.0.0.1:{port}.evil.example"),
            format!("https://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://127.0.0.1:{}", port.parse::<u32>().expect("port") + 1),
            format!("{ours}.evil.example"),
        ] {
            cases.push((
                format!("look-alike Origin {lookalike:?}"),
                vec![("origin", lookalike), ("x-csrf-token", right.clone())],
            ));
        }
        cases
    }
}

fn pairs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `POST /api/v1/sessions/revoke-all` as an urlencoded form.
async fn form_post(url: &str, cookie: &str, origin: &str, body: String) -> Raw {
    raw(
        url,
        Method::POST,
        "/api/v1/sessions/revoke-all",
        &[("cookie", cookie), ("origin", origin)],
        Some(("application/x-www-form-urlencoded", body.into_bytes())),
    )
    .await
}

fn assert_forbidden(what: &str, r: &Raw) {
    assert_eq!(r.status, 403, "{what} must be refused: {}", r.text);
    assert_eq!(r.code(), "forbidden", "{what}: {}", r.text);
}

/// Like [`assert_forbidden`], but a dashboard page answers with its HTML refusal page instead of JSON.
fn assert_route_forbidden(what: &str, path: &str, r: &Raw) {
    if path.starts_with("/api/") {
        return assert_forbidden(what, r);
    }
    assert_eq!(r.status, 403, "{what} must be refused: {}", r.text);
    let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("text/html"), "{what}: a page refusal is HTML, got {content_type:?}");
    assert!(r.text.contains("Not allowed"), "{what}: {}", r.text);
}

// ---------------------------------------------------------------------------
// The two example routes, every forgery
// ---------------------------------------------------------------------------

/// `PATCH /api/v1/events/{id}` is refused (403, event and audit unchanged) for every missing, wrong or foreign token and every foreign or absent provenance.
#[tokio::test]
async fn forged_event_updates_are_refused_and_change_nothing() {
    let s = Setup::new().await;
    let before = s.env.snapshot().await;
    let name = s.event_name().await;
    for (what, headers) in s.forged_header_sets() {
        let r = s
            .as_alice(Method::PATCH, &s.event_path(), &pairs(&headers), Some(json!({ "name": "Pwned" })))
            .await;
        assert_forbidden(&what, &r);
    }
    assert_eq!(s.event_name().await, name, "the event is unchanged");
    assert_eq!(s.env.snapshot().await, before, "nothing at all changed");
    // Controls: the same request with our provenance and the right token works.
    let ours = s.url().to_string();
    for (what, headers) in [
        ("Origin", vec![("origin", ours.as_str()), ("x-csrf-token", s.token())]),
        ("Sec-Fetch-Site: same-origin", vec![("sec-fetch-site", "same-origin"), ("x-csrf-token", s.token())]),
        ("Sec-Fetch-Site: none", vec![("sec-fetch-site", "none"), ("x-csrf-token", s.token())]),
    ] {
        let r = s.as_alice(Method::PATCH, &s.event_path(), &headers, Some(json!({ "name": what }))).await;
        assert_eq!(r.status, 200, "control with {what}: {}", r.text);
        assert_eq!(s.event_name().await, what);
    }
}

/// `POST /api/v1/sessions/revoke-all` is refused (403, every session still live) for every forgery.
#[tokio::test]
async fn forged_sign_out_everywhere_is_refused_and_signs_nobody_out() {
    let s = Setup::new().await;
    let before = s.env.snapshot().await;
    assert_eq!(s.live_sessions_of_alice().await, 2);
    for (what, headers) in s.forged_header_sets() {
        let r = s.as_alice(Method::POST, "/api/v1/sessions/revoke-all", &pairs(&headers), None).await;
        assert_forbidden(&what, &r);
    }
    assert_eq!(s.live_sessions_of_alice().await, 2, "no session was revoked");
    assert_eq!(s.env.snapshot().await, before);
    assert_eq!(s.alice.get("/api/v1/me").await.status, 200);
    let ok = s.alice.post("/api/v1/sessions/revoke-all", Value::Null).await;
    assert_eq!(ok.status, 200, "control: {:?}", ok.json);
    assert_eq!(s.live_sessions_of_alice().await, 0);
}

/// The right token in a `csrf_token` field of an urlencoded form is accepted; a wrong or foreign one, another field name, a JSON body field or a cross-site form is refused.
#[tokio::test]
async fn the_token_may_come_as_a_form_field() {
    let s = Setup::new().await;
    let cookie = s.alice.cookie.clone().expect("cookie");
    let ours = s.url().to_string();
    let other = s.alice_other_session.csrf.clone().expect("csrf");
    for (what, origin, body) in [
        ("wrong form token", ours.as_str(), "csrf_token=nope".to_string()),
        ("another session's form token", ours.as_str(), format!("csrf_token={other}")),
        ("token under another field name", ours.as_str(), format!("csrf={}", s.token())),
        ("cross-site form", "https://evil.example", format!("csrf_token={}", s.token())),
    ] {
        assert_forbidden(what, &form_post(s.url(), &cookie, origin, body).await);
    }
    let json_body = raw(
        s.url(),
        Method::POST,
        "/api/v1/sessions/revoke-all",
        &[("cookie", &cookie), ("origin", &ours)],
        Some(("application/json", json!({ "csrf_token": s.token() }).to_string().into_bytes())),
    )
    .await;
    assert_forbidden("token in a JSON body", &json_body);
    assert_eq!(s.live_sessions_of_alice().await, 2, "nothing revoked so far");

    let ok = form_post(s.url(), &cookie, &ours, format!("other=1&csrf_token={}", s.token())).await;
    assert_eq!(ok.status, 200, "the right form token: {}", ok.text);
    assert_eq!(ok.json["revoked"], 2);
    assert_eq!(s.live_sessions_of_alice().await, 0);
}

/// Sign-in is refused (403, no cookie, no session, no audit row) from another site or without provenance.
#[tokio::test]
async fn sign_in_from_another_site_is_refused() {
    let env = Env::start().await;
    let before = env.snapshot().await;
    let body = json!({ "email": env.world.customer_a.1, "password": PASSWORD }).to_string().into_bytes();
    for (what, headers) in [
        ("cross-site Origin", vec![("origin", "https://evil.example")]),
        ("Origin: null", vec![("origin", "null")]),
        (
            "Sec-Fetch-Site: cross-site",
            vec![("sec-fetch-site", "cross-site"), ("origin", env.origin.url.as_str())],
        ),
        ("no provenance", vec![]),
    ] {
        let r = raw(
            &env.origin.url,
            Method::POST,
            "/api/v1/auth/login",
            &headers,
            Some(("application/json", body.clone())),
        )
        .await;
        assert_forbidden(what, &r);
        assert!(r.session_cookies().is_empty(), "{what}: no cookie");
    }
    assert_eq!(env.snapshot().await, before, "no session and no audit row");
    let ok = raw(
        &env.origin.url,
        Method::POST,
        "/api/v1/auth/login",
        &[("origin", &env.origin.url)],
        Some(("application/json", body)),
    )
    .await;
    assert_eq!(ok.status, 200, "control: {}", ok.text);
}

/// Reads need neither a token nor an `Origin`.
#[tokio::test]
async fn reads_need_no_token() {
    let s = Setup::new().await;
    for path in ["/api/v1/me", "/api/v1/events", &s.event_path(), "/api/v1/sessions", "/api/v1/audit"] {
        let r = s.as_alice(Method::GET, path, &[], None).await;
        assert_eq!(r.status, 200, "GET {path} with only the cookie: {}", r.text);
        let head = s.as_alice(Method::HEAD, path, &[], None).await;
        assert_eq!(head.status, 200, "HEAD {path}");
    }
}

// ---------------------------------------------------------------------------
// Every state-changing route in the route table
// ---------------------------------------------------------------------------

/// A concrete path for a route pattern, with ids from the world.
fn concrete(pattern: &str, w: &World, own_other_session: Uuid) -> String {
    let mut out = Vec::new();
    let mut previous = "";
    for segment in pattern.split('/') {
        let value = if segment.starts_with('{') {
            match (previous, segment) {
                ("sessions", "{id}") => own_other_session.to_string(),
                ("orgs", "{id}") => w.org_a.to_string(),
                ("events", "{id}") => w.event_a.to_string(),
                ("windows", "{window_id}") => w.window_a.to_string(),
                ("bands", "{band_id}") => w.band_a.clone(),
                ("users", "{id}") => w.customer_a.0.to_string(),
                _ => panic!("no test value for {segment} in {pattern}: add one"),
            }
        } else {
            segment.to_string()
        };
        previous = segment;
        out.push(value);
    }
    out.join("/")
}

/// Every state-changing route that needs a session refuses (403) a request without the token, and one with the token from another site; public ones refuse other sites; nothing changes.
#[tokio::test]
async fn every_state_changing_route_enforces_csrf() {
    let env = Env::start().await;
    let admin = env.admin().await;
    let admin_other = env.admin().await;
    let other_sid: Uuid = admin_other.get("/api/v1/me").await.json["session"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("session id");
    let cookie = admin.cookie.clone().expect("cookie");
    let token = admin.csrf.clone().expect("csrf");
    let ours = env.origin.url.clone();
    let before = env.snapshot().await;
    let mut checked = Vec::new();
    for route in routes::table() {
        if route.method == MethodSpec::Get || route.access == Access::Signed {
            continue;
        }
        let path = concrete(route.path, &env.world, other_sid);
        let method = route.method.method();
        let body = Some(("application/json", b"{}".to_vec()));
        let what = format!("{method} {}", route.path);
        match route.access {
            Access::Public => {
                for headers in [vec![("origin", "https://evil.example")], vec![]] {
                    let r = raw(&ours, method.clone(), &path, &headers, body.clone()).await;
                    assert_route_forbidden(&format!("{what} from another site ({headers:?})"), &path, &r);
                }
            }
            Access::MfaPending => {
                let r = raw(
                    &ours,
                    method.clone(),
                    &path,
                    &[("cookie", &cookie), ("origin", &ours)],
                    body.clone(),
                )
                .await;
                if path.starts_with("/api/") {
                    assert!(matches!(r.status, 401 | 403), "{what} without a token: {}", r.text);
                } else {
                    // A page sends a browser without a pending sign-in back to the sign-in form.
                    let location = r.headers.get("location").and_then(|v| v.to_str().ok());
                    assert!(
                        r.status == 403
                            || (r.status == 303 && location.is_some_and(|l| l.starts_with("/login"))),
                        "{what} without a token: {} {location:?} {}",
                        r.status,
                        r.text
                    );
                }
            }
            _ => {
                let cases: [(&str, Vec<(&str, &str)>); 3] = [
                    ("without a token", vec![("cookie", &cookie), ("origin", &ours)]),
                    (
                        "from another site",
                        vec![
                            ("cookie", &cookie),
                            ("origin", "https://evil.example"),
                            ("x-csrf-token", &token),
                        ],
                    ),
                    (
                        "with Sec-Fetch-Site: cross-site",
                        vec![("cookie", &cookie), ("sec-fetch-site", "cross-site"), ("x-csrf-token", &token)],
                    ),
                ];
                for (case, headers) in cases {
                    let r = raw(&ours, method.clone(), &path, &headers, body.clone()).await;
                    assert_route_forbidden(&format!("{what} {case}"), &path, &r);
                }
            }
        }
        checked.push(what);
    }
    assert!(checked.len() >= 20, "the route table was enumerated ({} state-changing routes)", checked.len());
    // The dashboard's delete and restore forms are among them (not skipped as reads or signed routes).
    for form in [
        "POST /events/{id}/delete",
        "POST /bands/{band_id}/delete",
        "POST /trash/events/{id}/restore",
        "POST /trash/bands/{band_id}/restore",
        "POST /trash/users/{id}/restore",
        "POST /trash/orgs/{id}/restore",
    ] {
        assert!(checked.iter().any(|c| c == form), "{form} was checked: {checked:?}");
    }
    assert_eq!(env.snapshot().await, before, "no forged request changed anything");
    assert_eq!(admin.get("/api/v1/me").await.status, 200, "the admin is still signed in");
    assert_eq!(admin_other.get("/api/v1/me").await.status, 200, "and so is their other session");
}

// ---------------------------------------------------------------------------
// The second step of sign-in
// ---------------------------------------------------------------------------

/// A real MFA-pending session (right password of an enrolled ADMIN) must present its own
/// CSRF token with the code: without it, with a wrong one, another session's, or from
/// another site, `POST /api/v1/auth/mfa` (and the dashboard's `/login/mfa` form) is a 403
/// that spends neither the code nor a failed attempt and starts no session; with it, the
/// very same code signs in.
#[tokio::test]
async fn the_second_factor_step_needs_the_pending_sessions_csrf_token() {
    let env = Env::start().await;
    let email = env.world.admin.1.clone();
    let admin = env.admin().await;
    let mut pending = env.anonymous();
    let login = pending.login(&email, PASSWORD).await;
    assert_eq!(login.json["stage"], "mfa_pending", "{:?}", login.json);
    let cookie = pending.cookie.clone().expect("pending cookie");
    let token = pending.csrf.clone().expect("the pending session has a CSRF token");
    let full_session_token = admin.csrf.clone().expect("csrf");
    assert_ne!(token, full_session_token);
    let ours = env.origin.url.clone();
    let code = env.next_code(&email).await;
    let body = Some(("application/json", json!({ "code": code }).to_string().into_bytes()));
    let failures = || async {
        sqlx::query_scalar::<_, i32>("SELECT failed_logins FROM users WHERE id = $1")
            .bind(env.world.admin.0)
            .fetch_one(&env.db.pool)
            .await
            .expect("failures")
    };
    let before = env.snapshot().await;

    let wrong = "A".repeat(token.len());
    let cases: [(&str, Vec<(&str, &str)>); 7] = [
        ("no token", vec![("cookie", &cookie), ("origin", &ours)]),
        ("an empty token", vec![("cookie", &cookie), ("origin", &ours), ("x-csrf-token", "")]),
        ("a wrong token", vec![("cookie", &cookie), ("origin", &ours), ("x-csrf-token", &wrong)]),
        (
            "the truncated token",
            vec![("cookie", &cookie), ("origin", &ours), ("x-csrf-token", &token[..token.len() - 1])],
        ),
        (
            "the full session's token of the same user",
            vec![("cookie", &cookie), ("origin", &ours), ("x-csrf-token", &full_session_token)],
        ),
        (
            "the right token from another site",
            vec![("cookie", &cookie), ("origin", "https://evil.example"), ("x-csrf-token", &token)],
        ),
        ("the right token without provenance", vec![("cookie", &cookie), ("x-csrf-token", &token)]),
    ];
    for (what, headers) in cases {
        let r = raw(&ours, Method::POST, "/api/v1/auth/mfa", &headers, body.clone()).await;
        assert_forbidden(what, &r);
        assert!(r.session_cookies().is_empty(), "{what}: no session cookie");
    }
    // The dashboard form, with a wrong or no `csrf_token` field.
    for (what, form) in [
        ("form without a token", format!("code={code}")),
        ("form with a wrong token", format!("csrf_token={wrong}&code={code}")),
        ("form with the full session's token", format!("csrf_token={full_session_token}&code={code}")),
    ] {
        let r = raw(
            &ours,
            Method::POST,
            "/login/mfa",
            &[("cookie", &cookie), ("origin", &ours)],
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
        )
        .await;
        assert_route_forbidden(what, "/login/mfa", &r);
        assert!(r.session_cookies().is_empty(), "{what}: no session cookie");
    }
    assert_eq!(failures().await, 0, "a refused request is not a wrong code");
    assert_eq!(env.snapshot().await, before, "no session, no audit row, the code's step not spent");

    let headers = [("cookie", cookie.as_str()), ("origin", ours.as_str()), ("x-csrf-token", token.as_str())];
    let ok = raw(&ours, Method::POST, "/api/v1/auth/mfa", &headers, body).await;
    assert_eq!(ok.status, 200, "the right token and the same code: {}", ok.text);
    assert_eq!(ok.session_cookies().len(), 1, "a full session");
    assert_eq!(ok.json["stage"], "full");
}
