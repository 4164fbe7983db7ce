//! `NativeStore`: the storage engines and KV API for JavaScript. Every call
//! that may touch the disk (or fsync) returns a Promise and runs on a libuv
//! worker thread via [`Job`]; only in-memory reads of offsets and stats are
//! synchronous. Batches cross as one `Buffer` each way (plus, for
//! `appendPackedValues`, the callers' own Buffers of large values, read in
//! place); an appended buffer is offset-patched in place (no copy), a read
//! returns the stored bytes as a `Buffer` that takes ownership of the
//! native `Vec` (no copy).

use std::sync::{Arc, Mutex};

use ferry_storage::sched::batch_policy;
use ferry_storage::{
    AppendResult, Durability, EncodedBatches, EngineKind, KvOp, ShardConfig, ShardLog, Store,
    Ticket,
};
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use crate::error::{coded, storage_error, to_u64};
use crate::job::{HeldJob, Job};

/// `appendPackedValues`' Buffers: the packed records and the out-of-line values.
type PackedWithValues = (Buffer, Vec<Buffer>);

#[napi(object)]
pub struct JsAppendResult {
    pub base_offset: f64,
    pub last_offset: f64,
    pub append_time_ms: f64,
    pub earliest_offset: f64,
    pub batch_count: u32,
    pub bytes: f64,
}

impl From<AppendResult> for JsAppendResult {
    fn from(r: AppendResult) -> Self {
        JsAppendResult {
            base_offset: r.base_offset as f64,
            last_offset: r.last_offset as f64,
            append_time_ms: r.append_time_ms as f64,
            earliest_offset: r.earliest_offset as f64,
            batch_count: r.batch_count,
            bytes: r.bytes as f64,
        }
    }
}

#[napi(object)]
pub struct JsReadResult {
    /// Whole magic-2 batches, CRC-checked after the read.
    pub bytes: Buffer,
    pub next_offset: f64,
    pub earliest_offset: f64,
}

#[napi(object)]
pub struct JsReadInto {
    /// Bytes of whole, CRC-checked batches at the start of the buffer.
    pub length: u32,
    /// Nonzero: the first batch alone is longer than the buffer (nothing read).
    pub needed: u32,
    pub next_offset: f64,
    pub earliest_offset: f64,
}

#[napi(object)]
pub struct JsTimestampOffset {
    pub offset: f64,
    pub timestamp_ms: f64,
}

#[napi(object)]
pub struct JsOffsets {
    pub earliest: f64,
    pub next: f64,
}

#[napi(object)]
pub struct JsLogStats {
    pub bytes: f64,
    pub batches: f64,
    pub segments: u32,
    pub earliest_offset: f64,
    pub next_offset: f64,
}

/// A shard's settings as JavaScript passes them. Omitted fields take the
/// engine defaults; 0 for retention means unlimited.
#[napi(object)]
pub struct JsShardConfig {
    /// "memory" | "segment" | "rocks"
    pub engine: String,
    /// "none" | "interval" | "always"
    pub durability: String,
    pub durability_interval_ms: Option<u32>,
    pub batch_bytes_max: Option<u32>,
    pub retention_bytes_max: Option<f64>,
    pub retention_ms: Option<f64>,
    pub segment_bytes_max: Option<u32>,
    pub segment_ms_max: Option<f64>,
    pub index_interval_bytes: Option<u32>,
    pub ring_bytes_max: Option<f64>,
    pub ring_batches_max: Option<u32>,
}

#[napi(object)]
pub struct JsShardInfo {
    pub id: f64,
    pub engine: String,
}

#[napi(object)]
pub struct JsKvEntry {
    pub key: Buffer,
    pub value: Buffer,
}

/// One operation of an atomic KV write: a put when `value` is given, else a delete.
#[napi(object)]
pub struct JsKvOp {
    pub ns: String,
    pub key: Buffer,
    pub value: Option<Buffer>,
}

fn engine_name(e: EngineKind) -> &'static str {
    match e {
        EngineKind::Memory => "memory",
        EngineKind::Segment => "segment",
        EngineKind::Rocks => "rocks",
    }
}

fn optional_u64(name: &str, v: Option<f64>) -> napi::Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(x) => to_u64(name, x).map(|n| (n > 0).then_some(n)),
    }
}

