//! The authorization matrix: every route × every kind of caller.
//!
//! The routes come from the router's own table (`origin_api::http::routes`),
//! and each must have an entry in [`MATRIX`]: a new route without one fails
//! this suite. Callers: anonymous, CUSTOMER of org A, CUSTOMER of org B (on
//! org A's resources), ADMIN (with MFA), ADMIN without MFA, a session still
//! owing its second factor, a deactivated user, a revoked session, an
//! expired token.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Duration, TimeZone};
use origin_api::auth::jwt::{JwtKeys, SessionClaims, TTL_MINUTES};
use origin_api::auth::session::IDLE_MINUTES;
use origin_api::clock::{Clock, ManualClock};
use origin_api::domain::actor::{Actor, Role};
use origin_api::domain::bands::{BandStatus, NewBand};
use origin_api::domain::events::{NewEvent, NewWindow};
use origin_api::domain::orgs::NewOrg;
use origin_api::domain::users::NewUser;
use origin_api::http::routes::{MethodSpec, table};
use reqwest::StatusCode;
use serde_json::{Value, json};
use system_tests::api::{Answer, ApiClient};
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::world::{self, PASSWORD, World};
use system_tests::{keys, unix_now};

/// What a route is, for authorization purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Anyone.
    Public,
    /// Only HMAC-signed edge requests.
    Signed,
    /// The second sign-in step.
    Pending,
    /// Signed-in users, even before enrolling MFA.
    Enrol,
    /// Any signed-in user, about themselves (not an organisation's data).
    Own,
    /// A tenant's resource (org A's): CUSTOMER A yes, CUSTOMER B gets 404.
    Tenant,
    /// ADMIN only.
    Admin,
    /// Only the metrics scraper's bearer token: no session opens it.
    Scraper,
}

