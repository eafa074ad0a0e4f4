//! SparkMotion origin: signed tap ingest, management of events and bands,
//! KV sync to the edge, audit trail, admin CLI.

pub mod analytics;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod band_import;
pub mod band_lookup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod key_rotation;
pub mod kv_sync;
pub mod mail;
pub mod metrics;
pub mod mfa;
pub mod partitions;
pub mod ratelimit;
pub mod retention;
pub mod telemetry;
