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
mod budgets;
mod convert;
mod instance;
pub mod wasi;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use asim_rule_core::{schema, RuleMetadata};
use wasmtime::{
    component::{types::ComponentItem, Component, Linker},
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    StoreLimitsBuilder,
};

use bindings::DetectionPre;
pub use budgets::{budget_bytes, Budgets, Quarantine, Sandbox};
use budgets::{fault, set_deadline};
pub use instance::RuleInstance;

use crate::limits;

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

/// The interface a rule component must export.
pub const RULE_INTERFACE: &str = "asim:rules/rule@0.1.0";

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

impl ComponentDescription {
    /// The imports the host does not give (all but WASI 0.2).
    pub fn refused_imports(&self) -> Vec<&str> {
        self.imports
            .iter()
            .map(String::as_str)
            .filter(|import| !wasi::is_allowed(import))
            .collect()
    }
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
            // A Rust rule is one main module plus wit-component's shims; a
            // Python rule, its interpreter's modules (a count, not memory).
            let core_instances = u32::try_from(limits::CORE_INSTANCES).unwrap_or(u32::MAX);
            pool.total_component_instances(slots)
                .total_core_instances(slots.saturating_mul(core_instances))
                .max_core_instances_per_component(core_instances)
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
        let mut linker = Linker::new(&engine);
        anyhow_result(wasmtime_wasi::p2::add_to_linker_sync(&mut linker))
            .context("defining WASI for rule components")?;
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

    /// Loads a rule: compiles it, refuses it when it imports anything but
    /// WASI 0.2 (given without capabilities: see [`wasi`]) or does not
    /// implement the contract, and reads and checks its metadata.
    pub fn load(&self, path: &Path) -> Result<LoadedRule> {
        self.load_bytes(path, &read_component(path)?)
    }

    /// [`RuleHost::load`] of the component `bytes` read from `path`.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<LoadedRule> {
        let (component, description) = self.describe_bytes(path, bytes)?;
        self.load_described(path, &component, &description)
    }

    /// [`RuleHost::load`] of a component [`RuleHost::describe`] compiled.
    pub fn load_described(
        &self,
        path: &Path,
        component: &Component,
        description: &ComponentDescription,
    ) -> Result<LoadedRule> {
        let refused = description.refused_imports();
        if !refused.is_empty() {
            bail!(
                "{}: the component imports {}, which asim-rules does not provide (rules get no \
                 host capabilities; WASI 0.2 is given without any)",
                path.display(),
                refused.join(", ")
            );
        }
        let pre = anyhow_result(self.linker.instantiate_pre(component)).with_context(|| {
            format!(
                "{}: its imports are not those of WASI 0.2 as asim-rules gives it",
                path.display()
            )
        })?;
        let pre = anyhow_result(DetectionPre::new(pre))
            .with_context(|| format!("{}: does not implement {RULE_INTERFACE}", path.display()))?;
        let mut store = self.store(&self.budgets, 0);
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

    /// A store for one instance under `budgets`, whose WASI random numbers
    /// come from `seed`.
    fn store(&self, budgets: &Budgets, seed: u64) -> Store<Sandbox> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(budgets.memory_bytes)
            .instances(limits::CORE_INSTANCES)
            .build();
        let sandbox = Sandbox {
            limits,
            memory_bytes: 0,
            refused_growth: false,
            wasi: wasi::RuleWasi::new(seed),
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
        let mut store = host.store(&budgets, wasi::deployment_seed(name, parameters));
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
            log: store.data().wasi.log(),
            live: Some((store, bindings)),
            metadata,
            budgets,
            memory_bytes: 0,
            busy: Duration::ZERO,
            quarantine: None,
        })
    }
}

/// wasmtime's own error as an `anyhow::Error`, so context can be added.
fn anyhow_result<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}
