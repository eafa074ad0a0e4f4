//! Accessibility and no-JavaScript use of the dashboard, in real Chromium.
//!
//! Organisers use the dashboard at the venue, on a phone, sometimes with a
//! keyboard or a screen reader, sometimes with JavaScript blocked. Every page
//! either role can reach (the list comes from the route table, so a new page
//! cannot be missed) is audited in the browser: names for every control, one
//! `h1` and no skipped heading levels, a language, text alternatives. The
//! sign-in and the event form are used by keyboard alone with a visible focus
//! at every step; the venue pages fit a phone's width; and the core flows work
//! with JavaScript switched off.

use std::collections::BTreeSet;

use origin_api::dashboard::page::is_page;
use origin_api::domain::actor::Actor;
use origin_api::domain::bands::{BandStatus, NewBand};
use origin_api::domain::events::{EventPatch, NewWindow};
use origin_api::http::routes::{self, MethodSpec};
use serde_json::{Value, json};
use shared::BandId;
use system_tests::browser::Browser;
use system_tests::db::TestDb;
use system_tests::origin::{Origin, OriginOptions};
use system_tests::totp::{base32_decode, code_at};
use system_tests::unix_now;
use system_tests::world::{self, PASSWORD, World};

/// WebDriver key codes.
const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";
const SELECT_ALL: &str = "\u{e009}a\u{e000}";

/// Phones held upright (CSS pixels): the issue's, and the narrowest common Android one.
const PHONES: [(u32, u32); 2] = [(375, 812), (360, 800)];

/// GET routes that answer with something other than a page (the sweep checks every other one).
const NOT_HTML: [&str; 5] = [
    "/static/app.css",
    "/static/app.js",
    "/events/{id}/sync",
    "/events/{id}/recent",
    "/events/{id}/analytics.csv",
];

/// Everything wrong with the current page's basics, as readable lines (run in the page).
const AUDIT_JS: &str = r#"
const problems = [];
const text = e => (e ? e.textContent.replace(/\s+/g, ' ').trim() : '');
const byIds = ids => (ids || '').split(/\s+/).filter(Boolean)
    .map(id => text(document.getElementById(id))).join(' ').trim();
const aria = e => (e.getAttribute('aria-label') || '').trim() || byIds(e.getAttribute('aria-labelledby'));
const short = e => e.outerHTML.replace(/\s+/g, ' ').slice(0, 160);

if (!(document.documentElement.getAttribute('lang') || '').trim()) problems.push('<html> has no lang');
if (!document.title.trim()) problems.push('the page has no title');
if (document.querySelectorAll('main').length !== 1) problems.push('not exactly one <main>');

// Every control a user fills in is announced with a name (even those in a closed <details>).
for (const e of document.querySelectorAll('input, select, textarea')) {
  const type = (e.getAttribute('type') || 'text').toLowerCase();
  if (e.tagName === 'INPUT' && ['hidden', 'submit', 'button', 'reset', 'image'].includes(type)) continue;
  if (![...e.labels].some(l => text(l)) && !aria(e)) problems.push('control without a label: ' + short(e));
}
for (const l of document.querySelectorAll('label[for]')) {
  if (!l.control) problems.push('label for no control: ' + short(l));
}
for (const e of document.querySelectorAll('button, a[href], input[type=submit], input[type=button]')) {
  if (!text(e) && !aria(e) && !(e.value || '').trim()) problems.push('button or link without a name: ' + short(e));
}
const ids = {};
for (const e of document.querySelectorAll('[id]')) ids[e.id] = (ids[e.id] || 0) + 1;
for (const [id, n] of Object.entries(ids)) if (n > 1) problems.push(`id "${id}" is used ${n} times`);

// One h1, and headings that only ever go one level deeper.
const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')];
const h1s = headings.filter(h => h.tagName === 'H1').length;
if (h1s !== 1) problems.push(`${h1s} h1 elements, not one`);
let previous = 0;
for (const h of headings) {
  const level = Number(h.tagName[1]);
  if (level > previous + 1) {
    problems.push(`heading level skipped: ${previous ? 'h' + previous : 'the top of the page'} then h${level} "${text(h)}"`);
  }
  if (!text(h)) problems.push('empty heading: ' + short(h));
  previous = level;
}

