//! Argon2id working memory: its own mapping, on transparent huge pages, kept
//! out of core dumps, wiped before it is given back, and fallible.
//!
//! A login runs in a fresh process (sshd forks one per connection), so its
//! Argon2id memory (19 MiB by default) is new to the process and every 4 KiB
//! page of it is faulted in on first touch: measured here, that costs nearly
//! as much as the hashing itself. Asked for huge pages (`MADV_HUGEPAGE`), the
//! kernel maps the same memory in a handful of 2 MiB faults. Where huge pages
//! are off, this is ordinary anonymous memory.
//!
//! What Argon2 leaves in it derives from the code, so the mapping is marked
//! `MADV_DONTDUMP` (a core dump of sshd or sudo does not carry it) and wiped
//! before it is unmapped. The size comes from the set's parameters, so the
//! mapping may fail (RLIMIT_AS, a memory cgroup, overcommit off): that is an
//! error for the caller to report, never an abort of the host process, which
//! is what a failed heap allocation would be.
//!
//! The crate's only `unsafe` outside the PAM entry points; every block says
//! why it is sound.
#![allow(unsafe_code)]

use std::fmt;
use std::ptr::NonNull;

use argon2::Block;
use nix::libc;

/// The huge page size on x86-64 and arm64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// The memory could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    /// How many bytes were asked for.
    pub bytes: usize,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot get {} KiB of memory for Argon2id (a memory limit such as RLIMIT_AS?)",
            self.bytes.div_ceil(1024)
        )
    }
}

impl std::error::Error for OutOfMemory {}

/// Zero-filled, page-aligned memory for `len` Argon2 blocks, out of core
/// dumps, wiped and unmapped on drop.
pub struct Blocks {
    /// The whole mapping, for munmap.
    map: NonNull<libc::c_void>,
    map_len: usize,
    /// The blocks: `len` of them from the first huge-page boundary.
    blocks: NonNull<Block>,
    len: usize,
}

impl Blocks {
    /// Maps memory for `len` blocks.
    pub fn new(len: usize) -> Result<Self, OutOfMemory> {
        let too_much = OutOfMemory { bytes: usize::MAX };
        let bytes = len.checked_mul(size_of::<Block>()).ok_or(too_much)?;
        // One huge page more than needed, to start at a huge-page boundary.
        let map_len = bytes.checked_add(HUGE_PAGE).ok_or(too_much)?;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched, and the result is checked before use.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        let map = NonNull::new(map)
            .filter(|map| map.as_ptr() != libc::MAP_FAILED)
            .ok_or(OutOfMemory { bytes: map_len })?;
        // SAFETY: advice on our own whole mapping; it only keeps the pages
        // out of core dumps. A kernel that refuses changes nothing else.
        unsafe { libc::madvise(map.as_ptr(), map_len, libc::MADV_DONTDUMP) };
        let offset = map.cast::<u8>().align_offset(HUGE_PAGE);
        // SAFETY: `offset < HUGE_PAGE`, so the aligned start and the `bytes`
        // after it lie inside the `map_len = bytes + HUGE_PAGE` mapping.
        let start = unsafe { map.cast::<u8>().add(offset) };
        let advised = bytes.next_multiple_of(HUGE_PAGE).min(map_len - offset);
        // SAFETY: advice on a range inside our own mapping; a kernel without
        // huge pages refuses it and nothing changes.
        unsafe { libc::madvise(start.as_ptr().cast(), advised, libc::MADV_HUGEPAGE) };
        Ok(Self {
            map,
            map_len,
            // The start is 2 MiB aligned, more than a Block's 64 bytes.
            blocks: start.cast::<Block>(),
            len,
        })
    }

    /// How many blocks there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The blocks, zero-filled at first.
    pub fn as_mut_slice(&mut self) -> &mut [Block] {
        // SAFETY: `blocks` points to `len` blocks inside the mapping, aligned
        // and initialised (anonymous memory reads as zeros, and all-zero
        // bytes are a valid Block of u64 words); `&mut self` makes the
        // borrow unique, and the mapping lives until drop.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), self.len) }
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        // What Argon2 left there derives from the code: wipe it first, in
        // one explicit_bzero (libc's memset that the compiler may not drop):
        // a third of the time of zeroize's word-by-word volatile writes
        // over these 19 MiB (0.35 ms against 1.0 ms measured here).
        let bytes = self.len * size_of::<Block>();
        // SAFETY: `blocks` points to `len` blocks inside our own live
        // mapping, writable; nothing borrows them (`&mut self`).
        unsafe { libc::explicit_bzero(self.blocks.as_ptr().cast(), bytes) };
        // SAFETY: unmaps exactly the mapping made in `new`, once; no slice
        // of it outlives `self`.
        unsafe { libc::munmap(self.map.as_ptr(), self.map_len) };
    }
}

// SAFETY: `Blocks` owns its mapping alone (like a Box), and hands out the
// memory only through `&mut self`: moving it to another thread is sound.
unsafe impl Send for Blocks {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_zeroed_aligned_and_writable() {
        let mut memory = Blocks::new(19456).unwrap();
        let blocks = memory.as_mut_slice();
        assert_eq!(blocks.len(), 19456);
        assert_eq!(blocks.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(blocks.iter().all(|b| b.as_ref().iter().all(|&w| w == 0)));
        blocks[19455] = Block::new();
        blocks[0].as_mut()[0] = 42;
        assert_eq!(blocks[0].as_ref()[0], 42);
    }

    #[test]
    fn the_blocks_are_kept_out_of_core_dumps() {
        let memory = Blocks::new(1024).unwrap();
        let start = memory.blocks.as_ptr() as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        // The mapping's entry: its address range, then its fields, among
        // them VmFlags, where "dd" is "do not dump".
        let mut lines = smaps.lines();
        let mut flags = None;
        while let Some(line) = lines.next() {
            let Some((from, to)) = line.split(' ').next().and_then(|r| r.split_once('-')) else {
                continue;
            };
            let (Ok(from), Ok(to)) = (usize::from_str_radix(from, 16), usize::from_str_radix(to, 16)) else {
                continue;
            };
            if (from..to).contains(&start) {
                flags = lines
                    .by_ref()
                    .find_map(|l| l.strip_prefix("VmFlags:").map(str::to_owned));
                break;
            }
        }
        let flags = flags.expect("the mapping is in smaps");
        assert!(flags.split_whitespace().any(|f| f == "dd"), "{flags}");
    }

    #[test]
    fn an_impossible_size_is_an_error() {
        assert!(Blocks::new(usize::MAX / 2).is_err());
        let e = Blocks::new(1 << 40).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("KiB of memory for Argon2id"), "{e}");
    }
}