const MATRIX: &[(&str, Kind)] = &[
    ("GET /healthz", Kind::Public),
    ("GET /readyz", Kind::Public),
    ("GET /metrics", Kind::Scraper),
    ("POST /internal/v1/taps", Kind::Signed),
    ("GET /internal/v1/bands/{id}", Kind::Signed),
    ("POST /api/v1/auth/login", Kind::Public),
    ("POST /api/v1/auth/password-reset", Kind::Public),
    ("POST /api/v1/auth/password-reset/complete", Kind::Public),
    ("POST /api/v1/auth/mfa", Kind::Pending),
    ("POST /api/v1/auth/step-up", Kind::Own),
    ("POST /api/v1/auth/logout", Kind::Enrol),
    ("GET /api/v1/me", Kind::Enrol),
    ("POST /api/v1/me/password", Kind::Own),
    ("GET /api/v1/me/mfa", Kind::Enrol),
    ("POST /api/v1/me/mfa/enrol", Kind::Enrol),
    ("POST /api/v1/me/mfa/confirm", Kind::Enrol),
    ("POST /api/v1/me/mfa/recovery-codes", Kind::Own),
    ("POST /api/v1/me/mfa/disable", Kind::Own),
    ("GET /api/v1/sessions", Kind::Own),
    ("DELETE /api/v1/sessions/{id}", Kind::Own),
    ("POST /api/v1/sessions/revoke-all", Kind::Own),
    ("GET /api/v1/orgs", Kind::Own),
    ("POST /api/v1/orgs", Kind::Admin),
    ("GET /api/v1/orgs/{id}", Kind::Tenant),
    ("PATCH /api/v1/orgs/{id}", Kind::Tenant),
    ("GET /api/v1/events", Kind::Own),
    ("POST /api/v1/events", Kind::Tenant),
    ("GET /api/v1/events/{id}", Kind::Tenant),
    ("PATCH /api/v1/events/{id}", Kind::Tenant),
    ("DELETE /api/v1/events/{id}", Kind::Tenant),
    ("POST /api/v1/events/{id}/restore", Kind::Tenant),
    ("GET /api/v1/events/{id}/windows", Kind::Tenant),
    ("POST /api/v1/events/{id}/windows", Kind::Tenant),
    ("DELETE /api/v1/events/{id}/windows/{window_id}", Kind::Tenant),
    ("GET /api/v1/events/{id}/bands", Kind::Tenant),
    ("POST /api/v1/events/{id}/bands/import", Kind::Tenant),
    ("GET /api/v1/events/{id}/analytics", Kind::Tenant),
    ("GET /api/v1/bands/{band_id}", Kind::Tenant),
    ("PATCH /api/v1/bands/{band_id}", Kind::Tenant),
    ("DELETE /api/v1/bands/{band_id}", Kind::Tenant),
    ("POST /api/v1/bands/{band_id}/restore", Kind::Tenant),
    ("GET /api/v1/trash", Kind::Own),
    ("DELETE /api/v1/users/{id}", Kind::Admin),
    ("DELETE /api/v1/orgs/{id}", Kind::Admin),
    ("POST /api/v1/orgs/{id}/restore", Kind::Admin),
    ("POST /api/v1/users/{id}/restore", Kind::Admin),
    ("GET /api/v1/users", Kind::Admin),
    ("POST /api/v1/users", Kind::Admin),
    ("GET /api/v1/users/{id}", Kind::Admin),
    ("PATCH /api/v1/users/{id}", Kind::Admin),
    ("POST /api/v1/users/{id}/deactivate", Kind::Admin),
    ("POST /api/v1/users/{id}/reactivate", Kind::Admin),
    ("POST /api/v1/users/{id}/mfa/reset", Kind::Admin),
    ("GET /api/v1/audit", Kind::Own),
    // Dashboard pages.
    ("GET /", Kind::Public),
    ("GET /static/app.css", Kind::Public),
    ("GET /static/app.js", Kind::Public),
    ("GET /login", Kind::Public),
    ("POST /login", Kind::Public),
    ("GET /forgot-password", Kind::Public),
    ("POST /forgot-password", Kind::Public),
    ("GET /reset-password", Kind::Public),
    ("POST /reset-password", Kind::Public),
    ("GET /login/mfa", Kind::Pending),
    ("POST /login/mfa", Kind::Pending),
    ("GET /mfa/enrol", Kind::Enrol),
    ("POST /mfa/enrol", Kind::Enrol),
    ("POST /logout", Kind::Enrol),
    ("GET /events", Kind::Own),
    ("GET /events/new", Kind::Own),
    ("POST /events", Kind::Tenant),
    ("GET /events/{id}", Kind::Tenant),
    ("POST /events/{id}", Kind::Tenant),
    ("POST /events/{id}/windows", Kind::Tenant),
    ("POST /events/{id}/windows/{window_id}/delete", Kind::Tenant),
    ("POST /events/{id}/delete", Kind::Tenant),
    ("GET /events/{id}/sync", Kind::Tenant),
    ("GET /events/{id}/recent", Kind::Tenant),
    ("GET /events/{id}/bands", Kind::Tenant),
    ("POST /events/{id}/bands/import", Kind::Tenant),
    ("POST /bands/{band_id}", Kind::Tenant),
    ("POST /bands/{band_id}/delete", Kind::Tenant),
    ("GET /events/{id}/analytics", Kind::Tenant),
    ("GET /events/{id}/analytics.csv", Kind::Tenant),
    ("GET /trash", Kind::Own),
    ("POST /trash/events/{id}/restore", Kind::Tenant),
    ("POST /trash/bands/{band_id}/restore", Kind::Tenant),
    ("POST /trash/users/{id}/restore", Kind::Admin),
    ("POST /trash/orgs/{id}/restore", Kind::Admin),
    ("GET /account", Kind::Own),
    ("POST /account/password", Kind::Own),
    ("POST /account/step-up", Kind::Own),
    ("POST /account/recovery-codes", Kind::Own),
    ("POST /account/mfa/disable", Kind::Own),
    ("POST /account/sessions/{id}/revoke", Kind::Own),
    ("POST /account/sessions/revoke-others", Kind::Own),
    ("GET /audit", Kind::Admin),
    ("GET /users", Kind::Admin),
    ("POST /users", Kind::Admin),
    ("POST /users/{id}", Kind::Admin),
    ("POST /users/{id}/deactivate", Kind::Admin),
    ("POST /users/{id}/reactivate", Kind::Admin),
    ("POST /users/{id}/mfa-reset", Kind::Admin),
];

/// Dashboard pages answer refusals for people: a redirect to sign in (or to
/// enrol), an HTML error page; the API answers JSON.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/internal/")
        || matches!(path, "/healthz" | "/readyz" | "/metrics"))
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    Anonymous,
    CustomerA,
    CustomerB,
    Admin,
    AdminWithoutMfa,
    MfaPending,
    Deactivated,
    Revoked,
    ExpiredToken,
}

