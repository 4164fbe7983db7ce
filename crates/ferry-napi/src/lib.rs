//! N-API surface of FerryMQ's native core. The only crate with `#[napi]`;
//! exported items convert into the pure crates' types at this edge and map
//! every error to a `FERRY_ERR_*` code (see `error.rs`). Nothing exported
//! here may panic on input from JavaScript.

// napi-derive registers exports only outside cfg(test); the addon is tested
// from JavaScript through the real build.
#![cfg_attr(test, allow(dead_code))]

mod codec;
mod error;
mod frame;
mod job;
mod lock;
mod store;
mod store_append;
mod store_kv;
mod store_read;
mod store_types;

use napi_derive::napi;

/// Version of the native crate; `ts/native/load.ts` checks it against the
/// package version so a stale build is refused with a clear message.
#[napi]
pub fn native_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
