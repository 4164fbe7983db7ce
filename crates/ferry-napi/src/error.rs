//! Maps core errors to JS errors whose `code` is a stable `FERRY_ERR_*`
//! string from `ts/errors.ts`; `ts/native/errors.ts` rewraps them as
//! `FerryError`.

use ferry_frame::FrameError;
use napi::{Error, Status};

pub fn frame_error(e: FrameError) -> Error {
    let code = match e {
        FrameError::MalformedRemainingLength
        | FrameError::NegativeSize(_)
        | FrameError::Truncated { .. }
        | FrameError::InvalidField { .. } => "FERRY_ERR_FRAME_MALFORMED",
        FrameError::TooLarge { .. } => "FERRY_ERR_FRAME_TOO_LARGE",
        FrameError::UnsupportedMagic(_) => "FERRY_ERR_FRAME_UNSUPPORTED",
        FrameError::CrcMismatch { .. } => "FERRY_ERR_FRAME_CRC",
    };
    Error::new(Status::InvalidArg, format!("{code}: {e}"))
}
