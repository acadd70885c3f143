//! A hostile plugin for the host's tests: it logs, prints and traps as
//! much as the query asks.

use op_plugin_sdk::{Logger, PluginRequest, PluginResponse};

fn number(req: &PluginRequest, name: &str, default: usize) -> usize {
    req.query(name)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Logs `lines` lines (default 1) of `bytes` bytes each (default 10),
/// each starting with its number (`#N `).
fn logs(req: PluginRequest) -> PluginResponse {
    let lines = number(&req, "lines", 1);
    let bytes = number(&req, "bytes", 10);
    let filler = "x".repeat(bytes);
    for n in 0..lines {
        let mut line = format!("#{n} ");
        line.push_str(&filler);
        line.truncate(bytes.max(line.find(' ').unwrap_or(0) + 1));
        Logger::info(line);
    }
    PluginResponse::text(format!("logged {lines}"))
}

/// Writes `bytes` bytes (default 1) to stderr (and as many to stdout with
/// `?stdout=1`), in lines of at most 100 bytes, then answers.
fn print(req: PluginRequest) -> PluginResponse {
    let bytes = number(&req, "bytes", 1);
    let to_stdout = req.query("stdout").is_some();
    let line = "e".repeat(99);
    let mut left = bytes;
    while left > 0 {
        let n = left.min(100);
        let text = &line[..n - 1];
        if to_stdout {
            println!("{text}");
        }
        eprintln!("{text}");
        left -= n;
    }
    PluginResponse::text(format!("printed {bytes}"))
}

/// Answers `bytes` bytes (default 1 MiB).
fn big(req: PluginRequest) -> PluginResponse {
    PluginResponse::text("b".repeat(number(&req, "bytes", 1 << 20)))
}

/// Panics after a line on stderr: the host answers 500 `plugin.trap`.
fn trap(_req: PluginRequest) -> PluginResponse {
    eprintln!("the flood plugin traps on purpose");
    panic!("flood trap");
}

op_plugin_sdk::export_functions! {
    logs,
    print,
    big,
    trap,
}
