//! Configuration: one typed struct read from the environment once, at start.
//!
//! Production refuses to start on a missing or weak secret and names the
//! variable; development generates throwaway secrets and says so once.
//! Every variable is documented in `.env.example`.

use std::net::SocketAddr;
use std::time::Duration;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use shared::Keyring;
use url::Url;

/// Deployment kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// Local work: throwaway secrets allowed, pretty logs.
    Development,
    /// Real traffic: strict secrets, JSON logs, secure cookies.
    Production,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is absent.
    #[error("{0} is required in production")]
    Missing(&'static str),
    /// A variable does not parse.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A secret that is too short, too regular or an example value.
    #[error("{var} is too weak for production: {reason}")]
    Weak {
        /// Variable name.
        var: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The origin's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `APP_ENV`.
    pub env: AppEnv,
    /// `BIND_ADDR` (default 127.0.0.1:8080).
    pub bind_addr: SocketAddr,
    /// `DATABASE_URL`.
    pub database_url: SecretString,
    /// `DATABASE_MAX_CONNECTIONS` (default 16).
    pub database_max_connections: u32,
    /// `SIGNING_KEYS`: edge ↔ origin HMAC keys, first signs.
    pub signing_keys: Keyring,
    /// `AUDIT_KEYS`: audit hash-chain HMAC keys, first writes.
    pub audit_keys: Keyring,
    /// `EDGE_URL`: where KV changes are pushed; unset disables the pusher.
    pub edge_url: Option<Url>,
    /// `KV_PUSH_MAX_BACKOFF_SECONDS` (default 60).
    pub kv_push_max_backoff: Duration,
    /// `RETENTION_TAP_DAYS` (default 90) and `RETENTION_AUDIT_MONTHS` (default and minimum 13).
    pub retention: crate::retention::Policy,
    /// `METRICS_TOKEN`: bearer token a Prometheus scraper presents (no `/metrics` without it).
    pub metrics_token: Option<SecretString>,
    /// `REDIS_URL`: shared rate limits across replicas (in-process limits without it).
    pub redis_url: Option<SecretString>,
    /// Production runs with plaintext Redis because `REDIS_ALLOW_PLAINTEXT=1` (warned at every start).
    pub redis_plaintext_override: bool,
    /// `REDIS_PREFIX` (default `sm:rl`): key prefix, so deployments can share a Redis.
    pub redis_prefix: String,
    /// `RATE_LIMIT_READ`, `RATE_LIMIT_WRITE`, `RATE_LIMIT_ANONYMOUS` (`<requests>/<seconds>s`).
    pub rate_limits: crate::ratelimit::classes::Limits,
    /// `RETENTION_HOUR_UTC`: hour of the daily retention run (default 3); `RETENTION_SCHEDULE=off` disables it.
    pub retention_hour_utc: Option<u32>,
    /// `JWT_KEYS`: session-token HMAC keys (`kid` = id), first signs; two during a rotation.
    pub jwt_keys: Keyring,
    /// `MFA_KEYS`: AES-256-GCM keys for TOTP secrets at rest (exactly 32 bytes each), first encrypts.
    pub mfa_keys: Keyring,
    /// `PUBLIC_URL`: the dashboard's origin (CSRF origin check, links in emails).
    pub public_url: Url,
    /// `SMTP_URL`: outgoing mail (`smtps://…`, or `smtp://…?tls=required`); unset in
    /// development writes mail to `MAIL_DIR` instead.
    pub smtp_url: Option<SecretString>,
    /// `MAIL_FROM` (default `SparkMotion <no-reply@sparkmotion.invalid>`).
    pub mail_from: String,
    /// `MAIL_DIR`: where development mail is written when `SMTP_URL` is unset.
    pub mail_dir: std::path::PathBuf,
    /// `CLIENT_IP_HEADER`: header carrying the client IP, trusted only from `TRUSTED_PROXIES`.
    pub client_ip_header: Option<String>,
    /// `TRUSTED_PROXIES`: comma-separated CIDRs whose `CLIENT_IP_HEADER` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Variables that were generated because they were missing (development only).
    pub generated: Vec<&'static str>,
}

/// Example values from `.env.example` and docs: never acceptable in production.
const EXAMPLE_SECRETS: &[&str] = &[
    "0000000000000000000000000000000000000000000000000000000000000000",
    "1111111111111111111111111111111111111111111111111111111111111111",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let env = match get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "APP_ENV",
                    reason: format!("{other:?} is not development|production"),
                });
            }
        };
        let production = env == AppEnv::Production;
        let mut generated = Vec::new();

        let bind_addr = parse("BIND_ADDR", get("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into()))?;
        let database_url = match get("DATABASE_URL") {
            Some(url) => url,
            None if production => return Err(ConfigError::Missing("DATABASE_URL")),
            None => "postgres://postgres@127.0.0.1:5432/sparkmotion".into(),
        };
        let database_max_connections = parse(
            "DATABASE_MAX_CONNECTIONS",
            get("DATABASE_MAX_CONNECTIONS").unwrap_or_else(|| "16".into()),
        )?;
        let signing_keys = keyring("SIGNING_KEYS", get("SIGNING_KEYS"), production, &mut generated)?;
        let audit_keys = keyring("AUDIT_KEYS", get("AUDIT_KEYS"), production, &mut generated)?;
        let edge_url = get("EDGE_URL")
            .map(|u| {
                Url::parse(&u).map_err(|e| ConfigError::Invalid { var: "EDGE_URL", reason: e.to_string() })
            })
            .transpose()?;
        if production && edge_url.as_ref().is_some_and(|u| u.scheme() != "https") {
            return Err(ConfigError::Invalid {
                var: "EDGE_URL",
                reason: "must be https in production".into(),
            });
        }
        let jwt_keys = keyring("JWT_KEYS", get("JWT_KEYS"), production, &mut generated)?;
        let mfa_keys = keyring("MFA_KEYS", get("MFA_KEYS"), production, &mut generated)?;
        if let Some(key) = mfa_keys.keys().iter().find(|k| k.secret().len() != 32) {
            return Err(ConfigError::Invalid {
                var: "MFA_KEYS",
                reason: format!("key {:?} must be exactly 32 bytes (64 hex digits)", key.id()),
            });
        }
        let public_url = Url::parse(&get("PUBLIC_URL").unwrap_or_else(|| format!("http://{bind_addr}")))
            .map_err(|e| ConfigError::Invalid { var: "PUBLIC_URL", reason: e.to_string() })?;
        if production && public_url.scheme() != "https" {
            return Err(ConfigError::Invalid {
                var: "PUBLIC_URL",
                reason: "must be https in production (cookies are Secure)".into(),
            });
        }
        let smtp_url = get("SMTP_URL");
        match smtp_url.as_deref() {
            None if production => return Err(ConfigError::Missing("SMTP_URL")),
            Some(url) if production && !(url.starts_with("smtps://") || url.contains("tls=required")) => {
                return Err(ConfigError::Invalid {
                    var: "SMTP_URL",
                    reason: "production mail must use TLS: smtps://… or smtp://…?tls=required".into(),
                });
            }
            _ => {}
        }
        let trusted_proxies = get("TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|cidr| {
                cidr.parse().map_err(|_| ConfigError::Invalid {
                    var: "TRUSTED_PROXIES",
                    reason: format!("{cidr:?} is not a CIDR"),
                })
            })
            .collect::<Result<Vec<ipnet::IpNet>, _>>()?;
        let backoff: u64 = parse(
            "KV_PUSH_MAX_BACKOFF_SECONDS",
            get("KV_PUSH_MAX_BACKOFF_SECONDS").unwrap_or_else(|| "60".into()),
        )?;
        let tap_days: u32 =
            parse("RETENTION_TAP_DAYS", get("RETENTION_TAP_DAYS").unwrap_or_else(|| "90".into()))?;
        if tap_days == 0 {
            return Err(ConfigError::Invalid {
                var: "RETENTION_TAP_DAYS",
                reason: "must be at least 1".into(),
            });
        }
        let audit_months: u32 = parse(
            "RETENTION_AUDIT_MONTHS",
            get("RETENTION_AUDIT_MONTHS").unwrap_or_else(|| crate::retention::MIN_AUDIT_MONTHS.to_string()),
        )?;
        if audit_months < crate::retention::MIN_AUDIT_MONTHS {
            return Err(ConfigError::Invalid {
                var: "RETENTION_AUDIT_MONTHS",
                reason: format!(
                    "audit and auth events are kept at least {} months",
                    crate::retention::MIN_AUDIT_MONTHS
                ),
            });
        }
        let retention_hour_utc = match get("RETENTION_SCHEDULE").as_deref() {
            Some("off") => None,
            _ => {
                let hour: u32 =
                    parse("RETENTION_HOUR_UTC", get("RETENTION_HOUR_UTC").unwrap_or_else(|| "3".into()))?;
                if hour > 23 {
                    return Err(ConfigError::Invalid {
                        var: "RETENTION_HOUR_UTC",
                        reason: "must be 0–23".into(),
                    });
                }
                Some(hour)
            }
        };
        let metrics_token = get("METRICS_TOKEN").filter(|t| !t.is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 32) {
            return Err(ConfigError::Invalid {
                var: "METRICS_TOKEN",
                reason: "must be at least 32 characters".into(),
            });
        }
        let redis_url = get("REDIS_URL").filter(|u| !u.trim().is_empty());
        let mut redis_plaintext_override = false;
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::Invalid {
                    var: "REDIS_URL",
                    reason: "must be redis:// or rediss://".into(),
                });
            }
            if production && !url.starts_with("rediss://") {
                if get("REDIS_ALLOW_PLAINTEXT").as_deref() != Some("1") {
                    return Err(ConfigError::Invalid {
                        var: "REDIS_URL",
                        reason: "production Redis must use TLS (rediss://); set REDIS_ALLOW_PLAINTEXT=1 only for a private network you trust".into(),
                    });
                }
                redis_plaintext_override = true;
            }
        }
        let defaults = crate::ratelimit::classes::Limits::default();
        let quota = |var: &'static str, default: crate::ratelimit::Quota| match get(var) {
            None => Ok(default),
            Some(raw) => crate::ratelimit::classes::parse_quota(&raw)
                .map_err(|reason| ConfigError::Invalid { var, reason }),
        };
        let rate_limits = crate::ratelimit::classes::Limits {
            read: quota("RATE_LIMIT_READ", defaults.read)?,
            write: quota("RATE_LIMIT_WRITE", defaults.write)?,
            anonymous: quota("RATE_LIMIT_ANONYMOUS", defaults.anonymous)?,
        };
        Ok(Self {
            env,
            bind_addr,
            database_url: SecretString::from(database_url),
            database_max_connections,
            signing_keys,
            audit_keys,
            edge_url,
            kv_push_max_backoff: Duration::from_secs(backoff.max(1)),
            retention: crate::retention::Policy { tap_days, audit_months, ..Default::default() },
            retention_hour_utc,
            redis_url: redis_url.map(SecretString::from),
            metrics_token: metrics_token.map(SecretString::from),
            redis_plaintext_override,
            redis_prefix: get("REDIS_PREFIX").unwrap_or_else(|| "sm:rl".into()),
            rate_limits,
            jwt_keys,
            mfa_keys,
            public_url,
            smtp_url: smtp_url.map(SecretString::from),
            mail_from: get("MAIL_FROM")
                .unwrap_or_else(|| "SparkMotion <no-reply@sparkmotion.invalid>".into()),
            mail_dir: get("MAIL_DIR").unwrap_or_else(|| ".dev-mail".into()).into(),
            client_ip_header: get("CLIENT_IP_HEADER").map(|h| h.to_ascii_lowercase()),
            trusted_proxies,
            generated,
        })
    }

    /// Whether this is a production deployment.
    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }

    /// The database URL (contains credentials: never log it).
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }
}

