//! Rocks engine: a shard log stored as RocksDB rows, for very many small
//! shards (one per MQTT client or agent) where a directory and three files
//! per shard would be too heavy.
//!
//! # Format
//!
//! ```text
//! rlog       shard id u64 BE | base offset u64 BE -> one magic-2 batch (baseOffset patched)
//! rlog_meta  shard id u64 BE -> earliest u64 LE | bytes u64 LE | batches u64 LE
//! ```
//!
//! Big-endian keys sort by shard, then offset, so a shard is one key range
//! and "the batch containing offset o" is a `seek_for_prev(shard, o)`.
//! The next offset is not stored: it is the end of the last batch row (or
//! `earliest` when the shard is empty).
//!
//! # Ownership
//!
//! One [`RocksLog`] per shard id; appends are serialized by its state lock
//! and written (batch rows + meta row) in one atomic `WriteBatch` without
//! sync. Durability `Always` then waits on a per-shard group commit whose
//! sync is RocksDB's `FlushWAL(sync)`, so concurrent appends share WAL syncs.
//!
//! # Recovery
//!
//! RocksDB's WAL replays whole write batches only, so a batch row and its
//! meta update appear together or not at all. Values are CRC-checked again
//! on read; a mismatch is [`StorageError::Corrupt`]. `offset_for_timestamp`
//! scans the shard's rows (fine for small shards; use the segment engine
//! for large ones).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rocksdb::{ReadOptions, WriteBatch, DB};

use crate::config::{Durability, ShardConfig};
use crate::error::{Result, StorageError};
use crate::flush_wake::FlushWake;
use crate::group::GroupCommit;
use crate::kv::{cf, write_opts, CF_RLOG, CF_RLOG_META};
use crate::log::{
    now_ms, offset_in_batch, patch_offsets, peek, validate, verify_read, walk, AppendResult,
    LogStats, ReadResult, ShardLog, TimestampOffset,
};

struct State {
    earliest: u64,
    next: u64,
    bytes: u64,
    batches: u64,
    closed: bool,
}

pub struct RocksLog {
    db: Arc<DB>,
    shard: u64,
    config: ShardConfig,
    state: Mutex<State>,
    sync: GroupCommit,
}

fn key(shard: u64, offset: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&shard.to_be_bytes());
    k[8..].copy_from_slice(&offset.to_be_bytes());
    k
}

