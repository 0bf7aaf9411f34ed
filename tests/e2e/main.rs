//! End-to-end tests: drive the real binary on real files.
