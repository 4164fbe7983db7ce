//! Walking the batch headers of a segment file: [`scan`] validates a whole
//! range on open (structure, offset continuity and optionally CRC, stopping
//! at the first bad batch), [`followed_by_valid_batch`] tells a torn tail
//! from corruption, and [`locate`] finds a batch for a read without holding
//! the log's lock. None of these trusts a length before checking it against
//! the segment size.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use ferry_frame::record_batch::{self, RECORD_BATCH_HEADER_LEN};

use super::io_err;
use crate::error::{Result, StorageError};
use crate::log::{peek, BatchInfo};

const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// Visit every valid batch of `file[from..size)` starting at offset
/// `expected`, checking structure, continuity and (if `check_crc`) CRC.
/// Returns the position where scanning stopped (== size if all valid) and,
/// if it stopped early, why.
pub(super) fn scan(
    file: &File,
    path: &Path,
    from: u32,
    size: u32,
    expected: u64,
    check_crc: bool,
    mut visit: impl FnMut(&BatchInfo),
) -> Result<(u32, Option<String>)> {
    let mut buf = vec![0u8; SCAN_CHUNK_BYTES.min(size.saturating_sub(from) as usize)];
    let mut buf_pos = from as u64; // file position of buf[0]
    let mut buf_len = 0usize;
    let mut pos = from as u64;
    let mut expected = expected;
    while pos < u64::from(size) {
        let at = (pos - buf_pos) as usize;
        // Make sure the header is in the buffer.
        if at + RECORD_BATCH_HEADER_LEN > buf_len {
            let want =
                (u64::from(size) - pos).min(buf.len().max(RECORD_BATCH_HEADER_LEN) as u64) as usize;
            if want < RECORD_BATCH_HEADER_LEN {
                return Ok((pos as u32, Some("torn batch header".into())));
            }
            buf.resize(buf.len().max(want), 0);
            file.read_exact_at(&mut buf[..want], pos)
                .map_err(io_err("read", path))?;
            buf_pos = pos;
            buf_len = want;
            continue;
        }
        let Some(info) = peek(&buf[..buf_len], at) else {
            return Ok((pos as u32, Some("invalid batch header".into())));
        };
        if pos + u64::from(info.len) > u64::from(size) {
            return Ok((pos as u32, Some("torn batch".into())));
        }
        if info.base_offset != expected {
            return Ok((
                pos as u32,
                Some(format!(
                    "offset {} where {expected} was expected",
                    info.base_offset
                )),
            ));
        }
        if check_crc {
            if at + info.len as usize > buf_len {
                let want = (info.len as usize)
                    .max(SCAN_CHUNK_BYTES)
                    .min((u64::from(size) - pos) as usize);
                buf.resize(buf.len().max(want), 0);
                file.read_exact_at(&mut buf[..want], pos)
                    .map_err(io_err("read", path))?;
                buf_pos = pos;
                buf_len = want;
                continue;
            }
            if let Err(e) = record_batch::parse(&buf[at..at + info.len as usize]) {
                return Ok((pos as u32, Some(e.to_string())));
            }
        }
        visit(&BatchInfo {
            pos: pos as usize,
            ..info
        });
        expected = info.next_offset();
        pos += u64::from(info.len);
    }
    Ok((pos as u32, None))
}

/// Whether the batch at `pos` has a structurally valid header whose
/// declared end is followed by another valid header continuing its offsets.
pub(super) fn followed_by_valid_batch(
    file: &File,
    path: &Path,
    pos: u32,
    size: u32,
) -> Result<bool> {
    let header_at = |at: u64| -> Result<Option<BatchInfo>> {
        if at + RECORD_BATCH_HEADER_LEN as u64 > u64::from(size) {
            return Ok(None);
        }
        let mut h = [0u8; RECORD_BATCH_HEADER_LEN];
        file.read_exact_at(&mut h, at)
            .map_err(io_err("read", path))?;
        Ok(peek(&h, 0))
    };
    let Some(bad) = header_at(u64::from(pos))? else {
        return Ok(false);
    };
    let next_pos = u64::from(pos) + u64::from(bad.len);
    Ok(matches!(header_at(next_pos)?, Some(next) if next.base_offset == bad.next_offset()))
}

/// What a reader needs from one segment, taken under the lock.
pub(super) struct Snapshot {
    pub(super) path: Arc<Path>,
    pub(super) file: Arc<File>,
    pub(super) size: u32,
    pub(super) start: u32,
}

/// From `snap.start`, find the batch whose offsets include `target`
/// (or, with `by_ts`, the first whose maxTimestamp >= `target_ts`).
pub(super) fn locate(
    snap: &Snapshot,
    mut pos: u32,
    pred: impl Fn(&BatchInfo) -> bool,
) -> Result<Option<BatchInfo>> {
    let mut hdr = [0u8; RECORD_BATCH_HEADER_LEN];
    while pos < snap.size {
        if snap.size - pos < RECORD_BATCH_HEADER_LEN as u32 {
            break;
        }
        snap.file
            .read_exact_at(&mut hdr, u64::from(pos))
            .map_err(io_err("read", &snap.path))?;
        let info = peek(&hdr, 0).ok_or_else(|| StorageError::Corrupt {
            path: snap.path.to_path_buf(),
            position: u64::from(pos),
            reason: "invalid batch header".into(),
        })?;
        if u64::from(pos) + u64::from(info.len) > u64::from(snap.size) {
            break;
        }
        if pred(&info) {
            return Ok(Some(BatchInfo {
                pos: pos as usize,
                ..info
            }));
        }
        pos += info.len;
    }
    if pos < snap.size {
        return Err(StorageError::Corrupt {
            path: snap.path.to_path_buf(),
            position: u64::from(pos),
            reason: "batch runs past the segment end".into(),
        });
    }
    Ok(None)
}
