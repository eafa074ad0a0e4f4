//! Everything the edge worker and the origin must agree on, compiled once for
//! both (`wasm32-unknown-unknown` and the host) and tested natively.
//! No I/O, no clocks, no randomness: callers pass `now` and nonces in.

pub mod band_id;
pub mod destination;
pub mod records;
pub mod resolve;
pub mod security_headers;
pub mod signing;
pub mod tap;
pub mod user_agent;

pub use band_id::{BandId, BandIdError};
pub use destination::{Destination, DestinationError};
pub use records::{
    BandLookup, BandRecord, BandStatus, EventRecord, EventStatus, KvBatch, KvBatchResult, KvOp, Window,
};
pub use resolve::{Reason, Resolution, resolve};
pub use signing::{Keyring, SignatureError, SigningKey};
pub use tap::{AgentKind, DeviceClass, TapBatch, TapBatchResult, TapEvent};
