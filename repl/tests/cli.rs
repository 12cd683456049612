//! End-to-end tests of the `bpflab` binary.

use std::process::Command;

fn bpflab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .args(args)
        .output()
        .expect("bpflab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> String {
    format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn boot_runs_the_teaching_kernel_to_exit_code_0_deterministically() {
    let (code, out, err) = bpflab(&["boot"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.contains("summary: net total generated 2000 delivered 1356 dropped 644"),
        "{out}"
    );
    assert!(err.contains("stop: exit port, code 0"), "{err}");
    let (_, out2, _) = bpflab(&["boot"]);
    assert_eq!(out, out2, "two boots print the same console");
}

#[test]
fn boot_rejects_bad_images_and_options() {
    let (code, _, err) = bpflab(&["boot", "--image", "/etc/hostname"]);
    assert_eq!(code, 2);
    assert!(err.contains("/etc/hostname"), "{err}");
    let (code, _, _) = bpflab(&["boot", "--mem", "lots"]);
    assert_ne!(code, 0);
}

#[test]
fn bpf_asm_disasm_and_run() {
    let dir = std::env::temp_dir().join(format!("bpflab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let bin = dir.join("sum.bin");
    let (code, _, err) = bpflab(&[
        "bpf",
        "asm",
        &example("sum.s"),
        "-o",
        bin.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = bpflab(&["bpf", "disasm", bin.to_str().expect("utf8")]);
    assert_eq!(code, 0);
    assert!(
        out.contains("     2:  71 13 00 00 00 00 00 00  ldxb %r3, [%r1]"),
        "{out}"
    );
    let (code, out, err) = bpflab(&[
        "bpf",
        "run",
        &example("sum.s"),
        "--mem",
        &example("sum.mem"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "0x37");
    for engine in ["interp", "jit"] {
        let (code, out, err) = bpflab(&[
            "bpf",
            "run",
            &example("sum.s"),
            "--mem",
            &example("sum.mem"),
            "--engine",
            engine,
        ]);
        assert_eq!(code, 0, "{engine}: {err}");
        assert_eq!(out.trim(), "0x37", "{engine}");
    }
    // An out-of-bounds read is an error naming the instruction, on both engines.
    let oob = dir.join("oob.s");
    std::fs::write(&oob, "ldxdw %r0, [%r1+4096]\nexit\n").expect("write");
    for engine in ["interp", "jit"] {
        let (code, _, err) = bpflab(&[
            "bpf",
            "run",
            oob.to_str().expect("utf8"),
            "--engine",
            engine,
        ]);
        assert_ne!(code, 0, "{engine}");
        assert!(err.contains("instruction 0"), "{engine}: {err}");
    }
    let (code, _, err) = bpflab(&["bpf", "run", "/nonexistent.s"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.s"));
}

#[test]
fn conformance_plugin_protocol() {
    let out = Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .args([
            "bpf",
            "conformance-plugin",
            "--program",
            "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2a");
    let out = Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .args([
            "bpf",
            "conformance-plugin",
            "--program",
            "ff 00 00 00 00 00 00 00",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
}

#[test]
fn trace_runs_the_seeds_example_on_the_teaching_kernel() {
    let out = Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .args(["trace", "--attach"])
        .arg(format!("dst_discard={}", example("dst_discard.bpf.c")))
        .arg("--json")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let mut printk = 0;
    let mut hits = None;
    let mut per_dev = 0u64;
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert_eq!(v["version"], 1, "{line}");
        match v["type"].as_str() {
            Some("printk") => printk += 1,
            Some("probe") => hits = v["hits"].as_u64(),
            Some("map") if v["name"] == "drops" => {
                for e in v["entries"].as_array().expect("entries") {
                    assert!(e["key"] == "lo" || e["key"] == "eth0", "{e}");
                    per_dev += e["value"]
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .expect("count");
                }
            }
            _ => {}
        }
    }
    let hits = hits.expect("probe statistics");
    assert!(hits > 100);
    assert_eq!(printk, hits);
    assert_eq!(per_dev, hits);
}

#[test]
fn trace_rejects_bad_attach_specs() {
    let (code, _, err) = bpflab(&["trace", "--attach", "no_such_function=/nonexistent.c"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.c"), "{err}");
    let (code, _, err) = bpflab(&[
        "trace",
        "--attach",
        &format!("no_such_function={}", example("sum.s")),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no_such_function"), "{err}");
}

#[test]
fn trace_refuses_unverifiable_filters_unless_asked_and_then_checks_every_access() {
    let dir = std::env::temp_dir().join(format!("bpflab-cli-unsafe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    // The seed's context is 48 bytes: reading at offset 48 is out of bounds.
    let bad = dir.join("oob_ctx.s");
    std::fs::write(&bad, "ldxdw %r0, [%r1+48]\nexit\n").expect("write");
    let spec = format!("dst_discard={}", bad.display());
    let (code, _, err) = bpflab(&["trace", "--attach", &spec]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("rejected by the verifier: instruction 0"),
        "{err}"
    );
    assert!(
        err.contains("0: ldxdw %r0, [%r1+48]"),
        "the log shows the failing path: {err}"
    );
    let (code, out, err) = bpflab(&["trace", "--attach", &spec, "--unverified", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("is not verified"), "{err}");
    let probe: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "probe")
        .expect("probe statistics");
    assert!(probe["hits"].as_u64().unwrap_or(0) > 100, "{probe}");
    assert_eq!(probe["hits"], probe["errors"], "every hit faults, checked");
    assert!(out.contains("\"type\":\"error\""), "errors are events too");
}

#[test]
fn bpf_verify_accepts_safe_programs_and_explains_rejections() {
    let (code, out, err) = bpflab(&["bpf", "verify", "--type", "mem:8", &example("sum.s")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verified as 'mem'"), "{out}");
    let dir = std::env::temp_dir().join(format!("bpflab-cli-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let bad = dir.join("uninit.s");
    std::fs::write(&bad, "mov %r1, %r7\nmov %r0, 0\nexit\n").expect("write");
    let (code, out, _) = bpflab(&["bpf", "verify", bad.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    assert!(out.contains("rejected: instruction 0"), "{out}");
    assert!(out.contains("r7"), "names the register: {out}");
    let (code, _, err) = bpflab(&["bpf", "verify", "--type", "nonsense", &example("sum.s")]);
    assert_eq!(code, 2);
    assert!(err.contains("expected seed, kprobe or mem:N"), "{err}");
    // A clang object: each program with its type; C source lines in the log on rejection.
    let c = dir.join("leak.bpf.c");
    std::fs::write(
        &c,
        "#include \"bpflab.h\"\nSEC(\"kprobe/dst_discard\")\nint leak(struct pt_regs *ctx)\n{\n\treturn (long)ctx;\n}\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n",
    )
    .expect("write");
    let obj = dir.join("leak.o");
    let include = format!("{}/../probes/include", env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-I", &include, "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&obj)
        .status();
    assert!(
        built.is_ok_and(|s| s.success()),
        "clang failed (run scripts/setup.sh)"
    );
    let (code, out, _) = bpflab(&["bpf", "verify", obj.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("leak (kprobe/dst_discard): rejected"), "{out}");
    assert!(
        out.contains("leak.bpf.c:5"),
        "C source line in the log: {out}"
    );
}

#[test]
fn image_info_describes_the_teaching_kernel() {
    let (code, out, err) = bpflab(&["image", "info", "teaching"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("protocol   Bpflab64"), "{out}");
    assert!(out.contains("current    current_task at"), "{out}");
    assert!(out.contains("CFI        yes"), "{out}");
    let (code, _, err) = bpflab(&["image", "build", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected linux or teaching"), "{err}");
}
