fn main() -> anyhow::Result<()> {
    let host = asim_rules::engine::RuleHost::new(1 << 30)?;
    let path = std::path::Path::new("target/rules/ti-map-ip.wasm");
    let (_, d) = host.describe(path)?;
    println!("imports {:?}\nexports {:?}", d.imports, d.exports);
    let t = std::time::Instant::now();
    let rule = host.load(path)?;
    println!("{:?} {:?}", rule.metadata.name, t.elapsed());
    let mut inst = rule.instantiate(&host, &[])?;
    println!("{:?}", inst.evaluate(1000)?);
    Ok(())
}
