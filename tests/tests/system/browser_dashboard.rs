//! The dashboard in real headless Chromium: what an organiser or operator
//! does with it, and what an attacker cannot make it do. Every assertion
//! goes through the browser (DOM, console, dialogs, cookies), not the HTML.

use std::sync::Arc;
use std::time::Duration;

use origin_api::clock::SystemClock;
use origin_api::domain::actor::Actor;
use origin_api::domain::bands::{BandStatus, NewBand};
use origin_api::domain::events::EventPatch;
use shared::BandId;
use system_tests::api::ApiClient;
use system_tests::browser::{Browser, DESKTOP, PHONE};
use system_tests::db::TestDb;
use system_tests::edge::{Edge, EdgeOptions};
use system_tests::origin::{Origin, OriginOptions};
use system_tests::totp::{base32_decode, code_at};
use system_tests::world::{self, PASSWORD, World};
use system_tests::{eventually, http, unix_now};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const XSS_EVENT: &str = "<img src=x onerror=alert(1)>";
const XSS_LABEL: &str = "\"><script>window.__xss=1;alert(2)</script>";

async fn origin_with_world() -> (TestDb, Origin, World) {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    (db, origin, w)
}

/// Fails if anything in the session so far broke the Content-Security-Policy or opened a dialog.
async fn assert_clean(b: &Browser, what: &str) {
    assert!(!b.dialog_open().await, "{what}: a JavaScript dialog opened");
    let violations = b.csp_violations().await;
    assert!(violations.is_empty(), "{what}: CSP violations {violations:?}");
}

