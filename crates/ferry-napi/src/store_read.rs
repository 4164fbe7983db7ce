//! `NativeStore`'s reads: batches from an offset (async, into a reused
//! Buffer, or synchronous for the memory engine) and offsets by timestamp.

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use crate::error::{storage_error, to_u64};
use crate::job::{HeldJob, Job};
use crate::store::NativeStore;
use crate::store_types::{JsReadInto, JsReadResult, JsTimestampOffset};

#[napi]
impl NativeStore {
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
}
