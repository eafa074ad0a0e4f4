//! Sign-in: lockout, enumeration resistance, legacy bcrypt upgrade, per-IP
//! throttling, and the password policy at account creation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use origin_api::clock::{Clock, ManualClock};
use origin_api::domain::DomainError;
use origin_api::domain::actor::{Actor, Role};
use origin_api::domain::orgs::NewOrg;
use origin_api::domain::users::NewUser;
use rand::Rng;
use serde_json::json;
use system_tests::api::{Answer, ApiClient, set_cookie};
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use uuid::Uuid;

/// A strong password for users made here.
const GOOD: &str = "lantern quiver basalt meadow";
/// A wrong one.
const WRONG: &str = "granite teapot orchard lullaby";

/// Sends sign-in attempts, optionally as if forwarded for another client.
struct Door {
    base: String,
    client: reqwest::Client,
}

impl Door {
    fn new(origin: &Origin) -> Self {
        Self { base: origin.url.clone(), client: system_tests::http::client() }
    }

    async fn login_via(&self, email: &str, password: &str, forwarded_for: Option<&str>) -> Answer {
        let mut req = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .header("origin", &self.base)
            .json(&json!({ "email": email, "password": password }));
        if let Some(ip) = forwarded_for {
            req = req.header("x-forwarded-for", ip);
        }
        ApiClient::read(req.send().await.expect("login request")).await
    }

    async fn login(&self, email: &str, password: &str) -> Answer {
        self.login_via(email, password, None).await
    }
}

async fn org(origin: &Origin, name: &str) -> Uuid {
    origin.domain().create_org(&Actor::cli(), NewOrg { name: name.into(), slug: None }).await.expect("org").id
}

async fn new_user(
    origin: &Origin,
    email: &str,
    name: &str,
    org_id: Uuid,
    password: &str,
) -> Result<Uuid, DomainError> {
    origin
        .domain()
        .create_user(
            &Actor::cli(),
            NewUser {
                email: email.into(),
                name: name.into(),
                role: Role::Customer,
                org_id: Some(org_id),
                password: password.to_string().into(),
            },
        )
        .await
        .map(|u| u.id)
}

async fn user(origin: &Origin, email: &str, org_id: Uuid) -> Uuid {
    new_user(origin, email, "Robin Example", org_id, GOOD).await.expect("create user")
}

async fn audit_count(db: &TestDb, action: &str, user: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2")
        .bind(action)
        .bind(user.to_string())
        .fetch_one(&db.pool)
        .await
        .expect("audit count")
}

async fn lock_state(db: &TestDb, user: Uuid) -> (i32, Option<DateTime<Utc>>) {
    sqlx::query_as("SELECT failed_logins, locked_until FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&db.pool)
        .await
        .expect("lock state")
}

async fn stored_hash(db: &TestDb, user: Uuid) -> (String, String) {
    sqlx::query_as("SELECT password_hash, password_scheme FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&db.pool)
        .await
        .expect("hash")
}

fn assert_invalid(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {:?}", answer.json);
    assert_eq!(answer.code(), "invalid_credentials", "{what}: {:?}", answer.json);
    assert!(set_cookie(&answer.headers).is_none(), "{what}: a failed sign-in must not set a session cookie");
}

fn frozen_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc::now().trunc_subsecs(0)))
}

fn random_password(len: usize) -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

/// Four failures then the right password signs in and resets the failure counter.
#[tokio::test]
async fn four_failures_then_the_right_password_signs_in_and_resets_the_counter() {
    let db = TestDb::new().await;
    let clock = frozen_clock();
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), clock.clone()).await;
    let org_id = org(&origin, "Counter Org").await;
    let id = user(&origin, "counter@example.com", org_id).await;
    let door = Door::new(&origin);

    for round in 0..2 {
        for i in 1..=4 {
            assert_invalid(
                &door.login("counter@example.com", WRONG).await,
                &format!("round {round} failure {i}"),
            );
        }
        assert_eq!(lock_state(&db, id).await, (4, None), "round {round}: four failures counted, no lock");
        let ok = door.login("counter@example.com", GOOD).await;
        assert_eq!(ok.status, 200, "round {round}: the 5th attempt, right password, signs in: {:?}", ok.json);
        assert!(set_cookie(&ok.headers).is_some());
        // Had the counter not been reset, the next round's first failure would be the fifth and lock.
        assert_eq!(lock_state(&db, id).await, (0, None), "round {round}: success resets the counter");
    }
    assert_eq!(audit_count(&db, "auth.lockout", id).await, 0);
    assert_eq!(audit_count(&db, "auth.login_failed", id).await, 8, "each failure is an audit row");
    assert_eq!(audit_count(&db, "auth.login_succeeded", id).await, 2);
}

