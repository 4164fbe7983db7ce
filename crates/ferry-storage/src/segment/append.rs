//! The append path of [`SegmentLog`]: validation, the ordered write at the
//! end of the active segment (with its preallocation and early writeback),
//! the index update, the roll to a new segment, and the durability wait
//! (rules in the parent module doc).

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::file::Segment;
use super::{io_err, sync_dir, Inner, SegmentLog};
use crate::config::Durability;
use crate::error::{Result, StorageError};
use crate::log::{now_ms, patch_offsets, validate_with, walk, AppendResult, CrcCheck, ShardLog};
use crate::order::Turn;

/// Start writeback of `[at, at + len)` now, without waiting for it, so the
/// device is already busy with this append's bytes while it waits for the
/// group-commit fdatasync (which then has less left to write). Best effort:
/// the fdatasync that follows is what guarantees durability, so an error
/// here changes nothing.
fn start_writeback(file: &File, at: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on a descriptor this File owns and keeps open.
        let _ = unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                at as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, at, len);
}

impl SegmentLog {
    /// Roll to a new active segment if appending `len` bytes now should.
    pub(super) fn maybe_roll(&self, inner: &mut Inner, len: u64) -> Result<()> {
        let Some(active) = inner.segments.last_mut() else {
            return Err(StorageError::Closed);
        };
        if active.size == 0 {
            return Ok(());
        }
        let by_size = u64::from(active.size) + len > u64::from(self.config.segment_bytes_max);
        let by_age = self
            .config
            .segment_ms_max
            .is_some_and(|ms| active.created.elapsed().as_millis() as u64 >= ms);
        let by_rel = inner.next - active.base > u64::from(u32::MAX / 2);
        if !(by_size || by_age || by_rel) {
            return Ok(());
        }
        // Sealed segments end exactly at their last batch (the sync below
        // covers the new size before the next segment exists).
        active.trim()?;
        active.seal()?;
        if self.durable() {
            active
                .file
                .sync_data()
                .map_err(io_err("fsync", &active.path))?;
        } else {
            let pending = (active.file.clone(), active.path.clone());
            inner.unsynced_sealed.push(pending);
        }
        let seg = Segment::create(&self.dir, inner.next)?;
        if self.durable() {
            sync_dir(&self.dir)?;
            // Everything before the new segment is now on disk.
            self.sync.raise_to(inner.next);
        }
        inner.segments.push(seg);
        Ok(())
    }

    /// Validation (CRC work unless `crc` says it was computed here) runs
    /// before the turn; offsets, the write and the index update in it.
    pub(super) fn append_checked(
        &self,
        batches: &mut [u8],
        leader_epoch: i32,
        turn: &mut dyn Turn,
        crc: CrcCheck,
    ) -> Result<AppendResult> {
        let v = validate_with(batches, self.config.batch_bytes_max, crc)?;
        let len = batches.len() as u64;
        turn.wait();
        let (result, end, file, at) = {
            let mut inner = self.inner.lock();
            if inner.closed {
                return Err(StorageError::Closed);
            }
            self.maybe_roll(&mut inner, len)?;
            let base = inner.next;
            let next = patch_offsets(batches, base, leader_epoch)?;
            let interval = self.config.index_interval_bytes;
            let Some(seg) = inner.segments.last_mut() else {
                return Err(StorageError::Closed);
            };
            let pos = seg.size;
            let end_pos = u64::from(pos) + len;
            if end_pos > u64::from(u32::MAX) {
                return Err(StorageError::RecordTooLarge {
                    size: len,
                    max: u64::from(u32::MAX - pos),
                });
            }
            if self.durable() {
                seg.preallocate(end_pos, self.config.segment_bytes_max);
            }
            if let Err(e) = seg.file.write_all_at(batches, u64::from(pos)) {
                // Drop any partial write so the tail stays clean.
                let _ = seg.file.set_len(u64::from(pos));
                seg.cut_to(pos);
                return Err(StorageError::io("write", &*seg.path, e));
            }
            for b in walk(batches) {
                let bpos = pos + b.pos as u32;
                if bpos > 0 && seg.bytes_since_index >= interval {
                    seg.index
                        .push((b.base_offset - seg.base) as u32, bpos, seg.max_ts);
                    seg.bytes_since_index = 0;
                }
                seg.bytes_since_index = seg.bytes_since_index.saturating_add(b.len);
                seg.max_ts = seg.max_ts.max(b.max_timestamp);
            }
            seg.size = end_pos as u32;
            seg.next = next;
            seg.batches += u64::from(v.batches);
            let file = seg.file.clone();
            inner.next = next;
            self.published.store(&inner);
            let r = AppendResult {
                base_offset: base,
                last_offset: next - 1,
                append_time_ms: now_ms(),
                earliest_offset: inner.earliest,
                batch_count: v.batches,
                bytes: len,
            };
            (r, next, file, u64::from(pos))
        };
        turn.release();
        match self.config.durability {
            Durability::Always => {
                start_writeback(&file, at, len);
                self.sync_to(end)?
            }
            Durability::Interval { .. } => self.sync_if_due()?,
            Durability::None => {}
        }
        Ok(result)
    }
}
