use super::encode::{CRC_COVERED_FROM, CRC_OFFSET};
use super::*;
use crate::crc::crc32c;
use crate::record_batch::{self, RECORD_BATCH_HEADER_LEN};
use proptest::prelude::*;

type Owned = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Vec<u8>)>,
);

fn owned() -> impl Strategy<Value = Owned> {
    (
        any::<i64>(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..10),
                proptest::collection::vec(any::<u8>(), 0..10),
            ),
            0..4,
        ),
    )
}

/// [`pack`], but each non-null value goes out of line (`value_len` -2 and
/// its index), in reverse order so indexes are not simply positions.
fn pack_out_of_line(recs: &[Owned]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let n = recs.iter().filter(|r| r.2.is_some()).count() as u32;
    let mut values = Vec::new();
    let mut p = Vec::new();
    for (ts, k, v, hs) in recs {
        p.extend_from_slice(&ts.to_le_bytes());
        match k {
            None => p.extend_from_slice(&(-1i32).to_le_bytes()),
            Some(b) => {
                p.extend_from_slice(&(b.len() as i32).to_le_bytes());
                p.extend_from_slice(b);
            }
        }
        match v {
            None => p.extend_from_slice(&(-1i32).to_le_bytes()),
            Some(b) => {
                p.extend_from_slice(&(-2i32).to_le_bytes());
                p.extend_from_slice(&(n - 1 - values.len() as u32).to_le_bytes());
                values.push(b.clone());
            }
        }
        p.extend_from_slice(&(hs.len() as u32).to_le_bytes());
        for (hk, hv) in hs {
            p.extend_from_slice(&(hk.len() as u32).to_le_bytes());
            p.extend_from_slice(hk);
            p.extend_from_slice(&(hv.len() as i32).to_le_bytes());
            p.extend_from_slice(hv);
        }
    }
    values.reverse();
    (p, values)
}

#[test]
fn out_of_line_value_references_are_checked() {
    let mut p = Vec::new();
    p.extend_from_slice(&1i64.to_le_bytes());
    p.extend_from_slice(&(-1i32).to_le_bytes());
    p.extend_from_slice(&(-2i32).to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes());
    let mut out = Vec::new();
    // Index 1 with one value given; and no values at all (plain packed).
    assert!(matches!(
        encode_packed_with_values(&p, &[b"v"], &mut out),
        Err(RecordsError::Packed { at: 16, .. })
    ));
    assert!(matches!(
        encode_packed(&p, &mut out),
        Err(RecordsError::Packed { .. })
    ));
    // -2 is a value-only marker: as a key length it is malformed.
    let mut k = p.clone();
    k[8..12].copy_from_slice(&(-2i32).to_le_bytes());
    assert!(matches!(
        encode_packed_with_values(&k, &[b"v", b"w"], &mut out),
        Err(RecordsError::Packed { .. })
    ));
    encode_packed_with_values(&p, &[b"v", b"w"], &mut out).unwrap();
    let (_, d) = decode_batch(&out).unwrap();
    assert_eq!(d[0].value, Some(&b"w"[..]));
}

fn pack(recs: &[Owned]) -> Vec<u8> {
    let mut p = Vec::new();
    for (ts, k, v, hs) in recs {
        p.extend_from_slice(&ts.to_le_bytes());
        for b in [k, v] {
            match b {
                None => p.extend_from_slice(&(-1i32).to_le_bytes()),
                Some(b) => {
                    p.extend_from_slice(&(b.len() as i32).to_le_bytes());
                    p.extend_from_slice(b);
                }
            }
        }
        p.extend_from_slice(&(hs.len() as u32).to_le_bytes());
        for (hk, hv) in hs {
            p.extend_from_slice(&(hk.len() as u32).to_le_bytes());
            p.extend_from_slice(hk);
            p.extend_from_slice(&(hv.len() as i32).to_le_bytes());
            p.extend_from_slice(hv);
        }
    }
    p
}

