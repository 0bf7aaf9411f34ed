//! Raw bytes (seeded with real rules) and modules made by wasm-smith, as rule
//! components: `load` never panics or hangs; a core module is refused.

#![no_main]

use std::cell::RefCell;

use asim_rules::engine::{Budgets, EngineOptions, RuleHost};
use libfuzzer_sys::{arbitrary::Unstructured, fuzz_target};

thread_local! {
    static HOST: RuleHost = RuleHost::with_options(
        Budgets::default(),
        &EngineOptions { compile_cache: None, ..EngineOptions::default() },
    )
    .expect("an engine");
    static FILE: RefCell<tempfile::NamedTempFile> =
        RefCell::new(tempfile::NamedTempFile::new().expect("a temporary file"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let module = choice & 1 == 1;
    let bytes = match module {
        false => rest.to_vec(),
        true => match wasm_smith::Module::new(
            wasm_smith::Config::default(),
            &mut Unstructured::new(rest),
        ) {
            Ok(module) => module.to_bytes(),
            Err(_) => return,
        },
    };
    FILE.with(|file| {
        let path = file.borrow().path().to_owned();
        std::fs::write(&path, &bytes).expect("writing the component");
        HOST.with(|host| {
            let loaded = host.load(&path);
            assert!(
                !(module && loaded.is_ok()),
                "a core module loaded as a rule"
            );
        });
    });
});
