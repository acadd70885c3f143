//! `op`: a WebAssembly runtime host for ONES-style plugins.
//!
//! The modules follow the data's path, and each uses only those before it
//! (no module reaches back up, and there are no cycles):
//!
//! 1. [`manifest`] (parse and validate `plugin.yaml`), [`bindings`] (the
//!    one `bindgen!` of the WIT world), [`path`] (the one form of a request
//!    path, shared by the OPFetch check and the gateway), and the leaves
//!    [`digest`] and [`ids`];
//! 2. [`imports`] (what the host gives a plugin, and the store data of a
//!    call);
//! 3. [`runtime`] (engine, compile cache, one store per call);
//! 4. [`embedded`], [`js`] and [`code`] (the SDKs built into op, the JS
//!    engine's snapshots, the code of a plugin in either language);
//! 5. [`gateway`] (HTTP routing and error responses), [`package`] (the
//!    `.opkg` files of `op pack`), [`timers`] (the timer task abilities,
//!    called on their schedules);
//! 6. [`serve`] (the production host and its admin API), [`dev`] (building
//!    plugin projects) and [`cli`].
//!
//! `imports` comes before `runtime`, not after it: the runtime is where a
//! component meets the host's imports (it links them and makes each call's
//! store data), as an embedder of wasmtime depends on `wasmtime-wasi`, not
//! the other way round. The imports reach the runtime's types only through
//! [`bindings`], so the two never depend on each other.

pub mod bindings;
pub mod cli;
pub mod code;
pub mod dev;
pub mod digest;
pub mod embedded;
pub mod gateway;
pub mod ids;
pub mod imports;
pub mod js;
pub mod manifest;
pub mod package;
pub mod path;
pub mod runtime;
pub mod serve;
pub mod storage;
pub mod timers;
