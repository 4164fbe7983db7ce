/// CRC-32C (Castagnoli), the checksum Kafka record batches and FerryMQ's own
/// segment batches use. Hardware-accelerated (SSE 4.2 / ARMv8) where present.
#[inline]
pub fn crc32c(bytes: &[u8]) -> u32 {
    ::crc32c::crc32c(bytes)
}

/// Continue a CRC-32C over another slice, so callers can checksum a header
/// and a body that do not sit next to each other without copying them.
#[inline]
pub fn crc32c_append(crc: u32, bytes: &[u8]) -> u32 {
    ::crc32c::crc32c_append(crc, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 3720 B.4 test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn append_equals_whole() {
        let data = b"hello, ferry";
        let (a, b) = data.split_at(5);
        assert_eq!(crc32c_append(crc32c(a), b), crc32c(data));
    }
}