// Images have a text alternative; drawings are either named images or hidden from screen readers.
for (const i of document.querySelectorAll('img:not([alt])')) problems.push('img without alt: ' + short(i));
for (const e of document.querySelectorAll('[role=img]')) {
  const title = e.tagName.toLowerCase() === 'svg' ? text(e.querySelector(':scope > title')) : '';
  if (!aria(e) && !title) problems.push('image without a text alternative: ' + short(e));
}
for (const s of document.querySelectorAll('svg')) {
  if (!s.closest('[role=img], [aria-hidden=true]')) problems.push('svg neither a named image nor hidden: ' + short(s));
}
return problems;
"#;

/// The focused element and whether it shows where the focus is.
const FOCUS_JS: &str = r#"
const e = document.activeElement;
if (!e || e === document.body || e === document.documentElement) return null;
const s = getComputedStyle(e);
const r = e.getBoundingClientRect();
const invisible = c => c === 'transparent' || /rgba\(.*,\s*0\)$/.test(c);
const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 && !invisible(s.outlineColor);
const shadow = s.boxShadow !== '' && s.boxShadow !== 'none';
const label = (e.id ? '#' + e.id : '') + ' ' + (e.matches('input, select, textarea') ? '' : e.textContent);
return {
  id: e.id,
  what: e.tagName.toLowerCase() + ' ' + label.replace(/\s+/g, ' ').trim().slice(0, 60),
  indicator: outline || shadow,
  style: `outline: ${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}; box-shadow: ${s.boxShadow}`,
  inView: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth,
  target: e.matches(arguments[0]),
};
"#;

/// Whether the page is wider than the window, and what sticks out.
const OVERFLOW_JS: &str = r#"
// The phone's width (a page too wide makes a phone's browser widen the layout to fit it).
const width = arguments[0];
// Inside a container that scrolls (or clips) sideways, wide content stays in that container
// (positioned content only if the container is positioned too: roughly, anything absolute counts).
const contained = e => {
  if (['absolute', 'fixed'].includes(getComputedStyle(e).position)) return false;
  for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return true;
  }
  return false;
};
const wide = [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width + 0.5 && !contained(e))
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > width + 0.5))
  .map(e => e.outerHTML.replace(/\s+/g, ' ').slice(0, 120));
return {
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  clientWidth: document.documentElement.clientWidth,
  viewport: (document.querySelector('meta[name=viewport]') || {}).content || null,
  wide: wide.slice(0, 5),
};
"#;

async fn origin_with_world() -> (TestDb, Origin, World) {
    let db = TestDb::new().await;
    let origin = Origin::start(&db, OriginOptions::default()).await;
    let w = world::build(origin.domain()).await;
    (db, origin, w)
}

/// The path of a reset link in a mail the origin wrote to its `MAIL_DIR` (development mail).
fn reset_link_in_mail(db_name: &str) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("sm-mail-{db_name}"));
    std::fs::read_dir(dir).ok()?.filter_map(|f| std::fs::read_to_string(f.ok()?.path()).ok()).find_map(
        |mail| {
            // Quoted-printable soft breaks and `=` escapes.
            let mail = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
            let at = mail.find("/reset-password?token=")?;
            let link: String = mail[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/-_?=.".contains(*c))
                .collect();
            Some(link)
        },
    )
}

async fn sign_out(b: &Browser) {
    b.click("header form[action='/logout'] button").await;
    b.wait_for_path("/login").await;
}

/// The sweep: audits pages and remembers which routes it has seen.
#[derive(Default)]
struct Sweep {
    routes: BTreeSet<&'static str>,
    problems: Vec<String>,
}

