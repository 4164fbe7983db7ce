//! Batch decompression off the JS thread: inflating a batch can take
//! milliseconds, so it runs as an `AsyncTask` on a libuv worker.

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::{frame_error, to_u64};

pub struct Uncompress {
    batch: Buffer,
    max_bytes: usize,
}

impl Task for Uncompress {
    type Output = Vec<u8>;
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Vec<u8>> {
        ferry_frame::compression::uncompressed_batch(&self.batch, self.max_bytes)
            .map_err(frame_error)
    }

    fn resolve(&mut self, _env: Env, output: Vec<u8>) -> napi::Result<Buffer> {
        Ok(output.into())
    }
}

/// The record batch at the start of `batch` (CRC-checked) with its records
/// uncompressed, whatever Kafka codec it used: codec bits cleared,
/// batchLength and CRC rewritten. Refuses output past `maxBytes`
/// (FERRY_ERR_FRAME_TOO_LARGE); undecodable bodies are
/// FERRY_ERR_FRAME_MALFORMED.
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn uncompressed_batch(batch: Buffer, max_bytes: f64) -> napi::Result<AsyncTask<Uncompress>> {
    let max_bytes = usize::try_from(to_u64("maxBytes", max_bytes)?).unwrap_or(usize::MAX);
    Ok(AsyncTask::new(Uncompress { batch, max_bytes }))
}
