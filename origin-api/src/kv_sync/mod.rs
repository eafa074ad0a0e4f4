//! Keeping the edge's KV in step with the database.
//!
//! Every committed routing change has an outbox row written in its own
//! transaction ([`outbox`]); the [`pusher`] sends pending rows in `seq` order
//! to the edge's signed `POST /_internal/kv`, marks them done after a 2xx and
//! retries with backoff otherwise. Rows survive restarts; a row is only ever
//! pushed after every earlier row, so changes to a key never arrive reordered.

pub mod outbox;
pub mod pusher;
pub mod records;
