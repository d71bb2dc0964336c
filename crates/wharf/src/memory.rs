//! How the C allocator treats the large buffers that transfers go through.
//!
//! Bodies arrive in read buffers of a few hundred KiB that live until their batch is on
//! disk, and downloads go out in pieces of 512 KiB. glibc hands blocks that large to
//! `mmap` and gives freed memory at the top of its heap back to the kernel, so every
//! new buffer is fresh memory the kernel must fault in and zero, page by page: about a
//! tenth of the CPU time of a 1 GiB push or pull. Raising both thresholds keeps freed
//! buffers for the next ones; the memory kept is bounded by the largest amount in use
//! at once, which the streaming design keeps to a few MiB per transfer.

/// Blocks below this come from the heap and are reused once freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 8 * 1024 * 1024;
/// Free memory at the top of the heap kept before any is given back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 64 * 1024 * 1024;

/// Asks glibc to keep freed transfer buffers for reuse; called once at start-up, before
/// any thread is started.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before other threads
    // exist, and a refused setting (return 0) leaves glibc's defaults in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
