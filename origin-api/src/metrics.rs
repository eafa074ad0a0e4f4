//! Prometheus metrics: requests and latency per route, taps ingested, and, read
//! at scrape time, the KV-sync backlog and the last retention run. Served at
//! `/metrics` only to callers presenting `METRICS_TOKEN` (a bearer token);
//! without a token configured the endpoint does not exist.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

/// Labels of a handled request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route template (`/api/v1/events/{id}`), never the concrete path.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status class: `2xx`, `4xx`, …
    pub status: String,
}

/// Labels of ingested taps.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TapLabels {
    /// `accepted` or `duplicate`.
    pub result: String,
}

/// Labels of retention counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// The run's step (`taps_summarised`, `partitions_dropped`, …).
    pub step: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

/// The service's metrics (cheap to clone).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    taps: Family<TapLabels, Counter>,
    outbox_backlog: Gauge,
    retention_last_run: Gauge,
    retention_last_ok: Gauge,
    retention_counts: Family<StepLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sparkmotion");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests handled", requests.clone());
        let latency =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "Time to answer a request", latency.clone());
        let taps = Family::<TapLabels, Counter>::default();
        registry.register("taps_ingested", "Taps received from the edge", taps.clone());
        let outbox_backlog = Gauge::default();
        registry.register(
            "kv_outbox_backlog",
            "Routing changes not yet delivered to the edge",
            outbox_backlog.clone(),
        );
        let retention_last_run = Gauge::default();
        registry.register(
            "retention_last_run_timestamp_seconds",
            "When the last retention run finished",
            retention_last_run.clone(),
        );
        let retention_last_ok = Gauge::default();
        registry.register(
            "retention_last_run_success",
            "1 if the last retention run succeeded",
            retention_last_ok.clone(),
        );
        let retention_counts = Family::<StepLabels, Gauge>::default();
        registry.register(
            "retention_last_run_rows",
            "What the last retention run did, per step",
            retention_counts.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            taps,
            outbox_backlog,
            retention_last_run,
            retention_last_ok,
            retention_counts,
        }
    }
}

impl Metrics {
    /// Records one handled request.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            route: route.to_string(),
            method: method.to_string(),
            status: format!("{}xx", status / 100),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// Records an ingested batch.
    pub fn taps(&self, accepted: u64, duplicates: u64) {
        self.taps.get_or_create(&TapLabels { result: "accepted".into() }).inc_by(accepted);
        self.taps.get_or_create(&TapLabels { result: "duplicate".into() }).inc_by(duplicates);
    }

    /// The text exposition, after refreshing what is read from the database.
    pub async fn render(&self, db: &PgPool) -> Result<String, sqlx::Error> {
        let backlog: i64 =
            sqlx::query_scalar("SELECT count(*) FROM kv_outbox WHERE done_at IS NULL").fetch_one(db).await?;
        self.outbox_backlog.set(backlog);
        let last: Option<(String, Option<chrono::DateTime<chrono::Utc>>, serde_json::Value)> =
            sqlx::query_as(
                "SELECT status, finished_at, counts FROM job_runs
             WHERE job = 'retention' AND NOT dry_run AND status IN ('succeeded', 'failed')
             ORDER BY started_at DESC LIMIT 1",
            )
            .fetch_optional(db)
            .await?;
        if let Some((status, finished, counts)) = last {
            self.retention_last_ok.set(i64::from(status == "succeeded"));
            self.retention_last_run.set(finished.map_or(0, |t| t.timestamp()));
            if let Some(counts) = counts.as_object() {
                for (step, n) in counts {
                    self.retention_counts
                        .get_or_create(&StepLabels { step: step.clone() })
                        .set(n.as_i64().unwrap_or(0));
                }
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        Ok(out)
    }
}
