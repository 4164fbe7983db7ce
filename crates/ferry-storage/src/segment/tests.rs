use super::*;
use crate::log::test_util::batch;
use crate::log::{now_ms, peek, walk};
use proptest::prelude::*;
use std::fs::{self, OpenOptions};

pub(super) fn cfg() -> ShardConfig {
    ShardConfig {
        durability: Durability::None,
        segment_bytes_max: 4096,
        index_interval_bytes: 256,
        retention_ms: None,
        segment_ms_max: None,
        ..Default::default()
    }
}

fn offsets_of(bytes: &[u8]) -> Vec<(u64, u64)> {
    walk(bytes)
        .map(|b| (b.base_offset, b.last_offset()))
        .collect()
}

/// Read everything from `from` to the end, batch by batch.
pub(super) fn read_all(log: &SegmentLog, from: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < log.next_offset() {
        let r = log.read(at, 1).unwrap();
        let got = offsets_of(&r.bytes);
        assert_eq!(got.len(), 1, "max_bytes 1 still returns exactly one batch");
        at = got[0].1 + 1;
        out.extend(got);
    }
    out
}

#[test]
fn append_read_roll_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    let mut expect = Vec::new();
    for i in 0..200u64 {
        let n = (i % 5 + 1) as usize;
        let mut b = batch(n, 1_000 + i as i64, "v");
        let r = log.append(&mut b, 3).unwrap();
        assert_eq!(r.last_offset - r.base_offset + 1, n as u64);
        // The caller's buffer holds the patched batch.
        assert_eq!(peek(&b, 0).unwrap().base_offset, r.base_offset);
        expect.push((r.base_offset, r.last_offset));
    }
    assert!(log.stats().segments > 3, "rolled: {:?}", log.stats());
    assert_eq!(read_all(&log, 0), expect);
    // Mid-batch reads start at the containing batch.
    let (b, l) = expect[77];
    if l > b {
        assert_eq!(offsets_of(&log.read(b + 1, 1).unwrap().bytes)[0], (b, l));
    }
    // max_bytes bounds a multi-batch read to whole batches.
    let r = log.read(0, 1000).unwrap();
    assert!(r.bytes.len() <= 1000 && !r.bytes.is_empty());
    assert_eq!(
        verify_read(&r.bytes, Path::new("x"), 0, Some(0))
            .map(|_| ())
            .ok(),
        Some(())
    );
    let stats = log.stats();
    log.close().unwrap();
    assert!(matches!(
        log.append(&mut batch(1, 0, "x"), 0),
        Err(StorageError::Closed)
    ));
    drop(log);

    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.next_offset(), stats.next_offset);
    assert_eq!(log.stats().segments, stats.segments);
    assert_eq!(log.stats().bytes, stats.bytes);
    assert_eq!(read_all(&log, 0), expect);
    let r = log.append(&mut batch(1, 5, "after"), 0).unwrap();
    assert_eq!(r.base_offset, stats.next_offset);
}

#[test]
fn sealed_index_files_are_rebuilt_when_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    for i in 0..100 {
        log.append(&mut batch(3, i, "x"), 0).unwrap();
    }
    let expect = read_all(&log, 0);
    drop(log);
    // Damage the first segment's indexes: delete one, truncate the other.
    fs::remove_file(dir.path().join(format!("{}.index", segment_stem(0)))).unwrap();
    let t = dir.path().join(format!("{}.timeindex", segment_stem(0)));
    let len = fs::metadata(&t).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&t)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(read_all(&log, 0), expect);
    assert_eq!(log.offset_for_timestamp(50).unwrap().unwrap().offset, 150);
    // The rebuilt files are whole again: paired entries plus the sentinel.
    let o = fs::metadata(dir.path().join(format!("{}.index", segment_stem(0))))
        .unwrap()
        .len();
    let t = fs::metadata(&t).unwrap().len();
    assert_eq!(o / 8 + 1, t / 12);
    assert!(o > 0);
}

