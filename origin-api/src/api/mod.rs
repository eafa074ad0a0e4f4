//! The management JSON API (`/api/v1/…`). Every mutation goes through the
//! domain services (audited, KV-synced, tenancy-filtered).

pub mod analytics;
pub mod audit;
pub mod auth;
pub mod bands;
pub mod events;
pub mod json;
pub mod mfa;
pub mod orgs;
pub mod sessions;
pub mod trash;
pub mod users;
