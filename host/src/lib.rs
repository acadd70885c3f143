//! `op`: a WebAssembly runtime host for ONES-style plugins.
//!
//! The modules follow the data's path: [`manifest`] (parse and validate
//! `plugin.yaml`), [`path`] (the one form of a request path, shared by the
//! OPFetch check and the gateway), [`runtime`] (engine, compile cache, one store per call),
//! [`imports`] (what the host gives a plugin), [`gateway`] (HTTP routing and
//! error responses), [`package`] (the `.opkg` files of `op pack`),
//! [`serve`] (the production host and its admin API), [`dev`] (building
//! plugin projects) and [`cli`].

pub mod cli;
pub mod code;
pub mod dev;
pub mod embedded;
pub mod gateway;
pub mod imports;
pub mod js;
pub mod manifest;
pub mod package;
pub mod path;
pub mod runtime;
pub mod serve;