/// Every visible form control has a label a screen reader announces, and the page has one `h1`.
async fn assert_accessible_basics(b: &Browser, what: &str) {
    let unlabelled = b
        .js("return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
                .map(e => e.outerHTML);")
        .await;
    assert_eq!(unlabelled, serde_json::json!([]), "{what}: controls without a label");
    assert_eq!(b.count("h1").await, 1, "{what}: one main heading");
}

async fn screenshots(b: &Browser, name: &str) {
    assert_accessible_basics(b, name).await;
    b.screenshot(&format!("{name}-desktop"), DESKTOP).await;
    b.screenshot(&format!("{name}-phone"), PHONE).await;
}

/// An ADMIN enrols TOTP at first sign-in, signs in again with password + code,
/// creates an event with a window, imports bands from a CSV and sees them; a
/// tap on the real edge then shows up in that event's analytics.
#[tokio::test]
async fn an_admin_sets_up_an_event_in_the_browser_and_sees_an_edge_tap_in_its_analytics() {
    let db = TestDb::new().await;
    let listener = Origin::bind().await;
    let origin_url = format!("http://{}", listener.local_addr().expect("addr"));
    let options = OriginOptions::default();
    let edge = Edge::start(EdgeOptions {
        origin_url: origin_url.clone(),
        signing_keys: options.signing_keys.clone(),
        ..EdgeOptions::default()
    })
    .await;
    let options = OriginOptions { edge_url: Some(edge.base_url.clone()), ..options };
    let origin = Origin::start_on(listener, &db, options, Arc::new(SystemClock)).await;
    let w = world::build(origin.domain()).await;
    let b = Browser::start(&origin.url).await;

    // First sign-in: an ADMIN without a second factor can only enrol.
    b.sign_in(&w.admin.1, PASSWORD).await;
    b.wait_for_path("/mfa/enrol").await;
    assert_eq!(b.count(".qr svg").await, 1, "the enrolment QR code is drawn");
    screenshots(&b, "mfa-enrol").await;
    let secret = base32_decode(&b.text(".hint code").await);
    b.fill("#code", &code_at(&secret, unix_now())).await;
    b.mark_page().await;
    b.click("form[action='/mfa/enrol'] button[type=submit]").await;
    b.wait_for_new_page().await;
    assert_eq!(b.count("ul.codes li").await, 10, "ten recovery codes are shown once");
    b.click("a.button[href='/events']").await;
    b.wait_for_path("/events").await;

    // Sign out, then in again with password and the next code.
    b.click("header form[action='/logout'] button").await;
    b.wait_for_path("/login").await;
    b.sign_in(&w.admin.1, PASSWORD).await;
    b.second_factor(&code_at(&secret, unix_now() + 30)).await;
    assert_eq!(b.text("h1").await, "Events");

    // A new event for organisation A.
    b.open("/events/new").await;
    b.js(&format!("document.getElementById('org_id').value = '{}';", w.org_a)).await;
    b.fill("#name", "Browser Fest").await;
    b.fill("#default_url", "https://example.com/browser-default").await;
    b.click("form[action='/events'] button[type=submit]").await;
    let event_path = b.wait_for_path("/events/0").await;
    let event_path = event_path.split('?').next().unwrap_or_default().to_string();
    assert_eq!(b.text("h1").await, "Browser Fest");

    // An invalid window is refused with a message and nothing is lost.
    let now = chrono::Utc::now();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M").to_string();
    b.fill("#w-label", "live").await;
    b.set_value("#w-start", &fmt(now + chrono::Duration::hours(1))).await;
    b.set_value("#w-end", &fmt(now - chrono::Duration::hours(1))).await;
    b.fill("#w-url", "https://example.com/browser-live").await;
    b.click("form[action$='/windows'] button[type=submit]").await;
    let error = b.text("section[aria-labelledby='schedule-h'] .errors").await;
    assert!(!error.is_empty(), "a window ending before it starts gets a message");
    // Now a valid one, running now.
    b.fill("#w-label", "live").await;
    b.set_value("#w-start", &fmt(now - chrono::Duration::hours(1))).await;
    b.set_value("#w-end", &fmt(now + chrono::Duration::hours(2))).await;
    b.fill("#w-url", "https://example.com/browser-live").await;
    b.mark_page().await;
    b.click("form[action$='/windows'] button[type=submit]").await;
    b.wait_for_new_page().await;
    assert_eq!(b.count("svg.timeline rect.win").await, 1, "the window is on the timeline");
    assert_eq!(
        b.text("section[aria-labelledby='now-h'] a").await,
        "https://example.com/browser-live",
        "the page says where a tap goes right now"
    );
    screenshots(&b, "event").await;

    // Bands from a CSV: a bad file is reported row by row and imports nothing.
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "band_id,label\nBRWS0001,Gate A\nno!,Gate B\n").expect("csv");
    b.open(&format!("{event_path}/bands")).await;
    b.find("#file").await.send_keys(&bad.display().to_string()).await.expect("choose file");
    b.click("form[enctype='multipart/form-data'] button[type=submit]").await;
    let problems = b.text("table[aria-label='Rows to fix']").await;
    assert!(problems.contains('3'), "the bad row's line is named: {problems}");
    assert_eq!(b.count("td code").await, 0, "nothing was imported");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "band_id,label,status\nBRWS0001,Gate A,active\nBRWS0002,Gate B,active\nBRWS0003,Lost one,lost\n",
    )
    .expect("csv");
    b.find("#file").await.send_keys(&good.display().to_string()).await.expect("choose file");
    b.click("form[enctype='multipart/form-data'] button[type=submit]").await;
    b.wait_for_path(&format!("{event_path}/bands?notice=bands-imported")).await;
    assert!(!b.text("main .notice").await.is_empty(), "the import is confirmed");
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for cell in b.client.find_all(fantoccini::Locator::Css("td code")).await.expect("cells") {
            ids.push(cell.text().await.expect("text"));
        }
        ids
    };
    assert_eq!(ids, ["BRWS0001", "BRWS0002", "BRWS0003"]);
    screenshots(&b, "bands").await;

    // The edge has it (KV sync), and a tap there reaches this event's analytics.
    b.open(&event_path).await;
    eventually("the event page to say the edge has the change", Duration::from_secs(30), || async {
        b.open(&event_path).await;
        (b.count("[data-sync-state]").await == 1).then_some(())
    })
    .await;
    let tap = || async {
        let r = http::client().get(edge.url("/BRWS0002")).header("user-agent", IPHONE).send().await.ok()?;
        r.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string)
    };
    eventually("the edge to route BRWS0002 to the window", Duration::from_secs(30), || async {
        (tap().await.as_deref() == Some("https://example.com/browser-live")).then_some(())
    })
    .await;
    let analytics = format!("{event_path}/analytics");
    eventually("the tap to appear in the analytics", Duration::from_secs(45), || async {
        b.open(&analytics).await;
        (b.text("#total-taps").await.trim() != "0").then_some(())
    })
    .await;
    let total: u64 = b.text("#total-taps").await.trim().parse().expect("a number");
    assert!(total >= 1, "the tap is counted");
    assert!(b.count("svg.chart rect.bar").await >= 1, "the hourly chart has a bar");
    screenshots(&b, "analytics").await;
    b.open("/events").await;
    screenshots(&b, "events").await;
    b.open("/account").await;
    screenshots(&b, "account").await;
    b.open("/audit").await;
    screenshots(&b, "audit").await;
    assert_clean(&b, "the admin's whole session").await;
}

