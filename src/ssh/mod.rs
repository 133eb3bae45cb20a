//! ssh (being built).
