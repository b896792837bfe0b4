//! Settings: the [`Config`] builder, the `MAPGUARD*` environment variables, and the
//! runtime switch. Everything the hot path needs is packed into one atomic word.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::finding::{Finding, FindingKind};
use crate::sink::{JsonLines, Sink, Stderr};

// ---- the packed settings word ------------------------------------------------

/// The environment has not been read yet. Set together with ENABLED in the
/// initial word, so the hot path's single "enabled?" test also catches first use.
pub(crate) const UNREAD: u32 = 1 << 0;
pub(crate) const ENABLED: u32 = 1 << 1;
pub(crate) const SCOPE_KEY: u32 = 1 << 2;
pub(crate) const MODE_ACCESSES: u32 = 1 << 3;
pub(crate) const BT_SHIFT: u32 = 4;
pub(crate) const BT_MASK: u32 = 0b11 << BT_SHIFT;
pub(crate) const REACT_SHIFT: u32 = 6;
pub(crate) const REACT_MASK: u32 = 0b11 << REACT_SHIFT;
pub(crate) const RULES_SHIFT: u32 = 8;
pub(crate) const RULES_MASK: u32 = 0x1f << RULES_SHIFT;
/// Set by [`Config::word`] when the settings are the hot path's common case (see
/// [`is_plain`]) in scope `map`: a map that overrides none of them, or only with
/// values that keep it so, tests this bit (or [`PLAIN_SCOPE_KEY`]) instead of a bit
/// per setting. A summary of other bits, never set on its own.
pub(crate) const PLAIN_SCOPE_MAP: u32 = 1 << 13;
/// [`PLAIN_SCOPE_MAP`] for scope `key`. One bit per scope, so that a map tests the
/// global word against the bits that send it to each scope's copy (its own scope
/// override decides which), without first applying its overrides.
pub(crate) const PLAIN_SCOPE_KEY: u32 = 1 << 14;
/// Either plain bit: the settings are the common case.
pub(crate) const PLAIN: u32 = PLAIN_SCOPE_MAP | PLAIN_SCOPE_KEY;
/// Settings bits that must be clear for [`PLAIN`]: first use, mode `accesses`,
/// stacks `always`. The hot path declines all three.
pub(crate) const PLAIN_CLEAR: u32 = UNREAD | MODE_ACCESSES | (2 << BT_SHIFT);
/// Settings bits that must be set for [`PLAIN`]: rules `lost_update` and
/// `reentrant_access` (the defaults).
pub(crate) const PLAIN_SET: u32 = ((FindingKind::LostUpdate.bit() as u32)
    | (FindingKind::ReentrantAccess.bit() as u32))
    << RULES_SHIFT;
/// Every bit the settings word uses. Bit 31 stays clear: a guard taken with the
/// switch off carries the word as its token, and bit 31 marks a tracked one.
pub(crate) const ALL_BITS: u32 =
    UNREAD | ENABLED | SCOPE_KEY | MODE_ACCESSES | BT_MASK | REACT_MASK | RULES_MASK | PLAIN;

/// Whether the settings word `w` is the hot path's common case: the defaults but
/// for the scope, the reaction, stacks `off`, and rules other than the two
/// [`PLAIN_SET`] names.
pub(crate) const fn is_plain(w: u32) -> bool {
    w & (PLAIN_CLEAR | PLAIN_SET) == PLAIN_SET
}

/// Global settings. Starts as UNREAD | ENABLED: the first access takes the "on"
/// branch, sees UNREAD and reads the environment.
static SETTINGS: AtomicU32 = AtomicU32::new(UNREAD | ENABLED);
static WINDOW_MS: AtomicU64 = AtomicU64::new(DEFAULT_WINDOW_MS);
static KEY_SLOTS: AtomicUsize = AtomicUsize::new(DEFAULT_KEY_SLOTS);
static INSTALL: Mutex<()> = Mutex::new(());

const DEFAULT_WINDOW_MS: u64 = 100;
pub(crate) const MAX_WINDOW_MS: u64 = 3_600_000;

/// Every variable [`Config::from_env`] reads.
const ENV_VARS: [&str; 8] = [
    "MAPGUARD",
    "MAPGUARD_WINDOW_MS",
    "MAPGUARD_SCOPE",
    "MAPGUARD_MODE",
    "MAPGUARD_RULES",
    "MAPGUARD_BACKTRACE",
    "MAPGUARD_KEY_HASH",
    "MAPGUARD_OUTPUT",
];

/// Whether reports show keys' hashes as they are ([`KeyHash::Stable`]).
static STABLE_KEY_HASH: AtomicBool = AtomicBool::new(false);

