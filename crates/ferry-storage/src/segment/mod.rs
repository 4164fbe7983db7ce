//! Segment engine: one directory per shard holding segment files of
//! magic-2 record batches, with sparse offset and time indexes, group-commit
//! fdatasync and torn-tail recovery.
//!
//! # Format
//!
//! ```text
//! <shard dir>/
//!   00000000000000000000.log        batches back to back, exactly as served
//!   00000000000000000000.index      sparse offset index   (see index.rs)
//!   00000000000000000000.timeindex  sparse time index     (see index.rs)
//!   00000000000000004096.log        next segment: base offset 4096 ...
//!   log-start-offset                earliest offset: u64 LE | crc32c(u32 LE)
//! ```
//!
//! A segment file name is its base offset in 20 decimal digits. A `.log` is
//! nothing but Kafka magic-2 batches with their baseOffset patched, so a
//! fetch is a positioned read of whole batches. Offsets are contiguous
//! across batches and segments. Positions inside a segment are u32
//! (`segment_bytes_max` <= 2^31).
//!
//! # Ownership
//!
//! One [`SegmentLog`] per directory per process. Appends take the writer
//! lock (`inner`) only to assign offsets, `pwrite` at the end of the active
//! segment and update the in-memory indexes. fdatasync runs outside it
//! (group commit, `sync` state: at most one fdatasync in flight; an append
//! under [`Durability::Always`] waits until a sync that started after its
//! write completes, and if someone already synced past it, returns at once).
//! With a ticket ([`ShardLog::append_in_turn`], `order.rs`) the offsets
//! and the write happen in ticket order, and the turn passes on before the
//! fdatasync: append N+1 writes while N's sync runs. Under `Always` each
//! append also starts the writeback of its own bytes (`sync_file_range`,
//! no wait) right after its write, so the device is busy with them before
//! the group-commit fdatasync that must cover them is even issued. Under a
//! durable policy the active segment's file is preallocated (`fallocate`,
//! `file::PREALLOCATE_BYTES` past the data, capped at `segment_bytes_max`):
//! appends write into blocks the file owns and its size does not move
//! between syncs. The in-memory `size` of a segment is always its batch
//! bytes; rolls, stats and retention use it, never the file length, and a
//! segment is trimmed to it before it is sealed and on a clean close.
//! Reads snapshot (file, size, index position) under `inner` for a few
//! instructions, then `pread` without it. Truncation and deletion take
//! `rewrite` exclusively; reads hold it shared, so a read never sees a file
//! shrink under it.
//!
//! # Recovery
//!
//! On open, sealed segments trust their index files if they are consistent
//! (else they are rebuilt by scanning). The last segment is always scanned:
//! each batch's length, CRC-32C (`ferry_frame::record_batch::parse`) and
//! offset continuity is checked and the file is truncated at the first
//! invalid batch (a torn tail after a crash, or the zeros of a preallocated
//! tail: a zero batchLength is never valid). Its indexes are rebuilt.
//! On read, every batch's CRC is checked again; a mismatch returns
//! [`StorageError::Corrupt`], never data. A failed fdatasync poisons the
//! shard (calls return [`StorageError::Closed`]) because the page cache can
//! no longer be trusted; reopening recovers from what is on disk.
//!
//! # Code map
//!
//! - `mod.rs`: [`SegmentLog`], its locks and the [`ShardLog`] operations
//!   (read, truncate, retention, group-commit sync).
//! - `append.rs`: the append path: validation, the ordered write with
//!   preallocation and early writeback, index update, roll, durability wait.
//! - `dir.rs`: opening the shard directory (finding segments, dropping
//!   leftover index files) and the `log-start-offset` file.
//! - `file.rs`: one segment's files: create, open with torn-tail repair,
//!   rebuild, seal, persist its indexes.
//! - `read.rs`: reads: into a fresh `Vec` or into the caller's buffer.
//! - `scan.rs`: walking batch headers in a segment file (validation on
//!   open, locating a batch for a read).
//! - `index.rs`: the sparse offset and time indexes and their file format.
//! - `tests.rs`: unit tests and proptests of the whole engine;
//!   `append_tests.rs`: the CRC-skip and preallocation tests.

