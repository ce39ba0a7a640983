//! Exit codes shared by every mode (documented as a table in README.md).
