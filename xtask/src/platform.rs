//! Platforms: Docker platform strings, Rust triples, Go arch, toolchains (being written).
