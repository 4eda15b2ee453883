//! One plugin instance loaded from the bundle, driven like a DAW drives it.

use crate::host::{MainThread, Shared, TestHost};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// The plugin's CLAP id (`ClapPlugin::CLAP_ID`).
pub const PLUGIN_ID: &str = "org.lacquer.mastering";
/// Room for a parameter's value text.
const TEXT_CAPACITY: usize = 256;

/// A parameter as the host sees it.
#[derive(Debug, Clone)]
pub struct Param {
    pub id: u32,
    pub name: String,
    /// The group path ("2 Corrective EQ/Band 3"), empty at the top level.
    pub module: String,
    pub min: f64,
    pub max: f64,
    pub default: f64,
    pub flags: ParamInfoFlags,
}

impl Param {
    pub fn is_automatable(&self) -> bool {
        self.flags.contains(ParamInfoFlags::IS_AUTOMATABLE)
    }
    pub fn is_bypass(&self) -> bool {
        self.flags.contains(ParamInfoFlags::IS_BYPASS)
    }
    pub fn is_stepped(&self) -> bool {
        self.flags.contains(ParamInfoFlags::IS_STEPPED)
    }
    pub fn is_hidden(&self) -> bool {
        self.flags.contains(ParamInfoFlags::IS_HIDDEN)
    }
}

/// How a render cuts its input into process calls.
#[derive(Debug, Clone, Copy)]
pub enum Blocks {
    /// Every call this many frames (the last one shorter).
    Fixed(usize),
    /// A seeded random sequence of sizes in `1..=max`, a quarter of them tiny (1-16 frames).
    Random { seed: u64, max: usize },
}

/// The block patterns every host-level property is checked with.
pub const BLOCK_PATTERNS: [Blocks; 5] = [
    Blocks::Fixed(1),
    Blocks::Fixed(64),
    Blocks::Fixed(512),
    Blocks::Fixed(4096),
    Blocks::Random { seed: 7, max: 4096 },
];

/// The sample rates every host-level property is checked at.
pub const SAMPLE_RATES: [f64; 4] = [44_100.0, 48_000.0, 96_000.0, 192_000.0];

/// Largest size of the tiny blocks of [`Blocks::Random`].
const TINY_BLOCK: u64 = 16;

impl Blocks {
    /// The largest block, what the plugin is activated for.
    pub fn max(&self) -> usize {
        match *self {
            Blocks::Fixed(n) | Blocks::Random { max: n, .. } => n.max(1),
        }
    }

    /// Sizes of the calls that cover `total` frames.
    pub fn sizes(&self, total: usize) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut left = total;
        // xorshift64*: enough randomness for block sizes, no dependency.
        let mut state = match *self {
            Blocks::Random { seed, .. } => seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            Blocks::Fixed(_) => 0,
        };
        while left > 0 {
            let n = match *self {
                Blocks::Fixed(n) => n.max(1),
                Blocks::Random { max, .. } => {
                    state ^= state >> 12;
                    state ^= state << 25;
                    state ^= state >> 27;
                    let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
                    if r % 4 == 0 {
                        1 + ((r >> 2) % TINY_BLOCK) as usize
                    } else {
                        1 + ((r >> 2) % max.max(1) as u64) as usize
                    }
                }
            };
            let n = n.min(left);
            sizes.push(n);
            left -= n;
        }
        sizes
    }
}

impl std::fmt::Display for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocks::Fixed(n) => write!(f, "blocks of {n}"),
            Blocks::Random { seed, max } => write!(f, "random blocks up to {max} (seed {seed})"),
        }
    }
}

/// A parameter change at an absolute frame of a render (sample-accurate automation).
#[derive(Debug, Clone, Copy)]
pub struct Automation {
    pub frame: usize,
    pub param: u32,
    /// Plain value (what the host shows; 0/1 for a switch).
    pub value: f64,
}

