//! The sandbox: compiles rule components, checks them against the contract and
//! runs each deployment in its own store.
//!
//! Three lifetimes, three types: [`RuleHost`] (one wasmtime engine and linker
//! per process), [`LoadedRule`] (a compiled, checked component and its
//! metadata), [`RuleInstance`] (one deployment, holding the rule's window
//! state). A trap is an error of the call that hit it and never reaches the
//! host's own state; a rule's refusal (`result::err`) is reported as the rule's
//! message.

pub mod bindings;
mod convert;

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use asim_rule_core::{schema, Alert, Batch, DetailValue, RuleMetadata, Timestamp};
use wasmtime::{
    component::{types::ComponentItem, Component, Linker},
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
    ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, Trap,
};

use bindings::{Detection, DetectionPre};

use crate::limits;

/// `value` units of `1 << unit_shift` bytes (20: MiB, 10: KiB) in bytes, or
/// why a budget that large cannot be: it does not fit in a `usize`.
pub fn budget_bytes(value: usize, unit_shift: u32) -> Result<usize, String> {
    value
        .checked_mul(1 << unit_shift)
        .ok_or_else(|| format!("{value} is more bytes than this machine counts"))
}

/// What one rule instance may use. A rule that exceeds any of them is
/// quarantined: its instance is dropped and it is called no more.
#[derive(Clone, Debug)]
pub struct Budgets {
    /// Linear memory and tables, in bytes.
    pub memory_bytes: usize,
    /// Wall time of one call into the rule (measured in epoch ticks of 10 ms).
    pub time_per_call: Duration,
    /// Alerts one evaluation may return.
    pub alerts_per_evaluation: usize,
    /// Text one alert may carry (names, description, entities, details), bytes.
    pub alert_bytes: usize,
    /// Size of a snapshot, bytes.
    pub snapshot_bytes: usize,
    /// Data any other call may hand the host (alerts, counters), bytes:
    /// wasmtime stops copying past it, so a flood never reaches host memory.
    pub output_bytes: usize,
}

impl Default for Budgets {
    fn default() -> Budgets {
        Budgets {
            memory_bytes: limits::MEMORY_BYTES,
            time_per_call: limits::CALL_TIME,
            alerts_per_evaluation: limits::ALERTS_PER_EVALUATION,
            alert_bytes: limits::ALERT_BYTES,
            snapshot_bytes: limits::SNAPSHOT_BYTES,
            output_bytes: limits::OUTPUT_BYTES,
        }
    }
}

/// How the engine runs instances, besides their budgets.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Arm the CPU budget (epoch interruption); off only to measure its cost.
    pub cpu_deadline: bool,
    /// Instances allocated from a pool of this many slots, made once, so that
    /// instantiating is cheap (many tenants' rules in one process); none:
    /// each instance allocates its own memory.
    pub pooled_instances: Option<u32>,
    /// Where compiled components are kept, so that a component already
    /// compiled by this build of the host is not compiled again: see
    /// [`compile_cache_dir`]. None: every load compiles.
    pub compile_cache: Option<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            cpu_deadline: true,
            pooled_instances: None,
            compile_cache: compile_cache_dir(),
        }
    }
}

/// The compile cache's folder: `$ASIM_RULES_COMPILE_CACHE` (`off`: none),
/// else `asim-rules/compiled` in `$XDG_CACHE_HOME` or `~/.cache`. Entries are
/// keyed by the component's bytes, the engine's settings and wasmtime's
/// version (wasmtime's own cache), and hold native code the host runs: the
/// folder must be writable by the host's user alone.
pub fn compile_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ASIM_RULES_COMPILE_CACHE") {
        return (dir != "off").then(|| std::path::absolute(dir).ok())?;
    }
    // The XDG rule: a relative XDG_CACHE_HOME is ignored.
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    std::path::absolute(base.join("asim-rules").join("compiled")).ok()
}

/// Why a rule was quarantined: the call and the budget or fault.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Quarantine {
    /// The rule's short name.
    pub rule: String,
    /// The call that failed (`evaluate`, `ingest-sessions`, …).
    pub call: String,
    /// What went wrong, naming the budget when one was exceeded.
    pub reason: String,
}

impl fmt::Display for Quarantine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} quarantined: {}: {}",
            self.rule, self.call, self.reason
        )
    }
}

