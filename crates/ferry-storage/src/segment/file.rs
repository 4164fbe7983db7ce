//! One segment: its `.log` file, its two index files and the in-memory
//! state the log keeps for it (layout and recovery rules in the parent
//! module doc). Opening a segment is where a torn tail is told apart from
//! corruption: a bad batch followed by an intact, continuous one is kept and
//! reported on read, anything else after the last valid batch is cut off.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::index::{self, SegmentIndex};
use super::scan::{followed_by_valid_batch, scan, Snapshot};
use super::{io_err, segment_stem};
use crate::error::{Result, StorageError};

pub(super) struct Segment {
    pub(super) base: u64,
    pub(super) path: Arc<Path>,
    pub(super) file: Arc<File>,
    index_file: File,
    time_file: File,
    /// Bytes of valid batches (the file may be longer only transiently).
    pub(super) size: u32,
    /// Offset after this segment's last batch.
    pub(super) next: u64,
    /// Largest batch maxTimestamp in the segment (i64::MIN if empty).
    pub(super) max_ts: i64,
    pub(super) index: SegmentIndex,
    pub(super) bytes_since_index: u32,
    pub(super) created: Instant,
    /// Batches, when known (counted while scanning or writing).
    pub(super) batches: u64,
    /// Length of the `.log` file: `size` plus any preallocated tail.
    allocated: u64,
    /// A preallocation failed (no space, unsupported): stop trying here.
    preallocate_failed: bool,
}

/// How far ahead of the data a durable segment's file is preallocated.
/// Appends then write into blocks the file already owns and its size no
/// longer changes, so each group-commit fdatasync has less metadata to
/// write. A step, not the whole segment, so an idle shard reserves at most
/// this much disk (ext4 and xfs zero nothing: the blocks are just marked
/// unwritten).
pub(super) const PREALLOCATE_BYTES: u64 = 16 << 20;

fn open_rw(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(io_err("open", path))
}

impl Segment {
    /// What a reader needs to scan this segment from `start` once the log's
    /// lock is released: the file stays open through its `Arc`.
    pub(super) fn snapshot_from(&self, start: u32) -> Snapshot {
        Snapshot {
            path: self.path.clone(),
            file: self.file.clone(),
            size: self.size,
            start,
        }
    }

    /// `snapshot_from` the indexed position at or before `offset`.
    pub(super) fn snapshot_at_offset(&self, offset: u64) -> Snapshot {
        let rel = u32::try_from(offset - self.base).unwrap_or(u32::MAX);
        self.snapshot_from(self.index.floor_position(rel))
    }

    fn paths(dir: &Path, base: u64) -> (PathBuf, PathBuf, PathBuf) {
        let stem = segment_stem(base);
        (
            dir.join(format!("{stem}.log")),
            dir.join(format!("{stem}.index")),
            dir.join(format!("{stem}.timeindex")),
        )
    }

