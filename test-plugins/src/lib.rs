//! The example and test plugins, compiled from source by this crate's build
//! script. Each plugin has a constant with the path of its component and a
//! `_DIR` constant with its project directory (holding `config/plugin.yaml`).

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
