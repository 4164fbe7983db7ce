//! Memory engine: a bounded ring of batches per shard. Nothing touches the
//! disk; an append is a validation, a copy and a lock held for a push.
//! When the ring exceeds `ring_bytes_max` or `ring_batches_max` (or the
//! retention limits) the oldest batches are evicted and the earliest offset
//! moves up.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::config::ShardConfig;
use crate::error::{Result, StorageError};
use crate::log::{
    now_ms, offset_in_batch, patch_offsets, peek, validate_with, AppendResult, CrcCheck,
    EncodedBatches, LogStats, ReadResult, ShardLog, TimestampOffset,
};
use crate::order::Turn;

struct Entry {
    base: u64,
    /// Exclusive end offset.
    end: u64,
    max_timestamp: i64,
    bytes: Vec<u8>,
}

struct Ring {
    entries: VecDeque<Entry>,
    bytes: u64,
    earliest: u64,
    next: u64,
    closed: bool,
}

pub struct MemoryLog {
    config: ShardConfig,
    ring: Mutex<Ring>,
}

impl MemoryLog {
    pub fn new(config: ShardConfig) -> Result<Self> {
        config.validate()?;
        Ok(MemoryLog {
            config,
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                bytes: 0,
                earliest: 0,
                next: 0,
                closed: false,
            }),
        })
    }

    fn bytes_max(&self) -> u64 {
        self.config
            .retention_bytes_max
            .map_or(self.config.ring_bytes_max, |r| {
                r.min(self.config.ring_bytes_max)
            })
    }
}

impl Ring {
    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.bytes -= e.bytes.len() as u64;
            self.earliest = self.earliest.max(e.end);
        }
    }
    /// Index of the entry containing `offset` (caller checked the range).
    fn find(&self, offset: u64) -> usize {
        self.entries.partition_point(|e| e.end <= offset)
    }
}

impl MemoryLog {
    fn append_checked(
        &self,
        batches: &mut [u8],
        leader_epoch: i32,
        crc: CrcCheck,
    ) -> Result<AppendResult> {
        validate_with(batches, self.config.batch_bytes_max, crc)?;
        let mut ring = self.ring.lock();
        if ring.closed {
            return Err(StorageError::Closed);
        }
        let base = ring.next;
        let next = patch_offsets(batches, base, leader_epoch)?;
        let mut count = 0u32;
        let mut at = 0usize;
        while let Some(b) = peek(batches, at) {
            let end = at + b.len as usize;
            ring.entries.push_back(Entry {
                base: b.base_offset,
                end: b.next_offset(),
                max_timestamp: b.max_timestamp,
                bytes: batches[at..end].to_vec(),
            });
            at = end;
            count += 1;
            if at >= batches.len() {
                break;
            }
        }
        ring.bytes += batches.len() as u64;
        ring.next = next;
        let bytes_max = self.bytes_max();
        while ring.entries.len() > 1
            && (ring.bytes > bytes_max
                || ring.entries.len() > self.config.ring_batches_max as usize)
        {
            ring.pop_front();
        }
        Ok(AppendResult {
            base_offset: base,
            last_offset: next - 1,
            append_time_ms: now_ms(),
            earliest_offset: ring.earliest,
            batch_count: count,
            bytes: batches.len() as u64,
        })
    }
}

impl ShardLog for MemoryLog {
    fn append(&self, batches: &mut [u8], leader_epoch: i32) -> Result<AppendResult> {
        self.append_checked(batches, leader_epoch, CrcCheck::Check)
    }

    /// Skips the CRC pass the encoder made unnecessary (see
    /// [`EncodedBatches`]); reads check it.
    fn append_encoded_in_turn(
        &self,
        batches: &mut EncodedBatches,
        leader_epoch: i32,
        turn: &mut dyn Turn,
    ) -> Result<AppendResult> {
        turn.wait();
        let r = self.append_checked(batches.bytes_mut(), leader_epoch, CrcCheck::Computed);
        turn.release();
        r
    }

    fn read(&self, from_offset: u64, max_bytes: u32) -> Result<ReadResult> {
        let ring = self.ring.lock();
        if ring.closed {
            return Err(StorageError::Closed);
        }
        if from_offset < ring.earliest || from_offset > ring.next {
            return Err(StorageError::OffsetOutOfRange {
                requested: from_offset,
                earliest: ring.earliest,
                latest: ring.next,
            });
        }
        let mut out = Vec::new();
        for e in ring.entries.range(ring.find(from_offset)..) {
            if !out.is_empty() && out.len() + e.bytes.len() > max_bytes as usize {
                break;
            }
            out.extend_from_slice(&e.bytes);
        }
        Ok(ReadResult {
            bytes: out,
            next_offset: ring.next,
            earliest_offset: ring.earliest,
        })
    }

    fn earliest_offset(&self) -> u64 {
        self.ring.lock().earliest
    }

    fn next_offset(&self) -> u64 {
        self.ring.lock().next
    }

    fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<TimestampOffset>> {
        let ring = self.ring.lock();
        if ring.closed {
            return Err(StorageError::Closed);
        }
        Ok(ring
            .entries
            .iter()
            .find(|e| e.max_timestamp >= timestamp_ms)
            .and_then(|e| offset_in_batch(&e.bytes, timestamp_ms))
            .map(|mut t| {
                t.offset = t.offset.max(ring.earliest);
                t
            }))
    }