fn meta_value(s: &State) -> [u8; 24] {
    let mut v = [0u8; 24];
    v[..8].copy_from_slice(&s.earliest.to_le_bytes());
    v[8..16].copy_from_slice(&s.bytes.to_le_bytes());
    v[16..].copy_from_slice(&s.batches.to_le_bytes());
    v
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Delete every row of `shard` (used when a shard is deleted or re-created).
pub(crate) fn purge(db: &DB, shard: u64, sync: bool) -> Result<()> {
    let mut b = WriteBatch::default();
    b.delete_range_cf(cf(db, CF_RLOG)?, key(shard, 0), key(shard, u64::MAX));
    b.delete_cf(cf(db, CF_RLOG)?, key(shard, u64::MAX));
    b.delete_cf(cf(db, CF_RLOG_META)?, shard.to_be_bytes());
    Ok(db.write_opt(b, &write_opts(sync))?)
}

impl RocksLog {
    pub(crate) fn open(db: Arc<DB>, shard: u64, config: ShardConfig) -> Result<RocksLog> {
        config.validate()?;
        let meta = db.get_cf(cf(&db, CF_RLOG_META)?, shard.to_be_bytes())?;
        let (earliest, bytes, batches) = match meta {
            Some(m) if m.len() == 24 => (u64_le(&m, 0), u64_le(&m, 8), u64_le(&m, 16)),
            Some(m) => {
                return Err(StorageError::Corrupt {
                    path: PathBuf::from(format!("rocksdb:rlog_meta/{shard}")),
                    position: 0,
                    reason: format!("meta of {} bytes", m.len()),
                })
            }
            None => (0, 0, 0),
        };
        let mut next = earliest;
        {
            let mut it = db.raw_iterator_cf(cf(&db, CF_RLOG)?);
            it.seek_for_prev(key(shard, u64::MAX));
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                if k.len() == 16 && k[..8] == shard.to_be_bytes() {
                    let info = peek(v, 0).ok_or_else(|| StorageError::Corrupt {
                        path: PathBuf::from(format!("rocksdb:rlog/{shard}")),
                        position: 0,
                        reason: "invalid batch header in last row".into(),
                    })?;
                    next = next.max(info.next_offset());
                }
            }
            it.status()?;
        }
        Ok(RocksLog {
            db,
            shard,
            config,
            state: Mutex::new(State {
                earliest,
                next,
                bytes,
                batches,
                closed: false,
            }),
            sync: GroupCommit::new(next),
        })
    }

    fn row_path(&self, offset: u64) -> PathBuf {
        PathBuf::from(format!("rocksdb:rlog/{}/{offset}", self.shard))
    }

    fn out_of_range(s: &State, requested: u64) -> StorageError {
        StorageError::OffsetOutOfRange {
            requested,
            earliest: s.earliest,
            latest: s.next,
        }
    }

    fn shard_read_opts(&self) -> ReadOptions {
        let mut r = ReadOptions::default();
        r.set_iterate_lower_bound(key(self.shard, 0).to_vec());
        r.set_iterate_upper_bound(key(self.shard, u64::MAX).to_vec());
        r
    }

    fn sync_wal(&self) -> Result<u64> {
        let covered = self.state.lock().next;
        self.db.flush_wal(true)?;
        Ok(covered)
    }

    /// Delete rows from the front while `pred(max_ts, len, bytes_left)`;
    /// stops at `limit_offset` (rows wholly below it only). Returns the
    /// removed (bytes, batches) and the base of the first kept row.
    fn drop_front(
        &self,
        s: &mut State,
        limit_offset: u64,
        mut pred: impl FnMut(i64, u64, u64) -> bool,
    ) -> Result<()> {
        let mut it = self
            .db
            .raw_iterator_cf_opt(cf(&self.db, CF_RLOG)?, self.shard_read_opts());
        it.seek_to_first();
        let mut cut: Option<u64> = None;
        let (mut bytes, mut batches) = (s.bytes, s.batches);
        while let Some(v) = it.value() {
            let Some(info) = peek(v, 0) else { break };
            if info.next_offset() > limit_offset || !pred(info.max_timestamp, v.len() as u64, bytes)
            {
                break;
            }
            bytes = bytes.saturating_sub(v.len() as u64);
            batches = batches.saturating_sub(1);
            cut = Some(info.next_offset());
            it.next();
        }
        it.status()?;
        let Some(cut) = cut else { return Ok(()) };
        let mut b = WriteBatch::default();
        b.delete_range_cf(
            cf(&self.db, CF_RLOG)?,
            key(self.shard, 0),
            key(self.shard, cut),
        );
        let new = State {
            earliest: s.earliest.max(cut),
            bytes,
            batches,
            ..*s
        };
        b.put_cf(
            cf(&self.db, CF_RLOG_META)?,
            self.shard.to_be_bytes(),
            meta_value(&new),
        );
        self.db.write_opt(
            b,
            &write_opts(!matches!(self.config.durability, Durability::None)),
        )?;
        *s = new;
        Ok(())
    }
}

impl ShardLog for RocksLog {
    fn append(&self, batches: &mut [u8], leader_epoch: i32) -> Result<AppendResult> {
        let v = validate(batches, self.config.batch_bytes_max)?;
        let (result, end) = {
            let mut s = self.state.lock();
            if s.closed {
                return Err(StorageError::Closed);
            }
            let base = s.next;
            let next = patch_offsets(batches, base, leader_epoch)?;
            let rlog = cf(&self.db, CF_RLOG)?;
            let mut wb = WriteBatch::default();
            for b in walk(batches) {
                wb.put_cf(
                    rlog,
                    key(self.shard, b.base_offset),
                    &batches[b.pos..b.pos + b.len as usize],
                );
            }
            let new = State {
                next,
                bytes: s.bytes + batches.len() as u64,
                batches: s.batches + u64::from(v.batches),
                ..*s
            };
            wb.put_cf(
                cf(&self.db, CF_RLOG_META)?,
                self.shard.to_be_bytes(),
                meta_value(&new),
            );
            self.db.write_opt(wb, &write_opts(false))?;
            *s = new;
            let r = AppendResult {
                base_offset: base,
                last_offset: next - 1,
                append_time_ms: now_ms(),
                earliest_offset: s.earliest,
                batch_count: v.batches,
                bytes: batches.len() as u64,
            };
            (r, next)
        };
        match self.config.durability {
            Durability::Always => self.sync.sync_to(end, || self.sync_wal())?,
            Durability::Interval { .. } => self.sync_if_due()?,
            Durability::None => {}
        }
        Ok(result)
    }

