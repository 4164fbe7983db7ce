//! Rough single-process throughput numbers, not a benchmark suite (the
//! benchmarks are driven from Node). Run with:
//! `cargo test --release -p ferry-storage --test throughput -- --ignored --nocapture`

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use ferry_frame::records::{encode_batch, Record};
use ferry_storage::{Durability, EngineKind, ShardConfig, Store};

fn batch(records: usize, value_bytes: usize) -> Vec<u8> {
    let v = vec![b'x'; value_bytes];
    let recs: Vec<Record<'_>> = (0..records)
        .map(|i| Record {
            timestamp_ms: i as i64,
            key: None,
            value: Some(&v),
            headers: &[],
        })
        .collect();
    let mut out = Vec::new();
    encode_batch(&recs, &mut out).unwrap();
    out
}

#[test]
#[ignore = "prints timings; run explicitly"]
fn append_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let template = batch(10, 100);
    for (id, engine, durability, threads, n) in [
        (
            1u64,
            EngineKind::Memory,
            Durability::None,
            1usize,
            200_000usize,
        ),
        (2, EngineKind::Segment, Durability::None, 1, 200_000),
        (3, EngineKind::Segment, Durability::Always, 1, 2_000),
        (4, EngineKind::Segment, Durability::Always, 8, 2_000),
        (5, EngineKind::Rocks, Durability::None, 1, 50_000),
        (6, EngineKind::Rocks, Durability::Always, 8, 2_000),
    ] {
        let cfg = ShardConfig {
            durability,
            ring_bytes_max: 1 << 30,
            ..Default::default()
        };
        let log = store.create_shard(id, engine, cfg).unwrap();
        let start = Instant::now();
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                let (log, template) = (log.clone(), template.clone());
                std::thread::spawn(move || {
                    let mut b = template.clone();
                    for _ in 0..n / threads {
                        log.append(&mut b, 0).unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let el = start.elapsed();
        let per = el / n as u32;
        println!(
            "{engine:?} {durability:?} threads={threads}: {n} appends of {} B in {el:?} ({per:?}/append, {:.0} MB/s)",
            template.len(),
            (n * template.len()) as f64 / el.as_secs_f64() / 1e6
        );
        let read_start = Instant::now();
        let mut at = log.earliest_offset();
        let mut bytes = 0usize;
        while at < log.next_offset() {
            let r = log.read(at, 1 << 20).unwrap();
            bytes += r.bytes.len();
            let (h, _) =
                ferry_frame::records::decode_batch(&r.bytes[r.bytes.len() - template.len()..])
                    .unwrap();
            at = h.base_offset as u64 + h.last_offset_delta as u64 + 1;
        }
        println!("  read back {bytes} B in {:?}", read_start.elapsed());
    }
}