/// Five failures lock the account for 15 minutes (right password refused alike), across a restart; lock and unlock are audited.
#[tokio::test]
async fn five_failures_lock_for_fifteen_minutes_even_across_a_restart() {
    let db = TestDb::new().await;
    let clock = frozen_clock();
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), clock.clone()).await;
    let org_id = org(&origin, "Lock Org").await;
    let id = user(&origin, "locked@example.com", org_id).await;
    let door = Door::new(&origin);

    let locked_at = clock.now();
    let mut wrong_bodies = Vec::new();
    for i in 1..=5 {
        let a = door.login("locked@example.com", WRONG).await;
        assert_invalid(&a, &format!("failure {i}"));
        wrong_bodies.push(a.json);
    }
    let (failures, until) = lock_state(&db, id).await;
    assert_eq!(
        until,
        Some(locked_at + chrono::Duration::minutes(15)),
        "locked for 15 minutes (failures {failures})"
    );
    assert_eq!(audit_count(&db, "auth.lockout", id).await, 1, "the lockout is an audit row");

    let refused = door.login("locked@example.com", GOOD).await;
    assert_invalid(&refused, "right password while locked");
    assert_eq!(
        without_request_id(&refused.json),
        without_request_id(&wrong_bodies[0]),
        "a locked account answers exactly like a wrong password"
    );
    assert_eq!(audit_count(&db, "auth.login_locked", id).await, 1);

    // A restart (new process, same database) keeps the lock.
    let options = origin.options.clone();
    drop(door);
    drop(origin);
    let origin = Origin::start_with_clock(&db, options, clock.clone()).await;
    let door = Door::new(&origin);
    assert_invalid(
        &door.login("locked@example.com", GOOD).await,
        "right password after a restart, still locked",
    );

    clock.set(locked_at + chrono::Duration::minutes(14) + chrono::Duration::seconds(59));
    assert_invalid(&door.login("locked@example.com", GOOD).await, "right password at 14:59");
    assert_eq!(audit_count(&db, "auth.account_unlocked", id).await, 0);

    clock.set(locked_at + chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let ok = door.login("locked@example.com", GOOD).await;
    assert_eq!(ok.status, 200, "right password at 15:01 signs in: {:?}", ok.json);
    assert_eq!(audit_count(&db, "auth.account_unlocked", id).await, 1, "the unlock is an audit row");
    assert_eq!(lock_state(&db, id).await, (0, None));
    assert_eq!(audit_count(&db, "auth.lockout", id).await, 1);
}

/// Concurrent wrong passwords lock the account exactly once (attempts are serialised in Postgres).
#[tokio::test]
async fn concurrent_failures_lock_exactly_once() {
    let db = TestDb::new().await;
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), frozen_clock()).await;
    let org_id = org(&origin, "Race Org").await;
    let id = user(&origin, "race@example.com", org_id).await;
    let door = Arc::new(Door::new(&origin));
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let door = Arc::clone(&door);
            tokio::spawn(async move { door.login("race@example.com", WRONG).await })
        })
        .collect();
    for a in attempts {
        assert_invalid(&a.await.expect("task"), "concurrent failure");
    }
    assert_eq!(audit_count(&db, "auth.lockout", id).await, 1);
    assert_eq!(audit_count(&db, "auth.login_failed", id).await, 4);
    assert_eq!(audit_count(&db, "auth.login_locked", id).await, 5);
    assert!(lock_state(&db, id).await.1.is_some());
    assert_invalid(&door.login("race@example.com", GOOD).await, "locked after the race");
}