/// What a render produced.
pub struct Render {
    /// One vector per channel, as long as the input.
    pub output: Vec<Vec<f32>>,
    /// Latency reported after activation.
    pub latency: u32,
    /// Latency reported after the render.
    pub latency_after: u32,
    /// How often the plugin signalled a latency change or asked for a restart during the render.
    pub latency_changes: u32,
    pub restart_requested: bool,
}

/// One instance of Lacquer in the test host.
pub struct Instance {
    instance: PluginInstance<TestHost>,
    params_ext: PluginParams,
    state_ext: PluginState,
    latency_ext: PluginLatency,
    ports_config: Option<PluginAudioPortsConfig>,
    /// Every parameter, in the plugin's order.
    pub params: Vec<Param>,
    /// Channels of the selected layout.
    pub channels: usize,
}

impl Instance {
    /// Load the bundle the suite tests ([`crate::bundle::clap`]) and create an instance.
    pub fn new() -> Self {
        Self::load(&crate::bundle::clap())
    }

    /// Load `bundle` and create an instance of Lacquer from it.
    pub fn load(bundle: &Path) -> Self {
        let entry = entry(bundle);
        let factory = entry.get_plugin_factory().expect("the bundle has a plugin factory");
        let id = CString::new(PLUGIN_ID).expect("plugin id");
        assert!(
            factory.plugin_descriptors().any(|d| d.id().is_some_and(|d| d == id.as_c_str())),
            "{} does not contain {PLUGIN_ID}",
            bundle.display()
        );
        let host_info =
            HostInfo::new("Lacquer test host", "Lacquer", "https://example.invalid", "1.0").expect("host info");
        let mut instance =
            PluginInstance::<TestHost>::new(|_| Shared::default(), |_| MainThread::default(), &entry, &id, &host_info)
                .expect("creating the plugin instance");
        let handle = instance.plugin_handle();
        let params_ext = handle.get_extension::<PluginParams>().expect("the plugin implements clap.params");
        let state_ext = handle.get_extension::<PluginState>().expect("the plugin implements clap.state");
        let latency_ext = handle.get_extension::<PluginLatency>().expect("the plugin implements clap.latency");
        let ports_config = handle.get_extension::<PluginAudioPortsConfig>();
        let mut this =
            Self { instance, params_ext, state_ext, latency_ext, ports_config, params: Vec::new(), channels: 2 };
        this.params = this.scan_params();
        this
    }

