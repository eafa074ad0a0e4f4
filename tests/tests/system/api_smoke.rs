//! Smoke: sign in, read, write with CSRF, sign out.

use serde_json::json;
use system_tests::api::ApiClient;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::world::{self, PASSWORD};

#[tokio::test]
async fn a_customer_signs_in_edits_an_event_and_signs_out() {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    let mut alice = ApiClient::new(&origin.url);
    assert_eq!(alice.get("/api/v1/me").await.status, 401);
    let login = alice.login(&w.customer_a.1, PASSWORD).await;
    assert_eq!(login.status, 200, "{:?}", login.json);
    assert_eq!(alice.get("/api/v1/me").await.json["user"]["email"], w.customer_a.1);
    let events = alice.get("/api/v1/events").await;
    assert_eq!(events.json.as_array().unwrap().len(), 1);
    let path = format!("/api/v1/events/{}", w.event_a);
    let updated = alice.patch(&path, json!({ "name": "Renamed" })).await;
    assert_eq!(updated.status, 200, "{:?}", updated.json);
    let mut no_csrf = alice.clone();
    no_csrf.csrf = None;
    assert_eq!(no_csrf.patch(&path, json!({ "name": "Nope" })).await.status, 403);
    assert_eq!(alice.get(&format!("/api/v1/events/{}", w.event_b)).await.status, 404);
    assert_eq!(alice.post("/api/v1/auth/logout", serde_json::Value::Null).await.status, 204);
    assert_eq!(alice.get("/api/v1/me").await.status, 401);
}