const CALLERS: [Caller; 9] = [
    Caller::Anonymous,
    Caller::CustomerA,
    Caller::CustomerB,
    Caller::Admin,
    Caller::AdminWithoutMfa,
    Caller::MfaPending,
    Caller::Deactivated,
    Caller::Revoked,
    Caller::ExpiredToken,
];

/// What a caller must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past authorization: anything but 401/403/404.
    Allowed,
    /// 401.
    Unauthenticated,
    /// 403 (`code`).
    Forbidden(&'static str),
    /// 404: another tenant's resource looks like no resource.
    NotFound,
}

fn expected(kind: Kind, caller: Caller) -> Expect {
    use Caller::*;
    use Expect::*;
    match kind {
        Kind::Public => Allowed,
        Kind::Signed | Kind::Scraper => Unauthenticated,
        Kind::Pending => {
            if caller == MfaPending {
                Allowed
            } else {
                Unauthenticated
            }
        }
        _ => match caller {
            Anonymous | MfaPending | Deactivated | Revoked | ExpiredToken => Unauthenticated,
            AdminWithoutMfa if kind == Kind::Enrol => Allowed,
            AdminWithoutMfa => Forbidden("mfa_enrolment_required"),
            Admin => Allowed,
            CustomerA => match kind {
                Kind::Admin => Forbidden("forbidden"),
                _ => Allowed,
            },
            CustomerB => match kind {
                Kind::Admin => Forbidden("forbidden"),
                Kind::Tenant => NotFound,
                _ => Allowed,
            },
        },
    }
}

struct Fixture {
    origin: Origin,
    world: World,
    spare_user: uuid::Uuid,
    jwt: JwtKeys,
    admin_secret: Vec<u8>,
    clock: Arc<ManualClock>,
}

impl Fixture {
    /// A client for `caller`, signed in afresh (some routes end the session they run in).
    async fn client(&self, caller: Caller) -> ApiClient {
        let w = &self.world;
        let origin = &self.origin;
        let mut c = ApiClient::new(&origin.url);
        // Sign-ins from one IP are throttled (20 per 5 minutes); the matrix signs in
        // often, so time moves on by one refill interval per sign-in.
        self.clock.advance(Duration::seconds(15));
        match caller {
            Caller::Anonymous => {}
            Caller::CustomerA => assert_eq!(c.login(&w.customer_a.1, PASSWORD).await.status, 200),
            Caller::CustomerB => assert_eq!(c.login(&w.customer_b.1, PASSWORD).await.status, 200),
            Caller::Admin => {
                // A code is accepted once per step: each admin sign-in happens a step later.
                self.clock.advance(Duration::seconds(30));
                let answer =
                    c.login_mfa(&w.admin.1, PASSWORD, &self.admin_secret, self.clock.now().timestamp()).await;
                assert_eq!(answer.status, StatusCode::OK, "admin MFA: {:?}", answer.json);
            }
            Caller::AdminWithoutMfa => {
                assert_eq!(c.login("bare.admin@example.com", PASSWORD).await.status, 200)
            }
            Caller::MfaPending => {
                let a = c.login("pending@example.com", PASSWORD).await;
                assert_eq!(a.json["stage"], "mfa_pending");
            }
            Caller::Deactivated => {
                // A session from before the deactivation, held while the user is deactivated.
                let id: uuid::Uuid =
                    sqlx::query_scalar("SELECT id FROM users WHERE email = 'soon.gone@example.com'")
                        .fetch_one(&origin.domain().db)
                        .await
                        .unwrap();
                origin.domain().set_user_active(&Actor::cli(), id, true).await.unwrap();
                assert_eq!(c.login("soon.gone@example.com", PASSWORD).await.status, 200);
                origin.domain().set_user_active(&Actor::cli(), id, false).await.unwrap();
            }
            Caller::Revoked => {
                c.login(&w.customer_a.1, PASSWORD).await;
                let other = c.clone();
                assert_eq!(other.post("/api/v1/auth/logout", Value::Null).await.status, 204);
            }
            Caller::ExpiredToken => {
                c.login(&w.customer_a.1, PASSWORD).await;
                let me = c.get("/api/v1/me").await;
                let sid: uuid::Uuid = me.json["session"]["id"].as_str().unwrap().parse().unwrap();
                // A live session's token expired within the idle timeout is renewed, so
                // this one expired longer ago than that.
                let token = self.jwt.issue(
                    SessionClaims { sid, sub: w.customer_a.0 },
                    self.clock.now() - Duration::minutes(TTL_MINUTES + IDLE_MINUTES + 1),
                );
                c.cookie = Some(format!("sm_session={token}"));
            }
        }
        c
    }