impl std::error::Error for Quarantine {}

/// The interface a rule component must export.
pub const RULE_INTERFACE: &str = "asim:rules/rule@0.1.0";

/// What a store carries for the host: its resource limits and the memory the
/// rule holds. Rules get no files, environment, clock, randomness or sockets:
/// the linker defines nothing.
pub struct Sandbox {
    limits: StoreLimits,
    memory_bytes: usize,
    /// Set when the limiter refused to grow memory or a table: a trap that
    /// follows is the memory budget's doing.
    refused_growth: bool,
}

impl ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_bytes += desired.saturating_sub(current);
        } else {
            self.refused_growth = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        self.refused_growth |= !allowed;
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The process-wide engine and linker.
#[derive(Clone)]
pub struct RuleHost {
    engine: Engine,
    linker: Linker<Sandbox>,
    budgets: Budgets,
    cpu_deadline: bool,
}

/// What a component file declares, whether or not it can run here.
pub struct ComponentDescription {
    /// Interfaces and functions the component imports.
    pub imports: Vec<String>,
    /// Interfaces and functions it exports.
    pub exports: Vec<String>,
}

/// The bytes of the component file at `path`.
pub fn read_component(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "{}: not a loadable WebAssembly component: cannot read",
            path.display()
        )
    })
}

/// A compiled component that implements the contract, ready to instantiate.
#[derive(Clone)]
pub struct LoadedRule {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// What the rule declares.
    pub metadata: RuleMetadata,
    pre: DetectionPre<Sandbox>,
}

/// One deployment of a rule, with its own store and state; once quarantined,
/// its store is dropped and every later call is refused.
pub struct RuleInstance {
    live: Option<(Store<Sandbox>, Detection)>,
    metadata: RuleMetadata,
    budgets: Budgets,
    memory_bytes: usize,
    /// Wall time spent in calls into the rule.
    busy: Duration,
    quarantine: Option<Quarantine>,
}

impl RuleHost {
    /// An engine whose instances each get `budgets`.
    pub fn new(budgets: Budgets) -> Result<RuleHost> {
        RuleHost::with_options(budgets, &EngineOptions::default())
    }

