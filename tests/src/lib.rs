//! Harness for the system tests: real components on free ports.
//!
//! - [`edge`]: the built edge worker in real workerd (`wrangler dev`, local KV and Queues).
//! - [`receiver`]: a stand-in *origin* that verifies signatures, for edge-only tests.
//! - [`keys`], [`ports`], [`http`]: small shared helpers.

pub mod api;
pub mod browser;
pub mod db;
pub mod edge;
pub mod http;
pub mod keys;
pub mod origin;
pub mod ports;
pub mod receiver;
pub mod records;
pub mod smtp;
pub mod taps;
pub mod totp;
pub mod world;

use std::path::PathBuf;
use std::time::Duration;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
