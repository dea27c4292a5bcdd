//! Nothing to build: this package exists for its tests (`tests/`), which check the
//! deployment files beside it with the tools that read them.
