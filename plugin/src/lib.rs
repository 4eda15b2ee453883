//! Lacquer: the mastering chain as one CLAP/VST3 plugin. This file is only the plugin glue;
//! the DSP lives in `lacquer-dsp`, the parameters in `params/`.

use lacquer_dsp::meter::MeterSnapshot;
use lacquer_dsp::{Chain, ChainSettings};
use nice_plug::prelude::*;
use std::sync::Arc;

pub mod params;

use params::LacquerParams;

/// Largest block the chain is prepared for when the host gives no maximum.
const FALLBACK_MAX_BLOCK: usize = 8192;

pub struct Lacquer {
    params: Arc<LacquerParams>,
    chain: Chain,
    /// Reused every block so filling settings never allocates.
    settings: ChainSettings,
    /// Latency last reported to the host, to report changes only.
    reported_latency: u32,
    /// Every meter reading, published after each block for the GUI (wait-free atomics).
    meters: Arc<MeterSnapshot>,
    /// Transport state of the previous block, to see playback start.
    was_playing: bool,
    /// Last seen value of the meter-reset toggle.
    meter_reset_seen: bool,
}

impl Default for Lacquer {
    fn default() -> Self {
        Self {
            params: Arc::new(LacquerParams::default()),
            chain: Chain::new(),
            settings: ChainSettings::default(),
            reported_latency: 0,
            meters: Arc::new(MeterSnapshot::new()),
            was_playing: false,
            meter_reset_seen: false,
        }
    }
}

impl Lacquer {
    /// The readings the running plugin publishes (for the editor).
    pub fn meters(&self) -> Arc<MeterSnapshot> {
        Arc::clone(&self.meters)
    }
}

impl Plugin for Lacquer {
    const NAME: &'static str = "Lacquer";
    const VENDOR: &'static str = "Lacquer";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "lacquer@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    /// Bypass automation must land on the sample the DAW wrote it on.
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let max_block = match buffer_config.max_buffer_size as usize {
            0 => FALLBACK_MAX_BLOCK,
            n => n,
        };
        let channels = audio_io_layout.main_input_channels.map_or(2, |c| c.get() as usize);
        self.chain.prepare(buffer_config.sample_rate as f64, max_block, channels);
        self.params.fill(&mut self.settings);
        self.chain.set(&self.settings);
        // Start in the saved bypass states instead of fading into them.
        self.chain.reset();
        self.reported_latency = self.chain.latency() as u32;
        context.set_latency_samples(self.reported_latency);
        true
    }

    fn reset(&mut self) {
        self.chain.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.params.fill(&mut self.settings);
        self.chain.set(&self.settings);
        let latency = self.chain.latency() as u32;
        if latency != self.reported_latency {
            self.reported_latency = latency;
            context.set_latency_samples(latency);
        }
        let playing = context.transport().playing;
        let reset_toggle = self.params.meter_reset.value();
        if (playing && !self.was_playing && self.params.meter_auto_reset.value())
            || reset_toggle != self.meter_reset_seen
        {
            self.chain.reset_meters();
        }
        self.was_playing = playing;
        self.meter_reset_seen = reset_toggle;
        self.chain.process(buffer.as_slice());
        self.chain.publish_meters(&self.meters);
        ProcessStatus::Normal
    }
}

impl ClapPlugin for Lacquer {
    const CLAP_ID: &'static str = "org.lacquer.mastering";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Mastering chain: gain staging, EQ, multiband compression, saturation, width, true-peak limiter");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Mastering,
        ClapFeature::Limiter,
        ClapFeature::Compressor,
        ClapFeature::Equalizer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for Lacquer {
    /// Never change: hosts identify saved instances by it.
    const VST3_CLASS_ID: [u8; 16] = *b"LacquerMasterChn";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Mastering, Vst3SubCategory::Dynamics, Vst3SubCategory::Eq];
}

nice_export_clap!(Lacquer);
nice_export_vst3!(Lacquer);
