//! The packed-records input JavaScript builds in one `Buffer` (format in
//! the parent module doc). Every length is checked against the buffer before
//! any byte is borrowed, so malformed input yields [`RecordsError::Packed`]
//! with the failing position, never a panic.

use super::encode::Source;
use super::RecordsError;

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

/// `value_len` of a value passed out of line.
const OUT_OF_LINE: i32 = -2;

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
    /// Out-of-line values (`value_len` -2) are `values[value_ref]`.
    values: &'a [&'a [u8]],
    at: usize,
    failed: bool,
}

/// Iterate the records in a packed buffer (format in the module doc).
pub fn packed_records(buf: &[u8]) -> PackedIter<'_> {
    packed_records_with_values(buf, &[])
}

/// [`packed_records`] where records may name their value out of line
/// (`value_len` -2, then a u32 index into `values`), so a large value is
/// read where the caller keeps it instead of being copied into `buf` first.
pub fn packed_records_with_values<'a>(buf: &'a [u8], values: &'a [&'a [u8]]) -> PackedIter<'a> {
    PackedIter {
        buf,
        values,
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

    /// A value field: inline like any field, or (-2) out of line.
    fn value_bytes(&self, at: &mut usize) -> Result<Option<&'a [u8]>, (usize, &'static str)> {
        if le_i32(self.buf, *at) != Some(OUT_OF_LINE) {
            return self.opt_bytes(at, "truncated value length");
        }
        let i = le_u32(self.buf, *at + 4).ok_or((*at + 4, "truncated value reference"))?;
        let v = self
            .values
            .get(i as usize)
            .ok_or((*at + 4, "value reference past the values given"))?;
        *at += 8;
        Ok(Some(v))
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
        let value = self.value_bytes(&mut at)?;
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
