//! Authentication and sessions: passwords and their policy, login with
//! lockout, password reset, session tokens, CSRF, client facts.

pub mod client;
pub mod csrf;
pub mod jwt;
pub mod login;
pub mod password;
pub mod policy;
pub mod reset;
pub mod session;
