//! The worker threads of every command: `--threads` sizes rayon's global pool.

/// Sizes rayon's global pool (`--threads`; default: one thread per core).
pub fn init_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(t) = threads {
        anyhow::ensure!(t >= 1, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| anyhow::anyhow!("could not start {t} threads: {e}"))?;
    }
    Ok(())
}
