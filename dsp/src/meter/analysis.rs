//! Offline analysis of a whole programme (the `lacquer analyze` command): loudness, peaks,
//! per-platform playback and the diagnostic verdicts, rendered as text or JSON.
//!
//! Mono input is measured as one channel, as ITU-R BS.1770 defines it (and as the plugin's
//! meters, ffmpeg's `ebur128` and libebur128 measure it); the report notes that played as dual
//! mono on two speakers it is 3 LU louder. Beyond two channels only the first two are measured
//! (the report says so).

use super::diagnostics::{diagnose, DiagnosticInput, Verdict};
use super::platforms::{playback_all, Playback};
use super::programme::ProgrammeMeter;
use super::snapshot::ProgrammeValues;
use super::spectrum::SpectrumAverager;

/// Frames measured per step (bounded memory however long the file).
const CHUNK: usize = 4096;
/// Spectrum resolution for the diagnostics, Hz (the FFT length follows from the rate).
const SPECTRUM_RESOLUTION_HZ: f64 = 5.0;
/// Weight of the mono meter's single channel: the mono sum `(L+R)/2` plays on both speakers.
const MONO_SUM_WEIGHT: f64 = 2.0;
/// Channel weights of a mono file, which arrives duplicated on both lanes: half each, so the
/// reading is that of one channel (BS.1770).
const MONO_FILE_WEIGHTS: [f64; 2] = [0.5, 0.5];
/// How much louder a mono programme reads when played as dual mono (both speakers), LU.
const DUAL_MONO_LU: f64 = 3.01;

/// Everything `lacquer analyze` reports about one programme.
#[derive(Debug, Clone)]
pub struct Report {
    pub sample_rate: f64,
    pub channels: usize,
    pub duration_s: f64,
    pub values: ProgrammeValues,
    /// Integrated loudness of the mono sum, LUFS.
    pub mono_lufs: f64,
    pub playback: Vec<Playback>,
    pub verdicts: Vec<Verdict>,
    /// Remarks about the measurement itself (e.g. channels ignored).
    pub notes: Vec<String>,
}

/// Measure `interleaved` samples of `channels` channels at `sample_rate`.
pub fn analyse(interleaved: &[f32], channels: usize, sample_rate: f64) -> Report {
    let channels = channels.max(1);
    let mut notes = Vec::new();
    if channels > 2 {
        notes.push(format!("{channels} channels: only the first two are measured"));
    }
    let (weights, mono_weight) = if channels == 1 {
        notes.push(format!(
            "mono: measured as one channel (BS.1770); played as dual mono it reads {DUAL_MONO_LU:.1} LU louder"
        ));
        // The mono sum of a mono file is the file itself: measured the same way.
        (MONO_FILE_WEIGHTS, 1.0)
    } else {
        ([1.0, 1.0], MONO_SUM_WEIGHT)
    };
    let mut stereo = ProgrammeMeter::<2>::new(sample_rate, weights);
    let mut mono = ProgrammeMeter::<1>::new(sample_rate, [mono_weight]);
    let fft_len = (sample_rate / SPECTRUM_RESOLUTION_HZ) as usize;
    let mut mid_spectrum = SpectrumAverager::new(fft_len);
    let mut side_spectrum = SpectrumAverager::new(fft_len);
    let mut frames = vec![[0.0f64; 2]; CHUNK];
    let mut mids = vec![[0.0f64; 1]; CHUNK];
    let mut sums = [0.0f64; 3];
    let total_frames = interleaved.len() / channels;
    for chunk in interleaved[..total_frames * channels].chunks(CHUNK * channels) {
        let n = chunk.len() / channels;
        for (k, frame) in chunk.chunks_exact(channels).enumerate() {
            let l = frame[0] as f64;
            let r = if channels > 1 { frame[1] as f64 } else { l };
            frames[k] = [l, r];
            let (mid, side) = (0.5 * (l + r), 0.5 * (l - r));
            mids[k] = [mid];
            mid_spectrum.push(mid);
            side_spectrum.push(side);
            sums[0] += l * r;
            sums[1] += l * l;
            sums[2] += r * r;
        }
        stereo.process(&frames[..n]);
        mono.process(&mids[..n]);
    }
    stereo.finish();
    mono.finish();
    let values = stereo.values();
    let mono_lufs = mono.values().integrated;
    let denom = (sums[1] * sums[2]).sqrt();
    let correlation = if denom > 0.0 { sums[0] / denom } else { 0.0 };
    if total_frames < fft_len {
        notes.push("shorter than one analysis window: no spectral diagnostics".into());
    }
    let verdicts = diagnose(&DiagnosticInput {
        true_peak_dbtp: values.true_peak_max,
        sample_peak_dbfs: values.sample_peak_max,
        correlation,
        stereo_lufs: values.integrated,
        mono_lufs,
        mid_power: mid_spectrum.mean_power(),
        side_power: side_spectrum.mean_power(),
        bin_hz: sample_rate / mid_spectrum.fft_len() as f64,
    });
    Report {
        sample_rate,
        channels,
        duration_s: total_frames as f64 / sample_rate,
        values,
        mono_lufs,
        playback: playback_all(values.integrated, values.true_peak_max),
        verdicts,
        notes,
    }
}

