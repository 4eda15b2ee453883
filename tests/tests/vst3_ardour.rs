//! The VST3 bundle in a real VST3 host: Debian's Ardour 7, headless (`ardour7-lua`).
//!
//! The test copies the bundle into a throw-away `~/.vst3` (HOME and the XDG folders point into
//! a temp dir, so the user's Ardour configuration is never touched), indexes it with Ardour's
//! own `ardour-vst3-scanner`, then runs `tests/ardour/vst3_process.lua` in `ardour7-lua` on the
//! "None (Dummy)" backend at 48 kHz. The script renders a known stereo tone (997 Hz left,
//! 1499 Hz right, amplitude 0.1, from the Lua DSP script `tests/ardour/lacquer_test_tone.lua`)
//! through Lacquer with Ardour's track bounce (the host's offline render, with its latency
//! compensation) under several settings, saves, closes and reloads the session, and reports on
//! stdout. This test reads the rendered WAV files and checks:
//!
//! - Ardour lists the plugin (name, 2 in / 2 out, parameters "Output Trim" and "Bypass");
//! - the factory-settings render is finite and not silent;
//! - Output Trim at -6 dB lowers the level by 6 dB (within 0.1 dB), also after Ardour
//!   deactivated and re-activated the plugin;
//! - the plugin's own Bypass and Ardour's bypass (deactivated insert) both return the input
//!   sample for sample: the plugin's bypass is aligned with the latency it reports, and Ardour
//!   compensates exactly that latency;
//! - the saved session brings the plugin back with Output Trim at -6 dB (VST3 state).
//!
//! It also prints, without judging, the latency Ardour sees and the phase delay of the
//! factory-settings output against the input at the two tone frequencies.
//!
//! Bundle: `$LACQUER_VST3`, else `Lacquer.vst3` next to `$LACQUER_CLAP`, else
//! `<target>/ci-bundled/Lacquer.vst3` (built here with `cargo xtask test-bundle` if missing).
//! Without `ardour7-lua` (Debian package `ardour`) the test is skipped, or fails when `$CI` is
//! set. `LACQUER_KEEP_TEMP=1` keeps the temp dir (session, renders, logs) for inspection.

use lacquer_host_tests::bundle::VST3_NAME as BUNDLE_NAME;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ARDOUR_LUA: &str = "ardour7-lua";
const ARDOUR_LIB_DIR: &str = "/usr/lib/ardour7";
const VST3_SCANNER: &str = "/usr/lib/ardour7/ardour-vst3-scanner";
/// Each child process is killed after this long: the test never hangs.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

const RATE: u32 = 48_000;
/// Length of each render through the plugin.
const SECONDS: usize = 2;
/// Judged part of each render: after the region fade-in, the trim smoother and the bypass
/// crossfades have settled.
const SKIP: usize = RATE as usize / 2;
/// The test tone; keep in step with `tests/ardour/lacquer_test_tone.lua`.
const AMPLITUDE: f64 = 0.1;
const FREQ: [f64; 2] = [997.0, 1499.0];

const TRIM_DB: f64 = -6.0;
const TRIM_TOLERANCE_DB: f64 = 0.1;
/// A bypass must give back the input: float rounding at most (-100 dBFS).
const BYPASS_TOLERANCE: f64 = 1e-5;

