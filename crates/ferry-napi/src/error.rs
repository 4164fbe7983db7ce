//! Maps core errors to JS errors whose message starts with a stable
//! `FERRY_ERR_*` code from `ts/errors.ts` (`"FERRY_ERR_X: detail"`);
//! `ts/native/errors.ts` turns that into a `FerryError` with `.code`.

use std::fmt::Display;

use ferry_frame::FrameError;
use ferry_storage::StorageError;
use napi::{Error, Status};

pub fn coded(code: &str, detail: impl Display) -> Error {
    Error::new(Status::GenericFailure, format!("{code}: {detail}"))
}

pub fn frame_error(e: FrameError) -> Error {
    let code = match e {
        FrameError::MalformedRemainingLength
        | FrameError::NegativeSize(_)
        | FrameError::Truncated { .. }
        | FrameError::InvalidField { .. }
        | FrameError::Decompress { .. } => "FERRY_ERR_FRAME_MALFORMED",
        FrameError::TooLarge { .. } => "FERRY_ERR_FRAME_TOO_LARGE",
        FrameError::UnsupportedMagic(_) => "FERRY_ERR_FRAME_UNSUPPORTED",
        FrameError::CrcMismatch { .. } => "FERRY_ERR_FRAME_CRC",
    };
    coded(code, e)
}

pub fn storage_error(e: StorageError) -> Error {
    coded(e.code(), e)
}

/// JS numbers carry ids and offsets; refuse anything that is not an exact
/// non-negative integer below 2^53 rather than truncating it.
pub fn to_u64(name: &str, v: f64) -> napi::Result<u64> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if (0.0..=MAX_SAFE).contains(&v) && v.fract() == 0.0 {
        Ok(v as u64)
    } else {
        Err(coded(
            "FERRY_ERR_INVALID_ARGUMENT",
            format!("{name} must be an integer from 0 to 2^53-1, got {v}"),
        ))
    }
}
