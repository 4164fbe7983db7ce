//! `NativeStore`'s KV API: namespaced keys in the store's RocksDB.

use ferry_storage::KvOp;
use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi_derive::napi;

use crate::job::Job;
use crate::store::NativeStore;
use crate::store_types::{JsKvEntry, JsKvOp};

#[napi]
impl NativeStore {
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn kv_get(&self, ns: String, key: Buffer) -> napi::Result<AsyncTask<Job<Option<Buffer>>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            Ok(store.kv().get(&ns, &key)?.map(Buffer::from))
        })))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn kv_put(
        &self,
        ns: String,
        key: Buffer,
        value: Buffer,
        sync: bool,
    ) -> napi::Result<AsyncTask<Job<()>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            store.kv().put(&ns, &key, &value, sync)
        })))
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn kv_delete(
        &self,
        ns: String,
        key: Buffer,
        sync: bool,
    ) -> napi::Result<AsyncTask<Job<()>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            store.kv().delete(&ns, &key, sync)
        })))
    }

    /// Apply all `ops` atomically.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn kv_write(&self, ops: Vec<JsKvOp>, sync: bool) -> napi::Result<AsyncTask<Job<()>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            let core: Vec<KvOp<'_>> = ops
                .iter()
                .map(|op| match &op.value {
                    Some(value) => KvOp::Put {
                        ns: &op.ns,
                        key: &op.key,
                        value,
                    },
                    None => KvOp::Delete {
                        ns: &op.ns,
                        key: &op.key,
                    },
                })
                .collect();
            store.kv().write(&core, sync)
        })))
    }

    /// Up to `limit` entries of `ns` whose key starts with `prefix`, in key
    /// order, after `startAfter` when given.
    #[napi(ts_return_type = "Promise<JsKvEntry[]>")]
    pub fn kv_scan(
        &self,
        ns: String,
        prefix: Buffer,
        start_after: Option<Buffer>,
        limit: u32,
    ) -> napi::Result<AsyncTask<Job<Vec<JsKvEntry>>>> {
        let store = self.store()?;
        Ok(AsyncTask::new(Job::new(move || {
            let rows =
                store
                    .kv()
                    .scan_prefix(&ns, &prefix, start_after.as_deref(), limit as usize)?;
            Ok(rows
                .into_iter()
                .map(|(k, v)| JsKvEntry {
                    key: k.into(),
                    value: v.into(),
                })
                .collect())
        })))
    }
}