impl Sweep {
    /// Audits the page the browser shows, which `route` answered and whose `h1` is `h1`.
    async fn check(&mut self, b: &Browser, route: &'static str, h1: &str) {
        let at = b.path().await;
        assert_eq!(b.text("h1").await, h1, "{route}: the sweep is on the wrong page ({at})");
        self.routes.insert(route);
        let problems = b.js(AUDIT_JS).await;
        for problem in problems.as_array().expect("a list") {
            self.problems.push(format!("{at} ({route}): {}", problem.as_str().unwrap_or_default()));
        }
    }
}

/// Every dashboard page an ADMIN or a CUSTOMER can reach, in the states people
/// meet them in (empty and full, with and without an error message), labels
/// every control, has one `h1` and no skipped heading levels, a language, and
/// text for its images. The route table is the list: a page route this sweep
/// does not visit fails the test.
#[tokio::test]
async fn every_page_an_admin_or_a_customer_reaches_has_labels_headings_a_language_and_alt_text() {
    let (db, origin, w) = origin_with_world().await;
    let cli = Actor::cli();
    // Something in the ADMIN's trash: a band and a user.
    origin.domain().delete_band(&cli, &BandId::parse(&w.band_b).expect("id")).await.expect("delete band");
    origin.domain().delete_user(&cli, w.deactivated.0).await.expect("delete user");
    let b = Browser::start(&origin.url).await;
    let mut sweep = Sweep::default();

    // Signed out.
    b.open("/").await;
    b.wait_for_path("/login").await;
    sweep.check(&b, "/", "Sign in").await;
    b.sign_in(&w.admin.1, "not the password at all").await;
    b.find("main .errors").await;
    sweep.check(&b, "/login", "Sign in").await;
    b.open("/forgot-password").await;
    sweep.check(&b, "/forgot-password", "Forgot your password?").await;
    // A known account, so that its mail holds a live link to the reset form.
    b.fill("#email", &w.customer_a.1).await;
    b.click("form[action='/forgot-password'] button[type=submit]").await;
    b.wait_for_path("/login?notice=reset-sent").await;
    sweep.check(&b, "/login", "Sign in").await;
    let link = system_tests::eventually("the reset mail", std::time::Duration::from_secs(10), || async {
        reset_link_in_mail(&db.name)
    })
    .await;
    b.open(&link).await;
    b.find("#password").await;
    sweep.check(&b, "/reset-password", "Choose a new password").await;
    // A dead link says so at once, with the way to a new one.
    b.open("/reset-password?token=not-a-token").await;
    b.find("main .errors").await;
    b.find("main a[href='/forgot-password']").await;
    sweep.check(&b, "/reset-password", "Choose a new password").await;

    // The ADMIN: enrolment first, then the challenge, then every page.
    b.sign_in(&w.admin.1, PASSWORD).await;
    b.wait_for_path("/mfa/enrol").await;
    sweep.check(&b, "/mfa/enrol", "Two-factor authentication").await;
    let secret = base32_decode(&b.text(".hint code").await);
    b.fill("#code", &code_at(&secret, unix_now())).await;
    b.click("form[action='/mfa/enrol'] button[type=submit]").await;
    b.find("ul.codes li").await;
    sweep.check(&b, "/mfa/enrol", "Save your recovery codes").await;
    b.click("a.button[href='/events']").await;
    b.wait_for_path("/events").await;
    sign_out(&b).await;
    b.sign_in(&w.admin.1, PASSWORD).await;
    b.wait_for_path("/login/mfa").await;
    sweep.check(&b, "/login/mfa", "Authentication code").await;
    b.fill("#code", "000000").await;
    b.click("form[action='/login/mfa'] button[type=submit]").await;
    b.find("main .errors").await;
    sweep.check(&b, "/login/mfa", "Authentication code").await;
    b.fill("#code", &code_at(&secret, unix_now() + 30)).await;
    b.click("form[action='/login/mfa'] button[type=submit]").await;
    b.wait_for_path("/events").await;
    let event = format!("/events/{}", w.event_a);
    // The pages both roles reach, each with its route and heading.
    let common = [
        ("/events".to_string(), "/events", "Events"),
        ("/events/new".to_string(), "/events/new", "New event"),
        (event.clone(), "/events/{id}", "Fest"),
        (format!("{event}/bands"), "/events/{id}/bands", "Bands"),
        (format!("{event}/analytics"), "/events/{id}/analytics", "Analytics"),
        ("/trash".to_string(), "/trash", "Trash"),
        ("/account".to_string(), "/account", "My account"),
        ("/mfa/enrol".to_string(), "/mfa/enrol", "Two-factor authentication"),
    ];
    for (path, route, h1) in common.iter().cloned().chain([
        ("/audit".to_string(), "/audit", "Audit log"),
        ("/users".to_string(), "/users", "Users"),
        (format!("/events/{}", uuid::Uuid::new_v4()), "/events/{id}", "Not found"),
    ]) {
        b.open(&path).await;
        sweep.check(&b, route, h1).await;
    }
    b.open("/trash").await;
    assert_eq!(b.count("tbody tr").await, 2, "the ADMIN's trash has the band and the user");
    sign_out(&b).await;

    // A CUSTOMER without a second factor, including a form sent back with an error.
    b.sign_in(&w.customer_a.1, PASSWORD).await;
    b.wait_for_path("/events").await;
    for (path, route, h1) in common.iter().cloned().chain([
        ("/users".to_string(), "/users", "Not allowed"),
        ("/audit".to_string(), "/audit", "Not allowed"),
    ]) {
        b.open(&path).await;
        sweep.check(&b, route, h1).await;
    }
    b.open("/events/new").await;
    b.fill("#name", "Half-made").await;
    b.fill("#default_url", "http://insecure.example").await;
    b.click("form[action='/events'] button[type=submit]").await;
    b.find("main .errors").await;
    sweep.check(&b, "/events/new", "New event").await;
    b.open(&event).await;
    b.fill("section[aria-labelledby='edit-h'] #default_url", "http://insecure.example").await;
    b.click("section[aria-labelledby='edit-h'] button[type=submit]").await;
    b.find("section[aria-labelledby='edit-h'] .errors").await;
    sweep.check(&b, "/events/{id}", "Fest").await;

    let pages: BTreeSet<&str> = routes::table()
        .into_iter()
        .filter(|r| r.method == MethodSpec::Get && is_page(r.path))
        .map(|r| r.path)
        .collect();
    for route in NOT_HTML {
        assert!(pages.contains(route), "{route} is listed as not a page but is no route");
    }
    let missed: Vec<_> =
        pages.iter().filter(|p| !sweep.routes.contains(*p) && !NOT_HTML.contains(p)).collect();
    assert!(missed.is_empty(), "page routes the sweep never visited: {missed:?}");
    assert!(sweep.problems.is_empty(), "accessibility problems:\n{}", sweep.problems.join("\n"));
}