/// A CUSTOMER sees its own organisation's events only, and reaching for another
/// organisation's event or an ADMIN page by URL shows a refusal page.
#[tokio::test]
async fn a_customer_sees_only_its_organisation_and_cannot_reach_other_pages_by_url() {
    let (db, origin, w) = origin_with_world().await;
    let cli = Actor::cli();
    for (event, name) in [(w.event_a, "Alpha Weekender"), (w.event_b, "Bravo Nights")] {
        origin
            .domain()
            .update_event(&cli, event, EventPatch { name: Some(name.into()), ..Default::default() })
            .await
            .expect("rename");
    }
    let b = Browser::start(&origin.url).await;
    b.sign_in(&w.customer_a.1, PASSWORD).await;
    b.wait_for_path("/events").await;
    let listed = b.text("main table").await;
    assert!(listed.contains("Alpha Weekender"), "own event listed: {listed}");
    assert!(!listed.contains("Bravo Nights"), "another organisation's event is not listed: {listed}");
    assert_eq!(b.count("nav a[href='/users']").await, 0, "no ADMIN links for a CUSTOMER");

    b.open(&format!("/events/{}", w.event_a)).await;
    assert_eq!(b.text("h1").await, "Alpha Weekender");
    for path in [
        format!("/events/{}", w.event_b),
        format!("/events/{}/bands", w.event_b),
        format!("/events/{}/analytics", w.event_b),
    ] {
        b.open(&path).await;
        assert_eq!(b.text("h1").await, "Not found", "{path}");
        let body = b.text("main").await;
        assert!(!body.contains("Bravo"), "{path} reveals nothing: {body}");
        assert!(b.text("main code").await.len() >= 8, "{path} shows a request id");
    }
    for path in ["/users", "/audit"] {
        b.open(path).await;
        assert_eq!(b.text("h1").await, "Not allowed", "{path}");
    }
    // Tampering with a form's target: another organisation's band cannot be changed.
    b.open(&format!("/events/{}/bands", w.event_a)).await;
    b.js(&format!("document.querySelector('form[action^=\"/bands/\"]').action = '/bands/{}';", w.band_b))
        .await;
    b.js("document.querySelector('form[action^=\"/bands/\"]').submit();").await;
    b.wait_for_path(&format!("/bands/{}", w.band_b)).await;
    assert_eq!(b.text("h1").await, "Not found");
    let status: String = sqlx::query_scalar("SELECT status FROM bands WHERE band_id = $1")
        .bind(&w.band_b)
        .fetch_one(&db.pool)
        .await
        .expect("band");
    assert_eq!(status, "active", "B's band is untouched");
    screenshots(&b, "refused").await;
    assert_clean(&b, "the customer's session").await;
}

/// Hostile names render as text: no dialog, no CSP violation, no script run.
/// The control shows the browser would have reported an injected script.
#[tokio::test]
async fn hostile_event_names_and_band_labels_render_as_text() {
    let (_db, origin, w) = origin_with_world().await;
    let cli = Actor::cli();
    origin
        .domain()
        .update_event(&cli, w.event_a, EventPatch { name: Some(XSS_EVENT.into()), ..Default::default() })
        .await
        .expect("rename");
    let band = NewBand {
        line: 2,
        band_id: BandId::parse("XSSBAND1").expect("id"),
        label: XSS_LABEL.into(),
        status: BandStatus::Active,
        override_url: None,
    };
    origin.domain().import_bands(&cli, w.event_a, vec![band], Vec::new()).await.expect("band");

    let b = Browser::start(&origin.url).await;
    b.sign_in(&w.customer_a.1, PASSWORD).await;
    b.wait_for_path("/events").await;
    let pages = [
        "/events".to_string(),
        format!("/events/{}", w.event_a),
        format!("/events/{}/bands", w.event_a),
        format!("/events/{}/bands?q=%3Cscript%3Ealert(3)%3C%2Fscript%3E", w.event_a),
        format!("/events/{}/analytics", w.event_a),
    ];
    for page in &pages {
        b.open(page).await;
        assert!(!b.dialog_open().await, "{page}: no dialog");
        assert_eq!(b.js("return typeof window.__xss;").await, "undefined", "{page}: no injected script ran");
        assert_eq!(b.count("img").await, 0, "{page}: the name did not become an element");
        assert_eq!(b.count("main script").await, 0, "{page}: no script element in the content");
        let violations = b.csp_violations().await;
        assert!(violations.is_empty(), "{page}: CSP violations {violations:?}");
    }
    b.open(&format!("/events/{}", w.event_a)).await;
    assert_eq!(b.text("h1").await, XSS_EVENT, "the event name is shown literally");
    b.open(&format!("/events/{}/bands?q=XSSBAND1", w.event_a)).await;
    let label = b.text("tbody tr td:nth-child(2)").await;
    assert_eq!(label, XSS_LABEL, "the band label is shown literally");
    screenshots(&b, "hostile-names").await;

    // Control: a script injected into this page is blocked and reported by the browser,
    // so the empty reports above mean something.
    b.js("var s = document.createElement('script'); s.textContent = 'window.__xss = 1'; document.body.appendChild(s);")
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.js("return typeof window.__xss;").await, "undefined", "the CSP blocked the inline script");
    let violations = b.csp_violations().await;
    assert!(!violations.is_empty(), "the browser reports the blocked script");
}

