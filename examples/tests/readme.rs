//! The README's sample reports stay true to the demos' source: every call site it
//! quotes (`at examples/src/bin/NAME.rs:LINE:COLUMN`) must point at the map method
//! the report names, in the demo as it is now.

use std::path::Path;

#[test]
fn sample_reports_point_at_the_calls_they_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.trim().strip_prefix("at examples/src/bin/") else {
            continue;
        };
        let mut parts = at.rsplitn(3, ':');
        let (col, row, file) = (
            parts
                .next()
                .and_then(|c| c.parse::<usize>().ok())
                .expect("column"),
            parts
                .next()
                .and_then(|r| r.parse::<usize>().ok())
                .expect("line"),
            parts.next().expect("file"),
        );
        // The line before: "<role> <op> by thread ...".
        let op = lines[i - 1]
            .split(" by thread")
            .next()
            .and_then(|s| s.split_whitespace().last())
            .expect("an op before ' by thread'");
        let source = std::fs::read_to_string(root.join("examples/src/bin").join(file))
            .unwrap_or_else(|e| panic!("README names examples/src/bin/{file}: {e}"));
        let code = source
            .lines()
            .nth(row - 1)
            .unwrap_or_else(|| panic!("README: {file} has no line {row}"));
        let at_col: String = code.chars().skip(col - 1).collect();
        assert!(
            at_col.starts_with(op),
            "README line {}: {file}:{row}:{col} should be a call to `{op}`, the source there is {code:?}",
            i + 1
        );
        checked += 1;
    }
    assert!(
        checked >= 8,
        "expected the sample reports' sites, found {checked}"
    );
}