/// What [`FOCUS_JS`] reports.
struct Focus {
    id: String,
    what: String,
    target: bool,
}

/// Presses Tab and checks the newly focused element shows its focus and is on screen;
/// `target` tells whether it matches the CSS selector `target`.
async fn tab(b: &Browser, target: &str, page: &str) -> Option<Focus> {
    b.keys(TAB).await;
    let f = b.client.execute(FOCUS_JS, vec![json!(target)]).await.expect("focus state");
    if f == Value::Null {
        return None;
    }
    let what = f["what"].as_str().unwrap_or_default().to_string();
    assert_eq!(f["indicator"], true, "{page}: no visible focus on {what} ({})", f["style"]);
    assert_eq!(f["inView"], true, "{page}: the focused {what} is off screen");
    Some(Focus { id: f["id"].as_str().unwrap_or_default().to_string(), what, target: f["target"] == true })
}

/// The position of the first focus stop with `id` in `order`.
fn stop(order: &[Focus], id: &str) -> usize {
    order.iter().position(|f| f.id == id).unwrap_or_else(|| {
        panic!("Tab never reaches #{id}: {:?}", order.iter().map(|f| f.what.as_str()).collect::<Vec<_>>())
    })
}

/// The sign-in page and the event form, by keyboard alone: every Tab stop shows
/// a visible focus ring and is on screen, the order follows the form, the skip
/// link jumps to the content, and both forms are sent with Enter.
#[tokio::test]
async fn the_sign_in_and_the_event_form_work_by_keyboard_with_a_visible_focus_at_every_stop() {
    let (db, origin, w) = origin_with_world().await;
    let b = Browser::start(&origin.url).await;

    // Every stop on the sign-in page, up to its submit button and past it.
    b.open("/login").await;
    let submit = "form[action='/login'] button[type=submit]";
    let mut order = Vec::new();
    while let Some(f) = tab(&b, submit, "sign-in").await {
        if order.iter().any(|o: &Focus| o.what == f.what) || order.len() > 20 {
            break;
        }
        order.push(f);
    }
    let whats: Vec<_> = order.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(whats.first().copied(), Some("a Skip to content"), "the skip link comes first: {whats:?}");
    let button =
        order.iter().position(|f| f.target).unwrap_or_else(|| panic!("Tab never reaches Sign in: {whats:?}"));
    assert!(stop(&order, "email") < stop(&order, "password"), "email, then password: {whats:?}");
    assert!(stop(&order, "password") < button, "then the button: {whats:?}");

    // Sign in with the keyboard only: skip to the content, type, Tab, type, Tab, Enter.
    b.open("/login").await;
    b.keys(TAB).await;
    b.keys(ENTER).await;
    assert_eq!(b.js("return document.activeElement.id;").await, "main", "the skip link moves the focus");
    assert!(tab(&b, submit, "sign-in").await.is_some_and(|f| f.id == "email"), "then the email field");
    b.keys(&w.customer_a.1).await;
    assert!(tab(&b, submit, "sign-in").await.is_some_and(|f| f.id == "password"), "then the password");
    b.keys(PASSWORD).await;
    assert!(tab(&b, submit, "sign-in").await.is_some_and(|f| f.target), "then the button");
    b.keys(ENTER).await;
    b.wait_for_path("/events").await;

    // The event page, from its top to the edit form's Save, changing the destination on the way.
    let event = format!("/events/{}", w.event_a);
    b.open(&event).await;
    let save = "section[aria-labelledby='edit-h'] button[type=submit]";
    let new_url = "https://example.com/typed-by-keyboard";
    let mut order = Vec::new();
    for _ in 0..150 {
        let f = tab(&b, save, "event page").await.expect("Tab never leaves the page before Save");
        if f.id == "default_url" {
            b.keys(SELECT_ALL).await;
            b.keys(new_url).await;
        }
        let done = f.target;
        order.push(f);
        if done {
            break;
        }
    }
    let whats: Vec<_> = order.iter().map(|f| f.what.as_str()).collect();
    assert!(order.last().is_some_and(|f| f.target), "Tab reaches the form's Save: {whats:?}");
    let fields = ["name", "default_url", "fallback_url", "status", "timezone"];
    let stops: Vec<usize> = fields.iter().map(|id| stop(&order, id)).collect();
    assert!(stops.is_sorted(), "the form's fields in order: {whats:?}");
    b.keys(ENTER).await;
    b.wait_for_path(&format!("{event}?notice=event-saved")).await;
    assert_eq!(b.js("return document.getElementById('default_url').value;").await, new_url);
    let stored: Option<String> = sqlx::query_scalar("SELECT default_url FROM events WHERE id = $1")
        .bind(w.event_a)
        .fetch_one(&db.pool)
        .await
        .expect("event");
    assert_eq!(stored.as_deref(), Some(new_url), "the keyboard's edit is saved");
}

