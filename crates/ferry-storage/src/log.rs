//! The per-shard log contract every engine implements, and the batch
//! helpers they share (validate before write, verify after read).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ferry_frame::record_batch::{self, RECORD_BATCH_HEADER_LEN};
use ferry_frame::records;

use crate::error::{Result, StorageError};
use crate::order::{Turn, Unordered};

/// What one append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset assigned to the first record of the first batch.
    pub base_offset: u64,
    /// Offset of the last record of the last batch.
    pub last_offset: u64,
    /// Broker wall-clock time of the append (Kafka logAppendTime), ms.
    pub append_time_ms: i64,
    /// Log start offset after the append (Kafka produce response field).
    pub earliest_offset: u64,
    pub batch_count: u32,
    pub bytes: u64,
}

/// Bytes of whole batches plus the offsets a fetch response needs, taken
/// at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadResult {
    /// Whole magic-2 batches, CRC-checked after the read. Empty when the
    /// requested offset is the log end.
    pub bytes: Vec<u8>,
    /// Next offset to append (= high watermark on one node).
    pub next_offset: u64,
    pub earliest_offset: u64,
}

/// What [`ShardLog::read_into`] put in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadInto {
    /// Bytes of whole, CRC-checked batches written at the buffer's start;
    /// 0 at the log end or when `needed` is set.
    pub len: usize,
    /// Nonzero when the batch holding the offset alone is longer than the
    /// buffer: its length. Nothing was read; `read` returns it.
    pub needed: u32,
    pub next_offset: u64,
    pub earliest_offset: u64,
}

/// Result of a timestamp lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub offset: u64,
    pub timestamp_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    pub bytes: u64,
    pub batches: u64,
    /// Segment files (segment engine); 1 for memory and rocks engines.
    pub segments: u32,
    pub earliest_offset: u64,
    pub next_offset: u64,
    /// Offsets below it are fsynced (the memory engine, which keeps
    /// nothing on disk: `next_offset`).
    pub synced_offset: u64,
}

/// Batches this process has just encoded from packed records
/// (`records::encode_packed`), whose CRC-32C the encoder computed over these
/// very bytes. Only the constructors below make one, so a producer's batch
/// can never reach [`ShardLog::append_encoded_in_turn`], the path that skips
/// the pre-write CRC check (the read-side check still covers every byte).
#[derive(Debug, Default)]
pub struct EncodedBatches {
    bytes: Vec<u8>,
}

impl EncodedBatches {
    /// One batch holding every packed record.
    pub fn from_packed(packed: &[u8]) -> Result<EncodedBatches> {
        let mut bytes = Vec::with_capacity(packed.len() + RECORD_BATCH_HEADER_LEN);
        records::encode_packed(packed, &mut bytes)?;
        Ok(EncodedBatches { bytes })
    }

    /// Batch `i` holds the next `group_bytes[i]` bytes of packed records;
    /// the lengths must cover `packed` exactly.
    pub fn from_packed_groups(packed: &[u8], group_bytes: &[u32]) -> Result<EncodedBatches> {
        Self::from_packed_groups_with_values(packed, &[], group_bytes)
    }

