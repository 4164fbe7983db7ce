//! Per-shard configuration and its small, versioned binary encoding (the
//! manifest value the [`Store`](crate::Store) keeps in RocksDB).
//!
//! Manifest value layout (all little-endian), version 1:
//!
//! ```text
//! 0  version               u8   = 1
//! 1  engine                u8   0 memory, 1 segment, 2 rocks
//! 2  durability            u8   0 none, 1 interval, 2 always
//! 3  durability_interval_ms u32
//! 7  batch_bytes_max       u32
//! 11 retention_bytes_max   u64  0 = unlimited
//! 19 retention_ms          u64  0 = unlimited
//! 27 segment_bytes_max     u32
//! 31 segment_ms_max        u64  0 = never roll by age
//! 39 index_interval_bytes  u32
//! 43 ring_bytes_max        u64
//! 51 ring_batches_max      u32
//! 55 (end)
//! ```
//!
//! Readers reject unknown versions and short values with
//! [`StorageError::Corrupt`]; a later version may append fields.

use crate::error::{Result, StorageError};

/// Which engine stores a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// Bounded in-memory ring; nothing survives a restart.
    Memory,
    /// Own segmented files with sparse indexes and group commit.
    Segment,
    /// RocksDB rows; suits very many small shards.
    Rocks,
}

/// When an acknowledged append is on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Page cache only; the OS writes back when it likes.
    None,
    /// fdatasync at most `ms` after a write (a background flusher and the
    /// next append both check).
    Interval { ms: u32 },
    /// Each append returns only after an fdatasync covering it (group commit:
    /// concurrent appends share one sync).
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardConfig {
    pub durability: Durability,
    /// Largest single batch accepted ([`StorageError::RecordTooLarge`] above).
    pub batch_bytes_max: u32,
    /// Delete oldest data while the shard holds more than this (None = keep).
    pub retention_bytes_max: Option<u64>,
    /// Delete data whose maxTimestamp is older than this (None = keep).
    pub retention_ms: Option<u64>,
    /// Segment engine: roll to a new file past this size.
    pub segment_bytes_max: u32,
    /// Segment engine: roll when the active segment is older than this.
    pub segment_ms_max: Option<u64>,
    /// Segment engine: one sparse index entry per this many bytes.
    pub index_interval_bytes: u32,
    /// Memory engine: ring capacity in bytes (oldest batches evicted).
    pub ring_bytes_max: u64,
    /// Memory engine: ring capacity in batches.
    pub ring_batches_max: u32,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            durability: Durability::Interval { ms: 100 },
            batch_bytes_max: 1024 * 1024,
            retention_bytes_max: None,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            segment_bytes_max: 1 << 30,
            segment_ms_max: Some(7 * 24 * 3600 * 1000),
            index_interval_bytes: 4096,
            ring_bytes_max: 64 * 1024 * 1024,
            ring_batches_max: 1_000_000,
        }
    }
}

/// Segment positions are u32; keep room for one maximal batch past the roll point.
pub const SEGMENT_BYTES_LIMIT: u32 = 1 << 31;

impl ShardConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(StorageError::InvalidConfig(m.to_string()));
        if self.batch_bytes_max < 61 {
            return bad("batch_bytes_max must be at least 61 (one batch header)");
        }
        if self.segment_bytes_max == 0 || self.segment_bytes_max > SEGMENT_BYTES_LIMIT {
            return bad("segment_bytes_max must be in 1..=2^31");
        }
        if self.batch_bytes_max > SEGMENT_BYTES_LIMIT {
            return bad("batch_bytes_max must be at most 2^31");
        }
        if self.index_interval_bytes == 0 {
            return bad("index_interval_bytes must be > 0");
        }
        if let Durability::Interval { ms: 0 } = self.durability {
            return bad("durability interval must be > 0 ms");
        }
        if self.ring_batches_max == 0 || self.ring_bytes_max == 0 {
            return bad("ring bounds must be > 0");
        }
        Ok(())
    }

    pub(crate) fn encode(&self, engine: EngineKind) -> Vec<u8> {
        let mut v = Vec::with_capacity(55);
        v.push(1);
        v.push(match engine {
            EngineKind::Memory => 0,
            EngineKind::Segment => 1,
            EngineKind::Rocks => 2,
        });
        let (d, ms) = match self.durability {
            Durability::None => (0u8, 0u32),
            Durability::Interval { ms } => (1, ms),
            Durability::Always => (2, 0),
        };
        v.push(d);
        v.extend_from_slice(&ms.to_le_bytes());
        v.extend_from_slice(&self.batch_bytes_max.to_le_bytes());
        v.extend_from_slice(&self.retention_bytes_max.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&self.retention_ms.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&self.segment_bytes_max.to_le_bytes());
        v.extend_from_slice(&self.segment_ms_max.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&self.index_interval_bytes.to_le_bytes());
        v.extend_from_slice(&self.ring_bytes_max.to_le_bytes());
        v.extend_from_slice(&self.ring_batches_max.to_le_bytes());
        v
    }

    pub(crate) fn decode(b: &[u8]) -> std::result::Result<(EngineKind, ShardConfig), &'static str> {
        if b.len() < 55 {
            return Err("manifest too short");
        }
        if b[0] != 1 {
            return Err("unknown manifest version");
        }
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(a)
        };
        let nz = |v: u64| if v == 0 { None } else { Some(v) };
        let engine = match b[1] {
            0 => EngineKind::Memory,
            1 => EngineKind::Segment,
            2 => EngineKind::Rocks,
            _ => return Err("unknown engine"),
        };
        let durability = match b[2] {
            0 => Durability::None,
            1 => Durability::Interval { ms: u32_at(3) },
            2 => Durability::Always,
            _ => return Err("unknown durability"),
        };
        Ok((
            engine,
            ShardConfig {
                durability,
                batch_bytes_max: u32_at(7),
                retention_bytes_max: nz(u64_at(11)),
                retention_ms: nz(u64_at(19)),
                segment_bytes_max: u32_at(27),
                segment_ms_max: nz(u64_at(31)),
                index_interval_bytes: u32_at(39),
                ring_bytes_max: u64_at(43),
                ring_batches_max: u32_at(51),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_roundtrip() {
        let c = ShardConfig {
            durability: Durability::Always,
            retention_bytes_max: Some(9),
            ..Default::default()
        };
        for e in [EngineKind::Memory, EngineKind::Segment, EngineKind::Rocks] {
            assert_eq!(ShardConfig::decode(&c.encode(e)), Ok((e, c)));
        }
        assert!(ShardConfig::decode(&c.encode(EngineKind::Rocks)[..54]).is_err());
        assert!(c.validate().is_ok());
        assert!(ShardConfig {
            index_interval_bytes: 0,
            ..c
        }
        .validate()
        .is_err());
    }
}
