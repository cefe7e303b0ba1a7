//! Argon2id working memory for one login, on transparent huge pages.
//!
//! A login runs in a fresh process (sshd forks one per connection), so its
//! Argon2id memory (19 MiB by default) is new to the process and every 4 KiB
//! page of it is faulted in on first touch: measured here, that costs nearly
//! as much as the hashing itself. Asked for huge pages (`MADV_HUGEPAGE`), the
//! kernel maps the same memory in a handful of 2 MiB faults. Where huge pages
//! are off, this is ordinary anonymous memory; where the mapping fails, the
//! caller falls back to the heap.
//!
//! The crate's only `unsafe` outside the PAM entry points; every block says
//! why it is sound.
#![allow(unsafe_code)]

use std::ptr::NonNull;

use argon2::Block;
use nix::libc;
use zeroize::Zeroize;

/// The huge page size on x86-64 and arm64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Zero-filled, page-aligned memory for `len` Argon2 blocks, unmapped and
/// wiped on drop.
pub struct HugeBlocks {
    /// The whole mapping, for munmap.
    map: NonNull<libc::c_void>,
    map_len: usize,
    /// The blocks: `len` of them from the first huge-page boundary.
    blocks: NonNull<Block>,
    len: usize,
}

impl HugeBlocks {
    /// Maps memory for `len` blocks; `None` if the kernel refuses.
    pub fn new(len: usize) -> Option<Self> {
        let bytes = len.checked_mul(size_of::<Block>())?;
        // One huge page more than needed, to start at a huge-page boundary.
        let map_len = bytes.checked_add(HUGE_PAGE)?;
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
        if map == libc::MAP_FAILED {
            return None;
        }
        let map = NonNull::new(map)?;
        let offset = map.cast::<u8>().align_offset(HUGE_PAGE);
        // SAFETY: `offset < HUGE_PAGE`, so the aligned start and the `bytes`
        // after it lie inside the `map_len = bytes + HUGE_PAGE` mapping.
        let start = unsafe { map.cast::<u8>().add(offset) };
        let advised = bytes.next_multiple_of(HUGE_PAGE).min(map_len - offset);
        // SAFETY: advice on a range inside our own mapping; a kernel without
        // huge pages refuses it and nothing changes.
        unsafe { libc::madvise(start.as_ptr().cast(), advised, libc::MADV_HUGEPAGE) };
        Some(Self {
            map,
            map_len,
            // The start is 2 MiB aligned, more than a Block's 64 bytes.
            blocks: start.cast::<Block>(),
            len,
        })
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

impl Drop for HugeBlocks {
    fn drop(&mut self) {
        // What Argon2 left there derives from the code: wipe it first.
        self.as_mut_slice().iter_mut().for_each(Zeroize::zeroize);
        // SAFETY: unmaps exactly the mapping made in `new`, once; no slice
        // of it outlives `self`.
        unsafe { libc::munmap(self.map.as_ptr(), self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_zeroed_aligned_and_writable() {
        let mut memory = HugeBlocks::new(19456).unwrap();
        let blocks = memory.as_mut_slice();
        assert_eq!(blocks.len(), 19456);
        assert_eq!(blocks.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(blocks.iter().all(|b| b.as_ref().iter().all(|&w| w == 0)));
        blocks[19455] = Block::new();
        blocks[0].as_mut()[0] = 42;
        assert_eq!(blocks[0].as_ref()[0], 42);
    }
}
