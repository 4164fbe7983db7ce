//! Kafka record batches, magic 2 (KIP-98), checked and offset-patched in
//! place so the log can store and serve them as the producer sent them.
//!
//! Layout (big-endian), from Kafka's `DefaultRecordBatch`:
//!
//! ```text
//! 0  baseOffset           i64   patched by the broker on append
//! 8  batchLength          i32   bytes after this field
//! 12 partitionLeaderEpoch i32   patched by the broker on append
//! 16 magic                i8    must be 2
//! 17 crc                  u32   CRC-32C of bytes [21, end)
//! 21 attributes           i16   compression, timestamp type, txn, control
//! 23 lastOffsetDelta      i32
//! 27 baseTimestamp        i64
//! 35 maxTimestamp         i64
//! 43 producerId           i64
//! 51 producerEpoch        i16
//! 53 baseSequence         i32
//! 57 recordCount          i32
//! 61 records...
//! ```
//!
//! The CRC deliberately excludes baseOffset and partitionLeaderEpoch, so
//! patching them never invalidates a batch.

use crate::crc::crc32c;
use crate::error::FrameError;

/// Bytes of the fixed batch header, up to and including recordCount.
pub const RECORD_BATCH_HEADER_LEN: usize = 61;
const LENGTH_FIELD_END: usize = 12;
const CRC_OFFSET: usize = 17;
const CRC_COVERED_FROM: usize = 21;

