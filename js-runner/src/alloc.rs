//! Memory for QuickJS and for the runner's Rust code.
//!
//! Until the snapshot (the init), everything comes from wasi-libc's
//! dlmalloc, which frees and reuses as any allocator does: the bundle's
//! evaluation may allocate and drop a lot.
//!
//! In every instance made from the snapshot (one call each), memory comes
//! from a bump allocator instead. An instance lives for one call and is
//! then thrown away, so nothing needs to be given back: a free only moves
//! the bump pointer back when it frees the newest block (temporaries), and
//! a block of the snapshot's heap freed during a call stays where it is
//! (freeing it would write dlmalloc's bins and neighbouring headers, pages
//! of the snapshot that the call would otherwise not touch). Every page a
//! call writes is a page op's pooling allocator must restore afterwards, and
//! dlmalloc spreads small blocks over the free holes of the whole heap.
//!
//! A call that allocates more than `BUMP_BUDGET` bytes in total goes back to
//! dlmalloc for the rest of the call (and its frees are real again), so a
//! long, allocating call is bounded by what it keeps, not by what it made.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr;

unsafe extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn calloc(count: usize, size: usize) -> *mut u8;
    fn realloc(p: *mut u8, size: usize) -> *mut u8;
    fn free(p: *mut u8);
    fn aligned_alloc(align: usize, size: usize) -> *mut u8;
    fn malloc_usable_size(p: *mut u8) -> usize;
}

/// Bytes a call may take from the bump allocator before it goes back to
/// dlmalloc.
const BUMP_BUDGET: usize = 8 << 20;
/// Reserved (zero, so free in the snapshot's image) at the end of the init
/// for the first bump chunk.
const FIRST_CHUNK: usize = 1 << 20;
/// Later chunks grow the memory by at least this much.
const CHUNK: usize = 1 << 20;
const PAGE: usize = 64 * 1024;
/// QuickJS's blocks are aligned to 8 (its largest scalar is a u64/f64).
const ALIGN: usize = 8;
/// The size of a QuickJS block, kept just before it.
const HEADER: usize = 8;
const MAX_REGIONS: usize = 16;

struct State {
    /// After `start_call_mode` (in the instances made from the snapshot).
    call_mode: bool,
    /// Gone back to dlmalloc (the budget is spent).
    fallback: bool,
    next: usize,
    end: usize,
    /// Where the newest block starts (a free of it moves `next` back).
    newest: usize,
    bumped: usize,
    regions: [(usize, usize); MAX_REGIONS],
    region_count: usize,
}

static mut STATE: State = State {
    call_mode: false,
    fallback: false,
    next: 0,
    end: 0,
    newest: 0,
    bumped: 0,
    regions: [(0, 0); MAX_REGIONS],
    region_count: 0,
};

/// The runner is single-threaded (wasm32-wasip2, no threads).
#[allow(static_mut_refs)]
fn state() -> &'static mut State {
    // SAFETY: one thread, and no reentrancy (nothing here allocates).
    unsafe { &mut STATE }
}

/// Called last in the init: reserve the first chunk, and hand out memory by
/// bumping from now on.
pub fn start_call_mode() {
    if cfg!(feature = "libc-alloc") {
        return;
    }
    // SAFETY: plain libc allocation, kept for ever.
    let first = unsafe { aligned_alloc(PAGE, FIRST_CHUNK) };
    let s = state();
    if !first.is_null() {
        // Zero, so that it costs nothing in the snapshot's image.
        // SAFETY: `first` has FIRST_CHUNK bytes.
        unsafe { ptr::write_bytes(first, 0, FIRST_CHUNK) };
        let lo = first as usize;
        s.regions[0] = (lo, lo + FIRST_CHUNK);
        s.region_count = 1;
        s.next = lo;
        s.end = lo + FIRST_CHUNK;
    }
    s.call_mode = true;
}

fn bumping(s: &State) -> bool {
    s.call_mode && !s.fallback
}

fn in_bump(s: &State, p: usize) -> bool {
    s.regions[..s.region_count]
        .iter()
        .any(|&(lo, hi)| p >= lo && p < hi)
}

/// `size` bytes aligned to `align` from the bump chunks; null when the
/// budget is spent (the caller goes to dlmalloc).
fn bump(s: &mut State, size: usize, align: usize) -> *mut u8 {
    let start = s.next.next_multiple_of(align);
    if start.checked_add(size).is_some_and(|e| e <= s.end) && s.end != 0 {
        s.next = start + size;
        s.newest = start;
        s.bumped += size;
        return start as *mut u8;
    }
    if s.bumped + size > BUMP_BUDGET || s.region_count == MAX_REGIONS {
        s.fallback = true;
        return ptr::null_mut();
    }
    // A new chunk at the end of memory.
    let want = (size + align).max(CHUNK).div_ceil(PAGE);
    let old = core::arch::wasm32::memory_grow(0, want);
    if old == usize::MAX {
        s.fallback = true;
        return ptr::null_mut();
    }
    let lo = old * PAGE;
    let hi = lo + want * PAGE;
    s.regions[s.region_count] = (lo, hi);
    s.region_count += 1;
    s.next = lo;
    s.end = hi;
    bump(s, size, align)
}

/// Frees a bump block: only the newest one gives its room back.
fn unbump(s: &mut State, p: usize) {
    if p == s.newest && p != 0 {
        s.next = p;
        s.newest = 0;
    }
}

// ----- QuickJS's allocator ----------------------------------------------