fn parse<T: std::str::FromStr>(var: &'static str, raw: String) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    raw.parse().map_err(|e: T::Err| ConfigError::Invalid { var, reason: e.to_string() })
}

fn keyring(
    var: &'static str,
    raw: Option<String>,
    production: bool,
    generated: &mut Vec<&'static str>,
) -> Result<Keyring, ConfigError> {
    let spec = match raw {
        Some(spec) => spec,
        None if production => return Err(ConfigError::Missing(var)),
        None => {
            generated.push(var);
            let mut secret = [0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            format!("dev:{}", hex::encode(secret))
        }
    };
    let ring = Keyring::parse(&spec).map_err(|e| ConfigError::Invalid { var, reason: e.to_string() })?;
    if production {
        for key in ring.keys() {
            check_strength(var, key.secret())?;
        }
    }
    Ok(ring)
}

/// Refuses secrets an attacker could guess: example values and low-entropy patterns.
pub fn check_strength(var: &'static str, secret: &[u8]) -> Result<(), ConfigError> {
    if secret.len() < shared::signing::MIN_SECRET_BYTES {
        return Err(ConfigError::Weak { var, reason: "shorter than 32 bytes" });
    }
    if EXAMPLE_SECRETS.iter().any(|example| hex::decode(example).is_ok_and(|e| e == secret)) {
        return Err(ConfigError::Weak { var, reason: "an example value" });
    }
    // 32 random bytes have ~28 distinct values; a repeated or counting pattern has few.
    let mut seen = [false; 256];
    secret.iter().for_each(|b| seen[usize::from(*b)] = true);
    if seen.iter().filter(|s| **s).count() < 12 {
        return Err(ConfigError::Weak { var, reason: "too little entropy (repeating pattern)" });
    }
    // Random bytes are all printable ASCII with odds of (95/256)^32 ≈ 1e-14: a
    // key that is, is a hex-encoded passphrase or hex string, not 32 random bytes.
    if secret.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(ConfigError::Weak {
            var,
            reason: "printable text, not random bytes (generate one with `openssl rand -hex 32`)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn strong(id: &str) -> String {
        let mut s = [0u8; 32];
        rand::rng().fill_bytes(&mut s);
        format!("{id}:{}", hex::encode(s))
    }

    /// Every variable this module reads, found in its own source.
    fn variables_read() -> std::collections::BTreeSet<String> {
        let source = include_str!("config.rs");
        ["get(\"", "quota(\""]
            .iter()
            .flat_map(|call| source.match_indices(call).map(move |(at, _)| &source[at + call.len()..]))
            .filter_map(|rest| rest.split_once('"').map(|(name, _)| name))
            .filter(|name| {
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn env_example_documents_every_variable_the_config_reads() {
        let example = include_str!("../../.env.example");
        let documented: std::collections::BTreeSet<&str> = example
            .lines()
            .map(|line| line.trim_start_matches('#'))
            .filter_map(|line| line.split_once('=').map(|(name, _)| name))
            .filter(|name| !name.is_empty() && !name.contains(' '))
            .collect();
        let read = variables_read();
        assert!(read.len() >= 20, "the scan found too few variables: {read:?}");
        let missing: Vec<&String> = read.iter().filter(|v| !documented.contains(v.as_str())).collect();
        assert!(missing.is_empty(), ".env.example does not document {missing:?}");
    }

    #[test]
    fn development_generates_missing_secrets_and_reports_them() {
        let c = config(&[]).unwrap();
        assert_eq!(c.env, AppEnv::Development);
        assert_eq!(c.generated, vec!["SIGNING_KEYS", "AUDIT_KEYS", "JWT_KEYS", "MFA_KEYS"]);
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn production_names_the_missing_variable() {
        let err = config(&[("APP_ENV", "production")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        let err = config(&[("APP_ENV", "production"), ("DATABASE_URL", "postgres://x/y")]).unwrap_err();
        assert!(err.to_string().contains("SIGNING_KEYS"), "{err}");
    }

    #[test]
    fn production_refuses_weak_and_example_secrets() {
        let base = [("APP_ENV", "production"), ("DATABASE_URL", "postgres://x/y")];
        let audit = strong("a1");
        for (weak, why) in [
            (format!("k1:{}", "00".repeat(32)), "example"),
            (format!("k1:{}", "ab".repeat(32)), "entropy"),
            (format!("k1:{}", "0123456789abcdef".repeat(4)), "example"),
            (format!("k1:{}", hex::encode("correct horse battery staple 2026")), "a passphrase"),
            (
                format!(
                    "k1:{}",
                    hex::encode(hex::encode([
                        0x5au8, 0x17, 0xc3, 0x99, 0x01, 0xee, 0x42, 0x8d, 0x10, 0x6f, 0xb2, 0x3c, 0x77, 0xd4,
                        0x2a, 0x90
                    ]))
                ),
                "hex text",
            ),
        ] {
            let mut vars = base.to_vec();
            vars.push(("SIGNING_KEYS", &weak));
            vars.push(("AUDIT_KEYS", &audit));
            let err = config(&vars).unwrap_err();
            assert!(matches!(err, ConfigError::Weak { var: "SIGNING_KEYS", .. }), "{why}: {err}");
        }
        let short = "k1:abcdef";
        let mut vars = base.to_vec();
        vars.push(("SIGNING_KEYS", short));
        assert!(config(&vars).unwrap_err().to_string().contains("SIGNING_KEYS"));
        let signing = strong("s1");
        let jwt = strong("j1");
        let mut vars = base.to_vec();
        vars.push(("SIGNING_KEYS", &signing));
        vars.push(("AUDIT_KEYS", &audit));
        vars.push(("JWT_KEYS", &jwt));
        let mfa = strong("m1");
        vars.push(("MFA_KEYS", &mfa));
        vars.push(("PUBLIC_URL", "https://dashboard.example"));
        vars.push(("SMTP_URL", "smtps://mail.example:465"));
        let c = config(&vars).unwrap();
        assert!(c.generated.is_empty());
        assert!(!format!("{c:?}").contains(&signing[3..]), "secrets never appear in Debug output");
    }

    #[test]
    fn production_refuses_to_start_without_the_mfa_key() {
        let (s, a, j) = (strong("s"), strong("a"), strong("j"));
        let vars = [
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://x/y"),
            ("SIGNING_KEYS", s.as_str()),
            ("AUDIT_KEYS", a.as_str()),
            ("JWT_KEYS", j.as_str()),
        ];
        assert!(matches!(config(&vars).unwrap_err(), ConfigError::Missing("MFA_KEYS")));
        let long = format!("m:{}", "5a".repeat(40));
        let dev = config(&[("MFA_KEYS", long.as_str())]).unwrap_err();
        assert!(dev.to_string().contains("exactly 32 bytes"), "{dev}");
    }

    #[test]
    fn production_mail_and_dashboard_must_use_tls() {
        let (s, a, j, m) = (strong("s"), strong("a"), strong("j"), strong("m"));
        let base = [
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://x/y"),
            ("SIGNING_KEYS", s.as_str()),
            ("AUDIT_KEYS", a.as_str()),
            ("JWT_KEYS", j.as_str()),
            ("MFA_KEYS", m.as_str()),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            config(&v)
        };
        assert!(
            with(&[("PUBLIC_URL", "http://d.example"), ("SMTP_URL", "smtps://m:465")])
                .unwrap_err()
                .to_string()
                .contains("PUBLIC_URL")
        );
        assert!(with(&[("PUBLIC_URL", "https://d.example")]).unwrap_err().to_string().contains("SMTP_URL"));
        assert!(
            with(&[("PUBLIC_URL", "https://d.example"), ("SMTP_URL", "smtp://m:25")])
                .unwrap_err()
                .to_string()
                .contains("TLS")
        );
        assert!(
            with(&[("PUBLIC_URL", "https://d.example"), ("SMTP_URL", "smtp://m:587?tls=required")]).is_ok()
        );
        assert!(
            with(&[
                ("PUBLIC_URL", "https://d.example"),
                ("SMTP_URL", "smtps://m:465"),
                ("TRUSTED_PROXIES", "10.0.0.0/8,nope")
            ])
            .unwrap_err()
            .to_string()
            .contains("TRUSTED_PROXIES")
        );
    }

    #[test]
    fn production_edge_must_be_https() {
        let (s, a) = (strong("s"), strong("a"));
        let vars = [
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://x/y"),
            ("SIGNING_KEYS", &s),
            ("AUDIT_KEYS", &a),
            ("EDGE_URL", "http://edge"),
        ];
        assert!(config(&vars).unwrap_err().to_string().contains("EDGE_URL"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert!(config(&[("APP_ENV", "staging")]).unwrap_err().to_string().contains("APP_ENV"));
        assert!(config(&[("BIND_ADDR", "nowhere")]).unwrap_err().to_string().contains("BIND_ADDR"));
    }

    #[test]
    fn production_redis_must_use_tls_unless_explicitly_overridden() {
        let (s, a, j, m) = (strong("s"), strong("a"), strong("j"), strong("m"));
        let base = vec![
            ("APP_ENV", "production"),
            ("DATABASE_URL", "postgres://x/y"),
            ("SIGNING_KEYS", s.as_str()),
            ("AUDIT_KEYS", a.as_str()),
            ("JWT_KEYS", j.as_str()),
            ("MFA_KEYS", m.as_str()),
            ("PUBLIC_URL", "https://dashboard.example"),
            ("SMTP_URL", "smtps://mail.example:465"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.clone();
            v.extend_from_slice(extra);
            config(&v)
        };
        let err = with(&[("REDIS_URL", "redis://cache.internal:6379")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: "REDIS_URL", .. }), "{err}");
        assert!(err.to_string().contains("REDIS_ALLOW_PLAINTEXT"), "the refusal names the override: {err}");
        let c = with(&[("REDIS_URL", "rediss://cache.internal:6380")]).unwrap();
        assert!(!c.redis_plaintext_override);
        let c =
            with(&[("REDIS_URL", "redis://cache.internal:6379"), ("REDIS_ALLOW_PLAINTEXT", "1")]).unwrap();
        assert!(c.redis_plaintext_override, "the override is recorded so start-up warns about it");
        assert!(with(&[("REDIS_URL", "http://cache")]).is_err());
        // Development may use plain Redis on localhost.
        assert!(config(&[("REDIS_URL", "redis://127.0.0.1:6379")]).is_ok());
        let err = config(&[("RATE_LIMIT_WRITE", "lots")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: "RATE_LIMIT_WRITE", .. }), "{err}");
    }
}
