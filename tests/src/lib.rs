//! End-to-end test support (see tests/e2e).
