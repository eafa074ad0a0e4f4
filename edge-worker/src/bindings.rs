//! The KV namespace and the tap queue, looked up once per isolate.
//!
//! A binding never changes during an isolate's life, and looking one up
//! costs several calls into the runtime (the `worker` crate resolves and
//! type-checks every method), so the tap path pays for it once, not per tap.

use std::cell::OnceCell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use worker::kv::KvStore;
use worker::{Context, Env};

use crate::log;

/// KV namespace holding `band:` and `event:` records.
const KV_BINDING: &str = "BANDS";
/// Queue producer for taps.
const QUEUE_BINDING: &str = "TAPS";

struct TapQueue {
    queue: wasm_bindgen::JsValue,
    send: js_sys::Function,
}

thread_local! {
    static KV: OnceCell<KvStore> = const { OnceCell::new() };
    static QUEUE: OnceCell<Option<TapQueue>> = const { OnceCell::new() };
    static ON_SEND_ERROR: Closure<dyn FnMut(wasm_bindgen::JsValue)> = Closure::new(|e: wasm_bindgen::JsValue| {
        let reason = js_sys::Error::from(e).message().as_string().unwrap_or_default();
        log::error("tap_enqueue_failed", &[("reason", &reason)]);
    });
}

/// The `BANDS` namespace.
pub fn kv(env: &Env) -> Option<KvStore> {
    KV.with(|cell| {
        if cell.get().is_none() {
            match env.kv(KV_BINDING) {
                Ok(kv) => {
                    let _ = cell.set(kv);
                }
                Err(e) => {
                    log::error("binding_missing", &[("binding", KV_BINDING), ("reason", &e.to_string())])
                }
            }
        }
        cell.get().cloned()
    })
}

/// Sends `message` to the `TAPS` queue after the response: the send's promise
/// goes straight to `waitUntil`, with no Rust future in between, and a
/// failure is logged by a handler attached to that promise.
pub fn enqueue(env: &Env, ctx: &Context, message: &str) {
    QUEUE.with(|cell| {
        let queue = cell.get_or_init(|| {
            let queue = js_sys::Reflect::get(env, &QUEUE_BINDING.into()).ok().filter(|q| q.is_object())?;
            let send =
                js_sys::Reflect::get(&queue, &"send".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
            Some(TapQueue { queue, send })
        });
        let Some(TapQueue { queue, send }) = queue else {
            log::error("tap_enqueue_failed", &[("reason", "TAPS queue binding missing")]);
            return;
        };
        let sent = send.call1(queue, &message.into()).map(js_sys::Promise::from);
        let outcome = sent.and_then(|promise| {
            let promise = ON_SEND_ERROR.with(|handler| promise.catch(handler));
            ctx.as_ref().wait_until(&promise)
        });
        if let Err(e) = outcome {
            let reason = js_sys::Error::from(e).message().as_string().unwrap_or_default();
            log::error("tap_enqueue_failed", &[("reason", &reason)]);
        }
    });
}