    fn truncate(&self, to_offset: u64) -> Result<u64> {
        let mut ring = self.ring.lock();
        if ring.closed {
            return Err(StorageError::Closed);
        }
        if to_offset >= ring.next {
            return Ok(ring.next);
        }
        if to_offset < ring.earliest {
            return Err(StorageError::OffsetOutOfRange {
                requested: to_offset,
                earliest: ring.earliest,
                latest: ring.next,
            });
        }
        while let Some(e) = ring.entries.back() {
            if e.end <= to_offset {
                break;
            }
            let (base, len) = (e.base, e.bytes.len() as u64);
            ring.entries.pop_back();
            ring.bytes -= len;
            ring.next = base;
        }
        if ring.next < ring.earliest {
            ring.earliest = ring.next;
        }
        Ok(ring.next)
    }

    fn delete_before(&self, offset: u64) -> Result<u64> {
        let mut ring = self.ring.lock();
        if ring.closed {
            return Err(StorageError::Closed);
        }
        if offset > ring.next {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset,
                earliest: ring.earliest,
                latest: ring.next,
            });
        }
        while ring.entries.front().is_some_and(|e| e.end <= offset) {
            ring.pop_front();
        }
        ring.earliest = ring.earliest.max(offset);
        Ok(ring.earliest)
    }

    fn apply_retention(&self, now_ms: i64) -> Result<u64> {
        let mut ring = self.ring.lock();
        if ring.closed {
            return Err(StorageError::Closed);
        }
        if let Some(ms) = self.config.retention_ms {
            let cutoff = now_ms.saturating_sub(ms as i64);
            while ring
                .entries
                .front()
                .is_some_and(|e| e.max_timestamp < cutoff)
            {
                ring.pop_front();
            }
        }
        let bytes_max = self.bytes_max();
        while ring.bytes > bytes_max {
            ring.pop_front();
        }
        Ok(ring.earliest)
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn stats(&self) -> LogStats {
        let ring = self.ring.lock();
        LogStats {
            bytes: ring.bytes,
            batches: ring.entries.len() as u64,
            segments: 1,
            earliest_offset: ring.earliest,
            next_offset: ring.next,
            synced_offset: ring.next,
        }
    }

    fn close(&self) -> Result<()> {
        self.ring.lock().closed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_util::batch;

    #[test]
    fn append_read_evict() {
        let cfg = ShardConfig {
            ring_batches_max: 3,
            ..Default::default()
        };
        let log = MemoryLog::new(cfg).unwrap();
        for i in 0..5 {
            let mut b = batch(2, 1000 + i, "m");
            let r = log.append(&mut b, 0).unwrap();
            assert_eq!(r.base_offset, i as u64 * 2);
        }
        assert_eq!(log.next_offset(), 10);
        assert_eq!(log.earliest_offset(), 4);
        assert!(matches!(
            log.read(3, 100),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        let r = log.read(5, 1).unwrap();
        assert_eq!(peek(&r.bytes, 0).unwrap().base_offset, 4);
        assert_eq!(log.read(10, 100).unwrap().bytes.len(), 0);
        let t = log.offset_for_timestamp(1003).unwrap().unwrap();
        assert_eq!(t.offset, 6);
        assert_eq!(log.truncate(7).unwrap(), 6);
        assert_eq!(log.delete_before(6).unwrap(), 6);
        assert_eq!(log.stats().batches, 0);
        let mut b = batch(1, 1, "x");
        assert_eq!(log.append(&mut b, 0).unwrap().base_offset, 6);
    }

    #[test]
    fn append_packed_encodes_one_batch() {
        let log = MemoryLog::new(ShardConfig::default()).unwrap();
        let mut p = Vec::new();
        for v in [&b"a"[..], b"bc"] {
            p.extend_from_slice(&7i64.to_le_bytes());
            p.extend_from_slice(&(-1i32).to_le_bytes());
            p.extend_from_slice(&(v.len() as i32).to_le_bytes());
            p.extend_from_slice(v);
            p.extend_from_slice(&0u32.to_le_bytes());
        }
        let r = log.append_packed(&p, 0).unwrap();
        assert_eq!((r.base_offset, r.last_offset, r.batch_count), (0, 1, 1));
        let bytes = log.read(1, 1).unwrap().bytes;
        let (_, recs) = ferry_frame::records::decode_batch(&bytes).unwrap();
        assert_eq!(recs[1].value, Some(&b"bc"[..]));
        assert!(matches!(
            log.append_packed(&p[..5], 0),
            Err(StorageError::InvalidRecords(_))
        ));
    }

    #[test]
    fn too_large_rejected() {
        let cfg = ShardConfig {
            batch_bytes_max: 100,
            ..Default::default()
        };
        let log = MemoryLog::new(cfg).unwrap();
        let mut b = batch(20, 1, "big");
        assert!(matches!(
            log.append(&mut b, 0),
            Err(StorageError::RecordTooLarge { .. })
        ));
    }
}