/// The `key_hash` a report shows for the key hash `h` (never 0): `h` itself with
/// [`KeyHash::Stable`], else SipHash-1-3 of `h` under this process's random key.
/// Runs on the reporter thread only.
pub(crate) fn shown_key_hash(h: u64) -> u64 {
    static PROCESS_KEY: std::sync::LazyLock<std::hash::RandomState> =
        std::sync::LazyLock::new(std::hash::RandomState::new);
    if STABLE_KEY_HASH.load(Relaxed) {
        h
    } else {
        use std::hash::BuildHasher as _;
        PROCESS_KEY.hash_one(h)
    }
}
pub(crate) const DEFAULT_KEY_SLOTS: usize = 1024;

/// The raw settings word: what the hot path loads, one relaxed load. If it has
/// ENABLED set, the caller must still go through [`settings`] (UNREAD may be set).
#[inline(always)]
pub(crate) fn word() -> u32 {
    SETTINGS.load(Relaxed)
}

/// The settings word, reading the environment on first use.
#[inline]
pub(crate) fn settings() -> u32 {
    let s = SETTINGS.load(Relaxed);
    if s & UNREAD != 0 { init_from_env() } else { s }
}

pub(crate) fn window_ms() -> u64 {
    WINDOW_MS.load(Relaxed)
}

/// The most key slots a map may have ([`Config::key_slots`]): a slot is picked by
/// at most the key hash's low 20 bits.
pub(crate) const MAX_KEY_SLOTS: usize = 1 << 20;

pub(crate) fn key_slots() -> usize {
    KEY_SLOTS.load(Relaxed)
}

#[cold]
#[inline(never)]
fn init_from_env() -> u32 {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // A program that installed a Config before its first access keeps it.
        if SETTINGS.load(Relaxed) & UNREAD == 0 {
            return;
        }
        let outcome = Config::from_env().and_then(|c| c.install_as(true));
        if let Err(e) = outcome {
            crate::report::say(format_args!("{e}; the guard stays off"));
            // Off, with the default settings: a later `set_enabled(true)` checks
            // with them, not with no rule at all.
            let _ =
                SETTINGS.compare_exchange(UNREAD | ENABLED, Config::new().word(), Relaxed, Relaxed);
        }
    });
    let s = SETTINGS.load(Relaxed);
    // Another thread may still be installing: until it is done, count as off.
    if s & UNREAD != 0 { 0 } else { s }
}

/// Turns the guard on or off at run time, keeping every other setting (after a bad
/// `MAPGUARD*` value, which leaves the guard off, those are the defaults).
///
/// Takes effect for each thread at its next guarded operation. Turning it on starts
/// the clock thread if it is not running (if that fails the guard stays off and a line
/// says why on stderr). With feature `compile-out` it stays off. In a child forked
/// from a process whose clock had started (its guard was on at some point), turning
/// it on needs a `Config` installed in the child first, switched on or off (the
/// parent's sinks did not come with the fork): until then it stays off and a line
/// says so. Never waits for map operations. It takes the process-wide install
/// lock, so it waits behind a concurrent [`Config::install`] while that hands over
/// the sinks and settings (and, once, spawns the clock thread); not while it opens
/// files or waits for the reporter, which it does without the lock. The first call
/// in the process also reads the `MAPGUARD*` variables, as the first guarded
/// operation would.
pub fn set_enabled(on: bool) {
    // Read the environment first: on first use that installs a config, which takes
    // the install lock itself.
    settings();
    let _g = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let s = SETTINGS.load(Relaxed) & !UNREAD;
    if on && crate::clock::forked_before_start() {
        crate::report::note_once(
            "set_enabled(true) in a forked child: the parent's sinks did not come with \
             the fork, so the guard stays off; install a Config in the child",
        );
        SETTINGS.store(s & !ENABLED, Relaxed);
        return;
    }
    let next = if on && crate::clock::start() {
        s | ENABLED
    } else {
        s & !ENABLED
    };
    SETTINGS.store(next, Relaxed);
    crate::clock::wake();
}

/// Switches the guard off in a forked child (see [`crate::clock::running_here`]),
/// saying so once. Installing a `Config` there starts the child's own clock (and
/// its reporter at the first finding); `set_enabled(true)` works after that.
pub(crate) fn switch_off_in_fork() {
    SETTINGS.fetch_and(!ENABLED, Relaxed);
    crate::report::note_once(
        "this process is a fork of one whose guard was on, and its clock and reporter \
         threads did not come with it: the guard is off here until a Config is installed \
         in this process",
    );
}

/// True if guarded maps are checking accesses now. One relaxed load. The first call
/// in the process (or the first guarded operation, whichever comes first) reads the
/// `MAPGUARD*` variables and, if they switch the guard on, starts the clock thread;
/// threads making that first call at the same time wait for it. Always false with
/// feature `compile-out`.
pub fn is_enabled() -> bool {
    settings() & ENABLED != 0
}

// ---- the public setting types ------------------------------------------------

