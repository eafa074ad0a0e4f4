//! Authentication: password hashing (and, in later modules, sessions and MFA).

pub mod password;