    /// [`EncodedBatches::from_packed_groups`] where records may name their
    /// value out of line, as an index into `values`
    /// (`records::encode_packed_with_values`): those bytes are copied once,
    /// from where the caller keeps them straight into the batch.
    pub fn from_packed_groups_with_values(
        packed: &[u8],
        values: &[&[u8]],
        group_bytes: &[u32],
    ) -> Result<EncodedBatches> {
        let out_of_line: usize = values.iter().map(|v| v.len()).sum();
        let mut bytes = Vec::with_capacity(
            packed.len() + out_of_line + group_bytes.len() * RECORD_BATCH_HEADER_LEN,
        );
        let mut at = 0usize;
        for &len in group_bytes {
            let end = at
                .checked_add(len as usize)
                .filter(|&e| e <= packed.len())
                .ok_or(StorageError::BatchRejected(
                    "packed group lengths exceed the buffer",
                ))?;
            records::encode_packed_with_values(&packed[at..end], values, &mut bytes)?;
            at = end;
        }
        if at != packed.len() {
            return Err(StorageError::BatchRejected(
                "packed group lengths do not cover the buffer",
            ));
        }
        Ok(EncodedBatches { bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The batches, for an engine to patch offsets into and store.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// Whether an append's CRCs are checked before the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CrcCheck {
    /// Bytes from outside (a Kafka producer, any [`ShardLog::append`]).
    Check,
    /// [`EncodedBatches`]: the CRC was computed over these bytes here.
    Computed,
}

/// One shard's append-only log of magic-2 record batches.
///
/// Offsets are contiguous: each batch consumes `lastOffsetDelta + 1`
/// offsets. All methods take `&self` and are safe to call from many
/// threads; appends are serialized per shard, reads run concurrently.
pub trait ShardLog: Send + Sync {
    /// Append one or more back-to-back batches. Each is validated (length,
    /// magic, CRC, `batch_bytes_max`), then its baseOffset and
    /// partitionLeaderEpoch are patched **in `batches`** (so the caller's
    /// buffer holds exactly what was stored). Returns after the shard's
    /// durability policy is met.
    fn append(&self, batches: &mut [u8], leader_epoch: i32) -> Result<AppendResult>;

    /// [`ShardLog::append`] in its ticket's turn (see `order.rs`): validate
    /// without the turn, [`Turn::wait`] before offsets are assigned,
    /// [`Turn::release`] once written, then wait for durability. Engines that
    /// cannot overlap a write with the previous sync keep the turn for the
    /// whole append (this default).
    fn append_in_turn(
        &self,
        batches: &mut [u8],
        leader_epoch: i32,
        turn: &mut dyn Turn,
    ) -> Result<AppendResult> {
        turn.wait();
        let r = self.append(batches, leader_epoch);
        turn.release();
        r
    }

    /// Encode packed records (format in `ferry_frame::records`) into one
    /// uncompressed batch and append it: the MQTT / internal-API path.
    fn append_packed(&self, packed: &[u8], leader_epoch: i32) -> Result<AppendResult> {
        self.append_packed_in_turn(packed, leader_epoch, &mut Unordered)
    }

    /// [`ShardLog::append_packed`] in its ticket's turn; the encoding runs
    /// before the turn.
    fn append_packed_in_turn(
        &self,
        packed: &[u8],
        leader_epoch: i32,
        turn: &mut dyn Turn,
    ) -> Result<AppendResult> {
        let mut batches = EncodedBatches::from_packed(packed)?;
        self.append_encoded_in_turn(&mut batches, leader_epoch, turn)
    }

    /// Append batches encoded here (see [`EncodedBatches`]) in a ticket's
    /// turn. Engines may skip the pre-write CRC pass for them; this default
    /// checks it anyway.
    fn append_encoded_in_turn(
        &self,
        batches: &mut EncodedBatches,
        leader_epoch: i32,
        turn: &mut dyn Turn,
    ) -> Result<AppendResult> {
        self.append_in_turn(batches.bytes_mut(), leader_epoch, turn)
    }

    /// Several groups of packed records in one call: `group_bytes[i]` bytes
    /// of `packed` become batch `i`, and all batches go down in one append
    /// (one write, one sync). This is how the Shard adapter group-commits
    /// many callers' records without merging them past `batch_bytes_max`.
    fn append_packed_groups(
        &self,
        packed: &[u8],
        group_bytes: &[u32],
        leader_epoch: i32,
    ) -> Result<AppendResult> {
        self.append_packed_groups_in_turn(packed, group_bytes, leader_epoch, &mut Unordered)
    }

    /// [`ShardLog::append_packed_groups`] in its ticket's turn; the encoding
    /// runs before the turn.
    fn append_packed_groups_in_turn(
        &self,
        packed: &[u8],
        group_bytes: &[u32],
        leader_epoch: i32,
        turn: &mut dyn Turn,
    ) -> Result<AppendResult> {
        let mut batches = EncodedBatches::from_packed_groups(packed, group_bytes)?;
        self.append_encoded_in_turn(&mut batches, leader_epoch, turn)
    }

    /// Whole batches starting with the one that contains `from_offset`
    /// (Kafka fetch semantics), up to `max_bytes` — but always at least one
    /// batch if any exists at or after `from_offset`, however large.
    /// `from_offset == next_offset` gives empty bytes; outside
    /// `[earliest, next]` is [`StorageError::OffsetOutOfRange`].
    fn read(&self, from_offset: u64, max_bytes: u32) -> Result<ReadResult>;

    /// [`ShardLog::read`] into `out` (at most `out.len()` bytes, whole
    /// batches), so a caller can reuse one buffer across reads. When the
    /// batch holding `from_offset` is longer than `out`, nothing is read and
    /// [`ReadInto::needed`] says how long it is. This default reads into a
    /// fresh `Vec` and copies; the segment engine reads in place.
    fn read_into(&self, from_offset: u64, max_bytes: u32, out: &mut [u8]) -> Result<ReadInto> {
        let cap = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let r = self.read(from_offset, max_bytes.min(cap))?;
        let (len, needed) = if r.bytes.len() > out.len() {
            (0, u32::try_from(r.bytes.len()).unwrap_or(u32::MAX))
        } else {
            out[..r.bytes.len()].copy_from_slice(&r.bytes);
            (r.bytes.len(), 0)
        };
        Ok(ReadInto {
            len,
            needed,
            next_offset: r.next_offset,
            earliest_offset: r.earliest_offset,
        })
    }

    fn earliest_offset(&self) -> u64;
    /// Log end offset: the offset the next append gets.
    fn next_offset(&self) -> u64;

    /// First offset whose record timestamp is >= `timestamp_ms`, located via
    /// batch maxTimestamp; exact to the record for uncompressed batches, the
    /// batch's base offset for compressed ones. `None` if no such record.
    fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>>;

    /// Drop offsets >= `to_offset`. Batches are never split: if `to_offset`
    /// falls inside a batch, that whole batch goes too. Returns the new next
    /// offset (<= `to_offset`). `to_offset >= next` is a no-op; below
    /// earliest is [`StorageError::OffsetOutOfRange`].
    fn truncate(&self, to_offset: u64) -> Result<u64>;

    /// Move the log start up to `offset` (retention, Kafka DeleteRecords):
    /// reads below it fail; whole batches/segments wholly below it are
    /// freed. Returns the new earliest offset. `offset > next` is
    /// [`StorageError::OffsetOutOfRange`].
    fn delete_before(&self, offset: u64) -> Result<u64>;

    /// Apply the shard's retention_bytes_max / retention_ms now. Returns the
    /// earliest offset afterwards.
    fn apply_retention(&self, now_ms: i64) -> Result<u64>;

    /// Make every acknowledged append durable now.
    fn sync(&self) -> Result<()>;

    /// Interval policy: sync if the interval has elapsed since the last
    /// sync and something is unsynced; otherwise tell the attached flusher
    /// when it falls due. Cheap no-op otherwise.
    fn sync_if_due(&self) -> Result<()> {
        Ok(())
    }

    /// The store's flusher (interval policy): sync what has been unsynced
    /// past the interval; when to look again, None while nothing is
    /// unsynced (or the log is not under the interval policy).
    fn flush_due(&self) -> Option<std::time::Instant> {
        None
    }

    /// The flusher that [`ShardLog::sync_if_due`] tells when data falls due.
    fn attach_flusher(&self, _wake: std::sync::Arc<crate::flush_wake::FlushWake>) {}

    fn stats(&self) -> LogStats;

    /// Sync and refuse further calls with [`StorageError::Closed`].
    fn close(&self) -> Result<()>;
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Summary of a validated append buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validated {
    pub batches: u32,
    pub offsets: u64,
    pub max_timestamp: i64,
}

/// Check every batch in `buf` before it is written (the write side of the
/// paired CRC assertion).
pub(crate) fn validate(buf: &[u8], batch_bytes_max: u32) -> Result<Validated> {
    validate_with(buf, batch_bytes_max, CrcCheck::Check)
}

/// [`validate`], with the CRC pass only if `crc` says so; every other check
/// (sizes, magic, counts, `batch_bytes_max`) runs either way.
pub(crate) fn validate_with(buf: &[u8], batch_bytes_max: u32, crc: CrcCheck) -> Result<Validated> {
    if buf.is_empty() {
        return Err(StorageError::BatchRejected("no record batch in append"));
    }
    let mut at = 0usize;
    let mut v = Validated {
        batches: 0,
        offsets: 0,
        max_timestamp: i64::MIN,
    };
    while at < buf.len() {
        // Check the declared size against the limit before hashing it.
        if let Some(len) = buf.get(at + 8..at + 12) {
            let declared = i32::from_be_bytes([len[0], len[1], len[2], len[3]]) as i64 + 12;
            if declared > i64::from(batch_bytes_max) {
                return Err(StorageError::RecordTooLarge {
                    size: declared as u64,
                    max: batch_bytes_max.into(),
                });
            }
        }
        let h = match crc {
            CrcCheck::Check => record_batch::parse(&buf[at..])?,
            CrcCheck::Computed => record_batch::parse_structure(&buf[at..])?,
        };
        if h.record_count == 0 {
            return Err(StorageError::BatchRejected("record batch with no records"));
        }
        if i64::from(h.record_count) != i64::from(h.last_offset_delta) + 1 {
            return Err(StorageError::BatchRejected(
                "recordCount != lastOffsetDelta + 1",
            ));
        }
        at += h.total_len as usize;
        v.batches += 1;
        v.offsets += u64::from(h.last_offset_delta as u32) + 1;
        v.max_timestamp = v.max_timestamp.max(h.max_timestamp);
    }
    Ok(v)
}

/// Header fields of a batch already validated (no CRC work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchInfo {
    pub pos: usize,
    pub len: u32,
    pub base_offset: u64,
    pub last_offset_delta: u32,
    pub max_timestamp: i64,
}

impl BatchInfo {
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.last_offset_delta)
    }
    pub fn next_offset(&self) -> u64 {
        self.last_offset() + 1
    }
}

/// Header-only view of the batch at `buf[pos..]`, if its 61-byte header is
/// present and its length is sane. No CRC check.
pub(crate) fn peek(buf: &[u8], pos: usize) -> Option<BatchInfo> {
    let h = buf.get(pos..pos.checked_add(RECORD_BATCH_HEADER_LEN)?)?;
    let be64 = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&h[at..at + 8]);
        i64::from_be_bytes(a)
    };
    let len = i32::from_be_bytes([h[8], h[9], h[10], h[11]]);
    let lod = i32::from_be_bytes([h[23], h[24], h[25], h[26]]);
    let base = be64(0);
    if len < (RECORD_BATCH_HEADER_LEN - 12) as i32 || lod < 0 || base < 0 {
        return None;
    }
    Some(BatchInfo {
        pos,
        len: len as u32 + 12,
        base_offset: base as u64,
        last_offset_delta: lod as u32,
        max_timestamp: be64(35),
    })
}

