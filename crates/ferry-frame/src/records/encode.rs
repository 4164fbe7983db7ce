//! Encoding records into one uncompressed magic-2 batch. Both inputs
//! ([`Record`] slices and the packed format) go through one generic encoder
//! over [`Source`], so they produce byte-identical batches (a proptest checks
//! it). The header fields written here are listed in the parent module doc.

use super::packed::{packed_records, packed_records_with_values};
use super::varint::{put_varlong, varlong_len};
use super::{EncodedBatch, Record, RecordsError};
use crate::crc::crc32c;
use crate::record_batch::RECORD_BATCH_HEADER_LEN;

pub(super) const CRC_OFFSET: usize = 17;
pub(super) const CRC_COVERED_FROM: usize = 21;

/// The parts of a record the encoder needs, whatever the source.
pub(super) trait Source<'a> {
    fn timestamp_ms(&self) -> i64;
    fn key(&self) -> Option<&'a [u8]>;
    fn value(&self) -> Option<&'a [u8]>;
    fn header_count(&self) -> usize;
    fn for_each_header(&self, f: impl FnMut(&'a [u8], Option<&'a [u8]>));
}

impl<'a> Source<'a> for Record<'a> {
    fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }
    fn key(&self) -> Option<&'a [u8]> {
        self.key
    }
    fn value(&self) -> Option<&'a [u8]> {
        self.value
    }
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn for_each_header(&self, mut f: impl FnMut(&'a [u8], Option<&'a [u8]>)) {
        for (k, v) in self.headers {
            f(k, Some(v));
        }
    }
}

fn opt_len(b: Option<&[u8]>) -> i64 {
    b.map_or(-1, |b| b.len() as i64)
}

fn check_field(what: &'static str, len: usize) -> Result<(), RecordsError> {
    if len > i32::MAX as usize {
        return Err(RecordsError::TooLarge {
            what,
            size: len as u64,
        });
    }
    Ok(())
}

/// Encode one record body (after the length varint) length, checking sizes.
fn record_body_len<'a>(
    r: &impl Source<'a>,
    ts_delta: i64,
    offset_delta: i64,
) -> Result<usize, RecordsError> {
    let key = r.key();
    let value = r.value();
    check_field("key", key.map_or(0, <[u8]>::len))?;
    check_field("value", value.map_or(0, <[u8]>::len))?;
    let mut n = 1 + varlong_len(ts_delta) + varlong_len(offset_delta);
    n += varlong_len(opt_len(key)) + key.map_or(0, <[u8]>::len);
    n += varlong_len(opt_len(value)) + value.map_or(0, <[u8]>::len);
    n += varlong_len(r.header_count() as i64);
    let mut err = None;
    r.for_each_header(|k, v| {
        if k.len() > i32::MAX as usize || v.map_or(0, <[u8]>::len) > i32::MAX as usize {
            err = Some(RecordsError::TooLarge {
                what: "header",
                size: (k.len().max(v.map_or(0, <[u8]>::len))) as u64,
            });
        }
        n += varlong_len(k.len() as i64) + k.len();
        n += varlong_len(opt_len(v)) + v.map_or(0, <[u8]>::len);
    });
    if let Some(e) = err {
        return Err(e);
    }
    check_field("record", n)?;
    Ok(n)
}

fn put_opt_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    put_varlong(out, opt_len(b));
    if let Some(b) = b {
        out.extend_from_slice(b);
    }
}

fn encode_from<'a, S: Source<'a>>(
    records: impl Iterator<Item = Result<S, RecordsError>> + Clone,
    out: &mut Vec<u8>,
) -> Result<EncodedBatch, RecordsError> {
    // First pass: timestamps, counts and the total size, so the output is
    // reserved once and written without reallocation.
    let mut count: usize = 0;
    let mut base_ts = 0i64;
    let mut max_ts = i64::MIN;
    let mut body = 0usize;
    for r in records.clone() {
        let r = r?;
        if count == 0 {
            base_ts = r.timestamp_ms();
        }
        max_ts = max_ts.max(r.timestamp_ms());
        let n = record_body_len(&r, r.timestamp_ms().wrapping_sub(base_ts), count as i64)?;
        body += varlong_len(n as i64) + n;
        count += 1;
    }
    if count == 0 {
        return Err(RecordsError::Empty);
    }
    let total = RECORD_BATCH_HEADER_LEN + body;
    if total > i32::MAX as usize || count > i32::MAX as usize {
        return Err(RecordsError::TooLarge {
            what: "batch",
            size: total as u64,
        });
    }
    let start = out.len();
    out.reserve(total);
    out.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    out.extend_from_slice(&((total - 12) as i32).to_be_bytes()); // batchLength
    out.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
    out.push(2); // magic
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&0i16.to_be_bytes()); // attributes
    out.extend_from_slice(&((count - 1) as i32).to_be_bytes()); // lastOffsetDelta
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    out.extend_from_slice(&(count as i32).to_be_bytes());
    for (i, r) in records.enumerate() {
        let r = r?;
        let ts_delta = r.timestamp_ms().wrapping_sub(base_ts);
        let n = record_body_len(&r, ts_delta, i as i64)?;
        put_varlong(out, n as i64);
        out.push(0); // attributes
        put_varlong(out, ts_delta);
        put_varlong(out, i as i64);
        put_opt_bytes(out, r.key());
        put_opt_bytes(out, r.value());
        put_varlong(out, r.header_count() as i64);
        r.for_each_header(|k, v| {
            put_varlong(out, k.len() as i64);
            out.extend_from_slice(k);
            put_opt_bytes(out, v);
        });
    }
    // Paired assertion: the two passes must agree on the size (a bug otherwise).
    debug_assert_eq!(out.len() - start, total);
    let crc = crc32c(&out[start + CRC_COVERED_FROM..]);
    out[start + CRC_OFFSET..start + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(EncodedBatch {
        record_count: count as u32,
        base_timestamp: base_ts,
        max_timestamp: max_ts,
        len: total as u32,
    })
}

/// Append one uncompressed magic-2 batch holding `records` to `out`.
pub fn encode_batch(
    records: &[Record<'_>],
    out: &mut Vec<u8>,
) -> Result<EncodedBatch, RecordsError> {
    encode_from(records.iter().map(|r| Ok(*r)), out)
}

/// Parse packed records (bounds-checked) and append one uncompressed
/// magic-2 batch holding them all to `out`. No per-record allocation.
pub fn encode_packed(packed: &[u8], out: &mut Vec<u8>) -> Result<EncodedBatch, RecordsError> {
    encode_from(packed_records(packed), out)
}

/// [`encode_packed`] for packed records that may name values out of line
/// (`value_len` -2 and an index into `values`; see the module doc): each
/// such value is copied once, straight into the batch.
pub fn encode_packed_with_values(
    packed: &[u8],
    values: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<EncodedBatch, RecordsError> {
    encode_from(packed_records_with_values(packed, values), out)
}
