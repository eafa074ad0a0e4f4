//! The origin, in-process on a random port against a test database, and
//! its CLI invoked with the same configuration.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use origin_api::app::Running;
use origin_api::clock::{Clock, SystemClock};
use origin_api::config::Config;
use shared::Keyring;

use crate::db::TestDb;
use crate::keys;

/// Settings for an origin under test.
#[derive(Clone, Debug)]
pub struct OriginOptions {
    /// `SIGNING_KEYS` (edge ↔ origin).
    pub signing_keys: String,
    /// `AUDIT_KEYS`.
    pub audit_keys: String,
    /// `EDGE_URL` (none: KV pusher off).
    pub edge_url: Option<String>,
    /// `KV_PUSH_MAX_BACKOFF_SECONDS`.
    pub max_backoff_seconds: u64,
    /// `JWT_KEYS`.
    pub jwt_keys: String,
    /// `MFA_KEYS`.
    pub mfa_keys: String,
    /// `SMTP_URL` (none: mail goes to files in a temporary directory).
    pub smtp_url: Option<String>,
    /// `TRUSTED_PROXIES` and `CLIENT_IP_HEADER`.
    pub trusted_proxy: Option<(String, String)>,
    /// More variables, applied last (e.g. `REDIS_URL`, tighter `RATE_LIMIT_*`).
    pub extra: Vec<(&'static str, String)>,
}

impl Default for OriginOptions {
    fn default() -> Self {
        Self {
            signing_keys: keys::random_key_spec("sig1"),
            audit_keys: keys::random_key_spec("aud1"),
            edge_url: None,
            max_backoff_seconds: 1,
            jwt_keys: keys::random_key_spec("jwt1"),
            mfa_keys: keys::random_key_spec("mfa1"),
            smtp_url: None,
            trusted_proxy: None,
            extra: Vec::new(),
        }
    }
}

impl OriginOptions {
    /// The origin's configuration for database `db`.
    pub fn config(&self, db: &TestDb) -> Config {
        let mut vars: HashMap<&str, String> = HashMap::from([
            ("APP_ENV", "development".to_string()),
            ("DATABASE_URL", db.url.clone()),
            ("DATABASE_MAX_CONNECTIONS", "8".into()),
            ("SIGNING_KEYS", self.signing_keys.clone()),
            ("AUDIT_KEYS", self.audit_keys.clone()),
            ("KV_PUSH_MAX_BACKOFF_SECONDS", self.max_backoff_seconds.to_string()),
            ("JWT_KEYS", self.jwt_keys.clone()),
            ("MFA_KEYS", self.mfa_keys.clone()),
            // Tests run retention explicitly, with their own clock.
            ("RETENTION_SCHEDULE", "off".to_string()),
            // Every test talks from 127.0.0.1 and some make hundreds of calls; rate-limit tests set their own.
            ("RATE_LIMIT_READ", "100000/60s".to_string()),
            ("RATE_LIMIT_WRITE", "100000/60s".to_string()),
            ("RATE_LIMIT_ANONYMOUS", "100000/60s".to_string()),
            ("MAIL_DIR", std::env::temp_dir().join(format!("sm-mail-{}", db.name)).display().to_string()),
        ]);
        if let Some(smtp) = &self.smtp_url {
            vars.insert("SMTP_URL", smtp.clone());
        }
        if let Some((proxies, header)) = &self.trusted_proxy {
            vars.insert("TRUSTED_PROXIES", proxies.clone());
            vars.insert("CLIENT_IP_HEADER", header.clone());
        }
        if let Some(edge) = &self.edge_url {
            vars.insert("EDGE_URL", edge.clone());
        }
        for (k, v) in &self.extra {
            vars.insert(k, v.clone());
        }
        Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration")
    }

    /// The signing keyring.
    pub fn keyring(&self) -> Keyring {
        keys::keyring(&self.signing_keys)
    }
}

/// A running origin.
pub struct Origin {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The running service (dropping it stops it: a "crash").
    pub running: Running,
    /// Its options.
    pub options: OriginOptions,
}

impl Origin {
    /// Starts on a random port with the real clock.
    pub async fn start(db: &TestDb, options: OriginOptions) -> Origin {
        Self::start_with_clock(db, options, Arc::new(SystemClock)).await
    }

    /// Starts on a random port with `clock`.
    pub async fn start_with_clock(db: &TestDb, options: OriginOptions, clock: Arc<dyn Clock>) -> Origin {
        Self::start_on(Self::bind().await, db, options, clock).await
    }

    /// A listener on a random port, for when the origin's URL must be known
    /// before it starts (the edge needs it as `ORIGIN_URL`).
    pub async fn bind() -> tokio::net::TcpListener {
        tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind origin")
    }

    /// Starts on `listener`.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        db: &TestDb,
        options: OriginOptions,
        clock: Arc<dyn Clock>,
    ) -> Origin {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = options.config(db);
        config.public_url = url::Url::parse(&url).expect("url");
        let running = origin_api::app::start(config, clock, listener).await.expect("start origin");
        Origin { url, running, options }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The domain services.
    pub fn domain(&self) -> &origin_api::domain::Domain {
        &self.running.state.domain
    }
}

/// Runs `origin-api <args>` in-process against `db` with `options`; returns the exit code and output.
pub async fn cli(db: &TestDb, options: &OriginOptions, args: &[&str]) -> (ExitCode, String) {
    let argv = std::iter::once("origin-api").chain(args.iter().copied());
    let parsed = match origin_api::cli::Cli::try_parse_from(argv) {
        Ok(p) => p,
        Err(e) => return (ExitCode::from(2), e.to_string()),
    };
    let mut out = Vec::new();
    let code =
        match origin_api::cli::run_with(parsed, options.config(db), Arc::new(SystemClock), &mut out).await {
            Ok(code) => code,
            Err(e) => {
                out.extend_from_slice(format!("error: {e:#}").as_bytes());
                ExitCode::FAILURE
            }
        };
    (code, String::from_utf8_lossy(&out).into_owned())
}

/// Whether an exit code is success.
pub fn succeeded(code: ExitCode) -> bool {
    code == ExitCode::SUCCESS
}
