//! Sessions and their tokens, from outside: forged, tampered, expired and
//! misbound JWTs are refused (an expired one is only ever replaced while its
//! session is live); every sign-in starts a new session; logout, "sign out
//! everywhere", revoking by id, role and organisation changes, deactivation,
//! idle and absolute timeouts end sessions at once; tokens are refreshed while
//! in use and survive a key rotation; the cookie carries HttpOnly, Secure,
//! SameSite=Lax, Path=/ and no Domain.

use crate::auth_support::{
    Env, Raw, assert_audit_row, audit_rows, b64, cookie_attributes, decode, expected_ip_hash, hs256, hs512,
    me_with, raw, request_id_of, secret_of, signing_input, tables_containing, the_audit_row, token_of,
};
use chrono::{Duration, Utc};
use origin_api::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};
use system_tests::api::ApiClient;
use system_tests::keys::random_key_spec;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::unix_now;
use system_tests::world::PASSWORD;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A signed-in CUSTOMER of A and what is needed to forge tokens like hers.
struct Forge {
    env: Env,
    alice: ApiClient,
    token: String,
    header: Value,
    claims: Value,
    secret: Vec<u8>,
    kid: String,
}

impl Forge {
    async fn new() -> Forge {
        let env = Env::start().await;
        let alice = env.customer_a().await;
        let token = token_of(&alice);
        let (header, claims, _) = decode(&token);
        let kid = header["kid"].as_str().expect("the origin's tokens name their key").to_string();
        let secret = secret_of(&env.origin.options.jwt_keys, &kid);
        Forge { env, alice, token, header, claims, secret, kid }
    }

    /// `GET /api/v1/me` with `token`.
    async fn me(&self, token: &str) -> Raw {
        me_with(&self.env.origin.url, token).await
    }

    /// Claims for a live session of Alice's, freshly timed.
    fn fresh_claims(&self) -> Value {
        let now = unix_now();
        json!({ "sid": self.claims["sid"], "sub": self.claims["sub"], "iat": now, "nbf": now - 1, "exp": now + 600 })
    }

    /// An honest HS256 header for the origin's key.
    fn hs256_header(&self) -> Value {
        json!({ "alg": "HS256", "kid": self.kid })
    }

    /// `token` is refused as unauthenticated with the standard error body.
    async fn assert_refused(&self, what: &str, token: &str) {
        let r = self.me(token).await;
        assert_eq!(r.status, 401, "{what} must be refused: {}", r.text);
        assert_eq!(r.code(), "unauthorized", "{what}: {}", r.text);
        assert!(r.session_cookies().is_empty(), "{what}: a refused token must not be refreshed");
    }

    /// `token` signs Alice in (the control that makes the refusals meaningful).
    async fn assert_accepted(&self, what: &str, token: &str) {
        let r = self.me(token).await;
        assert_eq!(r.status, 200, "{what} must be accepted: {}", r.text);
        assert_eq!(r.json["user"]["email"], self.env.world.customer_a.1, "{what}");
    }
}

fn sid_of(token: &str) -> Uuid {
    decode(token).1["sid"].as_str().and_then(|s| s.parse().ok()).expect("sid claim")
}

async fn session_id(client: &ApiClient) -> Uuid {
    let me = client.get("/api/v1/me").await;
    assert_eq!(me.status, 200, "{:?}", me.json);
    me.json["session"]["id"].as_str().and_then(|s| s.parse().ok()).expect("session.id")
}

async fn status_of(client: &ApiClient) -> u16 {
    client.get("/api/v1/me").await.status.as_u16()
}

// ---------------------------------------------------------------------------
// JWT attacks
// ---------------------------------------------------------------------------

/// The forging helpers produce tokens the origin accepts with its real key, so every refusal below is the origin's doing.
#[tokio::test]
async fn a_token_forged_with_the_real_key_is_accepted_which_makes_the_attacks_meaningful() {
    let f = Forge::new().await;
    f.assert_accepted("the issued token", &f.token).await;
    f.assert_accepted("a re-signed copy", &hs256(&f.secret, &f.header, &f.claims)).await;
    f.assert_accepted("fresh claims", &hs256(&f.secret, &f.hs256_header(), &f.fresh_claims())).await;
    assert_eq!(f.alice.get("/api/v1/me").await.status, 200);
}

/// `alg: none` (any spelling, with or without a signature) is refused.
#[tokio::test]
async fn alg_none_is_refused() {
    let f = Forge::new().await;
    let real_sig = f.token.rsplit('.').next().expect("signature").to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        for header in
            [json!({ "alg": alg, "kid": f.kid }), json!({ "alg": alg }), json!({ "alg": alg, "typ": "JWT" })]
        {
            let unsigned = format!("{}.", signing_input(&header, &f.claims));
            f.assert_refused(&format!("{header} with an empty signature"), &unsigned).await;
            let with_sig = format!("{unsigned}{real_sig}");
            f.assert_refused(&format!("{header} with the real signature"), &with_sig).await;
        }
    }
}

