//! The `op` binary.

/// mimalloc instead of the system allocator: the request path allocates
/// many small, short-lived buffers (headers, bodies, per-call state), and
/// glibc's malloc took about a tenth of a proxied call's time
/// (BENCHMARKS.md). `benches/invoke.rs` declares the same allocator, so
/// that criterion measures what this binary runs: change both together.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    op::cli::main()
}