    pub(super) fn create(dir: &Path, base: u64) -> Result<Segment> {
        let (log, idx, tim) = Self::paths(dir, base);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log)
            .map_err(io_err("create", &log))?;
        let index_file = File::create(&idx).map_err(io_err("create", &idx))?;
        let time_file = File::create(&tim).map_err(io_err("create", &tim))?;
        Ok(Segment {
            base,
            path: Arc::from(log.as_path()),
            file: Arc::new(file),
            index_file,
            time_file,
            size: 0,
            next: base,
            max_ts: i64::MIN,
            index: SegmentIndex::default(),
            bytes_since_index: 0,
            created: Instant::now(),
            batches: 0,
            allocated: 0,
            preallocate_failed: false,
        })
    }

    /// Make sure the file holds at least `end` bytes, preallocating up to
    /// [`PREALLOCATE_BYTES`] past the data (never past `segment_max`, unless
    /// one batch is larger). Best effort: on failure the write extends the
    /// file as it always could.
    pub(super) fn preallocate(&mut self, end: u64, segment_max: u32) {
        if end <= self.allocated || self.preallocate_failed {
            return;
        }
        let want = end.max((u64::from(self.size) + PREALLOCATE_BYTES).min(u64::from(segment_max)));
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (Ok(at), Ok(len)) = (
                libc::off64_t::try_from(self.allocated),
                libc::off64_t::try_from(want - self.allocated),
            ) else {
                return;
            };
            // SAFETY: a plain syscall on a descriptor this File owns. Mode 0
            // extends the file size over the new (unwritten, zero-reading) blocks.
            let r = unsafe { libc::fallocate64(self.file.as_raw_fd(), 0, at, len) };
            if r == 0 {
                self.allocated = want;
                return;
            }
            // A partial allocation may have moved the size: go by the file.
            if let Ok(m) = self.file.metadata() {
                self.allocated = m.len();
            }
        }
        self.preallocate_failed = true;
    }

    /// Cut the preallocated tail, so the file ends at the last batch (before
    /// a segment is sealed, and on close). The caller syncs.
    pub(super) fn trim(&mut self) -> Result<()> {
        if self.allocated > u64::from(self.size) {
            self.file
                .set_len(u64::from(self.size))
                .map_err(io_err("truncate", &self.path))?;
        }
        self.allocated = u64::from(self.size);
        Ok(())
    }

    pub(super) fn allocated(&self) -> u64 {
        self.allocated
    }

    /// The file was cut to `size` (a failed write, a truncation).
    pub(super) fn cut_to(&mut self, size: u32) {
        self.allocated = u64::from(size);
    }

    /// Open an existing segment. `sealed_end` is the next segment's base
    /// (None for the last segment, which is always scanned and repaired).
    pub(super) fn open(
        dir: &Path,
        base: u64,
        sealed_end: Option<u64>,
        interval: u32,
    ) -> Result<Segment> {
        let (log, idx, tim) = Self::paths(dir, base);
        let file = open_rw(&log, false)?;
        let len = file.metadata().map_err(io_err("stat", &log))?.len();
        let index_file = open_rw(&idx, true)?;
        let time_file = open_rw(&tim, true)?;
        let size = u32::try_from(len).map_err(|_| StorageError::Corrupt {
            path: log.clone(),
            position: len,
            reason: "segment larger than 4 GiB".into(),
        })?;
        let mut seg = Segment {
            base,
            path: Arc::from(log.as_path()),
            file: Arc::new(file),
            index_file,
            time_file,
            size,
            next: base,
            max_ts: i64::MIN,
            index: SegmentIndex::default(),
            bytes_since_index: 0,
            created: Instant::now(),
            batches: 0,
            allocated: len,
            preallocate_failed: false,
        };
        if let Some(end) = sealed_end {
            let rel_end = u32::try_from(end.saturating_sub(base)).unwrap_or(u32::MAX);
            let o = fs::read(&idx).unwrap_or_default();
            let t = fs::read(&tim).unwrap_or_default();
            if let Some((index, max_ts)) = SegmentIndex::decode_sealed(&o, &t, rel_end, size.max(1))
            {
                seg.index = index;
                seg.max_ts = max_ts;
                seg.next = end;
                return Ok(seg);
            }
            // Rebuild a sealed segment's index without truncating it: a bad
            // batch inside sealed data is corruption that reads report.
            seg.rebuild(interval, false)?;
            seg.next = seg.next.max(end);
            seg.rewrite_index_files()?;
            seg.seal()?;
            return Ok(seg);
        }
        let (valid, torn) = seg.rebuild(interval, true)?;
        if torn.is_some() && valid < size && followed_by_valid_batch(&seg.file, &log, valid, size)?
        {
            // A bad batch with an intact, continuous batch after it is not a
            // torn tail (appends are sequential) but corruption of written
            // data: keep every byte, index by structure, and let reads
            // report FERRY_ERR_CORRUPT rather than silently dropping the
            // acknowledged batches behind it.
            seg.size = size;
            seg.rebuild(interval, false)?;
            seg.rewrite_index_files()?;
            return Ok(seg);
        }
        // A torn batch, or the zeros of a preallocated tail (a zero
        // batchLength is never valid), end the log here.
        if torn.is_some() && valid < size {
            seg.file
                .set_len(u64::from(valid))
                .map_err(io_err("truncate", &log))?;
            seg.file.sync_data().map_err(io_err("fsync", &log))?;
            seg.size = valid;
            seg.allocated = u64::from(valid);
        }
        seg.rewrite_index_files()?;
        Ok(seg)
    }

    /// Scan the whole segment, rebuilding index, max_ts, next, batch count.
    pub(super) fn rebuild(
        &mut self,
        interval: u32,
        check_crc: bool,
    ) -> Result<(u32, Option<String>)> {
        let mut index = SegmentIndex::default();
        let mut max_ts = i64::MIN;
        let mut since = 0u32;
        let mut next = self.base;
        let mut batches = 0u64;
        let (valid, torn) = scan(
            &self.file,
            &self.path,
            0,
            self.size,
            self.base,
            check_crc,
            |b| {
                if b.pos > 0 && since >= interval {
                    index.push((b.base_offset - self.base) as u32, b.pos as u32, max_ts);
                    since = 0;
                }
                since = since.saturating_add(b.len);
                max_ts = max_ts.max(b.max_timestamp);
                next = b.next_offset();
                batches += 1;
            },
        )?;
        self.index = index;
        self.max_ts = max_ts;
        self.bytes_since_index = since;
        self.next = next;
        self.batches = batches;
        self.size = valid.min(self.size);
        Ok((valid, torn))
    }

    pub(super) fn rewrite_index_files(&mut self) -> Result<()> {
        self.index.persisted = 0;
        let idx_path = self.path.with_extension("index");
        self.index_file
            .set_len(0)
            .map_err(io_err("truncate", &idx_path))?;
        let tim_path = self.path.with_extension("timeindex");
        self.time_file
            .set_len(0)
            .map_err(io_err("truncate", &tim_path))?;
        self.persist_index()
    }

    pub(super) fn persist_index(&mut self) -> Result<()> {
        if self.index.persisted == self.index.offsets.len() {
            return Ok(());
        }
        let ((opos, o), (tpos, t)) = self.index.unpersisted();
        let idx_path = self.path.with_extension("index");
        self.index_file
            .write_all_at(&o, opos)
            .map_err(io_err("write", &idx_path))?;
        let tim_path = self.path.with_extension("timeindex");
        self.time_file
            .write_all_at(&t, tpos)
            .map_err(io_err("write", &tim_path))?;
        self.index.persisted = self.index.offsets.len();
        Ok(())
    }

    /// Write the sentinel that makes a sealed segment's index trustworthy.
    pub(super) fn seal(&mut self) -> Result<()> {
        self.persist_index()?;
        let n = self.index.times.len() as u64;
        let rel_end = u32::try_from(self.next - self.base).unwrap_or(u32::MAX);
        let s = SegmentIndex::sentinel_bytes(self.max_ts, rel_end);
        let tim_path = self.path.with_extension("timeindex");
        self.time_file
            .set_len(n * index::TIME_ENTRY_BYTES as u64)
            .map_err(io_err("truncate", &tim_path))?;
        self.time_file
            .write_all_at(&s, n * index::TIME_ENTRY_BYTES as u64)
            .map_err(io_err("write", &tim_path))
    }

    pub(super) fn remove_files(&self) -> Result<()> {
        fs::remove_file(&*self.path).map_err(io_err("remove", &self.path))?;
        let _ = fs::remove_file(self.path.with_extension("index"));
        let _ = fs::remove_file(self.path.with_extension("timeindex"));
        Ok(())
    }
}
