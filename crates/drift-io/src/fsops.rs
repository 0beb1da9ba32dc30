//! Filesystem primitives: atomic file replacement and BLAKE3 digests of file contents.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::IoError;

/// Files at least this large are hashed in chunks with BLAKE3's multithreaded
/// `update_rayon`; smaller ones are read whole and hashed on the calling thread.
const LARGE_FILE_BYTES: u64 = 1 << 20;

/// Read size for large files: big enough for `update_rayon` to split across threads,
/// small enough to keep memory flat whatever the file size.
const DIGEST_CHUNK_BYTES: usize = 8 << 20;

/// Distinguishes temporary files of concurrent writers within one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: the data goes to a fresh temporary file in the
/// same directory, is flushed to disk (`fsync`), and is then renamed over `path`.
/// Readers see either the old file or the complete new one, never a partial write.
/// The parent directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let Some(file_name) = path.file_name() else {
        return Err(IoError::invalid_input(
            path,
            "the path does not name a file",
        ));
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);

    let result = write_and_sync(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| IoError::fs(path, "rename into place", e))
    });
    if result.is_err() {
        // Best effort: the temporary may not exist (e.g. creation failed).
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir);
    Ok(())
}

fn write_and_sync(tmp: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| IoError::fs(tmp, "create temporary file", e))?;
    file.write_all(bytes)
        .map_err(|e| IoError::fs(tmp, "write temporary file", e))?;
    file.sync_all()
        .map_err(|e| IoError::fs(tmp, "fsync temporary file", e))
}

/// Makes the rename durable. Best effort: some filesystems refuse to fsync directories,
/// and by now the new file is already in place.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// BLAKE3 hash of the bytes of the file at `path` (the same value `b3sum` prints).
///
/// Files of at least 1 MiB are read in 8 MiB chunks (no memory map) and hashed with the
/// multithreaded `update_rayon`; smaller files are hashed with plain `update`. The result
/// does not depend on the method or the number of threads.
pub fn file_digest(path: &Path) -> Result<blake3::Hash, IoError> {
    let mut file = File::open(path).map_err(|e| IoError::fs(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| IoError::fs(path, "stat", e))?
        .len();
    if len < LARGE_FILE_BYTES {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| IoError::fs(path, "read", e))?;
        return Ok(blake3::hash(&bytes));
    }
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; DIGEST_CHUNK_BYTES];
    loop {
        let n = fill(&mut file, &mut buf).map_err(|e| IoError::fs(path, "read", e))?;
        if n == 0 {
            break;
        }
        hasher.update_rayon(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    Ok(hasher.finalize())
}

/// Reads until `buf` is full or the end of the file; returns the number of bytes read.
fn fill(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
