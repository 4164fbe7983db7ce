//! Zigzag varints as the Kafka record format uses them (see the record
//! layout in the parent module). Readers take a byte cap (5 for a varint, 10
//! for a varlong) so a run of continuation bytes never reads past it.

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
pub(super) fn varlong_len(v: i64) -> usize {
    varint_len_u64(zigzag64(v))
}

#[inline]
pub(super) fn put_varlong(out: &mut Vec<u8>, v: i64) {
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

pub(super) fn get_varint(buf: &[u8], at: &mut usize) -> Option<i32> {
    let v = get_zigzag(buf, at, 5)?;
    i32::try_from(v).ok()
}

pub(super) fn get_varlong(buf: &[u8], at: &mut usize) -> Option<i64> {
    get_zigzag(buf, at, 10)
}
