//! Decoding the records of an uncompressed magic-2 batch, borrowing keys,
//! values and headers from it. Every read is bounds-checked against the
//! record's declared length, and allocations are capped by the batch size
//! rather than by the counts it claims.

use super::varint::{get_varint, get_varlong};
use super::{DecodedRecord, RecordsError};
use crate::record_batch::{self, RecordBatchHeader, RECORD_BATCH_HEADER_LEN};

/// Check `buf`'s first batch (length, magic, CRC) and decode its records.
/// Compressed batches return [`RecordsError::Compressed`].
pub fn decode_batch(
    buf: &[u8],
) -> Result<(RecordBatchHeader, Vec<DecodedRecord<'_>>), RecordsError> {
    let h = record_batch::parse(buf)?;
    let codec = h.compression();
    if codec != 0 {
        return Err(RecordsError::Compressed(codec));
    }
    let end = h.total_len as usize;
    let body = &buf[..end];
    let mut at = RECORD_BATCH_HEADER_LEN;
    // Each record needs at least 7 bytes, which bounds the allocation by the
    // batch size whatever recordCount claims.
    let cap = (h.record_count as usize).min((end - at) / 7);
    let mut out = Vec::with_capacity(cap);
    let bad = |at: usize, reason| RecordsError::Malformed {
        at: at as u64,
        reason,
    };
    for _ in 0..h.record_count {
        let rec_start = at;
        let len = get_varint(body, &mut at).ok_or_else(|| bad(rec_start, "record length"))?;
        if len < 0 {
            return Err(bad(rec_start, "negative record length"));
        }
        let rec_end = at
            .checked_add(len as usize)
            .filter(|e| *e <= end)
            .ok_or_else(|| bad(rec_start, "record runs past the batch"))?;
        let rec = &body[..rec_end];
        if rec.get(at).is_none() {
            return Err(bad(at, "missing attributes"));
        }
        at += 1; // attributes
        let ts_delta = get_varlong(rec, &mut at).ok_or_else(|| bad(at, "timestamp delta"))?;
        let offset_delta = get_varint(rec, &mut at).ok_or_else(|| bad(at, "offset delta"))?;
        let key = get_opt_bytes(rec, &mut at).ok_or_else(|| bad(at, "key"))?;
        let value = get_opt_bytes(rec, &mut at).ok_or_else(|| bad(at, "value"))?;
        let hcount = get_varint(rec, &mut at).ok_or_else(|| bad(at, "header count"))?;
        if hcount < 0 {
            return Err(bad(at, "negative header count"));
        }
        let mut headers = Vec::with_capacity((hcount as usize).min((rec_end - at) / 2));
        for _ in 0..hcount {
            let k = get_opt_bytes(rec, &mut at).ok_or_else(|| bad(at, "header key"))?;
            let k = k.ok_or_else(|| bad(at, "null header key"))?;
            let v = get_opt_bytes(rec, &mut at).ok_or_else(|| bad(at, "header value"))?;
            headers.push((k, v));
        }
        if at != rec_end {
            return Err(bad(at, "record length does not match its fields"));
        }
        out.push(DecodedRecord {
            offset: h.base_offset.wrapping_add(i64::from(offset_delta)),
            // LogAppendTime batches carry the broker time in maxTimestamp.
            timestamp_ms: if h.log_append_time() {
                h.max_timestamp
            } else {
                h.base_timestamp.wrapping_add(ts_delta)
            },
            key,
            value,
            headers,
        });
    }
    if at != end {
        return Err(bad(at, "bytes after the last record"));
    }
    Ok((h, out))
}

fn get_opt_bytes<'a>(buf: &'a [u8], at: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = get_varint(buf, at)?;
    if len < -1 {
        return None;
    }
    if len == -1 {
        return Some(None);
    }
    let end = at.checked_add(len as usize)?;
    let b = buf.get(*at..end)?;
    *at = end;
    Some(Some(b))
}
