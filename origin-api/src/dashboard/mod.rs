//! The dashboard: server-rendered pages for admins and customers.
//!
//! Pages use the same domain services and the same authorization layer as
//! the JSON API. Templates are compiled and auto-escaping (askama); every
//! page carries a strict Content-Security-Policy with a per-response nonce
//! (no inline script without it, no `unsafe-eval`, no framing). The only
//! script is our own small `app.js`, served from this origin; every flow
//! works without it. Charts are SVG rendered on the server.

pub mod account;
pub mod admin;
pub mod analytics;
pub mod assets;
pub mod auth_pages;
pub mod bands;
pub mod charts;
pub mod events;
pub mod page;
pub mod trash;
