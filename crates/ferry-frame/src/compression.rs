//! Kafka record-batch decompression (attributes bits 0..2), for the places
//! that must read records rather than pass batches through: the MQTT bridge
//! and anything else that looks inside a batch. Produce and Fetch never call
//! this; they store and serve batches as sent.
//!
//! Every codec Kafka defines is read: gzip, snappy (raw, or xerial-framed as
//! the Java client writes it), lz4 (the LZ4 frame format, magic 2) and zstd.
//! Output is bounded by the caller's `max_bytes`: a small compressed body
//! that inflates past it is refused, not allocated.

use std::io::Read;

use crate::crc::crc32c;
use crate::error::FrameError;
use crate::record_batch::{self, RECORD_BATCH_HEADER_LEN};

const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
/// Magic, version and minimum-compatible version.
const XERIAL_HEADER_LEN: usize = 16;

fn codec_name(codec: u8) -> &'static str {
    match codec {
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

fn failed(codec: u8, e: impl std::fmt::Display) -> FrameError {
    FrameError::Decompress {
        codec: codec_name(codec),
        detail: e.to_string(),
    }
}

/// Reads all of `r`, refusing more than `max_bytes`.
fn read_bounded(codec: u8, r: impl Read, max_bytes: usize) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    let limit = (max_bytes as u64).saturating_add(1);
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| failed(codec, e))?;
    if out.len() > max_bytes {
        return Err(FrameError::TooLarge {
            size: out.len() as u64,
            max_bytes: max_bytes as u64,
        });
    }
    Ok(out)
}

fn snappy_raw(input: &[u8], out: &mut Vec<u8>, max_bytes: usize) -> Result<(), FrameError> {
    let len = snap::raw::decompress_len(input).map_err(|e| failed(2, e))?;
    if out.len().saturating_add(len) > max_bytes {
        return Err(FrameError::TooLarge {
            size: (out.len() + len) as u64,
            max_bytes: max_bytes as u64,
        });
    }
    let at = out.len();
    out.resize(at + len, 0);
    let n = snap::raw::Decoder::new()
        .decompress(input, &mut out[at..])
        .map_err(|e| failed(2, e))?;
    out.truncate(at + n);
    Ok(())
}

/// Xerial framing: a 16-byte header, then blocks of `len i32 BE | raw snappy`.
fn snappy_xerial(input: &[u8], max_bytes: usize) -> Result<Vec<u8>, FrameError> {
    if input.len() < XERIAL_HEADER_LEN {
        return Err(failed(2, "truncated xerial header"));
    }
    let mut out = Vec::new();
    let mut at = XERIAL_HEADER_LEN;
    while at < input.len() {
        let len_bytes: [u8; 4] = input
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| failed(2, "truncated xerial block length"))?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        at += 4;
        let block = input
            .get(at..at.saturating_add(len))
            .ok_or_else(|| failed(2, "truncated xerial block"))?;
        snappy_raw(block, &mut out, max_bytes)?;
        at += len;
    }
    Ok(out)
}

/// Decompress a batch body compressed with Kafka codec `codec`.
pub fn decompress(codec: u8, input: &[u8], max_bytes: usize) -> Result<Vec<u8>, FrameError> {
    match codec {
        0 => read_bounded(0, input, max_bytes),
        1 => read_bounded(1, flate2::read::GzDecoder::new(input), max_bytes),
        2 if input.starts_with(XERIAL_MAGIC) => snappy_xerial(input, max_bytes),
        2 => {
            let mut out = Vec::new();
            snappy_raw(input, &mut out, max_bytes)?;
            Ok(out)
        }
        3 => read_bounded(3, lz4_flex::frame::FrameDecoder::new(input), max_bytes),
        4 => {
            let mut source = input;
            let decoder =
                ruzstd::decoding::StreamingDecoder::new(&mut source).map_err(|e| failed(4, e))?;
            read_bounded(4, decoder, max_bytes)
        }
        other => Err(FrameError::InvalidField {
            field: "compression",
            value: i64::from(other),
        }),
    }
}

/// The batch at the start of `batch`, CRC-checked, with its records
/// uncompressed: the same header with the codec bits cleared, batchLength
/// and CRC rewritten. A batch with no compression is returned as is.
pub fn uncompressed_batch(batch: &[u8], max_bytes: usize) -> Result<Vec<u8>, FrameError> {
    let header = record_batch::parse(batch)?;
    let end = header.total_len as usize;
    let codec = header.compression();
    if codec == 0 {
        return Ok(batch[..end].to_vec());
    }
    let records = decompress(
        codec,
        &batch[RECORD_BATCH_HEADER_LEN..end],
        max_bytes.saturating_sub(RECORD_BATCH_HEADER_LEN),
    )?;
    let mut out = Vec::with_capacity(RECORD_BATCH_HEADER_LEN + records.len());
    out.extend_from_slice(&batch[..RECORD_BATCH_HEADER_LEN]);
    out.extend_from_slice(&records);
    let batch_length = i32::try_from(out.len() - 12).map_err(|_| FrameError::TooLarge {
        size: out.len() as u64,
        max_bytes: i32::MAX as u64,
    })?;
    out[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let attributes = header.attributes & !0x07;
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = b"the same bytes, again and again; the same bytes, again and again";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_codec_round_trips() {
        assert_eq!(decompress(1, &gzip(TEXT), 1 << 20).unwrap(), TEXT);
        let raw = snap::raw::Encoder::new().compress_vec(TEXT).unwrap();
        assert_eq!(decompress(2, &raw, 1 << 20).unwrap(), TEXT);
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for half in [&TEXT[..20], &TEXT[20..]] {
            let block = snap::raw::Encoder::new().compress_vec(half).unwrap();
            xerial.extend_from_slice(&(block.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&block);
        }
        assert_eq!(decompress(2, &xerial, 1 << 20).unwrap(), TEXT);
        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(TEXT).unwrap();
        assert_eq!(
            decompress(3, &lz4.finish().unwrap(), 1 << 20).unwrap(),
            TEXT
        );
        let zstd =
            ruzstd::encoding::compress_to_vec(TEXT, ruzstd::encoding::CompressionLevel::Fastest);
        assert_eq!(decompress(4, &zstd, 1 << 20).unwrap(), TEXT);
    }

    #[test]
    fn output_is_bounded() {
        let big = vec![0u8; 1 << 20];
        for (codec, body) in [
            (1u8, gzip(&big)),
            (2, snap::raw::Encoder::new().compress_vec(&big).unwrap()),
        ] {
            assert!(matches!(
                decompress(codec, &body, 4096),
                Err(FrameError::TooLarge { .. })
            ));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in 1..=4u8 {
            assert!(decompress(codec, b"\x82SNAPPY\x00\xff\xff\xff\xffxx", 1 << 20).is_err());
        }
        assert!(decompress(9, b"", 1 << 20).is_err());
    }

    #[test]
    fn a_compressed_batch_becomes_a_valid_uncompressed_one() {
        let records = b"\x02\x00\x00\x00\x02\x00\x00".to_vec();
        let plain = record_batch::tests::build(&records, 1, 0);
        let compressed = record_batch::tests::build(&gzip(&records), 1, 1);
        let out = uncompressed_batch(&compressed, 1 << 20).unwrap();
        assert_eq!(record_batch::parse(&out).unwrap().compression(), 0);
        assert_eq!(
            out[RECORD_BATCH_HEADER_LEN..],
            plain[RECORD_BATCH_HEADER_LEN..]
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(codec in 0u8..6, body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decompress(codec, &body, 1 << 16);
        }
    }
}
