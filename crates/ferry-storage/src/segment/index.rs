//! Sparse offset index (`.index`) and time index (`.timeindex`) of one
//! segment.
//!
//! # Format
//!
//! Both files are flat arrays of little-endian fixed-size entries, no header:
//!
//! ```text
//! .index      entry = rel_offset u32 | position u32          (8 bytes)
//! .timeindex  entry = timestamp_ms i64 | rel_offset u32      (12 bytes)
//! ```
//!
//! `rel_offset` is a batch's baseOffset minus the segment's base offset and
//! `position` its byte position in the `.log`. An entry is added for the
//! first batch written after at least `index_interval_bytes` since the
//! previous entry (the first batch of a segment, at position 0, needs none).
//! The offset and time indexes are *paired*: time entry `i` describes the
//! same batch as offset entry `i`, and its timestamp is the largest
//! maxTimestamp of every batch **before** that batch (so "all batches before
//! entry i are older than T" holds, and a timestamp search may start there).
//! When a segment is sealed (rolled), one extra *sentinel* time entry is
//! appended: (segment max timestamp, rel offset of the segment end).
//!
//! # Ownership
//!
//! The writer (under the shard's append lock) pushes entries to memory and
//! persists the unwritten tail on sync, roll and close. Readers search the
//! in-memory copy under the same lock, briefly.
//!
//! # Recovery
//!
//! Indexes are a cache of the `.log`. On open, the active segment's indexes
//! are always rebuilt by scanning; a sealed segment's files are used only if
//! their sizes are whole entries, entries are strictly increasing, pairing
//! holds and the sentinel matches the next segment's base. Otherwise they
//! are rebuilt by scanning the `.log`, and rewritten.

pub const OFFSET_ENTRY_BYTES: usize = 8;
pub const TIME_ENTRY_BYTES: usize = 12;

/// In-memory offset + time index of one segment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentIndex {
    /// (rel_offset, position), strictly increasing in both.
    pub offsets: Vec<(u32, u32)>,
    /// (max timestamp before the batch, rel_offset); same length as
    /// `offsets`, same rel_offsets.
    pub times: Vec<(i64, u32)>,
    /// Entries already written to the files.
    pub persisted: usize,
}

impl SegmentIndex {
    /// Record an entry for the batch at `rel`/`pos`; `max_ts_before` is the
    /// segment's running max timestamp before this batch.
    pub fn push(&mut self, rel: u32, pos: u32, max_ts_before: i64) {
        // Invariant (a bug if violated): the writer only moves forward.
        debug_assert!(self.offsets.last().is_none_or(|&(r, p)| r < rel && p < pos));
        self.offsets.push((rel, pos));
        self.times.push((max_ts_before, rel));
    }

    /// Position to start scanning for the batch containing `rel`: the
    /// largest indexed batch with rel_offset <= `rel`, else position 0.
    pub fn floor_position(&self, rel: u32) -> u32 {
        let i = self.offsets.partition_point(|&(r, _)| r <= rel);
        if i == 0 {
            0
        } else {
            self.offsets[i - 1].1
        }
    }

    /// Position to start scanning for the first batch with maxTimestamp
    /// >= `ts`: every batch before the returned position is older than `ts`.
    pub fn time_floor_position(&self, ts: i64) -> u32 {
        let i = self.times.partition_point(|&(t, _)| t < ts);
        if i == 0 {
            0
        } else {
            self.offsets[i - 1].1
        }
    }

    /// Drop entries for batches at or after `pos`.
    pub fn truncate_at(&mut self, pos: u32) {
        let keep = self.offsets.partition_point(|&(_, p)| p < pos);
        self.offsets.truncate(keep);
        self.times.truncate(keep);
        self.persisted = self.persisted.min(keep);
    }

    /// Bytes of the unpersisted tail for each file, with the file position
    /// to write them at.
    pub fn unpersisted(&self) -> ((u64, Vec<u8>), (u64, Vec<u8>)) {
        let from = self.persisted;
        let mut o = Vec::with_capacity((self.offsets.len() - from) * OFFSET_ENTRY_BYTES);
        for (r, p) in &self.offsets[from..] {
            o.extend_from_slice(&r.to_le_bytes());
            o.extend_from_slice(&p.to_le_bytes());
        }
        let mut t = Vec::with_capacity((self.times.len() - from) * TIME_ENTRY_BYTES);
        for (ts, r) in &self.times[from..] {
            t.extend_from_slice(&ts.to_le_bytes());
            t.extend_from_slice(&r.to_le_bytes());
        }
        (
            ((from * OFFSET_ENTRY_BYTES) as u64, o),
            ((from * TIME_ENTRY_BYTES) as u64, t),
        )
    }