/// Which writes the `concurrent_write` rule compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Any two writes to the same map instance (the default): for maps that are
    /// meant to have one writer.
    #[default]
    Map,
    /// Only two writes to the same key, tracked in a bounded per-map table of key
    /// slots: for maps that are concurrent by design.
    Key,
}

/// Which accesses are recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Writes (and the reads the `lost_update` rule needs): the default.
    #[default]
    Writes,
    /// Reads too, for the strict `read_write` rule: a map owned by one thread.
    Accesses,
}

/// What a report shows as a key's hash (`key_hash`): findings never carry the key
/// itself, and by default not a hash anyone could test guesses against either.
/// One SipHash per finding, computed on the reporter thread (on the finding's own
/// thread under [`Reaction::Call`], which hands the finding over there); never
/// blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KeyHash {
    /// A keyed hash (SipHash-1-3 under a random key drawn once per process, at its
    /// first report; a forked child keeps its parent's) of the key's hash: equal for
    /// the same key within one process, unrelated between processes started apart,
    /// and no help in recovering the key. The default.
    #[default]
    PerProcess,
    /// The key's hash itself (foldhash's `fast::FixedState` with the fixed, public
    /// seed `0x082e_fa98_ec4e_6c89`, with bit 30 set): the same in every run and
    /// process, so findings can be matched across them. Anyone can
    /// hash candidate keys and compare, so a key from a small set (a numeric id, a
    /// country code) can be recovered from a report: opt in only where that is
    /// acceptable.
    Stable,
}

/// When call stacks are captured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BacktraceMode {
    /// Never: findings carry call sites only.
    Off,
    /// The thread that completes a new finding captures its own unresolved stack
    /// (3 to 9 µs by the stack's depth, and an allocation, once per unique finding,
    /// and again if the finding was held back and is offered anew): the default. On
    /// Unix the capture takes no lock; elsewhere (Windows) it takes the backtrace
    /// crate's process-wide lock, which the reporter thread also takes while it
    /// resolves a stack, one frame at a time, so there a capture can wait for one
    /// frame's resolution, and the process's first resolution loads the binary's
    /// debug info (about 100 ms, or longer on a large binary). While 256 new
    /// findings already wait for the reporter (a burst), a new one is reported
    /// without its stack ([`crate::Access::backtrace_skipped`]).
    #[default]
    OnFinding,
    /// Writes keep an unresolved stack (3 to 9 µs and an allocation per write; the
    /// backtrace crate's global lock off Unix, as for `OnFinding`), so both sides of a
    /// finding have one. A write skips the capture only when the record it replaces
    /// was written by the same thread, with the same op, in the same millisecond: a
    /// loop that alternates ops or threads on one record (`remove` then `insert`, in
    /// map scope on any key) captures at every write, 100x slower or more.
    Always,
}

/// What happens on the user's thread when a finding is made.
#[derive(Clone, Default)]
pub enum Reaction {
    /// Queue it for the reporter and go on: the default.
    #[default]
    Report,
    /// Queue it, then panic on the thread that made it, at every occurrence (repeats
    /// included). For tests and CI. For a `reentrant_access` finding the panic comes
    /// before the lock, not a deadlock. `try_get`, `try_get_mut` and `try_entry`
    /// record under the shard lock they took; their panic comes once they have
    /// released it (the guard is not returned). Built with `panic = "abort"`, where
    /// nothing unwinds, it comes in place, with the lock held: a panic hook that
    /// waits on that shard hangs instead of the process ending. Inside the closure of
    /// `alter`/`alter_all`, where dashmap aborts the process on a panic, the thread
    /// first waits (up to 5 s) for the finding to reach the sinks.
    Panic,
    /// Queue it, then call this function on the thread that made it, with the finding
    /// (stacks unresolved), at every occurrence (repeats included). Each call builds
    /// the [`Finding`] on that thread: allocations and two short process-wide locks
    /// (thread names, the callback). Accesses it makes are not checked; a panic in it
    /// is caught and reported once. A finding made by `try_get`, `try_get_mut` or `try_entry`
    /// (recorded under the shard lock they took) is called back when the guard they
    /// returned is dropped, after the lock is released, on the dropping thread.
    /// Other calls run it before their own lock, but the thread may hold a guard into
    /// the map already (a `reentrant_access` finding is about exactly that), or a
    /// shard lock when the access is made inside an `alter` closure: a callback that
    /// uses the same map can deadlock there, as the reported call would have. Keep it
    /// to recording the finding.
    Call(Arc<dyn Fn(&Finding) + Send + Sync>),
}

impl fmt::Debug for Reaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reaction::Report => f.write_str("Report"),
            Reaction::Panic => f.write_str("Panic"),
            Reaction::Call(_) => f.write_str("Call(..)"),
        }
    }
}

/// A set of rules (finding kinds) to check. Default: all of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rules(u8);

