//! Cross-compilation environment for cargo and Go (being written).
