//! The contract every stage of the chain fulfils.

/// One processing stage of the mastering chain.
///
/// Real-time rules: only [`Stage::prepare`] may allocate. [`Stage::set`], [`Stage::reset`] and
/// [`Stage::process`] run on the audio thread and must not allocate, lock or block.
pub trait Stage {
    /// The plain settings snapshot this stage reads (filled from the plugin's parameters once
    /// per block, or by a test / the offline renderer directly).
    type Settings: Clone + Default;

    /// Allocate everything for up to `max_block` frames at `sample_rate`. May be called again
    /// with other values; after it the stage is in the reset state.
    fn prepare(&mut self, sample_rate: f64, max_block: usize);

    /// Clear all signal state (filters, envelopes, delay lines) without allocating.
    fn reset(&mut self);

    /// Latency in samples at the current settings. Must not change with ordinary (automatable)
    /// settings; only structural choices such as an oversampling factor may change it.
    fn latency(&self) -> usize;

    /// The largest latency this stage can report for the prepared sample rate, so the chain can
    /// size its compensation delays at activation.
    fn max_latency(&self) -> usize {
        self.latency()
    }

    /// Take new settings. Called before every [`Stage::process`] call; the stage smooths any
    /// change itself so that automation never clicks.
    fn set(&mut self, settings: &Self::Settings);

    /// Process one block in place. `left.len() == right.len() <= max_block`.
    fn process(&mut self, left: &mut [f64], right: &mut [f64]);
}

/// Writes [`Stage::process`] for `$ty` as its method `$body(&mut self, &mut [f64], &mut [f64])`
/// compiled three times: for AVX-512, for AVX2 and for the baseline, the CPU's best chosen at
/// run time (the same arithmetic, wider registers: the build itself targets baseline x86-64).
/// Used inside `impl Stage for $ty` as `process_with_simd!($ty, $body)`. The general form,
/// `process_with_simd!(fn $name(args..) for $ty => $body)`, writes any method
/// `$name(&mut self, args..)` of `$ty` the same way from `$body(&mut self, args..)`.
macro_rules! process_with_simd {
    ($(#[$attr:meta])* fn $name:ident($($arg:ident: $arg_ty:ty),*) for $ty:ty => $body:ident) => {
        $(#[$attr])*
        fn $name(&mut self, $($arg: $arg_ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2")]
                unsafe fn avx512(this: &mut $ty, $($arg: $arg_ty),*) {
                    this.$body($($arg),*);
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2(this: &mut $ty, $($arg: $arg_ty),*) {
                    this.$body($($arg),*);
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked just above).
                    unsafe { avx512(self, $($arg),*) };
                    return;
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    unsafe { avx2(self, $($arg),*) };
                    return;
                }
            }
            self.$body($($arg),*);
        }
    };
    // (After the general form: a `fn` there must not be read as the type here.)
    ($ty:ty, $body:ident) => {
        $crate::stage::process_with_simd!(fn process(left: &mut [f64], right: &mut [f64]) for $ty => $body);
    };
}
pub(crate) use process_with_simd;
