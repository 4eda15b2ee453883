//! Filter building blocks shared by the stages and the meters.

pub mod biquad;
/// Linkwitz-Riley crossovers and their allpass compensation.
pub mod crossover;
/// Matched / analogue-prototype EQ designs (owned by the EQ stages).
pub mod eq_design;
/// Polyphase FIR oversampling: interpolation for true-peak detection, up/down for shaping.
pub mod oversampling;