/// Walk validated batches.
pub(crate) fn walk(buf: &[u8]) -> impl Iterator<Item = BatchInfo> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let b = peek(buf, at)?;
        let end = at.checked_add(b.len as usize)?;
        if end > buf.len() {
            return None;
        }
        at = end;
        Some(b)
    })
}

/// Patch consecutive base offsets starting at `base` and the leader epoch
/// into validated batches; returns the next offset.
pub(crate) fn patch_offsets(buf: &mut [u8], base: u64, leader_epoch: i32) -> Result<u64> {
    let mut next = base;
    let mut at = 0usize;
    while at < buf.len() {
        let b = peek(buf, at).ok_or(StorageError::BatchRejected(
            "batch changed after validation",
        ))?;
        let end = at + b.len as usize;
        record_batch::patch(&mut buf[at..end], next as i64, leader_epoch)?;
        next += u64::from(b.last_offset_delta) + 1;
        at = end;
    }
    Ok(next)
}

/// The read side of the paired CRC assertion: every batch in `buf` must
/// parse with a matching CRC, the first must contain `from_offset` (if
/// given) and offsets must be contiguous (baseOffset is not CRC-covered),
/// else [`StorageError::Corrupt`] naming where.
pub(crate) fn verify_read(
    buf: &[u8],
    path: &Path,
    file_pos: u64,
    from_offset: Option<u64>,
) -> Result<()> {
    let corrupt = |at: usize, reason: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        position: file_pos + at as u64,
        reason,
    };
    let mut at = 0usize;
    let mut expected = None;
    while at < buf.len() {
        let h = record_batch::parse(&buf[at..]).map_err(|e| corrupt(at, e.to_string()))?;
        let base =
            u64::try_from(h.base_offset).map_err(|_| corrupt(at, "negative base offset".into()))?;
        let next = base + u64::from(h.last_offset_delta as u32) + 1;
        match (expected, from_offset) {
            (Some(e), _) if e != base => {
                return Err(corrupt(at, format!("offset {base} where {e} was expected")))
            }
            (None, Some(f)) if !(base <= f && f < next) => {
                return Err(corrupt(
                    at,
                    format!("batch [{base}, {next}) does not hold offset {f}"),
                ))
            }
            _ => {}
        }
        expected = Some(next);
        at += h.total_len as usize;
    }
    Ok(())
}

