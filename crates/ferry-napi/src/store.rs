//! `NativeStore`: the storage engines and KV API for JavaScript. Every call
//! that may touch the disk (or fsync) returns a Promise and runs on a libuv
//! worker thread via [`Job`]; only in-memory reads of offsets and stats are
//! synchronous. Batches cross as one `Buffer` each way (plus, for
//! `appendPackedValues`, the callers' own Buffers of large values, read in
//! place); an appended buffer is offset-patched in place (no copy), a read
//! returns the stored bytes as a `Buffer` that takes ownership of the
//! native `Vec` (no copy).
//!
//! This module holds the store itself: open, shards, trimming, offsets,
//! stats and close. The other methods of the class are by concern in
//! `store_append.rs`, `store_read.rs` and `store_kv.rs`; the objects that
//! cross to JavaScript in `store_types.rs`.

use std::sync::{Arc, Mutex};

use ferry_storage::{ShardLog, Store, Ticket};
use napi::bindgen_prelude::AsyncTask;
use napi_derive::napi;

use crate::error::{coded, storage_error, to_u64};
use crate::job::Job;
use crate::store_types::{engine_name, JsLogStats, JsOffsets, JsShardConfig, JsShardInfo};

#[napi]
pub struct NativeStore {
    /// Taken out by `close()`, so the RocksDB and every file handle are
    /// released then (jobs already running hold their own `Arc` until they
    /// finish), not whenever the JS object is garbage-collected.
    store: Mutex<Option<Arc<Store>>>,
}

impl NativeStore {
    pub(crate) fn store(&self) -> napi::Result<Arc<Store>> {
        self.store
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| coded("FERRY_ERR_CLOSED", "the store is closed"))
    }

    pub(crate) fn shard(&self, id: f64) -> napi::Result<Arc<dyn ShardLog>> {
        self.store()?
            .shard(to_u64("shard id", id)?)
            .map_err(storage_error)
    }

    /// The shard and its next append ticket, taken now, on the JS thread:
    /// appends get their offsets in the order JavaScript called, however
    /// many are in flight. The job is queued in the same call, so ticket
    /// order is also the libuv pool's FIFO order (see `order.rs`).
    pub(crate) fn shard_ticket(&self, id: f64) -> napi::Result<(Arc<dyn ShardLog>, Ticket)> {
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
