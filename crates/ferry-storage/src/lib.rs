//! FerryMQ storage engines. This crate knows nothing of N-API: the binding
//! crate `ferry-napi` converts its types at the edge.
//!
//! # Map
//!
//! - [`Store`] (store.rs): one data directory; creates, opens and deletes
//!   shards by `u64` id with an engine and a [`ShardConfig`]; owns the
//!   RocksDB behind the [`Kv`] API and the rocks engine.
//! - [`ShardLog`] (log.rs): the per-shard log contract. Its unit is the
//!   Kafka magic-2 record batch, for every engine: Kafka producers' batches
//!   are validated and offset-patched, MQTT/internal records are first
//!   encoded with `ferry_frame::records`, so a fetch serves stored bytes.
//! - Engines: [`MemoryLog`] (bounded ring), [`SegmentLog`] (segment files,
//!   sparse offset/time indexes, group commit, torn-tail recovery),
//!   [`RocksLog`] (rows in RocksDB, for many small shards).
//! - [`AppendOrder`] (order.rs): per-shard tickets, so appends submitted
//!   concurrently get offsets in submission order while one append's write
//!   overlaps the previous one's fdatasync.
//! - [`sched::batch_policy`] (sched.rs): threads that run appends never
//!   preempt the thread that queued them (`SCHED_BATCH`).
//!
//! **Architecture invariants.** No engine returns bytes that failed their
//! CRC (checked before write and after read). Offsets are contiguous per
//! shard. No `unwrap`/`panic` on anything a client or the disk produces;
//! assertions are for bugs only. On-disk integers are fixed-width.
//!
//! # Error codes
//!
//! [`StorageError::code`] returns one of these stable strings:
//!
//! | code | variant | meaning |
//! |---|---|---|
//! | `FERRY_ERR_STORAGE_IO` | `Io` (other) | an I/O call failed |
//! | `FERRY_ERR_DISK_FULL` | `Io` (ENOSPC, EDQUOT) | disk or quota full; retriable |
//! | `FERRY_ERR_PERMISSION` | `Io` (EACCES, EPERM, EROFS) | no permission / read-only fs |
//! | `FERRY_ERR_CORRUPT` | `Corrupt` | stored data failed CRC/structure check |
//! | `FERRY_ERR_RECORD_TOO_LARGE` | `RecordTooLarge` | batch above `batch_bytes_max` |
//! | `FERRY_ERR_OFFSET_OUT_OF_RANGE` | `OffsetOutOfRange` | offset outside [earliest, next] |
//! | `FERRY_ERR_SHARD_NOT_FOUND` | `ShardNotFound` | no such shard id |
//! | `FERRY_ERR_SHARD_EXISTS` | `ShardExists` | shard id already created |
//! | `FERRY_ERR_INVALID_BATCH` | `InvalidBatch`, `InvalidRecords`, `BatchRejected` | client bytes are not an acceptable batch |
//! | `FERRY_ERR_SHARD_CONFIG_INVALID` | `InvalidConfig` | a config value or namespace is out of range |
//! | `FERRY_ERR_CLOSED` | `Closed` | store/shard closed, or poisoned by a failed fsync |
//! | `FERRY_ERR_ROCKSDB` | `Rocks` | RocksDB reported an error |

pub mod config;
pub mod error;
pub mod flush_wake;
mod group;
pub mod kv;
pub mod log;
pub mod memory;
pub mod order;
pub mod rocks_log;
pub mod sched;
pub mod segment;
pub mod store;

pub use config::{Durability, EngineKind, ShardConfig};
pub use error::{IoClass, Result, StorageError};
pub use kv::{Kv, KvOp};
pub use log::{AppendResult, EncodedBatches, LogStats, ReadResult, ShardLog, TimestampOffset};
pub use memory::MemoryLog;
pub use order::{AppendOrder, Ticket, Turn, Unordered};
pub use rocks_log::RocksLog;
pub use segment::SegmentLog;
pub use store::{ShardInfo, Store};
