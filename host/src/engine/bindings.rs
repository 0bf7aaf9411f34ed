//! Host bindings for the `asim:rules` WIT package, generated in one place.

wasmtime::component::bindgen!({
    world: "detection",
    path: "../wit",
});
