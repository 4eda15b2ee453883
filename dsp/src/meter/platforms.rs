//! What each platform's loudness normalisation does to a master at playback: the gain it
//! applies, the true peak that results, and the warnings an engineer should see.
//!
//! These are playback references, not mastering targets. Sources (as collected in the project's
//! reference page `loudness-and-peaks.md`, from the platforms' public help pages and the AES
//! TD1008 recommendation); where a platform publishes no number the figure is the one the
//! industry tables agree on and is marked "uncertain":
//! - Spotify: -14 LUFS; turns loud tracks down; raises quiet ones only while 1 dB of true-peak
//!   headroom remains (no limiter in the default mode); asks for <= -1 dBTP, or <= -2 dBTP when
//!   the master is louder than -14 LUFS (Spotify for Artists, "Loudness normalization").
//! - Apple Music: Sound Check, about -16 LUFS (Apple publishes no number; uncertain). Modelled
//!   like Spotify: down, or up within 1 dB of true-peak headroom (uncertain).
//! - YouTube: about -14 LUFS, turns down only.
//! - TIDAL: -14 LUFS, turns down only.
//! - Amazon Music: about -14 LUFS, turns down only; -2 dBTP advised (uncertain).
//! - Deezer: about -15 LUFS, turns down only (uncertain).
//! - SoundCloud: no fixed normalisation (uncertain; tables say -14): no gain applied.
//! - EBU R 128 broadcast: -23 LUFS both ways, max -1 dBTP.
//! - ATSC A/85 broadcast: -24 LKFS both ways, max -2 dBTP.
//! - Club / DJ stores (e.g. Beatport): no normalisation.

/// How a platform changes the playback level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// No normalisation: the master plays at its own loudness.
    None,
    /// Turn loud masters down to the reference; never raise quiet ones.
    DownOnly,
    /// Turn down, and raise quiet masters only as far as the resulting true peak stays at or
    /// below `peak_limit_dbtp` (no limiter involved).
    UpWithinHeadroom { peak_limit_dbtp: f64 },
    /// Broadcast: normalise to the reference both ways (the broadcaster's own chain deals with
    /// peaks); warn when the result exceeds `max_true_peak_dbtp`.
    Both,
}

/// One platform's normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Platform {
    pub name: &'static str,
    /// Reference loudness, LUFS (`None` for platforms that do not normalise).
    pub reference_lufs: Option<f64>,
    pub rule: Rule,
    /// The true-peak ceiling the platform asks of a master, dBTP.
    pub max_true_peak_dbtp: f64,
    /// A stricter ceiling for masters louder than the reference (Spotify: -2 dBTP above
    /// -14 LUFS, because its encoder adds overshoot on dense masters).
    pub loud_master_max_true_peak_dbtp: Option<f64>,
}

/// Spotify's headroom rule: quiet tracks are raised only while 1 dB of true-peak headroom
/// remains.
const SPOTIFY_RAISE_PEAK_LIMIT_DBTP: f64 = -1.0;

/// The platforms Lacquer reports, in display order.
pub const PLATFORMS: [Platform; 10] = [
    Platform {
        name: "Spotify",
        reference_lufs: Some(-14.0),
        rule: Rule::UpWithinHeadroom { peak_limit_dbtp: SPOTIFY_RAISE_PEAK_LIMIT_DBTP },
        max_true_peak_dbtp: -1.0,
        loud_master_max_true_peak_dbtp: Some(-2.0),
    },
    Platform {
        name: "Apple Music",
        reference_lufs: Some(-16.0),
        rule: Rule::UpWithinHeadroom { peak_limit_dbtp: -1.0 },
        max_true_peak_dbtp: -1.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "YouTube",
        reference_lufs: Some(-14.0),
        rule: Rule::DownOnly,
        max_true_peak_dbtp: -1.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "TIDAL",
        reference_lufs: Some(-14.0),
        rule: Rule::DownOnly,
        max_true_peak_dbtp: -1.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "Amazon Music",
        reference_lufs: Some(-14.0),
        rule: Rule::DownOnly,
        max_true_peak_dbtp: -2.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "Deezer",
        reference_lufs: Some(-15.0),
        rule: Rule::DownOnly,
        max_true_peak_dbtp: -1.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "SoundCloud",
        reference_lufs: None,
        rule: Rule::None,
        max_true_peak_dbtp: -1.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "EBU R 128",
        reference_lufs: Some(-23.0),
        rule: Rule::Both,
        max_true_peak_dbtp: -1.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "ATSC A/85",
        reference_lufs: Some(-24.0),
        rule: Rule::Both,
        max_true_peak_dbtp: -2.0,
        loud_master_max_true_peak_dbtp: None,
    },
    Platform {
        name: "Club / DJ",
        reference_lufs: None,
        rule: Rule::None,
        max_true_peak_dbtp: 0.0,
        loud_master_max_true_peak_dbtp: None,
    },
];

