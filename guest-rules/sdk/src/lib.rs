//! The rule SDK: turns a plain Rust [`Rule`] into an `asim:rules` component.
//!
//! A rule crate implements [`asim_rule_core::Rule`] and, for the wasm32 build,
//! says `asim_rule_sdk::export_rule!(MyRule);`. The SDK owns the WIT bindings,
//! converts WIT values to the core types (moving vectors, copying no rows) and
//! keeps the one deployment an instance holds.
#![deny(missing_docs)]

use std::cell::RefCell;

use asim_rule_core::Rule;

mod convert;

/// Bindings generated from `wit/` for the `detection` world.
// Generated code: undocumented, and unsafe by nature (the canonical ABI);
// the rest of the SDK denies both, as the workspace does.
#[allow(missing_docs, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "detection",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_detection",
        default_bindings_module: "asim_rule_sdk::bindings",
    });
}

use bindings::exports::asim::rules::rule as wit;

/// Exports rule type `$rule` (an implementation of `asim_rule_core::Rule`) as
/// the component's `asim:rules/rule` interface.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        struct AsimRuleExport;

        ::std::thread_local! {
            static ASIM_RULE: ::std::cell::RefCell<::std::option::Option<$rule>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }

        impl $crate::bindings::exports::asim::rules::rule::Guest for AsimRuleExport {
            fn metadata() -> $crate::bindings::exports::asim::rules::rule::RuleMetadata {
                ASIM_RULE.with(|slot| $crate::metadata::<$rule>(slot))
            }
            fn stats() -> ::std::vec::Vec<(::std::string::String, u64)> {
                ASIM_RULE.with(|slot| $crate::stats::<$rule>(slot))
            }
            fn configure(
                parameters: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::std::result::Result<(), ::std::string::String> {
                ASIM_RULE.with(|slot| $crate::configure::<$rule>(slot, &parameters))
            }
            fn ingest_sessions(
                batch: $crate::bindings::exports::asim::rules::rule::Batch,
            ) -> ::std::result::Result<(), ::std::string::String> {
                ASIM_RULE.with(|slot| $crate::ingest_sessions::<$rule>(slot, batch))
            }
            fn ingest_indicators(
                batch: $crate::bindings::exports::asim::rules::rule::Batch,
            ) -> ::std::result::Result<(), ::std::string::String> {
                ASIM_RULE.with(|slot| $crate::ingest_indicators::<$rule>(slot, batch))
            }
            fn ingest_summaries(
                batch: $crate::bindings::exports::asim::rules::rule::Batch,
            ) -> ::std::result::Result<(), ::std::string::String> {
                ASIM_RULE.with(|slot| $crate::ingest_summaries::<$rule>(slot, batch))
            }
            fn evaluate(
                at: i64,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::bindings::exports::asim::rules::rule::Alert>,
                ::std::string::String,
            > {
                ASIM_RULE.with(|slot| $crate::evaluate::<$rule>(slot, at))
            }
            fn snapshot() -> ::std::vec::Vec<u8> {
                ASIM_RULE.with(|slot| $crate::snapshot::<$rule>(slot))
            }
            fn restore(state: ::std::vec::Vec<u8>) -> ::std::result::Result<(), ::std::string::String> {
                ASIM_RULE.with(|slot| $crate::restore::<$rule>(slot, &state))
            }
        }

        $crate::bindings::export_detection!(AsimRuleExport with_types_in $crate::bindings);
    };
}

/// The deployment in `slot`, configured with defaults on first use when the
/// host never called `configure`.
fn with_rule<R: Rule, T>(
    slot: &RefCell<Option<R>>,
    call: impl FnOnce(&mut R) -> Result<T, String>,
) -> Result<T, String> {
    let mut slot = slot.borrow_mut();
    let mut rule = match slot.take() {
        Some(rule) => rule,
        None => R::configure(&[])?,
    };
    let result = call(&mut rule);
    *slot = Some(rule);
    result
}

#[doc(hidden)]
pub fn metadata<R: Rule>(slot: &RefCell<Option<R>>) -> wit::RuleMetadata {
    let metadata = match &*slot.borrow() {
        Some(rule) => rule.describe(),
        None => R::metadata(),
    };
    convert::metadata(metadata)
}

#[doc(hidden)]
pub fn stats<R: Rule>(slot: &RefCell<Option<R>>) -> Vec<(String, u64)> {
    slot.borrow().as_ref().map(Rule::stats).unwrap_or_default()
}

#[doc(hidden)]
pub fn configure<R: Rule>(
    slot: &RefCell<Option<R>>,
    parameters: &[(String, String)],
) -> Result<(), String> {
    *slot.borrow_mut() = Some(R::configure(parameters)?);
    Ok(())
}

#[doc(hidden)]
pub fn ingest_sessions<R: Rule>(
    slot: &RefCell<Option<R>>,
    batch: wit::Batch,
) -> Result<(), String> {
    with_rule(slot, |rule| rule.ingest_sessions(convert::batch(batch)))
}

#[doc(hidden)]
pub fn ingest_indicators<R: Rule>(
    slot: &RefCell<Option<R>>,
    batch: wit::Batch,
) -> Result<(), String> {
    with_rule(slot, |rule| rule.ingest_indicators(convert::batch(batch)))
}

#[doc(hidden)]
pub fn ingest_summaries<R: Rule>(
    slot: &RefCell<Option<R>>,
    batch: wit::Batch,
) -> Result<(), String> {
    with_rule(slot, |rule| rule.ingest_summaries(convert::batch(batch)))
}

#[doc(hidden)]
pub fn evaluate<R: Rule>(slot: &RefCell<Option<R>>, at: i64) -> Result<Vec<wit::Alert>, String> {
    with_rule(slot, |rule| {
        let alerts = rule.evaluate(at)?;
        Ok(alerts.into_iter().map(convert::alert).collect())
    })
}

#[doc(hidden)]
pub fn snapshot<R: Rule>(slot: &RefCell<Option<R>>) -> Vec<u8> {
    with_rule(slot, |rule| Ok(rule.snapshot())).unwrap_or_default()
}

#[doc(hidden)]
pub fn restore<R: Rule>(slot: &RefCell<Option<R>>, state: &[u8]) -> Result<(), String> {
    with_rule(slot, |rule| rule.restore(state))
}