/// A form submitted without its CSRF token is refused and changes nothing; the
/// session cookie exists but page scripts cannot read it.
#[tokio::test]
async fn forms_without_the_csrf_token_fail_and_scripts_cannot_read_the_session_cookie() {
    let (db, origin, w) = origin_with_world().await;
    let b = Browser::start(&origin.url).await;
    b.sign_in(&w.customer_a.1, PASSWORD).await;
    b.wait_for_path("/events").await;

    let cookies = b.client.get_all_cookies().await.expect("cookies");
    let session =
        cookies.iter().find(|c| c.name() == "sm_session").expect("the browser holds the session cookie");
    assert_eq!(session.http_only(), Some(true));
    let visible = b.js("return document.cookie;").await;
    assert!(!visible.as_str().unwrap_or_default().contains("sm_session"), "document.cookie: {visible}");

    let event_page = format!("/events/{}", w.event_a);
    let name = || async {
        sqlx::query_scalar::<_, String>("SELECT name FROM events WHERE id = $1")
            .bind(w.event_a)
            .fetch_one(&db.pool)
            .await
            .expect("name")
    };
    let before = name().await;
    for (what, tamper) in [
        ("without its token", "f.querySelector('input[name=csrf_token]').remove();"),
        ("with a forged token", "f.querySelector('input[name=csrf_token]').value = 'forged';"),
    ] {
        b.open(&event_page).await;
        b.fill("section[aria-labelledby='edit-h'] #name", "Renamed").await;
        b.mark_page().await;
        b.js(&format!(
            "var f = document.querySelector(\"section[aria-labelledby='edit-h'] form\"); {tamper} f.submit();"
        ))
        .await;
        b.wait_for_new_page().await;
        assert_eq!(b.text("h1").await, "Not allowed", "a form {what}");
        assert_eq!(name().await, before, "a form {what} changed nothing");
    }
    // Control: the untouched form works.
    b.open(&event_page).await;
    b.fill("section[aria-labelledby='edit-h'] #name", "Renamed").await;
    b.click("section[aria-labelledby='edit-h'] button[type=submit]").await;
    eventually("the rename", Duration::from_secs(10), || async { (name().await == "Renamed").then_some(()) })
        .await;
    assert_clean(&b, "the CSRF session").await;
}

