//! Metering: EBU R128 loudness, true peak, per-stage meters, correlation, spectrum,
//! platform normalisation and the diagnostic pass.