    fn scan_params(&mut self) -> Vec<Param> {
        let handle = self.instance.plugin_handle();
        let count = self.params_ext.count(&handle);
        let mut buffer = ParamInfoBuffer::new();
        (0..count)
            .map(|i| {
                let info = self.params_ext.get_info(&handle, i, &mut buffer).expect("param info");
                Param {
                    id: info.id.get(),
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    module: String::from_utf8_lossy(info.module).into_owned(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                    flags: info.flags,
                }
            })
            .collect()
    }

    /// The parameter named `name` (panics with the list of names if there is none).
    pub fn param(&self, name: &str) -> &Param {
        self.params.iter().find(|p| p.name == name).unwrap_or_else(|| {
            let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
            panic!("no parameter named {name:?}; the plugin has {names:?}")
        })
    }

    /// The id of the parameter named `name`.
    pub fn id(&self, name: &str) -> u32 {
        self.param(name).id
    }

    /// Current plain value of a parameter.
    pub fn value(&mut self, id: u32) -> f64 {
        let handle = self.instance.plugin_handle();
        self.params_ext.get_value(&handle, ClapId::new(id)).expect("param value")
    }

    /// The plugin's text for `value` of parameter `id`.
    pub fn text(&mut self, id: u32, value: f64) -> Option<String> {
        let handle = self.instance.plugin_handle();
        let mut buffer = [0u8; TEXT_CAPACITY];
        let text = self.params_ext.value_to_text(&handle, ClapId::new(id), value, &mut buffer).ok()?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    /// The plugin's value for `text` of parameter `id`.
    pub fn parse(&mut self, id: u32, text: &str) -> Option<f64> {
        let handle = self.instance.plugin_handle();
        let text = CString::new(text).ok()?;
        self.params_ext.text_to_value(&handle, ClapId::new(id), &text)
    }

    /// Set parameters while the plugin is inactive (`clap.params` flush), as a host does when
    /// it restores a project's values before playback.
    pub fn set(&mut self, changes: &[(u32, f64)]) {
        let mut events = EventBuffer::with_capacity(changes.len());
        for &(id, value) in changes {
            events.push(&ParamValueEvent::new(0, ClapId::new(id), Pckn::match_all(), value));
        }
        let mut out = EventBuffer::new();
        let mut handle = self.instance.inactive_plugin_handle().expect("set() needs an inactive plugin");
        self.params_ext.flush(&mut handle, &events.as_input(), &mut out.as_output());
    }

    /// Save the state (`clap.state`).
    pub fn save_state(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let mut bytes = Vec::new();
        self.state_ext.save(&handle, &mut bytes).expect("saving the state");
        bytes
    }

    /// Load a state (`clap.state`); an error if the plugin refuses it.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let handle = self.instance.plugin_handle();
        let mut reader = bytes;
        self.state_ext.load(&handle, &mut reader).map_err(|e| format!("{e:?}"))
    }

    /// Select the audio layout with `channels` in and out (`clap.audio-ports-config`).
    pub fn select_layout(&mut self, channels: usize) {
        let ports = self.ports_config.as_ref().expect("the plugin implements clap.audio-ports-config");
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortsConfigBuffer::new();
        let id = (0..ports.count(&handle))
            .find_map(|i| {
                let config = ports.get(&handle, i, &mut buffer)?;
                let count = |p: &Option<_>| {
                    p.as_ref().map(|p: &clack_extensions::audio_ports_config::MainPortInfo| p.channel_count as usize)
                };
                (count(&config.main_input) == Some(channels) && count(&config.main_output) == Some(channels))
                    .then_some(config.id)
            })
            .unwrap_or_else(|| panic!("no {channels}-in/{channels}-out layout"));
        ports.select(&handle, id).expect("selecting the layout");
        self.channels = channels;
    }

    /// The latency the plugin reports now.
    pub fn latency(&mut self) -> u32 {
        let handle = self.instance.plugin_handle();
        self.latency_ext.get(&handle)
    }

    /// Activate at `sample_rate` for blocks up to `max_block`, read the latency, deactivate.
    pub fn latency_at(&mut self, sample_rate: f64, max_block: usize) -> u32 {
        let config = PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count: max_block as u32 };
        let stopped = self.instance.activate(|_, _| (), config).expect("activating the plugin");
        let latency = self.latency();
        self.instance.deactivate(stopped);
        latency
    }

    /// Run `input` (one vector per channel) through the plugin at `sample_rate`, cut into
    /// process calls by `blocks`, with `automation` (sorted by frame) as sample-accurate
    /// parameter events. Activates before and deactivates after, like a host's render.
    pub fn render(
        &mut self,
        sample_rate: f64,
        input: &[Vec<f32>],
        blocks: Blocks,
        automation: &[Automation],
    ) -> Render {
        assert_eq!(input.len(), self.channels, "input channels must match the selected layout");
        assert!(automation.windows(2).all(|w| w[0].frame <= w[1].frame), "automation must be sorted");
        let len = input.first().map_or(0, Vec::len);
        let sizes = blocks.sizes(len);
        let config =
            PluginAudioConfiguration { sample_rate, min_frames_count: 1, max_frames_count: blocks.max() as u32 };
        self.instance.access_handler(|m| m.latency_changes.set(0));
        self.instance.access_shared_handler(|s| s.restart_requested.store(false, Ordering::SeqCst));
        let stopped = self.instance.activate(|_, _| (), config).expect("activating the plugin");
        let latency = self.latency();
        self.instance.access_handler(|m| m.latency_changes.set(0));
        let mut output = vec![vec![0.0f32; len]; input.len()];
        let stopped = std::thread::scope(|s| {
            let output = &mut output;
            s.spawn(move || process_all(stopped, input, output, &sizes, automation))
                .join()
                .expect("the audio thread panicked (an allocation in process() panics in the test build)")
        });
        if self.instance.access_shared_handler(|s| s.callback_requested.swap(false, Ordering::SeqCst)) {
            self.instance.call_on_main_thread_callback();
        }
        let latency_after = self.latency();
        let latency_changes = self.instance.access_handler(|m| m.latency_changes.get());
        let restart_requested = self.instance.access_shared_handler(|s| s.restart_requested.load(Ordering::SeqCst));
        self.instance.deactivate(stopped);
        Render { output, latency, latency_after, latency_changes, restart_requested }
    }