/// A CUSTOMER deletes a band and then an event (each after the browser's
/// confirmation; the event after a fresh code from the authenticator app),
/// finds both in Trash, restores them (one by keyboard) and sees them back.
#[tokio::test]
async fn a_customer_deletes_a_band_and_an_event_and_restores_both_from_the_trash() {
    let (db, origin, w) = origin_with_world().await;
    let patch = EventPatch { name: Some("Alpha Weekender".into()), ..Default::default() };
    origin.domain().update_event(&Actor::cli(), w.event_a, patch).await.expect("rename");
    // Alice has an authenticator app (enrolled a step back, so the browser's sign-in code is a new one).
    let mut api = ApiClient::new(&origin.url);
    assert_eq!(api.login(&w.customer_a.1, PASSWORD).await.status, 200);
    let (secret, _) = api.enrol_mfa(unix_now() - 30).await;
    let deleted = || async {
        sqlx::query_as::<_, (bool, bool)>(
            "SELECT (SELECT deleted_at IS NOT NULL FROM events WHERE id = $1),
                    (SELECT deleted_at IS NOT NULL FROM bands WHERE band_id = $2)",
        )
        .bind(w.event_a)
        .bind(&w.band_a)
        .fetch_one(&db.pool)
        .await
        .expect("state")
    };

    let b = Browser::start(&origin.url).await;
    b.sign_in(&w.customer_a.1, PASSWORD).await;
    b.second_factor(&code_at(&secret, unix_now())).await;

    // The band: cancelling the confirmation keeps it, confirming deletes it.
    let bands = format!("/events/{}/bands", w.event_a);
    let delete_band = format!("form[action='/bands/{}/delete'] button[type=submit]", w.band_a);
    b.open(&bands).await;
    b.click(&delete_band).await;
    let question = b.answer_dialog(false).await;
    assert!(question.contains(&w.band_a) && question.contains("Trash"), "the question: {question}");
    assert_eq!(deleted().await, (false, false), "cancelled: nothing deleted");
    assert_eq!(b.count(&delete_band).await, 1, "still listed");
    b.click(&delete_band).await;
    b.answer_dialog(true).await;
    b.wait_for_path(&format!("{bands}?notice=band-deleted")).await;
    assert!(b.text("main .notice").await.contains("Trash"), "the notice says where it went");
    assert_eq!(b.count("td code").await, 0, "the band is gone from the list");
    assert_eq!(deleted().await, (false, true));

    // The event: ten minutes after signing in the code has gone stale, so Alice confirms it is her.
    sqlx::query("UPDATE sessions SET mfa_at = mfa_at - interval '11 minutes' WHERE user_id = $1")
        .bind(w.customer_a.0)
        .execute(&db.pool)
        .await
        .expect("age the step-up");
    let event = format!("/events/{}", w.event_a);
    let delete_event = format!("form[action='{event}/delete'] button[type=submit]");
    b.open(&event).await;
    b.click(&delete_event).await;
    let question = b.answer_dialog(true).await;
    assert!(question.contains("Trash"), "the question: {question}");
    b.wait_for_path("/account").await;
    let reason = b.text("#step-up .notice").await;
    assert!(reason.contains("authenticator app"), "the page says what to do: {reason}");
    assert_eq!(deleted().await, (false, true), "not deleted without the code");
    screenshots(&b, "step-up-for-delete").await;
    b.fill("#step_code", &code_at(&secret, unix_now() + 30)).await;
    b.click("form[action='/account/step-up'] button[type=submit]").await;
    b.wait_for_path(&format!("{event}?notice=stepped-up")).await;
    b.click(&delete_event).await;
    b.answer_dialog(true).await;
    b.wait_for_path("/events?notice=event-deleted").await;
    assert!(b.text("main .notice").await.contains("Trash"), "the notice says where it went");
    assert!(!b.text("main").await.contains("Alpha Weekender"), "the event is gone from the list");
    assert_eq!(deleted().await, (true, true));

    // Both are in the trash, with who deleted them.
    b.click("nav a[href='/trash']").await;
    b.wait_for_path("/trash").await;
    let event_row = format!("tr[data-kind='event'][data-id='{}']", w.event_a);
    let band_row = format!("tr[data-kind='band'][data-id='{}']", w.band_a);
    assert!(b.text(&event_row).await.contains("Alpha Weekender"));
    assert!(b.text(&band_row).await.contains(&w.customer_a.1), "who deleted it");
    assert_eq!(b.count("tbody tr").await, 2, "only Alice's organisation's items");
    screenshots(&b, "trash").await;

    // Restore the event (the band was deleted on its own, so it stays), then the band by keyboard.
    b.click(&format!("{event_row} button[type=submit]")).await;
    b.wait_for_path("/trash?notice=event-restored").await;
    assert_eq!(deleted().await, (false, true));
    b.press_enter(&format!("{band_row} button[type=submit]")).await;
    b.wait_for_path("/trash?notice=band-restored").await;
    assert_eq!(deleted().await, (false, false));
    assert_eq!(b.count("tbody tr").await, 0, "the trash is empty");

    b.open("/events").await;
    assert!(b.text("main table").await.contains("Alpha Weekender"), "the event is back");
    b.open(&bands).await;
    assert_eq!(b.text("td code").await, w.band_a, "the band is back");
    assert_clean(&b, "the delete and restore session").await;
}