/// Headers naming another algorithm are refused, whether they carry the real HS256 signature, an HS256 MAC over the new header or a true HS512 MAC with the real key.
#[tokio::test]
async fn other_algorithms_are_refused_even_with_a_mac_from_the_real_key() {
    let f = Forge::new().await;
    let parts: Vec<&str> = f.token.split('.').collect();
    let (payload, real_sig) = (parts[1], parts[2]);
    for alg in ["HS512", "HS384", "RS256", "ES256", "PS256", "EdDSA", "hs256"] {
        let header = json!({ "alg": alg, "kid": f.kid });
        let swapped = format!("{}.{payload}.{real_sig}", b64(header.to_string().as_bytes()));
        f.assert_refused(&format!("{alg} header with the real signature"), &swapped).await;
        f.assert_refused(&format!("{alg} header, HS256 MAC over it"), &hs256(&f.secret, &header, &f.claims))
            .await;
    }
    let hs512_header = json!({ "alg": "HS512", "kid": f.kid });
    f.assert_refused("a genuine HS512 token with the real key", &hs512(&f.secret, &hs512_header, &f.claims))
        .await;
    f.assert_accepted("control: HS256", &hs256(&f.secret, &f.hs256_header(), &f.claims)).await;
}

/// A token under the right `kid` but signed with another secret is refused.
#[tokio::test]
async fn a_token_signed_with_another_secret_under_the_same_kid_is_refused() {
    let f = Forge::new().await;
    for secret in [vec![0u8; 32], vec![7u8; 32], b"secret".to_vec(), Vec::new(), {
        let mut s = f.secret.clone();
        s[0] ^= 1;
        s
    }] {
        let token = hs256(&secret, &f.hs256_header(), &f.fresh_claims());
        f.assert_refused(&format!("secret {}", hex::encode(&secret)), &token).await;
    }
    // Same bytes, other spelling of the key: the hex text as the key.
    let text_key = hex::encode(&f.secret).into_bytes();
    f.assert_refused("hex text as key", &hs256(&text_key, &f.hs256_header(), &f.fresh_claims())).await;
}

/// A `kid` the origin does not have is refused, even with the real secret behind it.
#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let f = Forge::new().await;
    for kid in [
        json!("nope"),
        json!(""),
        json!(format!("{} ", f.kid)),
        json!(f.kid.to_uppercase()),
        json!(1),
        json!(null),
    ] {
        if kid == json!(f.kid) {
            continue;
        }
        let header = json!({ "alg": "HS256", "kid": kid });
        f.assert_refused(&format!("kid {kid}"), &hs256(&f.secret, &header, &f.fresh_claims())).await;
    }
}

/// A token without a `kid` is refused, even with the real secret.
#[tokio::test]
async fn a_token_without_kid_is_refused() {
    let f = Forge::new().await;
    for header in [json!({ "alg": "HS256" }), json!({ "alg": "HS256", "typ": "JWT" })] {
        f.assert_refused(&format!("{header}"), &hs256(&f.secret, &header, &f.fresh_claims())).await;
    }
}

/// Tokens whose `exp` passed longer ago than the idle timeout, or without `exp`, are refused even when correctly signed and naming a live session.
#[tokio::test]
async fn a_long_expired_or_exp_less_token_is_refused() {
    let f = Forge::new().await;
    let now = unix_now();
    let expired_for = |seconds: i64| {
        let mut claims = f.fresh_claims();
        claims["iat"] = json!(now - 900 - seconds);
        claims["nbf"] = json!(now - 900 - seconds);
        claims["exp"] = json!(now - seconds);
        hs256(&f.secret, &f.hs256_header(), &claims)
    };
    f.assert_refused("exp 31 minutes ago", &expired_for(31 * 60)).await;
    f.assert_refused("exp a day ago", &expired_for(24 * 3600)).await;
    // Control: an expired token of a live session, within the idle timeout, is replaced.
    let renewed = f.me(&expired_for(1)).await;
    assert_eq!(renewed.status, 200, "exp one second ago, session live: {}", renewed.text);
    assert_eq!(renewed.session_cookies().len(), 1, "and replaced with a fresh token");
    let mut no_exp = f.fresh_claims();
    no_exp.as_object_mut().expect("claims").remove("exp");
    f.assert_refused("no exp", &hs256(&f.secret, &f.hs256_header(), &no_exp)).await;
    let mut string_exp = f.fresh_claims();
    string_exp["exp"] = json!("9999999999");
    f.assert_refused("exp as a string", &hs256(&f.secret, &f.hs256_header(), &string_exp)).await;
    f.assert_accepted("control: exp ahead", &hs256(&f.secret, &f.hs256_header(), &f.fresh_claims())).await;
}

/// The value of the first session `Set-Cookie` of a response.
fn new_token(r: &Raw) -> Option<String> {
    let cookie = r.session_cookies().first().cloned()?;
    cookie.split(';').next().and_then(|p| p.split_once('=')).map(|(_, v)| v.to_string())
}

/// The origin's own token expires 15 minutes after it was issued; after that it is only good for a
/// fresh token while its session is live, and is refused once the session has ended.
#[tokio::test]
async fn an_issued_token_expires_after_fifteen_minutes_and_then_only_renews_a_live_session() {
    let (env, clock) = Env::start_manual().await;
    let alice = env.customer_a().await;
    let token = token_of(&alice);
    let (_, claims, _) = decode(&token);
    assert_eq!(claims["exp"].as_i64().zip(claims["iat"].as_i64()).map(|(e, i)| e - i), Some(15 * 60));
    clock.advance(Duration::minutes(15) - Duration::seconds(1));
    let before = me_with(&env.origin.url, &token).await;
    assert_eq!(before.status, 200, "still valid just before 15 minutes: {}", before.text);
    let refreshed = new_token(&before).expect("an old token in use is refreshed");
    clock.advance(Duration::seconds(2));
    let after = me_with(&env.origin.url, &token).await;
    assert_eq!(after.status, 200, "expired, but its session is live: {}", after.text);
    let renewed = new_token(&after).expect("an expired token is replaced");
    assert_eq!(decode(&renewed).1["iat"].as_i64(), Some(clock.now().timestamp()), "issued now");
    assert_eq!(sid_of(&renewed), sid_of(&token), "same session");
    assert_eq!(me_with(&env.origin.url, &refreshed).await.status, 200);
    assert_eq!(
        alice.post("/api/v1/auth/logout", Value::Null).await.status,
        204,
        "signing out, expired token"
    );
    for (what, t) in
        [("the expired token", &token), ("its replacement", &renewed), ("the refreshed token", &refreshed)]
    {
        let r = me_with(&env.origin.url, t).await;
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{what} after sign-out: {}", r.text);
        assert!(r.session_cookies().is_empty(), "{what}: nothing renewed for an ended session");
    }
}

