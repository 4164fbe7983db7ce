//! `read_into`: the same bytes as `read`, in the caller's buffer, bounded
//! by it; never stale after truncation or deletion; still CRC-checked.

use super::tests::cfg;
use super::*;
use crate::log::test_util::batch;
use crate::log::walk;
use crate::memory::MemoryLog;

/// Filled with this before each read, so bytes past `len` show what was written.
const JUNK: u8 = 0xA5;

fn into(log: &dyn ShardLog, from: u64, max: u32, cap: usize) -> (ReadInto, Vec<u8>) {
    let mut buf = vec![JUNK; cap];
    let r = log.read_into(from, max, &mut buf).unwrap();
    (r, buf)
}

/// For every offset and several buffer sizes: either `read`'s bytes (or the
/// longest prefix of whole batches that fits), or `needed` and nothing written.
fn same_as_read(log: &dyn ShardLog) {
    let next = log.next_offset();
    for from in log.earliest_offset()..next {
        for max in [1u32, 700, 5000, u32::MAX] {
            let whole = log.read(from, max).unwrap().bytes;
            let first = walk(&whole).next().unwrap().len as usize;
            for cap in [first - 1, first, first + 1, 900, 3000, 1 << 16] {
                let (r, buf) = into(log, from, max, cap);
                assert_eq!(
                    (r.next_offset, r.earliest_offset),
                    (next, log.earliest_offset())
                );
                if first > cap {
                    assert_eq!(
                        (r.len, r.needed as usize),
                        (0, first),
                        "from {from} cap {cap}"
                    );
                    assert!(buf.iter().all(|&b| b == JUNK), "nothing written");
                    continue;
                }
                assert_eq!(r.needed, 0);
                // Whole batches only, a prefix of what `read` returns, as
                // long as fits both `max` (or one batch) and the buffer.
                let fits = walk(&whole)
                    .take_while(|b| b.pos + b.len as usize <= cap)
                    .last()
                    .map_or(0, |b| b.pos + b.len as usize);
                let expect = if whole.len() <= cap {
                    whole.len()
                } else {
                    fits
                };
                assert_eq!(r.len, expect, "from {from} max {max} cap {cap}");
                assert_eq!(&buf[..r.len], &whole[..r.len]);
            }
        }
    }
    // The log end: nothing, nothing needed.
    let (r, _) = into(log, next, 1 << 20, 1 << 16);
    assert_eq!((r.len, r.needed, r.next_offset), (0, 0, next));
    let mut buf = vec![0u8; 64];
    assert!(matches!(
        log.read_into(next + 1, 1, &mut buf),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segment_read_into_matches_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    for i in 0..200u64 {
        log.append(&mut batch((i % 4 + 1) as usize, i as i64, "r"), 0)
            .unwrap();
    }
    assert!(log.stats().segments > 3, "rolled: {:?}", log.stats());
    same_as_read(&log);
}

#[test]
fn memory_read_into_matches_read() {
    let log = MemoryLog::new(ShardConfig::default()).unwrap();
    for i in 0..40u64 {
        log.append(&mut batch((i % 3 + 1) as usize, i as i64, "m"), 0)
            .unwrap();
    }
    same_as_read(&log);
}

#[test]
fn read_into_never_returns_truncated_or_deleted_data() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    for i in 0..60u64 {
        log.append(&mut batch(2, i as i64, "old"), 0).unwrap();
    }
    let mut buf = vec![0u8; 1 << 16];
    let before = log.read_into(40, u32::MAX, &mut buf).unwrap();
    assert!(before.len > 0);
    // Truncate to 40, append other records: a reader at 40 sees the new ones.
    assert_eq!(log.truncate(40).unwrap(), 40);
    assert_eq!(log.read_into(40, u32::MAX, &mut buf).unwrap().len, 0);
    for i in 0..5u64 {
        log.append(&mut batch(2, 1000 + i as i64, "new"), 0)
            .unwrap();
    }
    let after = log.read_into(40, u32::MAX, &mut buf).unwrap();
    assert_eq!(
        &buf[..after.len],
        &log.read(40, u32::MAX).unwrap().bytes[..]
    );
    assert_eq!(after.next_offset, 50);
    // Deleted below 30 (retention, DeleteRecords): out of range, not data.
    log.delete_before(30).unwrap();
    assert!(matches!(
        log.read_into(10, u32::MAX, &mut buf),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let r = log.read_into(30, u32::MAX, &mut buf).unwrap();
    assert_eq!(r.earliest_offset, 30);
    assert_eq!(walk(&buf[..r.len]).next().unwrap().base_offset, 30);
}

#[test]
fn read_into_checks_crcs() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    for i in 0..10 {
        log.append(&mut batch(2, i, "c"), 0).unwrap();
    }
    drop(log);
    let p = dir.path().join(format!("{}.log", segment_stem(0)));
    let mut data = std::fs::read(&p).unwrap();
    let last = data.len() - 3;
    data[last] ^= 0x40;
    std::fs::write(&p, &data).unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    // Open repairs a torn tail only when it fails to parse; a flipped value
    // byte in the last batch parses but fails its CRC on read.
    match log.read_into(0, u32::MAX, &mut buf) {
        Err(StorageError::Corrupt { .. }) => {}
        Ok(r) => assert!(
            ferry_frame::record_batch::parse_all(&buf[..r.len]).is_ok(),
            "only CRC-valid batches come back"
        ),
        Err(e) => panic!("unexpected {e}"),
    }
}