    fn read(&self, from_offset: u64, max_bytes: u32) -> Result<ReadResult> {
        let (next, earliest) = {
            let s = self.state.lock();
            if s.closed {
                return Err(StorageError::Closed);
            }
            if from_offset < s.earliest || from_offset > s.next {
                return Err(Self::out_of_range(&s, from_offset));
            }
            (s.next, s.earliest)
        };
        if from_offset == next {
            return Ok(ReadResult {
                bytes: Vec::new(),
                next_offset: next,
                earliest_offset: earliest,
            });
        }
        let mut it = self
            .db
            .raw_iterator_cf_opt(cf(&self.db, CF_RLOG)?, self.shard_read_opts());
        it.seek_for_prev(key(self.shard, from_offset));
        let mut out = Vec::new();
        while let Some(v) = it.value() {
            if !out.is_empty() && out.len() + v.len() > max_bytes as usize {
                break;
            }
            out.extend_from_slice(v);
            it.next();
        }
        it.status()?;
        verify_read(&out, &self.row_path(from_offset), 0, Some(from_offset))?;
        if out.is_empty() {
            return Err(StorageError::Corrupt {
                path: self.row_path(from_offset),
                position: 0,
                reason: "no row holds an offset inside the log range".into(),
            });
        }
        Ok(ReadResult {
            bytes: out,
            next_offset: next,
            earliest_offset: earliest,
        })
    }

    fn earliest_offset(&self) -> u64 {
        self.state.lock().earliest
    }

    fn next_offset(&self) -> u64 {
        self.state.lock().next
    }

    fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>> {
        let earliest = self.state.lock().earliest;
        let mut it = self
            .db
            .raw_iterator_cf_opt(cf(&self.db, CF_RLOG)?, self.shard_read_opts());
        it.seek_to_first();
        while let Some(v) = it.value() {
            if peek(v, 0).is_some_and(|b| b.max_timestamp >= timestamp_ms) {
                let base = peek(v, 0).map_or(0, |b| b.base_offset);
                verify_read(v, &self.row_path(base), 0, None)?;
                return Ok(offset_in_batch(v, timestamp_ms).map(|mut t| {
                    t.offset = t.offset.max(earliest);
                    t
                }));
            }
            it.next();
        }
        it.status()?;
        Ok(None)
    }

