//! The shard directory as a whole: listing and recovering its segments on
//! open, and the `log-start-offset` file (layout in the parent module doc).
//! The log-start file is only a cache of the earliest offset: it is written
//! to a temp file and renamed, and a missing or bad one falls back to the
//! first segment's base.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ferry_frame::crc32c;
use parking_lot::{Mutex, RwLock};

use super::file::Segment;
use super::{io_err, sync_dir, Inner, Published, SegmentLog};
use crate::config::ShardConfig;
use crate::error::{Result, StorageError};
use crate::group::GroupCommit;

const LOG_START_FILE: &str = "log-start-offset";

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
            published: Published::new(earliest, next),
            sync: GroupCommit::new(next),
        })
    }

    pub(super) fn persist_log_start(&self, earliest: u64) -> Result<()> {
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
