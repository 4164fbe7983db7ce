//! Synchronous framing helpers: cheap, bounded work on a borrowed buffer
//! (zero-copy for the duration of the call), so they do not need a thread.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::error::frame_error;

/// CRC-32C of a buffer.
#[napi(js_name = "crc32c")]
pub fn crc32c(data: &[u8]) -> u32 {
    ferry_frame::crc32c(data)
}

/// Length of the MQTT frame at the start of `data`, or -1 when more bytes
/// are needed. Throws FERRY_ERR_FRAME_MALFORMED / FERRY_ERR_FRAME_TOO_LARGE.
#[napi]
pub fn mqtt_frame_len(data: &[u8], max_bytes: f64) -> napi::Result<f64> {
    match ferry_frame::mqtt_frame(data, max_bytes as u64) {
        Ok(Some(b)) => Ok(b.frame_len as f64),
        Ok(None) => Ok(-1.0),
        Err(e) => Err(frame_error(e)),
    }
}

/// Length of the Kafka frame at the start of `data`, or -1 when more bytes
/// are needed.
#[napi]
pub fn kafka_frame_len(data: &[u8], max_bytes: f64) -> napi::Result<f64> {
    match ferry_frame::kafka_frame(data, max_bytes as u64) {
        Ok(Some(b)) => Ok(b.frame_len as f64),
        Ok(None) => Ok(-1.0),
        Err(e) => Err(frame_error(e)),
    }
}

/// Validate every magic-2 record batch in `data` (sizes, CRC-32C) and
/// return how many records they hold.
#[napi]
pub fn validate_record_batches(data: Buffer) -> napi::Result<u32> {
    let headers = ferry_frame::record_batch::parse_all(&data).map_err(frame_error)?;
    Ok(headers.iter().map(|h| h.record_count as u32).sum())
}
