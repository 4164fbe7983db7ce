use thiserror::Error;

/// Everything a peer can get wrong in a frame. Each variant is an operating
/// error (bad input), never a bug: callers answer it with their protocol's
/// error and close only the offending connection.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// MQTT remaining length used more than four bytes [MQTT-1.5.5] / 2.2.3.
    #[error("malformed MQTT remaining length")]
    MalformedRemainingLength,
    /// A Kafka frame declared a negative size.
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    /// The declared frame is larger than the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum of {max_bytes}")]
    TooLarge { size: u64, max_bytes: u64 },
    /// A record batch is shorter than its fixed header or its declared length.
    #[error("record batch truncated: need {need} bytes, have {have}")]
    Truncated { need: u64, have: u64 },
    /// Only magic 2 (Kafka 0.11+) record batches are stored.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// The CRC-32C stored in the batch does not match its bytes.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// A header field holds a value no valid batch can have.
    #[error("invalid record batch field {field}: {value}")]
    InvalidField { field: &'static str, value: i64 },
    /// A compressed record-batch body that its codec cannot decode.
    #[error("{codec} decompression failed: {detail}")]
    Decompress { codec: &'static str, detail: String },
}
