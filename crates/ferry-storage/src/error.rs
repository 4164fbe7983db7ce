//! [`StorageError`]: every way a client request or the disk can make a
//! storage call fail, each with a stable `FERRY_ERR_*` code (see
//! [`StorageError::code`] and the catalogue in the crate docs).

use std::io;
use std::path::PathBuf;

use ferry_frame::records::RecordsError;
use ferry_frame::FrameError;
use thiserror::Error;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Broad class of an I/O failure, decided from the OS error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoClass {
    /// ENOSPC / EDQUOT: the disk or quota is full.
    DiskFull,
    /// EACCES / EPERM / EROFS.
    Permission,
    /// Anything else (EIO, ENOENT on a file we own, ...).
    Other,
}

#[derive(Debug, Error)]
pub enum StorageError {
    /// An I/O call failed. `op` names what we were doing, `path` where.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        class: IoClass,
        #[source]
        source: io::Error,
    },
    /// Stored bytes failed their checksum or structure check on read or
    /// open. Reported, never returned as data.
    #[error("corrupt data in {path} at byte {position}: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// One batch is larger than the shard's `batch_bytes_max`.
    #[error("record batch of {size} bytes exceeds the shard maximum of {max}")]
    RecordTooLarge { size: u64, max: u64 },
    /// The requested offset is outside [earliest, latest] (latest = next offset).
    #[error("offset {requested} out of range [{earliest}, {latest}]")]
    OffsetOutOfRange {
        requested: u64,
        earliest: u64,
        latest: u64,
    },
    #[error("shard {0} not found")]
    ShardNotFound(u64),
    #[error("shard {0} already exists")]
    ShardExists(u64),
    /// The batch bytes a client sent are not a valid magic-2 batch.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] FrameError),
    /// Records (packed input or batch contents) could not be encoded/decoded.
    #[error("invalid records: {0}")]
    InvalidRecords(#[from] RecordsError),
    /// A batch header is structurally valid but unacceptable to the log
    /// (e.g. recordCount disagrees with lastOffsetDelta).
    #[error("invalid record batch: {0}")]
    BatchRejected(&'static str),
    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The shard or store was closed.
    #[error("storage closed")]
    Closed,
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    Rocks(String),
}

impl StorageError {
    /// The stable code the binding forwards to JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::Io {
                class: IoClass::DiskFull,
                ..
            } => "FERRY_ERR_DISK_FULL",
            StorageError::Io {
                class: IoClass::Permission,
                ..
            } => "FERRY_ERR_PERMISSION",
            StorageError::Io {
                class: IoClass::Other,
                ..
            } => "FERRY_ERR_STORAGE_IO",
            StorageError::Corrupt { .. } => "FERRY_ERR_CORRUPT",
            StorageError::RecordTooLarge { .. } => "FERRY_ERR_RECORD_TOO_LARGE",
            StorageError::OffsetOutOfRange { .. } => "FERRY_ERR_OFFSET_OUT_OF_RANGE",
            StorageError::ShardNotFound(_) => "FERRY_ERR_SHARD_NOT_FOUND",
            StorageError::ShardExists(_) => "FERRY_ERR_SHARD_EXISTS",
            StorageError::InvalidBatch(_)
            | StorageError::InvalidRecords(_)
            | StorageError::BatchRejected(_) => "FERRY_ERR_INVALID_BATCH",
            StorageError::InvalidConfig(_) => "FERRY_ERR_SHARD_CONFIG_INVALID",
            StorageError::Closed => "FERRY_ERR_CLOSED",
            StorageError::Rocks(_) => "FERRY_ERR_ROCKSDB",
        }
    }

    /// Every code [`code`](Self::code) can return, for catalogue tests.
    pub const CODES: &'static [&'static str] = &[
        "FERRY_ERR_STORAGE_IO",
        "FERRY_ERR_DISK_FULL",
        "FERRY_ERR_PERMISSION",
        "FERRY_ERR_CORRUPT",
        "FERRY_ERR_RECORD_TOO_LARGE",
        "FERRY_ERR_OFFSET_OUT_OF_RANGE",
        "FERRY_ERR_SHARD_NOT_FOUND",
        "FERRY_ERR_SHARD_EXISTS",
        "FERRY_ERR_INVALID_BATCH",
        "FERRY_ERR_SHARD_CONFIG_INVALID",
        "FERRY_ERR_CLOSED",
        "FERRY_ERR_ROCKSDB",
    ];

    /// Wrap an `io::Error`, classifying it.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            class: classify(&source),
            source,
        }
    }

    /// Retrying the same call may succeed (disk full may clear; others won't).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StorageError::Io {
                class: IoClass::DiskFull,
                ..
            }
        )
    }
}

fn classify(e: &io::Error) -> IoClass {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => IoClass::DiskFull,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => IoClass::Permission,
        _ if e.kind() == io::ErrorKind::PermissionDenied => IoClass::Permission,
        _ => IoClass::Other,
    }
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        StorageError::Rocks(e.into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_classes() {
        let full = StorageError::io("write", "/x", io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(full.code(), "FERRY_ERR_DISK_FULL");
        assert!(full.is_retriable());
        let perm = StorageError::io("open", "/x", io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(perm.code(), "FERRY_ERR_PERMISSION");
        let other = StorageError::io("read", "/x", io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(other.code(), "FERRY_ERR_STORAGE_IO");
    }

    #[test]
    fn every_code_is_catalogued() {
        let samples = [
            StorageError::io("w", "/", io::Error::from_raw_os_error(libc::EIO)),
            StorageError::io("w", "/", io::Error::from_raw_os_error(libc::ENOSPC)),
            StorageError::io("w", "/", io::Error::from_raw_os_error(libc::EPERM)),
            StorageError::Corrupt {
                path: "/".into(),
                position: 0,
                reason: String::new(),
            },
            StorageError::RecordTooLarge { size: 2, max: 1 },
            StorageError::OffsetOutOfRange {
                requested: 9,
                earliest: 0,
                latest: 1,
            },
            StorageError::ShardNotFound(1),
            StorageError::ShardExists(1),
            StorageError::InvalidBatch(FrameError::UnsupportedMagic(1)),
            StorageError::InvalidRecords(RecordsError::Empty),
            StorageError::BatchRejected("x"),
            StorageError::InvalidConfig(String::new()),
            StorageError::Closed,
            StorageError::Rocks(String::new()),
        ];
        let mut seen: Vec<&str> = samples.iter().map(StorageError::code).collect();
        seen.sort_unstable();
        seen.dedup();
        let mut all = StorageError::CODES.to_vec();
        all.sort_unstable();
        assert_eq!(seen, all);
        // The crate docs list every code.
        let docs = include_str!("lib.rs");
        for c in StorageError::CODES {
            assert!(docs.contains(c), "{c} missing from lib.rs docs");
        }
    }
}