/// Unknown, wrong-password, locked and deactivated accounts get the same status, body and headers.
#[tokio::test]
async fn failures_do_not_reveal_whether_an_account_exists_is_locked_or_deactivated() {
    let db = TestDb::new().await;
    let options = OriginOptions {
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start_with_clock(&db, options, frozen_clock()).await;
    let org_id = org(&origin, "Enum Org").await;
    user(&origin, "known@example.com", org_id).await;
    user(&origin, "locked@example.com", org_id).await;
    let gone = user(&origin, "gone@example.com", org_id).await;
    origin.domain().set_user_active(&Actor::cli(), gone, false).await.expect("deactivate");
    let door = Door::new(&origin);
    for i in 0..5 {
        door.login_via("locked@example.com", WRONG, Some(&format!("192.0.2.{i}"))).await;
    }

    let cases = [
        ("unknown account", "nobody@example.com", GOOD),
        ("wrong password", "known@example.com", WRONG),
        ("locked account, right password", "locked@example.com", GOOD),
        ("deactivated account, right password", "gone@example.com", GOOD),
    ];
    let mut answers = Vec::new();
    for (n, (what, email, password)) in cases.iter().enumerate() {
        let a = door.login_via(email, password, Some(&format!("198.51.100.{n}"))).await;
        assert_invalid(&a, what);
        answers.push((what, a));
    }
    let (first_what, first) = &answers[0];
    for (what, a) in &answers[1..] {
        assert_eq!(a.status, first.status, "{what} vs {first_what}");
        assert_eq!(without_request_id(&a.json), without_request_id(&first.json), "{what} vs {first_what}");
        let names = |x: &Answer| {
            let mut v: Vec<String> = x.headers.keys().map(|k| k.as_str().to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(names(a), names(first), "{what} vs {first_what}: header names");
        assert_eq!(a.headers.get("content-type"), first.headers.get("content-type"));
        assert_eq!(a.headers.get("content-length"), first.headers.get("content-length"));
    }
}

/// Unknown accounts take the same time as known ones (median within 30%).
#[tokio::test]
async fn unknown_and_known_accounts_take_the_same_time() {
    let db = TestDb::new().await;
    let options = OriginOptions {
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start_with_clock(&db, options, frozen_clock()).await;
    let org_id = org(&origin, "Timing Org").await;
    let known = user(&origin, "timing@example.com", org_id).await;
    let door = Door::new(&origin);
    let mut ip = 0u32;
    let mut next_ip = || {
        ip += 1;
        format!("10.{}.{}.{}", (ip >> 16) & 255, (ip >> 8) & 255, ip & 255)
    };
    // Warm up both paths (lazy statics, connection pool).
    for _ in 0..2 {
        door.login_via("nobody@example.com", WRONG, Some(&next_ip())).await;
        door.login_via("timing@example.com", WRONG, Some(&next_ip())).await;
    }
    let (mut unknown, mut known_times) = (Vec::new(), Vec::new());
    for i in 0..15 {
        // Keep the known account on the plain wrong-password path (no lock).
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(known)
            .execute(&db.pool)
            .await
            .expect("reset counter");
        let (u_ip, k_ip) = (next_ip(), next_ip());
        let time = async |email: &str, ip: &str| {
            let t = Instant::now();
            let a = door.login_via(email, WRONG, Some(ip)).await;
            let elapsed = t.elapsed();
            assert_invalid(&a, email);
            elapsed
        };
        // Alternate which goes first, so drift hits both alike.
        if i % 2 == 0 {
            unknown.push(time(&format!("nobody{i}@example.com"), &u_ip).await);
            known_times.push(time("timing@example.com", &k_ip).await);
        } else {
            known_times.push(time("timing@example.com", &k_ip).await);
            unknown.push(time(&format!("nobody{i}@example.com"), &u_ip).await);
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mu, mk) = (median(&mut unknown), median(&mut known_times));
    let (lo, hi) = if mu < mk { (mu, mk) } else { (mk, mu) };
    let gap = (hi - lo).as_secs_f64() / hi.as_secs_f64();
    eprintln!("median unknown {mu:?}, known {mk:?}");
    assert!(gap < 0.30, "median unknown {mu:?} vs known {mk:?}: {:.0}% apart", gap * 100.0);
}

/// A legacy bcrypt hash ($2a/$2b/$2y, cost 4–14) signs in once and is replaced by Argon2id that keeps working.
#[tokio::test]
async fn legacy_bcrypt_hashes_sign_in_and_are_upgraded_to_argon2id() {
    let db = TestDb::new().await;
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), frozen_clock()).await;
    let org_id = org(&origin, "Legacy Org").await;
    let door = Door::new(&origin);
    let cases = [
        (bcrypt::Version::TwoA, 4, "2a"),
        (bcrypt::Version::TwoB, 10, "2b"),
        (bcrypt::Version::TwoY, 14, "2y"),
    ];
    for (version, cost, tag) in cases {
        let email = format!("legacy-{tag}@example.com");
        let id = user(&origin, &email, org_id).await;
        let legacy_pw = format!("old-system secret {tag}");
        let pw = legacy_pw.clone();
        let legacy = tokio::task::spawn_blocking(move || {
            bcrypt::hash_with_result(&pw, cost).expect("bcrypt").format_for_version(version)
        })
        .await
        .expect("bcrypt task");
        assert!(legacy.starts_with(&format!("${tag}${cost:02}$")), "{legacy}");
        sqlx::query("UPDATE users SET password_hash = $2, password_scheme = 'bcrypt' WHERE id = $1")
            .bind(id)
            .bind(&legacy)
            .execute(&db.pool)
            .await
            .expect("install legacy hash");

        assert_invalid(&door.login(&email, WRONG).await, &format!("${tag}$ wrong password"));
        assert_eq!(stored_hash(&db, id).await.0, legacy, "${tag}$: a failed sign-in does not touch the hash");

        let ok = door.login(&email, &legacy_pw).await;
        assert_eq!(ok.status, 200, "${tag}$ cost {cost}: {:?}", ok.json);
        let (hash, scheme) = stored_hash(&db, id).await;
        assert!(hash.starts_with("$argon2id$"), "${tag}$: upgraded, got {hash}");
        assert_eq!(scheme, "argon2id");
        assert_eq!(audit_count(&db, "auth.password_rehashed", id).await, 1);

        let again = door.login(&email, &legacy_pw).await;
        assert_eq!(again.status, 200, "${tag}$: the upgraded hash still works: {:?}", again.json);
        assert_eq!(stored_hash(&db, id).await.0, hash, "${tag}$: no second rehash");
        assert_invalid(&door.login(&email, WRONG).await, &format!("${tag}$ wrong password after upgrade"));
    }
}

/// A bcrypt hash with cost 15 (over the limit) is refused even with the right password.
#[tokio::test]
async fn bcrypt_cost_above_fourteen_is_refused() {
    let db = TestDb::new().await;
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), frozen_clock()).await;
    let org_id = org(&origin, "Costly Org").await;
    let id = user(&origin, "costly@example.com", org_id).await;
    let pw = "old-system secret costly";
    let costly = tokio::task::spawn_blocking(move || bcrypt::hash(pw, 15).expect("bcrypt"))
        .await
        .expect("bcrypt task");
    assert!(costly.starts_with("$2b$15$"));
    sqlx::query("UPDATE users SET password_hash = $2, password_scheme = 'bcrypt' WHERE id = $1")
        .bind(id)
        .bind(&costly)
        .execute(&db.pool)
        .await
        .expect("install hash");
    let door = Door::new(&origin);
    assert_invalid(&door.login("costly@example.com", pw).await, "cost 15");
    assert_eq!(stored_hash(&db, id).await.0, costly, "not upgraded");
}

/// Sends 20 failing sign-ins as `ip` (or directly), each for a different account.
async fn spend_quota(door: &Door, forwarded_for: impl Fn(usize) -> Option<String>) {
    for i in 0..20 {
        let a = door.login_via(&format!("spray{i}@example.com"), WRONG, forwarded_for(i).as_deref()).await;
        assert_invalid(&a, &format!("attempt {} of the quota", i + 1));
    }
}

fn assert_throttled(a: &Answer, what: &str) -> u64 {
    assert_eq!(a.status, 429, "{what}: {:?}", a.json);
    assert_eq!(a.code(), "rate_limited", "{what}");
    let retry: u64 = a
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Retry-After in seconds, got {:?}", a.headers.get("retry-after")));
    assert!((1..=300).contains(&retry), "{what}: Retry-After {retry}");
    retry
}

/// The 21st attempt within 5 minutes from one IP is 429 with Retry-After, whatever accounts are tried.
#[tokio::test]
async fn one_ip_is_throttled_after_twenty_attempts_across_accounts() {
    let db = TestDb::new().await;
    let clock = frozen_clock();
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), clock.clone()).await;
    let org_id = org(&origin, "Spray Org").await;
    user(&origin, "target@example.com", org_id).await;
    let door = Door::new(&origin);
    spend_quota(&door, |_| None).await;
    let retry = assert_throttled(&door.login("target@example.com", GOOD).await, "21st, right password");
    assert_throttled(&door.login("spray99@example.com", WRONG).await, "22nd");
    clock.advance(chrono::Duration::seconds(retry as i64));
    let ok = door.login("target@example.com", GOOD).await;
    assert_eq!(ok.status, 200, "after Retry-After one attempt passes: {:?}", ok.json);
    assert_throttled(&door.login("spray98@example.com", WRONG).await, "and only one");
}

