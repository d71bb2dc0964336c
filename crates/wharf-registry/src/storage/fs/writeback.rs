//! Starting the disk write of an upload's bytes while the rest is still arriving.
//!
//! A durable append ends with an fdatasync. Left alone, the kernel starts writing dirty
//! pages only when they are old or many, so that fsync waits for most of the chunk to
//! reach the disk while no byte is being received: a 16 MiB chunk costs its receive time
//! plus its disk time. Asking for the write of each batch as soon as it is in the page
//! cache lets the disk work while the next batches arrive, and waiting for the batch
//! [`BATCHES_IN_FLIGHT`] batches back keeps the dirty data of one upload bounded, so the
//! final fdatasync has only the tail left to wait for.

use std::fs::File;
use std::io;

/// Batches whose writeback may be under way at once: enough to keep the disk's queue
/// busy, few enough that the final fsync has little left.
pub const BATCHES_IN_FLIGHT: usize = 8;

/// The bytes `written` (start, length) of `file` were just written: starts their
/// writeback, after waiting until the range `wait_for`, started earlier, is on the disk.
#[cfg(target_os = "linux")]
pub fn write_behind(file: &File, written: (u64, u64), wait_for: Option<(u64, u64)>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    if let Some((before, before_len)) = wait_for {
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        sync_range(fd, before, before_len, flags)?;
    }
    sync_range(fd, written.0, written.1, libc::SYNC_FILE_RANGE_WRITE)
}

#[cfg(target_os = "linux")]
fn sync_range(fd: std::os::fd::RawFd, start: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    let (Ok(start), Ok(len)) = (libc::off64_t::try_from(start), libc::off64_t::try_from(len)) else {
        return Ok(());
    };
    // SAFETY: `fd` is an open descriptor borrowed from a live `File`; the call reads no
    // memory of ours.
    let rc = unsafe { libc::sync_file_range(fd, start, len, flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere the final fsync does all the work.
#[cfg(not(target_os = "linux"))]
pub fn write_behind(_file: &File, _written: (u64, u64), _wait_for: Option<(u64, u64)>) -> io::Result<()> {
    Ok(())
}
