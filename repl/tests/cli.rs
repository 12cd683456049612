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

/// bpf_conformance's negative/error.data (`or %r0, %r10` on an unset r0) must be refused, on
/// both engines, naming the register; the checked engines used to run it and print r0.
#[test]
fn conformance_plugin_refuses_reads_of_unset_registers() {
    for engine in [&[][..], &["--interpret"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_bpflab"))
            .args(["bpf", "conformance-plugin", "--program"])
            .arg("4f a0 00 00 00 00 00 00 95 00 00 00 00 00 00 00")
            .args(engine)
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{engine:?}: {stdout}");
        assert!(
            stdout.contains("uninitialised register r0"),
            "{engine:?}: {stdout}"
        );
    }
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
    assert!(out.contains("protocol    Bpflab64"), "{out}");
    assert!(out.contains("current     current_task at"), "{out}");
    assert!(out.contains("CFI         yes"), "{out}");
    assert!(out.contains("tracepoints 0"), "{out}");
    assert!(
        !out.contains("built from"),
        "the embedded image has no manifest: {out}"
    );
    let (code, _, err) = bpflab(&["image", "build", "nonsense"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected linux or teaching"), "{err}");
}

#[test]
fn durations_have_one_grammar_with_clear_errors() {
    for (bad, why) in [
        ("1e300s", "has an exponent"),
        ("10", "has no unit"),
        ("-1s", "is negative"),
        ("5parsecs", "unknown unit 'parsecs'"),
        ("99999999999999999999s", "too long"),
    ] {
        let (code, _, err) = bpflab(&["boot", &format!("--max-time={bad}")]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.contains("--max-time") && err.contains(why),
            "{bad}: {err}"
        );
        assert!(!err.contains("panicked"), "{bad}: {err}");
    }
    let (code, _, err) = bpflab(&["boot", "--max-time", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("guest instructions 0,"), "{err}");
    let (code, _, err) = bpflab(&["boot", "--max-time", "10h"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stop: exit port, code 0"), "{err}");
    let (code, _, err) = bpflab(&["boot", "--max-time", "0.5s"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("virtual time 500.000 ms"), "{err}");
    let out = std::env::temp_dir().join(format!("bpflab-cli-zero-{}.bpfrec", std::process::id()));
    let (code, _, err) = bpflab(&[
        "record",
        "--checkpoint-every",
        "0",
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'0' is zero"), "{err}");
    assert!(!out.exists());
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bpflab-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

#[test]
fn errors_name_the_input_once_and_say_what_is_wrong() {
    let dir = scratch("errors");
    let d = dir.to_str().expect("utf8");
    for args in [
        vec!["replay", d],
        vec!["boot", "--image", d],
        vec!["types", d, "struct x"],
    ] {
        let (code, _, err) = bpflab(&args);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(err.matches(d).count(), 1, "{args:?}: {err}");
        assert!(err.contains(": cannot read: "), "{args:?}: {err}");
    }
    // A cut kernel image: said in words, not as the offset the ELF parser could not read.
    let elf = std::fs::read(format!(
        "{}/../fuzz/corpus/kernel_image/teaching.elf",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("teaching.elf seed");
    let cut = dir.join("cut.elf");
    std::fs::write(&cut, &elf[..4000]).expect("write");
    let cut = cut.to_str().expect("utf8");
    for args in [
        vec!["boot", "--image", cut],
        vec!["types", cut, "struct x"],
        vec!["image", "info", cut],
    ] {
        let (code, _, err) = bpflab(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            err.contains("truncated: its ELF headers describe")
                && err.contains("the file has 4000"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("bad offset"), "{args:?}: {err}");
    }
}

#[test]
fn errors_are_json_lines_under_json() {
    let dir = scratch("json");
    let rec = dir.join("garbage.bpfrec");
    std::fs::write(&rec, "garbage").expect("write");
    let (code, out, err) = bpflab(&["replay", rec.to_str().expect("utf8"), "--json"]);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    let j: serde_json::Value = serde_json::from_str(err.trim()).expect("one JSON line");
    assert_eq!(j["type"], "error");
    assert_eq!(j["version"], 1);
    assert_eq!(j["message"], rec.to_str().expect("utf8"));
    assert_eq!(j["cause"][0], "not a bpflab recording (bad magic)");
    let (code, _, err) = bpflab(&["trace", "--json", "--attach", "nothing.txt"]);
    assert_eq!(code, 2);
    let j: serde_json::Value = serde_json::from_str(err.trim()).expect("one JSON line");
    assert_eq!(j["type"], "error");
    assert!(
        j["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing.txt")),
        "{j}"
    );
    // Without --json, the same error is one line of text.
    let (_, _, err) = bpflab(&["replay", rec.to_str().expect("utf8")]);
    assert!(
        err.starts_with("bpflab: ") && err.ends_with(": not a bpflab recording (bad magic)\n"),
        "{err}"
    );
}

#[test]
fn replay_info_json_carries_the_common_version() {
    let rec = scratch("info").join("short.bpfrec");
    let rec = rec.to_str().expect("utf8");
    let (code, _, err) = bpflab(&["record", "--for", "20ms", "-o", rec]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = bpflab(&["replay", rec, "--info", "--json"]);
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(j["type"], "recording");
    assert_eq!(j["version"], 1, "{j}");
    assert!(j["format_version"].is_u64(), "{j}");
}

/// An offset inside an instruction never fires: refused as kprobes refuse it, naming the
/// nearest boundaries; an offset on a boundary attaches.
#[test]
fn trace_refuses_an_offset_inside_an_instruction() {
    let filter = example("count_hits.s");
    let (code, _, err) = bpflab(&[
        "trace",
        "--attach",
        &format!("ip_rcv+4={filter}"),
        "--for",
        "10ms",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "ip_rcv+0x4 is not an instruction boundary: the nearest are ip_rcv+0x1 and ip_rcv+0x9"
        ),
        "{err}"
    );
    let (code, _, err) = bpflab(&[
        "trace",
        "--attach",
        &format!("ip_rcv+1={filter}"),
        "--for",
        "10ms",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ip_rcv+0x1"), "{err}");
}

/// A mistyped type or image name gets the closest names.
#[test]
fn typos_in_type_and_image_names_get_suggestions() {
    let (code, _, err) = bpflab(&["types", "teaching", "struct sk_bufff"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no type 'struct sk_bufff'; did you mean struct sk_buff?"),
        "{err}"
    );
    let (code, _, err) = bpflab(&["types", "teaching", "struct zzzzqqq"]);
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("did you mean"), "{err}");
    let (code, _, err) = bpflab(&["boot", "--image", "linx"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean linux?"), "{err}");
}

/// A program written for memory in r1/r2 but verified with the default context type is told
/// which `--type` fits.
#[test]
fn bpf_verify_says_which_type_fits_a_memory_program() {
    let (code, out, _) = bpflab(&["bpf", "verify", &example("sum.s")]);
    assert_ne!(code, 0);
    assert!(out.contains("reads uninitialised register r2"), "{out}");
    assert!(
        out.contains("hint: r2 is not set at entry for --type seed"),
        "{out}"
    );
    assert!(out.contains("--type mem:N"), "{out}");
    let dir = std::env::temp_dir().join(format!("bpflab-cli-hint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let past = dir.join("past_ctx.s");
    std::fs::write(&past, "ldxdw %r0, [%r1+48]\nexit\n").expect("write");
    let (code, out, _) = bpflab(&["bpf", "verify", past.to_str().expect("utf-8")]);
    assert_ne!(code, 0);
    assert!(
        out.contains("the access ends at byte 56, past the 48-byte context of --type seed"),
        "{out}"
    );
    assert!(out.contains("--type mem:N with N >= 56"), "{out}");
    let (code, out, _) = bpflab(&[
        "bpf",
        "verify",
        "--type",
        "mem:64",
        past.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{out}");
}

/// `bpf verify|disasm|run` tell a file's kind by its content, as `trace` does: C is compiled,
/// an object is loaded, assembly is assembled, raw bytecode decoded; and say what they
/// expected when it is none of those.
#[test]
fn bpf_subcommands_read_files_by_their_content() {
    let c = example("dst_discard.bpf.c");
    let (code, out, err) = bpflab(&["bpf", "verify", &c]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("filter (bpflab/dst_discard): verified"),
        "{out}"
    );
    let (code, out, err) = bpflab(&["bpf", "disasm", &c]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("; dst_discard.bpf.c:"), "{out}");
    let (code, _, err) = bpflab(&["bpf", "run", &c]);
    assert_ne!(code, 0);
    assert!(
        err.contains("an object with 1 program(s) and 2 map(s)"),
        "{err}"
    );
    assert!(err.contains("bpflab trace --attach"), "{err}");
    // Assembly without its extension is still assembly; C without its extension still C.
    let dir = std::env::temp_dir().join(format!("bpflab-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let asm = dir.join("sum-program");
    std::fs::copy(example("sum.s"), &asm).expect("copy");
    let (code, out, err) = bpflab(&[
        "bpf",
        "run",
        asm.to_str().expect("utf-8"),
        "--mem",
        &example("sum.mem"),
    ]);
    assert_eq!((code, out.trim()), (0, "0x37"), "{err}");
    let c_copy = dir.join("filter.txt");
    std::fs::copy(&c, &c_copy).expect("copy");
    let (code, out, err) = bpflab(&["bpf", "verify", c_copy.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verified"), "{out}");
    // Text that is neither: named as read.
    let (code, _, err) = bpflab(&["bpf", "run", "/etc/hostname"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("(read as BPF assembly: it is text and not C)"),
        "{err}"
    );
    // An ELF object for another machine.
    let (code, _, err) = bpflab(&["bpf", "disasm", "/bin/true"]);
    assert_ne!(code, 0);
    assert!(err.contains("expected EM_BPF"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `FILE:SECTION` picks a program by its section name, slashes and all; `--map-size` sizes a
/// map a tool's user space would size, and names the map when it is missing or unsized.
#[test]
fn attach_by_section_name_and_map_sizes() {
    let dir = scratch("sections");
    let src = dir.join("two.bpf.c");
    std::fs::write(
        &src,
        r#"#include "vmlinux.h"
#include "bpflab.h"
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16 * sizeof(__u64));
} stacks SEC(".maps");
SEC("kprobe/dst_discard") int on_drop(void *ctx) { bpf_get_stackid(ctx, &stacks, 0); return 0; }
SEC("kprobe/ip_rcv") int on_rcv(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"#,
    )
    .expect("write");
    let file = src.display().to_string();
    let (code, _, err) = bpflab(&["trace", "--attach", &file, "--for", "10ms"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--map-size stacks=N"), "{err}");
    let (code, _, err) = bpflab(&[
        "trace",
        "--attach",
        &format!("{file}:kprobe/dst_discard"),
        "--map-size",
        "stacks=64",
        "--for",
        "1s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("on_drop") && !err.contains("on_rcv"), "{err}");
    let (code, _, err) = bpflab(&[
        "trace",
        "--attach",
        &format!("{file}:kprobe/dst_discard"),
        "--map-size",
        "stacks=64",
        "--map-size",
        "stack=64",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no attached object has a map named 'stack'"),
        "{err}"
    );
    let (code, _, err) = bpflab(&["trace", "--attach", &file, "--map-size", "stacks=0"]);
    assert_eq!(code, 2);
    assert!(err.contains("from 1 to"), "{err}");
}

/// `--set NAME=VALUE` sets a tool's knobs (a `const volatile` in `.rodata`, a `.bss` string)
/// in their own types, and says what is wrong with a name or value that does not fit.
#[test]
fn globals_are_set_before_loading() {
    let dir = scratch("globals");
    let src = dir.join("knobs.bpf.c");
    std::fs::write(
        &src,
        r#"#include "vmlinux.h"
#include "bpflab.h"
const volatile int limit = 1;
const volatile _Bool verbose = 0;
char tag[8] = "none";
__u64 hits = 0;
SEC("kprobe/dst_discard") int on_drop(void *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	if (verbose)
		bpf_printk("limit %d tag %s", limit, tag);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"#,
    )
    .expect("write");
    let file = src.display().to_string();
    let run = |sets: &[&str]| {
        let mut args = vec!["trace", "--attach", &file, "--for", "300ms"];
        for s in sets {
            args.extend(["--set", s]);
        }
        bpflab(&args)
    };
    let (code, out, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("limit"), "verbose is off: {out}");
    // `.data` and `.bss` variables print at exit, as a tool's counters (`.rodata` does not).
    assert!(out.contains("@tag: \"none\"\n"), "{out}");
    let hits: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("@hits: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(hits > 5, "{out}");
    assert!(
        !out.contains("@limit") && !out.contains("@verbose"),
        "{out}"
    );
    let (code, out, err) = bpflab(&["trace", "--attach", &file, "--for", "300ms", "--json"]);
    assert_eq!(code, 0, "{err}");
    let global = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "global" && v["name"] == "hits")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(global["section"], ".bss");
    assert_eq!(global["value"], hits.to_string());
    let (code, out, err) = run(&["verbose=true", "limit=-3", "tag=eth"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("limit -3 tag eth"), "{out}");
    let (code, _, err) = run(&["verbos=true"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "no attached object has a global variable named 'verbos' (their globals: limit, verbose, tag, hits)"
        ),
        "{err}"
    );
    let (code, _, err) = run(&["limit=99999999999"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("limit = '99999999999': out of range for a signed 32-bit"),
        "{err}"
    );
    let (code, _, err) = run(&["tag=much-too-long"]);
    assert_eq!(code, 2);
    assert!(err.contains("do not fit char[8]"), "{err}");
    let (code, _, err) = run(&["verbose=maybe"]);
    assert_eq!(code, 2);
    assert!(err.contains("a bool is true or false"), "{err}");
}

/// Maps keyed or valued by a struct, union or enum print in the program's own C types, from
/// the object's BTF (text and JSON), as a tool's user space prints them.
#[test]
fn struct_keys_and_enum_values_print_in_their_c_types() {
    let dir = scratch("typed-maps");
    let src = dir.join("typed.bpf.c");
    std::fs::write(
        &src,
        r#"#include "vmlinux.h"
#include "bpflab.h"
struct key_t {
	__u32 pid;
	char comm[16];
	struct { __u8 small : 3, big : 5; };
};
enum verdict { KEPT = 1, DROPPED = 2 };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct key_t);
	__type(value, enum verdict);
} seen SEC(".maps");
SEC("kprobe/dst_discard") int on_drop(void *ctx)
{
	struct key_t k = {};
	enum verdict v = DROPPED;
	k.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	k.small = 5;
	k.big = 17;
	bpf_map_update_elem(&seen, &k, &v, BPF_ANY);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"#,
    )
    .expect("write");
    let file = src.display().to_string();
    let (code, out, err) = bpflab(&["trace", "--attach", &file, "--for", "1s"]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("@seen["))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.starts_with("@seen[{pid=")
            && line.contains(", comm=\"")
            && line.ends_with(", small=5, big=17}]: DROPPED"),
        "{line}"
    );
    let (code, out, err) = bpflab(&["trace", "--attach", &file, "--for", "1s", "--json"]);
    assert_eq!(code, 0, "{err}");
    let map = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "map" && v["name"] == "seen")
        .unwrap_or_else(|| panic!("{out}"));
    let e = &map["entries"][0];
    assert_eq!(e["value"], "DROPPED", "{e}");
    assert!(
        e["key"]
            .as_str()
            .is_some_and(|k| k.contains("small=5, big=17")),
        "{e}"
    );
}
