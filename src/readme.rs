//! Parts of README.md generated from the code (the settings table, the metrics table), so that
//! they cannot drift: a test compares each with what the code says now.

use std::path::Path;

/// The README's text between the lines `begin` and `end` must be `generated`. When it is not,
/// this fails naming the difference, or, with `SWITCHYARD_WRITE_README=1` set, writes
/// `generated` in its place.
pub fn check_block(begin: &str, end: &str, generated: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).map_err(|e| format!("README.md: {e}"))?;
    let (before, rest) = readme
        .split_once(begin)
        .ok_or_else(|| format!("README.md has no line {begin}"))?;
    let (block, after) = rest
        .split_once(end)
        .ok_or_else(|| format!("README.md has no line {end}"))?;
    if block.trim() == generated.trim() {
        return Ok(());
    }
    if std::env::var_os("SWITCHYARD_WRITE_README").is_some() {
        let readme = format!("{before}{begin}\n{}\n{end}{after}", generated.trim());
        return std::fs::write(&path, readme).map_err(|e| format!("README.md: {e}"));
    }
    Err(format!(
        "README.md's block after {begin} is out of date (run the tests with \
         SWITCHYARD_WRITE_README=1 to write it); it should be:\n{generated}"
    ))
}