/// Behind a trusted proxy, each forwarded client IP has its own allowance.
#[tokio::test]
async fn trusted_proxy_header_separates_clients() {
    let db = TestDb::new().await;
    let options = OriginOptions {
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start_with_clock(&db, options, frozen_clock()).await;
    let door = Door::new(&origin);
    spend_quota(&door, |_| Some("198.51.100.7".into())).await;
    assert_throttled(&door.login_via("x@example.com", WRONG, Some("198.51.100.7")).await, "same client");
    assert_invalid(&door.login_via("x@example.com", WRONG, Some("198.51.100.8")).await, "another client");
    assert_invalid(&door.login_via("x@example.com", WRONG, Some("2001:db8::1")).await, "an IPv6 client");
    assert_invalid(&door.login("x@example.com", WRONG).await, "the proxy itself");
}

/// Without a trusted proxy, X-Forwarded-For is ignored: every attempt counts for the socket peer.
#[tokio::test]
async fn forwarded_header_is_ignored_without_a_trusted_proxy() {
    let db = TestDb::new().await;
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), frozen_clock()).await;
    let door = Door::new(&origin);
    spend_quota(&door, |i| Some(format!("198.51.100.{i}"))).await;
    assert_throttled(
        &door.login_via("x@example.com", WRONG, Some("198.51.100.200")).await,
        "fresh header value",
    );
    assert_throttled(&door.login("x@example.com", WRONG).await, "no header");
}