    /// The concrete path for a route pattern, creating throwaway resources where needed.
    async fn concrete(&self, method: MethodSpec, pattern: &str, client: &ApiClient) -> String {
        let w = &self.world;
        let mut path = pattern.to_string();
        // Deleting and restoring act on throwaway resources of org A, so the rest of the matrix keeps its own.
        let cli = Actor::cli();
        let domain = self.origin.domain();
        match (method, pattern) {
            (
                MethodSpec::Delete | MethodSpec::Post,
                "/api/v1/events/{id}"
                | "/api/v1/events/{id}/restore"
                | "/events/{id}/delete"
                | "/trash/events/{id}/restore",
            ) => {
                let event = domain
                    .create_event(
                        &cli,
                        NewEvent { org_id: w.org_a, name: "Throwaway".into(), ..Default::default() },
                    )
                    .await
                    .unwrap();
                if pattern.ends_with("/restore") {
                    domain.delete_event(&cli, event.id).await.unwrap();
                }
                return pattern.replace("{id}", &event.id.to_string());
            }
            (
                MethodSpec::Delete | MethodSpec::Post,
                "/api/v1/bands/{band_id}"
                | "/api/v1/bands/{band_id}/restore"
                | "/bands/{band_id}/delete"
                | "/trash/bands/{band_id}/restore",
            ) => {
                let id =
                    format!("TMP{}", uuid::Uuid::new_v4().simple().to_string()[..12].to_ascii_uppercase());
                let band_id = shared::BandId::parse(&id).unwrap();
                let band = NewBand {
                    line: 2,
                    band_id: band_id.clone(),
                    label: String::new(),
                    status: BandStatus::Active,
                    override_url: None,
                };
                domain.import_bands(&cli, w.event_a, vec![band], Vec::new()).await.unwrap();
                if pattern.ends_with("/restore") {
                    domain.delete_band(&cli, &band_id).await.unwrap();
                }
                return pattern.replace("{band_id}", &id);
            }
            (
                MethodSpec::Delete | MethodSpec::Post,
                "/api/v1/orgs/{id}" | "/api/v1/orgs/{id}/restore" | "/trash/orgs/{id}/restore",
            ) => {
                let name = format!("Throwaway {}", uuid::Uuid::new_v4().simple());
                let org = domain.create_org(&cli, NewOrg { name, slug: None }).await.unwrap();
                if pattern.ends_with("/restore") {
                    domain.delete_org(&cli, org.id).await.unwrap();
                }
                return pattern.replace("{id}", &org.id.to_string());
            }
            (
                MethodSpec::Delete | MethodSpec::Post,
                "/api/v1/users/{id}" | "/api/v1/users/{id}/restore" | "/trash/users/{id}/restore",
            ) => {
                let user = domain
                    .create_user(
                        &cli,
                        NewUser {
                            email: format!("tmp-{}@example.com", uuid::Uuid::new_v4().simple()),
                            name: "Throwaway".into(),
                            role: Role::Customer,
                            org_id: Some(w.org_a),
                            password: "quiet harbour lantern morning".to_string().into(),
                        },
                    )
                    .await
                    .unwrap();
                if pattern.ends_with("/restore") {
                    domain.delete_user(&cli, user.id).await.unwrap();
                }
                return pattern.replace("{id}", &user.id.to_string());
            }
            _ => {}
        }
        if path.contains("{window_id}") {
            let start = self.clock.now() + Duration::days(30 + rand::random::<u16>() as i64);
            let window = self
                .origin
                .domain()
                .add_window(
                    &Actor::cli(),
                    w.event_a,
                    NewWindow {
                        label: "tmp".into(),
                        url: "https://example.com/t".into(),
                        starts_at: start,
                        ends_at: start + Duration::minutes(1),
                    },
                )
                .await
                .unwrap();
            path = path.replace("{window_id}", &window.id.to_string());
        }
        if pattern.starts_with("/api/v1/sessions/{id}") || pattern.starts_with("/account/sessions/{id}") {
            let own = client.get("/api/v1/me").await.json["session"]["id"].as_str().map(str::to_string);
            path = path.replace("{id}", &own.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()));
        }
        path.replace("/events/{id}", &format!("/events/{}", w.event_a))
            .replace("/orgs/{id}", &format!("/orgs/{}", w.org_a))
            .replace("/users/{id}", &format!("/users/{}", self.spare_user))
            .replace("/internal/v1/bands/{id}", &format!("/internal/v1/bands/{}", w.band_a))
            .replace("{band_id}", &w.band_a)
    }
}