/// The fixed header fields of one validated batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordBatchHeader {
    pub base_offset: i64,
    /// Total bytes of the batch, the 12 bytes before batchLength included.
    pub total_len: u32,
    pub partition_leader_epoch: i32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl RecordBatchHeader {
    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> u8 {
        (self.attributes & 0x07) as u8
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
    /// Timestamps are broker append time (1) rather than create time (0).
    pub fn log_append_time(&self) -> bool {
        self.attributes & 0x08 != 0
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Parse and check the batch at the start of `buf`: its length fits, magic
/// is 2, counts are sane and the CRC-32C matches. Bytes after the batch are
/// ignored; `total_len` says where the next one starts.
pub fn parse(buf: &[u8]) -> Result<RecordBatchHeader, FrameError> {
    let header = parse_structure(buf)?;
    let total_len = header.total_len as usize;
    let stored = u32::from_be_bytes([
        buf[CRC_OFFSET],
        buf[CRC_OFFSET + 1],
        buf[CRC_OFFSET + 2],
        buf[CRC_OFFSET + 3],
    ]);
    let computed = crc32c(&buf[CRC_COVERED_FROM..total_len]);
    if stored != computed {
        return Err(FrameError::CrcMismatch { stored, computed });
    }
    Ok(header)
}

/// [`parse`] without the CRC check: every structural check (length, magic,
/// counts), for batches whose CRC was computed over these very bytes an
/// instant ago by the encoder in this process. Bytes from anywhere else (a
/// producer, the disk) go through [`parse`].
pub fn parse_structure(buf: &[u8]) -> Result<RecordBatchHeader, FrameError> {
    if buf.len() < RECORD_BATCH_HEADER_LEN {
        return Err(FrameError::Truncated {
            need: RECORD_BATCH_HEADER_LEN as u64,
            have: buf.len() as u64,
        });
    }
    let batch_length = be_i32(buf, 8);
    let min_body = (RECORD_BATCH_HEADER_LEN - LENGTH_FIELD_END) as i32;
    if batch_length < min_body {
        return Err(FrameError::InvalidField {
            field: "batchLength",
            value: batch_length.into(),
        });
    }
    let total = LENGTH_FIELD_END as u64 + batch_length as u64;
    if (buf.len() as u64) < total {
        return Err(FrameError::Truncated {
            need: total,
            have: buf.len() as u64,
        });
    }
    let magic = buf[16] as i8;
    if magic != 2 {
        return Err(FrameError::UnsupportedMagic(magic));
    }
    let header = RecordBatchHeader {
        base_offset: be_i64(buf, 0),
        total_len: total as u32,
        partition_leader_epoch: be_i32(buf, 12),
        attributes: be_i16(buf, 21),
        last_offset_delta: be_i32(buf, 23),
        base_timestamp: be_i64(buf, 27),
        max_timestamp: be_i64(buf, 35),
        producer_id: be_i64(buf, 43),
        producer_epoch: be_i16(buf, 51),
        base_sequence: be_i32(buf, 53),
        record_count: be_i32(buf, 57),
    };
    if header.record_count < 0 {
        return Err(FrameError::InvalidField {
            field: "recordCount",
            value: header.record_count.into(),
        });
    }
    if header.last_offset_delta < 0 {
        return Err(FrameError::InvalidField {
            field: "lastOffsetDelta",
            value: header.last_offset_delta.into(),
        });
    }
    Ok(header)
}

/// Parse every batch in `buf` (a Produce request's records field holds one
/// or more back to back); fails on the first bad one.
pub fn parse_all(buf: &[u8]) -> Result<Vec<RecordBatchHeader>, FrameError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        let h = parse(&buf[at..])?;
        at += h.total_len as usize;
        out.push(h);
    }
    Ok(out)
}

/// Write the broker-assigned base offset and leader epoch into a batch that
/// [`parse`] accepted. Neither field is covered by the CRC.
pub fn patch(buf: &mut [u8], base_offset: i64, leader_epoch: i32) -> Result<(), FrameError> {
    if buf.len() < RECORD_BATCH_HEADER_LEN {
        return Err(FrameError::Truncated {
            need: RECORD_BATCH_HEADER_LEN as u64,
            have: buf.len() as u64,
        });
    }
    buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
    buf[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Build a syntactically valid batch whose records section is opaque
    /// bytes (the CRC does not care what the records are).
    pub fn build(records: &[u8], record_count: i32, attributes: i16) -> Vec<u8> {
        let mut b = Vec::with_capacity(RECORD_BATCH_HEADER_LEN + records.len());
        b.extend_from_slice(&0i64.to_be_bytes());
        let batch_length = (RECORD_BATCH_HEADER_LEN - LENGTH_FIELD_END + records.len()) as i32;
        b.extend_from_slice(&batch_length.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(&attributes.to_be_bytes());
        b.extend_from_slice(&(record_count - 1).max(0).to_be_bytes());
        b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        b.extend_from_slice(&1_700_000_000_123i64.to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&record_count.to_be_bytes());
        b.extend_from_slice(records);
        let crc = crc32c(&b[CRC_COVERED_FROM..]);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn valid_batch_parses_and_patches() {
        let mut b = build(b"opaque-records", 3, 0x04);
        let h = parse(&b).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.compression(), 4);
        assert_eq!(h.total_len as usize, b.len());
        patch(&mut b, 42, 7).unwrap();
        let h = parse(&b).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.partition_leader_epoch, 7);
    }

    #[test]
    fn flipped_bit_fails_crc() {
        let mut b = build(b"payload", 1, 0);
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(matches!(parse(&b), Err(FrameError::CrcMismatch { .. })));
    }

    #[test]
    fn structure_only_parse_skips_just_the_crc() {
        let mut b = build(b"payload", 2, 0);
        let last = b.len() - 1;
        b[last] ^= 1;
        let h = parse_structure(&b).unwrap();
        assert_eq!(h.record_count, 2);
        assert!(matches!(parse(&b), Err(FrameError::CrcMismatch { .. })));
        b[16] = 1;
        assert_eq!(parse_structure(&b), Err(FrameError::UnsupportedMagic(1)));
    }

    #[test]
    fn wrong_magic_and_truncation() {
        let mut b = build(b"x", 1, 0);
        b[16] = 1;
        assert_eq!(parse(&b), Err(FrameError::UnsupportedMagic(1)));
        let b = build(b"xyz", 1, 0);
        assert!(matches!(
            parse(&b[..b.len() - 1]),
            Err(FrameError::Truncated { .. })
        ));
        assert!(matches!(parse(&b[..10]), Err(FrameError::Truncated { .. })));
    }

    #[test]
    fn back_to_back_batches() {
        let mut all = build(b"first", 1, 0);
        all.extend(build(b"second", 2, 0));
        let hs = parse_all(&all).unwrap();
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[1].record_count, 2);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_all(&bytes);
        }

        #[test]
        fn any_single_bit_flip_in_crc_range_is_caught(records in proptest::collection::vec(any::<u8>(), 1..64), bit in any::<usize>()) {
            let mut b = build(&records, 1, 0);
            let range = b.len() - CRC_COVERED_FROM;
            let i = CRC_COVERED_FROM + (bit / 8) % range;
            b[i] ^= 1 << (bit % 8);
            prop_assert!(parse(&b).is_err());
        }
    }
}