impl JsShardConfig {
    fn into_core(self) -> napi::Result<(EngineKind, ShardConfig)> {
        let engine = match self.engine.as_str() {
            "memory" => EngineKind::Memory,
            "segment" => EngineKind::Segment,
            "rocks" => EngineKind::Rocks,
            other => {
                return Err(coded(
                    "FERRY_ERR_SHARD_CONFIG_INVALID",
                    format!("engine must be memory, segment or rocks, got {other:?}"),
                ))
            }
        };
        let durability = match self.durability.as_str() {
            "none" => Durability::None,
            "always" => Durability::Always,
            "interval" => Durability::Interval {
                ms: self.durability_interval_ms.unwrap_or(100),
            },
            other => {
                return Err(coded(
                    "FERRY_ERR_SHARD_CONFIG_INVALID",
                    format!("durability must be none, interval or always, got {other:?}"),
                ))
            }
        };
        let d = ShardConfig::default();
        let config = ShardConfig {
            durability,
            batch_bytes_max: self.batch_bytes_max.unwrap_or(d.batch_bytes_max),
            retention_bytes_max: match self.retention_bytes_max {
                None => d.retention_bytes_max,
                v => optional_u64("retentionBytesMax", v)?,
            },
            retention_ms: match self.retention_ms {
                None => d.retention_ms,
                v => optional_u64("retentionMs", v)?,
            },
            segment_bytes_max: self.segment_bytes_max.unwrap_or(d.segment_bytes_max),
            segment_ms_max: match self.segment_ms_max {
                None => d.segment_ms_max,
                v => optional_u64("segmentMsMax", v)?,
            },
            index_interval_bytes: self.index_interval_bytes.unwrap_or(d.index_interval_bytes),
            ring_bytes_max: match self.ring_bytes_max {
                None => d.ring_bytes_max,
                Some(v) => to_u64("ringBytesMax", v)?,
            },
            ring_batches_max: self.ring_batches_max.unwrap_or(d.ring_batches_max),
        };
        config.validate().map_err(storage_error)?;
        Ok((engine, config))
    }
}

/// Append several callers' batches as one: a single part is patched in
/// place; several are joined, appended, and the patched bytes copied back.
fn append_parts(
    log: &dyn ShardLog,
    parts: &mut [Buffer],
    leader_epoch: i32,
    ticket: &mut Ticket,
) -> Result<AppendResult, ferry_storage::StorageError> {
    if let [one] = parts {
        return log.append_in_turn(one, leader_epoch, ticket);
    }
    let mut joined = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts.iter() {
        joined.extend_from_slice(p);
    }
    let r = log.append_in_turn(&mut joined, leader_epoch, ticket)?;
    let mut at = 0;
    for p in parts.iter_mut() {
        let n = p.len();
        if let Some(patched) = joined.get(at..at + n) {
            p.copy_from_slice(patched);
        }
        at += n;
    }
    Ok(r)
}

#[napi]
pub struct NativeStore {
    /// Taken out by `close()`, so the RocksDB and every file handle are
    /// released then (jobs already running hold their own `Arc` until they
    /// finish), not whenever the JS object is garbage-collected.
    store: Mutex<Option<Arc<Store>>>,
}

impl NativeStore {
    fn store(&self) -> napi::Result<Arc<Store>> {
        self.store
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| coded("FERRY_ERR_CLOSED", "the store is closed"))
    }

    fn shard(&self, id: f64) -> napi::Result<Arc<dyn ShardLog>> {
        self.store()?
            .shard(to_u64("shard id", id)?)
            .map_err(storage_error)
    }

    /// The shard and its next append ticket, taken now, on the JS thread:
    /// appends get their offsets in the order JavaScript called, however
    /// many are in flight. The job is queued in the same call, so ticket
    /// order is also the libuv pool's FIFO order (see `order.rs`).
    fn shard_ticket(&self, id: f64) -> napi::Result<(Arc<dyn ShardLog>, Ticket)> {
        self.store()?
            .shard_ticket(to_u64("shard id", id)?)
            .map_err(storage_error)
    }
}

