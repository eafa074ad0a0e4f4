//! SparkMotion edge worker: the tap path.
//!
//! `GET /<band-id>` → KV (`band:`, `event:`) → [`shared::resolve`] → 302, with
//! the tap sent to the `TAPS` queue after the response; the queue consumer
//! delivers batches to the origin. The origin pushes routing changes through
//! the signed `POST /_internal/kv`. Nothing here may panic: the crate denies
//! `unwrap`, `expect`, `panic!` and indexing.

mod bindings;
mod config;
mod deliver;
mod event_cache;
mod js_props;
mod kv_push;
mod log;
mod lookup;
mod nonce;
mod read_through;
mod responses;
mod route;
mod signed_fetch;
mod tap_path;

use worker::{Context, Env, MessageBatch, Result, event};

/// HTTP entry point. Takes and returns the runtime's own request/response
/// objects: converting them to `worker` types would copy headers and the
/// `cf` object on every tap, for nothing the tap path uses.
#[event(fetch)]
pub async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    route::handle(req, env, ctx).await
}

/// Queue consumer for `taps`: delivers batches to the origin.
#[event(queue)]
pub async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> Result<()> {
    deliver::deliver(&batch, &env).await;
    Ok(())
}
