//! Logging: `tracing`, JSON lines in production, readable in development,
//! level from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::AppEnv;

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(env: AppEnv) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = match env {
        AppEnv::Production => production(filter, std::io::stderr).try_init(),
        AppEnv::Development => {
            tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).finish().try_init()
        }
    };
}

/// The production format — one JSON object per line, event fields at the top
/// level, the current span's fields (request id, route, user and organisation)
/// under `span` — filtered by `filter` and written to `writer`. Public so the
/// log-scrubbing tests capture exactly what production writes.
pub fn production<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .finish()
}