/// What a platform does to one master.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    pub platform: &'static str,
    /// Gain applied at playback, dB (negative = turned down).
    pub gain_db: f64,
    /// The master's true peak after that gain, dBTP.
    pub resulting_true_peak_dbtp: f64,
    /// Loudness at playback, LUFS.
    pub playback_lufs: f64,
    /// Short warnings, e.g. "true peak -0.3 dBTP above Spotify's -2 dBTP for masters louder
    /// than -14 LUFS".
    pub warnings: Vec<String>,
}

impl Platform {
    /// Playback of a master with `integrated` loudness (LUFS) and `true_peak` (dBTP).
    pub fn playback(&self, integrated: f64, true_peak: f64) -> Playback {
        let offset = match self.reference_lufs {
            Some(reference) if integrated.is_finite() => reference - integrated,
            _ => 0.0,
        };
        let gain_db = match self.rule {
            Rule::None => 0.0,
            Rule::DownOnly => offset.min(0.0),
            Rule::UpWithinHeadroom { peak_limit_dbtp } => {
                if offset <= 0.0 {
                    offset
                } else {
                    offset.min((peak_limit_dbtp - true_peak).max(0.0))
                }
            }
            Rule::Both => offset,
        };
        let resulting = true_peak + gain_db;
        let mut warnings = Vec::new();
        let loud = self.reference_lufs.is_some_and(|r| integrated > r);
        let ceiling = match self.loud_master_max_true_peak_dbtp {
            Some(strict) if loud => strict,
            _ => self.max_true_peak_dbtp,
        };
        if true_peak > ceiling {
            let why = if loud && self.loud_master_max_true_peak_dbtp.is_some() {
                format!(" for masters louder than {:.0} LUFS", self.reference_lufs.unwrap_or_default())
            } else {
                String::new()
            };
            warnings.push(format!("true peak {true_peak:.1} dBTP above {}'s {ceiling:.0} dBTP{why}", self.name));
        }
        if let Rule::UpWithinHeadroom { .. } = self.rule {
            if gain_db < offset - 0.05 {
                warnings.push(format!(
                    "raised only {gain_db:.1} dB of {offset:.1} dB: true-peak headroom limits it (plays {:.1} LU quiet)",
                    offset - gain_db
                ));
            }
        }
        if matches!(self.rule, Rule::Both) && resulting > self.max_true_peak_dbtp {
            warnings.push(format!(
                "after normalisation the true peak is {resulting:.1} dBTP (max {:.0})",
                self.max_true_peak_dbtp
            ));
        }
        if gain_db < -0.05 && !matches!(self.rule, Rule::Both) {
            warnings.push(format!(
                "turned down {:.1} dB: loudness above {:.0} LUFS buys nothing here",
                -gain_db,
                self.reference_lufs.unwrap_or_default()
            ));
        }
        Playback {
            platform: self.name,
            gain_db,
            resulting_true_peak_dbtp: resulting,
            playback_lufs: integrated + gain_db,
            warnings,
        }
    }
}

/// Playback on every platform of [`PLATFORMS`].
pub fn playback_all(integrated: f64, true_peak: f64) -> Vec<Playback> {
    PLATFORMS.iter().map(|p| p.playback(integrated, true_peak)).collect()
}