/// Round to the one decimal shown, without a "-0.0".
fn tenth(x: f64) -> f64 {
    (x * 10.0).round() / 10.0 + 0.0
}

/// A number for text output: one decimal, or "-inf".
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}", tenth(x))
    } else if x < 0.0 {
        "-inf".into()
    } else {
        "inf".into()
    }
}

/// A number for JSON: up to three decimals, `null` when not finite.
fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else {
        "null".into()
    }
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Report {
    /// Human-readable report; `name` is the file name shown in the header.
    pub fn to_text(&self, name: &str) -> String {
        let v = &self.values;
        let mut s =
            format!("{name}\n  {:.1} s, {} Hz, {} channel(s)\n", self.duration_s, self.sample_rate, self.channels);
        for note in &self.notes {
            s += &format!("  note: {note}\n");
        }
        s += &format!("  integrated loudness   {:>7} LUFS\n", num(v.integrated));
        s += &format!("  loudness range        {:>7} LU\n", num(v.loudness_range));
        s += &format!("  max momentary         {:>7} LUFS\n", num(v.momentary_max));
        s += &format!("  max short-term        {:>7} LUFS\n", num(v.short_term_max));
        s += &format!("  true peak             {:>7} dBTP\n", num(v.true_peak_max));
        s += &format!("  sample peak           {:>7} dBFS\n", num(v.sample_peak_max));
        s += &format!("  PLR                   {:>7} LU\n", num(v.plr));
        s += &format!("  mono sum loudness     {:>7} LUFS\n", num(self.mono_lufs));
        s += "  playback (gain applied -> resulting true peak)\n";
        for p in &self.playback {
            s += &format!(
                "    {:<13} {:>6} dB -> {:>6} dBTP\n",
                p.platform,
                format!("{:+.1}", tenth(p.gain_db)),
                num(p.resulting_true_peak_dbtp)
            );
            for w in &p.warnings {
                s += &format!("      ! {w}\n");
            }
        }
        s += "  diagnostics\n";
        for d in &self.verdicts {
            s += &format!("    {}: {}\n", d.topic, d.text);
        }
        s
    }

    /// The same as a JSON object (hand-written: no serialisation dependency).
    pub fn to_json(&self, name: &str) -> String {
        let v = &self.values;
        let fields = [
            ("integrated_lufs", v.integrated),
            ("loudness_range_lu", v.loudness_range),
            ("max_momentary_lufs", v.momentary_max),
            ("max_short_term_lufs", v.short_term_max),
            ("true_peak_dbtp", v.true_peak_max),
            ("sample_peak_dbfs", v.sample_peak_max),
            ("plr_lu", v.plr),
            ("mono_lufs", self.mono_lufs),
        ];
        let mut s = format!(
            "{{\"file\":{},\"sample_rate\":{},\"channels\":{},\"duration_s\":{}",
            json_str(name),
            json_num(self.sample_rate),
            self.channels,
            json_num(self.duration_s)
        );
        for (key, value) in fields {
            s += &format!(",\"{key}\":{}", json_num(value));
        }
        let list = |items: Vec<String>| format!("[{}]", items.join(","));
        s += &format!(",\"notes\":{}", list(self.notes.iter().map(|n| json_str(n)).collect()));
        s += &format!(
            ",\"platforms\":{}",
            list(
                self.playback
                    .iter()
                    .map(|p| {
                        format!(
                            "{{\"platform\":{},\"gain_db\":{},\"resulting_true_peak_dbtp\":{},\"playback_lufs\":{},\"warnings\":{}}}",
                            json_str(p.platform),
                            json_num(p.gain_db),
                            json_num(p.resulting_true_peak_dbtp),
                            json_num(p.playback_lufs),
                            list(p.warnings.iter().map(|w| json_str(w)).collect())
                        )
                    })
                    .collect()
            )
        );
        s += &format!(
            ",\"diagnostics\":{}}}",
            list(
                self.verdicts
                    .iter()
                    .map(|d| format!(
                        "{{\"topic\":{},\"value\":{},\"text\":{}}}",
                        json_str(&d.topic),
                        json_num(d.value),
                        json_str(&d.text)
                    ))
                    .collect()
            )
        );
        s
    }
}
