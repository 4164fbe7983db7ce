//! Records inside an uncompressed Kafka magic-2 batch: encode natively
//! (MQTT publishes, internal API) and decode back, borrowing from the batch.
//!
//! FerryMQ stores every stream as magic-2 record batches, so data published
//! over MQTT is encoded here once and a Kafka consumer fetches it unchanged.
//!
//! # Record format (Kafka `DefaultRecord`, KIP-98)
//!
//! ```text
//! length          varint  (zigzag) bytes after this field
//! attributes      i8      unused, 0
//! timestampDelta  varlong (zigzag) timestamp - batch baseTimestamp
//! offsetDelta     varint  (zigzag) position in the batch
//! keyLength       varint  (zigzag) -1 = null key
//! key             bytes
//! valueLength     varint  (zigzag) -1 = null value
//! value           bytes
//! headersCount    varint  (zigzag)
//! headers:  headerKeyLength varint, headerKey bytes,
//!           headerValueLength varint (-1 = null), headerValue bytes
//! ```
//!
//! Batches built here have producerId -1, producerEpoch -1, baseSequence -1,
//! partitionLeaderEpoch -1, baseOffset 0 (the log patches it), attributes 0
//! (no compression, create time), baseTimestamp = first record's timestamp,
//! maxTimestamp = the largest, and a filled CRC-32C.
//!
//! # Packed records (the input JavaScript builds in one `Buffer`)
//!
//! All integers little-endian; records back to back until the buffer ends:
//!
//! ```text
//! record := timestamp_ms  i64
//!           key_len       i32   -1 = null key, else byte count
//!           key           key_len bytes
//!           value_len     i32   -1 = null value
//!           value         value_len bytes
//!           header_count  u32
//!           header*       header_count times
//! header := hkey_len      u32
//!           hkey          hkey_len bytes
//!           hvalue_len    i32   -1 = null value
//!           hvalue        hvalue_len bytes
//! ```
//!
//! In JS: `buf.writeBigInt64LE`, `writeInt32LE`, `writeUInt32LE` and
//! `buf.set(bytes, pos)` into one preallocated Buffer. [`encode_packed`]
//! checks every length against the buffer before touching bytes and returns
//! [`RecordsError::Packed`] with the failing position otherwise.
//!
//! # Errors
//!
//! [`RecordsError`] is separate from [`FrameError`] (which it wraps) so the
//! frame-level enum the binding matches on exhaustively stays unchanged.
//! Nothing here panics on input bytes: every read is bounds-checked, and the
//! proptests feed arbitrary bytes to both decoders.

use crate::crc::crc32c;
use crate::error::FrameError;
use crate::record_batch::{self, RecordBatchHeader, RECORD_BATCH_HEADER_LEN};
use thiserror::Error;

const CRC_OFFSET: usize = 17;
const CRC_COVERED_FROM: usize = 21;

/// Why records could not be encoded or decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordsError {
    /// The batch header itself is bad (length, magic, CRC, counts).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The batch is compressed with this codec (1 gzip, 2 snappy, 3 lz4,
    /// 4 zstd); FerryMQ stores such batches as they are but does not
    /// decompress them natively.
    #[error(
        "record batch is compressed with codec {0}; only uncompressed batches decode natively"
    )]
    Compressed(u8),
    /// A record inside an otherwise valid batch is malformed.
    #[error("malformed record at byte {at}: {reason}")]
    Malformed { at: u64, reason: &'static str },
    /// The packed-records input is malformed.
    #[error("malformed packed records at byte {at}: {reason}")]
    Packed { at: u64, reason: &'static str },
    /// A batch must hold at least one record.
    #[error("a record batch needs at least one record")]
    Empty,
    /// A field, record or batch would not fit the format's i32 lengths.
    #[error("{what} of {size} bytes exceeds the format limit")]
    TooLarge { what: &'static str, size: u64 },
}

/// One record to encode. Header values are never null here; use the packed
/// format to encode null header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a [u8], &'a [u8])],
}

/// One record decoded from a batch, borrowing its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord<'a> {
    /// Absolute offset: the batch's baseOffset + offsetDelta.
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
}

/// What [`encode_batch`] / [`encode_packed`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedBatch {
    pub record_count: u32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    /// Bytes appended to the output vector.
    pub len: u32,
}

// ---- varints ---------------------------------------------------------------

#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn varint_len_u64(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[inline]
fn varlong_len(v: i64) -> usize {
    varint_len_u64(zigzag64(v))
}

#[inline]
fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = zigzag64(v);
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Read a zigzag varint of at most `max_bytes` bytes (5 for varint, 10 for
/// varlong) at `*at`, advancing it.
#[inline]
fn get_zigzag(buf: &[u8], at: &mut usize, max_bytes: usize) -> Option<i64> {
    let mut result: u64 = 0;
    let mut shift = 0u32;
    for i in 0..max_bytes {
        let b = *buf.get(*at + i)?;
        result |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            *at += i + 1;
            return Some(((result >> 1) as i64) ^ -((result & 1) as i64));
        }
        shift += 7;
    }
    None
}

fn get_varint(buf: &[u8], at: &mut usize) -> Option<i32> {
    let v = get_zigzag(buf, at, 5)?;
    i32::try_from(v).ok()
}