/// QuickJS's allocator: dlmalloc until the snapshot, then the bump chunks
/// (each block after an 8-byte header holding its size).
pub struct QuickJsAlloc;

fn js_alloc(size: usize) -> *mut u8 {
    let s = state();
    if bumping(s) {
        let size = size.next_multiple_of(ALIGN);
        let at = bump(s, HEADER + size, ALIGN);
        if !at.is_null() {
            // SAFETY: `at` has HEADER + size bytes.
            unsafe {
                at.cast::<usize>().write(size);
                s.newest = at as usize + HEADER;
                return at.add(HEADER);
            }
        }
    }
    // SAFETY: libc.
    unsafe { malloc(size) }
}

fn js_size(p: *mut u8) -> usize {
    if p.is_null() {
        return 0;
    }
    let s = state();
    if s.call_mode && in_bump(s, p as usize) {
        // SAFETY: a bump block has its size just before it.
        unsafe { p.sub(HEADER).cast::<usize>().read() }
    } else {
        // SAFETY: a dlmalloc block.
        unsafe { malloc_usable_size(p) }
    }
}

fn js_free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    let s = state();
    if s.call_mode {
        if in_bump(s, p as usize) {
            if s.newest == p as usize {
                s.next = p as usize - HEADER;
                s.newest = 0;
            }
            return;
        }
        if !s.fallback {
            // A block of the snapshot's heap: left alone (see the head).
            return;
        }
    }
    // SAFETY: a dlmalloc block.
    unsafe { free(p) }
}

fn js_realloc(p: *mut u8, new_size: usize) -> *mut u8 {
    if p.is_null() {
        return js_alloc(new_size);
    }
    if new_size == 0 {
        js_free(p);
        return ptr::null_mut();
    }
    let s = state();
    if !s.call_mode || (s.fallback && !in_bump(s, p as usize)) {
        // SAFETY: a dlmalloc block.
        return unsafe { realloc(p, new_size) };
    }
    let old = js_size(p);
    let rounded = new_size.next_multiple_of(ALIGN);
    if in_bump(s, p as usize) {
        if rounded <= old {
            return p;
        }
        // The newest block grows in place when its chunk has room.
        if s.newest == p as usize && p as usize + rounded <= s.end && !s.fallback {
            s.bumped += rounded - old;
            s.next = p as usize + rounded;
            // SAFETY: the header of this block.
            unsafe { p.sub(HEADER).cast::<usize>().write(rounded) };
            return p;
        }
    }
    let q = js_alloc(new_size);
    if !q.is_null() {
        // SAFETY: both blocks hold at least min(old, new_size) bytes.
        unsafe { ptr::copy_nonoverlapping(p, q, old.min(new_size)) };
        js_free(p);
    }
    q
}

// SAFETY: blocks are aligned to 8 with room for what was asked; sizes
// answer the room of each block; see the functions above.
unsafe impl rquickjs::allocator::Allocator for QuickJsAlloc {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        js_alloc(size)
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return ptr::null_mut();
        };
        let s = state();
        if !bumping(s) {
            // SAFETY: libc.
            return unsafe { calloc(count, size) };
        }
        let p = js_alloc(total);
        if !p.is_null() {
            // Bump memory was handed out before only if a newer block was
            // freed over it: zero it.
            // SAFETY: `p` has `total` bytes.
            unsafe { ptr::write_bytes(p, 0, total) };
        }
        p
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        js_free(ptr)
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        js_realloc(ptr, new_size)
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        js_size(ptr)
    }
}

// ----- Rust's allocator -------------------------------------------------

/// Rust's global allocator: the same scheme (Rust gives the size back on
/// free, so no header).
struct RustAlloc;

#[global_allocator]
static GLOBAL: RustAlloc = RustAlloc;

// SAFETY: as for QuickJsAlloc.
unsafe impl GlobalAlloc for RustAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let s = state();
        if bumping(s) {
            let p = bump(s, layout.size().max(1), layout.align());
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: libc; wasi-libc's malloc aligns to 16.
        unsafe {
            if layout.align() <= 16 {
                malloc(layout.size())
            } else {
                aligned_alloc(
                    layout.align(),
                    layout.size().next_multiple_of(layout.align()),
                )
            }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, _layout: Layout) {
        let s = state();
        if s.call_mode {
            if in_bump(s, p as usize) {
                unbump(s, p as usize);
                return;
            }
            if !s.fallback {
                return;
            }
        }
        // SAFETY: a dlmalloc block.
        unsafe { free(p) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let s = state();
        if !s.call_mode || (s.fallback && !in_bump(s, p as usize)) {
            if layout.align() <= 16 {
                // SAFETY: a dlmalloc block.
                return unsafe { realloc(p, new_size) };
            }
        } else if in_bump(s, p as usize)
            && s.newest == p as usize
            && p as usize + new_size <= s.end
            && !s.fallback
        {
            if new_size > layout.size() {
                s.bumped += new_size - layout.size();
            }
            s.next = p as usize + new_size.max(1);
            return p;
        }
        // SAFETY: the layout is valid (same alignment, size checked by the
        // caller); both blocks hold min(old, new) bytes.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let q = self.alloc(new_layout);
            if !q.is_null() {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                self.dealloc(p, layout);
            }
            q
        }
    }
}

/// Bytes bumped so far in this call (for the probe build).
#[cfg(feature = "probe")]
pub fn bumped() -> usize {
    state().bumped
}
