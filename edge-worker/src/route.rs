//! Method and path dispatch. Everything that is not a known route is a 404
//! page or a 405; nothing reaches KV unless it is a valid band id.

use worker::{Context, Env, Method, Request, Response, Result};

use crate::{kv_push, responses, tap_path};

/// Dispatches one request.
pub async fn handle(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let https = req.inner().url().starts_with("https:");
    let method = req.method();
    let head = method == Method::Head;
    let path = req.path();
    match path.as_str() {
        "/healthz" => match method {
            Method::Get | Method::Head => responses::text(200, "ok\n", https, head),
            _ => responses::method_not_allowed("GET, HEAD", https),
        },
        kv_push::PATH => match method {
            Method::Post => kv_push::handle(&mut req, &env, https).await,
            _ => responses::method_not_allowed("POST", https),
        },
        _ => match method {
            Method::Get | Method::Head => tap_path::handle(&req, &path, &env, &ctx, head, https).await,
            _ => responses::method_not_allowed("GET, HEAD", https),
        },
    }
}
