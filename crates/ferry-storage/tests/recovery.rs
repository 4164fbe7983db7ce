//! Crash and recovery tests against the public API: a writer process killed
//! with SIGKILL loses nothing it acknowledged; torn tails and flipped bytes
//! are repaired or reported; disk errors map to their codes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

use ferry_frame::records::{decode_batch, encode_batch, Record};
use ferry_storage::{Durability, EngineKind, ShardConfig, ShardLog, StorageError, Store};

const CHILD_ENV: &str = "FERRY_CRASH_CHILD_DIR";

fn batch(i: u64) -> Vec<u8> {
    let n = 1 + (i % 3) as usize;
    let vals: Vec<String> = (0..n).map(|j| format!("crash-{i}-{j}")).collect();
    let recs: Vec<Record<'_>> = vals
        .iter()
        .map(|v| Record {
            timestamp_ms: i as i64,
            key: Some(b"k"),
            value: Some(v.as_bytes()),
            headers: &[],
        })
        .collect();
    let mut out = Vec::new();
    encode_batch(&recs, &mut out).unwrap();
    out
}

fn cfg(durability: Durability) -> ShardConfig {
    ShardConfig {
        durability,
        segment_bytes_max: 16 * 1024,
        retention_ms: None,
        ..Default::default()
    }
}

/// Runs only as the child of `kill_9_loses_nothing_acknowledged`: appends
/// forever with Always and prints each acknowledged append.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&dir).unwrap();
    let seg = store
        .create_shard(1, EngineKind::Segment, cfg(Durability::Always))
        .unwrap();
    let rocks = store
        .create_shard(2, EngineKind::Rocks, cfg(Durability::Always))
        .unwrap();
    let threads: Vec<_> = [seg, rocks]
        .into_iter()
        .enumerate()
        .map(|(s, log)| {
            std::thread::spawn(move || {
                for i in 0.. {
                    let r = log.append(&mut batch(i), 0).unwrap();
                    println!("ACK {} {i} {} {}", s + 1, r.base_offset, r.last_offset);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: Vec<(u64, u64, u64, u64)> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("ACK ") else {
            continue;
        };
        let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
        acked.push((f[0], f[1], f[2], f[3]));
        if acked.len() >= 600 {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        acked.len() >= 600,
        "child acknowledged {} appends",
        acked.len()
    );

    let store = Store::open(dir.path()).unwrap();
    for shard in [1u64, 2] {
        let log = store.shard(shard).unwrap();
        let mine: Vec<_> = acked.iter().filter(|a| a.0 == shard).collect();
        assert!(!mine.is_empty());
        let last = mine.iter().map(|a| a.3).max().unwrap();
        assert!(
            log.next_offset() > last,
            "shard {shard}: next {} <= acked {last}",
            log.next_offset()
        );
        for &&(_, i, base, lastoff) in &mine {
            let r = log.read(base, 1).unwrap();
            let (h, recs) = decode_batch(&r.bytes).unwrap();
            assert_eq!(h.base_offset as u64, base);
            assert_eq!(recs.len() as u64, lastoff - base + 1);
            for (j, rec) in recs.iter().enumerate() {
                assert_eq!(rec.value.unwrap(), format!("crash-{i}-{j}").as_bytes());
            }
        }
        // The recovered log accepts appends right after its end.
        let next = log.next_offset();
        assert_eq!(log.append(&mut batch(0), 0).unwrap().base_offset, next);
    }
}

#[test]
fn torn_tail_and_flipped_byte_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let seg_dir = dir.path().join("segments").join(format!("{:020}", 5));
    let mut offsets = Vec::new();
    {
        let store = Store::open(dir.path()).unwrap();
        let log = store
            .create_shard(5, EngineKind::Segment, cfg(Durability::None))
            .unwrap();
        for i in 0..400 {
            let r = log.append(&mut batch(i), 0).unwrap();
            offsets.push((r.base_offset, r.last_offset));
        }
        store.close().unwrap();
    }
    let mut logs: Vec<_> = std::fs::read_dir(&seg_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 3, "several segments: {logs:?}");
    // Tear the last segment 10 bytes short; flip a byte in the first one.
    let last = logs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let first = &logs[0];
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(first)
        .unwrap();
    // Inside the records of the second batch (the bytes the CRC covers;
    // partitionLeaderEpoch at 12..16 and baseOffset are not covered).
    let mut len0 = [0u8; 4];
    f.read_exact_at(&mut len0, 8).unwrap();
    let at = u64::from(u32::from_be_bytes(len0)) + 12 + 65;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0xff], at).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let log = store.shard(5).unwrap();
    // The torn batch (the last one) is gone, everything before it stays.
    let (lb, _) = *offsets.last().unwrap();
    assert_eq!(log.next_offset(), lb);
    let mut corrupt = 0;
    for &(base, last) in &offsets[..offsets.len() - 1] {
        match log.read(base, 1) {
            Ok(r) => {
                let (h, recs) = decode_batch(&r.bytes).unwrap();
                assert_eq!(
                    (h.base_offset as u64, recs.len() as u64),
                    (base, last - base + 1)
                );
            }
            Err(e) => {
                assert_eq!(e.code(), "FERRY_ERR_CORRUPT", "{e}");
                corrupt += 1;
            }
        }
    }
    assert_eq!(corrupt, 1, "exactly the damaged batch fails");
    assert_eq!(
        log.read(offsets[1].0, 1).unwrap_err().code(),
        "FERRY_ERR_CORRUPT"
    );
}

#[test]
fn disk_full_maps_to_its_code() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        println!("skipped: /dev/full is not available here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The active segment file is /dev/full: every write fails with ENOSPC.
    std::os::unix::fs::symlink(full, dir.path().join(format!("{:020}.log", 0))).unwrap();
    let log = ferry_storage::SegmentLog::open(dir.path(), cfg(Durability::None)).unwrap();
    let err = log.append(&mut batch(1), 0).unwrap_err();
    assert_eq!(err.code(), "FERRY_ERR_DISK_FULL", "{err}");
    assert!(err.is_retriable());
    assert_eq!(log.next_offset(), 0, "a failed append assigns no offsets");
}

#[test]
fn permission_denied_maps_to_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root bypasses mode bits; drop this thread's filesystem uid (Linux
    // fsuid is per thread) so the check applies, then restore it.
    let as_root = unsafe { libc::geteuid() } == 0;
    let result = std::thread::spawn(move || {
        if as_root {
            unsafe { libc::setfsuid(65534) };
            if unsafe { libc::setfsuid(u32::MAX) } != 65534 {
                return None;
            }
        }
        let r = ferry_storage::SegmentLog::open(locked.join("shard"), cfg(Durability::None))
            .map(|_| ());
        if as_root {
            unsafe { libc::setfsuid(0) };
        }
        Some(r)
    })
    .join()
    .unwrap();
    match result {
        None => println!("skipped: cannot change the filesystem uid (no CAP_SETUID)"),
        Some(r) => {
            let err = r.unwrap_err();
            assert!(matches!(err, StorageError::Io { .. }));
            assert_eq!(err.code(), "FERRY_ERR_PERMISSION", "{err}");
        }
    }
}