    /// An engine whose instances each get `budgets`, run as `options` say.
    pub fn with_options(budgets: Budgets, options: &EngineOptions) -> Result<RuleHost> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(options.cpu_deadline);
        if let Some(slots) = options.pooled_instances {
            let mut pool = PoolingAllocationConfig::default();
            // A rule component is one main module plus wit-component's shims.
            pool.total_component_instances(slots)
                .total_core_instances(slots.saturating_mul(4))
                .total_memories(slots)
                .total_tables(slots.saturating_mul(4))
                .max_memory_size(budgets.memory_bytes);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        // `perf record` can name the rules' functions (docs/BENCHMARKS.md).
        if std::env::var_os("ASIM_RULES_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = &options.compile_cache {
            let mut cache = CacheConfig::new();
            cache.with_directory(dir);
            // A cache is a saving, not a need: without one, every load compiles.
            match anyhow_result(Cache::new(cache)) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(error) => tracing::warn!(
                    "compile cache {}: {error:#}; components are compiled at every load",
                    dir.display()
                ),
            }
        }
        let engine =
            anyhow_result(Engine::new(&config)).context("starting the WebAssembly engine")?;
        if options.cpu_deadline {
            // The clock of the CPU budget; it stops when the engine is dropped.
            let weak = engine.weak();
            std::thread::Builder::new()
                .name("asim-rules-epoch".into())
                .spawn(move || {
                    while let Some(engine) = weak.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(limits::EPOCH_TICK);
                    }
                })
                .context("starting the epoch thread")?;
        }
        let linker = Linker::new(&engine);
        Ok(RuleHost {
            engine,
            linker,
            budgets,
            cpu_deadline: options.cpu_deadline,
        })
    }

    /// Compiles the component at `path` and lists what it imports and exports.
    pub fn describe(&self, path: &Path) -> Result<(Component, ComponentDescription)> {
        self.describe_bytes(path, &read_component(path)?)
    }

    /// [`RuleHost::describe`] of the component `bytes` read from `path`.
    fn describe_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
    ) -> Result<(Component, ComponentDescription)> {
        let component = anyhow_result(Component::new(&self.engine, bytes))
            .with_context(|| format!("{}: not a loadable WebAssembly component", path.display()))?;
        let ty = component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .flat_map(|(name, item)| match item.ty {
                ComponentItem::ComponentInstance(instance) => instance
                    .exports(&self.engine)
                    .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
                    .map(|(function, _)| format!("{name}#{function}"))
                    .collect(),
                _ => vec![name.to_owned()],
            })
            .collect();
        Ok((component, ComponentDescription { imports, exports }))
    }

    /// Loads a rule: compiles it, refuses it when it imports anything (the
    /// host grants no capability) or does not implement the contract, and
    /// reads and checks its metadata.
    pub fn load(&self, path: &Path) -> Result<LoadedRule> {
        self.load_bytes(path, &read_component(path)?)
    }

    /// [`RuleHost::load`] of the component `bytes` read from `path`.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<LoadedRule> {
        let (component, description) = self.describe_bytes(path, bytes)?;
        if !description.imports.is_empty() {
            bail!(
                "{}: the component imports {}, which asim-rules does not provide (rules get no \
                 host capabilities)",
                path.display(),
                description.imports.join(", ")
            );
        }
        let pre = anyhow_result(
            self.linker
                .instantiate_pre(&component)
                .and_then(DetectionPre::new),
        )
        .with_context(|| format!("{}: does not implement {RULE_INTERFACE}", path.display()))?;
        let mut store = self.store(&self.budgets);
        let bindings = anyhow_result(pre.instantiate(&mut store))
            .with_context(|| format!("{}: instantiating", path.display()))?;
        let metadata = bindings
            .asim_rules_rule()
            .call_metadata(&mut store)
            .map_err(|error| {
                let fault = fault(&error, &store, &self.budgets);
                anyhow!("{}: metadata() {fault}", path.display())
            })?;
        let metadata = convert::metadata(metadata)
            .and_then(check_metadata)
            .with_context(|| format!("{}: invalid metadata", path.display()))?;
        Ok(LoadedRule {
            path: path.to_owned(),
            metadata,
            pre,
        })
    }

    fn store(&self, budgets: &Budgets) -> Store<Sandbox> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(budgets.memory_bytes)
            .instances(1)
            .build();
        let sandbox = Sandbox {
            limits,
            memory_bytes: 0,
            refused_growth: false,
        };
        let mut store = Store::new(&self.engine, sandbox);
        store.limiter(|sandbox| sandbox);
        if self.cpu_deadline {
            store.epoch_deadline_trap();
            set_deadline(&mut store, budgets);
        }
        store
    }
}

/// Arms the CPU budget for the next call.
fn set_deadline(store: &mut Store<Sandbox>, budgets: &Budgets) {
    let ticks = budgets.time_per_call.as_millis() / limits::EPOCH_TICK.as_millis();
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
}

/// What a failed call means: the budget it broke, or the trap.
fn fault(error: &wasmtime::Error, store: &Store<Sandbox>, budgets: &Budgets) -> String {
    // wasmtime's copy limit has no public error type, only this message.
    let copy_limit = format!("{error:#}").contains("fuel allocated for hostcalls");
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "exceeded the CPU budget ({} ms per call)",
            budgets.time_per_call.as_millis()
        ),
        _ if copy_limit => format!(
            "handed the host more than its output budget ({} MiB)",
            store.hostcall_fuel() >> 20
        ),
        _ if store.data().refused_growth => format!(
            "exceeded the memory budget ({} MiB)",
            budgets.memory_bytes >> 20
        ),
        Some(trap) => format!("trapped: {trap}"),
        None => format!("failed: {error:#}"),
    }
}

/// Refuses metadata a host cannot schedule or feed.
fn check_metadata(metadata: RuleMetadata) -> Result<RuleMetadata> {
    if metadata.frequency <= 0 || metadata.session_lookback <= 0 {
        bail!("frequency and session lookback must be positive");
    }
    if metadata
        .indicator_lookback
        .is_some_and(|lookback| lookback <= 0)
    {
        bail!("indicator lookback must be positive");
    }
    for column in &metadata.session_columns {
        schema::session_column(column).ok_or_else(|| {
            anyhow!("asks for session column {column}, which the host does not know")
        })?;
    }
    for column in &metadata.indicator_columns {
        schema::indicator_column(column).ok_or_else(|| {
            anyhow!("asks for indicator column {column}, which the host does not know")
        })?;
    }
    Ok(metadata)
}

