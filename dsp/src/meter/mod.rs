//! Metering: EBU R128 loudness, true peak, per-stage meters, correlation, spectrum,
//! platform normalisation and the diagnostic pass.
//!
//! # Real-time use (the plugin)
//! One [`Metering`] on the audio thread, one `Arc<`[`MeterSnapshot`]`>` shared with the GUI:
//!
//! ```text
//! activate:        metering.prepare(sample_rate, max_block)      // allocates
//! transport start: metering.reset()                              // also the user's reset
//! every block (len <= max_block, the chain's own sub-blocks):
//!     metering.process_input(l, r)            // sanitised chain input = stage 1 input
//!     for stage s in 0..7 (signal order, bypassed or not):
//!         <stage s processes l, r>
//!         metering.process_stage(s, l, r, gain_reduction_db, bypassed)
//!     metering.set_multiband_gain_reduction([gr; 4])
//!     <output trim / global bypass>
//!     metering.process_output(l, r)           // last: measures every tap of the block
//!     metering.publish(&snapshot)             // wait-free atomic stores
//! GUI thread:      snapshot.read() -> MeterValues; SpectrumAnalyser::update(&ring)
//! ```
//!
//! Readings update every 100 ms (momentary and short-term from 100 ms sub-blocks of energy).
//! Stage `s`'s input tap is stage `s - 1`'s output tap, so the per-stage meters cost eight taps.
//! Nothing here allocates, locks or waits after `prepare`.
//!
//! # Offline use
//! [`analysis::analyse`] measures a whole file (the `lacquer analyze` command) with the same
//! building blocks and renders a text or JSON report.

pub mod analysis;
pub mod correlation;
pub mod diagnostics;
pub mod kweight;
pub mod loudness;
mod metering;
pub mod platforms;
pub mod programme;
pub mod snapshot;
pub mod spectrum;
pub mod stage_meter;
pub mod true_peak;

pub use metering::{Metering, LANES, TAP_COUNT};
pub use programme::{ProgrammeMeter, ProgrammeStats};
pub use snapshot::{MeterSnapshot, MeterValues, ProgrammeValues, StageValues};