/// Tokens with `nbf` in the future, or without `nbf`, are refused even when correctly signed.
#[tokio::test]
async fn a_not_yet_valid_or_nbf_less_token_is_refused() {
    let f = Forge::new().await;
    let mut future = f.fresh_claims();
    future["nbf"] = json!(unix_now() + 120);
    f.assert_refused("nbf two minutes ahead", &hs256(&f.secret, &f.hs256_header(), &future)).await;
    let mut no_nbf = f.fresh_claims();
    no_nbf.as_object_mut().expect("claims").remove("nbf");
    f.assert_refused("no nbf", &hs256(&f.secret, &f.hs256_header(), &no_nbf)).await;
    f.assert_accepted("control: nbf passed", &hs256(&f.secret, &f.hs256_header(), &f.fresh_claims())).await;
}

/// The origin's own token is refused when the clock stands before its `nbf`.
#[tokio::test]
async fn an_issued_token_is_not_valid_before_its_issue_time() {
    let (env, clock) = Env::start_manual().await;
    let alice = env.customer_a().await;
    let token = token_of(&alice);
    clock.advance(Duration::minutes(-2));
    let early = me_with(&env.origin.url, &token).await;
    assert_eq!(early.status, 401, "before nbf: {}", early.text);
    clock.advance(Duration::minutes(2));
    assert_eq!(me_with(&env.origin.url, &token).await.status, 200, "from nbf on");
}

/// Claims changed after signing (another user's sid/sub, a later exp, re-serialised JSON) are refused.
#[tokio::test]
async fn tampered_claims_are_refused() {
    let f = Forge::new().await;
    let bob = f.env.customer_b().await;
    let bob_token = token_of(&bob);
    let (_, bob_claims, _) = decode(&bob_token);
    let alice_sig = f.token.rsplit('.').next().expect("signature").to_string();
    let with_alice_sig = |claims: &Value| format!("{}.{alice_sig}", signing_input(&f.header, claims));

    assert_eq!(me_with(&f.env.origin.url, &bob_token).await.status, 200, "control: Bob's own token");
    f.assert_refused("Bob's claims under Alice's signature", &with_alice_sig(&bob_claims)).await;
    let mut sub_swapped = f.claims.clone();
    sub_swapped["sub"] = bob_claims["sub"].clone();
    f.assert_refused("sub swapped to Bob", &with_alice_sig(&sub_swapped)).await;
    let mut admin_sub = f.claims.clone();
    admin_sub["sub"] = json!(f.env.world.admin.0);
    f.assert_refused("sub swapped to the ADMIN", &with_alice_sig(&admin_sub)).await;
    let mut later = f.claims.clone();
    later["exp"] = json!(later["exp"].as_i64().expect("exp") + 3600);
    f.assert_refused("exp pushed back an hour", &with_alice_sig(&later)).await;
    // The same claims, serialised differently: a signature covers bytes, not meaning.
    let parts: Vec<&str> = f.token.split('.').collect();
    let (header_b64, payload_b64) = (parts[0], parts[1]);
    let pretty = serde_json::to_string_pretty(&f.claims).expect("json");
    assert_ne!(b64(pretty.as_bytes()), payload_b64);
    f.assert_refused("re-serialised claims", &format!("{header_b64}.{}.{alice_sig}", b64(pretty.as_bytes())))
        .await;
    f.assert_accepted("control: untouched", &f.token).await;
}

/// A correctly signed token for a session that was revoked is refused (the server row decides).
#[tokio::test]
async fn a_valid_token_for_a_revoked_session_is_refused() {
    let f = Forge::new().await;
    let fresh = hs256(&f.secret, &f.hs256_header(), &f.fresh_claims());
    f.assert_accepted("control", &fresh).await;
    assert_eq!(f.alice.post("/api/v1/auth/logout", Value::Null).await.status, 204);
    f.assert_refused("the issued token after logout", &f.token).await;
    let reissued = hs256(&f.secret, &f.hs256_header(), &f.fresh_claims());
    f.assert_refused("a freshly signed token for the revoked session", &reissued).await;
}

/// A correctly signed token whose `sub` does not own its `sid` (or whose sid does not exist) is refused.
#[tokio::test]
async fn a_token_whose_subject_does_not_own_its_session_is_refused() {
    let f = Forge::new().await;
    let bob = f.env.customer_b().await;
    let (_, bob_claims, _) = decode(&token_of(&bob));
    let w = &f.env.world;
    let cases = [
        ("Alice's sid, Bob's sub", f.claims["sid"].clone(), bob_claims["sub"].clone()),
        ("Bob's sid, Alice's sub", bob_claims["sid"].clone(), f.claims["sub"].clone()),
        ("Alice's sid, the ADMIN's sub", f.claims["sid"].clone(), json!(w.admin.0)),
        ("Alice's sid, a deactivated user's sub", f.claims["sid"].clone(), json!(w.deactivated.0)),
        ("a random sid, Alice's sub", json!(Uuid::new_v4()), f.claims["sub"].clone()),
        ("nil sid and sub", json!(Uuid::nil()), json!(Uuid::nil())),
    ];
    for (what, sid, sub) in cases {
        let mut claims = f.fresh_claims();
        claims["sid"] = sid;
        claims["sub"] = sub;
        f.assert_refused(what, &hs256(&f.secret, &f.hs256_header(), &claims)).await;
    }
    assert_eq!(me_with(&f.env.origin.url, &token_of(&bob)).await.status, 200, "control: Bob");
    f.assert_accepted("control: Alice's own pair", &hs256(&f.secret, &f.hs256_header(), &f.fresh_claims()))
        .await;
}

