//! A small CLAP host for testing the built `Lacquer.clap` bundle, on `clack-host`.
//!
//! - [`bundle`] finds the bundles the suite tests (building them if missing);
//! - [`host`] is the host side of the CLAP callbacks (log, latency, params, state);
//! - [`instance`] wraps one plugin instance: its parameter list, values and text, state
//!   save/load, layout selection, and [`instance::Instance::render`], which runs audio with
//!   sample-accurate parameter events through the plugin on a separate audio thread, with any
//!   block-size sequence, exactly as a DAW would.

pub mod bundle;
pub mod host;
pub mod instance;

pub use instance::{Automation, Blocks, Instance, Param, Render};