#[test]
fn vst3_loads_and_processes_in_ardour() {
    let Some(ardour_lua) = find_on_path(ARDOUR_LUA) else {
        let msg = format!(
            "{ARDOUR_LUA} not found: install Debian's `ardour` package (apt-get install ardour) \
             to check the VST3 bundle in Ardour"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg} (CI is set, so this is an error)");
        }
        eprintln!("SKIPPED vst3_ardour: {msg}");
        return;
    };
    assert!(
        Path::new(VST3_SCANNER).is_file(),
        "{ARDOUR_LUA} is installed but {VST3_SCANNER} is missing (is the Debian `ardour` package complete?)"
    );

    let bundle = lacquer_host_tests::bundle::vst3();
    let tmp = TempDir::new("lacquer-vst3-ardour");
    let root = tmp.path();

    // An isolated home: Ardour reads and writes only here.
    let home = root.join("home");
    let config = root.join("config");
    let scripts = config.join("ardour7").join("scripts");
    for dir in [&home.join(".vst3"), &scripts, &root.join("cache"), &root.join("data"), &root.join("state")] {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    }
    let env = |cmd: &mut Command| {
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_CACHE_HOME", root.join("cache"))
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_STATE_HOME", root.join("state"))
            .env_remove("VST3_PATH")
            .current_dir(root);
    };

    // The bundle, copied as a packager would (`cp -a` keeps the layout and modes).
    let installed = home.join(".vst3").join(BUNDLE_NAME);
    let status = Command::new("cp").arg("-a").arg(&bundle).arg(&installed).status().expect("running cp");
    assert!(status.success(), "cp -a {} {} failed: {status}", bundle.display(), installed.display());

    let ardour_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ardour");
    fs::copy(ardour_dir.join("lacquer_test_tone.lua"), scripts.join("lacquer_test_tone.lua"))
        .expect("installing the test tone script");

    // 1. Ardour's VST3 scanner loads the module in its own process and writes the cache that
    //    ardour7-lua reads (headless Ardour does not scan by itself).
    let started = Instant::now();
    let mut scan = Command::new(VST3_SCANNER);
    scan.arg("-f").arg(&installed).env("LD_LIBRARY_PATH", ld_library_path());
    env(&mut scan);
    let scan = run_with_timeout(scan, root, "vst3-scanner");
    assert!(
        scan.status.success() && scan.stdout.contains("Found Plugin: Lacquer"),
        "ardour-vst3-scanner did not accept the bundle ({})\n{}",
        scan.status,
        scan.log()
    );
    let cache = root.join("cache").join("ardour7").join("vst");
    let cached = fs::read_dir(&cache)
        .map(|d| d.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "v3i")))
        .unwrap_or(false);
    assert!(cached, "the scanner wrote no VST3 cache file in {}\n{}", cache.display(), scan.log());

    // 2. The session script.
    let session_dir = root.join("session");
    let mut lua = Command::new(&ardour_lua);
    lua.arg(ardour_dir.join("vst3_process.lua")).arg(&session_dir).arg(SECONDS.to_string());
    env(&mut lua);
    let run = run_with_timeout(lua, root, "ardour7-lua");
    let report = Report::parse(&run.stdout);
    if let Some(fail) = report.first("fail") {
        panic!("the Ardour session script failed: {fail}\n{}", run.log());
    }
    assert!(
        report.first("done") == Some("ok"),
        "ardour7-lua did not finish the session script ({})\n{}",
        run.status,
        run.log()
    );
    // A crash on the way out (plugin destruction, session close) counts too.
    assert!(run.status.success(), "ardour7-lua exited with {}\n{}", run.status, run.log());
    eprintln!("vst3_ardour: Ardour ran the session in {:.1} s", started.elapsed().as_secs_f64());

    // 3. What Ardour sees.
    let get = |key: &str| report.first(key).unwrap_or_else(|| panic!("no `{key}` in the report\n{}", run.log()));
    assert!(get("backend").contains("Dummy"), "backend: {}", get("backend"));
    assert_eq!(get("sample_rate"), RATE.to_string(), "session sample rate");
    assert_eq!(get("plugin_name"), "Lacquer");
    assert_eq!(get("plugin_inputs"), "2", "audio inputs Ardour configured");
    assert_eq!(get("plugin_outputs"), "2", "audio outputs Ardour configured");
    let params: Vec<&str> = report.all("param").iter().filter_map(|p| p.split_once(' ').map(|(_, n)| n)).collect();
    for name in ["Output Trim", "Bypass"] {
        assert!(params.contains(&name), "Ardour shows no parameter named {name:?}; it shows {params:?}");
    }
    eprintln!(
        "vst3_ardour: Ardour shows {} parameters; latency (plugin, track) after insertion: {}, after the renders: {}",
        params.len(),
        get("latency_inserted"),
        get("latency_trim6_again")
    );

    // 4. The renders.
    let renders = report.renders(&run);
    let n = SECONDS * RATE as usize;
    let input = &renders["input"];
    for (ch, x) in input.iter().enumerate() {
        check_tone(x, ch);
    }
    for (label, chans) in &renders {
        for (ch, x) in chans.iter().enumerate() {
            assert!(x.len() >= n, "render {label} channel {ch}: {} samples, expected {n}", x.len());
            assert!(x.iter().all(|v| v.is_finite()), "render {label} channel {ch} has non-finite samples");
        }
    }
    let window = |x: &[f32]| x[SKIP..n].to_vec();

    for (ch, input) in renders["input"].iter().enumerate() {
        let inp = window(input);
        let default = window(&renders["default"][ch]);
        let level_in = rms_db(&inp);
        let level_default = rms_db(&default);
        eprintln!(
            "vst3_ardour: channel {ch}: input {level_in:.2} dBFS RMS, factory settings {level_default:.2} dBFS RMS"
        );
        assert!(level_default > -60.0, "channel {ch}: the plugin's output is silent ({level_default:.1} dBFS)");
        // For information: how far the processed tone lags the input after Ardour's latency
        // compensation (0 for a chain that is linear-phase at this frequency or reports all of
        // its delay as latency).
        eprintln!(
            "vst3_ardour: channel {ch}: factory settings: phase delay at {} Hz after latency compensation {:+.2} samples",
            FREQ[ch],
            phase_delay(&default, &inp, FREQ[ch])
        );

        for label in ["trim6", "trim6_again"] {
            let trimmed = window(&renders[label][ch]);
            let change = rms_db(&trimmed) - level_default;
            eprintln!("vst3_ardour: channel {ch}: {label}: {change:+.3} dB against factory settings");
            assert!(
                (change - TRIM_DB).abs() <= TRIM_TOLERANCE_DB,
                "channel {ch}: Output Trim {TRIM_DB} dB changed the level by {change:.3} dB ({label})"
            );
        }

        // Both bypasses run with Output Trim still at -6 dB: they must skip the whole chain.
        for label in ["plugin_bypass", "host_bypass"] {
            let out = window(&renders[label][ch]);
            let (max_diff, at) = max_abs_diff(&out, &inp);
            eprintln!("vst3_ardour: channel {ch}: {label}: largest difference from the input {max_diff:.2e}");
            assert!(
                max_diff <= BYPASS_TOLERANCE,
                "channel {ch}: {label} differs from the input by {max_diff:.3e} at sample {} \
                 (output {:.6}, input {:.6}); latency (plugin, track) reported to Ardour: {}. A bypass \
                 that is not the input sample for sample means the bypass or the latency the plugin \
                 reports is wrong{}",
                SKIP + at,
                out[at],
                inp[at],
                get(&format!("latency_{label}")),
                lag_hint(&out, &inp)
            );
        }
    }

    // 5. The session state came back.
    assert_eq!(get("reloaded_plugin"), "Lacquer", "plugin on the track after reloading the session");
    let trim: f64 = get("reloaded_output_trim").parse().expect("reloaded_output_trim is a number");
    assert!((trim - TRIM_DB).abs() < 0.01, "Output Trim after reloading the session: {trim} dB, saved {TRIM_DB} dB");
    eprintln!("vst3_ardour: all checks passed in {:.1} s", started.elapsed().as_secs_f64());
}

