//! `neuromapper embed` (SKELETON: to be implemented).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`embed` is not implemented yet")
}