/// Garbage session cookies (empty, 10 KB, non-ASCII, truncated, padded, misnamed) are 401 with the standard body.
#[tokio::test]
async fn garbage_cookies_are_refused() {
    let f = Forge::new().await;
    let url = &f.env.origin.url;
    let (head, rest) = f.token.split_once('.').expect("token");
    let values: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("10 KB of letters", "A".repeat(10 * 1024)),
        ("10 KB of dots and segments", "ab.".repeat(3 * 1024 + 200)),
        ("non-ASCII", "é✓ñ漢字🍪".to_string()),
        ("non-ASCII inside a token", format!("{head}é.{rest}")),
        ("three dots", "...".into()),
        ("two segments", format!("{head}.{}", rest.split('.').next().unwrap_or(""))),
        ("four segments", format!("{}.x", f.token)),
        ("token with junk appended", format!("{}AAAA", f.token)),
        ("token truncated", f.token[..f.token.len() - 3].to_string()),
        ("quoted token", format!("\"{}\"", f.token)),
        ("bearer prefix", format!("Bearer {}", f.token)),
        ("header only", head.to_string()),
        ("JSON", "{\"sid\":\"x\"}".into()),
        ("SQL", "' OR '1'='1".into()),
        ("null bytes escaped", "%00%00".into()),
    ];
    for (what, value) in &values {
        let r =
            raw(url, Method::GET, "/api/v1/me", &[("cookie", &format!("sm_session={value}"))], None).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        assert_eq!(r.code(), "unauthorized", "{what}: {}", r.text);
    }
    for (what, cookie) in [
        ("no name", f.token.clone()),
        ("another name", format!("session={}", f.token)),
        ("name in upper case", format!("SM_SESSION={}", f.token)),
        ("name prefixed", format!("xsm_session={}", f.token)),
    ] {
        let r = raw(url, Method::GET, "/api/v1/me", &[("cookie", &cookie)], None).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text);
    }
    f.assert_accepted("control: the real cookie", &f.token).await;
}

// ---------------------------------------------------------------------------
// Session lifecycle
// ---------------------------------------------------------------------------

/// Every sign-in creates a new session id, and a cookie planted before sign-in (garbage or someone else's session) never becomes the victim's session.
#[tokio::test]
async fn every_sign_in_starts_a_new_session_and_a_planted_cookie_never_becomes_authenticated() {
    let env = Env::start().await;
    let w = &env.world;

    // A garbage value planted before sign-in.
    let mut victim = env.anonymous();
    victim.cookie = Some("sm_session=planted-by-attacker".into());
    let login = victim.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(login.status, 200);
    assert_ne!(
        victim.cookie.as_deref(),
        Some("sm_session=planted-by-attacker"),
        "sign-in must set its own cookie"
    );
    assert_eq!(me_with(&env.origin.url, "planted-by-attacker").await.status, 401);

    // The attacker's own live session planted in the victim's browser.
    let attacker = env.customer_b().await;
    let attacker_token = token_of(&attacker);
    let attacker_sid = session_id(&attacker).await;
    let mut victim = env.anonymous();
    victim.cookie = attacker.cookie.clone();
    assert_eq!(victim.login(&w.customer_a.1, PASSWORD).await.status, 200);
    let victim_token = token_of(&victim);
    assert_ne!(victim_token, attacker_token);
    assert_ne!(sid_of(&victim_token), attacker_sid, "the victim's session must be new");
    let planted = me_with(&env.origin.url, &attacker_token).await;
    assert_eq!(
        planted.json["user"]["email"], w.customer_b.1,
        "the planted cookie was not upgraded to the victim"
    );
    assert_eq!(victim.get("/api/v1/me").await.json["user"]["email"], w.customer_a.1);

    // The same user signing in again gets another session and CSRF token; both stay valid (two devices).
    let first = env.customer_a().await;
    let second = env.customer_a().await;
    let (s1, s2) = (session_id(&first).await, session_id(&second).await);
    assert_ne!(s1, s2);
    assert_eq!(sid_of(&token_of(&first)), s1);
    assert_ne!(first.csrf, second.csrf);
    assert!(first.csrf.as_deref().is_some_and(|t| t.len() >= 32), "CSRF token has at least 256 bits");
    let rows: i64 = sqlx::query_scalar("SELECT count(DISTINCT id) FROM sessions WHERE user_id = $1")
        .bind(w.customer_a.0)
        .fetch_one(&env.db.pool)
        .await
        .expect("count");
    assert_eq!(rows, 4, "four sign-ins of A, four session rows");
    assert_eq!(status_of(&first).await, 200);
    assert_eq!(status_of(&second).await, 200);
}

