//! The objects `NativeStore` (store.rs) exchanges with JavaScript, and
//! their conversion from and to the storage crate's types.

use ferry_storage::{AppendResult, Durability, EngineKind, ShardConfig};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::error::{coded, storage_error, to_u64};

#[napi(object)]
pub struct JsAppendResult {
    pub base_offset: f64,
    pub last_offset: f64,
    pub append_time_ms: f64,
    pub earliest_offset: f64,
    pub batch_count: u32,
    pub bytes: f64,
}

impl From<AppendResult> for JsAppendResult {
    fn from(r: AppendResult) -> Self {
        JsAppendResult {
            base_offset: r.base_offset as f64,
            last_offset: r.last_offset as f64,
            append_time_ms: r.append_time_ms as f64,
            earliest_offset: r.earliest_offset as f64,
            batch_count: r.batch_count,
            bytes: r.bytes as f64,
        }
    }
}

#[napi(object)]
pub struct JsReadResult {
    /// Whole magic-2 batches, CRC-checked after the read.
    pub bytes: Buffer,
    pub next_offset: f64,
    pub earliest_offset: f64,
}

#[napi(object)]
pub struct JsReadInto {
    /// Bytes of whole, CRC-checked batches at the start of the buffer.
    pub length: u32,
    /// Nonzero: the first batch alone is longer than the buffer (nothing read).
    pub needed: u32,
    pub next_offset: f64,
    pub earliest_offset: f64,
}

#[napi(object)]
pub struct JsTimestampOffset {
    pub offset: f64,
    pub timestamp_ms: f64,
}

#[napi(object)]
pub struct JsOffsets {
    pub earliest: f64,
    pub next: f64,
}

#[napi(object)]
pub struct JsLogStats {
    pub bytes: f64,
    pub batches: f64,
    pub segments: u32,
    pub earliest_offset: f64,
    pub next_offset: f64,
}

/// A shard's settings as JavaScript passes them. Omitted fields take the
/// engine defaults; 0 for retention means unlimited.
#[napi(object)]
pub struct JsShardConfig {
    /// "memory" | "segment" | "rocks"
    pub engine: String,
    /// "none" | "interval" | "always"
    pub durability: String,
    pub durability_interval_ms: Option<u32>,
    pub batch_bytes_max: Option<u32>,
    pub retention_bytes_max: Option<f64>,
    pub retention_ms: Option<f64>,
    pub segment_bytes_max: Option<u32>,
    pub segment_ms_max: Option<f64>,
    pub index_interval_bytes: Option<u32>,
    pub ring_bytes_max: Option<f64>,
    pub ring_batches_max: Option<u32>,
}

#[napi(object)]
pub struct JsShardInfo {
    pub id: f64,
    pub engine: String,
}

#[napi(object)]
pub struct JsKvEntry {
    pub key: Buffer,
    pub value: Buffer,
}

/// One operation of an atomic KV write: a put when `value` is given, else a delete.
#[napi(object)]
pub struct JsKvOp {
    pub ns: String,
    pub key: Buffer,
    pub value: Option<Buffer>,
}

pub(crate) fn engine_name(e: EngineKind) -> &'static str {
    match e {
        EngineKind::Memory => "memory",
        EngineKind::Segment => "segment",
        EngineKind::Rocks => "rocks",
    }
}

fn optional_u64(name: &str, v: Option<f64>) -> napi::Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(x) => to_u64(name, x).map(|n| (n > 0).then_some(n)),
    }
}

impl JsShardConfig {
    pub(crate) fn into_core(self) -> napi::Result<(EngineKind, ShardConfig)> {
        let engine = match self.engine.as_str() {
            "memory" => EngineKind::Memory,
            "segment" => EngineKind::Segment,
            "rocks" => EngineKind::Rocks,
            other => {
                return Err(coded(
                    "FERRY_ERR_SHARD_CONFIG_INVALID",
                    format!("engine must be memory, segment or rocks, got {other:?}"),
                ))
            }
        };
        let durability = match self.durability.as_str() {
            "none" => Durability::None,
            "always" => Durability::Always,
            "interval" => Durability::Interval {
                ms: self.durability_interval_ms.unwrap_or(100),
            },
            other => {
                return Err(coded(
                    "FERRY_ERR_SHARD_CONFIG_INVALID",
                    format!("durability must be none, interval or always, got {other:?}"),
                ))
            }
        };
        let d = ShardConfig::default();
        let config = ShardConfig {
            durability,
            batch_bytes_max: self.batch_bytes_max.unwrap_or(d.batch_bytes_max),
            retention_bytes_max: match self.retention_bytes_max {
                None => d.retention_bytes_max,
                v => optional_u64("retentionBytesMax", v)?,
            },
            retention_ms: match self.retention_ms {
                None => d.retention_ms,
                v => optional_u64("retentionMs", v)?,
            },
            segment_bytes_max: self.segment_bytes_max.unwrap_or(d.segment_bytes_max),
            segment_ms_max: match self.segment_ms_max {
                None => d.segment_ms_max,
                v => optional_u64("segmentMsMax", v)?,
            },
            index_interval_bytes: self.index_interval_bytes.unwrap_or(d.index_interval_bytes),
            ring_bytes_max: match self.ring_bytes_max {
                None => d.ring_bytes_max,
                Some(v) => to_u64("ringBytesMax", v)?,
            },
            ring_batches_max: self.ring_batches_max.unwrap_or(d.ring_batches_max),
        };
        config.validate().map_err(storage_error)?;
        Ok((engine, config))
    }
}