impl Rules {
    /// Every rule.
    pub const ALL: Rules = Rules(0x1f);
    /// No rule.
    pub const NONE: Rules = Rules(0);

    /// This set plus `kind`.
    pub const fn with(self, kind: FindingKind) -> Rules {
        Rules(self.0 | kind.bit())
    }
    /// This set without `kind`.
    pub const fn without(self, kind: FindingKind) -> Rules {
        Rules(self.0 & !kind.bit())
    }
    /// True if `kind` is in the set.
    pub const fn contains(self, kind: FindingKind) -> bool {
        self.0 & kind.bit() != 0
    }
    pub(crate) const fn bits(self) -> u32 {
        self.0 as u32
    }
    #[cfg(test)]
    pub(crate) const fn from_bits(bits: u32) -> Rules {
        Rules((bits & 0x1f) as u8)
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules::ALL
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(FindingKind::ALL.iter().filter(|k| self.contains(**k)))
            .finish()
    }
}

impl FromIterator<FindingKind> for Rules {
    fn from_iter<I: IntoIterator<Item = FindingKind>>(iter: I) -> Self {
        iter.into_iter().fold(Rules::NONE, Rules::with)
    }
}

/// Parses `all`, `none`, or a comma-separated list of rule names
/// (`concurrent_write,lost_update`). An empty or blank value is an error, not
/// `none`: `MAPGUARD_RULES=${RULES}` with `RULES` unset would otherwise switch every
/// check off without a word.
impl FromStr for Rules {
    type Err = ConfigError;
    fn from_str(given: &str) -> Result<Self, ConfigError> {
        let s = given.trim();
        match s {
            "all" => return Ok(Rules::ALL),
            "none" => return Ok(Rules::NONE),
            "" => return Err(ConfigError::invalid("MAPGUARD_RULES", given, RULE_NAMES)),
            _ => {}
        }
        s.split(',')
            .map(|name| {
                let name = name.trim();
                FindingKind::ALL
                    .iter()
                    .copied()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| ConfigError::invalid("MAPGUARD_RULES", name, RULE_NAMES))
            })
            .collect()
    }
}

const RULE_NAMES: &str = "all, none, or a comma-separated list of concurrent_write, read_write, \
     lost_update, write_during_iteration, reentrant_access";

/// Where the default sinks write, as named by `MAPGUARD_OUTPUT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A human-readable block per finding on stderr.
    Stderr,
    /// One JSON object per line, appended to this file (created with mode 0600).
    JsonLines(PathBuf),
}

