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
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};
use rocksdb::{IteratorMode, DB};

use crate::config::{Durability, EngineKind, ShardConfig};
use crate::error::{Result, StorageError};
use crate::kv::{cf, open_db, write_opts, Kv, CF_SHARDS};
use crate::log::ShardLog;
use crate::memory::MemoryLog;
use crate::order::{AppendOrder, Ticket};
use crate::rocks_log::{purge, RocksLog};
use crate::segment::{segment_stem, SegmentLog};

/// How often the background flusher looks for Interval shards that are due.
const FLUSH_TICK: Duration = Duration::from_millis(5);

/// While no shard is under [`Durability::Interval`] the flusher sleeps
/// until one is created (or the store closes) instead of waking every
/// [`FLUSH_TICK`]: 200 wake-ups a second of an idle broker on a small
/// machine are 200 chances to preempt the threads that serve clients.
/// This bound is only a safety net.
const FLUSH_IDLE: Duration = Duration::from_secs(1);

/// Wakes a parked flusher: a new Interval shard, or close.
#[derive(Default)]
struct FlushWake {
    lock: Mutex<()>,
    cv: Condvar,
}

impl FlushWake {
    fn notify(&self) {
        let _g = self.lock.lock();
        self.cv.notify_all();
    }
}

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
        let flush_wake = Arc::new(FlushWake::default());
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
        self.shards.write().insert(
            id,
            Entry {
                engine,
                config,
                log: log.clone(),
                order: AppendOrder::new(),
            },
        );
        if matches!(config.durability, Durability::Interval { .. }) {
            self.flush_wake.notify();
        }
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

/// Sync the Interval shards that are due; how many Interval shards there are.
fn sync_interval_shards(shards: &ShardMap) -> usize {
    let due: Vec<Arc<dyn ShardLog>> = shards
        .read()
        .values()
        .filter(|e| matches!(e.config.durability, Durability::Interval { .. }))
        .map(|e| e.log.clone())
        .collect();
    for log in &due {
        // An error poisons that shard (see segment docs); the next
        // append on it reports it. Nothing to do here.
        let _ = log.sync_if_due();
    }
    due.len()
}

/// Every [`FLUSH_TICK`], `sync_due()` (which returns how many Interval
/// shards exist); parked on `wake` while there are none.
fn flush_loop(stop: &AtomicBool, wake: &FlushWake, mut sync_due: impl FnMut() -> usize) {
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(FLUSH_TICK);
        if sync_due() > 0 {
            continue;
        }
        let mut g = wake.lock.lock();
        // Checked again under the lock: a shard created (or a close) since
        // then notified before this wait could miss it.
        if !stop.load(Ordering::Acquire) && sync_due() == 0 {
            wake.cv.wait_for(&mut g, FLUSH_IDLE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_util::batch;

    /// The flusher polls only while an Interval shard exists: parked
    /// otherwise, woken by a new one, and a close ends it at once.
    #[test]
    fn flusher_parks_without_interval_shards() {
        use std::sync::atomic::AtomicUsize;
        use std::time::Instant;
        let stop = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(FlushWake::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let interval_shards = Arc::new(AtomicUsize::new(0));
        let h = {
            let (stop, wake, calls, n) = (
                stop.clone(),
                wake.clone(),
                calls.clone(),
                interval_shards.clone(),
            );
            std::thread::spawn(move || {
                flush_loop(&stop, &wake, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    n.load(Ordering::SeqCst)
                })
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        // Polling every 5 ms would have made ~40 calls by now.
        let idle = calls.load(Ordering::SeqCst);
        assert!(idle <= 4, "{idle} calls while no Interval shard exists");
        interval_shards.store(1, Ordering::SeqCst);
        wake.notify();
        std::thread::sleep(Duration::from_millis(200));
        let busy = calls.load(Ordering::SeqCst) - idle;
        assert!(
            busy >= 10,
            "only {busy} calls in 200 ms with an Interval shard"
        );
        interval_shards.store(0, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
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
