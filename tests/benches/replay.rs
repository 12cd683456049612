//! Replay speed against the original recording run, checkpoint overhead and recording size,
//! on the teaching kernel (boot to exit, 3 s of virtual time). Run with
//! `cargo bench -p tests --bench replay` (builds bpflab in release). Host times are the run
//! times bpflab itself reports (guest execution, hooks and checkpoints; not process start-up).

use std::process::Command;

const RUNS: usize = 7;

/// The "X s of host time" value on a `stop:` line.
fn host_secs(stderr: &str) -> f64 {
    stderr
        .lines()
        .filter(|l| l.starts_with("stop:"))
        .find_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            let i = w.iter().position(|x| *x == "host")?;
            w.get(i.checked_sub(3)?)?.parse().ok()
        })
        .unwrap_or(f64::NAN)
}

fn run(args: &[&str]) -> String {
    let o = Command::new(tests::bpflab())
        .current_dir(tests::root())
        .args(args)
        .output()
        .expect("bpflab runs");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn measure(args: &[&str]) -> (f64, String) {
    let mut times = Vec::new();
    let mut last = String::new();
    for _ in 0..RUNS {
        last = run(args);
        times.push(host_secs(&last));
    }
    (median(times), last)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("bpflab-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rec = dir.join("bench.bpfrec");
    let rec_s = rec.to_str().expect("utf-8 path");
    let rec1 = dir.join("bench-sparse.bpfrec");
    let rec1_s = rec1.to_str().expect("utf-8 path");
    let filter = "dst_discard=examples/dst_discard.bpf.c";

    let (plain, _) = measure(&["boot", "--max-time", "10s"]);
    let (trace, _) = measure(&["trace", "--attach", filter]);
    let (record, rec_log) = measure(&["record", "-o", rec_s]);
    let (record_sparse, _) = measure(&["record", "--checkpoint-every", "100s", "-o", rec1_s]);
    let (replay, _) = measure(&["replay", rec_s]);
    let (replay_f, _) = measure(&["replay", rec_s, "--attach", filter]);
    let size = std::fs::metadata(&rec).map(|m| m.len()).unwrap_or(0);
    let cp_ms: f64 = rec_log
        .lines()
        .find_map(|l| l.split("checkpoints took ").nth(1))
        .and_then(|s| s.trim_end_matches(" ms").parse().ok())
        .unwrap_or(f64::NAN);
    println!(
        "teaching kernel, boot to exit (22.7 M instructions, 3.0 s virtual), median of {RUNS}"
    );
    if plain.is_nan() {
        println!("  (bpflab boot reports no host time)");
    } else {
        println!(
            "  boot, no recording:                 {:>7.1} ms",
            plain * 1e3
        );
    }
    println!(
        "  trace with dst_discard filter:      {:>7.1} ms",
        trace * 1e3
    );
    println!("  record, checkpoint every 100 ms:    {:>7.1} ms  (checkpoints {cp_ms:.1} ms of it, 32 checkpoints)", record * 1e3);
    println!(
        "  record, checkpoints at start/end:   {:>7.1} ms",
        record_sparse * 1e3
    );
    println!(
        "  replay, no filter:                  {:>7.1} ms  ({:.2}x the recording run's speed)",
        replay * 1e3,
        record / replay
    );
    println!("  replay with dst_discard filter:     {:>7.1} ms  ({:.2}x the recording run's speed; {:.2}x trace)", replay_f * 1e3, record / replay_f, trace / replay_f);
    println!(
        "  checkpoint overhead:                {:>7.1} %   of the recording run",
        (record - record_sparse) / record * 100.0
    );
    println!(
        "  recording size:                     {size} bytes ({:.0} bytes per virtual second)",
        size as f64 / 3.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