/// Logout revokes this session (its cookie is 401 afterwards), clears the cookie and leaves the user's other sessions alone.
#[tokio::test]
async fn logout_ends_the_session_and_clears_the_cookie() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let other_device = env.customer_a().await;
    let token = token_of(&alice);
    let out = raw(
        &env.origin.url,
        Method::POST,
        "/api/v1/auth/logout",
        &[
            ("cookie", &format!("sm_session={token}")),
            ("origin", &env.origin.url),
            ("x-csrf-token", alice.csrf.as_deref().expect("csrf")),
        ],
        None,
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let cleared = out.session_cookies();
    let last = cleared.last().expect("logout sets the cookie");
    assert!(last.starts_with("sm_session=;"), "logout empties the cookie: {last}");
    assert!(cookie_attributes(last).contains(&"max-age=0".to_string()), "and expires it: {last}");
    assert_eq!(me_with(&env.origin.url, &token).await.status, 401, "the old cookie is dead");
    let revoked: Option<String> = sqlx::query_scalar("SELECT revoke_reason FROM sessions WHERE id = $1")
        .bind(sid_of(&token))
        .fetch_one(&env.db.pool)
        .await
        .expect("session row");
    assert!(revoked.is_some(), "the session row is revoked");
    assert_eq!(status_of(&other_device).await, 200, "other sessions stay");
}

/// Logout clears the cookie even when the same request also refreshed an old token (the last `Set-Cookie` must be the clearing one).
#[tokio::test]
async fn logout_clears_the_cookie_even_when_the_token_was_due_for_refresh() {
    let (env, clock) = Env::start_manual().await;
    let alice = env.customer_a().await;
    clock.advance(Duration::minutes(6));
    let out = raw(
        &env.origin.url,
        Method::POST,
        "/api/v1/auth/logout",
        &[
            ("cookie", alice.cookie.as_deref().expect("cookie")),
            ("origin", &env.origin.url),
            ("x-csrf-token", alice.csrf.as_deref().expect("csrf")),
        ],
        None,
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let cookies = out.session_cookies();
    let last = cookies.last().expect("logout sets the cookie");
    assert!(
        last.starts_with("sm_session=;") && cookie_attributes(last).contains(&"max-age=0".to_string()),
        "the browser must end up without a session cookie, but the Set-Cookie headers are {cookies:?}"
    );
}

/// "Sign out everywhere" ends every session of the user (every device), and nobody else's.
#[tokio::test]
async fn revoke_all_signs_out_every_device() {
    let env = Env::start().await;
    let laptop = env.customer_a().await;
    let phone = env.customer_a().await;
    let bob = env.customer_b().await;
    let r = laptop.post("/api/v1/sessions/revoke-all", Value::Null).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["revoked"], 2);
    assert_eq!(status_of(&laptop).await, 401, "this device");
    assert_eq!(status_of(&phone).await, 401, "the other device");
    assert_eq!(status_of(&bob).await, 200, "another user");
    assert_eq!(status_of(&env.customer_a().await).await, 200, "signing in again works");
}

/// A user revokes one of their own sessions by id; another user's session id is 404 and stays live.
#[tokio::test]
async fn a_user_revokes_their_own_session_by_id_but_never_another_users() {
    let env = Env::start().await;
    let laptop = env.customer_a().await;
    let phone = env.customer_a().await;
    let bob = env.customer_b().await;
    let (laptop_sid, phone_sid, bob_sid) =
        (session_id(&laptop).await, session_id(&phone).await, session_id(&bob).await);

    let list = laptop.get("/api/v1/sessions").await;
    assert_eq!(list.status, 200);
    let sessions = list.json["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let ids: Vec<&str> = sessions.iter().filter_map(|s| s["id"].as_str()).collect();
    assert!(!ids.contains(&bob_sid.to_string().as_str()), "another user's session is not listed");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], laptop_sid.to_string());
    assert!(!list.json.to_string().contains(laptop.csrf.as_deref().unwrap_or("-")), "no CSRF tokens listed");

    assert_eq!(laptop.delete(&format!("/api/v1/sessions/{phone_sid}")).await.status, 204);
    assert_eq!(status_of(&phone).await, 401, "the revoked device");
    assert_eq!(status_of(&laptop).await, 200, "the revoking device");
    assert_eq!(laptop.delete(&format!("/api/v1/sessions/{phone_sid}")).await.status, 404, "already revoked");

    let foreign = laptop.delete(&format!("/api/v1/sessions/{bob_sid}")).await;
    assert_eq!(foreign.status, 404, "another user's session is not found: {:?}", foreign.json);
    assert_eq!(foreign.code(), "not_found");
    assert_eq!(status_of(&bob).await, 200, "and stays live");
    assert_eq!(laptop.delete(&format!("/api/v1/sessions/{}", Uuid::new_v4())).await.status, 404);
}

/// An ADMIN's role change ends the target's sessions at once.
#[tokio::test]
async fn a_role_change_ends_the_users_sessions_at_once() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let admin = env.admin().await;
    assert_eq!(status_of(&alice).await, 200);
    let r =
        admin.patch(&format!("/api/v1/users/{}", env.world.customer_a.0), json!({ "role": "ADMIN" })).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["role"], "ADMIN");
    let me = alice.get("/api/v1/me").await;
    assert_eq!(me.status, 401, "the old session must not carry the old role on: {:?}", me.json);
    assert_eq!(status_of(&admin).await, 200, "the acting ADMIN keeps their session");
}

/// Moving a user to another organisation ends their sessions at once.
#[tokio::test]
async fn an_organisation_change_ends_the_users_sessions_at_once() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let admin = env.admin().await;
    let r = admin
        .patch(&format!("/api/v1/users/{}", env.world.customer_a.0), json!({ "org_id": env.world.org_b }))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(status_of(&alice).await, 401);
}