/// The input render must be the tone the test expects: level and frequency.
fn check_tone(x: &[f32], ch: usize) {
    let n = SECONDS * RATE as usize;
    assert!(x.len() >= n, "input channel {ch}: {} samples, expected {n}", x.len());
    let x = &x[..n];
    let peak = x.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    let expected_rms = 20.0 * (AMPLITUDE / 2f64.sqrt()).log10();
    assert!((peak - AMPLITUDE).abs() < 1e-3, "input channel {ch}: peak {peak}, expected {AMPLITUDE}");
    assert!((rms_db(x) - expected_rms).abs() < 0.05, "input channel {ch}: {} dBFS RMS", rms_db(x));
    let crossings = x.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f64;
    let expected = 2.0 * FREQ[ch] * SECONDS as f64;
    assert!((crossings - expected).abs() <= 3.0, "input channel {ch}: {crossings} zero crossings, expected {expected}");
}

/// Delay of `out` against `inp` at `freq`, in samples, from their phases at that frequency
/// (folded into half a period either side).
fn phase_delay(out: &[f32], inp: &[f32], freq: f64) -> f64 {
    let phase = |x: &[f32]| {
        let w = 2.0 * std::f64::consts::PI * freq / RATE as f64;
        let (s, c) = x.iter().enumerate().fold((0.0, 0.0), |(s, c), (i, &v)| {
            let (sin, cos) = (w * i as f64).sin_cos();
            (s + v as f64 * sin, c + v as f64 * cos)
        });
        c.atan2(s)
    };
    let tau = 2.0 * std::f64::consts::PI;
    let lag = (phase(inp) - phase(out)).rem_euclid(tau);
    let lag = if lag > tau / 2.0 { lag - tau } else { lag };
    lag / tau * RATE as f64 / freq
}

