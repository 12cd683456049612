//! The regression suite: recorded guest runs replayed against golden outputs. Work in progress.
