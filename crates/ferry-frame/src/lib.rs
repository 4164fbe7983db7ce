//! Framing for FerryMQ's two wire protocols, with no I/O and no N-API.
//!
//! Everything here works on borrowed byte slices and either returns a
//! boundary (where the next frame ends) or a typed [`FrameError`]. Nothing
//! here allocates per byte or panics on input a client can send: every
//! index is bounds-checked, which the proptests in each module exercise with
//! arbitrary bytes.

pub mod compression;
pub mod crc;
pub mod error;
pub mod header;
pub mod record_batch;
pub mod records;

pub use crc::crc32c;
pub use error::FrameError;
pub use header::{kafka_frame, mqtt_frame, FrameBoundary};
pub use record_batch::{RecordBatchHeader, RECORD_BATCH_HEADER_LEN};