fn rms_db(x: &[f32]) -> f64 {
    let power = x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * power.max(1e-30).log10()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> (f64, usize) {
    a.iter().zip(b).enumerate().fold((0.0, 0), |(m, at), (i, (&x, &y))| {
        let d = (x as f64 - y as f64).abs();
        if d > m {
            (d, i)
        } else {
            (m, at)
        }
    })
}

/// For a failure message: the delay (within ±4096 samples) at which the output best matches
/// the input. Sines repeat, so several delays a period apart may fit; the smallest is given.
fn lag_hint(out: &[f32], inp: &[f32]) -> String {
    const MAX_LAG: usize = 4096;
    if out.len() < 3 * MAX_LAG {
        return String::new();
    }
    let err = |lag: isize| -> f64 {
        (MAX_LAG..out.len() - MAX_LAG)
            .map(|i| {
                let d = out[i] as f64 - inp[(i as isize - lag) as usize] as f64;
                d * d
            })
            .sum()
    };
    let best =
        (-(MAX_LAG as isize)..=MAX_LAG as isize).map(|lag| (err(lag), lag)).fold((f64::INFINITY, 0isize), |b, c| {
            if c.0 < b.0 - 1e-9 || (c.0 <= b.0 + 1e-9 && c.1.abs() < b.1.abs()) {
                c
            } else {
                b
            }
        });
    format!("; the output matches the input best delayed by {} samples", best.1)
}

/// `LACQUER <key> <value>` lines from the session script.
struct Report {
    entries: Vec<(String, String)>,
}

impl Report {
    fn parse(stdout: &str) -> Self {
        let entries = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("LACQUER "))
            .map(|l| match l.split_once(' ') {
                Some((k, v)) => (k.to_string(), v.trim_end().to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect();
        Self { entries }
    }

    fn first(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.entries.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// `file <label> <channel> <path>` lines: every render, both channels, read from disk.
    fn renders(&self, run: &Output) -> BTreeMap<String, [Vec<f32>; 2]> {
        let mut paths: BTreeMap<String, [Option<PathBuf>; 2]> = BTreeMap::new();
        for entry in self.all("file") {
            let mut parts = entry.splitn(3, ' ');
            let (Some(label), Some(ch), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                panic!("malformed file line {entry:?}");
            };
            let ch: usize = ch.parse().expect("channel number");
            paths.entry(label.to_string()).or_default()[ch] = Some(PathBuf::from(path));
        }
        for label in ["input", "default", "trim6", "plugin_bypass", "host_bypass", "trim6_again"] {
            assert!(paths.contains_key(label), "the session script rendered no `{label}`\n{}", run.log());
        }
        paths
            .into_iter()
            .map(|(label, [l, r])| {
                let read = |p: Option<PathBuf>, ch: usize| {
                    let p = p.unwrap_or_else(|| panic!("render {label} has no channel {ch}"));
                    read_mono_wav(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
                };
                let chans = [read(l, 0), read(r, 1)];
                (label, chans)
            })
            .collect()
    }
}

/// A mono RIFF/WAVE file (what Ardour writes for each channel of a bounce): 32-bit float or
/// 16/24/32-bit integer PCM, plain or WAVE_FORMAT_EXTENSIBLE, any extra chunks skipped.
fn read_mono_wav(path: &Path) -> Result<Vec<f32>, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut format = None;
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(pos + 4) as usize;
        let body = pos + 8;
        let end = (body + size).min(bytes.len());
        match id {
            b"fmt " => {
                let mut tag = u16_at(body);
                if tag == 0xFFFE && size >= 26 {
                    tag = u16_at(body + 24); // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID
                }
                let (channels, rate, bits) = (u16_at(body + 2), u32_at(body + 4), u16_at(body + 14));
                if channels != 1 {
                    return Err(format!("{channels} channels, expected mono"));
                }
                if rate != RATE {
                    return Err(format!("sample rate {rate}, expected {RATE}"));
                }
                format = Some((tag, bits));
            }
            b"data" => {
                let data = &bytes[body..end];
                return match format {
                    Some((3, 32)) => {
                        Ok(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
                    }
                    Some((1, 16)) => {
                        Ok(data.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect())
                    }
                    Some((1, 24)) => Ok(data
                        .chunks_exact(3)
                        .map(|b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0)
                        .collect()),
                    Some((1, 32)) => Ok(data
                        .chunks_exact(4)
                        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0)
                        .collect()),
                    Some((tag, bits)) => Err(format!("unsupported WAV format {tag} with {bits} bits")),
                    None => Err("data chunk before fmt chunk".into()),
                };
            }
            _ => {}
        }
        pos = body + size + (size & 1);
    }
    Err("no data chunk".into())
}

fn ld_library_path() -> std::ffi::OsString {
    let mut paths = vec![PathBuf::from(ARDOUR_LIB_DIR)];
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(paths).expect("LD_LIBRARY_PATH")
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(program)).find(|p| p.is_file()))
}

struct Output {
    name: &'static str,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    fn log(&self) -> String {
        format!("--- {} exit: {}\n--- stdout:\n{}\n--- stderr:\n{}", self.name, self.status, self.stdout, self.stderr)
    }
}

/// Run a child with stdout and stderr in files (no pipe can fill up and block it), killing it
/// after [`CHILD_TIMEOUT`].
fn run_with_timeout(mut cmd: Command, dir: &Path, name: &'static str) -> Output {
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    let file = |p: &Path| fs::File::create(p).unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
    cmd.stdin(Stdio::null()).stdout(file(&out_path)).stderr(file(&err_path));
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not run {name} ({cmd:?}): {e}"));
    let status = wait_with_timeout(&mut child, CHILD_TIMEOUT);
    let read = |p: &Path| {
        let mut s = String::new();
        let _ = fs::File::open(p).and_then(|mut f| f.read_to_string(&mut s));
        s
    };
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    let Some(status) = status else {
        panic!("{name} did not finish within {CHILD_TIMEOUT:?} and was killed\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}");
    };
    Output { name, status, stdout, stderr }
}

/// Wait for `child`; kill it and return `None` after `timeout`.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().expect("waiting for a child process") {
            Some(status) => return Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A temp dir removed on drop (also when the test panics), unless `LACQUER_KEEP_TEMP` is set.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("LACQUER_KEEP_TEMP").is_some() {
            eprintln!("vst3_ardour: kept {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
