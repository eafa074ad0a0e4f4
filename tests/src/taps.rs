//! Tap ids as the edge mints them: UUIDv7 embedding the tap time.

use uuid::{NoContext, Timestamp, Uuid};

/// A fresh UUIDv7 whose embedded time is `ms` (Unix milliseconds).
pub fn id_at(ms: i64) -> Uuid {
    let ms = u64::try_from(ms).expect("tap times are after 1970");
    Uuid::new_v7(Timestamp::from_unix(NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32))
}
