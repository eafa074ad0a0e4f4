//! Second factor: TOTP (RFC 6238; SHA-1, 6 digits, 30 s — what every
//! authenticator app supports) and single-use recovery codes.
//!
//! Mandatory for ADMINs (an ADMIN without it can only enrol), optional for
//! CUSTOMERs unless their organisation requires it. Secrets are encrypted at
//! rest ([`secret_box`]); a code, or any earlier step, is accepted once.

pub mod recovery;
pub mod secret_box;
pub mod service;
pub mod totp;
