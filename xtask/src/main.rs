//! `cargo xtask`: bundling (nice-plug-xtask) plus Lacquer's own set-up commands.
//!
//! - `cargo xtask bundle lacquer --release`: the CLAP and VST3 bundles in `target/bundled/`.
//! - `cargo xtask install`: build the release bundles and copy them into `~/.clap` and
//!   `~/.vst3` (or `$CLAP_PATH_INSTALL` / `$VST3_PATH_INSTALL` when set).
//! - `cargo xtask test-bundle`: build the bundle the test suite loads (profile `ci`, with
//!   `assert_process_allocs`) into `target/ci-bundled/`, without touching the release bundles.
//! - `cargo xtask test`: installs the system packages the tests need (as root; otherwise prints
//!   the apt line), `test-bundle`, then the whole workspace test suite in the same profile (one
//!   compilation of every crate is shared by the bundle and the tests).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The plugin package and the bundle name nice-plug-xtask gives it (from `bundler.toml`).
const PACKAGE: &str = "lacquer";
const BUNDLE_NAME: &str = "Lacquer";
/// Profile and features of the test build; see `[profile.ci]` in the workspace Cargo.toml.
const TEST_PROFILE: &str = "ci";
const TEST_FEATURES: &str = "lacquer/assert_process_allocs";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("install") => install(),
        Some("test-bundle") => test_bundle().map(|_| ()),
        Some("test") => test(&args[1..]),
        _ => nice_plug_xtask::main_with_args("cargo xtask", args).map_err(|e| format!("{e:#}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> Result<PathBuf, String> {
    nice_plug_xtask::chdir_workspace_root().map_err(|e| format!("{e:#}"))?;
    std::env::current_dir().map_err(|e| e.to_string())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().map_err(|e| format!("could not run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    if to.exists() {
        std::fs::remove_dir_all(to).map_err(|e| format!("could not replace {}: {e}", to.display()))?;
    }
    std::fs::create_dir_all(to).map_err(|e| format!("could not create {}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let dest = to.join(entry.file_name());
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        }
    }
    Ok(())
}

/// Copy a bundle (a file for CLAP on Linux, a directory for VST3) to `dest_dir`.
fn install_bundle(bundle: &Path, dest_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dest_dir).map_err(|e| format!("could not create {}: {e}", dest_dir.display()))?;
    let dest = dest_dir.join(bundle.file_name().ok_or("bundle without a name")?);
    if bundle.is_dir() {
        copy_dir(bundle, &dest)?;
    } else {
        // Write next to the destination and rename, so a host scanning the folder never sees
        // a half-written plugin.
        let tmp = dest.with_extension("clap.partial");
        std::fs::copy(bundle, &tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    Ok(dest)
}

fn home() -> Result<PathBuf, String> {
    std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| "HOME is not set".to_string())
}

fn install() -> Result<(), String> {
    let root = workspace_root()?;
    nice_plug_xtask::main_with_args("cargo xtask", ["bundle", PACKAGE, "--release"].into_iter().map(String::from))
        .map_err(|e| format!("{e:#}"))?;
    let bundled = target_dir(&root).join("bundled");
    let clap_dir = std::env::var_os("CLAP_PATH_INSTALL").map(PathBuf::from).unwrap_or(home()?.join(".clap"));
    let vst3_dir = std::env::var_os("VST3_PATH_INSTALL").map(PathBuf::from).unwrap_or(home()?.join(".vst3"));
    let clap = install_bundle(&bundled.join(format!("{BUNDLE_NAME}.clap")), &clap_dir)?;
    let vst3 = install_bundle(&bundled.join(format!("{BUNDLE_NAME}.vst3")), &vst3_dir)?;
    println!("Installed {}", clap.display());
    println!("Installed {}", vst3.display());
    Ok(())
}

/// Build the test bundle and lay it out like nice-plug-xtask does, under `target/ci-bundled`.
///
/// The library is built by `cargo test --no-run` over the whole workspace, not by a separate
/// `cargo build`: the test build unifies dependency features across all members, so a plain
/// build of the plugin would compile nice-plug a second time with other features. Building it
/// the test suite's way compiles every crate once, for the bundle and the tests together.
fn test_bundle() -> Result<PathBuf, String> {
    let root = workspace_root()?;
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["test", "--workspace", "--no-run", "--profile", TEST_PROFILE, "--features", TEST_FEATURES])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(std::process::Stdio::piped());
    eprintln!("xtask: running {cmd:?}");
    let output = cmd.spawn().and_then(|c| c.wait_with_output()).map_err(|e| format!("could not run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("building the test suite failed with {}", output.status));
    }
    let lib = find_cdylib(&String::from_utf8_lossy(&output.stdout))
        .ok_or("cargo reported no cdylib for the plugin package")?;
    let out = target_dir(&root).join("ci-bundled");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let clap = out.join(format!("{BUNDLE_NAME}.clap"));
    std::fs::copy(&lib, &clap).map_err(|e| format!("{}: {e}", lib.display()))?;
    let vst3_bin = out.join(format!("{BUNDLE_NAME}.vst3/Contents/x86_64-linux"));
    std::fs::create_dir_all(&vst3_bin).map_err(|e| e.to_string())?;
    std::fs::copy(&lib, vst3_bin.join(format!("{BUNDLE_NAME}.so"))).map_err(|e| e.to_string())?;
    println!("Test bundle: {}", clap.display());
    Ok(clap)
}

/// The plugin's `.so` from cargo's JSON messages (one JSON object per line).
fn find_cdylib(messages: &str) -> Option<PathBuf> {
    let lib_name = format!("lib{PACKAGE}.so");
    messages
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains("\"cdylib\""))
        .flat_map(|l| l.split('"'))
        .find(|part| part.ends_with(&lib_name))
        .map(PathBuf::from)
}

/// Debian packages the test suite needs, with a program that shows each is installed.
/// `ardour`: the VST3 bundle is checked in a real VST3 host (Ardour 7, headless `ardour7-lua`).
const TEST_PACKAGES: &[(&str, &str)] = &[("ardour", "ardour7-lua")];

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Install missing system packages when running as root (a fresh CI machine); otherwise print
/// the exact apt line and go on (the tests that need them say they were skipped).
fn ensure_packages(packages: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = packages.iter().filter(|(_, probe)| !on_path(probe)).map(|(p, _)| *p).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if !is_root {
        eprintln!("xtask: missing system packages; install them with: sudo apt-get install {}", missing.join(" "));
        return Ok(());
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get").args(["install", "-y", "-qq"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive"))
}

fn test(extra: &[String]) -> Result<(), String> {
    ensure_packages(TEST_PACKAGES)?;
    let clap = test_bundle()?;
    run(Command::new(env!("CARGO"))
        .args(["test", "--workspace", "--profile", TEST_PROFILE, "--features", TEST_FEATURES])
        .args(extra)
        .env("LACQUER_CLAP", &clap))
}