    /// Warnings and errors the plugin logged so far.
    pub fn logged_problems(&self) -> Vec<String> {
        self.instance.access_shared_handler(|s| s.problems.lock().map(|p| p.clone()).unwrap_or_default())
    }
}

impl Default for Instance {
    fn default() -> Self {
        Self::new()
    }
}

/// The loaded entry of `bundle`. Every entry stays loaded until the process ends: tests run in
/// parallel threads, and unloading the library while another thread creates an instance from
/// it is a use-after-free.
fn entry(bundle: &Path) -> PluginEntry {
    static ENTRIES: Mutex<Vec<(PathBuf, PluginEntry)>> = Mutex::new(Vec::new());
    let mut entries = ENTRIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, entry)) = entries.iter().find(|(path, _)| path == bundle) {
        return entry.clone();
    }
    // SAFETY: loading a library runs its initialisers; the bundle is our own plugin.
    let entry =
        unsafe { PluginEntry::load(bundle) }.unwrap_or_else(|e| panic!("could not load {}: {e:?}", bundle.display()));
    entries.push((bundle.to_path_buf(), entry.clone()));
    entry
}

/// The audio thread of a render.
fn process_all(
    stopped: StoppedPluginAudioProcessor<TestHost>,
    input: &[Vec<f32>],
    output: &mut [Vec<f32>],
    sizes: &[usize],
    automation: &[Automation],
) -> StoppedPluginAudioProcessor<TestHost> {
    let mut processor = stopped.start_processing().unwrap_or_else(|_| panic!("start_processing failed"));
    let channels = input.len();
    let max = sizes.iter().copied().max().unwrap_or(1);
    let mut in_bufs = vec![vec![0.0f32; max]; channels];
    let mut out_bufs = vec![vec![0.0f32; max]; channels];
    let mut in_ports = AudioPorts::with_capacity(channels, 1);
    let mut out_ports = AudioPorts::with_capacity(channels, 1);
    let mut events = EventBuffer::with_capacity(automation.len().max(1));
    let mut out_events = EventBuffer::with_capacity(64);
    let (mut pos, mut next) = (0, 0);
    for &n in sizes {
        events.clear();
        while next < automation.len() && automation[next].frame < pos + n {
            let a = automation[next];
            let time = a.frame.saturating_sub(pos) as u32;
            events.push(&ParamValueEvent::new(time, ClapId::new(a.param), Pckn::match_all(), a.value));
            next += 1;
        }
        for (buf, x) in in_bufs.iter_mut().zip(input) {
            buf[..n].copy_from_slice(&x[pos..pos + n]);
        }
        let in_audio = in_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                in_bufs.iter_mut().map(|b| InputChannel::variable(&mut b[..n])),
            ),
        }]);
        let mut out_audio = out_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(out_bufs.iter_mut().map(|b| &mut b[..n])),
        }]);
        out_events.clear();
        processor
            .process(&in_audio, &mut out_audio, &events.as_input(), &mut out_events.as_output(), Some(pos as u64), None)
            .expect("process failed");
        for (y, buf) in output.iter_mut().zip(&out_bufs) {
            y[pos..pos + n].copy_from_slice(&buf[..n]);
        }
        pos += n;
    }
    processor.stop_processing()
}
