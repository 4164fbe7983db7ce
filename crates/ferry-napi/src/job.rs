//! One generic `AsyncTask` for every blocking storage call: the closure
//! runs on a libuv worker thread (never the JS thread) and its result is
//! converted to JS on the main thread. Errors become `FERRY_ERR_*` errors.

use napi::bindgen_prelude::{ToNapiValue, TypeName};
use napi::{Env, Error, Status, Task};

use crate::error::storage_error;

type Work<T> = Box<dyn FnOnce() -> Result<T, ferry_storage::StorageError> + Send>;

pub struct Job<T> {
    work: Option<Work<T>>,
}

impl<T> Job<T> {
    pub fn new(
        work: impl FnOnce() -> Result<T, ferry_storage::StorageError> + Send + 'static,
    ) -> Self {
        Job {
            work: Some(Box::new(work)),
        }
    }
}

impl<T: ToNapiValue + TypeName + Send + 'static> Task for Job<T> {
    type Output = T;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<T> {
        // A Task is computed once; a second call would be a napi-rs bug.
        let work = self
            .work
            .take()
            .ok_or_else(|| Error::new(Status::GenericFailure, "FERRY_ERR_NATIVE: job ran twice"))?;
        work().map_err(storage_error)
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<T> {
        Ok(output)
    }
}
