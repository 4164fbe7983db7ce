//! RocksDB: the one database a [`Store`](crate::Store) opens, and the KV API
//! for broker state (sessions, offsets, retained messages, Raft metadata).
//!
//! # Format
//!
//! One RocksDB at `<data dir>/rocks` with these column families:
//!
//! ```text
//! kv         [ns_len u8][namespace bytes][user key]  -> user value
//! shards     shard id u64 BE                          -> manifest (config.rs)
//! rlog       shard id u64 BE | base offset u64 BE     -> one record batch
//! rlog_meta  shard id u64 BE                          -> earliest u64 LE | bytes u64 LE | batches u64 LE
//! ```
//!
//! Namespaces are key prefixes, not column families, so creating one costs
//! nothing and there can be many; a prefix scan never crosses namespaces
//! because the length byte is part of the prefix.
//!
//! Compression: LZ4 only (`default-features = false, features = ["lz4"]`).
//! It is the cheapest codec per byte on both write and read, which is what
//! a broker's hot path wants; Kafka batches usually arrive already
//! compressed by the producer, so zstd's better ratio buys little, and one
//! codec keeps the native build small.
//!
//! # Ownership
//!
//! The `Store` owns the `DB` behind an `Arc`; [`Kv`] and every rocks shard
//! log share it. RocksDB serializes and group-commits writes itself.
//!
//! # Recovery
//!
//! RocksDB's WAL. `sync = true` writes are fsynced before they return.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{
    ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions, DB,
};

use crate::error::{Result, StorageError};

pub(crate) const CF_KV: &str = "kv";
pub(crate) const CF_SHARDS: &str = "shards";
pub(crate) const CF_RLOG: &str = "rlog";
pub(crate) const CF_RLOG_META: &str = "rlog_meta";

pub(crate) fn open_db(path: &Path) -> Result<Arc<DB>> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.increase_parallelism(2);
    let cfs = [CF_KV, CF_SHARDS, CF_RLOG, CF_RLOG_META].map(|name| {
        let mut o = Options::default();
        o.set_compression_type(DBCompressionType::Lz4);
        ColumnFamilyDescriptor::new(name, o)
    });
    let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| classify_open(e, path))?;
    Ok(Arc::new(db))
}

/// RocksDB reports OS errors as text; keep the IO classes that matter.
fn classify_open(e: rocksdb::Error, path: &Path) -> StorageError {
    let msg = e.into_string();
    let os = if msg.contains("Permission denied") {
        Some(libc::EACCES)
    } else if msg.contains("No space left") {
        Some(libc::ENOSPC)
    } else {
        None
    };
    match os {
        Some(code) => StorageError::io(
            "open rocksdb",
            path,
            std::io::Error::from_raw_os_error(code),
        ),
        None => StorageError::Rocks(msg),
    }
}

pub(crate) fn cf<'a>(db: &'a DB, name: &'static str) -> Result<&'a rocksdb::ColumnFamily> {
    db.cf_handle(name)
        .ok_or_else(|| StorageError::Rocks(format!("missing column family {name}")))
}

pub(crate) fn write_opts(sync: bool) -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(sync);
    w
}

/// One operation of an atomic [`Kv::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp<'a> {
    Put {
        ns: &'a str,
        key: &'a [u8],
        value: &'a [u8],
    },
    Delete {
        ns: &'a str,
        key: &'a [u8],
    },
}

/// Key-value API over the shared RocksDB, with namespaces.
#[derive(Clone)]
pub struct Kv {
    db: Arc<DB>,
}

fn full_key(ns: &str, key: &[u8]) -> Result<Vec<u8>> {
    let n = u8::try_from(ns.len()).map_err(|_| {
        StorageError::InvalidConfig(format!("namespace of {} bytes exceeds 255", ns.len()))
    })?;
    let mut k = Vec::with_capacity(1 + ns.len() + key.len());
    k.push(n);
    k.extend_from_slice(ns.as_bytes());
    k.extend_from_slice(key);
    Ok(k)
}

impl Kv {
    pub(crate) fn new(db: Arc<DB>) -> Self {
        Kv { db }
    }