#[test]
fn offsets_out_of_range_and_missing_shards() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (id, engine) in [
        (1, EngineKind::Memory),
        (2, EngineKind::Segment),
        (3, EngineKind::Rocks),
    ] {
        let log = store
            .create_shard(id, engine, cfg(Durability::None))
            .unwrap();
        log.append(&mut batch(1), 0).unwrap();
        let e = log.read(3, 100).unwrap_err();
        assert_eq!(e.code(), "FERRY_ERR_OFFSET_OUT_OF_RANGE");
        assert!(log.read(2, 100).unwrap().bytes.is_empty());
        let mut bad = batch(2);
        bad[30] ^= 1;
        assert_eq!(
            log.append(&mut bad, 0).unwrap_err().code(),
            "FERRY_ERR_INVALID_BATCH"
        );
    }
    assert_eq!(
        store.shard(99).err().map(|e| e.code()),
        Some("FERRY_ERR_SHARD_NOT_FOUND")
    );
}

/// A bad batch in the *active* segment that is followed by intact batches
/// is corruption of written data, not a torn tail: recovery keeps every
/// batch, reads of the damaged one report FERRY_ERR_CORRUPT, and the
/// acknowledged batches behind it stay readable (a torn-tail truncation
/// there would silently drop them).
#[test]
fn mid_segment_corruption_in_the_active_segment_is_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let seg_dir = dir.path().join("segments").join(format!("{:020}", 9));
    let mut offsets = Vec::new();
    {
        let store = Store::open(dir.path()).unwrap();
        let log = store
            .create_shard(9, EngineKind::Segment, cfg(Durability::Always))
            .unwrap();
        for i in 0..5 {
            let r = log.append(&mut batch(i), 0).unwrap();
            offsets.push((r.base_offset, r.last_offset));
        }
        store.close().unwrap();
    }
    let log_path = seg_dir.join(format!("{:020}.log", 0));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log_path)
        .unwrap();
    let size = f.metadata().unwrap().len();
    // A byte inside the first batch's records (covered by its CRC).
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 70).unwrap();
    f.write_all_at(&[b[0] ^ 0xff], 70).unwrap();

    let store = Store::open(dir.path()).unwrap();
    let log = store.shard(9).unwrap();
    assert_eq!(
        std::fs::metadata(&log_path).unwrap().len(),
        size,
        "nothing truncated"
    );
    assert_eq!(log.next_offset(), offsets.last().unwrap().1 + 1);
    assert_eq!(log.read(0, 1).unwrap_err().code(), "FERRY_ERR_CORRUPT");
    for &(base, last) in &offsets[1..] {
        let r = log.read(base, 1).unwrap();
        let (h, recs) = decode_batch(&r.bytes).unwrap();
        assert_eq!(
            (h.base_offset as u64, recs.len() as u64),
            (base, last - base + 1)
        );
    }
    // Appends continue after the recovered end.
    let r = log.append(&mut batch(99), 0).unwrap();
    assert_eq!(r.base_offset, offsets.last().unwrap().1 + 1);
}
