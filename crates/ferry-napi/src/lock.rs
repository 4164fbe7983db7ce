//! The data-directory lock: an exclusive advisory lock (flock) on
//! `<data_dir>/LOCK`, held for the life of the process. The kernel drops it
//! when the process dies, even by SIGKILL, so a crash never leaves a stale
//! lock behind; the file also records the holder's pid for the error text.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use napi_derive::napi;

use crate::error::coded as err;

#[napi]
pub struct DataDirLock {
    file: Option<File>,
    path: PathBuf,
}

#[napi]
impl DataDirLock {
    /// Create `dir` if needed and take its lock, or throw
    /// FERRY_ERR_DATA_DIR_LOCKED naming the holder's pid.
    #[napi(factory)]
    pub fn acquire(dir: String) -> napi::Result<DataDirLock> {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).map_err(|e| {
            err(
                "FERRY_ERR_DATA_DIR",
                format!("cannot create data dir {}: {e}", dir.display()),
            )
        })?;
        let path = dir.join("LOCK");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                err(
                    "FERRY_ERR_DATA_DIR",
                    format!("cannot open {}: {e}", path.display()),
                )
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // Best effort: the pid is only for the message.
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(err(
                    "FERRY_ERR_DATA_DIR_LOCKED",
                    format!(
                        "data dir {} is in use by another ferrymq process{who}",
                        dir.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(err(
                    "FERRY_ERR_DATA_DIR",
                    format!("cannot lock {}: {e}", path.display()),
                ));
            }
        }
        let write_pid = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.seek(SeekFrom::Start(0))?;
            writeln!(f, "{}", std::process::id())?;
            f.sync_data()
        };
        write_pid(&mut file).map_err(|e| {
            err(
                "FERRY_ERR_DATA_DIR",
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        Ok(DataDirLock {
            file: Some(file),
            path,
        })
    }

    /// Release the lock (idempotent). The pid is cleared first, so a reader
    /// never sees a pid that no longer holds the lock.
    #[napi]
    pub fn release(&mut self) -> napi::Result<()> {
        if let Some(file) = self.file.take() {
            let _ = file.set_len(0);
            file.unlock().map_err(|e| {
                err(
                    "FERRY_ERR_DATA_DIR",
                    format!("cannot unlock {}: {e}", self.path.display()),
                )
            })?;
        }
        Ok(())
    }

    #[napi(getter)]
    pub fn held(&self) -> bool {
        self.file.is_some()
    }
}