/// On a phone (375 × 812 as the issue says, and 360 × 800), emulated as a
/// phone's browser (viewport meta tag honoured, overlay scrollbars), the pages
/// an organiser opens at the venue fit the screen: laid out at the phone's
/// width and nothing wider, even with long destination URLs and a band's edit
/// form open.
#[tokio::test]
async fn the_venue_pages_fit_a_phone_screen() {
    let (_db, origin, w) = origin_with_world().await;
    let cli = Actor::cli();
    let long = "https://tickets.example.com/festival/2026/main-stage/wristband-landing?utm_source=nfc&utm_medium=wristband&utm_campaign=summer";
    let patch = EventPatch {
        name: Some("Summer Open Air Weekender".into()),
        default_url: Some(long.into()),
        fallback_url: Some(format!("{long}&fallback=1")),
        ..Default::default()
    };
    origin.domain().update_event(&cli, w.event_a, patch).await.expect("event");
    let now = chrono::Utc::now();
    let window = NewWindow {
        label: "headliner".into(),
        url: format!("{long}&window=headliner"),
        starts_at: now + chrono::Duration::hours(2),
        ends_at: now + chrono::Duration::hours(4),
    };
    origin.domain().add_window(&cli, w.event_a, window).await.expect("window");
    let band = NewBand {
        line: 2,
        band_id: BandId::parse("PHONE001").expect("id"),
        label: "Backstage crew, gate B".into(),
        status: BandStatus::Lost,
        override_url: Some(format!("{long}&band=PHONE001")),
    };
    origin.domain().import_bands(&cli, w.event_a, vec![band], Vec::new()).await.expect("band");

    let b = Browser::start(&origin.url).await;
    b.sign_in(&w.customer_a.1, PASSWORD).await;
    b.wait_for_path("/events").await;
    let event = format!("/events/{}", w.event_a);
    let pages = [
        ("events", "/events".to_string()),
        ("event", event.clone()),
        ("bands", format!("{event}/bands")),
        ("analytics", format!("{event}/analytics")),
    ];
    let mut problems = Vec::new();
    for (phone, (name, path)) in
        PHONES.into_iter().flat_map(|phone| pages.iter().map(move |page| (phone, page)))
    {
        b.client.set_window_size(phone.0, phone.1).await.expect("resize");
        b.emulate_phone(phone.0, phone.1).await;
        b.open(path).await;
        if *name == "bands" {
            b.click("tbody tr:first-child summary").await;
        }
        let m = b.client.execute(OVERFLOW_JS, vec![json!(phone.0)]).await.expect("measure");
        let viewport = m["viewport"].as_str().unwrap_or_default();
        // Without the tag a phone lays the page out 980 px wide and shrinks it to fit.
        if !viewport.contains("width=device-width") || m["innerWidth"] != phone.0 {
            problems.push(format!(
                "{name} at {phone:?}: laid out {} px wide, not at the phone's width (viewport meta: {viewport:?})",
                m["innerWidth"]
            ));
        }
        if m["scrollWidth"].as_u64() > m["innerWidth"].as_u64().min(m["clientWidth"].as_u64()) {
            problems.push(format!(
                "{name} at {phone:?}: {} px wide on a {} px screen; sticking out: {}",
                m["scrollWidth"], m["clientWidth"], m["wide"]
            ));
        }
        if phone == PHONES[0] {
            // The screenshot shows the part most likely to be too wide.
            let scroll = "window.scrollTo(0, document.querySelector(arguments[0]).getBoundingClientRect().top + scrollY - 60);";
            match *name {
                "event" => b.client.execute(scroll, vec![json!("#schedule-h")]).await.expect("scroll"),
                "bands" => b.client.execute(scroll, vec![json!("main tbody")]).await.expect("scroll"),
                _ => Value::Null,
            };
            b.screenshot(&format!("phone-{name}"), phone).await;
        }
    }
    assert!(problems.is_empty(), "pages that do not fit a phone:\n{}", problems.join("\n"));
}

