//! Records inside an uncompressed Kafka magic-2 batch: encode natively
//! (MQTT publishes, internal API) and decode back, borrowing from the batch.
//!
//! FerryMQ stores every stream as magic-2 record batches, so data published
//! over MQTT is encoded here once and a Kafka consumer fetches it unchanged.
//!
//! # Record format (Kafka `DefaultRecord`, KIP-98)
//!
//! ```text
//! length          varint  (zigzag) bytes after this field
//! attributes      i8      unused, 0
//! timestampDelta  varlong (zigzag) timestamp - batch baseTimestamp
//! offsetDelta     varint  (zigzag) position in the batch
//! keyLength       varint  (zigzag) -1 = null key
//! key             bytes
//! valueLength     varint  (zigzag) -1 = null value
//! value           bytes
//! headersCount    varint  (zigzag)
//! headers:  headerKeyLength varint, headerKey bytes,
//!           headerValueLength varint (-1 = null), headerValue bytes
//! ```
//!
//! Batches built here have producerId -1, producerEpoch -1, baseSequence -1,
//! partitionLeaderEpoch -1, baseOffset 0 (the log patches it), attributes 0
//! (no compression, create time), baseTimestamp = first record's timestamp,
//! maxTimestamp = the largest, and a filled CRC-32C.
//!
//! # Packed records (the input JavaScript builds in one `Buffer`)
//!
//! All integers little-endian; records back to back until the buffer ends:
//!
//! ```text
//! record := timestamp_ms  i64
//!           key_len       i32   -1 = null key, else byte count
//!           key           key_len bytes
//!           value_len     i32   -1 = null value, -2 = out of line
//!           value         value_len bytes (if value_len >= 0), or
//!           value_ref     u32   (if -2) index into the call's values
//!           header_count  u32
//!           header*       header_count times
//! header := hkey_len      u32
//!           hkey          hkey_len bytes
//!           hvalue_len    i32   -1 = null value
//!           hvalue        hvalue_len bytes
//! ```
//!
//! In JS: `buf.writeBigInt64LE`, `writeInt32LE`, `writeUInt32LE` and
//! `buf.set(bytes, pos)` into one preallocated Buffer. A large value may
//! stay in the caller's own Buffer instead ([`encode_packed_with_values`]):
//! the packed record names it by index and the encoder copies it straight
//! into the batch, which saves one copy of the bulk of the bytes. [`encode_packed`]
//! checks every length against the buffer before touching bytes and returns
//! [`RecordsError::Packed`] with the failing position otherwise.
//!
//! # Errors
//!
//! [`RecordsError`] is separate from [`FrameError`] (which it wraps) so the
//! frame-level enum the binding matches on exhaustively stays unchanged.
//! Nothing here panics on input bytes: every read is bounds-checked, and the
//! proptests feed arbitrary bytes to both decoders.
//!
//! # Code map
//!
//! - `mod.rs`: the public types, and re-exports of the functions below.
//! - `encode.rs`: [`encode_batch`] and [`encode_packed`], one generic
//!   two-pass encoder shared by both inputs.
//! - `packed.rs`: parsing the packed format ([`packed_records`]).
//! - `decode.rs`: [`decode_batch`].
//! - `varint.rs`: the zigzag varints of the record format.
//! - `tests.rs`: unit tests and proptests across encode, packed and decode.

mod decode;
mod encode;
mod packed;
mod varint;

pub use decode::decode_batch;
pub use encode::{encode_batch, encode_packed, encode_packed_with_values};
pub use packed::{
    packed_records, packed_records_with_values, PackedHeaders, PackedIter, PackedRecord,
};

use crate::error::FrameError;
use thiserror::Error;

/// Why records could not be encoded or decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordsError {
    /// The batch header itself is bad (length, magic, CRC, counts).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The batch is compressed with this codec (1 gzip, 2 snappy, 3 lz4,
    /// 4 zstd); FerryMQ stores such batches as they are but does not
    /// decompress them natively.
    #[error(
        "record batch is compressed with codec {0}; only uncompressed batches decode natively"
    )]
    Compressed(u8),
    /// A record inside an otherwise valid batch is malformed.
    #[error("malformed record at byte {at}: {reason}")]
    Malformed { at: u64, reason: &'static str },
    /// The packed-records input is malformed.
    #[error("malformed packed records at byte {at}: {reason}")]
    Packed { at: u64, reason: &'static str },
    /// A batch must hold at least one record.
    #[error("a record batch needs at least one record")]
    Empty,
    /// A field, record or batch would not fit the format's i32 lengths.
    #[error("{what} of {size} bytes exceeds the format limit")]
    TooLarge { what: &'static str, size: u64 },
}

/// One record to encode. Header values are never null here; use the packed
/// format to encode null header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a [u8], &'a [u8])],
}

/// One record decoded from a batch, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord<'a> {
    /// Absolute offset: the batch's baseOffset + offsetDelta.
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

/// What [`encode_batch`] / [`encode_packed`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedBatch {
    pub record_count: u32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    /// Bytes appended to the output vector.
    pub len: u32,
}

#[cfg(test)]
mod tests;
