//! An HTTP client that shows redirects instead of following them.

use std::time::Duration;

/// Client for tests: no redirects followed, 20 s timeout.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client")
}
