//! The call arena: where a call's allocations go, QuickJS's and Rust's.
//!
//! Every call runs in a fresh instance made from the snapshot, and op
//! restores each 4 KiB page the call wrote when the instance ends. With the
//! C library's allocator a call's small allocations land in the free chunks
//! the snapshot's heap left here and there, and each free writes the
//! neighbours' chunk headers and the bins: a short call wrote tens of
//! scattered pages. Here a call's allocations are carved one after the
//! other from a fixed region instead, so they write as few pages as their
//! bytes need, and a free is a no-op (the last block is given back, which
//! keeps a growing buffer in place). Once the region is used up, the rest of
//! the call allocates from the C library as before, so a call that allocates
//! a lot still reuses freed memory; what the arena wastes is bounded by its
//! size.
//!
//! The snapshot itself is made with the C library's allocator; the arena is
//! switched on as the last step of the init, so the snapshot records it as
//! on and empty.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The arena's size. A template call takes tens of KiB; a megabyte covers
/// ordinary calls and costs nothing until written (zero pages of the image).
const SIZE: usize = 128 << 10;

/// Blocks handed to QuickJS carry their size in a header this long, which
/// also keeps their start 8-byte aligned as QuickJS needs.
const HEADER: usize = 8;

#[repr(C, align(16))]
struct Region(UnsafeCell<[u8; SIZE]>);

// SAFETY: the guest is single-threaded.
unsafe impl Sync for Region {}

static REGION: Region = Region(UnsafeCell::new([0; SIZE]));

struct State {
    on: bool,
    /// Bytes of the region handed out.
    used: usize,
    /// The last block: where carving it began (header and padding
    /// included) and where its user part starts, to give it back or grow it
    /// in place; `usize::MAX` when there is none.
    last_start: usize,
    last_user: usize,
}

struct StateCell(UnsafeCell<State>);

// SAFETY: the guest is single-threaded.
unsafe impl Sync for StateCell {}

static STATE: StateCell = StateCell(UnsafeCell::new(State {
    on: false,
    used: 0,
    last_start: usize::MAX,
    last_user: usize::MAX,
}));

fn state() -> &'static mut State {
    // SAFETY: single-threaded, and no caller holds the reference across a
    // call that takes it again.
    unsafe { &mut *STATE.0.get() }
}

fn base() -> usize {
    REGION.0.get() as usize
}

fn contains(p: *mut u8) -> bool {
    let p = p as usize;
    p >= base() && p < base() + SIZE
}

/// Switches the arena on: from now on allocations come from it. Called as
/// the init's last step.
pub fn switch_on() {
    let s = state();
    s.on = true;
    s.used = 0;
    s.last_start = usize::MAX;
    s.last_user = usize::MAX;
}

/// Carves `size` bytes aligned to `align` (with `header` bytes before
/// them), or null when the arena is off or too full.
fn carve(size: usize, align: usize, header: usize) -> *mut u8 {
    let s = state();
    if !s.on {
        return ptr::null_mut();
    }
    let start = base() + s.used;
    let user = (start + header).next_multiple_of(align);
    let Some(end) = user.checked_add(size) else {
        return ptr::null_mut();
    };
    if end > base() + SIZE {
        return ptr::null_mut();
    }
    s.last_start = s.used;
    s.last_user = user - base();
    s.used = end - base();
    user as *mut u8
}

/// Gives a block back: only the last one is reused.
fn give_back(p: *mut u8) {
    let s = state();
    if p as usize - base() == s.last_user {
        s.used = s.last_start;
        s.last_start = usize::MAX;
        s.last_user = usize::MAX;
    }
}

/// Resizes the arena block `p` in place when it is the last one and the
/// region has room; answers whether it did.
fn resize_last(p: *mut u8, new_size: usize) -> bool {
    let s = state();
    let offset = p as usize - base();
    if offset != s.last_user || offset + new_size > SIZE {
        return false;
    }
    s.used = offset + new_size;
    true
}

// ----- QuickJS ------------------------------------------------------------

