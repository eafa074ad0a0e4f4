//! Real headless Chromium (Debian's `chromium` + `chromedriver`) driven over
//! WebDriver with `fantoccini`: one chromedriver and one throwaway profile
//! per test. chromedriver runs in its own process group and the whole group
//! is killed when the [`Browser`] drops: killing chromedriver alone would
//! orphan the Chromium it started (seen: six browsers left after a run).
//!
//! Besides the usual page helpers it reads what the user would never see:
//! the browser console (CSP violations are logged there) and whether a
//! JavaScript dialog opened.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::{eventually, ports, repo_root};

/// Window sizes screenshots are taken at.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone held upright (CSS pixels).
pub const PHONE: (u32, u32) = (390, 844);

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    /// The origin everything relative is resolved against.
    pub base: String,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn binary(name: &str, env: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| name.to_string())
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            // chromedriver leads its own group (`process_group(0)`), and Chromium inherits it.
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session against `base`.
    pub async fn start(base: &str) -> Browser {
        Browser::launch(base, true).await
    }

    /// Like [`Browser::start`], with JavaScript switched off for every page, as a user's content
    /// setting does (WebDriver's own commands still work).
    pub async fn start_without_javascript(base: &str) -> Browser {
        Browser::launch(base, false).await
    }

    async fn launch(base: &str, javascript: bool) -> Browser {
        let port = ports::free_port();
        let driver = tokio::process::Command::new(binary("chromedriver", "CHROMEDRIVER"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian: apt-get install chromium-driver; `make test` installs it)");
        let status = format!("http://127.0.0.1:{port}/status");
        eventually("chromedriver to listen", Duration::from_secs(20), || async {
            reqwest::get(&status).await.ok().filter(|r| r.status().is_success()).map(|_| ())
        })
        .await;
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        let mut options = json!({
            "binary": binary("/usr/bin/chromium", "CHROMIUM"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                format!("--user-data-dir={}", profile.path().display()),
                format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            ],
        });
        if !javascript {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        caps.insert("goog:chromeOptions".into(), options);
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        // An alert left open must fail the next command, not be dismissed silently.
        caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
        let client = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser { client, base: base.trim_end_matches('/').to_string(), driver, _profile: profile }
    }

    /// Opens `path` (relative to the base) and waits for it to load.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Types `text` into the input `css` after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        input.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sets an input's value directly (date/time pickers do not take typed text reliably).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap_or_else(|e| panic!("set {css}: {e}"));
    }

    /// Clicks `css` (a submit button navigates; wait for the next page with [`Browser::wait_for`]).
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {} after 10 s: {e}", self.path().await),
        }
    }

    /// How many elements match `css` right now.
    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0)
    }

    /// Visible text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Marks the current document, so [`Browser::wait_for_new_page`] can tell when it was replaced.
    pub async fn mark_page(&self) {
        self.js("window.__smOldPage = true;").await;
    }

    /// Waits until the document marked by [`Browser::mark_page`] has been replaced by a loaded one
    /// (a form posted back to the same path looks like no navigation at all by URL).
    pub async fn wait_for_new_page(&self) {
        for _ in 0..100 {
            let state = self
                .client
                .execute("return window.__smOldPage === true ? 'old' : document.readyState;", vec![])
                .await;
            if matches!(state, Ok(Value::String(ref s)) if s == "complete") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no new page loaded after 10 s (still at {})", self.path().await)
    }

    /// Waits until the page's path starts with `prefix`.
    pub async fn wait_for_path(&self, prefix: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            last = self.path().await;
            if last.starts_with(prefix) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected to arrive at {prefix}, still at {last}")
    }

    /// Runs `script` in the page and returns its result.
    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        self.client.title().await.unwrap_or_default()
    }

    /// Whether a JavaScript dialog (alert/confirm/prompt) is open.
    pub async fn dialog_open(&self) -> bool {
        self.client.get_alert_text().await.is_ok()
    }

    /// Waits for a JavaScript dialog (the `confirm()` before a destructive form), accepts or
    /// dismisses it, and returns its text.
    pub async fn answer_dialog(&self, accept: bool) -> String {
        let text = eventually("a dialog to open", Duration::from_secs(10), || async {
            self.client.get_alert_text().await.ok()
        })
        .await;
        let answered =
            if accept { self.client.accept_alert().await } else { self.client.dismiss_alert().await };
        answered.unwrap_or_else(|e| panic!("answering the dialog {text:?}: {e}"));
        text
    }

    /// Presses Enter on the element `css` (a keyboard user's click).
    pub async fn press_enter(&self, css: &str) {
        // U+E007 is WebDriver's Enter key.
        self.find(css).await.send_keys("\u{e007}").await.unwrap_or_else(|e| panic!("Enter on {css}: {e}"));
    }

    /// Types `keys` into whatever has the focus, as a keyboard would (WebDriver key codes, e.g.
    /// U+E004 Tab, U+E007 Enter; a modifier such as U+E009 Control is held until U+E000 or the end).
    pub async fn keys(&self, keys: &str) {
        const MODIFIERS: [char; 4] = ['\u{e008}', '\u{e009}', '\u{e00a}', '\u{e03d}'];
        let mut actions = KeyActions::new("keyboard".into());
        let mut held = Vec::new();
        for key in keys.chars() {
            if key == '\u{e000}' {
                for m in held.drain(..).rev() {
                    actions = actions.then(KeyAction::Up { value: m });
                }
            } else if MODIFIERS.contains(&key) {
                held.push(key);
                actions = actions.then(KeyAction::Down { value: key });
            } else {
                actions = actions.then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
            }
        }
        for m in held.into_iter().rev() {
            actions = actions.then(KeyAction::Up { value: m });
        }
        self.client.perform_actions(actions).await.unwrap_or_else(|e| panic!("keys {keys:?}: {e}"));
    }

    /// Makes the page a phone's: a `width` × `height` CSS-pixel screen at twice the density, with
    /// overlay scrollbars, honouring the viewport meta tag as a phone's browser does (until the
    /// session ends; the window size no longer matters).
    pub async fn emulate_phone(&self, width: u32, height: u32) {
        let params = json!({ "width": width, "height": height, "deviceScaleFactor": 2, "mobile": true });
        let command = Cdp { cmd: "Emulation.setDeviceMetricsOverride", params };
        self.client.issue_cmd(command).await.unwrap_or_else(|e| panic!("emulating a phone: {e}"));
    }

    /// Console messages since the last call (Chromium reports CSP violations here).
    pub async fn console(&self) -> Vec<String> {
        match self.client.issue_cmd(ConsoleLog).await {
            Ok(Value::Array(entries)) => entries
                .into_iter()
                .map(|e| {
                    format!("{} {}", e["level"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""))
                })
                .collect(),
            other => panic!("reading the browser console: {other:?}"),
        }
    }

    /// Console messages about Content-Security-Policy since the last call to [`Browser::console`].
    pub async fn csp_violations(&self) -> Vec<String> {
        self.console().await.into_iter().filter(|m| m.contains("Content Security Policy")).collect()
    }

    /// Saves a PNG of the current page at `size` to `artifacts/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str, size: (u32, u32)) {
        self.client.set_window_size(size.0, size.1).await.expect("resize");
        // Let layout settle after the resize.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        self.client.set_window_size(DESKTOP.0, DESKTOP.1).await.expect("resize back");
    }
}

/// Where screenshots go (`ARTIFACTS_DIR`, else `artifacts/screenshots`).
pub fn artifacts_dir() -> PathBuf {
    std::env::var("ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("artifacts"))
        .join("screenshots")
}

/// chromedriver's log endpoint (not in W3C WebDriver; Selenium's clients use it too).
#[derive(Debug)]
struct ConsoleLog;

impl WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// A Chrome DevTools Protocol command, through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}

impl Browser {
    /// Signs in through the form; leaves the browser wherever the origin sends it.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.open("/login").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form[action='/login'] button[type=submit]").await;
    }

    /// On the second-factor page, enters `code` and waits for the events list.
    pub async fn second_factor(&self, code: &str) {
        self.wait_for_path("/login/mfa").await;
        self.fill("#code", code).await;
        self.click("form[action='/login/mfa'] button[type=submit]").await;
        self.wait_for_path("/events").await;
    }
}
