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
//! invalid batch (a torn tail after a crash). Its indexes are rebuilt.
//! On read, every batch's CRC is checked again; a mismatch returns
//! [`StorageError::Corrupt`], never data. A failed fdatasync poisons the
//! shard (calls return [`StorageError::Closed`]) because the page cache can
//! no longer be trusted; reopening recovers from what is on disk.

pub mod index;

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_frame::crc32c;
use ferry_frame::record_batch::{self, RECORD_BATCH_HEADER_LEN};
use parking_lot::{Mutex, RwLock};

use crate::config::{Durability, ShardConfig};
use crate::error::{Result, StorageError};
use crate::group::GroupCommit;
use crate::log::{
    now_ms, offset_in_batch, patch_offsets, peek, validate, verify_read, walk, AppendResult,
    BatchInfo, LogStats, ReadResult, ShardLog, TimestampOffset,
};
use index::SegmentIndex;

const LOG_START_FILE: &str = "log-start-offset";
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// File name stem of a segment: base offset in 20 digits.
pub fn segment_stem(base: u64) -> String {
    format!("{base:020}")
}

struct Segment {
    base: u64,
    path: Arc<Path>,
    file: Arc<File>,
    index_file: File,
    time_file: File,
    /// Bytes of valid batches (the file may be longer only transiently).
    size: u32,
    /// Offset after this segment's last batch.
    next: u64,
    /// Largest batch maxTimestamp in the segment (i64::MIN if empty).
    max_ts: i64,
    index: SegmentIndex,
    bytes_since_index: u32,
    created: Instant,
    /// Batches, when known (counted while scanning or writing).
    batches: u64,
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
    rewrite: RwLock<()>,
    sync: GroupCommit,
}

fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::io(op, path, e)
}

fn open_rw(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(io_err("open", path))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync dir", dir))
}

/// Visit every valid batch of `file[from..size)` starting at offset
/// `expected`, checking structure, continuity and (if `check_crc`) CRC.
/// Returns the position where scanning stopped (== size if all valid) and,
/// if it stopped early, why.
fn scan(
    file: &File,
    path: &Path,
    from: u32,
    size: u32,
    expected: u64,
    check_crc: bool,
    mut visit: impl FnMut(&BatchInfo),
) -> Result<(u32, Option<String>)> {
    let mut buf = vec![0u8; SCAN_CHUNK_BYTES.min(size.saturating_sub(from) as usize)];
    let mut buf_pos = from as u64; // file position of buf[0]
    let mut buf_len = 0usize;
    let mut pos = from as u64;
    let mut expected = expected;
    while pos < u64::from(size) {
        let at = (pos - buf_pos) as usize;
        // Make sure the header is in the buffer.
        if at + RECORD_BATCH_HEADER_LEN > buf_len {
            let want =
                (u64::from(size) - pos).min(buf.len().max(RECORD_BATCH_HEADER_LEN) as u64) as usize;
            if want < RECORD_BATCH_HEADER_LEN {
                return Ok((pos as u32, Some("torn batch header".into())));
            }
            buf.resize(buf.len().max(want), 0);
            file.read_exact_at(&mut buf[..want], pos)
                .map_err(io_err("read", path))?;
            buf_pos = pos;
            buf_len = want;
            continue;
        }
        let Some(info) = peek(&buf[..buf_len], at) else {
            return Ok((pos as u32, Some("invalid batch header".into())));
        };
        if pos + u64::from(info.len) > u64::from(size) {
            return Ok((pos as u32, Some("torn batch".into())));
        }
        if info.base_offset != expected {
            return Ok((
                pos as u32,
                Some(format!(
                    "offset {} where {expected} was expected",
                    info.base_offset
                )),
            ));
        }
        if check_crc {
            if at + info.len as usize > buf_len {
                let want = (info.len as usize)
                    .max(SCAN_CHUNK_BYTES)
                    .min((u64::from(size) - pos) as usize);
                buf.resize(buf.len().max(want), 0);
                file.read_exact_at(&mut buf[..want], pos)
                    .map_err(io_err("read", path))?;
                buf_pos = pos;
                buf_len = want;
                continue;
            }
            if let Err(e) = record_batch::parse(&buf[at..at + info.len as usize]) {
                return Ok((pos as u32, Some(e.to_string())));
            }
        }
        visit(&BatchInfo {
            pos: pos as usize,
            ..info
        });
        expected = info.next_offset();
        pos += u64::from(info.len);
    }
    Ok((pos as u32, None))
}

