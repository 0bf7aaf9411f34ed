//! `componentize CORE.wasm COMPONENT.wasm`: turns the core module that a
//! wit-bindgen guest compiles to into a component, in-repo, so nobody has to
//! install wasm-tools. Built for `wasm32-unknown-unknown`, the result imports
//! nothing: no WASI, no ambient authority to grant or deny.

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        bail!("usage: componentize CORE.wasm COMPONENT.wasm");
    };
    let module = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| format!("{input} carries no component type information"))?
        .validate(true)
        .encode()
        .with_context(|| format!("encoding {input} as a component"))?;
    if let Some(parent) = std::path::Path::new(output).parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(output, component).with_context(|| format!("writing {output}"))?;
    Ok(())
}