/// With JavaScript switched off an ADMIN enrols a second factor, signs in with
/// password and code, creates an event, changes its destination, imports
/// bands, changes a band's status and deletes another (no confirmation dialog
/// appears: proof the page's script is really off).
#[tokio::test]
async fn the_core_flows_work_without_javascript() {
    let (db, origin, w) = origin_with_world().await;
    let b = Browser::start_without_javascript(&origin.url).await;

    b.sign_in(&w.admin.1, PASSWORD).await;
    b.wait_for_path("/mfa/enrol").await;
    let secret = base32_decode(&b.text(".hint code").await);
    b.fill("#code", &code_at(&secret, unix_now())).await;
    b.click("form[action='/mfa/enrol'] button[type=submit]").await;
    b.find("ul.codes li").await;
    assert_eq!(b.count("ul.codes li").await, 10, "the recovery codes are shown");
    b.click("a.button[href='/events']").await;
    b.wait_for_path("/events").await;
    sign_out(&b).await;
    b.sign_in(&w.admin.1, PASSWORD).await;
    b.second_factor(&code_at(&secret, unix_now() + 30)).await;
    assert_eq!(b.text("h1").await, "Events");

    // A new event for organisation A.
    b.click("a.button[href='/events/new']").await;
    b.wait_for_path("/events/new").await;
    b.find("#org_id").await.select_by_value(&w.org_a.to_string()).await.expect("choose the organisation");
    b.fill("#name", "Script-free Fest").await;
    b.fill("#default_url", "https://example.com/no-js-default").await;
    b.click("form[action='/events'] button[type=submit]").await;
    let event = b.wait_for_path("/events/0").await;
    let event = event.split('?').next().unwrap_or_default().to_string();
    assert_eq!(b.text("h1").await, "Script-free Fest");

    // Its destination.
    b.fill("section[aria-labelledby='edit-h'] #default_url", "https://example.com/no-js-changed").await;
    b.click("section[aria-labelledby='edit-h'] button[type=submit]").await;
    b.wait_for_path(&format!("{event}?notice=event-saved")).await;
    assert_eq!(b.text("section[aria-labelledby='now-h'] a").await, "https://example.com/no-js-changed");

    // Bands from a CSV file.
    let dir = tempfile::tempdir().expect("tmp");
    let csv = dir.path().join("bands.csv");
    std::fs::write(&csv, "band_id,label,status\nNOJS0001,Gate A,active\nNOJS0002,Gate B,active\n")
        .expect("csv");
    b.click(&format!("a[href='{event}/bands']")).await;
    b.wait_for_path(&format!("{event}/bands")).await;
    b.find("#file").await.send_keys(&csv.display().to_string()).await.expect("choose file");
    b.click("form[enctype='multipart/form-data'] button[type=submit]").await;
    b.wait_for_path(&format!("{event}/bands?notice=bands-imported")).await;
    assert_eq!(b.count("td code").await, 2, "both bands are listed");

    // A band's status, in its <details> form.
    let row = "tbody tr:first-child";
    assert_eq!(b.text(&format!("{row} td code")).await, "NOJS0001");
    b.click(&format!("{row} summary")).await;
    b.find("#s-NOJS0001").await.select_by_value("lost").await.expect("choose lost");
    b.click("form[action='/bands/NOJS0001'] button[type=submit]").await;
    b.wait_for_path(&format!("{event}/bands?q=NOJS0001&notice=band-saved")).await;
    assert_eq!(b.text("tbody tr td:nth-child(3)").await, "lost", "the page shows the new status");

    // Deleting asks nothing without the script: the form just works.
    b.open(&format!("{event}/bands")).await;
    b.click("form[action='/bands/NOJS0002/delete'] button[type=submit]").await;
    assert!(!b.dialog_open().await, "no confirmation dialog: JavaScript is off");
    b.wait_for_path(&format!("{event}/bands?notice=band-deleted")).await;
    assert_eq!(b.text("td code").await, "NOJS0001", "only the other band is left");

    let stored: (Option<String>, String) = sqlx::query_as(
        "SELECT e.default_url, b.status FROM events e JOIN bands b ON b.event_id = e.id WHERE b.band_id = 'NOJS0001'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("stored");
    assert_eq!(stored, (Some("https://example.com/no-js-changed".to_string()), "lost".to_string()));
}
