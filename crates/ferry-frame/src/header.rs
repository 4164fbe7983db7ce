//! Frame boundaries for MQTT (fixed header + variable-length remaining
//! length) and Kafka (4-byte big-endian size prefix).
//!
//! Both functions look only at the prefix of a byte stream and say whether a
//! whole frame is present, so the network layer can slice frames out of its
//! read buffer without copying and without a second parse.

use crate::error::FrameError;

/// Where the next frame sits in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameBoundary {
    /// Bytes of framing before the body (MQTT fixed header, Kafka size).
    pub header_len: u32,
    /// Total bytes of the frame, header included.
    pub frame_len: u64,
}

/// Maximum value of an MQTT variable byte integer (four bytes), 2.2.3.
pub const MQTT_REMAINING_LENGTH_MAX: u64 = 268_435_455;

/// Decode the MQTT fixed header at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, the boundary when the fixed
/// header is complete (the body may still be arriving: compare `frame_len`
/// with the bytes held), or an error for a remaining length longer than four
/// bytes or a frame over `max_bytes`.
pub fn mqtt_frame(buf: &[u8], max_bytes: u64) -> Result<Option<FrameBoundary>, FrameError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    for i in 0..4usize {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            let header_len = 2 + i as u32;
            let frame_len = u64::from(header_len) + value;
            if frame_len > max_bytes {
                return Err(FrameError::TooLarge {
                    size: frame_len,
                    max_bytes,
                });
            }
            return Ok(Some(FrameBoundary {
                header_len,
                frame_len,
            }));
        }
        shift += 7;
    }
    Err(FrameError::MalformedRemainingLength)
}

/// Decode the Kafka size prefix at the start of `buf`.
pub fn kafka_frame(buf: &[u8], max_bytes: u64) -> Result<Option<FrameBoundary>, FrameError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    let frame_len = 4 + size as u64;
    if frame_len > max_bytes {
        return Err(FrameError::TooLarge {
            size: frame_len,
            max_bytes,
        });
    }
    Ok(Some(FrameBoundary {
        header_len: 4,
        frame_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mqtt_lengths_from_the_spec_table() {
        // 2.2.3: boundaries of the 1..4 byte encodings.
        let cases: [(&[u8], u32, u64); 8] = [
            (&[0x30, 0x00], 2, 0),
            (&[0x30, 0x7F], 2, 127),
            (&[0x30, 0x80, 0x01], 3, 128),
            (&[0x30, 0xFF, 0x7F], 3, 16_383),
            (&[0x30, 0x80, 0x80, 0x01], 4, 16_384),
            (&[0x30, 0xFF, 0xFF, 0x7F], 4, 2_097_151),
            (&[0x30, 0x80, 0x80, 0x80, 0x01], 5, 2_097_152),
            (&[0x30, 0xFF, 0xFF, 0xFF, 0x7F], 5, 268_435_455),
        ];
        for (bytes, header_len, remaining) in cases {
            let b = mqtt_frame(bytes, u64::MAX).unwrap().unwrap();
            assert_eq!(b.header_len, header_len);
            assert_eq!(b.frame_len, u64::from(header_len) + remaining);
        }
    }

    #[test]
    fn mqtt_incomplete_and_malformed() {
        assert_eq!(mqtt_frame(&[0x30], 1024), Ok(None));
        assert_eq!(mqtt_frame(&[0x30, 0x80], 1024), Ok(None));
        assert_eq!(
            mqtt_frame(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], u64::MAX),
            Err(FrameError::MalformedRemainingLength)
        );
        assert_eq!(
            mqtt_frame(&[0x30, 0x7F], 100),
            Err(FrameError::TooLarge {
                size: 129,
                max_bytes: 100
            })
        );
    }

    #[test]
    fn kafka_prefix() {
        assert_eq!(kafka_frame(&[0, 0, 0], 100), Ok(None));
        assert_eq!(
            kafka_frame(&[0, 0, 0, 10], 100),
            Ok(Some(FrameBoundary {
                header_len: 4,
                frame_len: 14
            }))
        );
        assert_eq!(
            kafka_frame(&[0xFF, 0xFF, 0xFF, 0xFF], 100),
            Err(FrameError::NegativeSize(-1))
        );
        assert!(matches!(
            kafka_frame(&[0, 0, 1, 0], 100),
            Err(FrameError::TooLarge { .. })
        ));
    }

    proptest! {
        #[test]
        fn mqtt_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..8), max in any::<u64>()) {
            let _ = mqtt_frame(&bytes, max);
        }

        #[test]
        fn mqtt_roundtrip(len in 0u64..=MQTT_REMAINING_LENGTH_MAX) {
            let mut buf = vec![0x30u8];
            let mut v = len;
            loop {
                let mut b = (v % 128) as u8;
                v /= 128;
                if v > 0 { b |= 0x80; }
                buf.push(b);
                if v == 0 { break; }
            }
            let got = mqtt_frame(&buf, u64::MAX).unwrap().unwrap();
            prop_assert_eq!(got.frame_len, buf.len() as u64 + len);
        }

        #[test]
        fn kafka_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..8), max in any::<u64>()) {
            let _ = kafka_frame(&bytes, max);
        }
    }
}