mod append;
mod dir;
mod file;
pub mod index;
mod read;
mod scan;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::config::{Durability, ShardConfig};
use crate::error::{Result, StorageError};
use crate::flush_wake::FlushWake;
use crate::group::GroupCommit;
use crate::log::{
    offset_in_batch, verify_read, AppendResult, CrcCheck, EncodedBatches, LogStats, ReadInto,
    ReadResult, ShardLog, TimestampOffset,
};
use crate::order::{Turn, Unordered};
use file::Segment;
use scan::locate;

/// File name stem of a segment: base offset in 20 digits.
pub fn segment_stem(base: u64) -> String {
    format!("{base:020}")
}

struct Inner {
    segments: Vec<Segment>,
    /// Sealed segments rolled under `Durability::None`, not yet fsynced;
    /// an explicit `sync`/`close` syncs them too.
    unsynced_sealed: Vec<(Arc<File>, Arc<Path>)>,
    earliest: u64,
    next: u64,
    closed: bool,
}

pub struct SegmentLog {
    dir: PathBuf,
    config: ShardConfig,
    inner: Mutex<Inner>,
    /// `inner.earliest` / `inner.next`, stored under `inner` whenever they
    /// change, so `earliest_offset` / `next_offset` (called on the JS thread
    /// by every Produce answer) never wait for the lock an append holds
    /// through its `pwrite`: a writer preempted there would stall the JS
    /// thread for a scheduler slice.
    published: Published,
    rewrite: RwLock<()>,
    sync: GroupCommit,
}

/// Lock-free copies of a log's earliest and next offset.
struct Published {
    earliest: AtomicU64,
    next: AtomicU64,
}

impl Published {
    fn new(earliest: u64, next: u64) -> Published {
        Published {
            earliest: AtomicU64::new(earliest),
            next: AtomicU64::new(next),
        }
    }

    /// Called with `inner` held, after any change of its offsets.
    fn store(&self, inner: &Inner) {
        self.earliest.store(inner.earliest, Ordering::Release);
        self.next.store(inner.next, Ordering::Release);
    }
}

fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::io(op, path, e)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync dir", dir))
}

impl SegmentLog {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn durable(&self) -> bool {
        !matches!(self.config.durability, Durability::None)
    }

    pub(super) fn sync_to(&self, target: u64) -> Result<()> {
        self.sync.sync_to(target, || self.sync_active())
    }

    /// One fdatasync of the active segment (plus any sealed segment rolled
    /// without one); returns the offset it covers.
    fn sync_active(&self) -> Result<u64> {
        let (files, covered) = {
            let mut inner = self.inner.lock();
            if inner.closed {
                return Err(StorageError::Closed);
            }
            let Some(a) = inner.segments.last() else {
                return Err(StorageError::Closed);
            };
            let active = (a.file.clone(), a.path.clone());
            let mut files = std::mem::take(&mut inner.unsynced_sealed);
            files.push(active);
            (files, inner.next)
        };
        for (file, path) in files {
            if let Err(e) = file.sync_data() {
                // The page cache may have dropped the dirty pages: poison.
                self.inner.lock().closed = true;
                return Err(StorageError::io("fsync", &*path, e));
            }
        }
        Ok(covered)
    }

    fn out_of_range(inner: &Inner, requested: u64) -> StorageError {
        StorageError::OffsetOutOfRange {
            requested,
            earliest: inner.earliest,
            latest: inner.next,
        }
    }
    /// Remove sealed segments from the front while `pred` says so.
    fn drop_front(
        &self,
        inner: &mut Inner,
        mut pred: impl FnMut(&Segment, u64) -> bool,
    ) -> Result<()> {
        let mut total: u64 = inner.segments.iter().map(|s| u64::from(s.size)).sum();
        while inner.segments.len() > 1 {
            let s = &inner.segments[0];
            if !pred(s, total) {
                break;
            }
            s.remove_files()?;
            total -= u64::from(s.size);
            inner.segments.remove(0);
            let first = inner.segments.first().map_or(inner.next, |s| s.base);
            inner.earliest = inner.earliest.max(first);
            self.published.store(inner);
        }
        Ok(())
    }
}
impl ShardLog for SegmentLog {
    fn append(&self, batches: &mut [u8], leader_epoch: i32) -> Result<AppendResult> {
        self.append_in_turn(batches, leader_epoch, &mut Unordered)
    }

