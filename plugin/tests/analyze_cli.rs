//! `lacquer analyze` as a user runs it (issue 6): the built binary on WAV files written here.
//! Readings within the EBU tolerances, JSON that carries them, and exit status 2 with a
//! one-line reason for every file it cannot measure.

use std::path::PathBuf;
use std::process::{Command, Output};

const FS: u32 = 48_000;

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lacquer-analyze-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Write `channels` of a 997 Hz sine at `dbfs` for `seconds` as 24-bit PCM.
fn write_sine(path: &PathBuf, channels: u16, rate: u32, dbfs: f64, seconds: f64) {
    let spec =
        hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 24, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).expect("wav writer");
    let amplitude = 10f64.powf(dbfs / 20.0) * f64::from((1 << 23) - 1);
    for n in 0..(seconds * f64::from(rate)) as usize {
        let v = (amplitude * (2.0 * std::f64::consts::PI * 997.0 * n as f64 / f64::from(rate)).sin()).round() as i32;
        for _ in 0..channels {
            w.write_sample(v).expect("sample");
        }
    }
    w.finalize().expect("finalize");
}

fn analyze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lacquer")).arg("analyze").args(args).output().expect("running lacquer")
}

/// The number after `"key":` in `json` (the first occurrence).
fn json_number(json: &str, key: &str) -> f64 {
    let key = format!("\"{key}\":");
    let at = json.find(&key).unwrap_or_else(|| panic!("{key} missing in {json}")) + key.len();
    json[at..].split([',', '}']).next().unwrap().parse().expect("a number")
}

#[test]
fn reads_loudness_and_true_peak_of_files_within_the_ebu_tolerance() {
    let dir = scratch("readings");
    // Tech 3341 case 1: stereo sine at -23 dBFS reads -23 LUFS; the same at 44.1 kHz.
    let a = dir.join("a.wav");
    let b = dir.join("b.wav");
    write_sine(&a, 2, FS, -23.0, 20.0);
    write_sine(&b, 2, 44_100, -23.0, 20.0);
    let out = analyze(&[a.to_str().unwrap(), b.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json = String::from_utf8(out.stdout).expect("utf-8");
    assert!(json.trim_start().starts_with('[') && json.trim_end().ends_with(']'), "{json}");
    let files: Vec<&str> = json.split("{\"file\":").skip(1).collect();
    assert_eq!(files.len(), 2, "{json}");
    for file in files {
        let integrated = json_number(file, "integrated_lufs");
        assert!((integrated - -23.0).abs() <= 0.1, "integrated {integrated} LUFS in {file}");
        let true_peak = json_number(file, "true_peak_dbtp");
        assert!((true_peak - -23.0).abs() <= 0.2, "true peak {true_peak} dBTP");
    }
    // The text report shows the same reading.
    let out = analyze(&[a.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("-23.0 LUFS"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_unmeasurable_input_exits_2_with_a_one_line_reason() {
    let dir = scratch("bad");
    let garbage = dir.join("garbage.wav");
    std::fs::write(&garbage, b"RIFF\x10\x00\x00\x00WAVEnot a wave file at all").unwrap();
    let truncated = dir.join("truncated.wav");
    write_sine(&truncated, 2, FS, -20.0, 1.0);
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2 + 1]).unwrap();
    let absurd_rate = dir.join("one-hertz.wav");
    write_sine(&absurd_rate, 2, 1, -20.0, 10.0);
    let missing = dir.join("missing.wav");
    let good = dir.join("good.wav");
    write_sine(&good, 2, FS, -20.0, 1.0);
    for (what, path, reason) in [
        ("garbage", &garbage, "cannot read"),
        ("truncated", &truncated, "cannot read"),
        ("1 Hz sample rate", &absurd_rate, "unsupported sample rate"),
        ("missing", &missing, "cannot read"),
    ] {
        // A bad file among good ones still fails the command, and says which file.
        let out = analyze(&[good.to_str().unwrap(), path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{what}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.contains(reason) && stderr.contains(path.file_name().unwrap().to_str().unwrap()),
            "{what}: {stderr}"
        );
    }
    // No file at all: the usage line.
    let out = Command::new(env!("CARGO_BIN_EXE_lacquer")).arg("analyze").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mono_file_is_measured_as_one_channel_and_says_so() {
    let dir = scratch("mono");
    let mono = dir.join("mono.wav");
    write_sine(&mono, 1, FS, -20.0, 10.0);
    let out = analyze(&[mono.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let json = String::from_utf8(out.stdout).unwrap();
    let integrated = json_number(&json, "integrated_lufs");
    // BS.1770: one channel of a -20 dBFS 997 Hz sine is -23.0 LUFS.
    assert!((integrated - -23.0).abs() <= 0.1, "{integrated} LUFS");
    assert!(json.contains("dual mono"), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}
