//! Times the readers on an ELF image: `cargo run --release -p probes --example measure -- IMAGE [TYPE]`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: measure IMAGE [TYPE] [FUNCTION]")?;
    let ty = args.next().unwrap_or_else(|| "struct sk_buff".into());
    let function = args.next();
    let bytes = std::fs::read(&path)?;
    let t = Instant::now();
    let syms = probes::symbols::SymbolTable::from_elf(&bytes)?;
    println!(
        "SymbolTable::from_elf: {:?} ({} symbols)",
        t.elapsed(),
        syms.len()
    );
    let t = Instant::now();
    let n = syms.prefix("Py").count();
    println!("prefix scan: {:?} ({n} names)", t.elapsed());
    let t = Instant::now();
    let db = probes::types::TypeDb::from_elf(&bytes)?;
    println!(
        "TypeDb::from_elf: {:?} ({} units)",
        t.elapsed(),
        db.unit_count()
    );
    let t = Instant::now();
    let id = db.find(&ty)?;
    println!(
        "first find({ty}) incl. index: {:?} ({} names)",
        t.elapsed(),
        db.indexed_names()?
    );
    let t = Instant::now();
    if let Some(id) = id {
        let text = db.format_pahole(id)?;
        println!(
            "format_pahole: {:?} ({} lines)",
            t.elapsed(),
            text.lines().count()
        );
    }
    if let Some(f) = function {
        let t = Instant::now();
        let info = db.function(&f)?.ok_or("no such function")?;
        println!("function: {:?}: {}", t.elapsed(), info.prototype());
    }
    let t = Instant::now();
    let lines = probes::lines::LineTable::from_elf(&bytes)?;
    let sym = syms
        .symbols()
        .iter()
        .find(|s| s.kind == probes::symbols::SymbolKind::Function && s.size > 16);
    if let Some(s) = sym {
        let frames = lines.frames(s.addr + 8)?;
        println!(
            "LineTable + first frames({}+8): {:?} ({} frames)",
            s.name,
            t.elapsed(),
            frames.len()
        );
    }
    let t = Instant::now();
    let header = probes::cdecl::vmlinux_h(&db)?;
    println!("vmlinux_h: {:?} ({} bytes)", t.elapsed(), header.len());
    if let Ok(out) = std::env::var("MEASURE_WRITE_H") {
        std::fs::write(out, header)?;
    }
    Ok(())
}