/// A setting that was not accepted: names the setting, the value, and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A value outside what the setting accepts.
    Invalid {
        /// The environment variable or builder method.
        setting: &'static str,
        /// The value as given.
        value: String,
        /// What the setting accepts.
        accepted: &'static str,
    },
    /// An output file that could not be opened.
    Output {
        /// The path as given.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(setting: &'static str, value: &str, accepted: &'static str) -> Self {
        ConfigError::Invalid {
            setting,
            value: value.to_owned(),
            accepted,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                setting,
                value,
                accepted,
            } => write!(f, "invalid {setting} value {value:?}: accepted {accepted}"),
            ConfigError::Output { path, reason } => {
                write!(f, "cannot open output {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

// ---- Config ---------------------------------------------------------------------

/// Every setting of the guard, built in code or read from the environment, then
/// made current with [`Config::install`].
///
/// ```
/// use mapguard::{Config, Scope};
/// use std::time::Duration;
/// Config::new()
///     .window(Duration::from_millis(50))
///     .scope(Scope::Key)
///     .install()
///     .expect("valid settings");
/// ```
pub struct Config {
    pub(crate) enabled: bool,
    pub(crate) reaction: Reaction,
    pub(crate) window: Duration,
    pub(crate) scope: Scope,
    pub(crate) mode: Mode,
    pub(crate) rules: Rules,
    pub(crate) backtrace: BacktraceMode,
    pub(crate) outputs: Vec<Output>,
    pub(crate) sinks: Vec<Box<dyn Sink>>,
    pub(crate) queue_capacity: usize,
    pub(crate) summary_interval: Duration,
    pub(crate) rate_limit: u32,
    pub(crate) key_slots: usize,
    pub(crate) key_hash: KeyHash,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("enabled", &self.enabled)
            .field("reaction", &self.reaction)
            .field("window", &self.window)
            .field("scope", &self.scope)
            .field("mode", &self.mode)
            .field("rules", &self.rules)
            .field("backtrace", &self.backtrace)
            .field("outputs", &self.outputs)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("queue_capacity", &self.queue_capacity)
            .field("summary_interval", &self.summary_interval)
            .field("rate_limit", &self.rate_limit)
            .field("key_slots", &self.key_slots)
            .field("key_hash", &self.key_hash)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// The defaults, switched on: window 100 ms, scope map, mode writes, all rules,
    /// stacks on finding, reaction report, output stderr.
    pub fn new() -> Self {
        Config {
            enabled: true,
            reaction: Reaction::Report,
            window: Duration::from_millis(DEFAULT_WINDOW_MS),
            scope: Scope::Map,
            mode: Mode::Writes,
            rules: Rules::ALL,
            backtrace: BacktraceMode::OnFinding,
            outputs: vec![Output::Stderr],
            sinks: Vec::new(),
            queue_capacity: 1024,
            summary_interval: Duration::from_secs(10),
            rate_limit: 100,
            key_slots: DEFAULT_KEY_SLOTS,
            key_hash: KeyHash::PerProcess,
        }
    }

    /// Reads the `MAPGUARD*` environment variables over the defaults. `MAPGUARD`
    /// unset or `off` gives a config that is switched off.
    ///
    /// Errors name the variable, the value and the accepted values; a value that is
    /// not UTF-8 is an error too (it is not taken as unset).
    pub fn from_env() -> Result<Self, ConfigError> {
        for name in ENV_VARS {
            if let Err(std::env::VarError::NotUnicode(v)) = std::env::var(name) {
                return Err(ConfigError::invalid(
                    name,
                    &v.to_string_lossy(),
                    "text in UTF-8 (this value has bytes that are not)",
                ));
            }
        }
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `var` (for tests and for
    /// programs that keep their settings elsewhere).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Config::new();
        match var("MAPGUARD").as_deref().map(str::trim) {
            None | Some("" | "off") => c.enabled = false,
            Some("on") => {}
            Some("panic") => c.reaction = Reaction::Panic,
            Some(other) => return Err(ConfigError::invalid("MAPGUARD", other, "off, on, panic")),
        }
        if let Some(v) = var("MAPGUARD_WINDOW_MS") {
            let ms = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=MAX_WINDOW_MS).contains(ms))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "MAPGUARD_WINDOW_MS",
                        &v,
                        "a whole number of milliseconds from 1 to 3600000",
                    )
                })?;
            c.window = Duration::from_millis(ms);
        }
        if let Some(v) = var("MAPGUARD_SCOPE") {
            c.scope = match v.trim() {
                "map" => Scope::Map,
                "key" => Scope::Key,
                _ => return Err(ConfigError::invalid("MAPGUARD_SCOPE", &v, "map, key")),
            };
        }
        if let Some(v) = var("MAPGUARD_MODE") {
            c.mode = match v.trim() {
                "writes" => Mode::Writes,
                "accesses" => Mode::Accesses,
                _ => {
                    return Err(ConfigError::invalid(
                        "MAPGUARD_MODE",
                        &v,
                        "writes, accesses",
                    ));
                }
            };
        }
        if let Some(v) = var("MAPGUARD_RULES") {
            c.rules = v.parse()?;
        }
        if let Some(v) = var("MAPGUARD_BACKTRACE") {
            c.backtrace = match v.trim() {
                "off" => BacktraceMode::Off,
                "on_finding" => BacktraceMode::OnFinding,
                "always" => BacktraceMode::Always,
                _ => {
                    return Err(ConfigError::invalid(
                        "MAPGUARD_BACKTRACE",
                        &v,
                        "off, on_finding, always",
                    ));
                }
            };
        }
        if let Some(v) = var("MAPGUARD_KEY_HASH") {
            c.key_hash = match v.trim() {
                "per_process" => KeyHash::PerProcess,
                "stable" => KeyHash::Stable,
                _ => {
                    return Err(ConfigError::invalid(
                        "MAPGUARD_KEY_HASH",
                        &v,
                        "per_process, stable",
                    ));
                }
            };
        }
        if let Some(v) = var("MAPGUARD_OUTPUT") {
            c.outputs = v
                .split(',')
                .map(|o| match o.trim() {
                    "stderr" => Ok(Output::Stderr),
                    s if s.starts_with("jsonl:") && s.len() > "jsonl:".len() => {
                        Ok(Output::JsonLines(PathBuf::from(&s["jsonl:".len()..])))
                    }
                    s => Err(ConfigError::invalid(
                        "MAPGUARD_OUTPUT",
                        s,
                        "stderr or jsonl:PATH, comma-separated",
                    )),
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(c)
    }

    /// Switches the guard on (the default for [`Config::new`]) or off.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }
    /// What happens on the user's thread on a finding. Default [`Reaction::Report`].
    pub fn reaction(mut self, reaction: Reaction) -> Self {
        self.reaction = reaction;
        self
    }
    /// How close two accesses must be to count as concurrent. Default 100 ms;
    /// accepted 1 ms to 1 hour, in whole milliseconds.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
    /// Default scope of the `concurrent_write` rule. Default [`Scope::Map`].
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }
    /// Which accesses are recorded. Default [`Mode::Writes`]. [`Mode::Accesses`]
    /// sends every access down the general path, which records reads too.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// Which rules are checked. Default [`Rules::ALL`]. `lost_update` and
    /// `reentrant_access` book every read and every returned guard; rules without
    /// them do less per call, though each call then tests the settings one by one
    /// rather than as one bit per scope (see the README's Performance section).
    pub fn rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }
    /// When stacks are captured. Default [`BacktraceMode::OnFinding`].
    pub fn backtrace(mut self, mode: BacktraceMode) -> Self {
        self.backtrace = mode;
        self
    }
    /// What reports show as a key's hash. Default [`KeyHash::PerProcess`].
    pub fn key_hash(mut self, key_hash: KeyHash) -> Self {
        self.key_hash = key_hash;
        self
    }
    /// Replaces the outputs (default: stderr). `vec![]` with no [`Config::sink`]
    /// means findings are counted in [`crate::stats`] but written nowhere.
    pub fn outputs(mut self, outputs: Vec<Output>) -> Self {
        self.outputs = outputs;
        self
    }
    /// Adds a sink beside the outputs.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }
    /// Findings that may wait for the reporter; beyond it a new finding is counted
    /// as dropped, never waited for, and offered again by a later occurrence once
    /// there is room. Default 1024; accepted 1 to 1048576.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }
    /// How often repeats of a reported finding are summarised. Default 10 s;
    /// accepted 1 ms to 1 day.
    pub fn summary_interval(mut self, every: Duration) -> Self {
        self.summary_interval = every;
        self
    }
    /// Most new findings reported per second over all maps; more wait their turn in
    /// the reporter's backlog (4096), and beyond it are held back in the dedup table
    /// until a later occurrence finds room (see `Stats::dropped`). Default 100;
    /// accepted 1 to 1000000.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = per_second;
        self
    }
    /// Key slots per map in key scope (rounded up to a power of two, 40 bytes each).
    /// Default 1024; accepted 1 to 1048576. A map allocates them on its first keyed
    /// access (or write of every key: `clear`, `retain`, ...) in key scope; threads
    /// that make theirs at the same moment each build a table and keep one, so for
    /// that moment a map can hold a table per such thread (40 MiB each at the
    /// largest count).
    pub fn key_slots(mut self, n: usize) -> Self {
        self.key_slots = n;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let ms = self.window.as_millis();
        if ms == 0 || ms > MAX_WINDOW_MS as u128 {
            return Err(ConfigError::invalid(
                "Config::window",
                &format!("{:?}", self.window),
                "1 ms to 1 hour",
            ));
        }
        if !(1..=1 << 20).contains(&self.queue_capacity) {
            return Err(ConfigError::invalid(
                "Config::queue_capacity",
                &self.queue_capacity.to_string(),
                "1 to 1048576",
            ));
        }
        let iv = self.summary_interval;
        if iv < Duration::from_millis(1) || iv > Duration::from_secs(86_400) {
            return Err(ConfigError::invalid(
                "Config::summary_interval",
                &format!("{iv:?}"),
                "1 ms to 1 day",
            ));
        }
        if !(1..=1_000_000).contains(&self.rate_limit) {
            return Err(ConfigError::invalid(
                "Config::rate_limit",
                &self.rate_limit.to_string(),
                "1 to 1000000 per second",
            ));
        }
        if !(1..=MAX_KEY_SLOTS).contains(&self.key_slots) {
            return Err(ConfigError::invalid(
                "Config::key_slots",
                &self.key_slots.to_string(),
                "1 to 1048576",
            ));
        }
        Ok(())
    }

    /// The settings word these settings make (without INIT/ENABLED).
    pub(crate) fn word(&self) -> u32 {
        let mut w = 0;
        if self.scope == Scope::Key {
            w |= SCOPE_KEY;
        }
        if self.mode == Mode::Accesses {
            w |= MODE_ACCESSES;
        }
        w |= backtrace_bits(self.backtrace);
        w |= reaction_bits(&self.reaction);
        w |= self.rules.bits() << RULES_SHIFT;
        if is_plain(w) {
            w |= if w & SCOPE_KEY != 0 {
                PLAIN_SCOPE_KEY
            } else {
                PLAIN_SCOPE_MAP
            };
        }
        w
    }

    /// Makes these settings current for every guarded map, replacing the previous
    /// ones (and the environment's). Maps' own overrides (`with_scope`, ...) still win.
    ///
    /// Opens the outputs (blocking for as long as opening a file does), then, under
    /// the process-wide install lock, hands over the sinks and settings. If the
    /// reporter thread runs (a finding has been made), it then waits, with the lock
    /// released, until the reporter has flushed the old sinks, taken the new ones and
    /// dropped the old: this blocks for as long as findings queued before take to
    /// reach the old sinks, at most 5 s; past that (a sink that hangs) it returns,
    /// says so once on stderr, and the settings apply when the reporter takes them.
    /// Otherwise the sinks wait for the first finding, which starts the reporter, and
    /// sinks installed before and never used are dropped here (a panic in their
    /// `Drop` is caught and counted). If the guard is to be on, starts the
    /// `mapguard-clock` thread once; if that spawn fails the guard stays off, a line
    /// says why, and this still returns `Ok`. Errors on a value outside what a
    /// setting accepts or an output file that cannot be opened; nothing changes then.
    pub fn install(self) -> Result<(), ConfigError> {
        self.install_as(false)
    }

    /// `from_env`: installed because the environment is being read on first use; if a
    /// program's own `install` got in first (checked under the install lock), that
    /// config stays and this one is dropped.
    fn install_as(self, from_env: bool) -> Result<(), ConfigError> {
        self.validate()?;
        let word = self.word();
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        for o in &self.outputs {
            match o {
                Output::Stderr => sinks.push(Box::new(Stderr::new())),
                // From the environment, on a user's first guarded call: opened later,
                // on the reporter thread, so that call never waits for a file.
                Output::JsonLines(p) if from_env => {
                    sinks.push(Box::new(JsonLines::deferred(p.clone())));
                }
                Output::JsonLines(p) => {
                    let sink = JsonLines::create(p).map_err(|e| ConfigError::Output {
                        path: p.clone(),
                        reason: e.to_string(),
                    })?;
                    sinks.push(Box::new(sink));
                }
            }
        }
        sinks.extend(self.sinks);
        let _g = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
        if from_env && SETTINGS.load(Relaxed) & UNREAD == 0 {
            return Ok(());
        }
        // The replaced sinks are dropped (and the reporter waited for) once the lock
        // is released: their `Drop` may call `set_enabled` or `install`.
        let configured = crate::report::configure(crate::report::ReporterSettings {
            sinks,
            queue_capacity: self.queue_capacity,
            summary_interval: self.summary_interval,
            rate_limit: self.rate_limit,
        });
        WINDOW_MS.store(self.window.as_millis() as u64, Relaxed);
        KEY_SLOTS.store(self.key_slots.next_power_of_two(), Relaxed);
        STABLE_KEY_HASH.store(self.key_hash == KeyHash::Stable, Relaxed);
        crate::detect::set_callback(match &self.reaction {
            Reaction::Call(f) => Some(f.clone()),
            _ => None,
        });
        // In a child forked from a process whose guard was on, the clock starts even
        // for a config that is off: that claims the child as configured, so that a
        // later `set_enabled(true)` may switch on.
        let on = if self.enabled || crate::clock::forked_before_start() {
            crate::clock::start() && self.enabled
        } else {
            false
        };
        SETTINGS.store(word | if on { ENABLED } else { 0 }, Relaxed);
        crate::clock::wake();
        drop(_g);
        configured.finish();
        Ok(())
    }
}