#[test]
fn timestamps_truncate_delete_retention() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    for i in 0..300i64 {
        log.append(&mut batch(2, i * 10, "t"), 0).unwrap();
    }
    // Exact record, segment crossing.
    for ts in [0i64, 5, 10, 1234, 2990] {
        let t = log.offset_for_timestamp(ts).unwrap().unwrap();
        let first_batch = ((ts + 9) / 10) as u64;
        assert_eq!(t.offset, first_batch * 2, "ts {ts}");
    }
    assert_eq!(log.offset_for_timestamp(2991).unwrap(), None);

    assert_eq!(log.truncate(401).unwrap(), 400);
    assert_eq!(log.next_offset(), 400);
    assert!(matches!(
        log.read(401, 10),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.read(400, 10).unwrap().bytes.len(), 0);
    assert_eq!(
        log.append(&mut batch(1, 9999, "n"), 0).unwrap().base_offset,
        400
    );

    let segs = log.stats().segments;
    assert_eq!(log.delete_before(101).unwrap(), 101);
    assert!(log.stats().segments < segs);
    assert!(matches!(
        log.read(100, 10),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(offsets_of(&log.read(101, 1).unwrap().bytes)[0], (100, 101));
    drop(log);
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.earliest_offset(), 101, "log start survives reopen");

    // Retention by bytes keeps at least the budget, never the active segment.
    let c = ShardConfig {
        retention_bytes_max: Some(5000),
        ..cfg()
    };
    drop(log);
    let log = SegmentLog::open(dir.path(), c).unwrap();
    let e = log.apply_retention(now_ms()).unwrap();
    assert!(e > 101);
    assert!(log.stats().bytes >= 5000 - 4096);
    assert_eq!(log.stats().earliest_offset, e);
    // Retention by time drops everything sealed.
    drop(log);
    let c = ShardConfig {
        retention_ms: Some(1),
        ..cfg()
    };
    let log = SegmentLog::open(dir.path(), c).unwrap();
    log.apply_retention(now_ms()).unwrap();
    assert_eq!(log.stats().segments, 1);
    assert!(!log
        .read(log.earliest_offset(), 1 << 20)
        .unwrap()
        .bytes
        .is_empty());
}

#[test]
fn corruption_in_sealed_segment_is_reported_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    for i in 0..100 {
        log.append(&mut batch(2, i, "c"), 0).unwrap();
    }
    drop(log);
    let p = dir.path().join(format!("{}.log", segment_stem(0)));
    let mut data = fs::read(&p).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x40;
    fs::write(&p, &data).unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    let mut corrupt = 0;
    let mut at = 0;
    while at < log.stats().next_offset {
        match log.read(at, 1) {
            Ok(r) => {
                // Everything returned passes CRC.
                assert!(ferry_frame::record_batch::parse_all(&r.bytes).is_ok());
                at = offsets_of(&r.bytes)[0].1 + 1;
            }
            Err(StorageError::Corrupt { .. }) => {
                corrupt += 1;
                at += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(corrupt > 0, "the flipped byte was detected");
}

#[test]
fn torn_tail_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(
        dir.path(),
        ShardConfig {
            segment_bytes_max: 1 << 20,
            ..cfg()
        },
    )
    .unwrap();
    for i in 0..10 {
        log.append(&mut batch(2, i, "torn"), 0).unwrap();
    }
    drop(log);
    let p = dir.path().join(format!("{}.log", segment_stem(0)));
    let len = fs::metadata(&p).unwrap().len();
    // Append garbage as a torn half-written batch.
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    f.write_all_at(&[0u8, 0, 0, 0, 0, 0, 0, 20, 0, 0, 1, 0, 0], len)
        .unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.next_offset(), 20);
    assert_eq!(fs::metadata(&p).unwrap().len(), len);
    assert_eq!(
        log.append(&mut batch(1, 0, "x"), 0).unwrap().base_offset,
        20
    );
}

#[test]
fn concurrent_always_appends_get_unique_contiguous_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let c = ShardConfig {
        durability: Durability::Always,
        segment_bytes_max: 64 * 1024,
        ..cfg()
    };
    let log = Arc::new(SegmentLog::open(dir.path(), c).unwrap());
    let threads = 8;
    let per = 50;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for i in 0..per {
                    let n = 1 + (t + i) % 3;
                    let r = log.append(&mut batch(n, i as i64, "cc"), 0).unwrap();
                    got.push((r.base_offset, r.last_offset));
                }
                got
            })
        })
        .collect();
    let mut all: Vec<(u64, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    let mut next = 0;
    for (b, l) in &all {
        assert_eq!(*b, next, "contiguous and unique");
        next = l + 1;
    }
    assert_eq!(next, log.next_offset());
    // Everything acknowledged is synced.
    assert!(log.sync.synced() >= next);
    drop(log);
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(read_all(&log, 0), all);
}

#[test]
fn interval_policy_syncs_in_background_calls() {
    let dir = tempfile::tempdir().unwrap();
    let c = ShardConfig {
        durability: Durability::Interval { ms: 1 },
        ..cfg()
    };
    let log = SegmentLog::open(dir.path(), c).unwrap();
    log.append(&mut batch(1, 0, "i"), 0).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    log.sync_if_due().unwrap();
    assert_eq!(log.sync.synced(), 1);
}