/// A header from a peer outside TRUSTED_PROXIES is ignored.
#[tokio::test]
async fn forwarded_header_from_an_untrusted_peer_is_ignored() {
    let db = TestDb::new().await;
    let options = OriginOptions {
        trusted_proxy: Some(("10.0.0.0/8".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start_with_clock(&db, options, frozen_clock()).await;
    let door = Door::new(&origin);
    spend_quota(&door, |i| Some(format!("198.51.100.{i}"))).await;
    assert_throttled(
        &door.login_via("x@example.com", WRONG, Some("198.51.100.200")).await,
        "fresh header value",
    );
}

/// Behind a trusted proxy that appends to X-Forwarded-For, a client cannot dodge the throttle by sending its own entries.
#[tokio::test]
async fn client_supplied_forwarded_entries_do_not_reset_the_allowance() {
    let db = TestDb::new().await;
    let options = OriginOptions {
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start_with_clock(&db, options, frozen_clock()).await;
    let door = Door::new(&origin);
    // The client sends `X-Forwarded-For: <forged>`; the proxy (127.0.0.1) appends the address it saw.
    spend_quota(&door, |i| Some(format!("203.0.113.{i}, 198.51.100.7"))).await;
    let a = door.login_via("x@example.com", WRONG, Some("203.0.113.250, 198.51.100.7")).await;
    assert_throttled(&a, "21st attempt from 198.51.100.7 with a forged first entry");
}

fn invalid_password_reason(result: Result<Uuid, DomainError>, what: &str) -> String {
    match result {
        Err(DomainError::Invalid { field: "password", reason }) => reason,
        other => panic!("{what}: expected a password policy refusal, got {other:?}"),
    }
}

/// Creation refuses common, short, personal and over-long passwords, saying why; 128 characters are fine.
#[tokio::test]
async fn creation_applies_the_password_policy() {
    let db = TestDb::new().await;
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), frozen_clock()).await;
    let org_id = org(&origin, "Nightjar Festivals").await;
    let name = "Quentin Blackwood";
    let create = async |email: &str, pw: String| new_user(&origin, email, name, org_id, &pw).await;

    let r = invalid_password_reason(create("p1@example.com", "password1234".into()).await, "common");
    assert!(r.contains("too common"), "common: {r}");
    let r = invalid_password_reason(create("p2@example.com", "vT9#qLx2!mZ".into()).await, "11 characters");
    assert!(r.contains("at least 12"), "short: {r}");
    for personal in ["QuentinBlackwood-7419!", "quentin.blackwood volcano", "nightjar festivals tapioca 93"] {
        let r = invalid_password_reason(create("p3@example.com", personal.into()).await, personal);
        assert!(r.contains("email, name or organisation"), "{personal}: {r}");
    }
    let r = invalid_password_reason(
        new_user(&origin, "sparrowhawk@example.com", "Sam Ode", org_id, "sparrowhawk-orbit-7133").await,
        "email local part",
    );
    assert!(r.contains("email, name or organisation"), "email: {r}");
    let r = invalid_password_reason(create("p4@example.com", random_password(129)).await, "129 characters");
    assert!(r.contains("at most 128"), "long: {r}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&db.pool).await.expect("count");
    assert_eq!(n, 0, "no refused user was stored");

    let max = random_password(128);
    create("p5@example.com", max.clone()).await.expect("128 characters are accepted");
    let door = Door::new(&origin);
    assert_eq!(door.login("p5@example.com", &max).await.status, 200, "and sign in");
}

/// Passwords are never truncated: a 100-character password works only in full.
#[tokio::test]
async fn long_passwords_are_not_truncated() {
    let db = TestDb::new().await;
    let origin = Origin::start_with_clock(&db, OriginOptions::default(), frozen_clock()).await;
    let org_id = org(&origin, "Long Org").await;
    let pw = random_password(100);
    new_user(&origin, "long@example.com", "Robin Example", org_id, &pw).await.expect("create");
    let door = Door::new(&origin);
    for (what, attempt) in [
        ("first 72", pw[..72].to_string()),
        ("first 99", pw[..99].to_string()),
        ("one more", format!("{pw}x")),
    ] {
        assert_invalid(&door.login("long@example.com", &attempt).await, what);
    }
    assert_eq!(door.login("long@example.com", &pw).await.status, 200, "the full password");
}

/// An answer's body without its per-request id (which differs on every request by design).
fn without_request_id(body: &serde_json::Value) -> serde_json::Value {
    let mut body = body.clone();
    if let Some(error) = body.get_mut("error").and_then(|e| e.as_object_mut()) {
        error.remove("request_id");
    }
    body
}

/// A failed sign-in's audit row (known or unknown account) keeps the keyed hash of the
/// real client IP (from the trusted proxy's header; never the IP, nor the proxy's hash),
/// the user-agent class (never the string) and the request id of the error answer; the
/// session a successful sign-in starts keeps the same hash and class.
#[tokio::test]
async fn sign_in_audit_rows_carry_the_ip_hash_agent_class_and_request_id() {
    use crate::auth_support::{
        assert_audit_row, audit_rows, expected_ip_hash, raw, request_id_of, tables_containing,
    };
    let db = TestDb::new().await;
    let options = OriginOptions {
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start_with_clock(&db, options, frozen_clock()).await;
    let org_id = org(&origin, "Trail Org").await;
    let id = user(&origin, "trail@example.com", org_id).await;
    let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36";
    let attempt = async |email: &str, password: &str, ip: &str, ua: &str| {
        let body = json!({ "email": email, "password": password }).to_string().into_bytes();
        raw(
            &origin.url,
            reqwest::Method::POST,
            "/api/v1/auth/login",
            &[("origin", &origin.url), ("x-forwarded-for", ip), ("user-agent", ua)],
            Some(("application/json", body)),
        )
        .await
    };
    let keys = &origin.options.audit_keys;
    let check = |what: &str, row: &serde_json::Value, r: &crate::auth_support::Raw, ip: &str, class: &str| {
        assert_eq!(row["ip_hash"], expected_ip_hash(keys, ip), "{what}: the keyed hash of {ip}: {row}");
        assert_ne!(row["ip_hash"], expected_ip_hash(keys, "127.0.0.1"), "{what}: not the proxy's");
        assert_eq!(row["user_agent"], class, "{what}: {row}");
        let header = request_id_of(&r.headers);
        assert_eq!(row["request_id"], header, "{what}: the answer's x-request-id: {row}");
        if r.status >= 400 {
            assert_eq!(r.json["error"]["request_id"], header, "{what}: the error body's id: {}", r.text);
        }
    };

    let wrong = attempt("trail@example.com", WRONG, "198.51.100.23", android).await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"), "{}", wrong.text);
    let rows = audit_rows(&db, "auth.login_failed").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_audit_row("wrong password", &rows[0], (id, "trail@example.com"), ("user", id.to_string()));
    check("wrong password", &rows[0], &wrong, "198.51.100.23", "android/human");

    let unknown = attempt("nobody@example.com", WRONG, "203.0.113.77", "curl/8.5.0").await;
    assert_eq!(unknown.status, 401);
    let rows = audit_rows(&db, "auth.login_failed").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((&rows[1]["actor_type"], &rows[1]["target_id"]), (&json!("anonymous"), &json!("unknown")));
    check("unknown account", &rows[1], &unknown, "203.0.113.77", "other/bot");

    let ok = attempt("trail@example.com", GOOD, "198.51.100.24", android).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let rows = audit_rows(&db, "auth.login_succeeded").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    check("sign-in", &rows[0], &ok, "198.51.100.24", "android/human");
    let (session_ip_hash, session_ua): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT ip_hash, user_agent FROM sessions WHERE user_id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("session");
    assert_eq!(session_ip_hash, Some(expected_ip_hash(keys, "198.51.100.24")));
    assert_eq!(session_ua.as_deref(), Some("android/human"));

    let raw_values: Vec<String> =
        ["198.51.100.23", "198.51.100.24", "203.0.113.77", "127.0.0.1", "Pixel 8", "curl/8"]
            .map(String::from)
            .to_vec();
    let leaks = tables_containing(&db, &raw_values).await;
    assert!(leaks.is_empty(), "a raw IP or user agent is stored: {leaks:?}");
}

/// Injection, XSS, oversize, NUL and odd Unicode as the sign-in email (alone or after a real
/// address) or password: the one 401 invalid_credentials answer, never a 5xx, never echoed,
/// no session; a hostile password for a real account counts once, like any wrong one.
#[tokio::test]
async fn hostile_strings_in_sign_in_fields_are_refused_cleanly() {
    use crate::auth_support::{Raw, assert_hostile_refused, hostile_inputs, raw, truncated};
    let db = TestDb::new().await;
    let options = OriginOptions {
        trusted_proxy: Some(("127.0.0.1/32".into(), "x-forwarded-for".into())),
        ..OriginOptions::default()
    };
    let origin = Origin::start_with_clock(&db, options, frozen_clock()).await;
    let org_id = org(&origin, "Hostile Org").await;
    let id = user(&origin, "hostile@example.com", org_id).await;
    let mut n = 0;
    let mut attempt = async |email: &str, password: &str| -> Raw {
        // A client address of its own per attempt, to stay clear of the per-IP throttle.
        n += 1;
        let ip = format!("198.51.100.{n}");
        let body = json!({ "email": email, "password": password }).to_string().into_bytes();
        raw(
            &origin.url,
            reqwest::Method::POST,
            "/api/v1/auth/login",
            &[("origin", &origin.url), ("x-forwarded-for", &ip)],
            Some(("application/json", body)),
        )
        .await
    };
    let sessions = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM sessions").fetch_one(&db.pool).await.expect("sessions")
    };
    for (name, p) in hostile_inputs() {
        for (what, email, password) in [
            (format!("email {name}"), p.clone(), GOOD.to_string()),
            (format!("real email + {name}"), format!("hostile@example.com{p}"), GOOD.to_string()),
            (format!("password {name}"), "hostile@example.com".to_string(), p.clone()),
        ] {
            let r = attempt(&email, &password).await;
            assert_hostile_refused(&what, &r, &p);
            assert_eq!((r.status, r.code()), (401, "invalid_credentials"), "{what}: {}", truncated(&r.text));
            let counted = i32::from(what.starts_with("password"));
            assert_eq!(lock_state(&db, id).await, (counted, None), "{what}");
            sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
                .bind(id)
                .execute(&db.pool)
                .await
                .expect("reset count");
        }
    }
    assert_eq!(sessions().await, 0, "no session was started");
    let ok = attempt("hostile@example.com", GOOD).await;
    assert_eq!(ok.status, 200, "control: {}", ok.text);
}
