//! [`Store`]: the registry of shards in one data directory.
//!
//! # Format
//!
//! ```text
//! <data dir>/
//!   rocks/                         RocksDB (kv.rs): KV API, shard manifest, rocks engine rows
//!   segments/<shard id, 20 digits>/  one segment-engine shard (segment/mod.rs)
//! ```
//!
//! The manifest is the `shards` column family: shard id (u64 BE) -> engine
//! and [`ShardConfig`] (layout in config.rs), written with `sync = true`.
//!
//! # Ownership
//!
//! One `Store` per data directory per process (RocksDB's LOCK file enforces
//! it). Methods take `&self`; the shard map is behind an `RwLock`, and each
//! shard is an `Arc<dyn ShardLog>` callers may hold across calls. A
//! background thread syncs shards under [`Durability::Interval`].
//!
//! # Recovery
//!
//! `open` reads the manifest and reopens every shard (segment shards run
//! their torn-tail recovery; memory shards come back empty, from offset 0).
//! Create writes the manifest first, then purges any leftover data for the
//! id; delete removes the manifest first, then the data. A crash in between
//! leaves data without a manifest, which the next create of that id purges.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rocksdb::{IteratorMode, DB};

use crate::config::{Durability, EngineKind, ShardConfig};
use crate::error::{Result, StorageError};
use crate::flush_wake::FlushWake;
use crate::kv::{cf, open_db, write_opts, Kv, CF_SHARDS};
use crate::log::ShardLog;
use crate::memory::MemoryLog;
use crate::order::{AppendOrder, Ticket};
use crate::rocks_log::{purge, RocksLog};
use crate::segment::{segment_stem, SegmentLog};

/// The longest the flusher sleeps: it is woken when unsynced data falls
/// due earlier (flush_wake.rs), so this bound is only a safety net.
const FLUSH_IDLE: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Entry {
    engine: EngineKind,
    config: ShardConfig,
    log: Arc<dyn ShardLog>,
    /// Tickets for ordered, pipelined appends (order.rs).
    order: Arc<AppendOrder>,
}

/// Description of one shard, as listed by [`Store::shards`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: u64,
    pub engine: EngineKind,
    pub config: ShardConfig,
}

type ShardMap = Arc<RwLock<HashMap<u64, Entry>>>;

pub struct Store {
    dir: PathBuf,
    db: Arc<DB>,
    kv: Kv,
    shards: ShardMap,
    /// Serializes create/delete so the manifest and the map agree.
    admin: Mutex<()>,
    stop: Arc<AtomicBool>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    flush_wake: Arc<FlushWake>,
    closed: AtomicBool,
}

