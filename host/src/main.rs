//! The `op` binary.

fn main() -> std::process::ExitCode {
    op::cli::main()
}
