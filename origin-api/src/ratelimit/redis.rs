//! The shared limiter: the same GCRA step as [`super::gcra`], done atomically
//! inside Redis by a Lua script, on Redis's own clock, so every replica
//! draws from one budget per key. Keys expire when idle.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{Decision, Quota};

/// `KEYS[1]` the key; `ARGV[1]` emission interval (ms), `ARGV[2]` burst tolerance (ms).
/// Returns `{1, remaining}` or `{0, retry_after_ms}`.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1000)
return {1, math.floor((now - allow_at) / emission)}
"#;

/// A Redis-backed limiter; connects on first use and reconnects by itself.
pub struct RedisLimiter {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    script: redis::Script,
    prefix: String,
}

/// How long a limiter call may take before the request goes on without Redis.
pub const TIMEOUT: Duration = Duration::from_millis(250);

impl RedisLimiter {
    /// A limiter for `url` (`redis://` or `rediss://`), keys under `prefix`.
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: OnceCell::new(),
            script: redis::Script::new(GCRA),
            prefix: prefix.to_string(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let conn = self
            .conn
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await?;
        Ok(conn.clone())
    }

    /// One GCRA step for `key` in Redis.
    pub async fn check(&self, key: &str, quota: Quota) -> Result<Decision, redis::RedisError> {
        let mut conn = self.connection().await?;
        let emission = quota.emission_ms();
        let tolerance = emission * i64::from(quota.burst.max(1));
        let (allowed, value): (i64, i64) = self
            .script
            .key(format!("{}:{key}", self.prefix))
            .arg(emission)
            .arg(tolerance)
            .invoke_async(&mut conn)
            .await?;
        Ok(if allowed == 1 {
            Decision::Allow { remaining: value.clamp(0, i64::from(u32::MAX)) as u32 }
        } else {
            Decision::Deny { retry_after: Duration::from_millis(value.max(1) as u64) }
        })
    }

    /// Whether Redis answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(|_| ())
    }
}