impl Store {
    /// Open (creating if needed) a data directory and reopen its shards.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Store> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("segments"))
            .map_err(|e| StorageError::io("create dir", &dir, e))?;
        let db = open_db(&dir.join("rocks"))?;
        let flush_wake = Arc::new(FlushWake::default());
        let mut map = HashMap::new();
        for item in db.iterator_cf(cf(&db, CF_SHARDS)?, IteratorMode::Start) {
            let (k, v) = item?;
            let id = <[u8; 8]>::try_from(&*k)
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Corrupt {
                    path: PathBuf::from("rocksdb:shards"),
                    position: 0,
                    reason: "manifest key is not 8 bytes".into(),
                })?;
            let (engine, config) =
                ShardConfig::decode(&v).map_err(|reason| StorageError::Corrupt {
                    path: PathBuf::from(format!("rocksdb:shards/{id}")),
                    position: 0,
                    reason: reason.into(),
                })?;
            let log = open_engine(&dir, &db, id, engine, config)?;
            log.attach_flusher(flush_wake.clone());
            map.insert(
                id,
                Entry {
                    engine,
                    config,
                    log,
                    order: AppendOrder::new(),
                },
            );
        }
        let shards: ShardMap = Arc::new(RwLock::new(map));
        let stop = Arc::new(AtomicBool::new(false));
        let flusher = {
            let (shards, stop, wake) = (shards.clone(), stop.clone(), flush_wake.clone());
            std::thread::Builder::new()
                .name("ferry-flush".into())
                .spawn(move || flush_loop(&stop, &wake, || sync_interval_shards(&shards)))
                .map_err(|e| StorageError::io("spawn flusher", &dir, e))?
        };
        Ok(Store {
            kv: Kv::new(db.clone()),
            dir,
            db,
            shards,
            admin: Mutex::new(()),
            stop,
            flusher: Mutex::new(Some(flusher)),
            flush_wake,
            closed: AtomicBool::new(false),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The KV API over this store's RocksDB.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        Ok(())
    }

    /// Create shard `id` with `engine` and `config` and return it.
    pub fn create_shard(
        &self,
        id: u64,
        engine: EngineKind,
        config: ShardConfig,
    ) -> Result<Arc<dyn ShardLog>> {
        self.check_open()?;
        config.validate()?;
        let _admin = self.admin.lock();
        if self.shards.read().contains_key(&id) {
            return Err(StorageError::ShardExists(id));
        }
        self.db.put_cf_opt(
            cf(&self.db, CF_SHARDS)?,
            id.to_be_bytes(),
            config.encode(engine),
            &write_opts(true),
        )?;
        // Leftovers of an interrupted delete must not reappear.
        purge_data(&self.dir, &self.db, id)?;
        let log = open_engine(&self.dir, &self.db, id, engine, config)?;
        log.attach_flusher(self.flush_wake.clone());
        self.shards.write().insert(
            id,
            Entry {
                engine,
                config,
                log: log.clone(),
                order: AppendOrder::new(),
            },
        );
        Ok(log)
    }

    /// The open shard `id`.
    pub fn shard(&self, id: u64) -> Result<Arc<dyn ShardLog>> {
        self.check_open()?;
        self.shards
            .read()
            .get(&id)
            .map(|e| e.log.clone())
            .ok_or(StorageError::ShardNotFound(id))
    }

    /// The open shard `id` and the next ticket in its append order: take
    /// it when the append is submitted, pass it to `append_*_in_turn`.
    pub fn shard_ticket(&self, id: u64) -> Result<(Arc<dyn ShardLog>, Ticket)> {
        self.check_open()?;
        self.shards
            .read()
            .get(&id)
            .map(|e| (e.log.clone(), e.order.ticket()))
            .ok_or(StorageError::ShardNotFound(id))
    }

    /// Close and delete shard `id` and all its data.
    pub fn delete_shard(&self, id: u64) -> Result<()> {
        self.check_open()?;
        let _admin = self.admin.lock();
        let Some(entry) = self.shards.write().remove(&id) else {
            return Err(StorageError::ShardNotFound(id));
        };
        // Closing fails only on a sync error; the data is going anyway.
        let _ = entry.log.close();
        self.db.delete_cf_opt(
            cf(&self.db, CF_SHARDS)?,
            id.to_be_bytes(),
            &write_opts(true),
        )?;
        drop(entry);
        purge_data(&self.dir, &self.db, id)
    }

    /// Every shard, sorted by id.
    pub fn shards(&self) -> Vec<ShardInfo> {
        let mut v: Vec<ShardInfo> = self
            .shards
            .read()
            .iter()
            .map(|(&id, e)| ShardInfo {
                id,
                engine: e.engine,
                config: e.config,
            })
            .collect();
        v.sort_unstable_by_key(|s| s.id);
        v
    }

    /// Apply retention to every shard; returns the first error after trying all.
    pub fn apply_retention(&self, now_ms: i64) -> Result<()> {
        self.check_open()?;
        let logs: Vec<Arc<dyn ShardLog>> =
            self.shards.read().values().map(|e| e.log.clone()).collect();
        let mut first = None;
        for log in logs {
            if let Err(e) = log.apply_retention(now_ms) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Sync every shard and the KV, stop the flusher, refuse further calls.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop.store(true, Ordering::Release);
        self.flush_wake.notify();
        if let Some(h) = self.flusher.lock().take() {
            let _ = h.join();
        }
        let logs: Vec<Arc<dyn ShardLog>> =
            self.shards.read().values().map(|e| e.log.clone()).collect();
        let mut first = None;
        for log in logs {
            if let Err(e) = log.close() {
                first.get_or_insert(e);
            }
        }
        if let Err(e) = self.kv.sync() {
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn segment_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join("segments").join(segment_stem(id))
}

fn open_engine(
    dir: &Path,
    db: &Arc<DB>,
    id: u64,
    engine: EngineKind,
    config: ShardConfig,
) -> Result<Arc<dyn ShardLog>> {
    Ok(match engine {
        EngineKind::Memory => Arc::new(MemoryLog::new(config)?),
        EngineKind::Segment => Arc::new(SegmentLog::open(segment_dir(dir, id), config)?),
        EngineKind::Rocks => Arc::new(RocksLog::open(db.clone(), id, config)?),
    })
}

fn purge_data(dir: &Path, db: &DB, id: u64) -> Result<()> {
    let sd = segment_dir(dir, id);
    match fs::remove_dir_all(&sd) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io("remove dir", sd, e)),
    }
    purge(db, id, true)
}

/// Sync the Interval shards whose unsynced data is due; when the next
/// falls due, None while nothing is unsynced.
fn sync_interval_shards(shards: &ShardMap) -> Option<Instant> {
    let logs: Vec<Arc<dyn ShardLog>> = shards
        .read()
        .values()
        .filter(|e| matches!(e.config.durability, Durability::Interval { .. }))
        .map(|e| e.log.clone())
        .collect();
    logs.iter().filter_map(|log| log.flush_due()).min()
}

/// `sync_due()` (which syncs what is due and says when more falls due),
/// then sleep until then; parked while nothing is unsynced. Appends wake
/// it when their data falls due earlier ([`FlushWake::due_by`]).
fn flush_loop(stop: &AtomicBool, wake: &FlushWake, mut sync_due: impl FnMut() -> Option<Instant>) {
    while !stop.load(Ordering::Acquire) {
        wake.begin_scan();
        let next = sync_due();
        if stop.load(Ordering::Acquire) {
            break;
        }
        wake.sleep(next, FLUSH_IDLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_util::batch;

    /// The flusher sleeps until the next due time it was given, parks
    /// while nothing is unsynced, is woken by an earlier due time, and a
    /// close ends it at once.
    #[test]
    fn flusher_sleeps_until_due_and_parks_when_synced() {
        use std::sync::atomic::AtomicUsize;
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(FlushWake::default());
        let calls = Arc::new(AtomicUsize::new(0));
        // The one shard's unsynced data falls due at this time; None: all synced.
        let due: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let h = {
            let (stop, wake, calls, due) = (stop.clone(), wake.clone(), calls.clone(), due.clone());
            std::thread::spawn(move || {
                flush_loop(&stop, &wake, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let mut d = due.lock();
                    if d.is_some_and(|t| t <= Instant::now()) {
                        *d = None; // synced
                    }
                    *d
                })
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        // Polling every 5 ms would have made ~60 calls by now.
        let idle = calls.load(Ordering::SeqCst);
        assert!(idle <= 2, "{idle} calls while nothing is unsynced");

        let at = Instant::now() + Duration::from_millis(150);
        *due.lock() = Some(at);
        wake.due_by(at);
        std::thread::sleep(Duration::from_millis(50));
        let planned = calls.load(Ordering::SeqCst) - idle;
        assert!(
            (1..=2).contains(&planned),
            "{planned} calls to plan one due time"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(due.lock().is_none(), "not synced when due");
        let synced = calls.load(Ordering::SeqCst);
        assert!(
            synced <= idle + 3,
            "{} calls for one due time",
            synced - idle
        );
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(calls.load(Ordering::SeqCst), synced, "parked again");

        let t = Instant::now();
        stop.store(true, Ordering::Release);
        wake.notify();
        h.join().unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "close waited {:?}",
            t.elapsed()
        );
    }

    /// Data an append leaves unsynced under the interval policy is synced
    /// about one interval later though nothing else is appended (the
    /// flusher's safety-net wake-up alone would take a second).
    #[test]
    fn interval_data_is_synced_without_further_appends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let c = ShardConfig {
            durability: Durability::Interval { ms: 100 },
            ..Default::default()
        };
        for (id, engine) in [(1, EngineKind::Segment), (2, EngineKind::Rocks)] {
            let log = store.create_shard(id, engine, c).unwrap();
            // Let the flusher park with nothing unsynced.
            std::thread::sleep(Duration::from_millis(150));
            for _ in 0..3 {
                log.append(&mut batch(2, 1, "i"), 0).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            let st = log.stats();
            assert!(
                st.synced_offset < st.next_offset,
                "{engine:?}: the appends inside the interval were synced inline"
            );
            let t = Instant::now();
            while log.stats().synced_offset < log.stats().next_offset {
                assert!(
                    t.elapsed() < Duration::from_millis(600),
                    "{engine:?}: unsynced after {:?}",
                    t.elapsed()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        store.close().unwrap();
    }

    #[test]
    fn create_reopen_delete() {
        let dir = tempfile::tempdir().unwrap();
        let c = ShardConfig {
            durability: Durability::Interval { ms: 5 },
            ..Default::default()
        };
        {
            let store = Store::open(dir.path()).unwrap();
            for (id, engine) in [
                (1, EngineKind::Memory),
                (2, EngineKind::Segment),
                (3, EngineKind::Rocks),
            ] {
                let s = store.create_shard(id, engine, c).unwrap();
                s.append(&mut batch(3, 1, "s"), 0).unwrap();
            }
            assert!(matches!(
                store.create_shard(2, EngineKind::Rocks, c),
                Err(StorageError::ShardExists(2))
            ));
            assert!(matches!(
                store.shard(9),
                Err(StorageError::ShardNotFound(9))
            ));
            store.kv().put("ns", b"k", b"v", true).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            store.close().unwrap();
            assert!(matches!(store.shard(1), Err(StorageError::Closed)));
        }
        let store = Store::open(dir.path()).unwrap();
        let ids: Vec<(u64, EngineKind)> = store.shards().iter().map(|s| (s.id, s.engine)).collect();
        assert_eq!(
            ids,
            vec![
                (1, EngineKind::Memory),
                (2, EngineKind::Segment),
                (3, EngineKind::Rocks)
            ]
        );
        assert_eq!(store.shards()[1].config, c);
        assert_eq!(
            store.shard(1).unwrap().next_offset(),
            0,
            "memory shards restart empty"
        );
        assert_eq!(store.shard(2).unwrap().next_offset(), 3);
        assert_eq!(store.shard(3).unwrap().next_offset(), 3);
        assert_eq!(store.kv().get("ns", b"k").unwrap(), Some(b"v".to_vec()));
        store.delete_shard(2).unwrap();
        store.delete_shard(3).unwrap();
        assert!(!segment_dir(dir.path(), 2).exists());
        // Re-creating an id starts from scratch.
        let s = store.create_shard(3, EngineKind::Rocks, c).unwrap();
        assert_eq!(s.next_offset(), 0);
        assert!(matches!(
            store.delete_shard(2),
            Err(StorageError::ShardNotFound(2))
        ));
        store.apply_retention(0).unwrap();
    }
}
