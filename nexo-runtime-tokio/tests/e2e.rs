//! The end-to-end suite (`nexo-e2e`) against the `nexo-tokio` binary (tokio runtime).

nexo_e2e::e2e_suite!(env!("CARGO_BIN_EXE_nexo-tokio"));