/// `org_id` in a user patch: absent keeps the organisation, `null` clears it
/// (refused for a CUSTOMER, who must belong to one), an id moves the user.
#[tokio::test]
async fn a_user_patch_tells_a_missing_organisation_from_a_cleared_one() {
    let env = Env::start().await;
    let admin = env.admin().await;
    let path = format!("/api/v1/users/{}", env.world.customer_a.0);
    let org_a = env.world.org_a.to_string();
    let r = admin.patch(&path, json!({ "name": "Alice Renamed" })).await;
    assert_eq!((r.status.as_u16(), r.json["org_id"].as_str()), (200, Some(org_a.as_str())), "absent: kept");
    let r = admin.patch(&path, json!({ "org_id": null })).await;
    assert_eq!(r.status, 422, "a CUSTOMER cannot be left without an organisation: {:?}", r.json);
    let r = admin.patch(&path, json!({ "role": "ADMIN", "org_id": null })).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!((r.json["role"].as_str(), &r.json["org_id"]), (Some("ADMIN"), &Value::Null), "null: cleared");
}

/// Deactivation ends the user's sessions at once and refuses sign-in; reactivation lets them sign in again but never revives the old session.
#[tokio::test]
async fn deactivation_ends_sessions_at_once_and_reactivation_does_not_revive_them() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let admin = env.admin().await;
    let id = env.world.customer_a.0;
    let r = admin.post(&format!("/api/v1/users/{id}/deactivate"), Value::Null).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert!(r.json["deactivated_at"].is_string());
    assert_eq!(status_of(&alice).await, 401, "the session ends at once");
    let mut again = env.anonymous();
    let refused = again.login(&env.world.customer_a.1, PASSWORD).await;
    assert_eq!(refused.status, 401, "a deactivated user cannot sign in");
    assert_eq!(refused.code(), "invalid_credentials");

    let r = admin.post(&format!("/api/v1/users/{id}/reactivate"), Value::Null).await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert!(r.json["deactivated_at"].is_null());
    assert_eq!(status_of(&alice).await, 401, "the old session stays dead");
    assert_eq!(status_of(&env.customer_a().await).await, 200, "a new sign-in works");
}

/// A session idle for more than 30 minutes is over; one idle for 29 minutes works and its idle timer restarts.
#[tokio::test]
async fn an_idle_session_ends_after_thirty_minutes() {
    let env = Env::start().await;
    let idle = env.customer_a().await;
    let recent = env.customer_a().await;
    let set_last_seen = |sid: Uuid, minutes: i64| {
        let pool = env.db.pool.clone();
        async move {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
                .bind(sid)
                .bind(Utc::now() - Duration::minutes(minutes))
                .execute(&pool)
                .await
                .expect("update");
        }
    };
    let (idle_sid, recent_sid) = (sid_of(&token_of(&idle)), sid_of(&token_of(&recent)));
    set_last_seen(idle_sid, 31).await;
    set_last_seen(recent_sid, 29).await;
    let r = idle.get("/api/v1/me").await;
    assert_eq!(r.status, 401, "31 minutes idle: {:?}", r.json);
    assert_eq!(status_of(&recent).await, 200, "29 minutes idle");
    let last_seen: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT last_seen_at FROM sessions WHERE id = $1")
            .bind(recent_sid)
            .fetch_one(&env.db.pool)
            .await
            .expect("row");
    assert!(Utc::now() - last_seen < Duration::seconds(30), "use restarts the idle timer: {last_seen}");
    let listed = recent.get("/api/v1/sessions").await;
    let ids: Vec<&str> =
        listed.json["sessions"].as_array().expect("list").iter().filter_map(|s| s["id"].as_str()).collect();
    assert!(!ids.contains(&idle_sid.to_string().as_str()), "an idle session is not listed as live");
}

/// A session past its absolute end (`expires_at`) is over.
#[tokio::test]
async fn a_session_past_its_absolute_end_is_over() {
    let env = Env::start().await;
    let expired = env.customer_a().await;
    let control = env.customer_a().await;
    sqlx::query("UPDATE sessions SET expires_at = $2 WHERE id = $1")
        .bind(sid_of(&token_of(&expired)))
        .bind(Utc::now() - Duration::seconds(1))
        .execute(&env.db.pool)
        .await
        .expect("update");
    assert_eq!(status_of(&expired).await, 401);
    assert_eq!(status_of(&control).await, 200);
}

/// Even a constantly active session (token refreshed every 10 minutes) ends 12 hours after sign-in.
#[tokio::test]
async fn an_active_session_still_ends_twelve_hours_after_sign_in() {
    let (env, clock) = Env::start_manual().await;
    let alice = env.customer_a().await;
    let mut token = token_of(&alice);
    for step in 1..=72 {
        clock.advance(Duration::minutes(10));
        let r = me_with(&env.origin.url, &token).await;
        if step < 72 {
            assert_eq!(r.status, 200, "after {} minutes of activity: {}", step * 10, r.text);
            token = new_token(&r).expect("refreshed after 10 minutes");
        } else {
            assert_eq!(r.status, 401, "12 hours after sign-in the session is over: {}", r.text);
        }
    }
}

