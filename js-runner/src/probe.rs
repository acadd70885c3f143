//! Measurement builds (`--features probe`): which 4 KiB pages of linear
//! memory a call changed (their contents differ at the end: a page written
//! back to its old bytes, as a reference count that went up and down, is not
//! seen, though the host must still restore it), so that the per-call cost can be attributed.
//! Each answer gets `x-op-probe: dirty=N low=L high=H pages=P->Q`
//! (`low`: dirty pages in the first 2 MiB, which op keeps resident).
#![allow(clippy::needless_range_loop)]

const SMALL: usize = 4096;
const MAX_PAGES: usize = (64 << 20) / SMALL;

static mut HASHES: [u64; MAX_PAGES] = [0; MAX_PAGES];
static mut START_PAGES: usize = 0;

fn hash(page: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for w in page.chunks_exact(8) {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn pages() -> usize {
    core::arch::wasm32::memory_size(0) * 65536 / SMALL
}

fn page(i: usize) -> &'static [u8] {
    // SAFETY: inside linear memory (below memory_size).
    unsafe { core::slice::from_raw_parts((i * SMALL) as *const u8, SMALL) }
}

#[allow(static_mut_refs)]
pub fn start() {
    // SAFETY: single-threaded.
    unsafe {
        START_PAGES = pages();
        for i in 1..START_PAGES.min(MAX_PAGES) {
            HASHES[i] = hash(page(i));
        }
    }
}

#[allow(static_mut_refs)]
pub fn finish() -> String {
    // SAFETY: single-threaded.
    unsafe {
        let own = HASHES.as_ptr() as usize / SMALL
            ..(HASHES.as_ptr() as usize + MAX_PAGES * 8).div_ceil(SMALL);
        let now = pages();
        let (mut low, mut high) = (0, 0);
        for i in 1..now.min(MAX_PAGES) {
            if own.contains(&i) {
                continue;
            }
            let changed = i >= START_PAGES || HASHES[i] != hash(page(i));
            if changed {
                if i * SMALL < (2 << 20) {
                    low += 1
                } else {
                    high += 1
                }
            }
        }
        format!(
            "dirty={} low={low} high={high} pages={}->{}",
            low + high,
            START_PAGES,
            now
        )
    }
}