fn check_same(recs: &[Owned], decoded: &[DecodedRecord<'_>]) {
    assert_eq!(recs.len(), decoded.len());
    for (i, ((ts, k, v, hs), d)) in recs.iter().zip(decoded).enumerate() {
        assert_eq!(d.offset, i as i64);
        assert_eq!(d.timestamp_ms, *ts);
        assert_eq!(d.key, k.as_deref());
        assert_eq!(d.value, v.as_deref());
        let dh: Vec<(Vec<u8>, Option<Vec<u8>>)> = d
            .headers
            .iter()
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect();
        let eh: Vec<(Vec<u8>, Option<Vec<u8>>)> = hs
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        assert_eq!(dh, eh);
    }
}

#[test]
fn known_record_bytes() {
    // One record, key "k", value "v", no headers, ts = base.
    let mut out = Vec::new();
    let r = Record {
        timestamp_ms: 1000,
        key: Some(b"k"),
        value: Some(b"v"),
        headers: &[],
    };
    let e = encode_batch(&[r], &mut out).unwrap();
    assert_eq!(e.record_count, 1);
    // length=8 -> zigzag 16, attrs 0, tsDelta 0, offDelta 0, keyLen 1 -> 2, 'k', valLen 2, 'v', hc 0
    assert_eq!(
        &out[RECORD_BATCH_HEADER_LEN..],
        &[16, 0, 0, 0, 2, b'k', 2, b'v', 0]
    );
    let h = record_batch::parse(&out).unwrap();
    assert_eq!(h.producer_id, -1);
    assert_eq!(h.producer_epoch, -1);
    assert_eq!(h.base_sequence, -1);
    assert_eq!(h.base_timestamp, 1000);
    assert_eq!(h.max_timestamp, 1000);
}

#[test]
fn null_key_value_and_header_value() {
    let mut p = Vec::new();
    p.extend_from_slice(&5i64.to_le_bytes());
    p.extend_from_slice(&(-1i32).to_le_bytes());
    p.extend_from_slice(&(-1i32).to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&2u32.to_le_bytes());
    p.extend_from_slice(b"hk");
    p.extend_from_slice(&(-1i32).to_le_bytes());
    let mut out = Vec::new();
    encode_packed(&p, &mut out).unwrap();
    let (_, d) = decode_batch(&out).unwrap();
    assert_eq!(d[0].key, None);
    assert_eq!(d[0].value, None);
    assert_eq!(d[0].headers, vec![(&b"hk"[..], None)]);
}

#[test]
fn empty_and_compressed_and_truncated_packed() {
    let mut out = Vec::new();
    assert_eq!(encode_batch(&[], &mut out), Err(RecordsError::Empty));
    assert_eq!(encode_packed(&[], &mut out), Err(RecordsError::Empty));
    let p = pack(&[(1, Some(b"key".to_vec()), Some(b"value".to_vec()), vec![])]);
    for cut in 1..p.len() {
        assert!(
            matches!(
                encode_packed(&p[..cut], &mut out),
                Err(RecordsError::Packed { .. })
            ),
            "cut {cut}"
        );
    }
    assert!(out.is_empty(), "failed encodes leave the output untouched");
    let c = crate::record_batch::tests::build(b"whatever", 1, 0x04);
    assert_eq!(
        decode_batch(&c).map(|_| ()),
        Err(RecordsError::Compressed(4))
    );
}

#[test]
fn decodes_after_offset_patch() {
    let mut out = Vec::new();
    let recs = [
        Record {
            timestamp_ms: 10,
            key: None,
            value: Some(b"a"),
            headers: &[],
        },
        Record {
            timestamp_ms: 5,
            key: None,
            value: Some(b"b"),
            headers: &[(b"qos", b"1")],
        },
    ];
    encode_batch(&recs, &mut out).unwrap();
    record_batch::patch(&mut out, 100, 3).unwrap();
    let (h, d) = decode_batch(&out).unwrap();
    assert_eq!(h.max_timestamp, 10);
    assert_eq!(h.last_offset_delta, 1);
    assert_eq!(d[1].offset, 101);
    assert_eq!(d[1].timestamp_ms, 5);
    assert_eq!(d[1].headers, vec![(&b"qos"[..], Some(&b"1"[..]))]);
}

proptest! {
    #[test]
    fn roundtrip(recs in proptest::collection::vec(owned(), 1..20)) {
        let hs: Vec<Vec<(&[u8], &[u8])>> = recs.iter().map(|(_, _, _, h)| h.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect()).collect();
        let rs: Vec<Record<'_>> = recs.iter().zip(&hs).map(|((ts, k, v, _), h)| Record { timestamp_ms: *ts, key: k.as_deref(), value: v.as_deref(), headers: h }).collect();
        let mut a = Vec::new();
        let e = encode_batch(&rs, &mut a).unwrap();
        prop_assert_eq!(e.len as usize, a.len());
        let (h, d) = decode_batch(&a).unwrap();
        prop_assert_eq!(h.record_count as usize, recs.len());
        prop_assert_eq!(h.max_timestamp, recs.iter().map(|r| r.0).max().unwrap());
        check_same(&recs, &d);
        // The packed path produces byte-identical batches.
        let mut b = Vec::new();
        encode_packed(&pack(&recs), &mut b).unwrap();
        prop_assert_eq!(&a, &b);
        // So does the packed path with every non-null value out of line.
        let (p, values) = pack_out_of_line(&recs);
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let mut c = Vec::new();
        encode_packed_with_values(&p, &refs, &mut c).unwrap();
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn packed_with_values_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), n in 0usize..3) {
        let values = vec![&b"out-of-line"[..]; n];
        let mut out = Vec::new();
        if encode_packed_with_values(&bytes, &values, &mut out).is_ok() {
            prop_assert!(decode_batch(&out).is_ok());
        }
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_batch(&bytes);
    }

    #[test]
    fn decode_never_panics_on_valid_crc(records in proptest::collection::vec(any::<u8>(), 0..200), count in -2i32..50) {
        // Valid header and CRC around arbitrary record bytes.
        let b = crate::record_batch::tests::build(&records, count, 0);
        let _ = decode_batch(&b);
    }

    #[test]
    fn packed_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut out = Vec::new();
        if encode_packed(&bytes, &mut out).is_ok() {
            prop_assert!(decode_batch(&out).is_ok());
        }
    }

    #[test]
    fn mutated_batch_never_panics(recs in proptest::collection::vec(owned(), 1..5), pos in any::<usize>(), byte in any::<u8>()) {
        let mut out = Vec::new();
        encode_packed(&pack(&recs), &mut out).unwrap();
        let i = RECORD_BATCH_HEADER_LEN + pos % (out.len() - RECORD_BATCH_HEADER_LEN);
        out[i] = byte;
        let crc = crc32c(&out[CRC_COVERED_FROM..]);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let _ = decode_batch(&out);
    }
}
