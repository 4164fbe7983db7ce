//! One generic `AsyncTask` for every blocking storage call: the closure
//! runs on a libuv worker thread (never the JS thread) and its result is
//! converted to JS on the main thread. Errors become `FERRY_ERR_*` errors.

use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{Env, Error, Status, Task};

use crate::error::storage_error;

type HeldWork<H, T> = Box<dyn FnOnce(&mut H) -> Result<T, ferry_storage::StorageError> + Send>;

/// A job over JavaScript Buffers the caller passed in (`held`): the work
/// borrows them on the worker thread, and they are dropped with the task on
/// the JS thread when it completes. A Buffer dropped on a worker would send
/// its reference back through a threadsafe function instead (a mutex, a
/// wake-up of the JS thread and one more callback per Buffer per call).
pub struct HeldJob<H, T> {
    held: H,
    work: Option<HeldWork<H, T>>,
}

/// A job that holds nothing of the caller's.
pub type Job<T> = HeldJob<(), T>;

impl<T> HeldJob<(), T> {
    pub fn new(
        work: impl FnOnce() -> Result<T, ferry_storage::StorageError> + Send + 'static,
    ) -> Self {
        HeldJob::holding((), move |_| work())
    }
}

impl<H, T> HeldJob<H, T> {
    pub fn holding(
        held: H,
        work: impl FnOnce(&mut H) -> Result<T, ferry_storage::StorageError> + Send + 'static,
    ) -> Self {
        HeldJob {
            held,
            work: Some(Box::new(work)),
        }
    }
}

impl<H: Send, T: ToNapiValue + TypeName + Send + 'static> Task for HeldJob<H, T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<T> {
        // A Task is computed once; a second call would be a napi-rs bug.
        let work = self
            .work
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "FERRY_ERR_NATIVE: job ran twice"))?;
        work(&mut self.held).map_err(storage_error)
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<T> {
        Ok(output)
    }
}
