//! The built edge worker running in real workerd, through `wrangler dev`
//! with its own local KV/Queue state in a temporary directory.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use shared::{Keyring, KvBatch, KvOp};

use crate::{http, keys, ports, repo_root};

/// How to configure the worker under test.
#[derive(Clone, Debug)]
pub struct EdgeOptions {
    /// `ORIGIN_URL` ("" disables delivery and read-through).
    pub origin_url: String,
    /// `FALLBACK_URL`.
    pub fallback_url: String,
    /// `SIGNING_KEYS`.
    pub signing_keys: String,
    /// `RETRY_BASE_SECONDS`.
    pub retry_base_seconds: u32,
    /// `EVENT_CACHE_SECONDS`.
    pub event_cache_seconds: u32,
    /// Bind the `TAPS` queue producer (false simulates a broken queue).
    pub queue_producer: bool,
    /// Make the worker see `https://tap.example/...` URLs (as behind Cloudflare's TLS).
    pub https_upstream: bool,
}

impl Default for EdgeOptions {
    fn default() -> Self {
        Self {
            origin_url: String::new(),
            fallback_url: "https://fallback.example/".into(),
            signing_keys: keys::random_key_spec("test1"),
            retry_base_seconds: 1,
            event_cache_seconds: 0,
            queue_producer: true,
            https_upstream: false,
        }
    }
}

/// A running worker; stopped (with its whole process group) on drop.
pub struct Edge {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The keys the worker accepts (first one signs).
    pub keys: Keyring,
    dir: tempfile::TempDir,
    child: Child,
}

/// Path of the built worker entry module.
pub fn built_worker() -> PathBuf {
    repo_root().join("edge-worker/build/index.js")
}

impl Edge {
    /// Starts the worker and waits until `/healthz` answers.
    pub async fn start(opts: EdgeOptions) -> Edge {
        let entry = built_worker();
        assert!(
            entry.exists(),
            "{} is missing: build the worker first (`make edge` or scripts/build-edge.sh)",
            entry.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("wrangler.toml");
        fs::write(&config, wrangler_toml(&entry, &opts)).expect("write wrangler.toml");
        let port = ports::free_port();
        let log = fs::File::create(dir.path().join("wrangler.log")).expect("log file");
        let mut cmd = Command::new(repo_root().join("node_modules/.bin/wrangler"));
        cmd.args(["dev", "-c"])
            .arg(&config)
            .args(["--ip", "127.0.0.1", "--port", &port.to_string(), "--inspector-port", "0"])
            .args(["--show-interactive-dev-session=false", "--log-level", "log", "--persist-to"])
            .arg(dir.path().join("state"))
            .current_dir(dir.path())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .process_group(0);
        if opts.https_upstream {
            cmd.args(["--local-upstream", "tap.example", "--upstream-protocol", "https"]);
        }
        let child = cmd.spawn().expect("spawn wrangler (run `npm ci` first)");
        let edge = Edge {
            base_url: format!("http://127.0.0.1:{port}"),
            keys: keys::keyring(&opts.signing_keys),
            dir,
            child,
        };
        edge.wait_ready().await;
        edge
    }

    async fn wait_ready(&self) {
        let client = http::client();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(r) = client.get(self.url("/healthz")).timeout(Duration::from_secs(2)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "edge did not start:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Where the worker redirects a GET of `path` (none if it does not redirect or fails).
    pub async fn location(&self, path: &str) -> Option<String> {
        let r = http::client().get(self.url(path)).send().await.ok()?;
        r.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string)
    }

    /// The worker's console output so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("wrangler.log")).unwrap_or_default()
    }

    /// The temporary directory holding config and state.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Pushes KV operations through the signed `POST /_internal/kv`, as the origin does.
    pub async fn push(&self, ops: Vec<KvOp>) -> reqwest::Response {
        let body = serde_json::to_vec(&KvBatch { ops, rev_ceiling: None }).expect("serialise batch");
        let signed = keys::sign_now(&self.keys, "POST", "/_internal/kv", &body);
        keys::apply(http::client().post(self.url("/_internal/kv")), &signed)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("push to edge")
    }

    /// Like [`Edge::push`], asserting a 200.
    pub async fn push_ok(&self, ops: Vec<KvOp>) {
        let r = self.push(ops).await;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 200, "push failed: {text}");
    }

    /// Writes a raw KV value straight into local storage (bypassing the worker).
    pub fn kv_put_raw(&self, key: &str, value: &str) {
        let status = Command::new(repo_root().join("node_modules/.bin/wrangler"))
            .args(["kv", "key", "put", "--local", "--binding", "BANDS", "-c"])
            .arg(self.dir.path().join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.dir.path().join("state"))
            .args([key, value])
            .current_dir(self.dir.path())
            .env("WRANGLER_SEND_METRICS", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run wrangler kv key put");
        assert!(status.success(), "wrangler kv key put {key} failed");
    }
}

impl Edge {
    /// Reads a raw KV value straight from local storage (none if absent).
    pub async fn kv_get_raw(&self, key: &str) -> Option<String> {
        let out = tokio::process::Command::new(repo_root().join("node_modules/.bin/wrangler"))
            .args(["kv", "key", "get", "--local", "--binding", "BANDS", "-c"])
            .arg(self.dir.path().join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.dir.path().join("state"))
            .arg(key)
            .current_dir(self.dir.path())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("run wrangler kv key get");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !text.is_empty() && text != "Value not found").then_some(text)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let pgid = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(pgid, Signal::SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn wrangler_toml(entry: &Path, o: &EdgeOptions) -> String {
    let producer =
        if o.queue_producer { "[[queues.producers]]\nbinding = \"TAPS\"\nqueue = \"taps\"\n" } else { "" };
    format!(
        r#"name = "sparkmotion-edge-test"
main = "{entry}"
compatibility_date = "2026-04-01"

[vars]
FALLBACK_URL = "{fallback}"
ORIGIN_URL = "{origin}"
SIGNING_KEYS = "{keys}"
RETRY_BASE_SECONDS = "{retry}"
RETRY_MAX_SECONDS = "4"
EVENT_CACHE_SECONDS = "{cache}"
READ_THROUGH_TIMEOUT_MS = "3000"

[[kv_namespaces]]
binding = "BANDS"
id = "test"

{producer}
[[queues.consumers]]
queue = "taps"
max_batch_size = 100
max_batch_timeout = 1
max_retries = 20
dead_letter_queue = "taps-dlq"
"#,
        entry = entry.display(),
        fallback = o.fallback_url,
        origin = o.origin_url,
        keys = o.signing_keys,
        retry = o.retry_base_seconds,
        cache = o.event_cache_seconds,
    )
}
