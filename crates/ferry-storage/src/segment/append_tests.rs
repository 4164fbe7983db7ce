//! Tests of the append path's round-2 behaviour: which batches skip the
//! pre-write CRC pass (and that reads still catch damage), and the
//! preallocated tail of durable segments across crashes, rolls and retention.

use super::tests::{cfg, read_all};
use super::*;
use crate::log::{now_ms, test_util::batch};
use std::fs;

/// Packed records `value-i` (i < n), timestamp 5, no key, no headers.
fn packed(n: usize, value_len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    for i in 0..n {
        let v = format!("{i:0>value_len$}");
        p.extend_from_slice(&5i64.to_le_bytes());
        p.extend_from_slice(&(-1i32).to_le_bytes());
        p.extend_from_slice(&(v.len() as i32).to_le_bytes());
        p.extend_from_slice(v.as_bytes());
        p.extend_from_slice(&0u32.to_le_bytes());
    }
    p
}

/// The pre-write CRC pass is skipped only for `EncodedBatches`, which only
/// the encoder builds: bytes handed to `append` / `append_in_turn` (Kafka
/// producer batches) are CRC-checked by every engine, however they arrive.
#[test]
fn producer_batches_are_always_crc_checked() {
    let dir = tempfile::tempdir().unwrap();
    let always = ShardConfig {
        durability: Durability::Always,
        ..cfg()
    };
    let engines: Vec<Box<dyn ShardLog>> = vec![
        Box::new(SegmentLog::open(dir.path().join("s"), always).unwrap()),
        Box::new(crate::memory::MemoryLog::new(cfg()).unwrap()),
    ];
    for log in &engines {
        let mut bad = batch(2, 0, "p");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            log.append(&mut bad.clone(), 0),
            Err(StorageError::InvalidBatch(_))
        ));
        let order = crate::order::AppendOrder::new();
        assert!(matches!(
            log.append_in_turn(&mut bad, 0, &mut order.ticket()),
            Err(StorageError::InvalidBatch(_))
        ));
        assert_eq!(log.next_offset(), 0, "nothing was stored");
        // The encoded paths store batches whose CRC is right.
        log.append_packed(&packed(3, 10), 0).unwrap();
        let p = packed(4, 10);
        let g = (p.len() / 2) as u32;
        log.append_packed_groups(&p, &[g, p.len() as u32 - g], 0)
            .unwrap();
        // Values out of line: packed names them by index.
        let mut p = Vec::new();
        for i in [1u32, 0] {
            p.extend_from_slice(&9i64.to_le_bytes());
            p.extend_from_slice(&(-1i32).to_le_bytes());
            p.extend_from_slice(&(-2i32).to_le_bytes());
            p.extend_from_slice(&i.to_le_bytes());
            p.extend_from_slice(&0u32.to_le_bytes());
        }
        let values: [&[u8]; 2] = [b"zero", b"one"];
        let mut enc =
            EncodedBatches::from_packed_groups_with_values(&p, &values, &[p.len() as u32]).unwrap();
        let order = crate::order::AppendOrder::new();
        log.append_encoded_in_turn(&mut enc, 0, &mut order.ticket())
            .unwrap();
        let r = log.read(0, u32::MAX).unwrap();
        let hs = ferry_frame::record_batch::parse_all(&r.bytes).unwrap();
        assert_eq!(hs.len(), 4);
        assert_eq!(log.next_offset(), 9);
        let last = log.read(7, 1).unwrap().bytes;
        let (_, recs) = ferry_frame::records::decode_batch(&last).unwrap();
        let got: Vec<_> = recs.iter().map(|r| r.value.unwrap()).collect();
        assert_eq!(got, [&b"one"[..], b"zero"]);
    }
}

/// Skipping the pre-write pass loses no detection: a byte flipped on disk
/// under a packed (encoded) append is reported by the read, never returned.
#[test]
fn encoded_batches_are_crc_checked_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let big = ShardConfig {
        segment_bytes_max: 1 << 20,
        ..cfg()
    };
    let log = SegmentLog::open(dir.path(), big).unwrap();
    for _ in 0..3 {
        log.append_packed(&packed(2, 100), 0).unwrap();
    }
    drop(log);
    let p = dir.path().join(format!("{}.log", segment_stem(0)));
    let mut data = fs::read(&p).unwrap();
    let one = data.len() / 3;
    data[one + one / 2] ^= 0x10; // inside the second batch's records
    fs::write(&p, &data).unwrap();
    let log = SegmentLog::open(dir.path(), big).unwrap();
    assert_eq!(
        log.next_offset(),
        6,
        "damage followed by a valid batch is kept"
    );
    assert!(log.read(0, 1).is_ok());
    assert!(matches!(log.read(2, 1), Err(StorageError::Corrupt { .. })));
    assert!(log.read(4, 1).is_ok());
}

fn log_len(dir: &Path, base: u64) -> u64 {
    fs::metadata(dir.join(format!("{}.log", segment_stem(base))))
        .unwrap()
        .len()
}