/// Whether the batch at `pos` has a structurally valid header whose
/// declared end is followed by another valid header continuing its offsets.
fn followed_by_valid_batch(file: &File, path: &Path, pos: u32, size: u32) -> Result<bool> {
    let header_at = |at: u64| -> Result<Option<BatchInfo>> {
        if at + RECORD_BATCH_HEADER_LEN as u64 > u64::from(size) {
            return Ok(None);
        }
        let mut h = [0u8; RECORD_BATCH_HEADER_LEN];
        file.read_exact_at(&mut h, at)
            .map_err(io_err("read", path))?;
        Ok(peek(&h, 0))
    };
    let Some(bad) = header_at(u64::from(pos))? else {
        return Ok(false);
    };
    let next_pos = u64::from(pos) + u64::from(bad.len);
    Ok(matches!(header_at(next_pos)?, Some(next) if next.base_offset == bad.next_offset()))
}

impl Segment {
    fn paths(dir: &Path, base: u64) -> (PathBuf, PathBuf, PathBuf) {
        let stem = segment_stem(base);
        (
            dir.join(format!("{stem}.log")),
            dir.join(format!("{stem}.index")),
            dir.join(format!("{stem}.timeindex")),
        )
    }

    fn create(dir: &Path, base: u64) -> Result<Segment> {
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
        })
    }

    /// Open an existing segment. `sealed_end` is the next segment's base
    /// (None for the last segment, which is always scanned and repaired).
    fn open(dir: &Path, base: u64, sealed_end: Option<u64>, interval: u32) -> Result<Segment> {
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
        if torn.is_some() && valid < size {
            seg.file
                .set_len(u64::from(valid))
                .map_err(io_err("truncate", &log))?;
            seg.file.sync_data().map_err(io_err("fsync", &log))?;
            seg.size = valid;
        }
        seg.rewrite_index_files()?;
        Ok(seg)
    }

    /// Scan the whole segment, rebuilding index, max_ts, next, batch count.
    fn rebuild(&mut self, interval: u32, check_crc: bool) -> Result<(u32, Option<String>)> {
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

    fn rewrite_index_files(&mut self) -> Result<()> {
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

    fn persist_index(&mut self) -> Result<()> {
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
    fn seal(&mut self) -> Result<()> {
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

    fn remove_files(&self) -> Result<()> {
        fs::remove_file(&*self.path).map_err(io_err("remove", &self.path))?;
        let _ = fs::remove_file(self.path.with_extension("index"));
        let _ = fs::remove_file(self.path.with_extension("timeindex"));
        Ok(())
    }
}

/// What a reader needs from one segment, taken under the lock.
struct Snapshot {
    path: Arc<Path>,
    file: Arc<File>,
    size: u32,
    start: u32,
}

/// From `snap.start`, find the batch whose offsets include `target`
/// (or, with `by_ts`, the first whose maxTimestamp >= `target_ts`).
fn locate(
    snap: &Snapshot,
    mut pos: u32,
    pred: impl Fn(&BatchInfo) -> bool,
) -> Result<Option<BatchInfo>> {
    let mut hdr = [0u8; RECORD_BATCH_HEADER_LEN];
    while pos < snap.size {
        if snap.size - pos < RECORD_BATCH_HEADER_LEN as u32 {
            break;
        }
        snap.file
            .read_exact_at(&mut hdr, u64::from(pos))
            .map_err(io_err("read", &snap.path))?;
        let info = peek(&hdr, 0).ok_or_else(|| StorageError::Corrupt {
            path: snap.path.to_path_buf(),
            position: u64::from(pos),
            reason: "invalid batch header".into(),
        })?;
        if u64::from(pos) + u64::from(info.len) > u64::from(snap.size) {
            break;
        }
        if pred(&info) {
            return Ok(Some(BatchInfo {
                pos: pos as usize,
                ..info
            }));
        }
        pos += info.len;
    }
    if pos < snap.size {
        return Err(StorageError::Corrupt {
            path: snap.path.to_path_buf(),
            position: u64::from(pos),
            reason: "batch runs past the segment end".into(),
        });
    }
    Ok(None)
}

impl SegmentLog {
    /// Open (creating if needed) the shard directory and recover it.
    pub fn open(dir: impl Into<PathBuf>, config: ShardConfig) -> Result<SegmentLog> {
        config.validate()?;
        let dir = dir.into();
        let existed = dir.exists();
        fs::create_dir_all(&dir).map_err(io_err("create dir", &dir))?;
        if !existed {
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let mut bases = Vec::new();
        let entries = fs::read_dir(&dir).map_err(io_err("list", &dir))?;
        let mut others = Vec::new();
        for e in entries {
            let e = e.map_err(io_err("list", &dir))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((stem, ext)) = name.split_once('.') else {
                continue;
            };
            if stem.len() != 20 {
                continue;
            }
            let Ok(base) = stem.parse::<u64>() else {
                continue;
            };
            match ext {
                "log" => bases.push(base),
                "index" | "timeindex" => others.push((base, e.path())),
                _ => {}
            }
        }
        bases.sort_unstable();
        // Index files without a log are leftovers of an interrupted delete.
        for (base, path) in others {
            if bases.binary_search(&base).is_err() {
                let _ = fs::remove_file(path);
            }
        }
        let log_start = read_log_start(&dir)?;
        let interval = config.index_interval_bytes;
        let mut segments = Vec::with_capacity(bases.len().max(1));
        for (i, &base) in bases.iter().enumerate() {
            segments.push(Segment::open(
                &dir,
                base,
                bases.get(i + 1).copied(),
                interval,
            )?);
        }
        if segments.is_empty() {
            segments.push(Segment::create(&dir, log_start.unwrap_or(0))?);
            sync_dir(&dir)?;
        }
        let next = segments.last().map_or(0, |s| s.next);
        let first = segments.first().map_or(0, |s| s.base);
        let earliest = log_start.unwrap_or(0).max(first).min(next);
        Ok(SegmentLog {
            dir,
            config,
            inner: Mutex::new(Inner {
                segments,
                unsynced_sealed: Vec::new(),
                earliest,
                next,
                closed: false,
            }),
            rewrite: RwLock::new(()),
            sync: GroupCommit::new(next),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn durable(&self) -> bool {
        !matches!(self.config.durability, Durability::None)
    }

    /// Roll to a new active segment if appending `len` bytes now should.
    fn maybe_roll(&self, inner: &mut Inner, len: u64) -> Result<()> {
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

    fn sync_to(&self, target: u64) -> Result<()> {
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

    fn persist_log_start(&self, earliest: u64) -> Result<()> {
        let mut b = earliest.to_le_bytes().to_vec();
        b.extend_from_slice(&crc32c(&b).to_le_bytes());
        let tmp = self.dir.join(format!("{LOG_START_FILE}.tmp"));
        let dst = self.dir.join(LOG_START_FILE);
        let f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all_at(&b, 0).map_err(io_err("write", &tmp))?;
        if self.durable() {
            f.sync_all().map_err(io_err("fsync", &tmp))?;
        }
        fs::rename(&tmp, &dst).map_err(io_err("rename", &dst))?;
        if self.durable() {
            sync_dir(&self.dir)?;
        }
        Ok(())
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
        }
        Ok(())
    }
}

fn read_log_start(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(LOG_START_FILE);
    match fs::read(&path) {
        Ok(b) if b.len() == 12 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[..8]);
            let stored = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
            if crc32c(&a) != stored {
                // A cache of "earliest"; the first segment's base is the fallback.
                return Ok(None);
            }
            Ok(Some(u64::from_le_bytes(a)))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io("read", path, e)),
    }
}

impl ShardLog for SegmentLog {
    fn append(&self, batches: &mut [u8], leader_epoch: i32) -> Result<AppendResult> {
        let v = validate(batches, self.config.batch_bytes_max)?;
        let len = batches.len() as u64;
        let (result, end) = {
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
            if let Err(e) = seg.file.write_all_at(batches, u64::from(pos)) {
                // Drop any partial write so the tail stays clean.
                let _ = seg.file.set_len(u64::from(pos));
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
            inner.next = next;
            let r = AppendResult {
                base_offset: base,
                last_offset: next - 1,
                append_time_ms: now_ms(),
                earliest_offset: inner.earliest,
                batch_count: v.batches,
                bytes: len,
            };
            (r, next)
        };
        match self.config.durability {
            Durability::Always => self.sync_to(end)?,
            Durability::Interval { .. } => self.sync_if_due()?,
            Durability::None => {}
        }
        Ok(result)
    }

    fn read(&self, from_offset: u64, max_bytes: u32) -> Result<ReadResult> {
        let _shared = self.rewrite.read();
        let (snap, next, earliest) = {
            let inner = self.inner.lock();
            if inner.closed {
                return Err(StorageError::Closed);
            }
            if from_offset < inner.earliest || from_offset > inner.next {
                return Err(Self::out_of_range(&inner, from_offset));
            }
            if from_offset == inner.next {
                return Ok(ReadResult {
                    bytes: Vec::new(),
                    next_offset: inner.next,
                    earliest_offset: inner.earliest,
                });
            }
            let i = inner
                .segments
                .partition_point(|s| s.base <= from_offset)
                .saturating_sub(1);
            let seg = &inner.segments[i];
            let rel = u32::try_from(from_offset - seg.base).unwrap_or(u32::MAX);
            let snap = Snapshot {
                path: seg.path.clone(),
                file: seg.file.clone(),
                size: seg.size,
                start: seg.index.floor_position(rel),
            };
            (snap, inner.next, inner.earliest)
        };
        let Some(first) = locate(&snap, snap.start, |b| b.next_offset() > from_offset)? else {
            return Err(StorageError::Corrupt {
                path: snap.path.to_path_buf(),
                position: u64::from(snap.size),
                reason: format!("offset {from_offset} not found in its segment"),
            });
        };
        let avail = snap.size - first.pos as u32;
        let want = (max_bytes.min(avail)).max(first.len) as usize;
        let mut bytes = vec![0u8; want];
        snap.file
            .read_exact_at(&mut bytes, first.pos as u64)
            .map_err(io_err("read", &snap.path))?;
        // Keep whole batches only.
        let keep = walk(&bytes).last().map_or(0, |b| b.pos + b.len as usize);
        bytes.truncate(keep);
        verify_read(&bytes, &snap.path, first.pos as u64, Some(from_offset))?;
        if bytes.is_empty() {
            return Err(StorageError::Corrupt {
                path: snap.path.to_path_buf(),
                position: first.pos as u64,
                reason: "batch header changed between reads".into(),
            });
        }
        Ok(ReadResult {
            bytes,
            next_offset: next,
            earliest_offset: earliest,
        })
    }

    fn earliest_offset(&self) -> u64 {
        self.inner.lock().earliest
    }

    fn next_offset(&self) -> u64 {
        self.inner.lock().next
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
            let snap = Snapshot {
                path: seg.path.clone(),
                file: seg.file.clone(),
                size: seg.size,
                start: seg.index.time_floor_position(timestamp_ms),
            };
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
        let rel = u32::try_from(to_offset - seg.base).unwrap_or(u32::MAX);
        let snap = Snapshot {
            path: seg.path.clone(),
            file: seg.file.clone(),
            size: seg.size,
            start: seg.index.floor_position(rel),
        };
        let cut = match locate(&snap, snap.start, |b| b.next_offset() > to_offset)? {
            Some(b) => b.pos as u32,
            None => seg.size,
        };
        seg.file
            .set_len(u64::from(cut))
            .map_err(io_err("truncate", &seg.path))?;
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
        if self.sync.due(Duration::from_millis(u64::from(ms))) {
            let next = self.inner.lock().next;
            if self.sync.synced() < next {
                return self.sync_to(next);
            }
        }
        Ok(())
    }

    fn stats(&self) -> LogStats {
        let inner = self.inner.lock();
        LogStats {
            bytes: inner.segments.iter().map(|s| u64::from(s.size)).sum(),
            batches: inner.segments.iter().map(|s| s.batches).sum(),
            segments: inner.segments.len() as u32,
            earliest_offset: inner.earliest,
            next_offset: inner.next,
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
mod tests;
