//! Host bindings for the `asim:rules` WIT package, generated in one place.

// Generated items carry no docs: `wit/asim-rules.wit` documents each one.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "detection",
    path: "../wit",
});