    pub fn put(&self, ns: &str, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        let cf = cf(&self.db, CF_KV)?;
        Ok(self
            .db
            .put_cf_opt(cf, full_key(ns, key)?, value, &write_opts(sync))?)
    }

    pub fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let cf = cf(&self.db, CF_KV)?;
        Ok(self.db.get_cf(cf, full_key(ns, key)?)?)
    }

    pub fn delete(&self, ns: &str, key: &[u8], sync: bool) -> Result<()> {
        let cf = cf(&self.db, CF_KV)?;
        Ok(self
            .db
            .delete_cf_opt(cf, full_key(ns, key)?, &write_opts(sync))?)
    }

    /// Apply all `ops` atomically (all or none).
    pub fn write(&self, ops: &[KvOp<'_>], sync: bool) -> Result<()> {
        let cf = cf(&self.db, CF_KV)?;
        let mut b = WriteBatch::default();
        for op in ops {
            match op {
                KvOp::Put { ns, key, value } => b.put_cf(cf, full_key(ns, key)?, value),
                KvOp::Delete { ns, key } => b.delete_cf(cf, full_key(ns, key)?),
            }
        }
        Ok(self.db.write_opt(b, &write_opts(sync))?)
    }

    /// Up to `limit` entries of `ns` whose key starts with `prefix`, in key
    /// order, starting after `start_after` when given (for paging). Keys are
    /// returned without the namespace.
    pub fn scan_prefix(
        &self,
        ns: &str,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let cf = cf(&self.db, CF_KV)?;
        let ns_len = 1 + ns.len();
        let full_prefix = full_key(ns, prefix)?;
        let start = match start_after {
            Some(k) => full_key(ns, k)?,
            None => full_prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&start, Direction::Forward))
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if !k.starts_with(&full_prefix) {
                break;
            }
            if start_after.is_some() && *k == *start {
                continue;
            }
            out.push((k[ns_len..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Make every KV write so far durable.
    pub fn sync(&self) -> Result<()> {
        Ok(self.db.flush_wal(true)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_delete_scan_batch() {
        let dir = tempfile::tempdir().unwrap();
        let kv = Kv::new(open_db(dir.path()).unwrap());
        kv.put("sessions", b"a/1", b"x", false).unwrap();
        kv.put("sessions", b"a/2", b"y", true).unwrap();
        kv.put("sessions", b"b/1", b"z", false).unwrap();
        kv.put("session", b"sa/9", b"other ns", false).unwrap();
        assert_eq!(kv.get("sessions", b"a/1").unwrap(), Some(b"x".to_vec()));
        assert_eq!(kv.get("offsets", b"a/1").unwrap(), None);
        let all = kv.scan_prefix("sessions", b"a/", None, 10).unwrap();
        assert_eq!(
            all,
            vec![
                (b"a/1".to_vec(), b"x".to_vec()),
                (b"a/2".to_vec(), b"y".to_vec())
            ]
        );
        assert_eq!(kv.scan_prefix("sessions", b"", None, 2).unwrap().len(), 2);
        let page = kv.scan_prefix("sessions", b"", Some(b"a/2"), 10).unwrap();
        assert_eq!(page, vec![(b"b/1".to_vec(), b"z".to_vec())]);
        kv.write(
            &[
                KvOp::Delete {
                    ns: "sessions",
                    key: b"a/1",
                },
                KvOp::Put {
                    ns: "sessions",
                    key: b"c",
                    value: b"w",
                },
            ],
            true,
        )
        .unwrap();
        assert_eq!(kv.get("sessions", b"a/1").unwrap(), None);
        assert_eq!(kv.get("sessions", b"c").unwrap(), Some(b"w".to_vec()));
        kv.delete("sessions", b"c", false).unwrap();
        assert_eq!(kv.get("sessions", b"c").unwrap(), None);
        assert!(matches!(
            kv.put(&"n".repeat(256), b"k", b"v", false),
            Err(StorageError::InvalidConfig(_))
        ));
        kv.sync().unwrap();
    }
}