unsafe extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn calloc(count: usize, size: usize) -> *mut u8;
    fn free(p: *mut u8);
    fn realloc(p: *mut u8, size: usize) -> *mut u8;
    fn malloc_usable_size(p: *mut u8) -> usize;
}

fn js_size(p: *mut u8) -> usize {
    // SAFETY: `p` is an arena block of QuickJS's, with its header before it.
    unsafe { (p.sub(HEADER) as *const usize).read() }
}

fn js_carve(size: usize) -> *mut u8 {
    let p = carve(size, HEADER, HEADER);
    if !p.is_null() {
        // SAFETY: the header lies within the block just carved.
        unsafe { (p.sub(HEADER) as *mut usize).write(size) };
    }
    p
}

/// QuickJS's allocator: the arena while it is on and has room, the C
/// library's otherwise.
pub struct JsAllocator;

// SAFETY: blocks are 8-byte aligned and at least the size asked; the
// arena's blocks are never handed out twice while live (only the last one
// is given back, and only when freed).
unsafe impl rquickjs::allocator::Allocator for JsAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        let p = js_carve(size);
        if !p.is_null() {
            return p;
        }
        // SAFETY: plain C allocation.
        unsafe { malloc(size) }
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return ptr::null_mut();
        };
        let p = js_carve(total);
        if !p.is_null() {
            // The arena's bytes are zero only until a given-back block is
            // carved again.
            // SAFETY: within the block just carved.
            unsafe { ptr::write_bytes(p, 0, total) };
            return p;
        }
        // SAFETY: plain C allocation.
        unsafe { calloc(count, size) }
    }

    unsafe fn dealloc(&mut self, p: *mut u8) {
        if contains(p) {
            give_back(p);
        } else {
            // SAFETY: a block of the C library's.
            unsafe { free(p) }
        }
    }

    unsafe fn realloc(&mut self, p: *mut u8, new_size: usize) -> *mut u8 {
        if p.is_null() {
            return self.alloc(new_size);
        }
        if !contains(p) {
            // SAFETY: a block of the C library's.
            return unsafe { realloc(p, new_size) };
        }
        let old = js_size(p);
        if resize_last(p, new_size) {
            // The last block grew or shrank in place.
            // SAFETY: the header of this block.
            unsafe { (p.sub(HEADER) as *mut usize).write(new_size) };
            return p;
        }
        let q = self.alloc(new_size);
        if !q.is_null() {
            // SAFETY: both blocks hold at least `min(old, new_size)` bytes
            // and do not overlap (`q` was carved after `p` or is C memory).
            unsafe { ptr::copy_nonoverlapping(p, q, old.min(new_size)) };
        }
        q
    }

    unsafe fn usable_size(p: *mut u8) -> usize {
        if contains(p) {
            js_size(p)
        } else {
            // SAFETY: a block of the C library's.
            unsafe { malloc_usable_size(p) }
        }
    }
}

// ----- Rust ---------------------------------------------------------------

/// Rust's global allocator: the arena while it is on and has room, the
/// system's (the C library's) otherwise.
pub struct RustAllocator;

// SAFETY: arena blocks are aligned as the layout asks and never overlap a
// live block.
unsafe impl GlobalAlloc for RustAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = carve(layout.size(), layout.align(), 0);
        if !p.is_null() {
            return p;
        }
        // SAFETY: forwarded as asked.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if contains(p) {
            give_back(p);
        } else {
            // SAFETY: a block of the system's, with its layout.
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if contains(p) {
            if resize_last(p, new_size) {
                return p;
            }
            // SAFETY: the new layout is valid (the caller's contract).
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: as for `alloc`.
            let q = unsafe { self.alloc(new_layout) };
            if !q.is_null() {
                // SAFETY: both hold the smaller size; `q` is a new block.
                unsafe { ptr::copy_nonoverlapping(p, q, layout.size().min(new_size)) };
            }
            return q;
        }
        // SAFETY: a block of the system's, with its layout.
        unsafe { System.realloc(p, layout, new_size) }
    }
}
