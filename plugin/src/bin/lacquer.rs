//! `lacquer analyze FILE... [--json]`: measure WAV files offline — integrated loudness, LRA,
//! max momentary and short-term, true and sample peak, PLR, per-platform playback gains and the
//! diagnostic verdicts. The measurement lives in `lacquer_dsp::meter::analysis`; this file only
//! reads files and prints. Exit status 2 with a one-line reason when a file cannot be read.

use std::process::ExitCode;

use lacquer_dsp::meter::analysis::analyse;

const USAGE: &str = "usage: lacquer analyze FILE... [--json]";

/// Exit status for an unreadable file or a bad command line.
const EXIT_UNREADABLE: u8 = 2;
/// Sample rates the meters are defined for, Hz: the K-weighting shelf (1.68 kHz) must lie
/// well below Nyquist; above 768 kHz no real file exists.
const MIN_RATE_HZ: u32 = 8_000;
const MAX_RATE_HZ: u32 = 768_000;

/// Read a WAV file as interleaved `f32` in -1..1, with its channel count and sample rate.
fn read_wav(path: &str) -> Result<(Vec<f32>, usize, f64), String> {
    let reader = hound::WavReader::open(path).map_err(|e| format!("{path}: {e}"))?;
    let spec = reader.spec();
    if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&spec.sample_rate) {
        return Err(format!(
            "{path}: unsupported sample rate {} Hz (measurable: {MIN_RATE_HZ} to {MAX_RATE_HZ} Hz)",
            spec.sample_rate
        ));
    }
    let samples: Result<Vec<f32>, hound::Error> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect()
        }
    };
    let samples = samples.map_err(|e| format!("{path}: {e}"))?;
    Ok((samples, spec.channels as usize, spec.sample_rate as f64))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args.iter().skip(1).filter(|a| *a != "--json").collect();
    if args.first().map(String::as_str) != Some("analyze") || files.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(EXIT_UNREADABLE);
    }
    let mut reports = Vec::new();
    for path in files {
        match read_wav(path) {
            Ok((samples, channels, rate)) => {
                let report = analyse(&samples, channels, rate);
                reports.push(if json { report.to_json(path) } else { report.to_text(path) });
            }
            Err(reason) => {
                eprintln!("lacquer: cannot read {}", reason.replace('\n', " "));
                return ExitCode::from(EXIT_UNREADABLE);
            }
        }
    }
    if json {
        println!("[{}]", reports.join(","));
    } else {
        print!("{}", reports.join("\n"));
    }
    ExitCode::SUCCESS
}
