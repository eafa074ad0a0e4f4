//! Starting the service: database, migrations, background tasks, HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use secrecy::ExposeSecret;

use crate::auth::jwt::JwtKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::Domain;
use crate::http::{self, AppState};
use crate::kv_sync::pusher::Pusher;
use crate::mail::Mailer;
use crate::ratelimit::Limiter;
use crate::{db, partitions, retention};

/// A running origin; its tasks stop when it is dropped.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (tests reach the database and services through it).
    pub state: AppState,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Waits for the HTTP server to end.
    pub async fn wait(mut self) {
        if let Some(server) = self.tasks.pop() {
            let _ = server.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Starts the origin with `config` on `listener` (migrating first).
pub async fn start(config: Config, clock: Arc<dyn Clock>, listener: TcpListener) -> anyhow::Result<Running> {
    let db = db::connect(&config).await.context("connecting to the database (DATABASE_URL)")?;
    db::migrate(&db).await.context("applying migrations")?;
    start_with_pool(config, clock, listener, db).await
}

/// Starts the origin on an existing pool (already migrated).
pub async fn start_with_pool(
    config: Config,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    db: PgPool,
) -> anyhow::Result<Running> {
    if config.redis_plaintext_override {
        tracing::warn!(
            event = "redis_plaintext",
            "REDIS_ALLOW_PLAINTEXT=1: production rate-limit traffic to Redis is not encrypted"
        );
    }
    for var in &config.generated {
        tracing::warn!(variable = var, "no {var} set: generated a throwaway secret for development");
    }
    partitions::ensure_ahead(&db, clock.now()).await.context("creating tap partitions")?;
    let config = Arc::new(config);
    let domain = Domain::new(db.clone(), config.audit_keys.clone(), Arc::clone(&clock));
    let state = AppState {
        domain,
        config: Arc::clone(&config),
        clock: Arc::clone(&clock),
        jwt: JwtKeys::new(config.jwt_keys.clone()),
        limiter: Arc::new(match &config.redis_url {
            Some(url) => Limiter::shared(url.expose_secret(), &config.redis_prefix).context("REDIS_URL")?,
            None => Limiter::in_process(),
        }),
        mailer: Mailer::from_config(&config)?,
        metrics: crate::metrics::Metrics::default(),
    };
    let mut tasks = Vec::new();

    match &config.edge_url {
        Some(edge) => {
            let pusher = Pusher::new(
                db.clone(),
                edge.clone(),
                config.signing_keys.clone(),
                config.kv_push_max_backoff,
            )
            .context("building the KV pusher")?;
            tasks.push(tokio::spawn(pusher.run()));
        }
        None => tracing::warn!("EDGE_URL is not set: routing changes stay in the outbox until it is"),
    }
    tasks.push(tokio::spawn(housekeeping(db.clone(), Arc::clone(&clock))));
    tasks.push(tokio::spawn(crate::analytics::hourly_rollup::run_forever(db.clone())));
    if let Some(hour) = config.retention_hour_utc {
        tasks.push(tokio::spawn(retention::schedule::run_forever(
            db.clone(),
            config.audit_keys.clone(),
            Arc::clone(&clock),
            config.retention,
            hour,
        )));
    }

    let addr = listener.local_addr()?;
    let router = http::router(state.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(e) =
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await
        {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    }));
    tracing::info!(%addr, "origin listening");
    Ok(Running { addr, state, tasks })
}

/// Small periodic chores: forget old nonces, keep tap partitions ahead.
async fn housekeeping(db: PgPool, clock: Arc<dyn Clock>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("DELETE FROM signed_nonces WHERE seen_at < now() - interval '15 minutes'")
            .execute(&db)
            .await
        {
            tracing::warn!(error = %e, "nonce cleanup failed");
        }
        if let Err(e) = partitions::ensure_ahead(&db, clock.now()).await {
            tracing::warn!(error = %e, "partition maintenance failed");
        }
    }
}
