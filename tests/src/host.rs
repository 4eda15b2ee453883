//! The host side of the CLAP callbacks: records what the plugin asks for, so tests can check
//! it (a latency change, a restart request, misbehaviour logged by the plugin).

use clack_extensions::latency::{HostLatency, HostLatencyImpl};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamRescanFlags,
};
use clack_extensions::state::{HostState, HostStateImpl};
use clack_host::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

/// Ties the handler types together for `clack-host`.
pub struct TestHost;

/// Thread-safe callbacks.
#[derive(Default)]
pub struct Shared {
    pub restart_requested: AtomicBool,
    pub callback_requested: AtomicBool,
    pub flush_requested: AtomicBool,
    /// Messages the plugin logged at warning level or worse.
    pub problems: Mutex<Vec<String>>,
    pub log_count: AtomicU32,
}

impl<'a> SharedHandler<'a> for Shared {
    fn request_restart(&self) {
        self.restart_requested.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostLogImpl for Shared {
    fn log(&self, severity: LogSeverity, message: &str) {
        self.log_count.fetch_add(1, Ordering::Relaxed);
        eprintln!("[plugin log: {severity:?}] {message}");
        if !matches!(severity, LogSeverity::Debug | LogSeverity::Info) {
            if let Ok(mut problems) = self.problems.lock() {
                problems.push(format!("{severity:?}: {message}"));
            }
        }
    }
}

impl HostParamsImplShared for Shared {
    fn request_flush(&self) {
        self.flush_requested.store(true, Ordering::SeqCst);
    }
}

/// Main-thread callbacks.
#[derive(Default)]
pub struct MainThread {
    /// How often the plugin said its latency changed.
    pub latency_changes: Cell<u32>,
    pub rescans: Cell<u32>,
    pub dirty: Cell<u32>,
}

impl<'a> MainThreadHandler<'a> for MainThread {}

impl HostLatencyImpl for MainThread {
    fn changed(&self) {
        self.latency_changes.set(self.latency_changes.get() + 1);
    }
}

impl HostStateImpl for MainThread {
    fn mark_dirty(&self) {
        self.dirty.set(self.dirty.get() + 1);
    }
}

impl HostParamsImplMainThread for MainThread {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.rescans.set(self.rescans.get() + 1);
    }
    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostLog>().register::<HostLatency>().register::<HostState>().register::<HostParams>();
    }
}
