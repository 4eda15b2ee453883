//! Lacquer's mastering DSP core.
//!
//! Plain Rust with no plugin-framework types: the plugin, the offline tools, the tests and the
//! benches all drive the same [`Chain`]. Every stage implements [`Stage`]: it allocates in
//! [`Stage::prepare`], clears state in [`Stage::reset`], reports a constant [`Stage::latency`]
//! and processes stereo `f64` slices in place without allocating.
//!
//! Signal flow (fixed order, see `chain.rs`):
//! gain staging → corrective EQ → multiband compression → enhancing EQ → saturation →
//! stereo width → limiter → output trim.

pub mod bypass;
pub mod chain;
pub mod delay;
pub mod filters;
pub mod meter;
pub mod stage;
pub mod stages;
pub mod util;

#[cfg(test)]
mod test_noise;

pub use chain::{Chain, ChainSettings, StageId, STAGE_COUNT};
pub use stage::Stage;