impl LoadedRule {
    /// A fresh deployment configured with `parameters` (name, value), under
    /// the host's budgets.
    pub fn instantiate(
        &self,
        host: &RuleHost,
        parameters: &[(String, String)],
    ) -> Result<RuleInstance> {
        self.instantiate_with(host, parameters, &host.budgets)
    }

    /// A fresh deployment under `budgets` (a tenant's own); its memory
    /// budget is capped by the host's.
    pub fn instantiate_with(
        &self,
        host: &RuleHost,
        parameters: &[(String, String)],
        budgets: &Budgets,
    ) -> Result<RuleInstance> {
        let name = &self.metadata.short_name;
        let budgets = Budgets {
            memory_bytes: budgets.memory_bytes.min(host.budgets.memory_bytes),
            ..budgets.clone()
        };
        let mut store = host.store(&budgets);
        let bindings = anyhow_result(self.pre.instantiate(&mut store))
            .with_context(|| format!("rule {name}: instantiating"))?;
        bindings
            .asim_rules_rule()
            .call_configure(&mut store, parameters)
            .map_err(|error| anyhow!("rule {name}: configure {}", fault(&error, &store, &budgets)))?
            .map_err(|message| anyhow!("rule {name} refused its parameters: {message}"))?;
        // Read again: a lookback may depend on a parameter.
        let metadata = bindings
            .asim_rules_rule()
            .call_metadata(&mut store)
            .map_err(|error| {
                anyhow!("rule {name}: metadata {}", fault(&error, &store, &budgets))
            })?;
        let metadata = convert::metadata(metadata)
            .and_then(check_metadata)
            .with_context(|| format!("rule {name}: invalid metadata after configure"))?;
        Ok(RuleInstance {
            live: Some((store, bindings)),
            metadata,
            budgets,
            memory_bytes: 0,
            busy: Duration::ZERO,
            quarantine: None,
        })
    }
}

impl RuleInstance {
    /// What the rule declares.
    pub fn metadata(&self) -> &RuleMetadata {
        &self.metadata
    }

    /// Linear memory the rule has grown to, in bytes (it never shrinks).
    pub fn memory_bytes(&self) -> usize {
        match &self.live {
            Some((store, _)) => store.data().memory_bytes,
            None => self.memory_bytes,
        }
    }

    /// Why the rule was taken out of service, if it was.
    pub fn quarantine(&self) -> Option<&Quarantine> {
        self.quarantine.as_ref()
    }

    /// Takes the rule out of service for a reason found earlier (a restarted
    /// host keeps what it quarantined).
    pub fn keep_quarantined(&mut self, quarantine: Quarantine) {
        self.live = None;
        self.quarantine = Some(quarantine);
    }

    /// The budgets the instance runs under.
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// Wall time spent in calls into the rule so far.
    pub fn busy(&self) -> Duration {
        self.busy
    }

    /// Feeds session rows.
    pub fn ingest_sessions(&mut self, batch: Batch) -> Result<(), Quarantine> {
        let batch = convert::batch(batch);
        self.call("ingest-sessions", |rule, store| {
            rule.call_ingest_sessions(store, &batch)
        })
        .and_then(|result| self.refused("ingest-sessions", result))
    }

    /// Feeds indicator rows.
    pub fn ingest_indicators(&mut self, batch: Batch) -> Result<(), Quarantine> {
        let batch = convert::batch(batch);
        self.call("ingest-indicators", |rule, store| {
            rule.call_ingest_indicators(store, &batch)
        })
        .and_then(|result| self.refused("ingest-indicators", result))
    }

    /// Feeds pre-aggregated session counts.
    pub fn ingest_summaries(&mut self, batch: Batch) -> Result<(), Quarantine> {
        let batch = convert::batch(batch);
        self.call("ingest-summaries", |rule, store| {
            rule.call_ingest_summaries(store, &batch)
        })
        .and_then(|result| self.refused("ingest-summaries", result))
    }