/// A well-formed body, so that authorization (not body parsing) decides the answer.
fn body_for(method: MethodSpec, pattern: &str, w: &World, now: chrono::DateTime<chrono::Utc>) -> Value {
    match (method, pattern) {
        (MethodSpec::Get | MethodSpec::Delete, _) => Value::Null,
        (_, "/api/v1/events") => json!({ "org_id": w.org_a, "name": "Matrix" }),
        (_, "/api/v1/events/{id}/windows") => {
            let start = now + Duration::days(400 + rand::random::<u16>() as i64);
            json!({ "url": "https://example.com/w", "starts_at": start, "ends_at": start + Duration::minutes(1) })
        }
        _ => json!({}),
    }
}

/// Fields for a page's form, well-formed enough that authorization and
/// tenancy (not form parsing) decide the answer.
fn form_for(pattern: &str, w: &World, now: chrono::DateTime<chrono::Utc>) -> Vec<(&'static str, String)> {
    let local = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    match pattern {
        "/events" => {
            vec![("org_id", w.org_a.to_string()), ("name", "Matrix page".into()), ("timezone", "UTC".into())]
        }
        "/events/{id}" => vec![
            ("name", "Event A".into()),
            ("timezone", "UTC".into()),
            ("default_url", "https://example.com/a".into()),
            ("fallback_url", "https://example.com/fallback".into()),
            ("status", "active".into()),
        ],
        "/events/{id}/windows" => {
            let start = now + Duration::days(1000 + rand::random::<u16>() as i64);
            vec![
                ("label", "Matrix".into()),
                ("url", "https://example.com/w".into()),
                ("starts_at", local(start)),
                ("ends_at", local(start + Duration::minutes(5))),
            ]
        }
        "/bands/{band_id}" => {
            vec![("status", "active".into()), ("override_url", String::new()), ("label", String::new())]
        }
        _ => Vec::new(),
    }
}

/// Every answer, allowed or refused, carries the shared security headers (the edge's list) and a CSP.
fn check_security_headers(answer: &Answer, what: &str) {
    for (name, value) in shared::security_headers::SECURITY_HEADERS {
        assert_eq!(
            answer.headers.get(*name).and_then(|v| v.to_str().ok()),
            Some(*value),
            "{what}: header {name}"
        );
    }
    let csp = answer.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp:?}");
    assert!(!csp.contains("unsafe-eval") && !csp.contains("unsafe-inline"), "{what}: CSP {csp:?}");
    // HSTS only in production (over HTTPS): never pinned onto a development host.
    assert!(answer.headers.get("strict-transport-security").is_none(), "{what}: HSTS in development");
}

fn check_page(answer: &Answer, expect: Expect, what: &str) {
    let status = answer.status.as_u16();
    let location = answer.location().unwrap_or("");
    match expect {
        Expect::Allowed => assert!(
            !matches!(status, 401 | 403 | 404)
                && status < 500
                && !location.starts_with("/login?next=")
                && location != "/mfa/enrol",
            "{what}: expected to pass authorization, got {status} {location}"
        ),
        Expect::Unauthenticated => {
            assert!(status == 303 && location.starts_with("/login?next="), "{what}: {status} {location}")
        }
        Expect::Forbidden("mfa_enrolment_required") => {
            assert!(status == 303 && location == "/mfa/enrol", "{what}: {status} {location}")
        }
        Expect::Forbidden(_) => assert_eq!(status, 403, "{what}"),
        Expect::NotFound => assert_eq!(status, 404, "{what}"),
    }
    if status >= 400 {
        assert!(answer.text.contains("<html"), "{what}: a refusal on a page is a page: {}", answer.text);
    }
}

