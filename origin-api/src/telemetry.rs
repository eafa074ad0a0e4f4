//! Logging: `tracing`, JSON lines in production, readable in development,
//! level from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

use crate::config::AppEnv;

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(env: AppEnv) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match env {
        AppEnv::Production => {
            builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
        }
        AppEnv::Development => builder.try_init(),
    };
}