    /// Evaluates the rule at `at`, within its alert budgets; a quarantined
    /// rule answers with its quarantine.
    pub fn evaluate(&mut self, at: Timestamp) -> Result<Vec<Alert>, Quarantine> {
        let result = self.call("evaluate", |rule, store| rule.call_evaluate(store, at))?;
        let alerts = self.refused("evaluate", result)?;
        let budgets = &self.budgets;
        if alerts.len() > budgets.alerts_per_evaluation {
            let reason = format!(
                "returned {} alerts, over the budget of {} per evaluation",
                alerts.len(),
                budgets.alerts_per_evaluation
            );
            return Err(self.quarantined("evaluate", reason));
        }
        let alerts: Vec<Alert> = alerts.into_iter().map(convert::alert).collect();
        if let Some(size) = alerts
            .iter()
            .map(alert_bytes)
            .find(|&size| size > budgets.alert_bytes)
        {
            let reason = format!(
                "returned an alert of {size} bytes, over the budget of {} bytes",
                budgets.alert_bytes
            );
            return Err(self.quarantined("evaluate", reason));
        }
        Ok(alerts)
    }

    /// The rule's counters, by name.
    pub fn stats(&mut self) -> Result<Vec<(String, u64)>, Quarantine> {
        self.call("stats", |rule, store| rule.call_stats(store))
    }

    /// The rule's state, within the snapshot budget.
    pub fn snapshot(&mut self) -> Result<Vec<u8>, Quarantine> {
        let state = self.call("snapshot", |rule, store| rule.call_snapshot(store))?;
        if state.len() > self.budgets.snapshot_bytes {
            let reason = format!(
                "returned {} MiB, over the snapshot budget of {} MiB",
                state.len() >> 20,
                self.budgets.snapshot_bytes >> 20
            );
            return Err(self.quarantined("snapshot", reason));
        }
        Ok(state)
    }

    /// Replaces the rule's state.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), Quarantine> {
        self.call("restore", |rule, store| rule.call_restore(store, state))
            .and_then(|result| self.refused("restore", result))
    }

    /// One call into the rule, under its CPU budget; a trap or a broken
    /// budget quarantines it.
    fn call<T>(
        &mut self,
        call: &'static str,
        run: impl FnOnce(
            &bindings::exports::asim::rules::rule::Guest,
            &mut Store<Sandbox>,
        ) -> wasmtime::Result<T>,
    ) -> Result<T, Quarantine> {
        let Some((store, bindings)) = &mut self.live else {
            return Err(self.quarantine.clone().unwrap_or_else(|| Quarantine {
                rule: self.metadata.short_name.clone(),
                call: call.into(),
                reason: "not running".into(),
            }));
        };
        set_deadline(store, &self.budgets);
        store.set_hostcall_fuel(match call {
            "snapshot" => self.budgets.snapshot_bytes,
            _ => self.budgets.output_bytes,
        });
        let started = std::time::Instant::now();
        let result = run(bindings.asim_rules_rule(), store);
        self.busy += started.elapsed();
        match result {
            Ok(value) => Ok(value),
            Err(error) => {
                let reason = fault(&error, store, &self.budgets);
                Err(self.quarantined(call, reason))
            }
        }
    }

    /// The rule's own refusal of a call (`result::err`): it quarantines the
    /// rule as a fault does, with the rule's message.
    fn refused<T>(
        &mut self,
        call: &'static str,
        result: Result<T, String>,
    ) -> Result<T, Quarantine> {
        result.map_err(|message| self.quarantined(call, format!("failed: {message}")))
    }

    /// Takes the rule out of service: its store (and memory) is dropped.
    fn quarantined(&mut self, call: &'static str, reason: String) -> Quarantine {
        self.memory_bytes = self.memory_bytes();
        self.live = None;
        let quarantine = Quarantine {
            rule: self.metadata.short_name.clone(),
            call: call.into(),
            reason,
        };
        self.quarantine = Some(quarantine.clone());
        quarantine
    }
}

/// The text an alert carries, in bytes: what the host writes per alert.
fn alert_bytes(alert: &Alert) -> usize {
    let details: usize = alert
        .custom_details
        .iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    DetailValue::Text(text) => text.len(),
                    _ => 8,
                }
        })
        .sum();
    let entities: usize = alert
        .entities
        .iter()
        .map(|entity| {
            let properties: usize = entity
                .properties
                .iter()
                .map(|(name, value)| name.len() + value.len())
                .sum();
            entity.kind.len() + properties
        })
        .sum();
    alert.name.len() + alert.description.len() + details + entities
}

/// wasmtime's own error as an `anyhow::Error`, so context can be added.
fn anyhow_result<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}