/// Durable segments are preallocated ahead of the data; the zeros of that
/// tail end the log on reopen (a zero batchLength is never valid), sealed
/// segments and a clean close end at the last batch, and sizes, rolls and
/// retention go by the data, never the file length.
#[test]
fn preallocated_tail_is_the_end_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let c = ShardConfig {
        durability: Durability::Always,
        segment_bytes_max: 1 << 20,
        ..cfg()
    };
    let log = SegmentLog::open(dir.path(), c).unwrap();
    for i in 0..10 {
        log.append(&mut batch(2, i, "pre"), 0).unwrap();
    }
    let data = log.stats().bytes;
    assert!(data < 4096);
    assert_eq!(
        log_len(dir.path(), 0),
        1 << 20,
        "preallocated to the segment size"
    );
    // A crash: no close, the zero tail stays on disk.
    drop(log);
    assert_eq!(log_len(dir.path(), 0), 1 << 20);
    let log = SegmentLog::open(dir.path(), c).unwrap();
    assert_eq!(log.next_offset(), 20);
    assert_eq!(log.stats().bytes, data);
    assert_eq!(log_len(dir.path(), 0), data, "the zero tail was cut");
    assert_eq!(read_all(&log, 0).len(), 10);
    assert_eq!(
        log.append(&mut batch(1, 0, "x"), 0).unwrap().base_offset,
        20
    );
    log.close().unwrap();
    assert_eq!(
        log_len(dir.path(), 0),
        log.stats().bytes,
        "a clean close trims"
    );

    // Rolls: every sealed segment ends at its last batch; the active one
    // is preallocated up to segment_bytes_max; retention counts data.
    let dir = tempfile::tempdir().unwrap();
    let small = ShardConfig {
        segment_bytes_max: 4096,
        retention_bytes_max: Some(3 * 4096),
        ..c
    };
    let log = SegmentLog::open(dir.path(), small).unwrap();
    for i in 0..200 {
        log.append(&mut batch(3, i, "roll"), 0).unwrap();
    }
    let stats = log.stats();
    assert!(stats.segments > 4);
    let mut bases: Vec<u64> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".log").map(|s| s.parse().unwrap())
        })
        .collect();
    bases.sort_unstable();
    let active = *bases.last().unwrap();
    let sealed: u64 = bases[..bases.len() - 1]
        .iter()
        .map(|&b| log_len(dir.path(), b))
        .sum();
    assert!(sealed < stats.bytes, "sealed files hold data only");
    assert_eq!(log_len(dir.path(), active), 4096);
    log.apply_retention(now_ms()).unwrap();
    let after = log.stats();
    // Data beyond the limit by less than one segment (the oldest goes
    // while the rest still reach retention_bytes_max); counted with the
    // active file's preallocated bytes, one more segment would have gone.
    assert!(after.segments < stats.segments, "{after:?}");
    assert!(
        after.bytes < 4 * 4096 && after.bytes >= 3 * 4096,
        "{after:?}"
    );
    // Reopen after a crash mid-segment: every acknowledged batch is back.
    let next = log.next_offset();
    drop(log);
    let log = SegmentLog::open(dir.path(), small).unwrap();
    assert_eq!(log.next_offset(), next);
    assert_eq!(log.stats().bytes, after.bytes);
}

/// Under `none` nothing is preallocated: the file is exactly the data.
#[test]
fn no_preallocation_without_durability() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    log.append(&mut batch(2, 0, "n"), 0).unwrap();
    assert_eq!(log_len(dir.path(), 0), log.stats().bytes);
}

/// `earliest_offset` / `next_offset` are called on the JS thread (every
/// Produce answer): they must not wait for the writer lock an append holds
/// through its `pwrite`, and must still follow every change of the offsets.
#[test]
fn offsets_are_read_without_the_writer_lock_and_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SegmentLog::open(dir.path().join("s"), cfg()).unwrap());
    for i in 0..4 {
        log.append(&mut batch(5, 0, &format!("b{i}")), 0).unwrap();
    }
    let check = |log: &SegmentLog| {
        let s = log.stats();
        assert_eq!(
            (log.earliest_offset(), log.next_offset()),
            (s.earliest_offset, s.next_offset)
        );
    };
    check(&log);
    {
        // A writer holding the lock (as through a slow write) does not block readers.
        let _held = log.inner.lock();
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || (log.earliest_offset(), log.next_offset()))
        };
        let t0 = std::time::Instant::now();
        while !reader.is_finished() {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(5),
                "offsets waited for the writer lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(reader.join().unwrap(), (0, 20));
    }
    log.delete_before(7).unwrap();
    check(&log);
    assert_eq!(log.earliest_offset(), 7);
    log.truncate(10).unwrap();
    check(&log);
    assert_eq!(log.next_offset(), 10);
    log.apply_retention(now_ms()).unwrap();
    check(&log);
    drop(log);
    let log = SegmentLog::open(dir.path().join("s"), cfg()).unwrap();
    check(&log);
    assert_eq!((log.earliest_offset(), log.next_offset()), (7, 10));
}