fn get_varlong(buf: &[u8], at: &mut usize) -> Option<i64> {
    get_zigzag(buf, at, 10)
}

// ---- encoding --------------------------------------------------------------

/// The parts of a record the encoder needs, whatever the source.
trait Source<'a> {
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

// ---- packed input ----------------------------------------------------------

/// One record parsed from the packed format, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedRecord<'a> {
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    header_count: u32,
    /// Raw, already bounds-checked header bytes in the packed format.
    headers_raw: &'a [u8],
}

impl<'a> PackedRecord<'a> {
    pub fn header_count(&self) -> u32 {
        self.header_count
    }
    /// Headers as (key, value); value `None` is a null header value.
    pub fn headers(&self) -> PackedHeaders<'a> {
        PackedHeaders {
            raw: self.headers_raw,
            at: 0,
            left: self.header_count,
        }
    }
}

/// Iterator over a [`PackedRecord`]'s headers.
#[derive(Debug, Clone)]
pub struct PackedHeaders<'a> {
    raw: &'a [u8],
    at: usize,
    left: u32,
}

impl<'a> Iterator for PackedHeaders<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        // The bytes were validated by `PackedIter`; a failure here ends the
        // iteration rather than panicking.
        let mut at = self.at;
        let klen = le_u32(self.raw, at)? as usize;
        at += 4;
        let k = self.raw.get(at..at + klen)?;
        at += klen;
        let vlen = le_i32(self.raw, at)?;
        at += 4;
        let v = if vlen < 0 {
            None
        } else {
            let v = self.raw.get(at..at + vlen as usize)?;
            at += vlen as usize;
            Some(v)
        };
        self.at = at;
        self.left -= 1;
        Some((k, v))
    }
}

impl<'a> Source<'a> for PackedRecord<'a> {
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
        self.header_count as usize
    }
    fn for_each_header(&self, mut f: impl FnMut(&'a [u8], Option<&'a [u8]>)) {
        for (k, v) in self.headers() {
            f(k, v);
        }
    }
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    le_u32(b, at).map(|v| v as i32)
}
fn le_i64(b: &[u8], at: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(i64::from_le_bytes(a))
}

/// Iterator over the records of a packed buffer; yields an error (once) at
/// the first malformed record, then stops.
#[derive(Debug, Clone)]
pub struct PackedIter<'a> {
    buf: &'a [u8],
    at: usize,
    failed: bool,
}

/// Iterate the records in a packed buffer (format in the module doc).
pub fn packed_records(buf: &[u8]) -> PackedIter<'_> {
    PackedIter {
        buf,
        at: 0,
        failed: false,
    }
}

impl<'a> PackedIter<'a> {
    fn err(
        &mut self,
        at: usize,
        reason: &'static str,
    ) -> Option<Result<PackedRecord<'a>, RecordsError>> {
        self.failed = true;
        Some(Err(RecordsError::Packed {
            at: at as u64,
            reason,
        }))
    }

    fn opt_bytes(
        &self,
        at: &mut usize,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>, (usize, &'static str)> {
        let len = le_i32(self.buf, *at).ok_or((*at, what))?;
        *at += 4;
        if len < -1 {
            return Err((*at - 4, "negative length other than -1"));
        }
        if len == -1 {
            return Ok(None);
        }
        let end = at.checked_add(len as usize).ok_or((*at, what))?;
        let b = self
            .buf
            .get(*at..end)
            .ok_or((*at, "length runs past the buffer"))?;
        *at = end;
        Ok(Some(b))
    }

    fn parse_one(&self, start: usize) -> Result<(PackedRecord<'a>, usize), (usize, &'static str)> {
        let mut at = start;
        let timestamp_ms = le_i64(self.buf, at).ok_or((at, "truncated timestamp"))?;
        at += 8;
        let key = self.opt_bytes(&mut at, "truncated key length")?;
        let value = self.opt_bytes(&mut at, "truncated value length")?;
        let header_count = le_u32(self.buf, at).ok_or((at, "truncated header count"))?;
        at += 4;
        let headers_start = at;
        for _ in 0..header_count {
            let klen = le_u32(self.buf, at).ok_or((at, "truncated header key length"))?;
            at += 4;
            let end = at
                .checked_add(klen as usize)
                .ok_or((at, "header key length overflow"))?;
            if end > self.buf.len() {
                return Err((at, "header key runs past the buffer"));
            }
            at = end;
            self.opt_bytes(&mut at, "truncated header value length")?;
        }
        let rec = PackedRecord {
            timestamp_ms,
            key,
            value,
            header_count,
            headers_raw: &self.buf[headers_start..at],
        };
        Ok((rec, at))
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = Result<PackedRecord<'a>, RecordsError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.buf.len() {
            return None;
        }
        match self.parse_one(self.at) {
            Ok((rec, next)) => {
                self.at = next;
                Some(Ok(rec))
            }
            Err((at, reason)) => self.err(at, reason),
        }
    }
}

/// Parse packed records (bounds-checked) and append one uncompressed
/// magic-2 batch holding them all to `out`. No per-record allocation.
pub fn encode_packed(packed: &[u8], out: &mut Vec<u8>) -> Result<EncodedBatch, RecordsError> {
    encode_from(packed_records(packed), out)
}

// ---- decoding --------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;
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
            prop_assert_eq!(a, b);
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
}
