//! The seven stages of the mastering chain, one file each, in signal order.

pub mod corrective_eq;
pub mod enhancing_eq;
pub mod gain_staging;
pub mod limiter;
pub mod multiband;
pub mod saturation;
pub mod width;

/// Where a stereo EQ band acts. Mid = (L+R)/2, side = (L-R)/2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    #[default]
    Stereo,
    Mid,
    Side,
    Left,
    Right,
}
