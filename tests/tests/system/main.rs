//! The system test suite, one binary: the edge in real workerd, the origin on
//! real Postgres and Redis, the dashboard in real Chromium.
//!
//! Each module is one suite (`cargo nextest run -E 'test(/^edge_/)'` runs the
//! edge suites). They share one binary because every suite links the whole
//! origin: thirty binaries cost thirty links and gigabytes of `target/`, one
//! costs one. nextest still runs every test in its own process, so suites
//! cannot see each other's globals.

mod auth_support;

mod analytics;
mod api_management;
mod api_smoke;
mod auth_csrf;
mod auth_login;
mod auth_matrix;
mod auth_mfa;
mod auth_reset;
mod auth_sessions;
mod browser_accessibility;
mod browser_dashboard;
mod dashboard_forms;
mod e2e_pipeline;
mod edge_hostile;
mod edge_kv_push;
mod edge_read_through;
mod edge_redirects;
mod edge_taps;
mod incident_runbook;
mod log_scrubbing;
mod origin_audit;
mod origin_band_import;
mod origin_band_lookup;
mod origin_cli;
mod origin_ingest;
mod origin_kv_sync;
mod origin_smoke;
mod origin_tenancy;
mod rate_limits;
mod repo_hygiene;
mod retention;
mod soft_deletes;