    /// Encode a sentinel time entry.
    pub fn sentinel_bytes(max_ts: i64, rel_end: u32) -> [u8; TIME_ENTRY_BYTES] {
        let mut b = [0u8; TIME_ENTRY_BYTES];
        b[..8].copy_from_slice(&max_ts.to_le_bytes());
        b[8..].copy_from_slice(&rel_end.to_le_bytes());
        b
    }

    /// Decode a sealed segment's index files; `None` if anything is off.
    /// Returns the index and the segment's max timestamp (from the
    /// sentinel, which must say `rel_end`).
    pub fn decode_sealed(
        offsets: &[u8],
        times: &[u8],
        rel_end: u32,
        size: u32,
    ) -> Option<(SegmentIndex, i64)> {
        if !offsets.len().is_multiple_of(OFFSET_ENTRY_BYTES)
            || !times.len().is_multiple_of(TIME_ENTRY_BYTES)
        {
            return None;
        }
        let n = offsets.len() / OFFSET_ENTRY_BYTES;
        if times.len() / TIME_ENTRY_BYTES != n + 1 {
            return None;
        }
        let u32_at =
            |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let i64_at = |b: &[u8], at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[at..at + 8]);
            i64::from_le_bytes(a)
        };
        let mut idx = SegmentIndex {
            offsets: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            persisted: n,
        };
        for i in 0..n {
            let rel = u32_at(offsets, i * OFFSET_ENTRY_BYTES);
            let pos = u32_at(offsets, i * OFFSET_ENTRY_BYTES + 4);
            let ts = i64_at(times, i * TIME_ENTRY_BYTES);
            let trel = u32_at(times, i * TIME_ENTRY_BYTES + 8);
            let ok_order = idx.offsets.last().is_none_or(|&(r, p)| r < rel && p < pos);
            let ok_ts = idx.times.last().is_none_or(|&(t, _)| t <= ts);
            if !ok_order || !ok_ts || trel != rel || rel >= rel_end || pos >= size || pos == 0 {
                return None;
            }
            idx.offsets.push((rel, pos));
            idx.times.push((ts, rel));
        }
        let max_ts = i64_at(times, n * TIME_ENTRY_BYTES);
        let srel = u32_at(times, n * TIME_ENTRY_BYTES + 8);
        if srel != rel_end || idx.times.last().is_some_and(|&(t, _)| t > max_ts) {
            return None;
        }
        Some((idx, max_ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// floor_position returns the position of the last indexed batch at
        /// or before rel, and time_floor never skips a batch that is new
        /// enough, whatever the entries.
        #[test]
        fn lookups_match_linear_search(
            steps in proptest::collection::vec((1u32..50, 1u32..5000, -100i64..100), 0..60),
            probe in 0u32..3000,
            ts in -200i64..200,
        ) {
            let mut idx = SegmentIndex::default();
            let (mut rel, mut pos, mut max_ts) = (0u32, 0u32, i64::MIN);
            let mut all = vec![];
            for (dr, dp, t) in steps {
                rel += dr;
                pos += dp;
                idx.push(rel, pos, max_ts);
                all.push((rel, pos, max_ts));
                max_ts = max_ts.max(t);
            }
            let want = all.iter().rev().find(|(r, _, _)| *r <= probe).map_or(0, |e| e.1);
            prop_assert_eq!(idx.floor_position(probe), want);
            let want_t = all.iter().rev().find(|(_, _, t)| *t < ts).map_or(0, |e| e.1);
            prop_assert_eq!(idx.time_floor_position(ts), want_t);

            // Persist + sentinel decode roundtrip.
            let ((_, o), (_, t)) = idx.unpersisted();
            let mut t = t;
            let rel_end = rel + 1;
            t.extend_from_slice(&SegmentIndex::sentinel_bytes(max_ts.max(i64::MIN + 1), rel_end));
            let decoded = SegmentIndex::decode_sealed(&o, &t, rel_end, pos + 1);
            let mut expect = idx.clone();
            expect.persisted = expect.offsets.len();
            prop_assert_eq!(decoded, Some((expect, max_ts.max(i64::MIN + 1))));
            // Any truncation of either file is rejected or yields a prefix-consistent index.
            if !o.is_empty() {
                prop_assert!(SegmentIndex::decode_sealed(&o[..o.len() - 1], &t, rel_end, pos + 1).is_none());
            }
            prop_assert!(SegmentIndex::decode_sealed(&o, &t[..t.len() - 12], rel_end, pos + 1).is_none());
        }
    }

    #[test]
    fn truncate_drops_entries_at_and_after() {
        let mut idx = SegmentIndex::default();
        idx.push(10, 100, 1);
        idx.push(20, 200, 2);
        idx.persisted = 2;
        idx.truncate_at(200);
        assert_eq!(idx.offsets, vec![(10, 100)]);
        assert_eq!(idx.persisted, 1);
    }
}
