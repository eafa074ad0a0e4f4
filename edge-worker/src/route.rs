//! Method and path dispatch. Everything that is not a known route is a 404
//! page or a 405; nothing reaches KV unless it is a valid band id.

use web_sys::{Request, Response};
use worker::{Context, Env, Result};

use crate::{kv_push, responses, tap_path};

/// Dispatches one request.
pub async fn handle(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let url = req.url();
    let https = url.starts_with("https:");
    let method = req.method();
    let head = method == "HEAD";
    let read = method == "GET" || head;
    match path_of(&url) {
        "/healthz" if read => responses::text(200, "ok\n", https, head),
        "/healthz" => responses::method_not_allowed("GET, HEAD", https),
        kv_push::PATH if method == "POST" => kv_push::handle(req, &env, https).await,
        kv_push::PATH => responses::method_not_allowed("POST", https),
        path if read => tap_path::handle(&req, path, &env, &ctx, head, https).await,
        _ => responses::method_not_allowed("GET, HEAD", https),
    }
}

/// The path of a serialised URL, without query: the runtime hands over a
/// WHATWG-serialised URL, so the path starts at the first `/` after the
/// authority and ends at `?` (`#` never reaches a server).
pub fn path_of(url: &str) -> &str {
    let target = target_of(url);
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// Path and query of a serialised URL: what a signer signs.
pub fn target_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| url.get(i + 3..).unwrap_or(""));
    after_scheme.find('/').and_then(|i| after_scheme.get(i..)).unwrap_or("/")
}

#[cfg(test)]
mod tests {
    use super::{path_of, target_of};

    #[test]
    fn splits_serialised_urls() {
        assert_eq!(path_of("http://127.0.0.1:8787/DEMO0001?x=1"), "/DEMO0001");
        assert_eq!(path_of("https://tap.example"), "/");
        assert_eq!(target_of("https://tap.example/_internal/kv?x=1"), "/_internal/kv?x=1");
        assert_eq!(target_of("http://127.0.0.1:8787/_internal/kv"), "/_internal/kv");
    }
}
