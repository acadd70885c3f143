//! Tries to open a TCP connection, which needs `wasi:sockets`: the host
//! grants no sockets, so it must refuse this component at load.

use op_plugin_sdk::{PluginRequest, PluginResponse};

fn dial(_req: PluginRequest) -> PluginResponse {
    match std::net::TcpStream::connect("127.0.0.1:80") {
        Ok(_) => PluginResponse::text("connected"),
        Err(err) => PluginResponse::text(format!("refused: {err}")),
    }
}

op_plugin_sdk::export_functions! {
    dial,
}