/// A token older than five minutes is replaced by a fresh one (same session, same cookie attributes) that keeps working after the old one expires.
#[tokio::test]
async fn a_token_older_than_five_minutes_is_refreshed_with_a_working_one() {
    let (env, clock) = Env::start_manual().await;
    let alice = env.customer_a().await;
    let old = token_of(&alice);
    clock.advance(Duration::minutes(5) - Duration::seconds(1));
    let early = me_with(&env.origin.url, &old).await;
    assert_eq!(early.status, 200);
    assert!(
        early.session_cookies().is_empty(),
        "no refresh before five minutes: {:?}",
        early.session_cookies()
    );
    clock.advance(Duration::seconds(2));
    let due = me_with(&env.origin.url, &old).await;
    assert_eq!(due.status, 200);
    let set = due.session_cookies();
    assert_eq!(set.len(), 1, "one fresh cookie: {set:?}");
    let attrs = cookie_attributes(&set[0]);
    for a in ["httponly", "secure", "samesite=lax", "path=/"] {
        assert!(attrs.contains(&a.to_string()), "refreshed cookie has {a}: {}", set[0]);
    }
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "no Domain: {}", set[0]);
    let new = new_token(&due).expect("token");
    assert_ne!(new, old);
    assert_eq!(sid_of(&new), sid_of(&old), "same session");
    let (_, claims, _) = decode(&new);
    assert_eq!(claims["iat"].as_i64(), Some(clock.now().timestamp()), "issued now");
    assert_eq!(claims["exp"].as_i64(), Some(clock.now().timestamp() + 15 * 60), "for 15 minutes");
    clock.advance(Duration::minutes(10));
    let (_, old_claims, _) = decode(&old);
    assert!(old_claims["exp"].as_i64() < Some(clock.now().timestamp()), "the old token has expired");
    let later = me_with(&env.origin.url, &new).await;
    assert_eq!(later.status, 200, "the refreshed one works: {}", later.text);
}

/// An idle user stays signed in until the session's 30-minute idle timeout, not just the token's 15 minutes:
/// the next request after 20 minutes away is served and gets a fresh token; 31 minutes away signs them out.
#[tokio::test]
async fn an_idle_user_is_signed_out_after_thirty_minutes_not_when_the_token_expires() {
    let (env, clock) = Env::start_manual().await;
    let alice = env.customer_a().await;
    let token = token_of(&alice);
    clock.advance(Duration::minutes(20));
    let back = me_with(&env.origin.url, &token).await;
    assert_eq!(back.status, 200, "20 minutes idle (token expired 5 minutes ago): {}", back.text);
    let fresh = new_token(&back).expect("a fresh token for the returning user");
    let (_, claims, _) = decode(&fresh);
    assert_eq!(claims["iat"].as_i64(), Some(clock.now().timestamp()), "issued now");
    assert_eq!(claims["exp"].as_i64(), Some(clock.now().timestamp() + 15 * 60), "for another 15 minutes");
    assert_eq!(sid_of(&fresh), sid_of(&token), "the same session");
    clock.advance(Duration::minutes(31));
    let gone = me_with(&env.origin.url, &fresh).await;
    assert_eq!((gone.status, gone.code()), (401, "unauthorized"), "31 minutes idle: {}", gone.text);
    assert!(gone.session_cookies().is_empty(), "no fresh token for an idle session");
}

/// An expired token is renewed only within the idle timeout of its expiry: an old token (from a log, a
/// backup) cannot ride on a session that newer tokens keep live.
#[tokio::test]
async fn an_old_token_is_not_renewed_long_after_it_expired_even_for_a_live_session() {
    let (env, clock) = Env::start_manual().await;
    let alice = env.customer_a().await;
    let first = token_of(&alice);
    let mut current = first.clone();
    for minutes in [10, 20, 30, 40] {
        clock.advance(Duration::minutes(10));
        let r = me_with(&env.origin.url, &current).await;
        assert_eq!(r.status, 200, "active at {minutes} minutes: {}", r.text);
        current = new_token(&r).expect("refreshed");
    }
    // 40 minutes in: the first token expired 25 minutes ago, within the idle timeout.
    assert_eq!(me_with(&env.origin.url, &first).await.status, 200, "expired 25 minutes ago");
    clock.advance(Duration::minutes(10));
    assert_eq!(me_with(&env.origin.url, &current).await.status, 200, "the session is live");
    let stale = me_with(&env.origin.url, &first).await;
    assert_eq!(stale.status, 401, "expired 35 minutes ago: {}", stale.text);
    assert!(stale.session_cookies().is_empty());
}

/// During a key rotation (`JWT_KEYS=new,old`) cookies issued under the old key keep working and new ones are signed with the new key; once the old key is retired its cookies are refused.
#[tokio::test]
async fn tokens_issued_under_the_previous_key_keep_working_during_a_rotation() {
    let old = random_key_spec("old");
    let new = random_key_spec("new");
    let options = OriginOptions { jwt_keys: old.clone(), ..OriginOptions::default() };
    let env = Env::start_with(options.clone(), None).await;
    let alice = env.customer_a().await;
    let old_token = token_of(&alice);
    assert_eq!(decode(&old_token).0["kid"], "old");
    let email = env.world.customer_a.1.clone();
    let Env { db, origin, .. } = env;
    drop(origin);

    let rotating =
        Origin::start(&db, OriginOptions { jwt_keys: format!("{new},{old}"), ..options.clone() }).await;
    let r = me_with(&rotating.url, &old_token).await;
    assert_eq!(r.status, 200, "an old-key cookie during the rotation: {}", r.text);
    assert_eq!(r.json["user"]["email"], email);
    let mut fresh = ApiClient::new(&rotating.url);
    assert_eq!(fresh.login(&email, PASSWORD).await.status, 200);
    let new_token = token_of(&fresh);
    assert_eq!(decode(&new_token).0["kid"], "new", "the first key signs");
    drop(rotating);

    let retired = Origin::start(&db, OriginOptions { jwt_keys: new.clone(), ..options }).await;
    assert_eq!(me_with(&retired.url, &old_token).await.status, 401, "the retired key no longer verifies");
    assert_eq!(me_with(&retired.url, &new_token).await.status, 200);
}