pub(crate) fn backtrace_bits(mode: BacktraceMode) -> u32 {
    (match mode {
        BacktraceMode::Off => 0,
        BacktraceMode::OnFinding => 1,
        BacktraceMode::Always => 2,
    }) << BT_SHIFT
}

pub(crate) fn reaction_bits(reaction: &Reaction) -> u32 {
    (match reaction {
        Reaction::Report => 0,
        Reaction::Panic => 1,
        Reaction::Call(_) => 2,
    }) << REACT_SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn unset_env_is_off_with_defaults() {
        let c = Config::from_vars(vars(&[])).unwrap();
        assert!(!c.enabled);
        assert_eq!(c.window, Duration::from_millis(100));
        assert_eq!(c.scope, Scope::Map);
        assert_eq!(c.rules, Rules::ALL);
        assert_eq!(c.outputs, vec![Output::Stderr]);
    }

    #[test]
    fn every_variable_is_read() {
        let c = Config::from_vars(vars(&[
            ("MAPGUARD", "panic"),
            ("MAPGUARD_WINDOW_MS", "250"),
            ("MAPGUARD_SCOPE", "key"),
            ("MAPGUARD_MODE", "accesses"),
            ("MAPGUARD_RULES", "lost_update, reentrant_access"),
            ("MAPGUARD_BACKTRACE", "always"),
            ("MAPGUARD_OUTPUT", "stderr,jsonl:/tmp/x.jsonl"),
        ]))
        .unwrap();
        assert!(c.enabled);
        assert!(matches!(c.reaction, Reaction::Panic));
        assert_eq!(c.window, Duration::from_millis(250));
        assert_eq!(c.scope, Scope::Key);
        assert_eq!(c.mode, Mode::Accesses);
        assert_eq!(
            c.rules,
            Rules::NONE
                .with(FindingKind::LostUpdate)
                .with(FindingKind::ReentrantAccess)
        );
        assert_eq!(c.backtrace, BacktraceMode::Always);
        assert_eq!(
            c.outputs,
            vec![Output::Stderr, Output::JsonLines("/tmp/x.jsonl".into())]
        );
    }

    #[test]
    fn bad_values_name_variable_value_and_accepted() {
        let cases = [
            ("MAPGUARD", "yes", "off, on, panic"),
            ("MAPGUARD_WINDOW_MS", "0", "1 to 3600000"),
            ("MAPGUARD_WINDOW_MS", "fast", "1 to 3600000"),
            ("MAPGUARD_SCOPE", "shard", "map, key"),
            ("MAPGUARD_MODE", "reads", "writes, accesses"),
            ("MAPGUARD_RULES", "concurrent_write,races", "lost_update"),
            ("MAPGUARD_RULES", "", "all, none, or a comma-separated list"),
            (
                "MAPGUARD_RULES",
                "  ",
                "all, none, or a comma-separated list",
            ),
            (
                "MAPGUARD_RULES",
                "lost_update,",
                "all, none, or a comma-separated list",
            ),
            ("MAPGUARD_BACKTRACE", "full", "off, on_finding, always"),
            ("MAPGUARD_OUTPUT", "file:/tmp/x", "jsonl:PATH"),
            ("MAPGUARD_OUTPUT", "jsonl:", "jsonl:PATH"),
        ];
        for (var, value, accepted) in cases {
            let mut env = vec![("MAPGUARD", "on")];
            env.push((var, value));
            let err = Config::from_vars(vars(&env)).unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
            let shown = value.rsplit(',').next().unwrap();
            assert!(err.contains(shown), "{err}");
            assert!(err.contains(accepted), "{err}");
        }
    }

    #[test]
    fn builder_rejects_out_of_range_values() {
        for (c, what) in [
            (Config::new().window(Duration::ZERO), "Config::window"),
            (Config::new().queue_capacity(0), "Config::queue_capacity"),
            (Config::new().rate_limit(0), "Config::rate_limit"),
            (Config::new().key_slots(0), "Config::key_slots"),
            (
                Config::new().summary_interval(Duration::ZERO),
                "Config::summary_interval",
            ),
        ] {
            let err = c.install().unwrap_err().to_string();
            assert!(err.contains(what), "{err}");
        }
    }

    #[test]
    fn rules_parse_and_print() {
        assert_eq!("all".parse::<Rules>().unwrap(), Rules::ALL);
        assert_eq!("none".parse::<Rules>().unwrap(), Rules::NONE);
        let r: Rules = "concurrent_write".parse().unwrap();
        assert!(r.contains(FindingKind::ConcurrentWrite));
        assert!(!r.contains(FindingKind::LostUpdate));
        assert_eq!(format!("{r:?}"), "{ConcurrentWrite}");
    }

    #[test]
    fn word_packs_every_setting() {
        let w = Config::new()
            .scope(Scope::Key)
            .mode(Mode::Accesses)
            .backtrace(BacktraceMode::Always)
            .reaction(Reaction::Panic)
            .rules(Rules::NONE.with(FindingKind::ReadWrite))
            .word();
        assert_ne!(w & SCOPE_KEY, 0);
        assert_ne!(w & MODE_ACCESSES, 0);
        assert_eq!(w & BT_MASK, 2 << BT_SHIFT);
        assert_eq!(w & REACT_MASK, 1 << REACT_SHIFT);
        assert_eq!(
            (w & RULES_MASK) >> RULES_SHIFT,
            FindingKind::ReadWrite.bit() as u32
        );
        assert_eq!(w & (UNREAD | ENABLED | PLAIN), 0);
    }

    #[test]
    fn plain_is_set_exactly_for_the_hot_paths_common_case() {
        let plain = |c: Config| c.word() & PLAIN != 0;
        assert_eq!(Config::new().word() & PLAIN, PLAIN_SCOPE_MAP);
        assert_eq!(
            Config::new().scope(Scope::Key).word() & PLAIN,
            PLAIN_SCOPE_KEY
        );
        assert!(plain(Config::new().reaction(Reaction::Panic)));
        assert!(plain(Config::new().backtrace(BacktraceMode::Off)));
        assert!(plain(
            Config::new().rules(
                Rules::NONE
                    .with(FindingKind::LostUpdate)
                    .with(FindingKind::ReentrantAccess)
            )
        ));
        assert!(!plain(Config::new().mode(Mode::Accesses)));
        assert!(!plain(Config::new().backtrace(BacktraceMode::Always)));
        assert!(!plain(
            Config::new().rules(Rules::ALL.without(FindingKind::LostUpdate))
        ));
        assert!(!plain(
            Config::new().rules(Rules::ALL.without(FindingKind::ReentrantAccess))
        ));
        // The word before the environment is read is never plain.
        assert!(!is_plain(UNREAD | ENABLED | PLAIN_SET));
    }
}