    fn truncate(&self, to_offset: u64) -> Result<u64> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(StorageError::Closed);
        }
        if to_offset >= s.next {
            return Ok(s.next);
        }
        if to_offset < s.earliest {
            return Err(Self::out_of_range(&s, to_offset));
        }
        let mut it = self
            .db
            .raw_iterator_cf_opt(cf(&self.db, CF_RLOG)?, self.shard_read_opts());
        it.seek_for_prev(key(self.shard, to_offset));
        if !it.valid() {
            it.seek(key(self.shard, to_offset));
        }
        let mut cut = None;
        let (mut bytes, mut batches) = (s.bytes, s.batches);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let Some(info) = peek(v, 0) else { break };
            if info.next_offset() > to_offset {
                if cut.is_none() {
                    cut = Some((info.base_offset, k.to_vec()));
                }
                bytes = bytes.saturating_sub(v.len() as u64);
                batches = batches.saturating_sub(1);
            }
            it.next();
        }
        it.status()?;
        let Some((new_next, from_key)) = cut else {
            return Ok(s.next);
        };
        let mut b = WriteBatch::default();
        b.delete_range_cf(
            cf(&self.db, CF_RLOG)?,
            &from_key[..],
            &key(self.shard, u64::MAX)[..],
        );
        let new = State {
            next: new_next,
            earliest: s.earliest.min(new_next),
            bytes,
            batches,
            ..*s
        };
        b.put_cf(
            cf(&self.db, CF_RLOG_META)?,
            self.shard.to_be_bytes(),
            meta_value(&new),
        );
        self.db.write_opt(
            b,
            &write_opts(!matches!(self.config.durability, Durability::None)),
        )?;
        *s = new;
        self.sync.lower_to(new_next);
        Ok(new_next)
    }

    fn delete_before(&self, offset: u64) -> Result<u64> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(StorageError::Closed);
        }
        if offset > s.next {
            return Err(Self::out_of_range(&s, offset));
        }
        if offset <= s.earliest {
            return Ok(s.earliest);
        }
        self.drop_front(&mut s, offset, |_, _, _| true)?;
        if s.earliest < offset {
            s.earliest = offset;
            let meta = meta_value(&s);
            let sync = !matches!(self.config.durability, Durability::None);
            self.db.put_cf_opt(
                cf(&self.db, CF_RLOG_META)?,
                self.shard.to_be_bytes(),
                meta,
                &write_opts(sync),
            )?;
        }
        Ok(s.earliest)
    }

    fn apply_retention(&self, now_ms: i64) -> Result<u64> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(StorageError::Closed);
        }
        let next = s.next;
        if let Some(ms) = self.config.retention_ms {
            let cutoff = now_ms.saturating_sub(ms as i64);
            self.drop_front(&mut s, next, |ts, _, _| ts < cutoff)?;
        }
        if let Some(max) = self.config.retention_bytes_max {
            self.drop_front(&mut s, next, |_, _, bytes| bytes > max)?;
        }
        Ok(s.earliest)
    }

    fn sync(&self) -> Result<()> {
        let next = self.state.lock().next;
        self.sync.sync_to(next, || self.sync_wal())
    }

    fn sync_if_due(&self) -> Result<()> {
        let Durability::Interval { ms } = self.config.durability else {
            return Ok(());
        };
        let next = self.state.lock().next;
        self.sync
            .sync_if_due(Duration::from_millis(u64::from(ms)), next, || {
                self.sync_wal()
            })
    }

    fn flush_due(&self) -> Option<Instant> {
        let Durability::Interval { ms } = self.config.durability else {
            return None;
        };
        self.sync.flush_due(
            Duration::from_millis(u64::from(ms)),
            || self.state.lock().next,
            || self.sync_wal(),
        )
    }

    fn attach_flusher(&self, wake: Arc<FlushWake>) {
        self.sync.attach_flusher(wake);
    }

    fn stats(&self) -> LogStats {
        let synced_offset = self.sync.synced();
        let s = self.state.lock();
        LogStats {
            bytes: s.bytes,
            batches: s.batches,
            segments: 1,
            earliest_offset: s.earliest,
            next_offset: s.next,
            synced_offset,
        }
    }

    fn close(&self) -> Result<()> {
        if self.state.lock().closed {
            return Ok(());
        }
        if !matches!(self.config.durability, Durability::None) {
            self.sync()?;
        }
        self.state.lock().closed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::open_db;
    use crate::log::test_util::batch;

    fn cfg() -> ShardConfig {
        ShardConfig {
            durability: Durability::None,
            retention_ms: None,
            ..Default::default()
        }
    }

    #[test]
    fn append_read_reopen_truncate_delete() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path()).unwrap();
        let a = RocksLog::open(db.clone(), 1, cfg()).unwrap();
        let b = RocksLog::open(db.clone(), 2, cfg()).unwrap();
        for i in 0..50 {
            a.append(&mut batch(2, i, "a"), 0).unwrap();
            b.append(&mut batch(1, i, "b"), 0).unwrap();
        }
        assert_eq!(a.next_offset(), 100);
        assert_eq!(b.next_offset(), 50);
        let r = a.read(33, 1).unwrap();
        assert_eq!(
            walk(&r.bytes).map(|x| x.base_offset).collect::<Vec<_>>(),
            vec![32]
        );
        let r = a.read(0, 10_000).unwrap();
        assert_eq!(walk(&r.bytes).count(), 50);
        assert_eq!(a.offset_for_timestamp(7).unwrap().unwrap().offset, 14);
        let stats = a.stats();
        drop(a);
        let a = RocksLog::open(db.clone(), 1, cfg()).unwrap();
        // Reopened, what is on disk counts as synced.
        assert_eq!(
            a.stats(),
            LogStats {
                synced_offset: 100,
                ..stats
            }
        );
        assert_eq!(a.truncate(41).unwrap(), 40);
        assert_eq!(a.stats().batches, 20);
        assert_eq!(a.delete_before(11).unwrap(), 11);
        assert_eq!(a.stats().batches, 15);
        assert!(matches!(
            a.read(9, 1),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            walk(&a.read(11, 1).unwrap().bytes)
                .next()
                .unwrap()
                .base_offset,
            10
        );
        drop(a);
        let a = RocksLog::open(db.clone(), 1, cfg()).unwrap();
        assert_eq!((a.earliest_offset(), a.next_offset()), (11, 40));
        assert!(!b.read(49, 1 << 20).unwrap().bytes.is_empty());
        // Delete everything: earliest == next survives reopen.
        assert_eq!(a.delete_before(40).unwrap(), 40);
        drop(a);
        let a = RocksLog::open(db.clone(), 1, cfg()).unwrap();
        assert_eq!((a.earliest_offset(), a.next_offset()), (40, 40));
        assert_eq!(a.append(&mut batch(1, 0, "z"), 0).unwrap().base_offset, 40);
    }

    #[test]
    fn retention_and_concurrent_always() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path()).unwrap();
        let c = ShardConfig {
            durability: Durability::Always,
            retention_bytes_max: Some(1000),
            ..cfg()
        };
        let log = Arc::new(RocksLog::open(db, 7, c).unwrap());
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| {
                            log.append(&mut batch(1 + t, i, "c"), 0)
                                .unwrap()
                                .base_offset
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut bases: Vec<u64> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        bases.sort_unstable();
        bases.dedup();
        assert_eq!(bases.len(), 100);
        assert_eq!(log.next_offset(), 25 * (1 + 2 + 3 + 4));
        log.apply_retention(now_ms()).unwrap();
        assert!(log.stats().bytes <= 1000);
        assert!(log.earliest_offset() > 0);
        let r = log.read(log.earliest_offset(), 1 << 20).unwrap();
        assert_eq!(r.bytes.len() as u64, log.stats().bytes);
    }
}