/// The session cookie is `HttpOnly; Secure; SameSite=Lax; Path=/`, without `Domain`, named `sm_session` in development.
#[tokio::test]
async fn the_session_cookie_has_safe_attributes() {
    let env = Env::start().await;
    let mut client = env.anonymous();
    let login = client.login(&env.world.customer_a.1, PASSWORD).await;
    assert_eq!(login.status, 200);
    let set: Vec<String> = login
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.contains("sm_session"))
        .map(str::to_string)
        .collect();
    assert_eq!(set.len(), 1, "{set:?}");
    let cookie = &set[0];
    assert!(cookie.starts_with("sm_session="), "{cookie}");
    let attrs = cookie_attributes(cookie);
    for a in ["httponly", "secure", "samesite=lax", "path=/"] {
        assert!(attrs.contains(&a.to_string()), "{a} missing: {cookie}");
    }
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "no Domain: {cookie}");
    assert!(!attrs.iter().any(|a| a.starts_with("samesite=none")), "{cookie}");
    assert!(!login.json.to_string().contains(&token_of(&client)), "the token is only in the HttpOnly cookie");
}

// ---------------------------------------------------------------------------
// Audit rows
// ---------------------------------------------------------------------------

/// Revoking one session, signing out and "sign out everywhere" each write one audit row
/// (`auth.session_revoked`, `auth.logout`, `auth.sessions_revoked`) naming the user as
/// actor, the session or user as target, and the request that did it.
#[tokio::test]
async fn revoking_a_session_signing_out_and_signing_out_everywhere_are_audited() {
    let env = Env::start().await;
    let (id, email) = (env.world.customer_a.0, env.world.customer_a.1.clone());
    let me = (id, email.as_str());
    let laptop = env.customer_a().await;
    let phone = env.customer_a().await;
    let tablet = env.customer_a().await;
    let _desk = env.customer_a().await;
    let bob = env.customer_b().await;
    let phone_sid = session_id(&phone).await;
    for action in ["auth.session_revoked", "auth.logout", "auth.sessions_revoked"] {
        assert!(audit_rows(&env.db, action).await.is_empty(), "no {action} row yet");
    }
    let check = |what: &str, row: &Value, headers: &reqwest::header::HeaderMap, target: (&str, String)| {
        assert_audit_row(what, row, me, target);
        assert_eq!(row["org_id"], env.world.org_a.to_string(), "{what}: org_id in {row}");
        assert_eq!(row["request_id"], request_id_of(headers), "{what}: request_id in {row}");
    };

    let revoked = laptop.delete(&format!("/api/v1/sessions/{phone_sid}")).await;
    assert_eq!(revoked.status, 204);
    let row = the_audit_row(&env.db, "auth.session_revoked").await;
    check("revoking a session", &row, &revoked.headers, ("session", phone_sid.to_string()));
    assert_eq!(row["after"]["user_id"], id.to_string(), "{row}");
    assert!(
        audit_rows(&env.db, "auth.logout").await.is_empty(),
        "revoking another session is not a sign-out"
    );

    let out = laptop.post("/api/v1/auth/logout", Value::Null).await;
    assert_eq!(out.status, 204);
    check(
        "signing out",
        &the_audit_row(&env.db, "auth.logout").await,
        &out.headers,
        ("user", id.to_string()),
    );

    let everywhere = tablet.post("/api/v1/sessions/revoke-all", Value::Null).await;
    assert_eq!(everywhere.status, 200, "{:?}", everywhere.json);
    assert_eq!(everywhere.json["revoked"], 2, "the tablet and the desk");
    let row = the_audit_row(&env.db, "auth.sessions_revoked").await;
    check("signing out everywhere", &row, &everywhere.headers, ("user", id.to_string()));
    assert_eq!(row["after"], json!({ "count": 2, "reason": "signed out everywhere" }), "{row}");

    assert_eq!(status_of(&bob).await, 200, "Bob is untouched");
    let about_bob: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'auth.session%' AND (target_id = $1 OR actor_id = $2)",
    )
    .bind(env.world.customer_b.0.to_string())
    .bind(env.world.customer_b.0)
    .fetch_one(&env.db.pool)
    .await
    .expect("count");
    assert_eq!(about_bob, 0);
}

/// An audit row written over HTTP keeps the keyed hash of the client IP (never the IP),
/// the coarse user-agent class (never the string) and the id the response carried.
#[tokio::test]
async fn an_audit_row_written_over_http_carries_the_ip_hash_agent_class_and_request_id() {
    let env = Env::start().await;
    let alice = env.customer_a().await;
    let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    let out = raw(
        &env.origin.url,
        Method::POST,
        "/api/v1/auth/logout",
        &[
            ("cookie", alice.cookie.as_deref().expect("cookie")),
            ("origin", &env.origin.url),
            ("x-csrf-token", alice.csrf.as_deref().expect("csrf")),
            ("user-agent", ua),
        ],
        None,
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let row = the_audit_row(&env.db, "auth.logout").await;
    let ip_hash = expected_ip_hash(&env.origin.options.audit_keys, "127.0.0.1");
    assert_eq!(row["ip_hash"], ip_hash, "the keyed hash of 127.0.0.1: {row}");
    assert_eq!(row["user_agent"], "ios/human", "{row}");
    assert_eq!(row["request_id"], request_id_of(&out.headers), "{row}");
    let leaks =
        tables_containing(&env.db, &["127.0.0.1".into(), "iPhone OS".into(), "Safari/604".into()]).await;
    assert!(leaks.is_empty(), "the raw IP or user agent is stored: {leaks:?}");
}