/// Within one batch whose maxTimestamp >= `ts`: the exact first record with
/// timestamp >= `ts` when the batch is uncompressed, else its base offset.
pub(crate) fn offset_in_batch(batch: &[u8], ts: i64) -> Option<TimestampOffset> {
    let info = peek(batch, 0)?;
    match records::decode_batch(batch) {
        Ok((_, recs)) => recs
            .iter()
            .find(|r| r.timestamp_ms >= ts)
            .map(|r| TimestampOffset {
                offset: r.offset as u64,
                timestamp_ms: r.timestamp_ms,
            }),
        Err(_) => Some(TimestampOffset {
            offset: info.base_offset,
            timestamp_ms: info.max_timestamp,
        }),
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use ferry_frame::records::{encode_batch, Record};

    /// One uncompressed batch of `n` records with value `tag`-i and the
    /// given timestamp.
    pub fn batch(n: usize, ts: i64, tag: &str) -> Vec<u8> {
        let vals: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
        let recs: Vec<Record<'_>> = vals
            .iter()
            .map(|v| Record {
                timestamp_ms: ts,
                key: None,
                value: Some(v.as_bytes()),
                headers: &[],
            })
            .collect();
        let mut out = Vec::new();
        encode_batch(&recs, &mut out).unwrap();
        out
    }

    /// Takes `k` tickets in order, then runs `f(i, ticket)` for each on its
    /// own thread, started last ticket first (so late tickets are ready
    /// first); the results come back in ticket order.
    pub fn in_reverse_threads<T: Send + 'static>(
        k: usize,
        f: impl Fn(usize, crate::order::Ticket) -> T + Clone + Send + 'static,
    ) -> Vec<T> {
        let order = crate::order::AppendOrder::new();
        let tickets: Vec<_> = (0..k).map(|_| order.ticket()).collect();
        let mut hs: Vec<_> = tickets
            .into_iter()
            .enumerate()
            .rev()
            .map(|(i, t)| {
                let f = f.clone();
                std::thread::spawn(move || f(i, t))
            })
            .collect();
        hs.reverse();
        let out = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(order.outstanding(), 0, "every ticket released or abandoned");
        out
    }
}