    /// Validation (the CRC pass included) runs before the turn; offsets, the
    /// write and the index update in it; the turn is released before the fdatasync, so
    /// the next ticket's write overlaps this sync, which group commit then
    /// shares. The ack still waits for a sync that covers this append.
    fn append_in_turn(
        &self,
        batches: &mut [u8],
        leader_epoch: i32,
        turn: &mut dyn Turn,
    ) -> Result<AppendResult> {
        self.append_checked(batches, leader_epoch, turn, CrcCheck::Check)
    }

    /// The encoder computed these CRCs over the bytes about to be written:
    /// a second pass over ~all appended bytes would only burn CPU. Reads
    /// still check every batch's CRC.
    fn append_encoded_in_turn(
        &self,
        batches: &mut EncodedBatches,
        leader_epoch: i32,
        turn: &mut dyn Turn,
    ) -> Result<AppendResult> {
        self.append_checked(batches.bytes_mut(), leader_epoch, turn, CrcCheck::Computed)
    }

    fn read(&self, from_offset: u64, max_bytes: u32) -> Result<ReadResult> {
        self.read_vec(from_offset, max_bytes)
    }

    fn read_into(&self, from_offset: u64, max_bytes: u32, out: &mut [u8]) -> Result<ReadInto> {
        self.read_into_buf(from_offset, max_bytes, out)
    }

    fn earliest_offset(&self) -> u64 {
        self.published.earliest.load(Ordering::Acquire)
    }

    fn next_offset(&self) -> u64 {
        self.published.next.load(Ordering::Acquire)
    }

    fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>> {
        let _shared = self.rewrite.read();
        let (snap, earliest) = {
            let inner = self.inner.lock();
            if inner.closed {
                return Err(StorageError::Closed);
            }
            let Some(seg) = inner
                .segments
                .iter()
                .find(|s| s.max_ts >= timestamp_ms && s.size > 0)
            else {
                return Ok(None);
            };
            let snap = seg.snapshot_from(seg.index.time_floor_position(timestamp_ms));
            (snap, inner.earliest)
        };
        let Some(b) = locate(&snap, snap.start, |b| b.max_timestamp >= timestamp_ms)? else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; b.len as usize];
        snap.file
            .read_exact_at(&mut bytes, b.pos as u64)
            .map_err(io_err("read", &snap.path))?;
        verify_read(&bytes, &snap.path, b.pos as u64, None)?;
        Ok(offset_in_batch(&bytes, timestamp_ms).map(|mut t| {
            t.offset = t.offset.max(earliest);
            t
        }))
    }

    fn truncate(&self, to_offset: u64) -> Result<u64> {
        let _exclusive = self.rewrite.write();
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(StorageError::Closed);
        }
        if to_offset >= inner.next {
            return Ok(inner.next);
        }
        if to_offset < inner.earliest {
            return Err(Self::out_of_range(&inner, to_offset));
        }
        let i = inner
            .segments
            .partition_point(|s| s.base <= to_offset)
            .saturating_sub(1);
        while inner.segments.len() > i + 1 {
            if let Some(s) = inner.segments.pop() {
                s.remove_files()?;
            }
        }
        let interval = self.config.index_interval_bytes;
        let Some(seg) = inner.segments.last_mut() else {
            return Err(StorageError::Closed);
        };
        let snap = seg.snapshot_at_offset(to_offset);
        let cut = match locate(&snap, snap.start, |b| b.next_offset() > to_offset)? {
            Some(b) => b.pos as u32,
            None => seg.size,
        };
        seg.file
            .set_len(u64::from(cut))
            .map_err(io_err("truncate", &seg.path))?;
        seg.cut_to(cut);
        seg.size = cut;
        // Rebuild the (short) tail of the index state from disk.
        seg.rebuild(interval, false)?;
        seg.rewrite_index_files()?;
        if self.durable() {
            seg.file.sync_data().map_err(io_err("fsync", &seg.path))?;
        }
        inner.next = seg.next;
        if inner.next < inner.earliest {
            inner.earliest = inner.next;
        }
        self.published.store(&inner);
        let next = inner.next;
        self.sync.lower_to(next);
        Ok(next)
    }

    fn delete_before(&self, offset: u64) -> Result<u64> {
        let _exclusive = self.rewrite.write();
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(StorageError::Closed);
        }
        if offset > inner.next {
            return Err(Self::out_of_range(&inner, offset));
        }
        if offset <= inner.earliest {
            return Ok(inner.earliest);
        }
        inner.earliest = offset;
        self.published.store(&inner);
        self.persist_log_start(offset)?;
        // A segment goes when the next one starts at or below the new start.
        let mut bases: Vec<u64> = inner.segments.iter().map(|s| s.base).collect();
        bases.remove(0);
        let mut k = 0usize;
        self.drop_front(&mut inner, |_, _| {
            let go = bases.get(k).is_some_and(|&nb| nb <= offset);
            k += 1;
            go
        })?;
        self.published.store(&inner);
        Ok(inner.earliest)
    }

    fn apply_retention(&self, now_ms: i64) -> Result<u64> {
        let _exclusive = self.rewrite.write();
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(StorageError::Closed);
        }
        if let Some(ms) = self.config.retention_ms {
            let cutoff = now_ms.saturating_sub(ms as i64);
            self.drop_front(&mut inner, |s, _| s.max_ts < cutoff)?;
        }
        if let Some(max) = self.config.retention_bytes_max {
            self.drop_front(&mut inner, |s, total| total - u64::from(s.size) >= max)?;
        }
        self.published.store(&inner);
        Ok(inner.earliest)
    }

    fn sync(&self) -> Result<()> {
        let next = {
            let mut inner = self.inner.lock();
            if inner.closed {
                return Err(StorageError::Closed);
            }
            if let Some(a) = inner.segments.last_mut() {
                a.persist_index()?;
            }
            inner.next
        };
        self.sync_to(next)
    }

    fn sync_if_due(&self) -> Result<()> {
        let Durability::Interval { ms } = self.config.durability else {
            return Ok(());
        };
        let next = self.next_offset();
        self.sync
            .sync_if_due(Duration::from_millis(u64::from(ms)), next, || {
                self.sync_active()
            })
    }

    fn flush_due(&self) -> Option<Instant> {
        let Durability::Interval { ms } = self.config.durability else {
            return None;
        };
        self.sync.flush_due(
            Duration::from_millis(u64::from(ms)),
            || self.next_offset(),
            || self.sync_active(),
        )
    }

    fn attach_flusher(&self, wake: Arc<FlushWake>) {
        self.sync.attach_flusher(wake);
    }

    fn stats(&self) -> LogStats {
        let synced_offset = self.sync.synced();
        let inner = self.inner.lock();
        LogStats {
            bytes: inner.segments.iter().map(|s| u64::from(s.size)).sum(),
            batches: inner.segments.iter().map(|s| s.batches).sum(),
            segments: inner.segments.len() as u32,
            earliest_offset: inner.earliest,
            next_offset: inner.next,
            synced_offset,
        }
    }

    fn close(&self) -> Result<()> {
        if self.inner.lock().closed {
            return Ok(());
        }
        self.sync()?;
        let mut inner = self.inner.lock();
        if let Some(a) = inner.segments.last_mut() {
            a.persist_index()?;
            // A clean shutdown leaves the file ending at its last batch.
            let preallocated = a.allocated() > u64::from(a.size);
            a.trim()?;
            if preallocated && self.durable() {
                a.file.sync_data().map_err(io_err("fsync", &a.path))?;
            }
        }
        inner.closed = true;
        Ok(())
    }
}

impl Drop for SegmentLog {
    fn drop(&mut self) {
        // Best effort: keep the index files current for a fast reopen.
        let mut inner = self.inner.lock();
        if let Some(a) = inner.segments.last_mut() {
            let _ = a.persist_index();
        }
    }
}

#[cfg(test)]
mod append_tests;
#[cfg(test)]
mod read_tests;
#[cfg(test)]
mod tests;