#[napi]
impl NativeStore {
    /// Open (or create) the store in `dir`, reopening every shard it holds
    /// (segment shards run torn-tail recovery here).
    #[napi(ts_return_type = "Promise<NativeStore>")]
    pub fn open(dir: String) -> AsyncTask<Job<NativeStore>> {
        AsyncTask::new(Job::new(move || {
            Ok(NativeStore {
                store: Mutex::new(Some(Arc::new(Store::open(dir)?))),
            })
        }))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn create_shard(&self, id: f64, config: JsShardConfig) -> napi::Result<AsyncTask<Job<()>>> {
        let id = to_u64("shard id", id)?;
        let (engine, config) = config.into_core()?;
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            store.create_shard(id, engine, config).map(|_| ())
        })))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete_shard(&self, id: f64) -> napi::Result<AsyncTask<Job<()>>> {
        let id = to_u64("shard id", id)?;
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || store.delete_shard(id))))
    }

    #[napi]
    pub fn shards(&self) -> napi::Result<Vec<JsShardInfo>> {
        Ok(self
            .store()?
            .shards()
            .into_iter()
            .map(|s| JsShardInfo {
                id: s.id as f64,
                engine: engine_name(s.engine).to_string(),
            })
            .collect())
    }

    /// Append back-to-back magic-2 batches. `batches` is validated, then
    /// patched in place with the assigned base offsets; the promise resolves
    /// once the shard's durability policy is met. Every append method takes
    /// its shard's next ticket when called, so offsets follow call order even
    /// with many appends in flight; promises may still settle out of order.
    #[napi(ts_return_type = "Promise<JsAppendResult>")]
    pub fn append(
        &self,
        id: f64,
        batches: Buffer,
        leader_epoch: i32,
    ) -> napi::Result<AsyncTask<HeldJob<Buffer, JsAppendResult>>> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        Ok(AsyncTask::new(HeldJob::holding(batches, move |batches| {
            batch_policy();
            log.append_in_turn(batches, leader_epoch, &mut ticket)
                .map(Into::into)
        })))
    }

    /// `append` of several callers' batches in one call (one ticket, one
    /// write, one sync): the parts are joined and patched on the worker
    /// thread and the patched bytes copied back into each part there, so
    /// the JS thread neither concatenates nor copies back. Refused as a
    /// whole if any part is bad (the adapter then retries each alone).
    #[napi(ts_return_type = "Promise<JsAppendResult>")]
    pub fn append_many(
        &self,
        id: f64,
        parts: Vec<Buffer>,
        leader_epoch: i32,
    ) -> napi::Result<AsyncTask<HeldJob<Vec<Buffer>, JsAppendResult>>> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        Ok(AsyncTask::new(HeldJob::holding(parts, move |parts| {
            batch_policy();
            append_parts(log.as_ref(), parts, leader_epoch, &mut ticket).map(Into::into)
        })))
    }

    /// Synchronous `appendMany`, for memory-engine shards only (see
    /// `appendPackedSync`): the Shard adapter calls it for at most 64 KiB of
    /// Kafka batches with nothing else in flight, so the CRC check and copy
    /// into the ring cost microseconds and no thread-pool hop.
    #[napi]
    pub fn append_many_sync(
        &self,
        id: f64,
        mut parts: Vec<Buffer>,
        leader_epoch: i32,
    ) -> napi::Result<JsAppendResult> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        append_parts(log.as_ref(), &mut parts, leader_epoch, &mut ticket)
            .map(Into::into)
            .map_err(storage_error)
    }

    /// Encode packed records (format: `ferry_frame::records`) into one
    /// batch natively and append it.
    #[napi(ts_return_type = "Promise<JsAppendResult>")]
    pub fn append_packed(
        &self,
        id: f64,
        packed: Buffer,
        leader_epoch: i32,
    ) -> napi::Result<AsyncTask<HeldJob<Buffer, JsAppendResult>>> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        Ok(AsyncTask::new(HeldJob::holding(packed, move |packed| {
            batch_policy();
            log.append_packed_in_turn(packed, leader_epoch, &mut ticket)
                .map(Into::into)
        })))
    }

    /// Like `appendPacked`, but `groupBytes[i]` bytes of `packed` become
    /// batch `i`; all batches are appended in one call (one write, one sync).
    #[napi(ts_return_type = "Promise<JsAppendResult>")]
    pub fn append_packed_groups(
        &self,
        id: f64,
        packed: Buffer,
        group_bytes: Vec<u32>,
        leader_epoch: i32,
    ) -> napi::Result<AsyncTask<HeldJob<Buffer, JsAppendResult>>> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        Ok(AsyncTask::new(HeldJob::holding(packed, move |packed| {
            batch_policy();
            log.append_packed_groups_in_turn(packed, &group_bytes, leader_epoch, &mut ticket)
                .map(Into::into)
        })))
    }

    /// Like `appendPackedGroups`, but a record may name its value out of
    /// line (packed `value_len` -2, then a u32 index into `values`): large
    /// values are read from the caller's own Buffers, with no copy into
    /// `packed` first. The Buffers must not change until the promise settles.
    #[napi(ts_return_type = "Promise<JsAppendResult>")]
    pub fn append_packed_values(
        &self,
        id: f64,
        packed: Buffer,
        values: Vec<Buffer>,
        group_bytes: Vec<u32>,
        leader_epoch: i32,
    ) -> napi::Result<AsyncTask<HeldJob<PackedWithValues, JsAppendResult>>> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        Ok(AsyncTask::new(HeldJob::holding(
            (packed, values),
            move |held| {
                batch_policy();
                let (packed, values) = &*held;
                let refs: Vec<&[u8]> = values.iter().map(|v| &v[..]).collect();
                let mut batches =
                    EncodedBatches::from_packed_groups_with_values(packed, &refs, &group_bytes)?;
                log.append_encoded_in_turn(&mut batches, leader_epoch, &mut ticket)
                    .map(Into::into)
            },
        )))
    }

    /// Synchronous `appendPackedGroups`, for memory-engine shards only (see `appendPackedSync`).
    #[napi]
    pub fn append_packed_groups_sync(
        &self,
        id: f64,
        packed: &[u8],
        group_bytes: Vec<u32>,
        leader_epoch: i32,
    ) -> napi::Result<JsAppendResult> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        log.append_packed_groups_in_turn(packed, &group_bytes, leader_epoch, &mut ticket)
            .map(Into::into)
            .map_err(storage_error)
    }

    /// Synchronous `appendPacked`, for memory-engine shards only: no disk
    /// and no thread hop, so a one-record append costs microseconds. The
    /// Shard adapter calls it only for shards it created with
    /// `engine: "memory"`; on other engines it would block the JS thread.
    /// It also waits (on the JS thread) for async appends of the shard
    /// called before it, so the adapter calls it only with none in flight.
    #[napi]
    pub fn append_packed_sync(
        &self,
        id: f64,
        packed: &[u8],
        leader_epoch: i32,
    ) -> napi::Result<JsAppendResult> {
        let (log, mut ticket) = self.shard_ticket(id)?;
        log.append_packed_in_turn(packed, leader_epoch, &mut ticket)
            .map(Into::into)
            .map_err(storage_error)
    }

    /// Synchronous `read`, for memory-engine shards only (see `appendPackedSync`).
    #[napi]
    pub fn read_sync(
        &self,
        id: f64,
        from_offset: f64,
        max_bytes: u32,
    ) -> napi::Result<JsReadResult> {
        let log = self.shard(id)?;
        let from = to_u64("fromOffset", from_offset)?;
        let r = log.read(from, max_bytes).map_err(storage_error)?;
        Ok(JsReadResult {
            bytes: r.bytes.into(),
            next_offset: r.next_offset as f64,
            earliest_offset: r.earliest_offset as f64,
        })
    }

    /// Whole batches from the one containing `fromOffset`, up to `maxBytes`
    /// (at least one batch when any exists).
    #[napi(ts_return_type = "Promise<JsReadResult>")]
    pub fn read(
        &self,
        id: f64,
        from_offset: f64,
        max_bytes: u32,
    ) -> napi::Result<AsyncTask<Job<JsReadResult>>> {
        let log = self.shard(id)?;
        let from = to_u64("fromOffset", from_offset)?;
        Ok(AsyncTask::new(Job::new(move || {
            let r = log.read(from, max_bytes)?;
            Ok(JsReadResult {
                bytes: r.bytes.into(),
                next_offset: r.next_offset as f64,
                earliest_offset: r.earliest_offset as f64,
            })
        })))
    }

    /// `read` into `into`, a Buffer the caller reuses (and must not touch
    /// until this settles): no allocation and no new external memory per
    /// read. `length` bytes of whole batches land at its start; when the
    /// batch holding `fromOffset` alone is longer than `into`, nothing is
    /// read and `needed` is its length (read it with `read`).
    #[napi(ts_return_type = "Promise<JsReadInto>")]
    pub fn read_into(
        &self,
        id: f64,
        from_offset: f64,
        max_bytes: u32,
        into: Buffer,
    ) -> napi::Result<AsyncTask<HeldJob<Buffer, JsReadInto>>> {
        let log = self.shard(id)?;
        let from = to_u64("fromOffset", from_offset)?;
        Ok(AsyncTask::new(HeldJob::holding(into, move |into| {
            let r = log.read_into(from, max_bytes, into)?;
            Ok(JsReadInto {
                length: r.len as u32,
                needed: r.needed,
                next_offset: r.next_offset as f64,
                earliest_offset: r.earliest_offset as f64,
            })
        })))
    }

    #[napi(ts_return_type = "Promise<JsTimestampOffset | null>")]
    pub fn offset_for_timestamp(
        &self,
        id: f64,
        timestamp_ms: f64,
    ) -> napi::Result<AsyncTask<Job<Option<JsTimestampOffset>>>> {
        let log = self.shard(id)?;
        Ok(AsyncTask::new(Job::new(move || {
            Ok(log
                .offset_for_timestamp(timestamp_ms as i64)?
                .map(|t| JsTimestampOffset {
                    offset: t.offset as f64,
                    timestamp_ms: t.timestamp_ms as f64,
                }))
        })))
    }

    /// Drop offsets >= `toOffset` (whole batches); resolves to the new next offset.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn truncate(&self, id: f64, to_offset: f64) -> napi::Result<AsyncTask<Job<f64>>> {
        let log = self.shard(id)?;
        let to = to_u64("toOffset", to_offset)?;
        Ok(AsyncTask::new(Job::new(move || {
            log.truncate(to).map(|n| n as f64)
        })))
    }

    /// Move the log start up to `offset`; resolves to the new earliest offset.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn delete_before(&self, id: f64, offset: f64) -> napi::Result<AsyncTask<Job<f64>>> {
        let log = self.shard(id)?;
        let at = to_u64("offset", offset)?;
        Ok(AsyncTask::new(Job::new(move || {
            log.delete_before(at).map(|n| n as f64)
        })))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn sync(&self, id: f64) -> napi::Result<AsyncTask<Job<()>>> {
        let log = self.shard(id)?;
        Ok(AsyncTask::new(Job::new(move || log.sync())))
    }

    /// Apply every shard's retention limits now.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn apply_retention(&self, now_ms: f64) -> napi::Result<AsyncTask<Job<()>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            store.apply_retention(now_ms as i64)
        })))
    }

    /// Earliest and next offset: in-memory, no I/O.
    #[napi]
    pub fn offsets(&self, id: f64) -> napi::Result<JsOffsets> {
        let log = self.shard(id)?;
        Ok(JsOffsets {
            earliest: log.earliest_offset() as f64,
            next: log.next_offset() as f64,
        })
    }

    #[napi]
    pub fn stats(&self, id: f64) -> napi::Result<JsLogStats> {
        let s = self.shard(id)?.stats();
        Ok(JsLogStats {
            bytes: s.bytes as f64,
            batches: s.batches as f64,
            segments: s.segments,
            earliest_offset: s.earliest_offset as f64,
            next_offset: s.next_offset as f64,
        })
    }

    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn kv_get(&self, ns: String, key: Buffer) -> napi::Result<AsyncTask<Job<Option<Buffer>>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            Ok(store.kv().get(&ns, &key)?.map(Buffer::from))
        })))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn kv_put(
        &self,
        ns: String,
        key: Buffer,
        value: Buffer,
        sync: bool,
    ) -> napi::Result<AsyncTask<Job<()>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            store.kv().put(&ns, &key, &value, sync)
        })))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn kv_delete(
        &self,
        ns: String,
        key: Buffer,
        sync: bool,
    ) -> napi::Result<AsyncTask<Job<()>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            store.kv().delete(&ns, &key, sync)
        })))
    }

    /// Apply all `ops` atomically.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn kv_write(&self, ops: Vec<JsKvOp>, sync: bool) -> napi::Result<AsyncTask<Job<()>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            let core: Vec<KvOp<'_>> = ops
                .iter()
                .map(|op| match &op.value {
                    Some(value) => KvOp::Put {
                        ns: &op.ns,
                        key: &op.key,
                        value,
                    },
                    None => KvOp::Delete {
                        ns: &op.ns,
                        key: &op.key,
                    },
                })
                .collect();
            store.kv().write(&core, sync)
        })))
    }

    /// Up to `limit` entries of `ns` whose key starts with `prefix`, in key
    /// order, after `startAfter` when given.
    #[napi(ts_return_type = "Promise<JsKvEntry[]>")]
    pub fn kv_scan(
        &self,
        ns: String,
        prefix: Buffer,
        start_after: Option<Buffer>,
        limit: u32,
    ) -> napi::Result<AsyncTask<Job<Vec<JsKvEntry>>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            let rows =
                store
                    .kv()
                    .scan_prefix(&ns, &prefix, start_after.as_deref(), limit as usize)?;
            Ok(rows
                .into_iter()
                .map(|(k, v)| JsKvEntry {
                    key: k.into(),
                    value: v.into(),
                })
                .collect())
        })))
    }

    /// Sync every shard and the KV, then refuse further calls.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> napi::Result<AsyncTask<Job<()>>> {
        let taken = self.store.lock().ok().and_then(|mut s| s.take());
        Ok(AsyncTask::new(Job::new(move || match taken {
            // Dropping the last Arc here (off the JS thread) closes RocksDB.
            Some(store) => store.close(),
            None => Ok(()),
        })))
    }
}