fn check(answer: &Answer, expect: Expect, what: &str) {
    let status = answer.status.as_u16();
    match expect {
        // A step-up demand is a business rule past authorization (the caller may act once they re-prove).
        Expect::Allowed => assert!(
            !matches!(status, 401 | 404)
                && status < 500
                && (status != 403 || answer.code() == "step_up_required"),
            "{what}: expected to pass authorization, got {status} {:?}",
            answer.json
        ),
        Expect::Unauthenticated => assert_eq!(status, 401, "{what}: {:?}", answer.json),
        Expect::Forbidden(code) => {
            assert_eq!((status, answer.code()), (403, code), "{what}: {:?}", answer.json)
        }
        Expect::NotFound => {
            assert_eq!((status, answer.code()), (404, "not_found"), "{what}: {:?}", answer.json)
        }
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_matrix_says() {
    let db = TestDb::new().await;
    let mut options = OriginOptions { jwt_keys: keys::random_key_spec("jwt"), ..OriginOptions::default() };
    options.extra.push(("METRICS_TOKEN", format!("scrape-{}", uuid::Uuid::new_v4().simple())));
    let jwt = JwtKeys::new(keys::keyring(&options.jwt_keys));
    let clock = Arc::new(ManualClock::new(chrono::Utc.timestamp_opt(unix_now() / 30 * 30, 0).unwrap()));
    let origin = Origin::start_with_clock(&db, options, clock.clone() as Arc<dyn Clock>).await;
    let w = world::build(origin.domain()).await;
    let domain = origin.domain();
    let user = |email: &'static str, role: Role, org: Option<uuid::Uuid>| NewUser {
        email: email.into(),
        name: "Matrix Person".into(),
        role,
        org_id: org,
        password: PASSWORD.to_string().into(),
    };
    domain.create_user(&Actor::cli(), user("bare.admin@example.com", Role::Admin, None)).await.unwrap();
    domain
        .create_user(&Actor::cli(), user("soon.gone@example.com", Role::Customer, Some(w.org_a)))
        .await
        .unwrap();
    domain
        .create_user(&Actor::cli(), user("pending@example.com", Role::Customer, Some(w.org_a)))
        .await
        .unwrap();
    let spare_user = domain
        .create_user(&Actor::cli(), user("spare@example.com", Role::Customer, Some(w.org_a)))
        .await
        .unwrap()
        .id;
    let mut pending = ApiClient::new(&origin.url);
    pending.login("pending@example.com", PASSWORD).await;
    pending.enrol_mfa(clock.now().timestamp()).await;
    let mut admin = ApiClient::new(&origin.url);
    admin.login(&w.admin.1, PASSWORD).await;
    let (admin_secret, _) = admin.enrol_mfa(clock.now().timestamp()).await;
    let fixture = Fixture { origin, world: w.clone(), spare_user, jwt, admin_secret, clock: clock.clone() };

    // Every route has an entry, and every entry is a route.
    let routes: BTreeSet<String> =
        table().iter().map(|r| format!("{} {}", r.method.method(), r.path)).collect();
    let entries: HashMap<&str, Kind> = MATRIX.iter().copied().collect();
    for route in &routes {
        assert!(entries.contains_key(route.as_str()), "route {route} has no authorization-matrix entry");
    }
    for entry in entries.keys() {
        assert!(routes.contains(*entry), "matrix entry {entry} is not a route any more");
    }

    let mut checked = 0;
    for caller in CALLERS {
        let mut client = fixture.client(caller).await;
        for route in table() {
            let key = format!("{} {}", route.method.method(), route.path);
            let kind = entries[key.as_str()];
            let path = fixture.concrete(route.method, route.path, &client).await;
            let what = format!("{caller:?} {} {path}", route.method.method());
            if is_page(route.path) {
                let answer = match route.method {
                    MethodSpec::Get => client.get(&path).await,
                    _ if route.path.ends_with("/bands/import") => {
                        client.send_upload(&path, "bands.csv", b"band_id\nMATRIX0001\n").await
                    }
                    _ => {
                        let fields = form_for(route.path, &w, clock.now());
                        let fields: Vec<(&str, &str)> =
                            fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        client.send_form(&path, &fields).await
                    }
                };
                check_page(&answer, expected(kind, caller), &what);
                check_security_headers(&answer, &what);
            } else {
                let answer = client
                    .send(route.method.method(), &path, body_for(route.method, route.path, &w, clock.now()))
                    .await;
                check(&answer, expected(kind, caller), &what);
                check_security_headers(&answer, &what);
            }
            checked += 1;
            // Some routes end or change the session they ran in: start a fresh one for the next route.
            if matches!(
                route.path,
                "/api/v1/auth/logout"
                    | "/api/v1/sessions/revoke-all"
                    | "/api/v1/sessions/{id}"
                    | "/api/v1/auth/mfa"
                    | "/api/v1/me/password"
                    | "/logout"
                    | "/account/sessions/{id}/revoke"
            ) {
                client = fixture.client(caller).await;
            }
        }
    }
    assert_eq!(checked, routes.len() * CALLERS.len());
}
