//! `NativeStore`'s appends: Kafka batches as they came, packed records
//! encoded natively, async on a libuv worker or (memory engine) synchronous.

use ferry_storage::sched::batch_policy;
use ferry_storage::{AppendResult, EncodedBatches, ShardLog, Ticket};
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use crate::error::storage_error;
use crate::job::HeldJob;
use crate::store::NativeStore;
use crate::store_types::JsAppendResult;

/// `appendPackedValues`' Buffers: the packed records and the out-of-line values.
type PackedWithValues = (Buffer, Vec<Buffer>);

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
impl NativeStore {
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
}