#[test]
fn invalid_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = SegmentLog::open(dir.path(), cfg()).unwrap();
    let mut b = batch(2, 0, "x");
    let last = b.len() - 1;
    b[last] ^= 1;
    assert!(matches!(
        log.append(&mut b, 0),
        Err(StorageError::InvalidBatch(_))
    ));
    assert!(matches!(
        log.append(&mut [], 0),
        Err(StorageError::BatchRejected(_))
    ));
    assert!(matches!(
        log.append(&mut [1, 2, 3], 0),
        Err(StorageError::InvalidBatch(_))
    ));
    let mut big = batch(500, 0, "large-value");
    assert!(matches!(
        SegmentLog::open(
            dir.path(),
            ShardConfig {
                batch_bytes_max: 100,
                ..cfg()
            }
        )
        .unwrap()
        .append(&mut big, 0),
        Err(StorageError::RecordTooLarge { .. })
    ));
    assert_eq!(log.next_offset(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random appends, then cut the last segment file at a random byte and
    /// reopen: every batch wholly before the cut is readable, nothing after
    /// it is returned, and next_offset follows the last surviving batch.
    #[test]
    fn recovery_after_random_cut(sizes in proptest::collection::vec(1usize..6, 1..60), cut_frac in 0.0f64..1.0) {
        let dir = tempfile::tempdir().unwrap();
        let c = ShardConfig { segment_bytes_max: 2048, ..cfg() };
        let log = SegmentLog::open(dir.path(), c).unwrap();
        let mut all = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let r = log.append(&mut batch(*n, i as i64, "p"), 0).unwrap();
            all.push((r.base_offset, r.last_offset));
        }
        let last_base = log.inner.lock().segments.last().unwrap().base;
        drop(log);
        let p = dir.path().join(format!("{}.log", segment_stem(last_base)));
        let data = fs::read(&p).unwrap();
        let cut = (data.len() as f64 * cut_frac) as usize;
        // Batches of the last segment that end at or before the cut survive.
        let survivors: Vec<u64> = walk(&data).filter(|b| b.pos + b.len as usize <= cut).map(|b| b.base_offset).collect();
        OpenOptions::new().write(true).open(&p).unwrap().set_len(cut as u64).unwrap();

        let log = SegmentLog::open(dir.path(), c).unwrap();
        let expect: Vec<(u64, u64)> = all.iter().copied().filter(|(b, _)| *b < last_base || survivors.contains(b)).collect();
        let next = expect.last().map_or(last_base, |e| e.1 + 1);
        prop_assert_eq!(log.next_offset(), next.max(last_base));
        prop_assert_eq!(read_all(&log, 0), expect);
        // And the log keeps working from there.
        let r = log.append(&mut batch(1, 0, "again"), 0).unwrap();
        prop_assert_eq!(r.base_offset, next.max(last_base));
    }
}

/// Appends submitted in ticket order but run by threads started in reverse
/// still get offsets in ticket order; a refused append in the middle (its
/// ticket abandoned before its turn) blocks nobody; under `Always` every
/// append returns only once synced, and all are there after a reopen.
#[test]
fn ticketed_appends_keep_submission_order_and_are_durable() {
    use crate::log::test_util::in_reverse_threads;
    use crate::order::Turn;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let c = ShardConfig {
        durability: Durability::Always,
        ..cfg()
    };
    let log = Arc::new(SegmentLog::open(dir.path(), c).unwrap());
    const K: usize = 24;
    let l = log.clone();
    let done: Vec<(usize, u64, u64)> = in_reverse_threads(K, move |i, mut t| {
        let mut b = batch(i % 3 + 1, 1_000, "t");
        if i == 7 {
            // Corrupt the CRC: refused in validation, before the turn.
            let last = b.len() - 1;
            b[last] ^= 0xff;
        }
        let r = l.append_in_turn(&mut b, 0, &mut t);
        t.release();
        let r = r.ok()?;
        assert!(l.sync.synced() > r.last_offset, "acked before synced");
        Some((i, r.base_offset, r.last_offset))
    })
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(done.len(), K - 1, "only the corrupt append fails");
    let mut next = 0;
    for &(i, base, last) in &done {
        assert_eq!(base, next, "ticket {i} out of order");
        assert_eq!(last - base + 1, (i % 3 + 1) as u64);
        next = last + 1;
    }
    drop(log);
    let log = SegmentLog::open(dir.path(), c).unwrap();
    let expect: Vec<(u64, u64)> = done.iter().map(|&(_, b, l)| (b, l)).collect();
    assert_eq!(read_all(&log, 0), expect);
}
