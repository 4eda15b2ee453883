//! Where the bundles under test are, and building them when they are missing.
//!
//! `cargo xtask test` builds the test bundle once (profile `ci`, `assert_process_allocs`) and
//! passes its path in `LACQUER_CLAP`. A plain `cargo test` finds it in
//! `<target>/ci-bundled/`, or runs `cargo xtask test-bundle` first if it is not there.
//! Relative paths in `LACQUER_CLAP`, `LACQUER_VST3` and `CARGO_TARGET_DIR` are taken from the
//! workspace root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const CLAP_NAME: &str = "Lacquer.clap";
pub const VST3_NAME: &str = "Lacquer.vst3";
/// Building the bundle from scratch takes minutes (and may wait for other builds' locks).
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Paths in the environment may be relative: they are taken from the workspace root (tests
/// run in their package's folder).
fn from_workspace(path: PathBuf) -> PathBuf {
    if path.is_relative() {
        workspace().join(path)
    } else {
        path
    }
}

fn bundled_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    from_workspace(target).join("ci-bundled")
}

/// Run `cargo xtask test-bundle` once per test process.
fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        eprintln!("lacquer-host-tests: the test bundle is missing; running `cargo xtask test-bundle`");
        let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["xtask", "test-bundle"])
            .current_dir(workspace())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("running cargo xtask test-bundle");
        let deadline = Instant::now() + BUILD_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for cargo") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("`cargo xtask test-bundle` did not finish within {BUILD_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "`cargo xtask test-bundle` failed: {status}");
    });
}

/// The CLAP bundle to test: `$LACQUER_CLAP`, else `<target>/ci-bundled/Lacquer.clap` (built if
/// missing).
pub fn clap() -> PathBuf {
    if let Some(path) = std::env::var_os("LACQUER_CLAP") {
        let path = from_workspace(PathBuf::from(path));
        assert!(path.is_file(), "LACQUER_CLAP={} is not a file", path.display());
        return path;
    }
    let path = bundled_dir().join(CLAP_NAME);
    if !path.is_file() {
        build_once();
        assert!(path.is_file(), "`cargo xtask test-bundle` did not produce {}", path.display());
    }
    path
}

/// The VST3 bundle to test: `$LACQUER_VST3`, else `Lacquer.vst3` next to `$LACQUER_CLAP`, else
/// `<target>/ci-bundled/Lacquer.vst3` (built if missing).
pub fn vst3() -> PathBuf {
    if let Some(path) = std::env::var_os("LACQUER_VST3") {
        let path = from_workspace(PathBuf::from(path));
        assert!(path.join("Contents").is_dir(), "LACQUER_VST3={} is not a VST3 bundle", path.display());
        return path;
    }
    if let Some(clap) = std::env::var_os("LACQUER_CLAP") {
        let sibling = from_workspace(PathBuf::from(clap)).with_file_name(VST3_NAME);
        if sibling.join("Contents").is_dir() {
            return sibling;
        }
    }
    let bundle = bundled_dir().join(VST3_NAME);
    let binary = bundle.join("Contents/x86_64-linux/Lacquer.so");
    if !binary.is_file() {
        build_once();
        assert!(binary.is_file(), "`cargo xtask test-bundle` did not produce {}", binary.display());
    }
    bundle
}
