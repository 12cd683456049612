//! Probes: symbols, types, attach points, contexts and guest-aware helpers. Work in progress.
